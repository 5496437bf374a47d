//! [`Optimized`]: a module with everything that updates it.

use burn::grad_clipping::GradientClippingConfig;
use burn::lr_scheduler::module_lr_scheduler::ModuleLrScheduler;
use burn::module::{Module, ModuleVisitor, Param, ParamGroup};
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::clip::clip_global_norm;
use super::config::{GradClip, OptimConfig, OptimizerKind};
use super::ema::Ema;
use super::guard::{Diverged, Guarded};
use crate::card::{MODEL_CARD, ModelCard};
use crate::checkpoint::{StateReader, StateWriter};
use crate::error::Result;

/// The checkpoint part names of one [`Optimized`] module: its weights, its
/// optimizer state, its moving average and its update count. Exported so
/// that tools read checkpoints by name, never by a string literal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parts {
    /// The weights being trained.
    pub model: &'static str,
    /// burn's optimizer record.
    pub optimizer: &'static str,
    /// The moving average of the weights (when the config keeps one).
    pub ema: &'static str,
    /// The update count (JSON).
    pub progress: &'static str,
}

impl Parts {
    /// The parts of a family's single trained module (VAE, diffusion,
    /// autoregressive models).
    pub const MODEL: Parts = Parts {
        model: "model",
        optimizer: "optimizer",
        ema: "ema",
        progress: "progress",
    };

    /// The part to sample from in a checkpoint: the moving average when
    /// `ema` is asked for and the checkpoint holds one, the weights
    /// otherwise.
    pub fn weights(&self, reader: &StateReader, ema: bool) -> &'static str {
        if ema && reader.has(self.ema) {
            self.ema
        } else {
            self.model
        }
    }
}

/// The update count as saved in a checkpoint.
#[derive(Serialize, Deserialize)]
struct Progress {
    updates: u64,
}

/// What changes with every update; cloned (cheaply: tensors are shared)
/// before the first unchecked update so that it can be put back.
#[derive(Clone)]
pub(super) struct State<M: Module> {
    pub(super) module: M,
    optimizer: ModuleOptimizer,
    scheduler: ModuleLrScheduler,
    ema: Option<Ema<M>>,
    updates: u64,
    lr: f64,
}

impl<M: Module> State<M> {
    /// The state after `updates` updates: the schedule is a function of the
    /// count, so it is replayed rather than stored.
    fn new(
        config: &OptimConfig,
        module: M,
        optimizer: ModuleOptimizer,
        ema: Option<Ema<M>>,
        updates: u64,
    ) -> Result<Self> {
        let mut scheduler = config.schedule.scheduler(config.lr)?;
        let mut lr = config.lr;
        for _ in 0..updates {
            lr = scheduler.step().base();
        }
        Ok(Self {
            module,
            optimizer,
            scheduler,
            ema,
            updates,
            lr,
        })
    }
}

/// A module with its optimizer (burn's Adam or AdamW), learning-rate
/// schedule (burn's schedulers), gradient clipping, optional moving
/// average of the weights and update count: the one place where every
/// family's weights are updated.
///
/// A family's trainer computes a loss and calls [`update`](Self::update).
/// The guard: a loss that is not finite must change nothing. Updates are
/// applied at once (so a GPU never waits for the host), and their losses
/// are checked by [`settle`](Guarded::settle), which the
/// [`Trainer`](crate::Trainer) calls before the next step, before every
/// checkpoint and at the end: if any loss since the last check is NaN or
/// infinite, the weights, the optimizer state, the schedule, the average
/// and the count are put back as they were before those updates, and
/// training stops.
///
/// ```
/// use burn::nn::{Linear, LinearConfig};
/// use burn::tensor::{Device, Tensor};
/// use gen_core::optim::{Guarded, OptimConfig, Optimized};
///
/// let dev = Device::flex();
/// let model = LinearConfig::new(2, 1).init(&dev);
/// let mut opt = Optimized::new(model, OptimConfig::new().with_lr(0.1), &dev)?;
/// let x = Tensor::<2>::ones([4, 2], opt.device());
/// let loss = opt.module().forward(x.clone()).powi_scalar(2).mean();
/// opt.update(loss);
/// assert!(opt.settle().is_ok());
/// let nan = opt.module().forward(x).mean() * f64::NAN;
/// opt.update(nan);
/// assert!(opt.settle().is_err());
/// assert_eq!(opt.updates(), 1); // the NaN update was undone
/// # Ok::<(), gen_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Optimized<M: Module> {
    pub(super) state: State<M>,
    /// The state before the first update not yet checked, and the losses
    /// of the updates since.
    before: Option<State<M>>,
    losses: Vec<Tensor<1>>,
    config: OptimConfig,
    parts: Parts,
    pub(super) device: Device,
    /// The other devices of data-parallel training (autodiff), after
    /// `device`; empty on one device.
    pub(super) replicas: Vec<Device>,
}

