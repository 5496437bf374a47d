//! # gen-gan: generative adversarial networks on burn
//!
//! | module | what it holds |
//! |---|---|
//! | [`mlp`] | the MLP GAN: [`MlpGenerator`], [`MlpDiscriminator`], [`MlpGanConfig`] |
//! | [`dcgan`] | DCGAN for 28x28 and 64x64 images: [`DcganGenerator`], [`DcganDiscriminator`], [`DcganConfig`] |
//! | [`conditional`] | class conditioning: one-hot labels for G, the projection discriminator |
//! | [`spectral_norm`] | [`SpectralNorm`]: power iteration on a Linear or Conv2d weight, `u` persisted |
//! | [`penalty`] | the finite-difference gradient penalty ([`GradientPenaltyConfig`]) |
//! | [`loss`] | [`GanLoss`]: non-saturating, minimax, hinge, Wasserstein, least squares |
//! | [`saved`] | a saved GAN rebuilt from its checkpoint's model card ([`SavedGenerator`], [`SavedDiscriminator`]) |
//! | [`train`] | [`GanTrainer`]: two models, two Adam optimizers, `n_critic`, clipping, penalty, EMA of G (gen-core's shared optimisation layer); a [`gen_core::TrainStep`] |
//! | [`error`] | [`Error`], wrapping gen-core's |
//!
//! Any pair of modules implementing [`Generator`] and [`Discriminator`]
//! trains with [`GanTrainer`], through gen-core's [`Trainer`](gen_core::Trainer)
//! (progress, metrics, checkpoints, resume).
//!
//! ```
//! use burn::tensor::Device;
//! use gen_core::{Sample, SeededRng, TrainStep, Batch};
//! use gen_gan::{GanTrainer, GanTrainingConfig, MlpGanConfig};
//!
//! let dev = Device::flex();
//! let cfg = MlpGanConfig::new(2).with_latent_dim(4).with_tanh_output(false);
//! let (g, d) = (cfg.init_generator(&dev)?, cfg.init_discriminator(&dev)?);
//! let mut gan = GanTrainer::new(g, d, GanTrainingConfig::new(), &dev)?;
//! let mut rng = SeededRng::new(0);
//! let real = rng.normal([16, 2], &gan.device());
//! let metrics = gan.step(vec![Batch::new(real)], &mut rng)?;
//! assert!(metrics.get("loss_d").unwrap().is_finite());
//! let samples = gan.generator().sample(8, None, &mut rng, &dev)?;
//! assert_eq!(samples.dims(), [8, 2]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod conditional;
pub mod dcgan;
pub mod error;
pub mod loss;
pub mod mlp;
pub mod penalty;
pub mod saved;
pub mod spectral_norm;
pub mod train;

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor};
use gen_core::{Sample, SeededRng, labels};
pub(crate) use gen_nn::leaky_relu;

pub use dcgan::{DcganConfig, DcganDiscriminator, DcganGenerator};
pub use error::{Error, Result};
pub use loss::GanLoss;
pub use mlp::{MlpDiscriminator, MlpGanConfig, MlpGenerator};
pub use penalty::{GradientPenaltyConfig, PenaltyDirection};
pub use saved::{FAMILY, SavedDiscriminator, SavedGenerator};
pub use spectral_norm::{SpectralNorm, SpectralNormConfig};
pub use train::{DISCRIMINATOR, GENERATOR, GanTrainer, GanTrainingConfig};

/// A GAN generator: noise (and, for a conditional generator, class labels)
/// in, flat samples out. Its [`Sample`] side says the shape of one sample
/// and the number of classes of a conditional generator.
pub trait Generator: Module + Sample {
    /// The length of the noise vector.
    fn latent_dim(&self) -> usize;

    /// # Shapes
    /// `z`: `[batch, latent_dim]`, `labels`: `[batch]` in `0..k` ->
    /// `[batch, features]`. An unconditional generator ignores `labels`.
    fn generate(&self, z: Tensor<2>, labels: Option<Tensor<1, Int>>) -> Tensor<2>;

    /// The config that rebuilds this generator (and its discriminator):
    /// what a checkpoint's model card holds. `None` (the default) for a
    /// model of your own, whose checkpoints then have no card.
    fn model_config(&self) -> Option<GanModelConfig> {
        None
    }
}

/// The shape of any GAN of the crate, tagged with its kind: what a
/// checkpoint's model card holds, so that a later program can rebuild the
/// pair before loading its weights.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", content = "config", rename_all = "snake_case")]
pub enum GanModelConfig {
    /// An [`MlpGenerator`] and [`MlpDiscriminator`].
    MlpGan(MlpGanConfig),
    /// A [`DcganGenerator`] and [`DcganDiscriminator`].
    Dcgan(DcganConfig),
}

/// A GAN discriminator (or critic): flat samples (and, for a conditional
/// discriminator, class labels) in, one logit (or score) per sample out.
pub trait Discriminator: Module {
    /// The number of classes of a conditional discriminator; `None` (the
    /// default) for an unconditional one.
    fn num_classes(&self) -> Option<usize> {
        None
    }

    /// # Shapes
    /// `x`: `[batch, features]`, `labels`: `[batch]` -> `[batch, 1]`. An
    /// unconditional discriminator ignores `labels`.
    fn logits(&self, x: Tensor<2>, labels: Option<Tensor<1, Int>>) -> Tensor<2>;
}

/// Draws `n` flat samples `[n, features]` from `generator` on `device`:
/// z from `rng`, the generator in inference mode (BatchNorm on its running
/// statistics). The shared body of the crate's [`gen_core::Sample`]
/// implementations.
///
/// A conditional generator asked for `labels = None` draws each sample's
/// class uniformly (gen-core's [`labels`] rules; the classes are drawn
/// before z).
///
/// # Errors
/// As [`gen_core::labels::check`]: labels for an unconditional generator,
/// not one per sample, or outside `0..k`.
pub fn sample_flat<G: Generator>(
    generator: &G,
    n: usize,
    labels: Option<&[usize]>,
    rng: &mut SeededRng,
    device: &Device,
) -> gen_core::Result<Tensor<2>> {
    let labels = labels::for_sampling(n, labels, generator.num_classes(), rng)?;
    let model = generator.valid().to_device(device);
    let z = rng.normal([n, generator.latent_dim()], device);
    let labels = labels.map(|l| labels::upload(&l, device));
    Ok(model.generate(z, labels))
}
