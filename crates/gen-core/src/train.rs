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
use crate::optim::Diverged;
use crate::rng::SeededRng;

/// One batch of training data, on a device: continuous examples (images,
/// vectors) in `data`, or integer token sequences in `tokens` for
/// autoregressive models.
///
/// ```
/// use burn::tensor::{Device, Int, Tensor};
/// use gen_core::Batch;
///
/// let dev = Device::flex();
/// let batch = Batch::new(Tensor::<2>::zeros([4, 2], &dev));
/// assert!(batch.labels.is_none() && batch.tokens.is_none());
/// let text = Batch::of_tokens(Tensor::<2, Int>::zeros([4, 65], &dev));
/// assert_eq!((text.data.dims(), text.tokens()?.dims()), ([4, 0], [4, 65]));
/// # Ok::<(), gen_core::Error>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Batch {
    /// The examples, flattened: `[batch, features]`. Models reshape to
    /// their own layout (`[batch, c, h, w]` for images). A batch of token
    /// sequences has no features: `[batch, 0]`.
    pub data: Tensor<2>,
    /// Token sequences `[batch, length]` (ids in `0..vocabulary`), when
    /// the source is text or another sequence of symbols.
    pub tokens: Option<Tensor<2, Int>>,
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
            tokens: None,
            labels: None,
            attributes: None,
        }
    }

    /// A batch of token sequences `[batch, length]`.
    pub fn of_tokens(tokens: Tensor<2, Int>) -> Self {
        let [n, _] = tokens.dims();
        Self {
            data: Tensor::zeros([n, 0], &tokens.device()),
            tokens: Some(tokens),
            labels: None,
            attributes: None,
        }
    }

    /// The token sequences of a token batch.
    ///
    /// # Errors
    /// [`Error::Unsupported`](crate::Error::Unsupported) for a batch of
    /// continuous examples.
    pub fn tokens(&self) -> Result<&Tensor<2, Int>> {
        self.tokens.as_ref().ok_or_else(|| {
            crate::Error::Unsupported(
                "this batch holds continuous examples, not token sequences".into(),
            )
        })
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

    /// The number of examples.
    pub fn len(&self) -> usize {
        self.data.dims()[0]
    }

    /// Whether the batch holds no example.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The device the batch is on.
    pub fn device(&self) -> Device {
        match &self.tokens {
            Some(t) => t.device(),
            None => self.data.device(),
        }
    }

    /// Examples `start..end` (every field sliced alike).
    pub fn rows(&self, start: usize, end: usize) -> Self {
        Self {
            data: self.data.clone().slice(start..end),
            tokens: self.tokens.clone().map(|t| t.slice(start..end)),
            labels: self.labels.clone().map(|t| t.slice(start..end)),
            attributes: self.attributes.clone().map(|t| t.slice(start..end)),
        }
    }

    /// The batch on `device`.
    pub fn to_device(self, device: &Device) -> Self {
        Self {
            data: self.data.to_device(device),
            tokens: self.tokens.map(|t| t.to_device(device)),
            labels: self.labels.map(|t| t.to_device(device)),
            attributes: self.attributes.map(|t| t.to_device(device)),
        }
    }

    /// Splits the rows across `devices` in order, as evenly as possible
    /// (the first `len % devices` shards one row longer), each shard moved
    /// to its device and paired with its share of the rows. A batch with
    /// fewer rows than devices leaves the last devices out.
    ///
    /// ```
    /// use burn::tensor::{Device, Tensor};
    /// use gen_core::Batch;
    ///
    /// let dev = Device::flex();
    /// let shards = Batch::new(Tensor::<2>::zeros([5, 2], &dev)).split(&[dev.clone(), dev]);
    /// let sizes: Vec<(f64, usize)> = shards.iter().map(|(w, b)| (*w, b.len())).collect();
    /// assert_eq!(sizes, [(0.6, 3), (0.4, 2)]);
    /// ```
    pub fn split(&self, devices: &[Device]) -> Vec<(f64, Batch)> {
        let n = self.len();
        let k = devices.len().max(1);
        let mut start = 0;
        let mut shards = Vec::with_capacity(k);
        for (i, device) in devices.iter().enumerate() {
            let rows = n / k + usize::from(i < n % k);
            if rows == 0 {
                break;
            }
            let shard = self.rows(start, start + rows);
            let shard = if shard.device() == *device {
                shard
            } else {
                shard.to_device(device)
            };
            shards.push((rows as f64 / n as f64, shard));
            start += rows;
        }
        shards
    }

    /// The one batch of a step that takes one (`what` names the step in
    /// the error).
    ///
    /// # Errors
    /// [`Error::Unsupported`](crate::Error::Unsupported) for any other
    /// count.
    pub fn single(batches: Vec<Batch>, what: &str) -> Result<Batch> {
        let count = batches.len();
        let [batch]: [Batch; 1] = batches
            .try_into()
            .map_err(|_| crate::Error::Unsupported(format!("{what} takes 1 batch, got {count}")))?;
        Ok(batch)
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

/// One metric's value: a host number, or a one-element tensor not read yet.
#[derive(Clone, Debug)]
enum Value {
    Host(f64),
    Device(Box<Tensor<1>>),
}

/// Named scalar metrics of one step, in the order they were pushed.
///
/// A value may stay on the device ([`push_tensor`](Self::push_tensor)):
/// the [`Trainer`](crate::Trainer) reads the metrics of many steps at once
/// ([`resolve_all`](Self::resolve_all)), every `log_every` steps and before
/// each checkpoint, instead of waiting for the device after every step.
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use gen_core::Metrics;
///
/// let loss = Tensor::<1>::from_floats([0.25], &Device::flex());
/// let mut m = Metrics::new().with("lr", 1e-3).with_tensor("loss", loss);
/// assert!(!m.is_resolved());
/// m.resolve();
/// assert_eq!(m.get("loss"), Some(0.25));
/// ```
#[derive(Clone, Debug, Default)]
pub struct Metrics(Vec<(String, Value)>);

impl PartialEq for Metrics {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len() && self.iter().eq(other.iter())
    }
}

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

    /// Adds a metric still on the device (builder style).
    #[must_use]
    pub fn with_tensor(mut self, name: impl Into<String>, value: Tensor<1>) -> Self {
        self.push_tensor(name, value);
        self
    }

    /// Adds a metric.
    pub fn push(&mut self, name: impl Into<String>, value: f64) {
        self.0.push((name.into(), Value::Host(value)));
    }

    /// Adds a metric that is still on the device: a one-element tensor (a
    /// larger one is summed), detached, read later.
    pub fn push_tensor(&mut self, name: impl Into<String>, value: Tensor<1>) {
        let value = value.detach();
        let value = if value.is_autodiff() {
            value.inner()
        } else {
            value
        };
        let value = if value.dims() == [1] {
            value
        } else {
            value.sum()
        };
        self.0.push((name.into(), Value::Device(Box::new(value))));
    }

    /// The average of the metrics of several shards of one batch, each
    /// weighted by its share of the rows (the weights sum to 1); values
    /// still on a device are summed on `device` without being read. The
    /// names and their order are the first shard's.
    pub fn weighted(mut parts: Vec<(f64, Metrics)>, device: &Device) -> Metrics {
        // One device: the metrics as they are (no tensor op per metric).
        if let [(weight, _)] = parts.as_slice()
            && *weight == 1.0
        {
            return parts.remove(0).1;
        }
        let mut out: Vec<(String, Value)> = Vec::new();
        for (weight, metrics) in parts {
            for (name, value) in metrics.0 {
                let value = match value {
                    Value::Host(x) => Value::Host(x * weight),
                    Value::Device(t) => {
                        let t = t.to_device(&device.clone().inner()) * weight;
                        Value::Device(Box::new(t))
                    }
                };
                match out.iter_mut().find(|(n, _)| *n == name) {
                    None => out.push((name, value)),
                    Some((_, sum)) => {
                        *sum = match (std::mem::replace(sum, Value::Host(0.0)), value) {
                            (Value::Host(a), Value::Host(b)) => Value::Host(a + b),
                            (Value::Device(a), Value::Device(b)) => {
                                Value::Device(Box::new(*a + *b))
                            }
                            (Value::Host(a), Value::Device(b))
                            | (Value::Device(b), Value::Host(a)) => Value::Device(Box::new(*b + a)),
                        }
                    }
                }
            }
        }
        Metrics(out)
    }

    /// Whether every value is on the host.
    pub fn is_resolved(&self) -> bool {
        self.0.iter().all(|(_, v)| matches!(v, Value::Host(_)))
    }

    /// Reads the values still on the device, in one read.
    pub fn resolve(&mut self) {
        Self::resolve_all(std::slice::from_mut(self));
    }

    /// Reads the device values of many steps' metrics in one read per
    /// device.
    pub fn resolve_all(all: &mut [Metrics]) {
        let mut pending: Vec<Tensor<1>> = Vec::new();
        for m in all.iter() {
            for (_, v) in &m.0 {
                if let Value::Device(t) = v {
                    pending.push(t.as_ref().clone());
                }
            }
        }
        if pending.is_empty() {
            return;
        }
        let values = read_all(pending);
        let mut values = values.into_iter();
        for m in all.iter_mut() {
            for (_, v) in &mut m.0 {
                if matches!(v, Value::Device(_)) {
                    *v = Value::Host(values.next().unwrap_or(f64::NAN));
                }
            }
        }
    }

    /// The value of a metric, if present (read from the device if needed).
    pub fn get(&self, name: &str) -> Option<f64> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| host(v))
    }

    /// Iterates over `(name, value)` (reading values still on the device
    /// one by one: [`resolve`](Self::resolve) first).
    pub fn iter(&self) -> impl Iterator<Item = (&str, f64)> {
        self.0.iter().map(|(n, v)| (n.as_str(), host(v)))
    }

    /// The first metric that is NaN or infinite.
    pub fn first_non_finite(&self) -> Option<(&str, f64)> {
        self.iter().find(|(_, v)| !v.is_finite())
    }
}

