//! What an [`Optimized`](super::Optimized) module is trained with: burn's
//! optimizer, a learning-rate schedule, gradient clipping and an optional
//! moving average of the weights.

use burn::config::Config;
use burn::grad_clipping::GradientClippingConfig;
use burn::lr_scheduler::LrSchedulerConfig;
use burn::lr_scheduler::cosine::CosineAnnealingLrSchedulerConfig;
use burn::lr_scheduler::linear::LinearLrSchedulerConfig;
use burn::lr_scheduler::module_lr_scheduler::ModuleLrScheduler;
use burn::lr_scheduler::sequential::SequentialLrSchedulerConfig;
use burn::optim::{AdamConfig, AdamWConfig};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, ensure_nonzero, ensure_positive, ensure_unit_interval};

/// Which of burn's optimizers updates the weights.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OptimizerKind {
    /// Adam (Kingma & Ba 2015), burn's `Adam`.
    #[default]
    Adam,
    /// AdamW (Loshchilov & Hutter 2019), burn's `AdamW`: weight decay
    /// decoupled from the gradient.
    AdamW {
        /// The decay rate, >= 0 (nanoGPT: 0.1).
        weight_decay: f64,
        /// Decay only the tensors of rank 2 and more (the weights of
        /// linear and convolution layers, embedding tables), not biases
        /// and norm scales: nanoGPT's and GPT-2's rule.
        #[serde(default)]
        matrices_only: bool,
    },
}

/// How the learning rate moves with the update count `k` (from 0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LrSchedule {
    /// `lr` at every update.
    #[default]
    Constant,
    /// Linear warm-up `lr (k + 1) / warmup_steps` for `k < warmup_steps`,
    /// then a cosine from `lr` down to `min_lr` at `total_steps` (nanoGPT's
    /// schedule; burn's linear and cosine schedulers in sequence).
    WarmupCosine {
        /// Updates of warm-up, >= 1.
        warmup_steps: u64,
        /// The update at which the cosine reaches `min_lr`, > `warmup_steps`.
        total_steps: u64,
        /// The final learning rate, in `[0, lr]`.
        min_lr: f64,
    },
}

impl LrSchedule {
    /// burn's scheduler for this schedule with base rate `lr`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a schedule burn refuses.
    pub fn scheduler(&self, lr: f64) -> Result<ModuleLrScheduler> {
        let config = match *self {
            LrSchedule::Constant => LrSchedulerConfig::Constant(lr),
            LrSchedule::WarmupCosine {
                warmup_steps,
                total_steps,
                min_lr,
            } => {
                let warmup = warmup_steps as usize;
                // burn's linear scheduler returns `initial + k * step` at
                // its k-th call, with `step = (final - initial) / iters`:
                // from lr / w in w - 1 steps is `lr (k + 1) / w`.
                let warm = LinearLrSchedulerConfig::new(lr / warmup as f64, lr, warmup.max(2) - 1);
                let cosine = CosineAnnealingLrSchedulerConfig::new(
                    lr,
                    total_steps.saturating_sub(warmup_steps).max(1) as usize,
                )
                .with_min_lr(min_lr);
                LrSchedulerConfig::Sequential(SequentialLrSchedulerConfig::new(
                    vec![
                        LrSchedulerConfig::Linear(warm),
                        LrSchedulerConfig::Cosine(cosine),
                    ],
                    vec![warmup],
                ))
            }
        };
        burn::lr_scheduler::module_lr_scheduler::ModuleLrSchedulerConfig::new(config)
            .init()
            .map_err(|e| Error::config("schedule", e))
    }

    fn validate(&self, lr: f64) -> Result<()> {
        if let LrSchedule::WarmupCosine {
            warmup_steps,
            total_steps,
            min_lr,
        } = *self
        {
            ensure_nonzero("schedule.warmup_steps", warmup_steps as usize)?;
            if total_steps <= warmup_steps {
                return Err(Error::config(
                    "schedule.total_steps",
                    format!("must be > warmup_steps ({warmup_steps}), found {total_steps}"),
                ));
            }
            if !(0.0..=lr).contains(&min_lr) {
                return Err(Error::config(
                    "schedule.min_lr",
                    format!("must be in [0, lr = {lr}], found {min_lr}"),
                ));
            }
            if lr > 1.0 {
                return Err(Error::config(
                    "lr",
                    format!("must be at most 1 with a warm-up schedule, found {lr}"),
                ));
            }
        }
        Ok(())
    }
}

/// How gradients are limited before the update.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "max", rename_all = "snake_case")]
pub enum GradClip {
    /// Scale all gradients together so that their joint L2 norm is at most
    /// `max` (PyTorch's `clip_grad_norm_`; nanoGPT: 1.0).
    GlobalNorm(f64),
    /// Scale each parameter's gradient to an L2 norm of at most `max`
    /// (burn's `GradientClippingConfig::Norm`).
    ParamNorm(f64),
    /// Clamp every gradient value to `[-max, max]` (burn's
    /// `GradientClippingConfig::Value`).
    Value(f64),
}

