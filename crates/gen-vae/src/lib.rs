//! # gen-vae: variational autoencoders on burn
//!
//! | module | what it holds |
//! |---|---|
//! | [`mlp`] | [`MlpVae`]: fully connected encoder and decoder (the classic 784-400-20 shape by default) |
//! | [`conv`] | [`ConvVae`]: strided-conv encoder, transposed-conv decoder, for 28x28 to 64x64 images |
//! | [`posterior`] | [`DiagonalGaussian`]: the reparameterisation trick, closed-form KL, log densities |
//! | [`likelihood`] | [`Likelihood`]: Bernoulli, or Gaussian with a fixed or learned variance |
//! | [`objective`] | [`Objective`]: the ELBO (with beta) and the importance-weighted bound (IWAE) |
//! | [`train`] | [`VaeTrainer`]: one model, one Adam, beta and KL warm-up; a [`gen_core::TrainStep`] |
//! | [`eval`] | negative ELBO and importance-sampled negative log-likelihood, in nats and bits per dimension |
//! | [`visual`] | reconstructions, interpolations and latent traversals as image batches |
//! | [`error`] | [`Error`], wrapping gen-core's |
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
pub mod error;
pub mod eval;
pub mod likelihood;
pub mod mlp;
pub mod objective;
pub mod posterior;
pub mod train;
pub mod visual;

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};
use gen_core::sample::check_labels;
use gen_core::{Error as CoreError, SeededRng};

pub use conv::{ConvVae, ConvVaeConfig};
pub use error::{Error, Result};
pub use eval::{Evaluation, evaluate, importance_sampled_log_likelihood};
pub use likelihood::{Likelihood, OutputDistribution};
pub use mlp::{MlpVae, MlpVaeConfig};
pub use objective::Objective;
pub use posterior::DiagonalGaussian;
pub use train::{VaeTrainer, VaeTrainingConfig};

/// A variational autoencoder: an encoder q(z | x, y) and a decoder
/// p(x | z, y), with `y` a one-hot label for conditional models.
pub trait Vae: Module {
    /// The length of z.
    fn latent_dim(&self) -> usize;

    /// Values per example (`channels * height * width` for images).
    fn data_dim(&self) -> usize;

    /// `[channels, height, width]` when the data are images.
    fn image_shape(&self) -> Option<[usize; 3]>;

    /// The number of classes of a conditional model; `None` otherwise.
    fn classes(&self) -> Option<usize>;

    /// The posterior q(z | x, y).
    ///
    /// # Shapes
    /// `x`: `[batch, data_dim]`, `condition`: one-hot `[batch, classes]`
    /// (conditional models only) -> parameters `[batch, latent_dim]`.
    fn encode(&self, x: Tensor<2>, condition: Option<Tensor<2>>) -> DiagonalGaussian;

    /// The parameters of p(x | z, y) (logits or means, see
    /// [`OutputDistribution`]).
    ///
    /// # Shapes
    /// `z`: `[batch, latent_dim]` -> `[batch, data_dim]`.
    fn decode(&self, z: Tensor<2>, condition: Option<Tensor<2>>) -> Tensor<2>;

    /// The output distribution's head.
    fn output(&self) -> &OutputDistribution;
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

/// One-hot rows `[n, classes]` for class labels.
pub fn one_hot(labels: Tensor<1, Int>, classes: usize) -> Tensor<2> {
    labels.one_hot::<2>(classes).float()
}

/// One-hot rows for labels given on the host.
pub fn one_hot_host(labels: &[usize], classes: usize, device: &Device) -> Tensor<2> {
    let ints: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
    let n = ints.len();
    one_hot(
        Tensor::<1, Int>::from_data(TensorData::new(ints, [n]), device),
        classes,
    )
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
    labels: Option<Tensor<1, Int>>,
) -> gen_core::Result<Option<Tensor<2>>> {
    let dims = x.dims();
    if dims[1] != model.data_dim() {
        return Err(CoreError::Shape {
            what: "VAE input",
            expected: format!("[batch, {}]", model.data_dim()),
            found: dims.to_vec(),
        });
    }
    match (model.classes(), labels) {
        (None, _) => Ok(None),
        (Some(k), Some(labels)) => {
            if labels.dims()[0] != dims[0] {
                return Err(CoreError::Shape {
                    what: "VAE labels",
                    expected: format!("[{}]", dims[0]),
                    found: labels.dims().to_vec(),
                });
            }
            let max = labels.clone().max().into_scalar::<i64>();
            let min = labels.clone().min().into_scalar::<i64>();
            if min < 0 || max >= k as i64 {
                return Err(CoreError::Data(format!(
                    "labels span {min}..={max}, but the model has classes 0..{k}"
                )));
            }
            Ok(Some(one_hot(labels, k)))
        }
        (Some(k), None) => Err(CoreError::Unsupported(format!(
            "this VAE is conditional on {k} classes and the data has no labels"
        ))),
    }
}

/// Decodes `n` draws from the prior N(0, I) and returns the means of
/// p(x | z): what [`gen_core::Sample`] does for every model of the crate.
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
    check_labels(n, labels, model.classes())?;
    let model = model.valid().to_device(device);
    let z = rng.normal([n, model.latent_dim()], device);
    let condition = labels
        .zip(model.classes())
        .map(|(l, k)| one_hot_host(l, k, device));
    Ok(model.output().mean(model.decode(z, condition)))
}

/// Implements [`gen_core::Sample`] for a [`Vae`] through [`sample_prior`].
macro_rules! impl_sample {
    ($model:ty) => {
        impl gen_core::Sample<2> for $model {
            fn sample(
                &self,
                n: usize,
                labels: Option<&[usize]>,
                rng: &mut gen_core::SeededRng,
                device: &burn::tensor::Device,
            ) -> gen_core::Result<burn::tensor::Tensor<2>> {
                $crate::sample_prior(self, n, labels, rng, device)
            }

            fn num_classes(&self) -> Option<usize> {
                $crate::Vae::classes(self)
            }
        }
    };
}
pub(crate) use impl_sample;

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
