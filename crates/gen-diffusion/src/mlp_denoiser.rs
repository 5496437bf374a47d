//! An MLP denoiser for low-dimensional data (the 2-D toy distributions).
//!
//! `h = Linear(x) + cond(t, class)`, then `depth` residual blocks
//! `h = h + Linear(SiLU(Linear(SiLU(h))))`, then `Linear(SiLU(h))` back to
//! the data width. The conditioning vector ([`Conditioning`]: sinusoids, MLP,
//! class vector) is added to the first hidden layer, which is the
//! "time embedding added" variant of the usual toy-diffusion MLPs.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Int, Tensor};
use gen_core::error::ensure_nonzero;
use gen_core::rng::init_now;
use gen_nn::{linear, silu};

use crate::denoiser::{Denoiser, DenoiserConfig};
use crate::error::Result;
use gen_nn::Conditioning;

/// Shape of an [`MlpDenoiser`].
#[derive(Config, Debug, PartialEq)]
pub struct MlpDenoiserConfig {
    /// Values per example (2 for the toy distributions), >= 1.
    pub features: usize,
    /// Width of the hidden layers, >= 1.
    #[config(default = 128)]
    pub hidden: usize,
    /// Residual blocks (two linear layers each), >= 0.
    #[config(default = 2)]
    pub depth: usize,
    /// Sinusoids in the timestep embedding, >= 2.
    #[config(default = 32)]
    pub time_dim: usize,
    /// Classes of a conditional model (>= 1), or `None`.
    #[config(default = "None")]
    pub num_classes: Option<usize>,
}

impl MlpDenoiserConfig {
    /// Checks the ranges documented on each field.
    ///
    /// # Errors
    /// [`gen_core::Error::InvalidConfig`] naming the first wrong field.
    pub fn validate(&self) -> Result<()> {
        ensure_nonzero("features", self.features)?;
        ensure_nonzero("hidden", self.hidden)?;
        if self.time_dim < 2 {
            return Err(gen_core::Error::config(
                "time_dim",
                format!("must be at least 2, found {}", self.time_dim),
            )
            .into());
        }
        if let Some(k) = self.num_classes {
            ensure_nonzero("num_classes", k)?;
        }
        Ok(())
    }

    /// Builds the model on `device` (initialised now: see
    /// [`gen_core::rng::init_now`]).
    ///
    /// # Errors
    /// As [`validate`](Self::validate).
    pub fn init(&self, device: &Device) -> Result<MlpDenoiser> {
        self.validate()?;
        let h = self.hidden;
        Ok(init_now(MlpDenoiser {
            input: LinearConfig::new(self.features, h).init(device),
            cond: Conditioning::new(self.time_dim, h, self.num_classes, device),
            blocks: (0..self.depth)
                .map(|_| {
                    [
                        LinearConfig::new(h, h).init(device),
                        LinearConfig::new(h, h).init(device),
                    ]
                })
                .collect(),
            output: LinearConfig::new(h, self.features).init(device),
            config: self.clone(),
        }))
    }
}

/// The MLP denoiser; see the [module docs](self).
#[derive(Module, Debug)]
pub struct MlpDenoiser {
    input: Linear,
    cond: Conditioning,
    blocks: Vec<[Linear; 2]>,
    output: Linear,
    /// What it was built from (its card in checkpoints).
    #[module(skip)]
    config: MlpDenoiserConfig,
}

/// No PyTorch twin: its own field names (`input`, `cond.linear1`,
/// `cond.linear2`, `cond.classes`, `blocks.<i>.<0|1>`, `output`) in
/// PyTorch's layouts.
impl gen_core::interop::TorchModule for MlpDenoiser {}

impl Denoiser for MlpDenoiser {
    fn features(&self) -> usize {
        self.config.features
    }

    fn model_config(&self) -> Option<DenoiserConfig> {
        Some(DenoiserConfig::Mlp(self.config.clone()))
    }

    fn num_classes(&self) -> Option<usize> {
        self.cond.num_classes()
    }

    fn forward(&self, x: Tensor<2>, t: Tensor<1>, class: Option<Tensor<1, Int>>) -> Tensor<2> {
        let mut h = linear(&self.input, x) + self.cond.forward(t, class);
        for [a, b] in &self.blocks {
            h = h.clone() + linear(b, silu(linear(a, silu(h))));
        }
        linear(&self.output, silu(h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_shape_and_validates() {
        let dev = Device::flex();
        let m = MlpDenoiserConfig::new(2)
            .with_hidden(16)
            .with_num_classes(Some(4))
            .init(&dev)
            .unwrap();
        let x = Tensor::<2>::zeros([5, 2], &dev);
        let t = Tensor::<1>::from_floats([0.0, 1.0, 2.0, 500.0, 999.0], &dev);
        assert_eq!(m.forward(x.clone(), t.clone(), None).dims(), [5, 2]);
        let c = Tensor::<1, Int>::from_ints([0, 1, 2, 3, 4], &dev);
        assert_eq!(m.forward(x, t, Some(c)).dims(), [5, 2]);
        assert_eq!(Denoiser::num_classes(&m), Some(4));
        for (cfg, field) in [
            (MlpDenoiserConfig::new(0), "features"),
            (MlpDenoiserConfig::new(2).with_hidden(0), "hidden"),
            (MlpDenoiserConfig::new(2).with_time_dim(1), "time_dim"),
            (
                MlpDenoiserConfig::new(2).with_num_classes(Some(0)),
                "num_classes",
            ),
        ] {
            let err = cfg.init(&dev).unwrap_err().to_string();
            assert!(err.contains(field), "{err}");
        }
    }
}
