//! DCGAN (Radford, Metz and Chintala, 2016, "Unsupervised Representation
//! Learning with Deep Convolutional Generative Adversarial Networks",
//! section 3 and figure 1).
//!
//! For an image of side `s = s0 * 2^k` (`s0` in `4..=7`, `k >= 1`; 28 =
//! 7 * 4, 64 = 4 * 16) with `b = base_channels`:
//!
//! * G: `z -> Linear(z, b 2^(k-1) s0 s0) -> ReLU -> reshape`, then `k - 1`
//!   blocks `ConvTranspose2d(c, c/2, 4, stride 2, pad 1) -> BatchNorm ->
//!   ReLU`, then `ConvTranspose2d(b, channels, 4, 2, 1) -> tanh`.
//! * D: `Conv2d(channels, b, 4, 2, 1) -> LeakyReLU(0.2)`, then `k - 1`
//!   blocks `Conv2d(c, 2c, 4, 2, 1) -> BatchNorm -> LeakyReLU(0.2)`, then
//!   `flatten -> Linear(., 1)`. With spectral normalisation every conv and
//!   the final linear layer are normalised and D has no BatchNorm.
//!
//! For 28x28 with the defaults (z = 100, b = 64) this is exactly the DCGAN
//! of the PyTorch benchmark `bench/pytorch/bench_dcgan.py`
//! (G: 100 -> 128x7x7 -> 64x14x14 -> 1x28x28; D: 1 -> 64x14x14 ->
//! 128x7x7 -> 1). For 64x64 it is the paper's layout (4 -> 8 -> 16 -> 32 ->
//! 64, 512 channels at 4x4), with a linear layer where the paper's first
//! and last layers are 4x4 convolutions on a 1x1 map (the same function).
//!
//! Samples and inputs are flat `[batch, channels * s * s]` (the layout of
//! [`gen_core::Batch`]); the models reshape internally. With
//! `num_classes = Some(k)` the pair is conditional
//! ([`conditional`](crate::conditional)).

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::{relu, tanh};
use burn::tensor::{Device, Int, Tensor};
use gen_core::error::{ensure_nonzero, ensure_unit_interval};
use gen_core::interop::{TorchModule, rename, renumber};
use gen_core::rng::init_now;

use crate::conditional::{Projection, concat_one_hot};
use crate::error::{Error, Result};
use crate::spectral_norm::{self, SpectralNorm, SpectralNormConfig};
use crate::{Discriminator, GanModelConfig, Generator, leaky_relu, sample_flat};

/// Shape of a DCGAN.
#[derive(Config, Debug, PartialEq)]
pub struct DcganConfig {
    /// Side of the square images in pixels: `s0 * 2^k` with `s0` in
    /// `4..=7` and `k >= 1` (28, 64, 32, 56, ...).
    #[config(default = 28)]
    pub image_size: usize,
    /// Image channels (1 for MNIST, 3 for colour), >= 1.
    #[config(default = 1)]
    pub channels: usize,
    /// Length of the noise vector z, >= 1.
    #[config(default = 100)]
    pub latent_dim: usize,
    /// Channels of G's last hidden layer and of D's first layer (doubled at
    /// each coarser resolution), >= 1.
    #[config(default = 64)]
    pub base_channels: usize,
    /// Negative slope of D's LeakyReLU activations, in `[0, 1)`.
    #[config(default = 0.2)]
    pub leaky_slope: f64,
    /// Condition both networks on a class label in `0..k` (`Some(k)`, k >= 1).
    #[config(default = "None")]
    pub num_classes: Option<usize>,
    /// Spectrally normalise every layer of D (which then has no BatchNorm).
    #[config(default = false)]
    pub spectral_norm: bool,
    /// BatchNorm in D's hidden layers (ignored with `spectral_norm`). Turn
    /// it off for a gradient penalty, which is defined per sample.
    #[config(default = true)]
    pub discriminator_batch_norm: bool,
}