impl<M: Module> std::fmt::Debug for Optimized<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Optimized")
            .field("config", &self.config)
            .field("parts", &self.parts)
            .field("updates", &self.state.updates)
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

impl<M: Module> Optimized<M> {
    /// Forks `module` onto the autodiff version of `device` (its weights
    /// are copied and trainable there), in training mode, with the
    /// optimizer, schedule and average of `config`; saved under
    /// [`Parts::MODEL`].
    ///
    /// # Errors
    /// [`Error::InvalidConfig`](crate::Error::InvalidConfig) for an
    /// invalid config.
    pub fn new(module: M, config: OptimConfig, device: &Device) -> Result<Self> {
        config.validate()?;
        let device = device.clone().inner().autodiff();
        let module = module.fork(&device).train();
        let optimizer = build_optimizer(&config, &module);
        let ema = config.ema.clone().map(|e| Ema::new(&module, e));
        Ok(Self {
            state: State::new(&config, module, optimizer, ema, 0)?,
            before: None,
            losses: Vec::new(),
            config,
            parts: Parts::MODEL,
            device,
            replicas: Vec::new(),
        })
    }

    /// Saves under other part names (a family with several modules).
    #[must_use]
    pub fn with_parts(mut self, parts: Parts) -> Self {
        self.parts = parts;
        self
    }

    /// The module being trained, on the autodiff device.
    pub fn module(&self) -> &M {
        &self.state.module
    }

    /// The moving average of the weights, without autodiff, when kept.
    pub fn ema(&self) -> Option<&M> {
        self.state.ema.as_ref().map(Ema::module)
    }

    /// The module to sample from, without autodiff, in inference mode: the
    /// moving average when one is kept, else the weights themselves.
    pub fn sampler(&self) -> M {
        match &self.state.ema {
            Some(ema) => ema.module().clone(),
            None => self.state.module.valid(),
        }
    }

    /// The autodiff device the module trains on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The settings.
    pub fn config(&self) -> &OptimConfig {
        &self.config
    }

    /// The checkpoint part names.
    pub fn parts(&self) -> Parts {
        self.parts
    }

    /// Updates applied so far (restored on resume).
    pub fn updates(&self) -> u64 {
        self.state.updates
    }

    /// The learning rate of the last update (the base rate before the
    /// first).
    pub fn lr(&self) -> f64 {
        self.state.lr
    }

    /// One update of the module from `loss` (a one-element tensor on the
    /// autodiff device): backward, clipping, the optimizer's step at the
    /// schedule's rate, the moving average. Only the gradients of this
    /// module's parameters are used (a GAN's generator loss also reaches
    /// the discriminator). The loss is checked at the next
    /// [`settle`](Guarded::settle).
    pub fn update(&mut self, loss: Tensor<1>) {
        let grads = GradientsParams::from_grads(loss.backward(), &self.state.module);
        self.update_with(loss, grads);
    }

