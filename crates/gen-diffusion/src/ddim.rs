//! DDIM (Song et al. 2021, "Denoising Diffusion Implicit Models", eq. 12):
//!
//! ```text
//! x_prev = sqrt(a_prev) x0_hat + sqrt(1 - a_prev - sigma^2) eps_hat + sigma z
//! sigma  = eta sqrt((1 - a_prev) / (1 - a_t)) sqrt(1 - a_t / a_prev)
//! ```
//!
//! with `a` = alpha_bar, and `x0_hat`, `eps_hat` recovered from the model's
//! output for its [`Prediction`] type. `eta = 0` is deterministic DDIM,
//! `eta = 1` is DDPM's ancestral sampling on the same timesteps.
//!
//! The previous timestep is, by default, the next one in the sampler's own
//! list (past the last, `a_prev = 1`): a step lands exactly on the noise
//! level at which the model is evaluated next, for every spacing and every
//! training length. diffusers' `DDIMScheduler` derives it as `t - T / n`
//! (integer division) instead. The two rules agree for the leading spacing
//! and, for the trailing spacing, when `T` is a multiple of `n`. Otherwise
//! they differ: with linspace the offset lands on the wrong alpha_bar
//! (999 -> 899 where the list says 888), and with trailing at `T = 500`,
//! `n = 7` every other step differs by one (428 -> 356 by the list, 357 by
//! diffusers). [`PrevTimestep::FixedOffset`] reproduces diffusers exactly
//! (tests/golden.rs checks both cases against diffusers' own numbers).
//!
//! The coefficients are computed in `f64` from the schedule; the step is
//! one fused linear combination of tensors.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::sampler::{Prediction, Sampler, StepCoefficients, check_index, listed_linear_sampler};
use crate::schedule::{NoiseSchedule, Spacing};

/// How the timestep a step lands on is chosen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrevTimestep {
    /// The next timestep of the list: a step lands where the model is
    /// evaluated next, for every spacing and training length.
    #[default]
    NextInList,
    /// `t - T / n` (integer division), as diffusers' DDIMScheduler: the
    /// same as [`NextInList`](Self::NextInList) for the leading spacing,
    /// and for trailing when `T` is a multiple of `n`; otherwise one
    /// timestep off at some steps (trailing, `T = 500`, `n = 7`: 428 -> 357
    /// instead of 356), and on the wrong alpha_bar for linspace. For
    /// results identical to diffusers'.
    FixedOffset,
}

/// The DDIM sampler over a schedule.
#[derive(Clone, Debug, PartialEq)]
pub struct Ddim {
    schedule: NoiseSchedule,
    spacing: Spacing,
    timesteps: Vec<usize>,
    eta: f64,
    prediction: Prediction,
    prev: PrevTimestep,
}

impl Ddim {
    /// `steps` sampling steps spaced by `spacing`, stochasticity `eta`
    /// (0 = deterministic, 1 = DDPM-like).
    ///
    /// # Errors
    /// An invalid config for `steps` outside `1..=T`, `eta < 0`, or
    /// epsilon-prediction on a zero-terminal-SNR schedule.
    pub fn new(
        schedule: NoiseSchedule,
        steps: usize,
        spacing: Spacing,
        eta: f64,
        prediction: Prediction,
    ) -> Result<Self> {
        if !(eta >= 0.0 && eta.is_finite()) {
            return Err(
                gen_core::Error::config("eta", format!("must be >= 0, found {eta}")).into(),
            );
        }
        let mut ddim = Self {
            schedule,
            spacing,
            timesteps: Vec::new(),
            eta,
            prediction,
            prev: PrevTimestep::NextInList,
        };
        ddim.set_timesteps(steps)?;
        Ok(ddim)
    }

    /// Chooses how the previous timestep is derived.
    #[must_use]
    pub fn prev_timestep(mut self, rule: PrevTimestep) -> Self {
        self.prev = rule;
        self
    }

    /// The training timesteps, descending.
    pub fn int_timesteps(&self) -> &[usize] {
        &self.timesteps
    }

    /// The timestep step `i` lands on (`None`: past the end of the
    /// schedule, no noise; also `None` for `i` past the last step).
    pub fn landing(&self, i: usize) -> Option<usize> {
        match self.prev {
            PrevTimestep::NextInList => self.timesteps.get(i + 1).copied(),
            PrevTimestep::FixedOffset => {
                let offset = self.schedule.len() / self.timesteps.len();
                self.timesteps.get(i)?.checked_sub(offset)
            }
        }
    }

    /// The coefficients of step `i` (from `timesteps()[i]` to the next).
    ///
    /// # Errors
    /// [`Error::StepOutOfRange`](crate::Error::StepOutOfRange) if `i` is past the last step.
    pub fn coefficients(&self, i: usize) -> Result<StepCoefficients> {
        check_index(i, self.timesteps.len())?;
        let t = self.timesteps[i];
        let a = self.schedule.alpha_bar(Some(t));
        let a_prev = self.schedule.alpha_bar(self.landing(i));
        let variance = (1.0 - a_prev) / (1.0 - a) * (1.0 - a / a_prev);
        let sigma = self.eta * variance.max(0.0).sqrt();
        let direction = (1.0 - a_prev - sigma * sigma).max(0.0).sqrt();
        let ((x0_x, x0_out), (eps_x, eps_out)) = self.prediction.recover(a);
        let root_prev = a_prev.sqrt();
        Ok(StepCoefficients {
            sample: root_prev * x0_x + direction * eps_x,
            output: root_prev * x0_out + direction * eps_out,
            noise: sigma,
        })
    }
}

listed_linear_sampler!(Ddim);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;
    use crate::schedule::BetaSchedule;

    #[test]
    fn few_steps_have_finite_coefficients_and_eta_is_checked() {
        let schedule = NoiseSchedule::new(BetaSchedule::Cosine, 1000).unwrap();
        for steps in 1..=4 {
            for prediction in [Prediction::Epsilon, Prediction::V, Prediction::X0] {
                let ddim =
                    Ddim::new(schedule.clone(), steps, Spacing::Trailing, 1.0, prediction).unwrap();
                for i in 0..steps {
                    let c = ddim.coefficients(i).unwrap();
                    assert!(c.sample.is_finite() && c.output.is_finite() && c.noise.is_finite());
                }
                assert!(matches!(
                    ddim.coefficients(steps),
                    Err(Error::StepOutOfRange { .. })
                ));
            }
        }
        assert!(
            Ddim::new(
                schedule.clone(),
                10,
                Spacing::Leading,
                -1.0,
                Prediction::Epsilon
            )
            .is_err()
        );
        let zero_snr = schedule.rescale_zero_terminal_snr();
        assert!(
            Ddim::new(
                zero_snr.clone(),
                10,
                Spacing::Trailing,
                0.0,
                Prediction::Epsilon
            )
            .is_err()
        );
        assert!(Ddim::new(zero_snr, 10, Spacing::Trailing, 0.0, Prediction::V).is_ok());
    }
}
