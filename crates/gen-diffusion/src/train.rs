//! Training a [`Denoiser`] (Ho et al. 2020, algorithm 1), as a
//! [`gen_core::TrainStep`] for gen-core's [`Trainer`](gen_core::Trainer).
//!
//! One step: draw `t` uniformly from `0..T` and standard normal noise for
//! every example (both from the [`SeededRng`], so a run is the same on
//! every backend and resumes exactly), noise the batch with
//! [`add_noise_batch`], regress the model's output on the target of the
//! [`Prediction`] type (noise, velocity or clean sample) with a
//! per-example weight ([`LossWeighting`]: uniform, or min-SNR-gamma), and
//! hand the loss to gen-core's shared optimisation layer ([`Optimized`]:
//! Adam, clipping, the exponential moving average (EMA) of the weights,
//! which is what sampling should use, and the non-finite guard).
//!
//! A class-conditional model is trained for classifier-free guidance (Ho &
//! Salimans 2022): each label is replaced by the null class with
//! probability `p_uncond`, so that one network learns both the conditional
//! and the unconditional prediction; [`sample`](crate::sample()) combines
//! the two at sampling time.

use burn::config::Config;
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use gen_core::error::{ensure_nonzero, ensure_positive};
use gen_core::optim::{Diverged, EmaConfig, GradClip, Guarded, OptimConfig, Optimized};
use gen_core::{
    Batch, Error as CoreError, Metrics, SeededRng, StateReader, StateWriter, Stateful, TrainStep,
    labels,
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
    /// assert_eq!(w.weight(20.0, Prediction::X0), 5.0);
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
                Prediction::X0 => snr.min(gamma),
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
    /// The optimizer: Adam at 2e-4, each parameter's gradient clipped to
    /// norm 1 (burn's per-parameter clipping), and a moving average of the
    /// weights with decay 0.999 and warm-up, which sampling uses.
    #[config(
        default = "OptimConfig::new().with_lr(2e-4).with_grad_clip(Some(GradClip::ParamNorm(1.0))).with_ema(Some(EmaConfig::new(0.999)))"
    )]
    pub optimizer: OptimConfig,
    /// For a class-conditional model: the probability, in `[0, 1]`, that a
    /// label is replaced by the null class (classifier-free guidance; Ho &
    /// Salimans use 0.1 or 0.2). Ignored by unconditional models.
    #[config(default = 0.1)]
    pub p_uncond: f64,
}

impl DiffusionTrainingConfig {
    /// The optimizer's learning rate set to `lr`.
    #[must_use]
    pub fn with_lr(mut self, lr: f64) -> Self {
        self.optimizer.lr = lr;
        self
    }

    /// The moving average's decay set to `decay` (with warm-up).
    #[must_use]
    pub fn with_ema_decay(mut self, decay: f64) -> Self {
        self.optimizer = self.optimizer.with_ema_decay(decay);
        self
    }

    /// Checks the ranges documented on each field.
    ///
    /// # Errors
    /// [`gen_core::Error::InvalidConfig`] naming the first wrong field.
    pub fn validate(&self) -> Result<()> {
        ensure_nonzero("train_steps", self.train_steps)?;
        self.optimizer.validate()?;
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
}

/// A denoiser with its optimizer, its EMA copy and its noise schedule,
/// ready to train.
#[derive(Clone, Debug)]
pub struct DiffusionTrainer<M: Denoiser> {
    model: Optimized<M>,
    config: DiffusionTrainingConfig,
    schedule: NoiseSchedule,
}

impl<M: Denoiser> DiffusionTrainer<M> {
    /// Forks the model onto the autodiff version of `device` and creates
    /// its optimizer (and EMA copy, on `device` itself).
    ///
    /// # Errors
    /// [`gen_core::Error::InvalidConfig`] for an invalid config.
    pub fn new(model: M, config: DiffusionTrainingConfig, device: &Device) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            schedule: config.noise_schedule()?,
            model: Optimized::new(model, config.optimizer.clone(), device)?,
            config,
        })
    }

    /// The model being trained (on the autodiff device).
    pub fn model(&self) -> &M {
        self.model.module()
    }

    /// The model with its optimizer.
    pub fn optimized(&self) -> &Optimized<M> {
        &self.model
    }

    /// The exponential moving average of the weights, on the plain
    /// (non-autodiff) device, when the optimizer keeps one.
    pub fn ema(&self) -> Option<&M> {
        self.model.ema()
    }

    /// The model to sample from: the EMA when kept, else the weights, on
    /// the plain device.
    pub fn sampler(&self) -> M {
        self.model.sampler()
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
        self.model.updates()
    }

    /// The loss weight of timestep `t` (see [`LossWeighting`]).
    pub fn loss_weight(&self, t: usize) -> f64 {
        self.config
            .weighting
            .weight(self.schedule.snr(t), self.config.prediction)
    }
}

