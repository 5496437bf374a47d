//! # gen-vae: variational autoencoders on burn
//!
//! | module | what it holds |
//! |---|---|
//! | [`mlp`] | [`MlpVae`]: fully connected encoder and decoder (the classic 784-400-20 shape by default) |
//! | [`conv`] | [`ConvVae`]: strided-conv encoder, transposed-conv decoder, for 28x28 to 64x64 images |
//! | [`posterior`] | [`DiagonalGaussian`]: the reparameterisation trick, closed-form KL, log densities |
//! | [`likelihood`] | [`Likelihood`]: Bernoulli, or Gaussian with a fixed or learned variance |
//! | [`objective`] | [`Objective`]: the ELBO (with beta) and the importance-weighted bound (IWAE) |
//! | [`saved`] | a saved VAE rebuilt from its checkpoint's model card ([`SavedVae`]) |
//! | [`train`] | [`VaeTrainer`]: one model, one Adam, beta and KL warm-up; a [`gen_core::TrainStep`] |
//! | [`eval`] | negative ELBO and importance-sampled negative log-likelihood, in nats and bits per dimension |
//! | [`visual`] | reconstructions, interpolations and latent traversals as image batches |
//!
//! Every model implements [`Vae`] (encode to a posterior, decode to the
//! parameters of p(x | z)) and [`gen_core::Sample`] (decode draws from the
//! prior). Data is flat, `[batch, features]`, as in [`gen_core::Batch`];
//! the conv VAE reshapes to images itself. A model with `num_classes` set
//! is a conditional VAE: the one-hot label enters both the encoder and the
//! decoder.
//!
//! ```
//! use burn::tensor::Device;
//! use gen_core::{Batch, Sample, SeededRng, TrainStep};
//! use gen_vae::{MlpVaeConfig, VaeTrainer, VaeTrainingConfig};
//!
//! let dev = Device::flex();
//! let vae = MlpVaeConfig::new(16).with_latent_dim(2).with_hidden(vec![32]).init(&dev)?;
//! let mut trainer = VaeTrainer::new(vae, VaeTrainingConfig::new(), &dev)?;
//! let mut rng = SeededRng::new(0);
//! let x = rng.uniform([8, 16], 0.0, 1.0, &trainer.device());
//! let metrics = trainer.step(vec![Batch::new(x)], &mut rng)?;
//! assert!(metrics.get("neg_elbo").unwrap() > 0.0);
//! let samples = trainer.model().sample(4, None, &mut rng, &dev)?;
//! assert_eq!(samples.dims(), [4, 16]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod conv;
pub mod eval;
pub mod likelihood;
pub mod mlp;
pub mod objective;
pub mod posterior;
pub mod saved;
pub mod train;
pub mod visual;

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor};
use gen_core::{Error as CoreError, Sample, SeededRng, labels};

pub use conv::{ConvVae, ConvVaeConfig};
pub use eval::{Evaluation, evaluate, importance_sampled_log_likelihood};
/// gen-vae adds no failure of its own: its errors are gen-core's (configs,
/// shapes, data a decoder cannot score, labels, checkpoints).
pub use gen_core::{Error, Result};
pub use likelihood::{Likelihood, OutputDistribution};
pub use mlp::{MlpVae, MlpVaeConfig};
pub use objective::Objective;
pub use posterior::DiagonalGaussian;
pub use saved::{FAMILY, SavedVae};
pub use train::{VaeTrainer, VaeTrainingConfig};

/// A variational autoencoder: an encoder q(z | x, y) and a decoder
/// p(x | z, y), with `y` a one-hot label for conditional models. Its
/// [`Sample`] side (prior samples) says the shape of one example and the
/// number of classes of a conditional model.
pub trait Vae: Module + Sample {
    /// The length of z.
    fn latent_dim(&self) -> usize;

    /// The posterior q(z | x, y).
    ///
    /// # Shapes
    /// `x`: `[batch, features]`, `condition`: one-hot `[batch, classes]`
    /// (conditional models only) -> parameters `[batch, latent_dim]`.
    fn encode(&self, x: Tensor<2>, condition: Option<Tensor<2>>) -> DiagonalGaussian;