/// `(s0, k)` with `image_size = s0 * 2^k`, `s0` in `4..=7`, `k >= 1`.
fn plan(image_size: usize) -> Option<(usize, usize)> {
    let (mut s, mut k) = (image_size, 0);
    while s > 7 && s.is_multiple_of(2) {
        s /= 2;
        k += 1;
    }
    ((4..=7).contains(&s) && k >= 1).then_some((s, k))
}

impl DcganConfig {
    /// The 64x64 layout of the paper (3 channels, z = 100).
    pub fn faces64() -> Self {
        Self::new().with_image_size(64).with_channels(3)
    }

    /// Checks the ranges documented on each field.
    ///
    /// # Errors
    /// [`Error::ImageSize`] for a size the architecture cannot build,
    /// [`gen_core::Error::InvalidConfig`] naming any other wrong field.
    pub fn validate(&self) -> Result<()> {
        self.resolutions()?;
        ensure_nonzero("channels", self.channels)?;
        ensure_nonzero("latent_dim", self.latent_dim)?;
        ensure_nonzero("base_channels", self.base_channels)?;
        if let Some(k) = self.num_classes {
            ensure_nonzero("num_classes", k)?;
        }
        ensure_unit_interval("leaky_slope", self.leaky_slope)?;
        Ok(())
    }

    /// `(s0, k)`: the starting side and the number of 2x up-samplings.
    fn resolutions(&self) -> Result<(usize, usize)> {
        plan(self.image_size).ok_or(Error::ImageSize {
            size: self.image_size,
        })
    }

    /// Values per flat image, `channels * image_size^2`.
    pub fn features(&self) -> usize {
        self.channels * self.image_size * self.image_size
    }

    /// `[channels, image_size, image_size]`.
    pub fn example_shape(&self) -> [usize; 3] {
        [self.channels, self.image_size, self.image_size]
    }

    /// Builds the generator on `device` (burn's default initialisation,
    /// drawn now from the device's seeded generator).
    ///
    /// # Errors
    /// As [`validate`](Self::validate).
    pub fn init_generator(&self, device: &Device) -> Result<DcganGenerator> {
        self.validate()?;
        let (s0, k) = self.resolutions()?;
        let top = self.base_channels << (k - 1);
        let cond = self.num_classes.unwrap_or(0);
        let up = |cin: usize, cout: usize| {
            ConvTranspose2dConfig::new([cin, cout], [4, 4])
                .with_stride([2, 2])
                .with_padding([1, 1])
                .init(device)
        };
        let mut blocks = Vec::new();
        let mut norms = Vec::new();
        let mut c = top;
        for _ in 1..k {
            blocks.push(up(c, c / 2));
            norms.push(BatchNormConfig::new(c / 2).init(device));
            c /= 2;
        }
        Ok(init_now(DcganGenerator {
            project: LinearConfig::new(self.latent_dim + cond, top * s0 * s0).init(device),
            blocks,
            norms,
            to_image: up(c, self.channels),
            start: [top, s0, s0],
            config: self.clone(),
        }))
    }

