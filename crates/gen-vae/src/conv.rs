//! The convolutional VAE: a strided-convolution encoder and a
//! transposed-convolution decoder.
//!
//! Each encoder layer is `Conv2d(k4, s2, p1)` + ReLU and halves the image
//! side; the flattened features give the posterior's mean and
//! log-variance through two linear heads. The decoder mirrors it:
//! `Linear(z -> features)` + ReLU, then `ConvTranspose2d(k4, s2, p1)` layers
//! (ReLU between them) back to the image. With the defaults (28x28 grey,
//! widths `[32, 64]`, latent 16, Bernoulli) it is exactly the conv VAE of
//! the PyTorch benchmarks. For 64x64 faces use four layers, e.g. widths
//! `[32, 64, 128, 256]` (see [`ConvVaeConfig::faces`]).
//!
//! For a conditional model the one-hot label is appended to the flattened
//! encoder features and to z.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use gen_core::error::{Error as CoreError, ensure_nonzero};
use gen_core::interop::{TorchModule, rename, renumber};
use gen_core::rng::init_now;

use crate::likelihood::{Likelihood, OutputDistribution};
use crate::posterior::DiagonalGaussian;
use crate::{Vae, VaeConfig, sample_prior, with_condition};
use gen_core::Result;

/// Shape of a convolutional VAE.
#[derive(Config, Debug, PartialEq)]
pub struct ConvVaeConfig {
    /// Image channels (1 grey, 3 RGB), >= 1.
    #[config(default = 1)]
    pub channels: usize,
    /// Image side (square images); must be divisible by `2^widths.len()`.
    #[config(default = 28)]
    pub image_size: usize,
    /// Channels of each encoder layer (the decoder mirrors them); at least
    /// one layer, each >= 1.
    #[config(default = "vec![32, 64]")]
    pub widths: Vec<usize>,
    /// Length of z, >= 1.
    #[config(default = 16)]
    pub latent_dim: usize,
    /// The decoder's output distribution.
    #[config(default = "Likelihood::Bernoulli")]
    pub likelihood: Likelihood,
    /// Classes of a conditional VAE (>= 1), or `None`.
    #[config(default = "None")]
    pub num_classes: Option<usize>,
}

impl ConvVaeConfig {
    /// A shape for 64x64 face images: four layers `[32, 64, 128, 256]`
    /// down to 4x4, latent 64.
    pub fn faces(channels: usize) -> Self {
        Self::new()
            .with_channels(channels)
            .with_image_size(64)
            .with_widths(vec![32, 64, 128, 256])
            .with_latent_dim(64)
    }

    /// The side of the smallest feature map.
    fn bottom(&self) -> usize {
        self.image_size >> self.widths.len()
    }

    /// Checks the ranges documented on each field.
    ///
    /// # Errors
    /// [`gen_core::Error::InvalidConfig`] naming the first wrong field.
    pub fn validate(&self) -> Result<()> {
        ensure_nonzero("channels", self.channels)?;
        ensure_nonzero("latent_dim", self.latent_dim)?;
        ensure_nonzero("widths", self.widths.len())?;
        for &w in &self.widths {
            ensure_nonzero("widths", w)?;
        }
        let factor = 1usize
            .checked_shl(self.widths.len() as u32)
            .filter(|f| *f <= self.image_size);
        if factor.is_none_or(|f| !self.image_size.is_multiple_of(f)) {
            return Err(CoreError::config(
                "image_size",
                format!(
                    "{} must be a positive multiple of 2^{n} (each of the {n} layers halves the side)",
                    self.image_size,
                    n = self.widths.len()
                ),
            ));
        }
        if let Some(k) = self.num_classes {
            ensure_nonzero("num_classes", k)?;
        }
        self.likelihood.validate()?;
        Ok(())
    }

    /// Builds the model on `device` (burn's default initialisation, drawn
    /// now: see [`gen_core::rng::init_now`]).
    ///
    /// # Errors
    /// As [`validate`](Self::validate).
    pub fn init(&self, device: &Device) -> Result<ConvVae> {
        self.validate()?;
        let classes = self.num_classes.unwrap_or(0);
        let last = *self.widths.last().expect("validated: at least one layer");
        let side = self.bottom();
        let features = last * side * side;
        let mut ins = vec![self.channels];
        ins.extend_from_slice(&self.widths);
        let encoder = ins
            .windows(2)
            .map(|w| {
                Conv2dConfig::new([w[0], w[1]], [4, 4])
                    .with_stride([2, 2])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .init(device)
            })
            .collect();
        let decoder = ins
            .windows(2)
            .rev()
            .map(|w| {
                ConvTranspose2dConfig::new([w[1], w[0]], [4, 4])
                    .with_stride([2, 2])
                    .with_padding([1, 1])
                    .init(device)
            })
            .collect();
        let pixels = self.channels * self.image_size * self.image_size;
        Ok(init_now(ConvVae {
            encoder,
            mean: LinearConfig::new(features + classes, self.latent_dim).init(device),
            log_variance: LinearConfig::new(features + classes, self.latent_dim).init(device),
            project: LinearConfig::new(self.latent_dim + classes, features).init(device),
            decoder,
            output: OutputDistribution::new(self.likelihood, pixels, device),
            channels: self.channels,
            image_size: self.image_size,
            bottom_channels: last,
            bottom_size: side,
            config: self.clone(),
        }))
    }
}

