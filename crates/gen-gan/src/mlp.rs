//! The MLP GAN: a generator that maps a noise vector to a flat sample
//! through fully connected layers, and a discriminator that maps a flat
//! sample to one logit (Goodfellow et al., 2014).
//!
//! Hidden layers use LeakyReLU(0.2) in both networks; the generator ends in
//! tanh for data in `[-1, 1]` (images) or is linear for unbounded data (toy
//! 2-D sets). The defaults are the reference shape of the benchmarks:
//! G `64 -> 256 -> 512 -> data`, D `data -> 512 -> 256 -> 1`.
//!
//! With `num_classes = Some(k)` the pair is conditional (see
//! [`crate::conditional`]): G reads `[z, one_hot(y)]`, D is a
//! projection discriminator on its last hidden features. With
//! `spectral_norm`, every layer of D is spectrally normalised
//! ([`crate::spectral_norm`]).

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::tanh;
use burn::tensor::{Device, Int, Tensor};
use gen_core::error::{ensure_nonzero, ensure_unit_interval};
use gen_core::interop::{TorchModule, renumber};
use gen_core::rng::init_now;

use crate::conditional::{Projection, concat_one_hot};
use crate::error::Result;
use crate::spectral_norm::{self, SpectralNorm, SpectralNormConfig};
use crate::{Discriminator, GanModelConfig, Generator, leaky_relu, sample_flat};

/// Shape of an MLP GAN.
#[derive(Config, Debug, PartialEq)]
pub struct MlpGanConfig {
    /// Values per sample (784 for MNIST, 64 for the 8x8 digits, 2 for toy
    /// data), >= 1.
    pub features: usize,
    /// Length of the noise vector z, >= 1.
    #[config(default = 64)]
    pub latent_dim: usize,
    /// Widths of the generator's hidden layers, each >= 1.
    #[config(default = "vec![256, 512]")]
    pub generator_hidden: Vec<usize>,
    /// Widths of the discriminator's hidden layers, each >= 1.
    #[config(default = "vec![512, 256]")]
    pub discriminator_hidden: Vec<usize>,
    /// Negative slope of the LeakyReLU activations, in `[0, 1)`.
    #[config(default = 0.2)]
    pub leaky_slope: f64,
    /// End the generator with tanh (data in `[-1, 1]`); otherwise linear.
    #[config(default = true)]
    pub tanh_output: bool,
    /// Condition both networks on a class label in `0..k` (`Some(k)`, k >= 1).
    #[config(default = "None")]
    pub num_classes: Option<usize>,
    /// Spectrally normalise every layer of the discriminator.
    #[config(default = false)]
    pub spectral_norm: bool,
}

impl MlpGanConfig {
    /// Checks the ranges documented on each field.
    ///
    /// # Errors
    /// [`gen_core::Error::InvalidConfig`] naming the first wrong field.
    pub fn validate(&self) -> Result<()> {
        ensure_nonzero("features", self.features)?;
        ensure_nonzero("latent_dim", self.latent_dim)?;
        for &w in &self.generator_hidden {
            ensure_nonzero("generator_hidden", w)?;
        }
        for &w in &self.discriminator_hidden {
            ensure_nonzero("discriminator_hidden", w)?;
        }
        if let Some(k) = self.num_classes {
            ensure_nonzero("num_classes", k)?;
        }
        ensure_unit_interval("leaky_slope", self.leaky_slope)?;
        Ok(())
    }

    /// Builds the generator on `device` (burn's default initialisation,
    /// drawn now from the device's seeded generator: see
    /// [`gen_core::rng::init_now`]).
    ///
    /// # Errors
    /// As [`validate`](Self::validate).
    pub fn init_generator(&self, device: &Device) -> Result<MlpGenerator> {
        self.validate()?;
        Ok(init_now(MlpGenerator {
            layers: stack(
                self.latent_dim + self.num_classes.unwrap_or(0),
                &self.generator_hidden,
                self.features,
                device,
            ),
            config: self.clone(),
        }))
    }

    /// Builds the discriminator on `device`.
    ///
    /// # Errors
    /// As [`validate`](Self::validate).
    pub fn init_discriminator(&self, device: &Device) -> Result<MlpDiscriminator> {
        self.validate()?;
        let layers = stack(self.features, &self.discriminator_hidden, 1, device);
        let spectral = if self.spectral_norm {
            let sn = SpectralNormConfig::new();
            layers
                .iter()
                .map(|l| sn.init_linear(l, device))
                .collect::<Result<Vec<_>>>()?
        } else {
            Vec::new()
        };
        let features = self
            .discriminator_hidden
            .last()
            .copied()
            .unwrap_or(self.features);
        Ok(init_now(MlpDiscriminator {
            layers,
            spectral,
            projection: self
                .num_classes
                .map(|k| Projection::new(k, features, device)),
            leaky_slope: self.leaky_slope,
        }))
    }
}

fn stack(input: usize, hidden: &[usize], output: usize, device: &Device) -> Vec<Linear> {
    let mut widths = vec![input];
    widths.extend_from_slice(hidden);
    widths.push(output);
    widths
        .windows(2)
        .map(|w| LinearConfig::new(w[0], w[1]).init(device))
        .collect()
}

/// Runs all layers but the last, each followed by LeakyReLU; `spectral`
/// is empty or holds one normaliser per layer.
fn hidden(layers: &[Linear], spectral: &[SpectralNorm], mut x: Tensor<2>, slope: f64) -> Tensor<2> {
    let last = layers.len() - 1;
    for (i, layer) in layers.iter().enumerate().take(last) {
        x = leaky_relu(spectral_norm::linear(layer, spectral.get(i), x), slope);
    }
    x
}

