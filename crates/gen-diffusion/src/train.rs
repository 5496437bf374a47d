//! Training a [`Denoiser`] (Ho et al. 2020, algorithm 1), as a
//! [`gen_core::TrainStep`] for gen-core's [`Trainer`](gen_core::Trainer).
//!
//! One step: draw `t` uniformly from `0..T` and standard normal noise for
//! every example (both from the [`SeededRng`], so a run is the same on
//! every backend and resumes exactly), noise the batch with
//! [`add_noise_batch`], regress the model's output on the target of the
//! [`Prediction`] type (noise, velocity or clean sample) with a
//! per-example weight ([`LossWeighting`]: uniform, or min-SNR-gamma), take
//! one Adam step, and update an exponential moving average (EMA) of the
//! weights, which is what sampling should use.
//!
//! A class-conditional model is trained for classifier-free guidance (Ho &
//! Salimans 2022): each label is replaced by the null class with
//! probability `p_uncond`, so that one network learns both the conditional
//! and the unconditional prediction; [`sample`](crate::sample()) combines
//! the two at sampling time.

use burn::config::Config;
use burn::module::{ModuleMapper, ModuleVisitor, Param};
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use gen_core::error::{ensure_nonzero, ensure_positive, ensure_unit_interval};
use gen_core::{
    Batch, Error as CoreError, Metrics, SeededRng, StateReader, StateWriter, Stateful, TrainStep,
};

use crate::denoiser::Denoiser;
use crate::error::Result;
use crate::forward::add_noise_batch;
use crate::sampler::Prediction;
use crate::schedule::{BetaSchedule, NoiseSchedule};

/// How the per-example squared errors are weighted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossWeighting {
    /// Every timestep counts the same in the model's own output space (Ho
    /// et al.'s "simple" loss for epsilon-prediction).
    #[default]
    Uniform,
    /// Min-SNR-gamma (Hang et al. 2023): the loss in `x0` space is weighted
    /// by `min(SNR_t, gamma)`, which caps the weight of the low-noise
    /// timesteps. Expressed in each prediction type's own space (since
    /// `|eps - eps_hat|^2 = SNR |x0 - x0_hat|^2` and
    /// `|v - v_hat|^2 = (SNR + 1) |x0 - x0_hat|^2`), the weight is
    /// `min(SNR, gamma) / SNR` for epsilon, `min(SNR, gamma) / (SNR + 1)`
    /// for v and `min(SNR, gamma)` for x0. The paper's gamma is 5.
    MinSnr {
        /// The cap, > 0.
        gamma: f64,
    },
}

impl LossWeighting {
    /// The weight of an example at signal-to-noise ratio `snr` (>= 0) for
    /// a model of the given prediction type.
    ///
    /// ```
    /// use gen_diffusion::{LossWeighting, Prediction};
    /// let w = LossWeighting::MinSnr { gamma: 5.0 };
    /// assert_eq!(w.weight(20.0, Prediction::Epsilon), 0.25); // min(20, 5) / 20
    /// assert_eq!(w.weight(1.0, Prediction::Epsilon), 1.0);
    /// assert_eq!(w.weight(20.0, Prediction::Sample), 5.0);
    /// assert_eq!(w.weight(4.0, Prediction::V), 0.8); // min(4, 5) / 5
    /// assert_eq!(w.weight(0.0, Prediction::Epsilon), 1.0); // the limit at zero SNR
    /// ```
    pub fn weight(self, snr: f64, prediction: Prediction) -> f64 {
        match self {
            LossWeighting::Uniform => 1.0,
            LossWeighting::MinSnr { gamma } => match prediction {
                // min(snr, g) / snr = min(1, g / snr), finite at snr = 0.
                Prediction::Epsilon => {
                    if snr <= gamma {
                        1.0
                    } else {
                        gamma / snr
                    }
                }
                Prediction::V => snr.min(gamma) / (snr + 1.0),
                Prediction::Sample => snr.min(gamma),
            },
        }
    }
}