/// The labels to train on: checked against the model's classes, and
/// dropped to the null class with probability `p_uncond`.
fn training_labels(
    classes: Option<usize>,
    p_uncond: f64,
    labels: Option<&Tensor<1, Int>>,
    n: usize,
    rng: &mut SeededRng,
    device: &Device,
) -> gen_core::Result<Option<Tensor<1, Int>>> {
    let Some(host) = labels::for_training(n, labels, classes)? else {
        return Ok(None);
    };
    let k = classes.unwrap_or_default();
    let dropped = labels::drop_to_null(&host, k, p_uncond, rng);
    Ok(Some(labels::upload(&dropped, device)))
}

/// Per-example coefficients as a `[B, 1]` tensor.
fn column(values: Vec<f32>, device: &Device) -> Tensor<2> {
    let n = values.len();
    Tensor::from_data(TensorData::new(values, [n, 1]), device)
}

impl<M: Denoiser> TrainStep for DiffusionTrainer<M> {
    fn device(&self) -> Device {
        self.model.device().clone()
    }

    fn step(&mut self, batches: Vec<Batch>, rng: &mut SeededRng) -> gen_core::Result<Metrics> {
        let batch = Batch::single(batches, "a diffusion step")?;
        let [n, f] = batch.data.dims();
        let features = self.model.module().features();
        if f != features || n == 0 {
            return Err(CoreError::Shape {
                what: "diffusion training batch",
                expected: format!("[batch >= 1, {features}]"),
                found: vec![n, f],
            });
        }
        let (config, schedule) = (&self.config, &self.schedule);
        let classes = self.model.module().num_classes();
        let mut metrics = self.model.update_sharded(batch, |model, batch| {
            let x0 = batch.data;
            let [n, f] = x0.dims();
            let device = x0.device();
            let class = training_labels(
                classes,
                config.p_uncond,
                batch.labels.as_ref(),
                n,
                rng,
                &device,
            )?;
            let steps = schedule.len();
            let ts: Vec<usize> = (0..n).map(|_| rng.below(steps)).collect();
            let noise = rng.normal([n, f], &device);
            let x_t = add_noise_batch(schedule, x0.clone(), noise.clone(), &ts)?;
            let prediction = config.prediction;
            let (c_x0, c_eps): (Vec<f32>, Vec<f32>) = ts
                .iter()
                .map(|&t| {
                    let (a, b) = prediction.target(schedule.alpha_bar(Some(t)));
                    (a as f32, b as f32)
                })
                .unzip();
            let target = x0 * column(c_x0, &device) + noise * column(c_eps, &device);
            let weights = column(
                ts.iter()
                    .map(|&t| config.weighting.weight(schedule.snr(t), prediction) as f32)
                    .collect(),
                &device,
            );
            let t = Tensor::<1>::from_data(
                TensorData::new(ts.iter().map(|&t| t as f32).collect(), [n]),
                &device,
            );
            let out = model.forward(x_t, t, class);
            let per_example = (out - target).powi_scalar(2).mean_dim(1);
            let loss = (per_example.clone() * weights).mean();
            let metrics = Metrics::new()
                .with_tensor("loss", loss.clone())
                .with_tensor("mse", per_example.mean());
            Ok((loss, metrics))
        })?;
        if let Some(ema) = &self.config.optimizer.ema {
            // The decay of the update just made.
            metrics.push("ema_decay", ema.decay_at(self.model.updates() - 1));
        }
        Ok(metrics)
    }

    fn replicate(&mut self, devices: &[Device]) -> gen_core::Result<()> {
        self.model.replicate(devices)
    }

    fn settle(&mut self) -> std::result::Result<(), Diverged> {
        self.model.settle()
    }
}