/// The MLP generator.
#[derive(Module, Debug)]
pub struct MlpGenerator {
    layers: Vec<Linear>,
    /// What it was built from (its card in checkpoints).
    #[module(skip)]
    config: MlpGanConfig,
}

impl MlpGenerator {
    /// # Shapes
    /// `z`: `[batch, latent_dim]`, `labels`: `[batch]` (used by a
    /// conditional generator, ignored otherwise) -> `[batch, features]`.
    pub fn forward(&self, z: Tensor<2>, labels: Option<Tensor<1, Int>>) -> Tensor<2> {
        let z = match self.config.num_classes {
            Some(k) => concat_one_hot(z, labels, k),
            None => z,
        };
        let x = hidden(&self.layers, &[], z, self.config.leaky_slope);
        let x = gen_nn::linear(&self.layers[self.layers.len() - 1], x);
        if self.config.tanh_output { tanh(x) } else { x }
    }

    /// The config it was built from.
    pub fn config(&self) -> &MlpGanConfig {
        &self.config
    }
}

impl Generator for MlpGenerator {
    fn latent_dim(&self) -> usize {
        self.config.latent_dim
    }

    fn generate(&self, z: Tensor<2>, labels: Option<Tensor<1, Int>>) -> Tensor<2> {
        self.forward(z, labels)
    }

    fn model_config(&self) -> Option<GanModelConfig> {
        Some(GanModelConfig::MlpGan(self.config.clone()))
    }
}

gen_core::impl_sample!(MlpGenerator, |g| {
    example_shape: vec![g.config.features],
    num_classes: g.config.num_classes,
    sample: sample_flat,
});

/// PyTorch names: `net.<2i>` for layer `i`, the positions of the Linear
/// layers in bench_mlp_gan.py's `nn.Sequential(Linear, LeakyReLU, ...,
/// Linear, Tanh)`.
impl TorchModule for MlpGenerator {
    fn torch_key(&self, path: &str) -> String {
        renumber(path, "layers", "net", |i| 2 * i).unwrap_or_else(|| path.to_owned())
    }
}

/// The MLP discriminator.
#[derive(Module, Debug)]
pub struct MlpDiscriminator {
    layers: Vec<Linear>,
    /// Empty, or one spectral normaliser per layer.
    spectral: Vec<SpectralNorm>,
    projection: Option<Projection>,
    leaky_slope: f64,
}

impl MlpDiscriminator {
    /// # Shapes
    /// `x`: `[batch, features]`, `labels`: `[batch]` (used by a conditional
    /// discriminator, ignored otherwise) -> logits `[batch, 1]`.
    pub fn forward(&self, x: Tensor<2>, labels: Option<Tensor<1, Int>>) -> Tensor<2> {
        let phi = hidden(&self.layers, &self.spectral, x, self.leaky_slope);
        let last = self.layers.len() - 1;
        let out = spectral_norm::linear(&self.layers[last], self.spectral.get(last), phi.clone());
        match &self.projection {
            Some(p) => out + p.forward(phi, labels),
            None => out,
        }
    }

    /// The layers and their spectral normalisers (empty without spectral
    /// normalisation), for inspection.
    pub fn layers(&self) -> (&[Linear], &[SpectralNorm]) {
        (&self.layers, &self.spectral)
    }
}

/// PyTorch names: `net.<2i + 1>` for layer `i`, the positions of the
/// Linear layers in bench_mlp_gan.py's `nn.Sequential(Flatten, Linear,
/// LeakyReLU, ..., Linear)`; a spectral-norm or projection discriminator
/// keeps its own names for `spectral.<i>.u` and `projection.embed.weight`.
impl TorchModule for MlpDiscriminator {
    fn torch_key(&self, path: &str) -> String {
        renumber(path, "layers", "net", |i| 2 * i + 1).unwrap_or_else(|| path.to_owned())
    }
}

impl Discriminator for MlpDiscriminator {
    fn num_classes(&self) -> Option<usize> {
        self.projection.as_ref().map(Projection::num_classes)
    }

    fn logits(&self, x: Tensor<2>, labels: Option<Tensor<1, Int>>) -> Tensor<2> {
        self.forward(x, labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gen_core::{Sample, SeededRng};

    #[test]
    fn shapes_and_output_range() {
        let dev = Device::flex();
        let cfg = MlpGanConfig::new(6)
            .with_latent_dim(3)
            .with_generator_hidden(vec![5]);
        let g = cfg.init_generator(&dev).unwrap();
        let d = cfg.init_discriminator(&dev).unwrap();
        let x = g.sample(7, None, &mut SeededRng::new(0), &dev).unwrap();
        assert_eq!(x.dims(), [7, 6]);
        let v: Vec<f32> = x.clone().into_data().try_into_vec().unwrap();
        assert!(v.iter().all(|a| a.abs() <= 1.0));
        assert_eq!(d.forward(x, None).dims(), [7, 1]);
        assert!(
            g.sample(2, Some(&[0, 1]), &mut SeededRng::new(0), &dev)
                .is_err()
        );
    }

    #[test]
    fn invalid_configs_are_typed_errors() {
        let dev = Device::flex();
        for (cfg, field) in [
            (MlpGanConfig::new(0), "features"),
            (MlpGanConfig::new(4).with_latent_dim(0), "latent_dim"),
            (
                MlpGanConfig::new(4).with_generator_hidden(vec![8, 0]),
                "generator_hidden",
            ),
            (MlpGanConfig::new(4).with_leaky_slope(1.5), "leaky_slope"),
            (
                MlpGanConfig::new(4).with_num_classes(Some(0)),
                "num_classes",
            ),
        ] {
            let err = cfg.init_generator(&dev).unwrap_err().to_string();
            assert!(err.contains(field), "{err}");
        }
    }
}