/// Everything about how a diffusion model is trained.
#[derive(Config, Debug, PartialEq)]
pub struct DiffusionTrainingConfig {
    /// The noise schedule.
    #[config(default = "BetaSchedule::LINEAR")]
    pub schedule: BetaSchedule,
    /// Training timesteps `T`, >= 1.
    #[config(default = 1000)]
    pub train_steps: usize,
    /// What the model predicts.
    #[config(default = "Prediction::Epsilon")]
    pub prediction: Prediction,
    /// The per-example loss weights.
    #[config(default = "LossWeighting::Uniform")]
    pub weighting: LossWeighting,
    /// Adam's learning rate, > 0.
    #[config(default = 2e-4)]
    pub lr: f64,
    /// Adam's beta1, in `[0, 1)`.
    #[config(default = 0.9)]
    pub beta1: f64,
    /// Adam's beta2, in `[0, 1)`.
    #[config(default = 0.999)]
    pub beta2: f64,
    /// Clip each parameter's gradient to this L2 norm (burn's norm
    /// clipping), > 0; `None` for no clipping.
    #[config(default = "Some(1.0)")]
    pub grad_clip_norm: Option<f64>,
    /// EMA decay per step, in `[0, 1)` (0: the EMA is the model).
    #[config(default = 0.999)]
    pub ema_decay: f64,
    /// Warm the EMA up: the decay at update `k` (from 0) is
    /// `min(ema_decay, (1 + k) / (10 + k))`, so that early weights,
    /// random ones included, are forgotten quickly (diffusers' `EMAModel`).
    #[config(default = true)]
    pub ema_warmup: bool,
    /// For a class-conditional model: the probability, in `[0, 1]`, that a
    /// label is replaced by the null class (classifier-free guidance; Ho &
    /// Salimans use 0.1 or 0.2). Ignored by unconditional models.
    #[config(default = 0.1)]
    pub p_uncond: f64,
}

impl DiffusionTrainingConfig {
    /// Checks the ranges documented on each field.
    ///
    /// # Errors
    /// [`gen_core::Error::InvalidConfig`] naming the first wrong field.
    pub fn validate(&self) -> Result<()> {
        ensure_nonzero("train_steps", self.train_steps)?;
        ensure_positive("lr", self.lr)?;
        for (field, b) in [
            ("beta1", self.beta1),
            ("beta2", self.beta2),
            ("ema_decay", self.ema_decay),
        ] {
            ensure_unit_interval(field, b)?;
        }
        if let Some(c) = self.grad_clip_norm {
            ensure_positive("grad_clip_norm", c)?;
        }
        if !(0.0..=1.0).contains(&self.p_uncond) {
            return Err(CoreError::config(
                "p_uncond",
                format!("must be in [0, 1], found {}", self.p_uncond),
            )
            .into());
        }
        if let LossWeighting::MinSnr { gamma } = self.weighting {
            ensure_positive("weighting", gamma)?;
        }
        self.noise_schedule().map(|_| ())
    }

    /// The noise schedule of `schedule` over `train_steps`.
    ///
    /// # Errors
    /// [`gen_core::Error::InvalidConfig`] for an invalid schedule.
    pub fn noise_schedule(&self) -> Result<NoiseSchedule> {
        Ok(NoiseSchedule::new(self.schedule, self.train_steps)?)
    }

    /// The EMA decay used at update `k` (0-based).
    pub fn ema_decay_at(&self, k: u64) -> f64 {
        if self.ema_warmup {
            self.ema_decay.min((1.0 + k as f64) / (10.0 + k as f64))
        } else {
            self.ema_decay
        }
    }
}

/// A denoiser with its optimizer, its EMA copy and its noise schedule,
/// ready to train.
#[derive(Clone)]
pub struct DiffusionTrainer<M: Denoiser> {
    model: M,
    ema: M,
    optimizer: ModuleOptimizer,
    config: DiffusionTrainingConfig,
    schedule: NoiseSchedule,
    device: Device,
    step: u64,
}

impl<M: Denoiser> std::fmt::Debug for DiffusionTrainer<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiffusionTrainer")
            .field("config", &self.config)
            .field("device", &self.device)
            .field("step", &self.step)
            .finish_non_exhaustive()
    }
}

