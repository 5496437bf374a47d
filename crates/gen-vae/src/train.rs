//! Training a VAE: its objective over gen-core's shared optimisation
//! layer ([`Optimized`]: burn's Adam, schedule, clipping, the non-finite
//! guard), as a [`gen_core::TrainStep`] for gen-core's
//! [`Trainer`](gen_core::Trainer) (progress, metrics, checkpoints, resume).
//!
//! Why not burn's `Learner`: it fits supervised training (a model that maps
//! an input to an output and a loss), but a VAE step also needs the host
//! random stream that makes runs identical across backends and resumable
//! mid-stream, the KL warm-up (a function of the update count, which is in
//! the checkpoint), and the same driver as the GANs and diffusion models.

use burn::config::Config;
use burn::tensor::{Device, Tensor};
use gen_core::error::{ensure_nonzero, ensure_positive};
use gen_core::optim::{Diverged, Guarded, OptimConfig, Optimized};
use gen_core::{
    Batch, Error as CoreError, Metrics, SeededRng, StateReader, StateWriter, Stateful, TrainStep,
};

use crate::likelihood::Likelihood;
use crate::objective::{Objective, elbo_terms, iwae_bound};
use crate::{Vae, condition_for};
use gen_core::Result;

/// Training settings of a VAE.
#[derive(Config, Debug, PartialEq)]
pub struct VaeTrainingConfig {
    /// The optimizer (Adam at 1e-3 by default), its schedule and clipping.
    #[config(default = "OptimConfig::new()")]
    pub optimizer: OptimConfig,
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
}

impl VaeTrainingConfig {
    /// The optimizer's learning rate set to `lr`.
    #[must_use]
    pub fn with_lr(mut self, lr: f64) -> Self {
        self.optimizer.lr = lr;
        self
    }

    /// Checks the ranges documented on each field.
    ///
    /// # Errors
    /// [`gen_core::Error::InvalidConfig`] naming the first wrong field.
    pub fn validate(&self) -> Result<()> {
        self.optimizer.validate()?;
        ensure_positive("beta", self.beta)?;
        if let Objective::Iwae { samples } = self.objective {
            ensure_nonzero("objective", samples)?;
            if self.beta != 1.0 || self.kl_warmup_steps > 0 {
                return Err(CoreError::config(
                    "objective",
                    "the IWAE bound has no KL term to weight: use beta = 1 and no KL warm-up",
                ));
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
#[derive(Clone, Debug)]
pub struct VaeTrainer<M: Vae> {
    model: Optimized<M>,
    config: VaeTrainingConfig,
}

impl<M: Vae> VaeTrainer<M> {
    /// Forks the model onto the autodiff version of `device` and creates
    /// its optimizer.
    ///
    /// # Errors
    /// [`gen_core::Error::InvalidConfig`] for an invalid config.
    pub fn new(model: M, config: VaeTrainingConfig, device: &Device) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            model: Optimized::new(model, config.optimizer.clone(), device)?,
            config,
        })
    }

    /// The model (on the autodiff device; use `model().valid()` for
    /// inference).
    pub fn model(&self) -> &M {
        self.model.module()
    }

    /// The model with its optimizer.
    pub fn optimized(&self) -> &Optimized<M> {
        &self.model
    }

    /// The training settings.
    pub fn config(&self) -> &VaeTrainingConfig {
        &self.config
    }

    /// Steps taken so far (restored on resume).
    pub fn steps_done(&self) -> u64 {
        self.model.updates()
    }

    /// Takes the trained model.
    pub fn into_model(self) -> M {
        self.model.into_module()
    }
}

/// Refuses data the likelihood cannot score: NaN or infinite values, and,
/// for a Bernoulli decoder, values outside `[0, 1]` (data scaled to
/// `[-1, 1]` is the usual mistake).
fn check_values(x: &Tensor<2>, likelihood: Likelihood) -> gen_core::Result<()> {
    let range: Vec<f64> = Tensor::cat(vec![x.clone().min(), x.clone().max()], 0)
        .into_data()
        .convert::<f64>()
        .try_into_vec::<f64>()
        .unwrap_or_else(|_| vec![f64::NAN; 2]);
    let (min, max) = (range[0], range[1]);
    if !(min.is_finite() && max.is_finite()) {
        return Err(CoreError::Data(format!(
            "the batch holds non-finite values (min {min}, max {max})"
        )));
    }
    if likelihood == Likelihood::Bernoulli && (min < 0.0 || max > 1.0) {
        return Err(CoreError::Data(format!(
            "a Bernoulli decoder needs data in [0, 1], this batch spans [{min}, {max}] \
             (load it in [0, 1]: `Transform::new().range(ValueRange::ZeroToOne)` for images, \
             `Digits::to_dataset_in(ValueRange::ZeroToOne)` for the digits; \
             or train with `Likelihood::Gaussian`)"
        )));
    }
    Ok(())
}

impl<M: Vae> TrainStep for VaeTrainer<M> {
    fn device(&self) -> Device {
        self.model.device().clone()
    }

    fn step(&mut self, batches: Vec<Batch>, rng: &mut SeededRng) -> gen_core::Result<Metrics> {
        let batch = Batch::single(batches, "a VAE step")?;
        let objective = self.config.objective;
        let beta = self.config.beta_at(self.model.updates());
        self.model.update_sharded(batch, |model, batch| {
            let condition = condition_for(model, &batch.data, batch.labels.as_ref())?;
            check_values(&batch.data, model.output().likelihood())?;
            let x = batch.data;
            let mut metrics = Metrics::new();
            let loss = match objective {
                Objective::Elbo => {
                    let terms = elbo_terms(model, x, condition, rng);
                    let loss = -terms.bound(beta).mean();
                    let log_px = terms.log_likelihood.mean();
                    let kl = terms.kl.mean();
                    metrics.push_tensor("loss", loss.clone());
                    metrics.push_tensor("neg_elbo", kl.clone() - log_px.clone());
                    metrics.push_tensor("recon", -log_px);
                    metrics.push_tensor("kl", kl);
                    metrics.push("beta", beta);
                    loss
                }
                Objective::Iwae { samples } => {
                    let loss = -iwae_bound(model, x, condition, samples, rng).mean();
                    metrics.push_tensor("loss", loss.clone());
                    metrics.push_tensor("neg_iwae", loss.clone());
                    loss
                }
            };
            Ok((loss, metrics))
        })
    }

    fn replicate(&mut self, devices: &[Device]) -> gen_core::Result<()> {
        self.model.replicate(devices)
    }

    fn settle(&mut self) -> std::result::Result<(), Diverged> {
        self.model.settle()
    }
}

impl<M: Vae> Stateful for VaeTrainer<M> {
    fn save_state(&self, out: &mut StateWriter) -> gen_core::Result<()> {
        let card = crate::saved::card(self.model.module())?;
        self.model.save_with_card(out, card)
    }

    fn load_state(&mut self, input: &StateReader) -> gen_core::Result<()> {
        self.model.load(input)
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
            (
                VaeTrainingConfig::new().with_optimizer(OptimConfig::new().with_lr(0.0)),
                "lr",
            ),
            (VaeTrainingConfig::new().with_beta(0.0), "beta"),
            (VaeTrainingConfig::new().with_beta(-1.0), "beta"),
            (
                VaeTrainingConfig::new().with_optimizer(OptimConfig::new().with_beta1(1.0)),
                "beta1",
            ),
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
