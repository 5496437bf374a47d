//! The MLP VAE (Kingma and Welling, 2014): fully connected encoder and
//! decoder with ReLU between layers.
//!
//! The defaults are the classic shape of PyTorch's MNIST example:
//! encoder `784 -> 400 -> (20, 20)`, decoder `20 -> 400 -> 784`, Bernoulli
//! likelihood. For a conditional model the one-hot label is appended to
//! the encoder's input and to z.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use gen_core::error::{Error as CoreError, ensure_nonzero};
use gen_core::rng::init_now;

use crate::likelihood::{Likelihood, OutputDistribution};
use crate::posterior::DiagonalGaussian;
use crate::{Vae, VaeConfig, sample_prior, with_condition};
use gen_core::Result;

/// Shape of an MLP VAE.
#[derive(Config, Debug, PartialEq)]
pub struct MlpVaeConfig {
    /// Values per example (784 for MNIST), >= 1.
    pub features: usize,
    /// Length of z, >= 1.
    #[config(default = 20)]
    pub latent_dim: usize,
    /// Widths of the encoder's hidden layers (the decoder mirrors them),
    /// each >= 1.
    #[config(default = "vec![400]")]
    pub hidden: Vec<usize>,
    /// The decoder's output distribution.
    #[config(default = "Likelihood::Bernoulli")]
    pub likelihood: Likelihood,
    /// Classes of a conditional VAE (>= 1), or `None`.
    #[config(default = "None")]
    pub num_classes: Option<usize>,
    /// `[channels, height, width]` of image data (its product must be
    /// `features`), used to draw grids; `None` for other data.
    #[config(default = "None")]
    pub example_shape: Option<[usize; 3]>,
}

impl MlpVaeConfig {
    /// The reference shape for 28x28 grey images: 784-400-20, Bernoulli.
    pub fn mnist() -> Self {
        Self::new(784).with_example_shape(Some([1, 28, 28]))
    }

    /// Checks the ranges documented on each field.
    ///
    /// # Errors
    /// [`gen_core::Error::InvalidConfig`] naming the first wrong field.
    pub fn validate(&self) -> Result<()> {
        ensure_nonzero("features", self.features)?;
        ensure_nonzero("latent_dim", self.latent_dim)?;
        for &w in &self.hidden {
            ensure_nonzero("hidden", w)?;
        }
        if let Some(k) = self.num_classes {
            ensure_nonzero("num_classes", k)?;
        }
        if let Some(shape) = self.example_shape
            && shape.iter().product::<usize>() != self.features
        {
            return Err(CoreError::config(
                "example_shape",
                format!(
                    "{shape:?} holds {} values, but features is {}",
                    shape.iter().product::<usize>(),
                    self.features
                ),
            ));
        }
        self.likelihood.validate()?;
        Ok(())
    }

    /// Builds the model on `device` (burn's default initialisation, drawn
    /// now: see [`gen_core::rng::init_now`]).
    ///
    /// # Errors
    /// As [`validate`](Self::validate).
    pub fn init(&self, device: &Device) -> Result<MlpVae> {
        self.validate()?;
        let classes = self.num_classes.unwrap_or(0);
        let mut widths = vec![self.features + classes];
        widths.extend_from_slice(&self.hidden);
        let encoder = linear_stack(&widths, device);
        let last = *widths.last().expect("widths holds the input");
        let mut widths = vec![self.latent_dim + classes];
        widths.extend(self.hidden.iter().rev());
        widths.push(self.features);
        Ok(init_now(MlpVae {
            encoder,
            mean: LinearConfig::new(last, self.latent_dim).init(device),
            log_variance: LinearConfig::new(last, self.latent_dim).init(device),
            decoder: linear_stack(&widths, device),
            output: OutputDistribution::new(self.likelihood, self.features, device),
            config: self.clone(),
        }))
    }
}

fn linear_stack(widths: &[usize], device: &Device) -> Vec<Linear> {
    widths
        .windows(2)
        .map(|w| LinearConfig::new(w[0], w[1]).init(device))
        .collect()
}

/// The MLP VAE.
#[derive(Module, Debug)]
pub struct MlpVae {
    encoder: Vec<Linear>,
    mean: Linear,
    log_variance: Linear,
    decoder: Vec<Linear>,
    output: OutputDistribution,
    /// What it was built from (its card in checkpoints).
    #[module(skip)]
    config: MlpVaeConfig,
}

/// No PyTorch twin: its own field names (`encoder.<i>`, `mean`,
/// `log_variance`, `decoder.<i>`, `output.log_variance`) in PyTorch's
/// layouts.
impl gen_core::interop::TorchModule for MlpVae {}

impl Vae for MlpVae {
    fn latent_dim(&self) -> usize {
        self.config.latent_dim
    }

    fn model_config(&self) -> Option<VaeConfig> {
        Some(VaeConfig::Mlp(self.config.clone()))
    }