impl<M: Denoiser> DiffusionTrainer<M> {
    /// Forks the model onto the autodiff version of `device`, keeps an EMA
    /// copy of it on `device` itself, and creates the Adam optimizer.
    ///
    /// # Errors
    /// [`gen_core::Error::InvalidConfig`] for an invalid config.
    pub fn new(model: M, config: DiffusionTrainingConfig, device: &Device) -> Result<Self> {
        config.validate()?;
        let schedule = config.noise_schedule()?;
        let inner = device.clone().inner();
        let ad = inner.clone().autodiff();
        let ema = model.clone().fork(&inner);
        let clip = config
            .grad_clip_norm
            .map(|c| GradientClippingConfig::Norm(c as f32));
        Ok(Self {
            model: model.fork(&ad).train(),
            ema,
            optimizer: AdamConfig::new()
                .with_beta_1(config.beta1 as f32)
                .with_beta_2(config.beta2 as f32)
                .with_grad_clipping(clip)
                .init(),
            config,
            schedule,
            device: ad,
            step: 0,
        })
    }

    /// The model being trained (on the autodiff device).
    pub fn model(&self) -> &M {
        &self.model
    }

    /// The exponential moving average of the weights, on the plain
    /// (non-autodiff) device: the model to sample from.
    pub fn ema(&self) -> &M {
        &self.ema
    }

    /// The training settings.
    pub fn config(&self) -> &DiffusionTrainingConfig {
        &self.config
    }

    /// The noise schedule.
    pub fn schedule(&self) -> &NoiseSchedule {
        &self.schedule
    }

    /// Steps taken so far (restored on resume).
    pub fn steps_done(&self) -> u64 {
        self.step
    }

    /// The loss weight of timestep `t` (see [`LossWeighting`]).
    pub fn loss_weight(&self, t: usize) -> f64 {
        self.config
            .weighting
            .weight(self.schedule.snr(t), self.config.prediction)
    }

    /// The labels to train on: checked against the model's classes, and
    /// dropped to the null class with probability `p_uncond`.
    fn labels(
        &self,
        labels: Option<Tensor<1, Int>>,
        n: usize,
        rng: &mut SeededRng,
    ) -> gen_core::Result<Option<Tensor<1, Int>>> {
        let Some(k) = self.model.num_classes() else {
            return Ok(None);
        };
        let labels = labels.ok_or_else(|| {
            CoreError::Unsupported(format!(
                "this denoiser is conditional on {k} classes: the batches need labels"
            ))
        })?;
        let host: Vec<i64> = labels
            .into_data()
            .convert::<i64>()
            .try_into_vec::<i64>()
            .map_err(|e| CoreError::Data(format!("labels: {e:?}")))?;
        if host.len() != n {
            return Err(CoreError::Shape {
                what: "diffusion training labels",
                expected: format!("one label per example ({n})"),
                found: vec![host.len()],
            });
        }
        if let Some(bad) = host.iter().find(|&&c| c < 0 || c as usize >= k) {
            return Err(CoreError::config(
                "labels",
                format!("{bad} is not a class in 0..{k}"),
            ));
        }
        let drop = rng.uniform_vec(n, 0.0, 1.0);
        let labels: Vec<i64> = host
            .into_iter()
            .zip(drop)
            .map(|(c, u)| {
                if f64::from(u) < self.config.p_uncond {
                    k as i64
                } else {
                    c
                }
            })
            .collect();
        Ok(Some(Tensor::from_data(
            TensorData::new(labels, [n]),
            &self.device,
        )))
    }

    /// Moves the EMA towards the current weights.
    fn update_ema(&mut self) {
        let decay = self.config.ema_decay_at(self.step);
        let mut live = Collect(Vec::new());
        self.model.visit(&mut live);
        let ema = self.ema.clone();
        self.ema = ema.map(&mut Blend {
            live: live.0.into_iter(),
            decay,
        });
    }
}

/// Collects a module's float parameters, flattened and detached onto the
/// inner device, in visiting order.
struct Collect(Vec<Tensor<1>>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val().inner();
        let n = value.shape().num_elements();
        self.0.push(value.reshape([n]));
    }
}

/// `ema <- decay * ema + (1 - decay) * live`, parameter by parameter (the
/// two modules have the same structure, hence the same visiting order).
struct Blend {
    live: std::vec::IntoIter<Tensor<1>>,
    decay: f64,
}

impl ModuleMapper for Blend {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(live) = self.live.next() else {
            return param;
        };
        let decay = self.decay;
        param.map(|ema| {
            let dims = ema.dims();
            if decay == 0.0 {
                live.reshape(dims)
            } else {
                ema * decay + live.reshape(dims) * (1.0 - decay)
            }
        })
    }
}

/// Per-example coefficients as a `[B, 1]` tensor.
fn column(values: Vec<f32>, device: &Device) -> Tensor<2> {
    let n = values.len();
    Tensor::from_data(TensorData::new(values, [n, 1]), device)
}

