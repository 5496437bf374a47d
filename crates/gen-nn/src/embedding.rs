//! The conditioning every denoiser shares: the sinusoidal timestep
//! embedding followed by a two-layer MLP (Ho et al. 2020, after the
//! Transformer's positional encoding, Vaswani et al. 2017, sec. 3.5), and
//! the class embedding with one extra "null" class for classifier-free
//! guidance (Ho & Salimans 2022).
//!
//! Used identically by gen-diffusion's UNet and MLP denoiser.

use crate::activation::silu;
use crate::linear::linear;
use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::tensor::{Device, Int, Tensor};

/// The sinusoidal embedding of float timesteps:
/// `[sin(t w_0), .., sin(t w_{h-1}), cos(t w_0), .., cos(t w_{h-1})]` with
/// `w_k = 10000^(-k / h)` and `h = dim / 2` (an odd `dim` gets a zero
/// column at the end).
///
/// # Shapes
/// `t`: `[B]`; the result: `[B, dim]`.
pub fn sinusoidal_embedding(t: Tensor<1>, dim: usize) -> Tensor<2> {
    let device = t.device();
    let [b] = t.dims();
    let half = dim / 2;
    if half == 0 {
        return Tensor::zeros([b, dim], &device);
    }
    let freqs: Vec<f32> = (0..half)
        .map(|k| (-(10_000f64.ln()) * k as f64 / half as f64).exp() as f32)
        .collect();
    let freqs = Tensor::<1>::from_floats(freqs.as_slice(), &device);
    let args = t.unsqueeze_dim::<2>(1) * freqs.unsqueeze_dim::<2>(0);
    let mut parts = vec![args.clone().sin(), args.cos()];
    if dim % 2 == 1 {
        parts.push(Tensor::zeros([b, 1], &device));
    }
    Tensor::cat(parts, 1)
}

/// Timestep (and optional class) conditioning: `sinusoidal(t)` ->
/// Linear -> SiLU -> Linear, plus a learned class vector.
#[derive(Module, Debug)]
pub struct Conditioning {
    linear1: Linear,
    linear2: Linear,
    classes: Option<Embedding>,
    sinusoid_dim: usize,
    #[module(skip)]
    num_classes: Option<usize>,
}

impl Conditioning {
    /// The embedding of `sinusoid_dim` sinusoids projected to `dim`, with
    /// `num_classes + 1` class vectors (the last is the null class) when
    /// conditional.
    pub fn new(
        sinusoid_dim: usize,
        dim: usize,
        num_classes: Option<usize>,
        device: &Device,
    ) -> Self {
        Self {
            linear1: LinearConfig::new(sinusoid_dim, dim).init(device),
            linear2: LinearConfig::new(dim, dim).init(device),
            classes: num_classes.map(|k| EmbeddingConfig::new(k + 1, dim).init(device)),
            sinusoid_dim,
            num_classes,
        }
    }

    /// The number of real classes (the null class is `num_classes`).
    pub fn num_classes(&self) -> Option<usize> {
        self.num_classes
    }

    /// The conditioning vector `[B, dim]` for timesteps `t` `[B]` and class
    /// labels `[B]` (in `0..=num_classes`, `num_classes` being the null
    /// class). `class = None` is the null class for a conditional model;
    /// an unconditional model ignores `class`.
    pub fn forward(&self, t: Tensor<1>, class: Option<Tensor<1, Int>>) -> Tensor<2> {
        let [b] = t.dims();
        let device = t.device();
        let emb = sinusoidal_embedding(t, self.sinusoid_dim);
        let emb = linear(&self.linear2, silu(linear(&self.linear1, emb)));
        match (&self.classes, self.num_classes) {
            (Some(table), Some(k)) => {
                let labels =
                    class.unwrap_or_else(|| Tensor::<1, Int>::full([b], k as i64, &device));
                let c = table.forward(labels.unsqueeze_dim::<2>(1));
                let d = c.dims()[2];
                emb + c.reshape([b, d])
            }
            _ => emb,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sinusoids_match_the_formula() {
        let dev = Device::flex();
        let t = Tensor::<1>::from_floats([0.0, 10.0], &dev);
        let e: Vec<f32> = sinusoidal_embedding(t, 4)
            .into_data()
            .try_into_vec()
            .unwrap();
        // h = 2, w = [1, 0.01]: [sin(t), sin(t/100), cos(t), cos(t/100)].
        let want = [
            0.0,
            0.0,
            1.0,
            1.0,
            10f32.sin(),
            0.1f32.sin(),
            10f32.cos(),
            0.1f32.cos(),
        ];
        for (a, b) in e.iter().zip(want) {
            assert!((a - b).abs() < 1e-5, "{e:?}");
        }
        let odd = sinusoidal_embedding(Tensor::<1>::from_floats([3.0], &dev), 5);
        assert_eq!(odd.dims(), [1, 5]);
    }

    #[test]
    fn the_null_class_is_the_default_label() {
        let dev = Device::flex();
        let c = Conditioning::new(8, 16, Some(3), &dev);
        let t = Tensor::<1>::from_floats([5.0, 5.0], &dev);
        let none = c.forward(t.clone(), None);
        let null = c.forward(t.clone(), Some(Tensor::from_ints([3, 3], &dev)));
        let real = c.forward(t, Some(Tensor::from_ints([0, 1], &dev)));
        assert_eq!(none.clone().into_data(), null.into_data());
        let diff = (none - real).abs().sum().into_scalar::<f64>();
        assert!(diff > 0.0);
    }
}