    fn encode(&self, x: Tensor<2>, condition: Option<Tensor<2>>) -> DiagonalGaussian {
        let mut h = with_condition(x, condition);
        for layer in &self.encoder {
            h = relu(gen_nn::linear(layer, h));
        }
        DiagonalGaussian::new(
            gen_nn::linear(&self.mean, h.clone()),
            gen_nn::linear(&self.log_variance, h),
        )
    }

    fn decode(&self, z: Tensor<2>, condition: Option<Tensor<2>>) -> Tensor<2> {
        let mut h = with_condition(z, condition);
        let last = self.decoder.len() - 1;
        for (i, layer) in self.decoder.iter().enumerate() {
            h = gen_nn::linear(layer, h);
            if i < last {
                h = relu(h);
            }
        }
        h
    }

    fn output(&self) -> &OutputDistribution {
        &self.output
    }
}

gen_core::impl_sample!(MlpVae, |m| {
    example_shape: match m.config.example_shape {
        Some(shape) => shape.to_vec(),
        None => vec![m.config.features],
    },
    num_classes: m.config.num_classes,
    sample: sample_prior,
});

#[cfg(test)]
mod tests {
    use super::*;
    use gen_core::{Sample, SeededRng};

    #[test]
    fn shapes_conditioning_and_parameter_count() {
        let dev = Device::flex();
        let vae = MlpVaeConfig::mnist().init(&dev).unwrap();
        // 784*400+400 + 2*(400*20+20) + 20*400+400 + 400*784+784
        assert_eq!(vae.num_params(), 652_824);
        let x = Tensor::<2>::zeros([3, 784], &dev);
        let q = vae.encode(x, None);
        assert_eq!(q.mean.dims(), [3, 20]);
        assert_eq!(vae.decode(q.mean, None).dims(), [3, 784]);

        let cvae = MlpVaeConfig::new(6)
            .with_latent_dim(2)
            .with_hidden(vec![8, 4])
            .with_num_classes(Some(3))
            .init(&dev)
            .unwrap();
        let mut rng = SeededRng::new(0);
        let s = cvae.sample(3, Some(&[0, 1, 2]), &mut rng, &dev).unwrap();
        assert_eq!(s.dims(), [3, 6]);
        // No labels: each sample's class is drawn, then decoded with it.
        let mut a = SeededRng::new(5);
        let free = cvae.sample(3, None, &mut a, &dev).unwrap();
        let mut b = SeededRng::new(5);
        let classes = gen_core::labels::for_sampling(3, None, Some(3), &mut b).unwrap();
        let same = cvae.sample(3, classes.as_deref(), &mut b, &dev).unwrap();
        assert_eq!(free.into_data(), same.into_data());
        assert!(cvae.sample(1, Some(&[3]), &mut rng, &dev).is_err());
        assert!(vae.sample(1, Some(&[0]), &mut rng, &dev).is_err());
    }

    /// The reparameterisation trick: the reconstruction term alone (no KL)
    /// sends gradients into the encoder through z, and into both heads;
    /// with z detached, none arrive.
    #[test]
    fn gradients_flow_through_the_reparameterised_sample() {
        let dev = Device::flex().autodiff();
        let vae = MlpVaeConfig::new(6)
            .with_latent_dim(2)
            .with_hidden(vec![5])
            .init(&dev)
            .unwrap();
        let x = SeededRng::new(0).uniform([4, 6], 0.0, 1.0, &dev);
        let grad_norms = |detach: bool| {
            let q = vae.encode(x.clone(), None);
            let mut z = q.rsample(&mut SeededRng::new(1));
            if detach {
                z = z.detach();
            }
            let loss = -vae.output().log_prob(vae.decode(z, None), x.clone()).mean();
            let grads = loss.backward();
            [
                &vae.encoder[0].weight,
                &vae.mean.weight,
                &vae.log_variance.weight,
            ]
            .map(|p| {
                p.val()
                    .grad(&grads)
                    .map_or(0.0, |g| g.abs().sum().into_scalar::<f64>())
            })
        };
        let through = grad_norms(false);
        assert!(through.iter().all(|&g| g > 0.0), "{through:?}");
        assert_eq!(grad_norms(true), [0.0; 3]);
    }

    #[test]
    fn invalid_configs_are_typed_errors() {
        let dev = Device::flex();
        for (cfg, field) in [
            (MlpVaeConfig::new(0), "features"),
            (MlpVaeConfig::new(4).with_latent_dim(0), "latent_dim"),
            (MlpVaeConfig::new(4).with_hidden(vec![3, 0]), "hidden"),
            (
                MlpVaeConfig::new(4).with_num_classes(Some(0)),
                "num_classes",
            ),
            (
                MlpVaeConfig::new(4).with_example_shape(Some([1, 3, 3])),
                "example_shape",
            ),
            (
                MlpVaeConfig::new(4).with_likelihood(Likelihood::Gaussian { std: 0.0 }),
                "likelihood",
            ),
        ] {
            let err = cfg.init(&dev).unwrap_err().to_string();
            assert!(err.contains(field), "{err}");
        }
    }
}