impl<M: Denoiser> TrainStep for DiffusionTrainer<M> {
    fn device(&self) -> Device {
        self.device.clone()
    }

    fn step(&mut self, batches: Vec<Batch>, rng: &mut SeededRng) -> gen_core::Result<Metrics> {
        let [batch]: [Batch; 1] = batches.try_into().map_err(|b: Vec<Batch>| {
            CoreError::Unsupported(format!("a diffusion step takes 1 batch, got {}", b.len()))
        })?;
        let x0 = batch.data;
        let [n, f] = x0.dims();
        if f != self.model.features() || n == 0 {
            return Err(CoreError::Shape {
                what: "diffusion training batch",
                expected: format!("[batch >= 1, {}]", self.model.features()),
                found: vec![n, f],
            });
        }
        let class = self.labels(batch.labels, n, rng)?;
        let steps = self.schedule.len();
        let ts: Vec<usize> = (0..n).map(|_| rng.below(steps)).collect();
        let noise = rng.normal([n, f], &self.device);
        let x_t = add_noise_batch(&self.schedule, x0.clone(), noise.clone(), &ts)?;
        let prediction = self.config.prediction;
        let (c_x0, c_eps): (Vec<f32>, Vec<f32>) = ts
            .iter()
            .map(|&t| {
                let (a, b) = prediction.target(self.schedule.alpha_bar(Some(t)));
                (a as f32, b as f32)
            })
            .unzip();
        let target = x0 * column(c_x0, &self.device) + noise * column(c_eps, &self.device);
        let weights = column(
            ts.iter().map(|&t| self.loss_weight(t) as f32).collect(),
            &self.device,
        );
        let t = Tensor::<1>::from_data(
            TensorData::new(ts.iter().map(|&t| t as f32).collect(), [n]),
            &self.device,
        );
        let out = self.model.forward(x_t, t, class);
        let per_example = (out - target).powi_scalar(2).mean_dim(1);
        let mse = per_example.clone().detach().mean().into_scalar::<f64>();
        let loss = (per_example * weights).mean();
        let value = loss.clone().into_scalar::<f64>();
        let mut metrics = Metrics::new().with("loss", value).with("mse", mse);
        if !value.is_finite() {
            // No update from a diverged loss: the trainer stops on the
            // metric, and the model in memory stays the last good one.
            return Ok(metrics);
        }
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        self.model = self
            .optimizer
            .step(self.config.lr, self.model.clone(), grads);
        metrics.push("ema_decay", self.config.ema_decay_at(self.step));
        self.update_ema();
        self.step += 1;
        Ok(metrics)
    }
}

impl<M: Denoiser> Stateful for DiffusionTrainer<M> {
    fn save_state(&self, out: &mut StateWriter) -> gen_core::Result<()> {
        out.module("model", &self.model)?;
        out.module("ema", &self.ema)?;
        out.optimizer("optimizer", &self.optimizer)?;
        out.json("diffusion_step", &self.step)
    }