    /// [`update`](Self::update) with gradients computed by the caller
    /// (`loss` is only checked).
    pub fn update_with(&mut self, loss: Tensor<1>, grads: GradientsParams) {
        if self.before.is_none() {
            self.before = Some(self.state.clone());
        }
        self.losses.push(plain(loss));
        let grads = match self.config.grad_clip {
            Some(GradClip::GlobalNorm(max)) => clip_global_norm(grads, &self.state.module, max),
            _ => grads,
        };
        let state = &mut self.state;
        let lr = state.scheduler.step().base();
        state.lr = lr;
        // The rate as a plain number: burn's per-parameter rate policy
        // matches every parameter against its groups, which one schedule
        // for all parameters does not need.
        state.module = state.optimizer.step(lr, state.module.clone(), grads);
        if let Some(ema) = &mut state.ema {
            ema.update(&state.module, state.updates);
        }
        state.updates += 1;
    }

    /// Transforms the module after an update (WGAN's weight clipping);
    /// undone with the update if its loss was not finite.
    pub fn map_module(&mut self, f: impl FnOnce(M) -> M) {
        self.state.module = f(self.state.module.clone());
    }

    /// [`save`](Self::save), with the model's card first when it has one
    /// (what a family whose trainer is one module writes).
    ///
    /// # Errors
    /// When a part cannot be serialised or written.
    pub fn save_with_card(&self, out: &mut StateWriter, card: Option<ModelCard>) -> Result<()> {
        if let Some(card) = card {
            out.json(MODEL_CARD, &card)?;
        }
        self.save(out)
    }

    /// Replaces the state by the checkpoint's ([`loaded`](Self::loaded)),
    /// or leaves it untouched on error.
    ///
    /// # Errors
    /// As [`loaded`](Self::loaded).
    pub fn load(&mut self, input: &StateReader) -> Result<()> {
        *self = self.loaded(input)?;
        Ok(())
    }

    /// Writes the weights, optimizer state, average and count.
    ///
    /// # Errors
    /// When a part cannot be serialised or written.
    pub fn save(&self, out: &mut StateWriter) -> Result<()> {
        // burn's running states (BatchNorm statistics, spectral-norm
        // vectors) apply their last update lazily, at the next read;
        // `valid()` applies pending updates to the shared state, so the
        // checkpoint holds the newest values.
        let _ = self.state.module.valid();
        out.module(self.parts.model, &self.state.module)?;
        out.optimizer(self.parts.optimizer, &self.state.optimizer)?;
        if let Some(ema) = &self.state.ema {
            out.module(self.parts.ema, ema.module())?;
        }
        out.json(
            self.parts.progress,
            &Progress {
                updates: self.state.updates,
            },
        )
    }

    /// A copy of `self` with the state read from a checkpoint (`self` is
    /// untouched, so a family can read all its parts before replacing
    /// any).
    ///
    /// # Errors
    /// [`Error::Checkpoint`](crate::Error::Checkpoint) when a part is
    /// missing, damaged or does not fit.
    pub fn loaded(&self, input: &StateReader) -> Result<Self> {
        let module = input.module(self.parts.model, self.state.module.clone())?;
        // Groups by parameter path, then the record: burn resets the
        // states of a group when it is added.
        let optimizer =
            input.optimizer(self.parts.optimizer, build_optimizer(&self.config, &module))?;
        let ema = match &self.state.ema {
            Some(ema) => {
                let mut ema = ema.clone();
                ema.set_module(input.module(self.parts.ema, ema.module().clone())?);
                Some(ema)
            }
            None => None,
        };
        let Progress { updates } = input.json(self.parts.progress)?;
        Ok(Self {
            state: State::new(&self.config, module, optimizer, ema, updates)?,
            before: None,
            losses: Vec::new(),
            config: self.config.clone(),
            parts: self.parts,
            device: self.device.clone(),
            replicas: self.replicas.clone(),
        })
    }

    /// Takes the trained module.
    pub fn into_module(self) -> M {
        self.state.module
    }
}

