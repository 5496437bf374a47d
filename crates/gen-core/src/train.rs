//! The training-step trait, the data-source trait and the checkpointable
//! state trait: what [`Trainer`](crate::Trainer) drives.
//!
//! One optimisation *step* is whatever a model counts as one update of its
//! parameters: one Adam step for a VAE or a diffusion model; for a GAN,
//! `n_critic` discriminator updates followed by one generator update, which
//! is why a step may ask for more than one batch
//! ([`TrainStep::batches_per_step`]).

use burn::tensor::{Device, Int, Tensor};

use crate::checkpoint::{StateReader, StateWriter};
use crate::error::Result;
use crate::rng::SeededRng;

/// One batch of training data, on a device.
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use gen_core::Batch;
///
/// let batch = Batch::new(Tensor::<2>::zeros([4, 2], &Device::flex()));
/// assert!(batch.labels.is_none());
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Batch {
    /// The examples, flattened: `[batch, features]`. Models reshape to
    /// their own layout (`[batch, c, h, w]` for images).
    pub data: Tensor<2>,
    /// Class labels `[batch]`, when the source has them.
    pub labels: Option<Tensor<1, Int>>,
    /// Binary attributes `[batch, k]` (0 or 1; CelebA's 40), when the
    /// source has them.
    pub attributes: Option<Tensor<2, Int>>,
}

impl Batch {
    /// A batch of unlabelled examples.
    pub fn new(data: Tensor<2>) -> Self {
        Self {
            data,
            labels: None,
            attributes: None,
        }
    }

    /// Adds class labels `[batch]`.
    #[must_use]
    pub fn with_labels(mut self, labels: Tensor<1, Int>) -> Self {
        self.labels = Some(labels);
        self
    }

    /// Adds binary attributes `[batch, k]`.
    #[must_use]
    pub fn with_attributes(mut self, attributes: Tensor<2, Int>) -> Self {
        self.attributes = Some(attributes);
        self
    }
}

/// A deterministic, random-access source of batches.
///
/// `batch(i)` must return the same batch for the same `i` whatever was asked
/// before: a resumed run then needs nothing but the step count to continue
/// its data stream. Epoch `e` consists of the indices
/// `e * batches_per_epoch() .. (e + 1) * batches_per_epoch()`.
pub trait BatchSource: Send {
    /// The number of batches in one pass over the data.
    fn batches_per_epoch(&self) -> usize;

    /// The batch with global index `index`, on `device`.
    ///
    /// # Errors
    /// When the data cannot be read.
    fn batch(&mut self, index: u64, device: &Device) -> Result<Batch>;
}

/// Named scalar metrics of one step, in the order they were pushed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Metrics(Vec<(String, f64)>);

impl Metrics {
    /// No metrics.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a metric (builder style).
    #[must_use]
    pub fn with(mut self, name: impl Into<String>, value: f64) -> Self {
        self.push(name, value);
        self
    }

    /// Adds a metric.
    pub fn push(&mut self, name: impl Into<String>, value: f64) {
        self.0.push((name.into(), value));
    }

    /// The value of a metric, if present.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }

    /// Iterates over `(name, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, f64)> {
        self.0.iter().map(|(n, v)| (n.as_str(), *v))
    }

    /// The first metric that is NaN or infinite.
    pub fn first_non_finite(&self) -> Option<(&str, f64)> {
        self.iter().find(|(_, v)| !v.is_finite())
    }
}

/// Everything a checkpoint must hold for a model to continue training:
/// its module(s) and optimizer state(s).
///
/// The trainer adds the step, the RNG state and the run config itself.
pub trait Stateful {
    /// Writes the state through `out` (one named part per module or
    /// optimizer).
    ///
    /// # Errors
    /// When a part cannot be serialised or written.
    fn save_state(&self, out: &mut StateWriter) -> Result<()>;

    /// Restores the state written by [`save_state`](Self::save_state).
    ///
    /// # Errors
    /// When a part is missing, truncated, corrupt or of the wrong shape;
    /// `self` is then left unchanged.
    fn load_state(&mut self, input: &StateReader) -> Result<()>;
}

/// One optimisation step of a model and its optimizer(s).
///
/// Implemented by single-optimizer trainers (VAE, diffusion: one batch, one
/// backward, one optimizer step) and by adversarial pairs (GAN: two models,
/// two optimizers, `n_critic` critic updates per generator update).
pub trait TrainStep: Stateful + Send {
    /// How many batches one step consumes (`n_critic` for a GAN).
    fn batches_per_step(&self) -> usize {
        1
    }

    /// The device the model trains on (with autodiff), where batches are
    /// placed.
    fn device(&self) -> Device;

    /// Runs one step on `batches` (exactly [`batches_per_step`](Self::batches_per_step)
    /// of them) and returns its metrics (losses, as host numbers).
    ///
    /// # Errors
    /// When the batches do not fit the model.
    fn step(&mut self, batches: Vec<Batch>, rng: &mut SeededRng) -> Result<Metrics>;
}