    /// The parameters of p(x | z, y) (logits or means, see
    /// [`OutputDistribution`]).
    ///
    /// # Shapes
    /// `z`: `[batch, latent_dim]` -> `[batch, features]`.
    fn decode(&self, z: Tensor<2>, condition: Option<Tensor<2>>) -> Tensor<2>;

    /// The output distribution's head.
    fn output(&self) -> &OutputDistribution;

    /// The config that rebuilds this model: what a checkpoint's model card
    /// holds. `None` (the default) for a model of your own.
    fn model_config(&self) -> Option<VaeConfig> {
        None
    }
}

/// The shape of any model of the crate, tagged with its kind: what a run
/// saves (in `config.json` and every checkpoint's run config) so that a
/// later program can rebuild the model before loading its weights.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", content = "config", rename_all = "snake_case")]
pub enum VaeConfig {
    /// An [`MlpVae`].
    Mlp(MlpVaeConfig),
    /// A [`ConvVae`].
    Conv(ConvVaeConfig),
}

/// Appends the condition to the features, when there is one.
pub(crate) fn with_condition(x: Tensor<2>, condition: Option<Tensor<2>>) -> Tensor<2> {
    match condition {
        Some(y) => Tensor::cat(vec![x, y], 1),
        None => x,
    }
}

/// Checks the batch width and turns the batch's labels into the model's
/// condition: `Some(one-hot)` for a conditional model (labels required),
/// `None` otherwise (labels ignored).
pub(crate) fn condition_for<M: Vae>(
    model: &M,
    x: &Tensor<2>,
    labels: Option<&Tensor<1, Int>>,
) -> gen_core::Result<Option<Tensor<2>>> {
    let dims = x.dims();
    if dims[1] != model.features() {
        return Err(CoreError::Shape {
            what: "VAE input",
            expected: format!("[batch, {}]", model.features()),
            found: dims.to_vec(),
        });
    }
    labels::for_training(dims[0], labels, model.num_classes())?;
    Ok(labels
        .zip(model.num_classes())
        .map(|(l, k)| labels::one_hot(l.clone(), k)))
}

/// The one-hot condition for labels chosen on the host by
/// [`gen_core::labels::for_sampling`].
pub(crate) fn condition_host(
    labels: Option<&[usize]>,
    classes: Option<usize>,
    device: &Device,
) -> Option<Tensor<2>> {
    labels
        .zip(classes)
        .map(|(l, k)| labels::one_hot(labels::upload(l, device), k))
}

/// Decodes `n` draws from the prior N(0, I) and returns the means of
/// p(x | z): what [`gen_core::Sample`] does for every model of the crate.
/// A conditional model asked for `labels = None` draws each sample's class
/// uniformly (gen-core's [`labels`] rules).
///
/// # Errors
/// As [`gen_core::Sample::sample`].
pub fn sample_prior<M: Vae>(
    model: &M,
    n: usize,
    labels: Option<&[usize]>,
    rng: &mut SeededRng,
    device: &Device,
) -> gen_core::Result<Tensor<2>> {
    let labels = labels::for_sampling(n, labels, model.num_classes(), rng)?;
    let model = model.valid().to_device(device);
    let z = rng.normal([n, model.latent_dim()], device);
    let condition = condition_host(labels.as_deref(), model.num_classes(), device);
    Ok(model.output().mean(model.decode(z, condition)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_configs_round_trip_through_json_with_their_kind() {
        for cfg in [
            VaeConfig::Mlp(MlpVaeConfig::mnist().with_num_classes(Some(10))),
            VaeConfig::Conv(ConvVaeConfig::faces(3)),
        ] {
            let json = serde_json::to_value(&cfg).unwrap();
            assert!(json["kind"].is_string(), "{json}");
            let back: VaeConfig = serde_json::from_value(json).unwrap();
            assert_eq!(back, cfg);
        }
    }
}