impl<M: Module> Guarded for Optimized<M> {
    fn check(&self) -> Option<Diverged> {
        if self.losses.is_empty() {
            return None;
        }
        // One read for all the losses since the last check.
        let values: Vec<f64> = Tensor::cat(self.losses.clone(), 0)
            .into_data()
            .convert::<f64>()
            .try_into_vec::<f64>()
            .unwrap_or_else(|_| vec![f64::NAN]);
        values
            .into_iter()
            .find(|v| !v.is_finite())
            .map(|value| Diverged {
                metric: format!("loss of `{}`", self.parts.model),
                value,
            })
    }

    fn rollback(&mut self) {
        if let Some(before) = self.before.take() {
            self.state = before;
        }
        self.losses.clear();
    }

    fn commit(&mut self) {
        self.before = None;
        self.losses.clear();
    }
}

/// A one-element loss, detached onto the plain device (so that losses of
/// several updates can be read together).
fn plain(loss: Tensor<1>) -> Tensor<1> {
    let loss = loss.detach();
    let loss = if loss.is_autodiff() {
        loss.inner()
    } else {
        loss
    };
    let n = loss.shape().num_elements();
    if n == 1 { loss } else { loss.sum() }
}

/// burn's optimizer for `config`; with AdamW on matrices only, the
/// parameters of rank >= 2 form a group with the decay and the others
/// fall back to the same optimizer without it.
fn build_optimizer<M: Module>(config: &OptimConfig, module: &M) -> ModuleOptimizer {
    match config.optimizer {
        OptimizerKind::AdamW {
            weight_decay,
            matrices_only: true,
        } => {
            let mut paths = MatrixPaths::default();
            module.visit(&mut paths);
            let decayed = AdamWConfig::new()
                .with_beta_1(config.beta1 as f32)
                .with_beta_2(config.beta2 as f32)
                .with_epsilon(config.epsilon as f32)
                .with_weight_decay(weight_decay as f32)
                .build();
            let clip = config
                .grad_clip
                .and_then(GradClip::burn)
                .as_ref()
                .map(GradientClippingConfig::init);
            config
                .adam(0.0)
                .with_group(ParamGroup::from_paths(paths.found), decayed, clip)
        }
        OptimizerKind::AdamW { weight_decay, .. } => config.adam(weight_decay),
        OptimizerKind::Adam => config.adam(0.0),
    }
}

/// The paths (as burn's optimizer joins them) of the float parameters of
/// rank >= 2.
#[derive(Default)]
struct MatrixPaths {
    path: Vec<String>,
    found: Vec<String>,
}