    /// Builds the discriminator on `device`.
    ///
    /// # Errors
    /// As [`validate`](Self::validate).
    pub fn init_discriminator(&self, device: &Device) -> Result<DcganDiscriminator> {
        self.validate()?;
        let (s0, k) = self.resolutions()?;
        let down = |cin: usize, cout: usize| {
            Conv2dConfig::new([cin, cout], [4, 4])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        let mut convs = vec![down(self.channels, self.base_channels)];
        let mut norms = Vec::new();
        let mut c = self.base_channels;
        let batch_norm = self.discriminator_batch_norm && !self.spectral_norm;
        for _ in 1..k {
            convs.push(down(c, 2 * c));
            if batch_norm {
                norms.push(BatchNormConfig::new(2 * c).init(device));
            }
            c *= 2;
        }
        let features = c * s0 * s0;
        let head = LinearConfig::new(features, 1).init(device);
        let spectral = if self.spectral_norm {
            let sn = SpectralNormConfig::new();
            let mut v = convs
                .iter()
                .map(|conv| sn.init_conv2d(conv, device))
                .collect::<Result<Vec<_>>>()?;
            v.push(sn.init_linear(&head, device)?);
            v
        } else {
            Vec::new()
        };
        Ok(init_now(DcganDiscriminator {
            convs,
            norms,
            head,
            spectral,
            projection: self
                .num_classes
                .map(|n| Projection::new(n, features, device)),
            image: self.example_shape(),
            leaky_slope: self.leaky_slope,
        }))
    }
}

/// The DCGAN generator.
#[derive(Module, Debug)]
pub struct DcganGenerator {
    project: Linear,
    blocks: Vec<ConvTranspose2d>,
    norms: Vec<BatchNorm>,
    to_image: ConvTranspose2d,
    /// `[channels, side, side]` after the projection.
    start: [usize; 3],
    /// What it was built from (its card in checkpoints).
    #[module(skip)]
    config: DcganConfig,
}

impl DcganGenerator {
    /// # Shapes
    /// `z`: `[batch, latent_dim]`, `labels`: `[batch]` (conditional models)
    /// -> images `[batch, channels, size, size]` in `[-1, 1]`.
    pub fn forward_images(&self, z: Tensor<2>, labels: Option<Tensor<1, Int>>) -> Tensor<4> {
        let [n, _] = z.dims();
        let z = match self.config.num_classes {
            Some(k) => concat_one_hot(z, labels, k),
            None => z,
        };
        let [c, h, w] = self.start;
        let mut x = relu(gen_nn::linear(&self.project, z)).reshape([n, c, h, w]);
        for (up, bn) in self.blocks.iter().zip(&self.norms) {
            x = relu(gen_nn::batch_norm(bn, gen_nn::conv_transpose2d(up, x)));
        }
        tanh(gen_nn::conv_transpose2d(&self.to_image, x))
    }

    /// # Shapes
    /// As [`forward_images`](Self::forward_images), flattened:
    /// `[batch, channels * size * size]`.
    pub fn forward(&self, z: Tensor<2>, labels: Option<Tensor<1, Int>>) -> Tensor<2> {
        self.forward_images(z, labels).flatten(1, 3)
    }

    /// The config it was built from.
    pub fn config(&self) -> &DcganConfig {
        &self.config
    }
}

impl Generator for DcganGenerator {
    fn latent_dim(&self) -> usize {
        self.config.latent_dim
    }

    fn generate(&self, z: Tensor<2>, labels: Option<Tensor<1, Int>>) -> Tensor<2> {
        self.forward(z, labels)
    }

