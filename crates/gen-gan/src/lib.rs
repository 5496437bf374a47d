//! # gen-gan: generative adversarial networks on burn
//!
//! | module | what it holds |
//! |---|---|
//! | [`mlp`] | the MLP GAN: [`MlpGenerator`], [`MlpDiscriminator`], [`MlpGanConfig`] |
//! | [`loss`] | [`GanLoss`]: the minimax objective with the non-saturating generator loss |
//! | [`train`] | [`GanTrainer`]: two models, two Adam optimizers, `n_critic`; a [`gen_core::TrainStep`] |
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

pub mod error;
pub mod loss;
pub mod mlp;
pub mod train;

use burn::module::Module;
use burn::tensor::Tensor;

pub use error::{Error, Result};
pub use loss::GanLoss;
pub use mlp::{MlpDiscriminator, MlpGanConfig, MlpGenerator};
pub use train::{GanTrainer, GanTrainingConfig};

/// A GAN generator: noise in, flat samples out.
pub trait Generator: Module {
    /// The length of the noise vector.
    fn latent_dim(&self) -> usize;

    /// # Shapes
    /// `z`: `[batch, latent_dim]` -> `[batch, features]`.
    fn generate(&self, z: Tensor<2>) -> Tensor<2>;
}

/// A GAN discriminator (or critic): flat samples in, one logit (or score)
/// per sample out.
pub trait Discriminator: Module {
    /// # Shapes
    /// `x`: `[batch, features]` -> `[batch, 1]`.
    fn logits(&self, x: Tensor<2>) -> Tensor<2>;
}