impl<M: Denoiser> Stateful for DiffusionTrainer<M> {
    fn save_state(&self, out: &mut StateWriter) -> gen_core::Result<()> {
        let card = crate::saved::card(self.model.module(), &self.config)?;
        self.model.save_with_card(out, card)
    }

    fn load_state(&mut self, input: &StateReader) -> gen_core::Result<()> {
        self.model.load(input)
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
            let x0 = w.weight(snr, Prediction::X0);
            let eps = w.weight(snr, Prediction::Epsilon) * snr;
            let v = w.weight(snr, Prediction::V) * (snr + 1.0);
            assert!((x0 - snr.min(5.0)).abs() < 1e-12);
            assert!((eps - x0).abs() < 1e-9 * x0.max(1.0), "snr {snr}");
            assert!((v - x0).abs() < 1e-9 * x0.max(1.0), "snr {snr}");
        }
        // Zero SNR (a zero-terminal-SNR schedule): finite weights.
        for p in [Prediction::Epsilon, Prediction::V, Prediction::X0] {
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
    fn ema_is_the_moving_average_of_the_weights() {
        // The default warms up as diffusers' EMAModel does.
        let ema = DiffusionTrainingConfig::new().optimizer.ema.unwrap();
        assert_eq!((ema.decay, ema.warmup), (0.999, true));

        // decay 0.5, no warm-up: after one step, ema = (w0 + w1) / 2.
        let dev = Device::flex();
        let m = MlpDenoiserConfig::new(2).with_hidden(8).init(&dev).unwrap();
        let w0 = flat(&m);
        let cfg = DiffusionTrainingConfig::new().with_optimizer(
            OptimConfig::new()
                .with_lr(1e-2)
                .with_ema(Some(EmaConfig::new(0.5).with_warmup(false))),
        );
        let mut t = DiffusionTrainer::new(m, cfg, &dev).unwrap();
        let x = Tensor::<2>::ones([4, 2], &t.device());
        t.step(vec![Batch::new(x)], &mut SeededRng::new(0)).unwrap();
        let w1 = flat(&t.model().valid());
        let ema = flat(t.ema().unwrap());
        assert_eq!(w0.len(), ema.len());
        let mut moved = 0.0f32;
        for ((a, b), e) in w0.iter().zip(&w1).zip(&ema) {
            assert!((e - (a + b) / 2.0).abs() < 1e-6, "{e} vs {a} {b}");
            moved += (a - b).abs();
        }
        assert!(moved > 0.0);
    }

    fn flat<M: Module>(m: &M) -> Vec<f32> {
        struct Collect(Vec<f32>);
        impl burn::module::ModuleVisitor for Collect {
            fn visit_float<const D: usize>(&mut self, p: &burn::module::Param<Tensor<D>>) {
                let v = p.val().detach();
                let v = if v.is_autodiff() { v.inner() } else { v };
                self.0.extend(v.into_data().try_into_vec::<f32>().unwrap());
            }
        }
        let mut c = Collect(Vec::new());
        m.visit(&mut c);
        c.0
    }

    #[test]
    fn invalid_configs_are_typed_errors() {
        for (cfg, field) in [
            (
                DiffusionTrainingConfig::new().with_optimizer(OptimConfig::new().with_lr(0.0)),
                "lr",
            ),
            (
                DiffusionTrainingConfig::new().with_train_steps(0),
                "train_steps",
            ),
            (
                DiffusionTrainingConfig::new().with_optimizer(OptimConfig::new().with_beta1(1.0)),
                "beta1",
            ),
            (
                DiffusionTrainingConfig::new()
                    .with_optimizer(OptimConfig::new().with_ema(Some(EmaConfig::new(1.0)))),
                "ema.decay",
            ),
            (
                DiffusionTrainingConfig::new()
                    .with_optimizer(OptimConfig::new().with_ema(Some(EmaConfig::new(-0.1)))),
                "ema.decay",
            ),
            (
                DiffusionTrainingConfig::new().with_p_uncond(1.5),
                "p_uncond",
            ),
            (
                DiffusionTrainingConfig::new().with_optimizer(
                    OptimConfig::new().with_grad_clip(Some(GradClip::ParamNorm(0.0))),
                ),
                "grad_clip",
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