    fn model_config(&self) -> Option<GanModelConfig> {
        Some(GanModelConfig::Dcgan(self.config.clone()))
    }
}

/// PyTorch names, as bench_dcgan.py's `G`: `fc` for the projection, then
/// `net` = `nn.Sequential(ConvTranspose2d, BatchNorm2d, ReLU, ...,
/// ConvTranspose2d, Tanh)`: block `i` at `net.<3i>`, its BatchNorm at
/// `net.<3i + 1>`, the last transposed conv at `net.<3 * blocks>`.
impl TorchModule for DcganGenerator {
    fn torch_key(&self, path: &str) -> String {
        let blocks = self.blocks.len();
        rename(path, "project", "fc")
            .or_else(|| renumber(path, "blocks", "net", |i| 3 * i))
            .or_else(|| renumber(path, "norms", "net", |i| 3 * i + 1))
            .or_else(|| rename(path, "to_image", &format!("net.{}", 3 * blocks)))
            .unwrap_or_else(|| path.to_owned())
    }
}

gen_core::impl_sample!(DcganGenerator, |g| {
    example_shape: g.config.example_shape().to_vec(),
    num_classes: g.config.num_classes,
    sample: sample_flat,
});

/// The DCGAN discriminator.
#[derive(Module, Debug)]
pub struct DcganDiscriminator {
    convs: Vec<Conv2d>,
    /// BatchNorm after convs 1.. (empty with spectral normalisation or
    /// without `discriminator_batch_norm`).
    norms: Vec<BatchNorm>,
    head: Linear,
    /// Empty, or one normaliser per conv and one for the head.
    spectral: Vec<SpectralNorm>,
    projection: Option<Projection>,
    image: [usize; 3],
    leaky_slope: f64,
}

impl DcganDiscriminator {
    /// # Shapes
    /// `x`: `[batch, channels * size * size]`, `labels`: `[batch]`
    /// (conditional models) -> logits `[batch, 1]`.
    pub fn forward(&self, x: Tensor<2>, labels: Option<Tensor<1, Int>>) -> Tensor<2> {
        let [n, _] = x.dims();
        let [c, h, w] = self.image;
        let mut x: Tensor<4> = x.reshape([n, c, h, w]);
        for (i, conv) in self.convs.iter().enumerate() {
            x = spectral_norm::conv2d(conv, self.spectral.get(i), x);
            if i > 0
                && let Some(bn) = self.norms.get(i - 1)
            {
                x = gen_nn::batch_norm(bn, x);
            }
            x = leaky_relu(x, self.leaky_slope);
        }
        let phi: Tensor<2> = x.flatten(1, 3);
        let out =
            spectral_norm::linear(&self.head, self.spectral.get(self.convs.len()), phi.clone());
        match &self.projection {
            Some(p) => out + p.forward(phi, labels),
            None => out,
        }
    }

    /// The conv layers, the head and their spectral normalisers (empty
    /// without spectral normalisation), for inspection.
    pub fn layers(&self) -> (&[Conv2d], &Linear, &[SpectralNorm]) {
        (&self.convs, &self.head, &self.spectral)
    }
}

/// PyTorch names, as bench_dcgan.py's `D`: `net` = `nn.Sequential(Conv2d,
/// LeakyReLU, Conv2d, BatchNorm2d, LeakyReLU, ..., Flatten, Linear)`. With
/// BatchNorm, conv `i >= 1` sits at `net.<3i - 1>` and its norm at
/// `net.<3i>`, the head at `net.<3 * convs>`; without BatchNorm (spectral
/// norm, or `discriminator_batch_norm = false`) conv `i` sits at
/// `net.<2i>` and the head at `net.<2 * convs + 1>`. Spectral norm's
/// vectors and a projection keep their own names (`spectral.<i>.u`,
/// `projection.embed.weight`).
impl TorchModule for DcganDiscriminator {
    fn torch_key(&self, path: &str) -> String {
        let n = self.convs.len();
        let (conv, head): (fn(usize) -> usize, usize) = if self.norms.is_empty() {
            (|i| 2 * i, 2 * n + 1)
        } else {
            (|i| if i == 0 { 0 } else { 3 * i - 1 }, 3 * n)
        };
        renumber(path, "convs", "net", conv)
            .or_else(|| renumber(path, "norms", "net", |i| 3 * (i + 1)))
            .or_else(|| rename(path, "head", &format!("net.{head}")))
            .unwrap_or_else(|| path.to_owned())
    }
}

impl Discriminator for DcganDiscriminator {
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

    fn count<M: Module>(m: &M) -> usize {
        m.num_params()
    }

    #[test]
    fn mnist_shapes_match_the_pytorch_benchmark() {
        let dev = Device::flex();
        let cfg = DcganConfig::new();
        let g = cfg.init_generator(&dev).unwrap();
        let d = cfg.init_discriminator(&dev).unwrap();
        let x = g.sample(3, None, &mut SeededRng::new(0), &dev).unwrap();
        assert_eq!(x.dims(), [3, 784]);
        assert_eq!(d.forward(x, None).dims(), [3, 1]);
        // Parameter counts of bench_dcgan.py's G and D, as PyTorch counts
        // them (BN's gamma and beta):
        // G: 100*6272+6272 + 128*64*16+64 + 2*64 + 64*16+1 = 765,761
        // D: 16*64+64 + 64*128*16+128 + 2*128 + 6272+1 = 138,817
        // burn's count adds BN's running mean and variance (2 * channels).
        assert_eq!(count(&g), 765_761 + 2 * 64);
        assert_eq!(count(&d), 138_817 + 2 * 128);
    }