impl ModuleVisitor for MatrixPaths {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, _param: &Param<Tensor<D>>) {
        if D >= 2 {
            self.found.push(self.path.join("."));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::CheckpointStore;
    use crate::optim::config::{EmaConfig, LrSchedule};
    use crate::optim::ema::values;
    use crate::train::Stateful;
    use burn::nn::{Linear, LinearConfig};

    fn linear(seed: u64) -> Linear {
        let dev = Device::flex();
        // The lock of `with_seed`: tests initialise models in parallel.
        crate::rng::with_seed(seed, &dev, || {
            crate::rng::init_now(LinearConfig::new(3, 2).init(&dev))
        })
    }

    fn loss(opt: &Optimized<Linear>, scale: f64) -> Tensor<1> {
        let x = Tensor::<2>::ones([4, 3], opt.device());
        opt.module().forward(x).powi_scalar(2).mean() * scale
    }

    #[test]
    fn adamw_on_matrices_only_leaves_biases_undecayed() {
        let decay = |matrices_only| {
            let config = OptimConfig::new()
                .with_lr(0.1)
                .with_optimizer(OptimizerKind::AdamW {
                    weight_decay: 0.5,
                    matrices_only,
                });
            let mut opt = Optimized::new(linear(0), config, &Device::flex()).unwrap();
            let before = (
                values(&opt.module().weight),
                values(opt.module().bias.as_ref().unwrap()),
            );
            // A zero loss: the update is the decay alone.
            let zero = loss(&opt, 0.0);
            opt.update(zero);
            opt.settle().unwrap();
            let m = opt.module();
            let after = (values(&m.weight), values(m.bias.as_ref().unwrap()));
            (before, after)
        };
        let ((w0, b0), (w1, b1)) = decay(true);
        for (a, b) in w0.iter().zip(&w1) {
            assert!((b - a * (1.0 - 0.1 * 0.5)).abs() < 1e-6, "{a} -> {b}");
        }
        assert_eq!(b0, b1);
        let ((_, b0), (_, b1)) = decay(false);
        assert!(b0.iter().zip(&b1).all(|(a, b)| (b - a * 0.95).abs() < 1e-6));
    }

    #[test]
    fn a_non_finite_loss_undoes_weights_optimizer_schedule_and_average() {
        let config = OptimConfig::new()
            .with_lr(0.05)
            .with_schedule(LrSchedule::WarmupCosine {
                warmup_steps: 2,
                total_steps: 10,
                min_lr: 0.0,
            })
            .with_ema(Some(EmaConfig::new(0.9)));
        let mut a = Optimized::new(linear(1), config.clone(), &Device::flex()).unwrap();
        let mut b = Optimized::new(linear(1), config, &Device::flex()).unwrap();
        for opt in [&mut a, &mut b] {
            let l = loss(opt, 1.0);
            opt.update(l);
            opt.settle().unwrap();
        }
        // `b` takes a NaN step, which settle undoes.
        let nan = loss(&b, f64::NAN);
        b.update(nan);
        let err = b.settle().unwrap_err();
        assert!(
            err.value.is_nan() && err.metric.contains("model"),
            "{err:?}"
        );
        // From here both take the same step: equal only if the optimizer
        // moments, the schedule and the average were all put back.
        for opt in [&mut a, &mut b] {
            let l = loss(opt, 1.0);
            opt.update(l);
            opt.settle().unwrap();
        }
        assert_eq!(a.updates(), 2);
        assert_eq!(b.updates(), 2);
        assert_eq!(a.lr(), b.lr());
        assert_eq!(values(a.module()), values(b.module()));
        assert_eq!(values(a.ema().unwrap()), values(b.ema().unwrap()));
    }

    #[test]
    fn a_checkpoint_restores_the_count_the_schedule_and_the_average() {
        struct One(Optimized<Linear>);
        impl Stateful for One {
            fn save_state(&self, out: &mut StateWriter) -> Result<()> {
                self.0.save(out)
            }
            fn load_state(&mut self, input: &StateReader) -> Result<()> {
                self.0 = self.0.loaded(input)?;
                Ok(())
            }
        }
        let config = OptimConfig::new()
            .with_schedule(LrSchedule::WarmupCosine {
                warmup_steps: 3,
                total_steps: 8,
                min_lr: 1e-4,
            })
            .with_ema(Some(EmaConfig::new(0.5)));
        let mut straight = Optimized::new(linear(2), config.clone(), &Device::flex()).unwrap();
        let mut first = One(Optimized::new(linear(2), config.clone(), &Device::flex()).unwrap());
        for _ in 0..3 {
            for opt in [&mut straight, &mut first.0] {
                let l = loss(opt, 1.0);
                opt.update(l);
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::new(dir.path(), 1);
        let saved = store
            .save(
                3,
                &crate::SeededRng::new(0),
                &serde_json::Value::Null,
                &first,
            )
            .unwrap();
        let mut resumed = One(Optimized::new(linear(9), config, &Device::flex()).unwrap());
        CheckpointStore::load(&saved, &mut resumed).unwrap();
        assert_eq!(resumed.0.updates(), 3);
        for _ in 0..3 {
            for opt in [&mut straight, &mut resumed.0] {
                let l = loss(opt, 1.0);
                opt.update(l);
            }
        }
        assert_eq!(straight.lr(), resumed.0.lr());
        assert_eq!(values(straight.module()), values(resumed.0.module()));
        assert_eq!(
            values(straight.ema().unwrap()),
            values(resumed.0.ema().unwrap())
        );
    }
}
