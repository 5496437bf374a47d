//! DDPM ancestral sampling (Ho et al. 2020, "Denoising Diffusion
//! Probabilistic Models", eqs. 6-7, algorithm 2), on any subsequence of
//! the training timesteps:
//!
//! ```text
//! x_prev = c0 x0_hat + ct x_t + sigma z
//! c0     = sqrt(a_prev) beta / (1 - a_t)
//! ct     = sqrt(1 - beta) (1 - a_prev) / (1 - a_t)
//! beta   = 1 - a_t / a_prev
//! ```
//!
//! with `a` = alpha_bar, `t -> prev` a step of the sampler's list (the next
//! timestep in it, as diffusers' `DDPMScheduler.previous_timestep`), and
//! `x0_hat` recovered from the model's output for its [`Prediction`]. The
//! variance `sigma^2` is [`DdpmVariance::FixedSmall`], the posterior
//! variance `beta~ = (1 - a_prev) / (1 - a_t) beta` (diffusers'
//! `fixed_small`, at least 1e-20), or [`DdpmVariance::FixedLarge`], `beta`
//! itself (`fixed_large`).
//!
//! Two differences from diffusers' defaults, both on purpose: `x0_hat` is
//! not clipped to `[-1, 1]` (diffusers' `clip_sample=True`: data here need
//! not lie in that range), and the last step adds no noise whatever its
//! timestep (diffusers adds none only when it is 0, so the trailing spacing
//! with `fixed_large` ends with noise of variance `1 - a_t`).

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::sampler::{Prediction, Sampler, StepCoefficients, check_index, listed_linear_sampler};
use crate::schedule::{NoiseSchedule, Spacing};

/// The variance of DDPM's reverse steps (Ho et al. 2020, section 3.2: both
/// are optimal for an extreme of the data distribution).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DdpmVariance {
    /// The posterior variance `beta~_t` (optimal for a point mass `x0`).
    #[default]
    FixedSmall,
    /// `beta_t` (optimal for `x0 ~ N(0, I)`).
    FixedLarge,
}

gen_core::enum_names!(DdpmVariance, "variance", {
    DdpmVariance::FixedSmall => "fixed_small",
    DdpmVariance::FixedLarge => "fixed_large",
});

/// The DDPM ancestral sampler over a schedule.
#[derive(Clone, Debug, PartialEq)]
pub struct Ddpm {
    schedule: NoiseSchedule,
    spacing: Spacing,
    timesteps: Vec<usize>,
    variance: DdpmVariance,
    prediction: Prediction,
}

impl Ddpm {
    /// `steps` sampling steps spaced by `spacing` (`T` steps and any spacing
    /// is the original chain).
    ///
    /// # Errors
    /// An invalid config for `steps` outside `1..=T`, or epsilon-prediction
    /// on a zero-terminal-SNR schedule.
    pub fn new(
        schedule: NoiseSchedule,
        steps: usize,
        spacing: Spacing,
        variance: DdpmVariance,
        prediction: Prediction,
    ) -> Result<Self> {
        let mut ddpm = Self {
            schedule,
            spacing,
            timesteps: Vec::new(),
            variance,
            prediction,
        };
        ddpm.set_timesteps(steps)?;
        Ok(ddpm)
    }

    /// The training timesteps, descending.
    pub fn int_timesteps(&self) -> &[usize] {
        &self.timesteps
    }

    /// `(alpha_bar_t, alpha_bar_prev, is_last)` of step `i`.
    fn alphas(&self, i: usize) -> Result<(f64, f64, bool)> {
        check_index(i, self.timesteps.len())?;
        let next = self.timesteps.get(i + 1).copied();
        let a = self.schedule.alpha_bar(Some(self.timesteps[i]));
        Ok((a, self.schedule.alpha_bar(next), next.is_none()))
    }

    /// The variance of the noise step `i` adds: 0 on the last step.
    ///
    /// # Errors
    /// [`Error::StepOutOfRange`](crate::Error::StepOutOfRange) if `i` is past the last step.
    pub fn variance(&self, i: usize) -> Result<f64> {
        let (a, a_prev, last) = self.alphas(i)?;
        if last {
            return Ok(0.0);
        }
        let beta = 1.0 - a / a_prev;
        Ok(match self.variance {
            DdpmVariance::FixedSmall => ((1.0 - a_prev) / (1.0 - a) * beta).max(1e-20),
            DdpmVariance::FixedLarge => beta,
        })
    }

    /// The coefficients of step `i` (from `timesteps()[i]` to the next).
    ///
    /// # Errors
    /// [`Error::StepOutOfRange`](crate::Error::StepOutOfRange) if `i` is past the last step.
    pub fn coefficients(&self, i: usize) -> Result<StepCoefficients> {
        let (a, a_prev, _) = self.alphas(i)?;
        let beta = 1.0 - a / a_prev;
        let c0 = a_prev.sqrt() * beta / (1.0 - a);
        let ct = (1.0 - beta).sqrt() * (1.0 - a_prev) / (1.0 - a);
        let ((x0_x, x0_out), _) = self.prediction.recover(a);
        Ok(StepCoefficients {
            sample: c0 * x0_x + ct,
            output: c0 * x0_out,
            noise: self.variance(i)?.sqrt(),
        })
    }
}

listed_linear_sampler!(Ddpm);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;
    use crate::schedule::BetaSchedule;

    #[test]
    fn full_chain_variances_are_the_schedules() {
        // With all T steps, fixed-small is the schedule's posterior variance
        // and fixed-large is beta_t; the last step (t = 0) adds no noise.
        let s = NoiseSchedule::new(BetaSchedule::LINEAR, 1000).unwrap();
        for (kind, expected) in [
            (DdpmVariance::FixedSmall, s.posterior_variance(500)),
            (DdpmVariance::FixedLarge, s.betas()[500]),
        ] {
            let d =
                Ddpm::new(s.clone(), 1000, Spacing::Leading, kind, Prediction::Epsilon).unwrap();
            assert_eq!(d.int_timesteps()[499], 500);
            assert!((d.variance(499).unwrap() - expected).abs() < 1e-15);
            assert_eq!(d.variance(999).unwrap(), 0.0);
            assert!(matches!(
                d.variance(1000),
                Err(Error::StepOutOfRange { .. })
            ));
        }
    }

    #[test]
    fn a_step_with_a_perfect_x0_prediction_lands_on_the_posterior_mean() {
        // Ho et al. eq. 7: with x0 known, the mean is c0 x0 + ct x_t, and for
        // sample-prediction the output coefficient is c0 itself.
        let s = NoiseSchedule::new(BetaSchedule::LINEAR, 1000).unwrap();
        let d = Ddpm::new(
            s.clone(),
            10,
            Spacing::Leading,
            DdpmVariance::FixedSmall,
            Prediction::X0,
        )
        .unwrap();
        let (a, ap) = (s.alpha_bar(Some(900)), s.alpha_bar(Some(800)));
        let beta = 1.0 - a / ap;
        let c = d.coefficients(0).unwrap();
        assert!((c.output - ap.sqrt() * beta / (1.0 - a)).abs() < 1e-12);
        assert!((c.sample - (1.0 - beta).sqrt() * (1.0 - ap) / (1.0 - a)).abs() < 1e-12);
    }
}
