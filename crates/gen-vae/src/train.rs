//! Single-optimizer training of a VAE: one batch, one backward, one Adam
//! step, as a [`gen_core::TrainStep`] for gen-core's [`Trainer`](gen_core::Trainer)
//! (progress, metrics, checkpoints, resume).
//!
//! Why not burn's `Learner`: it fits supervised training (a model that maps
//! an input to an output and a loss), but a VAE step also needs the host
//! random stream that makes runs identical across backends and resumable
//! mid-stream, the KL warm-up counter in the checkpoint, and the same
//! driver as the GANs and diffusion models; gen-core's trainer already
//! gives all of that.

use burn::config::Config;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use gen_core::error::{ensure_nonzero, ensure_positive, ensure_unit_interval};
use gen_core::{
    Batch, Error as CoreError, Metrics, SeededRng, StateReader, StateWriter, Stateful, TrainStep,
};

use crate::error::Result;
use crate::likelihood::Likelihood;
use crate::objective::{Objective, elbo_terms, iwae_bound};
use crate::{Vae, condition_for};

/// Optimisation settings of a VAE.
#[derive(Config, Debug, PartialEq)]
pub struct VaeTrainingConfig {
    /// Adam's learning rate, > 0.
    #[config(default = 1e-3)]
    pub lr: f64,
    /// The KL weight of the ELBO (beta-VAE, Higgins et al. 2017), > 0;
    /// 1 is the plain VAE.
    #[config(default = 1.0)]
    pub beta: f64,
    /// Steps over which the KL weight rises linearly from 0 to `beta`
    /// (KL warm-up, Sønderby et al. 2016); 0 for none.
    #[config(default = 0)]
    pub kl_warmup_steps: u64,
    /// The objective.
    #[config(default = "Objective::Elbo")]
    pub objective: Objective,
    /// Adam's beta1, in `[0, 1)`.
    #[config(default = 0.9)]
    pub beta1: f64,
    /// Adam's beta2, in `[0, 1)`.
    #[config(default = 0.999)]
    pub beta2: f64,
}

impl VaeTrainingConfig {
    /// Checks the ranges documented on each field.
    ///
    /// # Errors
    /// [`gen_core::Error::InvalidConfig`] naming the first wrong field.
    pub fn validate(&self) -> Result<()> {
        ensure_positive("lr", self.lr)?;
        ensure_positive("beta", self.beta)?;
        ensure_unit_interval("beta1", self.beta1)?;
        ensure_unit_interval("beta2", self.beta2)?;
        if let Objective::Iwae { samples } = self.objective {
            ensure_nonzero("objective", samples)?;
            if self.beta != 1.0 || self.kl_warmup_steps > 0 {
                return Err(CoreError::config(
                    "objective",
                    "the IWAE bound has no KL term to weight: use beta = 1 and no KL warm-up",
                )
                .into());
            }
        }
        Ok(())
    }

    /// The KL weight at `step` (0-based).
    pub fn beta_at(&self, step: u64) -> f64 {
        if self.kl_warmup_steps == 0 {
            self.beta
        } else {
            self.beta * ((step + 1) as f64 / self.kl_warmup_steps as f64).min(1.0)
        }
    }
}

/// A VAE with its optimizer, ready to train.
#[derive(Clone)]
pub struct VaeTrainer<M: Vae> {
    model: M,
    optimizer: ModuleOptimizer,
    config: VaeTrainingConfig,
    device: Device,
    step: u64,
}

impl<M: Vae> std::fmt::Debug for VaeTrainer<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaeTrainer")
            .field("config", &self.config)
            .field("device", &self.device)
            .field("step", &self.step)
            .finish_non_exhaustive()
    }
}

impl<M: Vae> VaeTrainer<M> {
    /// Forks the model onto the autodiff version of `device` and creates
    /// its Adam optimizer.
    ///
    /// # Errors
    /// [`gen_core::Error::InvalidConfig`] for an invalid config.
    pub fn new(model: M, config: VaeTrainingConfig, device: &Device) -> Result<Self> {
        config.validate()?;
        let device = device.clone().autodiff();
        Ok(Self {
            model: model.fork(&device).train(),
            optimizer: AdamConfig::new()
                .with_beta_1(config.beta1 as f32)
                .with_beta_2(config.beta2 as f32)
                .init(),
            config,
            device,
            step: 0,
        })
    }

    /// The model (on the autodiff device; use `model().valid()` for
    /// inference).
    pub fn model(&self) -> &M {
        &self.model
    }

    /// The optimisation settings.
    pub fn config(&self) -> &VaeTrainingConfig {
        &self.config
    }

    /// Steps taken so far (restored on resume).
    pub fn steps_done(&self) -> u64 {
        self.step
    }