impl GradClip {
    fn max(self) -> f64 {
        match self {
            GradClip::GlobalNorm(m) | GradClip::ParamNorm(m) | GradClip::Value(m) => m,
        }
    }

    /// burn's per-parameter clipping, for the two kinds burn has.
    pub(crate) fn burn(self) -> Option<GradientClippingConfig> {
        match self {
            GradClip::GlobalNorm(_) => None,
            GradClip::ParamNorm(m) => Some(GradientClippingConfig::Norm(m as f32)),
            GradClip::Value(m) => Some(GradientClippingConfig::Value(m as f32)),
        }
    }
}

/// An exponential moving average of the weights:
/// `ema <- d ema + (1 - d) weights` after every update.
#[derive(Config, Debug, PartialEq)]
pub struct EmaConfig {
    /// The decay `d`, in `[0, 1)` (0: the average is the model itself);
    /// 0.999 is the usual choice.
    pub decay: f64,
    /// Warm up: the decay of update `k` (from 0) is
    /// `min(decay, (1 + k) / (10 + k))`, so that the random initial weights
    /// are forgotten quickly (TensorFlow's `ExponentialMovingAverage` with
    /// `num_updates`, diffusers' `EMAModel`).
    #[config(default = true)]
    pub warmup: bool,
}

impl EmaConfig {
    /// The decay used at update `k` (0-based).
    ///
    /// ```
    /// use gen_core::optim::EmaConfig;
    /// let ema = EmaConfig::new(0.999);
    /// assert_eq!(ema.decay_at(0), 0.1);
    /// assert_eq!(ema.decay_at(90), 0.91);
    /// assert_eq!(ema.decay_at(1_000_000), 0.999);
    /// assert_eq!(ema.with_warmup(false).decay_at(0), 0.999);
    /// ```
    pub fn decay_at(&self, k: u64) -> f64 {
        if self.warmup {
            self.decay.min((1.0 + k as f64) / (10.0 + k as f64))
        } else {
            self.decay
        }
    }
}

/// Everything about how one module's weights are updated.
///
/// The defaults are burn's Adam (betas 0.9 and 0.999, epsilon 1e-5) at a
/// constant rate of 1e-3, no clipping and no moving average.
///
/// ```
/// use gen_core::optim::{EmaConfig, GradClip, OptimConfig};
/// let gan_g = OptimConfig::new().with_lr(2e-4).with_beta1(0.5).with_ema(Some(EmaConfig::new(0.999)));
/// gan_g.validate()?;
/// assert!(OptimConfig::new().with_grad_clip(Some(GradClip::GlobalNorm(0.0))).validate().is_err());
/// # Ok::<(), gen_core::Error>(())
/// ```
#[derive(Config, Debug, PartialEq)]
pub struct OptimConfig {
    /// The base learning rate, > 0.
    #[config(default = 1e-3)]
    pub lr: f64,
    /// The first moment's decay, in `[0, 1)`; 0.5 for GANs (Radford et
    /// al. 2016).
    #[config(default = 0.9)]
    pub beta1: f64,
    /// The second moment's decay, in `[0, 1)`.
    #[config(default = 0.999)]
    pub beta2: f64,
    /// Added to the denominator, > 0 (burn's default 1e-5; PyTorch's is
    /// 1e-8).
    #[config(default = 1e-5)]
    pub epsilon: f64,
    /// Adam or AdamW.
    #[config(default = "OptimizerKind::Adam")]
    pub optimizer: OptimizerKind,
    /// How the rate moves with the updates.
    #[config(default = "LrSchedule::Constant")]
    pub schedule: LrSchedule,
    /// Gradient clipping, `None` for none; the limit must be > 0.
    #[config(default = "None")]
    pub grad_clip: Option<GradClip>,
    /// A moving average of the weights, kept beside them and saved in
    /// checkpoints; what sampling should use.
    #[config(default = "None")]
    pub ema: Option<EmaConfig>,
}

impl OptimConfig {
    /// Checks the ranges documented on each field.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the first wrong field.
    pub fn validate(&self) -> Result<()> {
        ensure_positive("lr", self.lr)?;
        ensure_unit_interval("beta1", self.beta1)?;
        ensure_unit_interval("beta2", self.beta2)?;
        ensure_positive("epsilon", self.epsilon)?;
        if let OptimizerKind::AdamW { weight_decay, .. } = self.optimizer
            && !(weight_decay.is_finite() && weight_decay >= 0.0)
        {
            return Err(Error::config(
                "weight_decay",
                format!("must be >= 0, found {weight_decay}"),
            ));
        }
        if let Some(clip) = self.grad_clip {
            ensure_positive("grad_clip", clip.max())?;
        }
        if let Some(ema) = &self.ema {
            ensure_unit_interval("ema.decay", ema.decay)?;
        }
        self.schedule.validate(self.lr)
    }