    #[test]
    fn sixty_four_and_conditional() {
        let dev = Device::flex();
        let cfg = DcganConfig::faces64()
            .with_base_channels(4)
            .with_latent_dim(8)
            .with_num_classes(Some(3))
            .with_spectral_norm(true);
        let g = cfg.init_generator(&dev).unwrap();
        let d = cfg.init_discriminator(&dev).unwrap();
        let x = g
            .sample(2, Some(&[0, 2]), &mut SeededRng::new(0), &dev)
            .unwrap();
        assert_eq!(x.dims(), [2, 3 * 64 * 64]);
        let labels = gen_core::labels::upload(&[1, 2], &dev);
        assert_eq!(d.forward(x, Some(labels)).dims(), [2, 1]);
        assert_eq!(d.layers().2.len(), 5);
        // No labels: each sample's class is drawn (gen-core's labels rules).
        let free = g.sample(2, None, &mut SeededRng::new(0), &dev).unwrap();
        assert_eq!(free.dims(), [2, 3 * 64 * 64]);
        assert!(
            g.sample(1, Some(&[3]), &mut SeededRng::new(0), &dev)
                .is_err()
        );
    }

    #[test]
    fn image_sizes() {
        assert_eq!(plan(28), Some((7, 2)));
        assert_eq!(plan(64), Some((4, 4)));
        assert_eq!(plan(48), Some((6, 3)));
        for bad in [0, 1, 7, 9, 30, 100] {
            assert_eq!(plan(bad), None, "{bad}");
            let err = DcganConfig::new()
                .with_image_size(bad)
                .init_generator(&Device::flex())
                .unwrap_err();
            assert!(
                matches!(err, Error::ImageSize { size } if size == bad),
                "{err}"
            );
        }
        let err = DcganConfig::new()
            .with_channels(0)
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.contains("channels"), "{err}");
    }

    #[test]
    fn trains_with_every_option() {
        use crate::{GanLoss, GanTrainer, GanTrainingConfig, GradientPenaltyConfig};
        use gen_core::{Batch, TrainStep};
        let dev = Device::flex();
        let cfg = DcganConfig::new()
            .with_image_size(8)
            .with_base_channels(4)
            .with_latent_dim(4)
            .with_num_classes(Some(3));
        let trainings = [
            (
                cfg.clone().with_spectral_norm(true),
                GanTrainingConfig::new()
                    .with_loss(GanLoss::Hinge)
                    .with_gradient_penalty(Some(GradientPenaltyConfig::new()))
                    .with_ema(0.9),
            ),
            (
                cfg.clone(),
                GanTrainingConfig::new()
                    .with_loss(GanLoss::Wasserstein)
                    .with_clip(Some(0.05))
                    .with_n_critic(2),
            ),
        ];
        for (cfg, training) in trainings {
            let g = cfg.init_generator(&dev).unwrap();
            let d = cfg.init_discriminator(&dev).unwrap();
            let mut gan = GanTrainer::new(g, d, training, &dev).unwrap();
            let mut rng = SeededRng::new(0);
            let ad = gan.device();
            for _ in 0..3 {
                let batches = (0..gan.batches_per_step())
                    .map(|_| {
                        Batch::new(rng.uniform([6, 64], -1.0, 1.0, &ad))
                            .with_labels(gen_core::labels::upload(&[0, 1, 2, 0, 1, 2], &ad))
                    })
                    .collect();
                let m = gan.step(batches, &mut rng).unwrap();
                assert!(m.first_non_finite().is_none(), "{m:?}");
            }
            let x = gan
                .sampler()
                .sample(3, Some(&[2, 1, 0]), &mut rng, &dev)
                .unwrap();
            assert_eq!(x.dims(), [3, 64]);
        }
    }
}