    /// Takes the trained model.
    pub fn into_model(self) -> M {
        self.model
    }
}

/// Refuses data the likelihood cannot score: NaN or infinite values, and,
/// for a Bernoulli decoder, values outside `[0, 1]` (data scaled to
/// `[-1, 1]` is the usual mistake).
fn check_values(x: &Tensor<2>, likelihood: Likelihood) -> gen_core::Result<()> {
    let min = x.clone().min().into_scalar::<f64>();
    let max = x.clone().max().into_scalar::<f64>();
    if !(min.is_finite() && max.is_finite()) {
        return Err(CoreError::Data(format!(
            "the batch holds non-finite values (min {min}, max {max})"
        )));
    }
    if likelihood == Likelihood::Bernoulli && (min < 0.0 || max > 1.0) {
        return Err(CoreError::Data(format!(
            "a Bernoulli decoder needs data in [0, 1], this batch spans [{min}, {max}] \
             (load it with ValueRange::ZeroToOne)"
        )));
    }
    Ok(())
}

impl<M: Vae> TrainStep for VaeTrainer<M> {
    fn device(&self) -> Device {
        self.device.clone()
    }

    fn step(&mut self, batches: Vec<Batch>, rng: &mut SeededRng) -> gen_core::Result<Metrics> {
        let [batch]: [Batch; 1] = batches.try_into().map_err(|b: Vec<Batch>| {
            CoreError::Unsupported(format!("a VAE step takes 1 batch, got {}", b.len()))
        })?;
        let x = batch.data;
        let condition = condition_for(&self.model, &x, batch.labels)?;
        check_values(&x, self.model.output().likelihood())?;
        let mut metrics = Metrics::new();
        let loss = match self.config.objective {
            Objective::Elbo => {
                let beta = self.config.beta_at(self.step);
                let terms = elbo_terms(&self.model, x, condition, rng);
                let loss = -terms.bound(beta).mean();
                let log_px = terms.log_likelihood.mean().into_scalar::<f64>();
                let kl = terms.kl.mean().into_scalar::<f64>();
                metrics.push("loss", loss.clone().into_scalar::<f64>());
                metrics.push("neg_elbo", kl - log_px);
                metrics.push("recon", -log_px);
                metrics.push("kl", kl);
                metrics.push("beta", beta);
                loss
            }
            Objective::Iwae { samples } => {
                let bound = iwae_bound(&self.model, x, condition, samples, rng);
                let loss = -bound.mean();
                metrics.push("loss", loss.clone().into_scalar::<f64>());
                metrics.push("neg_iwae", metrics.get("loss").unwrap_or(f64::NAN));
                loss
            }
        };
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        self.model = self
            .optimizer
            .step(self.config.lr, self.model.clone(), grads);
        self.step += 1;
        Ok(metrics)
    }
}

impl<M: Vae> Stateful for VaeTrainer<M> {
    fn save_state(&self, out: &mut StateWriter) -> gen_core::Result<()> {
        out.module("model", &self.model)?;
        out.optimizer("optimizer", &self.optimizer)?;
        out.json("vae_step", &self.step)
    }

    fn load_state(&mut self, input: &StateReader) -> gen_core::Result<()> {
        // Everything is read before anything is replaced.
        let model = input.module("model", self.model.clone())?;
        let optimizer = input.optimizer("optimizer", self.optimizer.clone())?;
        let step = input.json("vae_step")?;
        self.model = model;
        self.optimizer = optimizer;
        self.step = step;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warm_up_rises_linearly_to_beta() {
        let cfg = VaeTrainingConfig::new()
            .with_beta(4.0)
            .with_kl_warmup_steps(4);
        let betas: Vec<f64> = (0..6).map(|s| cfg.beta_at(s)).collect();
        assert_eq!(betas, [1.0, 2.0, 3.0, 4.0, 4.0, 4.0]);
        assert_eq!(VaeTrainingConfig::new().beta_at(0), 1.0);
    }

    #[test]
    fn invalid_configs_are_typed_errors() {
        for (cfg, field) in [
            (VaeTrainingConfig::new().with_lr(0.0), "lr"),
            (VaeTrainingConfig::new().with_beta(0.0), "beta"),
            (VaeTrainingConfig::new().with_beta(-1.0), "beta"),
            (VaeTrainingConfig::new().with_beta1(1.0), "beta1"),
            (
                VaeTrainingConfig::new().with_objective(Objective::Iwae { samples: 0 }),
                "objective",
            ),
            (
                VaeTrainingConfig::new()
                    .with_objective(Objective::Iwae { samples: 5 })
                    .with_beta(2.0),
                "objective",
            ),
        ] {
            let err = cfg.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{err}");
        }
    }
}