    /// Keeps a moving average with `decay` and warm-up (shorthand for
    /// `with_ema(Some(EmaConfig::new(decay)))`).
    #[must_use]
    pub fn with_ema_decay(self, decay: f64) -> Self {
        self.with_ema(Some(EmaConfig::new(decay)))
    }

    /// burn's optimizer for these settings (the rate and the AdamW groups
    /// are applied by [`Optimized`](super::Optimized)).
    pub(crate) fn adam(&self, weight_decay: f64) -> burn::optim::ModuleOptimizer {
        let clip = self.grad_clip.and_then(GradClip::burn);
        match self.optimizer {
            OptimizerKind::Adam => AdamConfig::new()
                .with_beta_1(self.beta1 as f32)
                .with_beta_2(self.beta2 as f32)
                .with_epsilon(self.epsilon as f32)
                .with_grad_clipping(clip)
                .init(),
            OptimizerKind::AdamW { .. } => AdamWConfig::new()
                .with_beta_1(self.beta1 as f32)
                .with_beta_2(self.beta2 as f32)
                .with_epsilon(self.epsilon as f32)
                .with_weight_decay(weight_decay as f32)
                .with_grad_clipping(clip)
                .init(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_cosine_is_nanogpts_schedule() {
        // quality_gpt_shakespeare.py's lr_at: hi (it + 1) / warm, then a
        // cosine from hi at `warm` to lo at `iters`.
        let (warm, iters, lo, hi) = (100u64, 2000u64, 1e-4, 1e-3);
        let reference = |it: u64| {
            if it < warm {
                hi * (it + 1) as f64 / warm as f64
            } else {
                let r = (it - warm) as f64 / (iters - warm) as f64;
                lo + 0.5 * (1.0 + (std::f64::consts::PI * r).cos()) * (hi - lo)
            }
        };
        let schedule = LrSchedule::WarmupCosine {
            warmup_steps: warm,
            total_steps: iters,
            min_lr: lo,
        };
        let mut s = schedule.scheduler(hi).unwrap();
        for it in 0..iters + 5 {
            let lr = s.step().base();
            assert!((lr - reference(it)).abs() < 1e-12, "{it}: {lr}");
        }
        let mut c = LrSchedule::Constant.scheduler(0.5).unwrap();
        assert_eq!(c.step().base(), 0.5);
    }

    #[test]
    fn invalid_settings_are_typed_errors() {
        let cosine = |warmup_steps, total_steps, min_lr| LrSchedule::WarmupCosine {
            warmup_steps,
            total_steps,
            min_lr,
        };
        for (cfg, field) in [
            (OptimConfig::new().with_lr(0.0), "lr"),
            (OptimConfig::new().with_beta1(1.0), "beta1"),
            (OptimConfig::new().with_beta2(-0.1), "beta2"),
            (OptimConfig::new().with_epsilon(0.0), "epsilon"),
            (
                OptimConfig::new().with_optimizer(OptimizerKind::AdamW {
                    weight_decay: -1.0,
                    matrices_only: true,
                }),
                "weight_decay",
            ),
            (
                OptimConfig::new().with_grad_clip(Some(GradClip::ParamNorm(0.0))),
                "grad_clip",
            ),
            (
                OptimConfig::new().with_ema(Some(EmaConfig::new(1.0))),
                "ema.decay",
            ),
            (
                OptimConfig::new().with_schedule(cosine(0, 10, 0.0)),
                "schedule.warmup_steps",
            ),
            (
                OptimConfig::new().with_schedule(cosine(10, 10, 0.0)),
                "schedule.total_steps",
            ),
            (
                OptimConfig::new().with_schedule(cosine(1, 10, 1.0)),
                "schedule.min_lr",
            ),
        ] {
            match cfg.validate() {
                Err(Error::InvalidConfig { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }

    #[test]
    fn configs_round_trip_through_json() {
        let cfg = OptimConfig::new()
            .with_optimizer(OptimizerKind::AdamW {
                weight_decay: 0.1,
                matrices_only: true,
            })
            .with_schedule(LrSchedule::WarmupCosine {
                warmup_steps: 100,
                total_steps: 2000,
                min_lr: 1e-4,
            })
            .with_grad_clip(Some(GradClip::GlobalNorm(1.0)))
            .with_ema(Some(EmaConfig::new(0.999)));
        let json = serde_json::to_string(&cfg).unwrap();
        let back: OptimConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, cfg);
    }
}