/// The convolutional VAE.
#[derive(Module, Debug)]
pub struct ConvVae {
    encoder: Vec<Conv2d>,
    mean: Linear,
    log_variance: Linear,
    project: Linear,
    decoder: Vec<ConvTranspose2d>,
    output: OutputDistribution,
    channels: usize,
    image_size: usize,
    bottom_channels: usize,
    bottom_size: usize,
    /// What it was built from (its card in checkpoints).
    #[module(skip)]
    config: ConvVaeConfig,
}

/// PyTorch names, as bench_vae.py's `VAE`: `enc` = `nn.Sequential(Conv2d,
/// ReLU, ..., Flatten)` (conv `i` at `enc.<2i>`), `mu`, `logvar`, `fc`, and
/// `dec` = `nn.Sequential(ConvTranspose2d, ReLU, ..., ConvTranspose2d)`
/// (layer `i` at `dec.<2i>`). A learned-variance Gaussian decoder keeps
/// `output.log_variance`.
impl TorchModule for ConvVae {
    fn torch_key(&self, path: &str) -> String {
        renumber(path, "encoder", "enc", |i| 2 * i)
            .or_else(|| rename(path, "mean", "mu"))
            .or_else(|| rename(path, "log_variance", "logvar"))
            .or_else(|| rename(path, "project", "fc"))
            .or_else(|| renumber(path, "decoder", "dec", |i| 2 * i))
            .unwrap_or_else(|| path.to_owned())
    }
}

impl Vae for ConvVae {
    fn latent_dim(&self) -> usize {
        self.config.latent_dim
    }

    fn model_config(&self) -> Option<VaeConfig> {
        Some(VaeConfig::Conv(self.config.clone()))
    }

    fn encode(&self, x: Tensor<2>, condition: Option<Tensor<2>>) -> DiagonalGaussian {
        let b = x.dims()[0];
        let mut h: Tensor<4> = x.reshape([b, self.channels, self.image_size, self.image_size]);
        for conv in &self.encoder {
            h = relu(gen_nn::conv2d(conv, h));
        }
        let h = with_condition(h.flatten(1, 3), condition);
        DiagonalGaussian::new(
            gen_nn::linear(&self.mean, h.clone()),
            gen_nn::linear(&self.log_variance, h),
        )
    }

    fn decode(&self, z: Tensor<2>, condition: Option<Tensor<2>>) -> Tensor<2> {
        let b = z.dims()[0];
        let h = relu(gen_nn::linear(&self.project, with_condition(z, condition)));
        let mut h: Tensor<4> =
            h.reshape([b, self.bottom_channels, self.bottom_size, self.bottom_size]);
        let last = self.decoder.len() - 1;
        for (i, deconv) in self.decoder.iter().enumerate() {
            h = gen_nn::conv_transpose2d(deconv, h);
            if i < last {
                h = relu(h);
            }
        }
        h.flatten(1, 3)
    }

    fn output(&self) -> &OutputDistribution {
        &self.output
    }
}

gen_core::impl_sample!(ConvVae, |m| {
    example_shape: vec![m.channels, m.image_size, m.image_size],
    num_classes: m.config.num_classes,
    sample: sample_prior,
});

#[cfg(test)]
mod tests {
    use super::*;
    use gen_core::{Sample, SeededRng};

    #[test]
    fn benchmark_shape_and_faces_shape() {
        let dev = Device::flex();
        let vae = ConvVaeConfig::new().init(&dev).unwrap();
        // enc 1*32*16+32 + 32*64*16+64, heads 2*(3136*16+16), project 16*3136+3136,
        // dec 64*32*16+32 + 32*1*16+1 (the PyTorch model's count).
        assert_eq!(
            vae.num_params(),
            544 + 32_832 + 100_384 + 53_312 + 32_800 + 513
        );
        let x = Tensor::<2>::zeros([2, 784], &dev);
        let q = vae.encode(x, None);
        assert_eq!(q.mean.dims(), [2, 16]);
        assert_eq!(vae.decode(q.mean, None).dims(), [2, 784]);

        let faces = ConvVaeConfig::faces(1)
            .with_widths(vec![4, 4, 4, 4])
            .with_latent_dim(3)
            .with_num_classes(Some(2))
            .init(&dev)
            .unwrap();
        let s = faces
            .sample(2, Some(&[1, 0]), &mut SeededRng::new(0), &dev)
            .unwrap();
        assert_eq!(s.dims(), [2, 64 * 64]);
    }

    #[test]
    fn sizes_the_architecture_cannot_halve_are_typed_errors() {
        let dev = Device::flex();
        for (cfg, field) in [
            (ConvVaeConfig::new().with_image_size(30), "image_size"),
            (ConvVaeConfig::new().with_image_size(2), "image_size"),
            (ConvVaeConfig::new().with_widths(vec![]), "widths"),
            (ConvVaeConfig::new().with_widths(vec![8; 70]), "image_size"),
            (ConvVaeConfig::new().with_channels(0), "channels"),
            (ConvVaeConfig::new().with_latent_dim(0), "latent_dim"),
        ] {
            let err = cfg.init(&dev).unwrap_err().to_string();
            assert!(err.contains(field), "{err}");
        }
    }
}
