//! Class conditioning, shared by every conditional GAN of the crate (the
//! MLP GAN and DCGAN with `num_classes = Some(k)`).
//!
//! * The generator sees its label as a one-hot vector concatenated with z
//!   (Mirza and Osindero, 2014, "Conditional Generative Adversarial Nets").
//! * The discriminator is a *projection discriminator* (Miyato and Koyama,
//!   2018, "cGANs with Projection Discriminator", eq. 3):
//!   `D(x, y) = psi(phi(x)) + embed(y) . phi(x)`, where `phi(x)` are the
//!   discriminator's last features and `embed` is a learned class embedding.
//!
//! Labels are `Tensor<1, Int>` `[batch]` with values in `0..k`. The models
//! never panic on labels: out-of-range values are clamped into `0..k`
//! (the trainer and [`gen_core::Sample`] reject them before that with a
//! typed error), and a conditional model called without labels uses a zero
//! one-hot vector in G and drops the projection term in D.

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, Initializer};
use burn::tensor::{Device, Int, Tensor};

/// `z` `[batch, latent]` with the one-hot labels appended:
/// `[batch, latent + num_classes]`. With `labels = None`, zeros are appended.
pub fn concat_one_hot(
    z: Tensor<2>,
    labels: Option<Tensor<1, Int>>,
    num_classes: usize,
) -> Tensor<2> {
    let [n, _] = z.dims();
    let device = z.device();
    let code = match labels {
        Some(l) => gen_core::labels::one_hot(l, num_classes),
        None => Tensor::zeros([n, num_classes], &device),
    };
    Tensor::cat(vec![z, code], 1)
}

/// The class embedding of a projection discriminator.
#[derive(Module, Debug)]
pub struct Projection {
    embed: Embedding,
    num_classes: usize,
}

impl Projection {
    /// An embedding of `num_classes` classes into `features` dimensions,
    /// initialised to zeros: D starts as its unconditional self, and the
    /// projection grows from the gradient `phi(x)` (a standard-normal
    /// embedding would add logits of size `sqrt(features)` at the start).
    pub fn new(num_classes: usize, features: usize, device: &Device) -> Self {
        Self {
            embed: EmbeddingConfig::new(num_classes, features)
                .with_initializer(Initializer::Zeros)
                .init(device),
            num_classes,
        }
    }

    /// The number of classes.
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// `sum_j embed(y)_j * phi_j`: `[batch, 1]`; zeros without labels.
    ///
    /// # Shapes
    /// `phi`: `[batch, features]`, `labels`: `[batch]`.
    pub fn forward(&self, phi: Tensor<2>, labels: Option<Tensor<1, Int>>) -> Tensor<2> {
        let [n, f] = phi.dims();
        match labels {
            Some(l) => {
                let idx = l.clamp(0, self.num_classes as i64 - 1).reshape([n, 1]);
                let e: Tensor<2> = self.embed.forward(idx).reshape([n, f]);
                (e * phi).sum_dim(1)
            }
            None => Tensor::zeros([n, 1], &phi.device()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_hot_and_projection_shapes() {
        let dev = Device::flex();
        let z = Tensor::<2>::zeros([3, 2], &dev);
        let l = gen_core::labels::upload(&[0, 2, 9], &dev);
        let x = concat_one_hot(z.clone(), Some(l.clone()), 3);
        let v: Vec<f32> = x.into_data().try_into_vec().unwrap();
        // Label 9 is clamped to the last class.
        assert_eq!(
            v,
            vec![0., 0., 1., 0., 0., 0., 0., 0., 0., 1., 0., 0., 0., 0., 1.]
        );
        assert_eq!(concat_one_hot(z, None, 3).dims(), [3, 5]);
        let p = Projection::new(3, 4, &dev);
        assert_eq!(
            p.forward(Tensor::ones([3, 4], &dev), Some(l.clone()))
                .dims(),
            [3, 1]
        );
    }
}