    fn load_state(&mut self, input: &StateReader) -> gen_core::Result<()> {
        // Everything is read before anything is replaced.
        let model = input.module("model", self.model.clone())?;
        let ema = input.module("ema", self.ema.clone())?;
        let optimizer = input.optimizer("optimizer", self.optimizer.clone())?;
        let step = input.json("diffusion_step")?;
        self.model = model;
        self.ema = ema;
        self.optimizer = optimizer;
        self.step = step;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mlp_denoiser::MlpDenoiserConfig;
    use burn::module::Module;

    #[test]
    fn min_snr_is_one_weight_in_x0_space_for_every_prediction() {
        // eps-loss = SNR * x0-loss and v-loss = (SNR + 1) * x0-loss, so the
        // three weights must agree once mapped to x0 space: min(SNR, gamma).
        let w = LossWeighting::MinSnr { gamma: 5.0 };
        for snr in [1e-4, 0.5, 1.0, 4.99, 5.0, 7.0, 1e4] {
            let x0 = w.weight(snr, Prediction::Sample);
            let eps = w.weight(snr, Prediction::Epsilon) * snr;
            let v = w.weight(snr, Prediction::V) * (snr + 1.0);
            assert!((x0 - snr.min(5.0)).abs() < 1e-12);
            assert!((eps - x0).abs() < 1e-9 * x0.max(1.0), "snr {snr}");
            assert!((v - x0).abs() < 1e-9 * x0.max(1.0), "snr {snr}");
        }
        // Zero SNR (a zero-terminal-SNR schedule): finite weights.
        for p in [Prediction::Epsilon, Prediction::V, Prediction::Sample] {
            assert!(w.weight(0.0, p).is_finite());
        }
        assert_eq!(LossWeighting::Uniform.weight(123.0, Prediction::V), 1.0);
    }

    #[test]
    fn trainer_weights_follow_the_schedule() {
        let dev = Device::flex();
        let m = MlpDenoiserConfig::new(2).with_hidden(8).init(&dev).unwrap();
        let cfg =
            DiffusionTrainingConfig::new().with_weighting(LossWeighting::MinSnr { gamma: 5.0 });
        let t = DiffusionTrainer::new(m, cfg, &dev).unwrap();
        // Linear schedule: SNR(0) ~ 1e4 (weight 5/SNR), SNR(999) ~ 4e-5 (weight 1).
        let snr0 = t.schedule().snr(0);
        assert!((t.loss_weight(0) - 5.0 / snr0).abs() < 1e-12);
        assert_eq!(t.loss_weight(999), 1.0);
    }

    #[test]
    fn ema_is_the_moving_average_and_warms_up() {
        let cfg = DiffusionTrainingConfig::new();
        assert_eq!(cfg.ema_decay_at(0), 0.1);
        assert_eq!(cfg.ema_decay_at(90), 0.91);
        assert_eq!(cfg.ema_decay_at(1_000_000), 0.999);
        assert_eq!(cfg.clone().with_ema_warmup(false).ema_decay_at(0), 0.999);

        // decay 0.5, no warm-up: after one step, ema = (w0 + w1) / 2.
        let dev = Device::flex();
        let m = MlpDenoiserConfig::new(2).with_hidden(8).init(&dev).unwrap();
        let w0 = flat(&m);
        let cfg = DiffusionTrainingConfig::new()
            .with_ema_decay(0.5)
            .with_ema_warmup(false)
            .with_lr(1e-2);
        let mut t = DiffusionTrainer::new(m, cfg, &dev).unwrap();
        let x = Tensor::<2>::ones([4, 2], &t.device());
        t.step(vec![Batch::new(x)], &mut SeededRng::new(0)).unwrap();
        let w1 = flat(&t.model().valid());
        let ema = flat(t.ema());
        assert_eq!(w0.len(), ema.len());
        let mut moved = 0.0f32;
        for ((a, b), e) in w0.iter().zip(&w1).zip(&ema) {
            assert!((e - (a + b) / 2.0).abs() < 1e-6, "{e} vs {a} {b}");
            moved += (a - b).abs();
        }
        assert!(moved > 0.0);
    }

    fn flat<M: Module>(m: &M) -> Vec<f32> {
        let mut c = Collect(Vec::new());
        m.visit(&mut c);
        c.0.into_iter()
            .flat_map(|t| t.into_data().try_into_vec::<f32>().unwrap())
            .collect()
    }

    #[test]
    fn invalid_configs_are_typed_errors() {
        for (cfg, field) in [
            (DiffusionTrainingConfig::new().with_lr(0.0), "lr"),
            (
                DiffusionTrainingConfig::new().with_train_steps(0),
                "train_steps",
            ),
            (DiffusionTrainingConfig::new().with_beta1(1.0), "beta1"),
            (
                DiffusionTrainingConfig::new().with_ema_decay(1.0),
                "ema_decay",
            ),
            (
                DiffusionTrainingConfig::new().with_ema_decay(-0.1),
                "ema_decay",
            ),
            (
                DiffusionTrainingConfig::new().with_p_uncond(1.5),
                "p_uncond",
            ),
            (
                DiffusionTrainingConfig::new().with_grad_clip_norm(Some(0.0)),
                "grad_clip_norm",
            ),
            (
                DiffusionTrainingConfig::new().with_weighting(LossWeighting::MinSnr { gamma: 0.0 }),
                "weighting",
            ),
            (
                DiffusionTrainingConfig::new().with_schedule(BetaSchedule::Linear {
                    beta_start: 0.0,
                    beta_end: 0.02,
                }),
                "betas",
            ),
        ] {
            let err = cfg.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
    }
}