fn host(v: &Value) -> f64 {
    match v {
        Value::Host(x) => *x,
        Value::Device(t) => read_all(vec![t.as_ref().clone()])[0],
    }
}

/// One-element tensors read together: one transfer per device.
fn read_all(tensors: Vec<Tensor<1>>) -> Vec<f64> {
    let n = tensors.len();
    let mut out = vec![f64::NAN; n];
    // Group by device (a model may report metrics from two devices).
    let mut groups: Vec<(Device, Vec<usize>)> = Vec::new();
    for (i, t) in tensors.iter().enumerate() {
        let d = t.device();
        match groups.iter_mut().find(|(g, _)| *g == d) {
            Some((_, idx)) => idx.push(i),
            None => groups.push((d, vec![i])),
        }
    }
    for (_, idx) in groups {
        let joined = Tensor::cat(idx.iter().map(|&i| tensors[i].clone()).collect(), 0);
        if let Ok(values) = joined.into_data().convert::<f64>().try_into_vec::<f64>() {
            for (&i, v) in idx.iter().zip(values) {
                out[i] = v;
            }
        }
    }
    out
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

    /// Trains data-parallel over `devices` from now on: each batch is
    /// split by rows across them, every device computes its shard's loss
    /// and gradients, and the gradients are averaged on the first device,
    /// which must be [`device`](Self::device) and holds the weights (see
    /// [`Optimized::update_sharded`](crate::optim::Optimized::update_sharded)).
    /// One device turns it off. Checkpoints and resume are unchanged.
    ///
    /// # Errors
    /// [`Error::Unsupported`](crate::Error::Unsupported) for a model that
    /// cannot (the default); [`Error::InvalidConfig`](crate::Error::InvalidConfig)
    /// for a list that does not start with the model's device.
    fn replicate(&mut self, devices: &[Device]) -> Result<()> {
        match devices {
            [only] if only.clone().inner().autodiff() == self.device() => Ok(()),
            _ => Err(crate::Error::Unsupported(
                "this model does not train data-parallel".into(),
            )),
        }
    }

    /// Runs one step on `batches` (exactly [`batches_per_step`](Self::batches_per_step)
    /// of them) and returns its metrics (losses; they may stay on the
    /// device until the trainer reads them).
    ///
    /// # Errors
    /// When the batches do not fit the model.
    fn step(&mut self, batches: Vec<Batch>, rng: &mut SeededRng) -> Result<Metrics>;

    /// Checks the updates of the steps run since the last call, and keeps
    /// them, or undoes them if a loss was not finite (see
    /// [`optim::Guarded`](crate::optim::Guarded)). The trainer calls it
    /// before each step, before each checkpoint, before `on_epoch` and at
    /// the end; a model that checks its losses in `step` keeps the default.
    ///
    /// # Errors
    /// The non-finite loss; the model is then as it was before the step.
    fn settle(&mut self) -> std::result::Result<(), Diverged> {
        Ok(())
    }
}
