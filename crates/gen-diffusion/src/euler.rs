//! The Euler sampler (Karras et al. 2022, "Elucidating the Design Space of
//! Diffusion-Based Generative Models", algorithm 1 without churn), as
//! diffusers' `EulerDiscreteScheduler` with its defaults.
//!
//! It integrates the probability-flow ODE in the variance-exploding
//! parametrisation `x = x_t / sqrt(alpha_bar_t)`, with noise level
//! `sigma_t = sqrt((1 - alpha_bar_t) / alpha_bar_t)`:
//!
//! ```text
//! x_next = x + (x - x0_hat) / sigma_i * (sigma_{i+1} - sigma_i),   sigma_n = 0
//! ```
//!
//! Hence its two scalars other samplers do not have: the initial noise has
//! standard deviation `sigma_0` (`sqrt(sigma_0^2 + 1)` with the leading
//! spacing, as diffusers), and the model's input is the sample divided by
//! `sqrt(sigma_i^2 + 1)` (back to the variance-preserving `x_t`).
//!
//! Timesteps are diffusers': the linspace spacing is not rounded
//! (`999, 978.61.., ...`), and `sigma` at a fractional timestep is
//! interpolated linearly between its neighbours ([`sigma_at`]). A
//! zero-terminal-SNR schedule's `alpha_bar = 0` is read as `2^-24`, as
//! diffusers does, so that the first sigma is finite.

use crate::error::Result;
use crate::sampler::{LinearSampler, Prediction, Sampler, StepCoefficients, check_index};
use crate::schedule::{NoiseSchedule, Spacing, timesteps};

/// The `alpha_bar` the sigma-based samplers use where a schedule's is 0
/// (diffusers' value for the last step of a zero-terminal-SNR schedule).
pub(crate) const MIN_ALPHA_BAR: f64 = 1.0 / 16_777_216.0;

/// `sigma_t = sqrt((1 - alpha_bar_t) / alpha_bar_t)` at training timestep
/// `t`, with an `alpha_bar` of 0 read as `2^-24`.
pub(crate) fn sigma_of(schedule: &NoiseSchedule, t: usize) -> f64 {
    let a = schedule.alpha_bar(Some(t));
    let a = if a > 0.0 { a } else { MIN_ALPHA_BAR };
    ((1.0 - a) / a).sqrt()
}

/// The noise level at a (possibly fractional) timestep `t` in `[0, T - 1]`:
/// linear interpolation of [`NoiseSchedule`]'s sigmas (diffusers'
/// `np.interp`). `t` outside the range is clamped to it.
pub fn sigma_at(schedule: &NoiseSchedule, t: f64) -> f64 {
    let last = schedule.len() - 1;
    let t = t.clamp(0.0, last as f64);
    let lo = (t.floor() as usize).min(last);
    let hi = (lo + 1).min(last);
    let frac = t - lo as f64;
    let (a, b) = (sigma_of(schedule, lo), sigma_of(schedule, hi));
    if frac == 0.0 { a } else { a + (b - a) * frac }
}

/// The Euler sampler over a schedule.
#[derive(Clone, Debug, PartialEq)]
pub struct Euler {
    schedule: NoiseSchedule,
    spacing: Spacing,
    prediction: Prediction,
    timesteps: Vec<f64>,
    /// `sigma` at each timestep, then 0.
    sigmas: Vec<f64>,
}

impl Euler {
    /// `steps` sampling steps spaced by `spacing` (diffusers' default is
    /// [`Spacing::Linspace`]).
    ///
    /// # Errors
    /// An invalid config for `steps` outside `1..=T`.
    pub fn new(
        schedule: NoiseSchedule,
        steps: usize,
        spacing: Spacing,
        prediction: Prediction,
    ) -> Result<Self> {
        let mut euler = Self {
            schedule,
            spacing,
            prediction,
            timesteps: Vec::new(),
            sigmas: Vec::new(),
        };
        euler.set_timesteps(steps)?;
        Ok(euler)
    }

    /// The noise levels: one per step, then the final 0.
    pub fn sigmas(&self) -> &[f64] {
        &self.sigmas
    }

    /// The coefficients of step `i`, on the variance-exploding sample.
    ///
    /// # Errors
    /// [`Error::StepOutOfRange`](crate::Error::StepOutOfRange) if `i` is past the last step.
    pub fn coefficients(&self, i: usize) -> Result<StepCoefficients> {
        check_index(i, self.timesteps.len())?;
        let (sigma, next) = (self.sigmas[i], self.sigmas[i + 1]);
        let a = 1.0 / (sigma * sigma + 1.0);
        // x0_hat = p x + q out, with the model's input x * sqrt(a).
        let ((x0_x, x0_out), _) = self.prediction.recover(a);
        let (p, q) = (x0_x * a.sqrt(), x0_out);
        let ratio = next / sigma;
        Ok(StepCoefficients {
            sample: ratio - p * (ratio - 1.0),
            output: -q * (ratio - 1.0),
            noise: 0.0,
        })
    }
}

impl Sampler for Euler {
    fn set_timesteps(&mut self, n: usize) -> Result<()> {
        let train = self.schedule.len();
        let ts: Vec<f64> = match self.spacing {
            Spacing::Linspace => {
                // Checks n; the values are diffusers' unrounded linspace.
                timesteps(train, n, Spacing::Linspace)?;
                let last = (train - 1) as f64;
                (0..n)
                    .rev()
                    .map(|k| {
                        if n == 1 {
                            0.0
                        } else {
                            k as f64 * last / (n - 1) as f64
                        }
                    })
                    .collect()
            }
            spacing => timesteps(train, n, spacing)?
                .into_iter()
                .map(|t| t as f64)
                .collect(),
        };
        let mut sigmas: Vec<f64> = ts.iter().map(|&t| sigma_at(&self.schedule, t)).collect();
        sigmas.push(0.0);
        self.timesteps = ts;
        self.sigmas = sigmas;
        Ok(())
    }

    fn num_steps(&self) -> usize {
        self.timesteps.len()
    }

    fn timesteps(&self) -> Vec<f64> {
        self.timesteps.clone()
    }

    fn init_noise_sigma(&self) -> f64 {
        let max = self.sigmas.iter().copied().fold(0.0, f64::max);
        match self.spacing {
            Spacing::Leading => (max * max + 1.0).sqrt(),
            Spacing::Linspace | Spacing::Trailing => max,
        }
    }

    fn model_input_scale(&self, i: usize) -> Result<f64> {
        check_index(i, self.timesteps.len())?;
        let sigma = self.sigmas[i];
        Ok(1.0 / (sigma * sigma + 1.0).sqrt())
    }
}

impl LinearSampler for Euler {
    fn step_coefficients(&self, i: usize) -> Result<StepCoefficients> {
        self.coefficients(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;
    use crate::schedule::BetaSchedule;

    #[test]
    fn sigmas_interpolate_and_end_at_zero() {
        let s = NoiseSchedule::new(BetaSchedule::LINEAR, 1000).unwrap();
        let mid = sigma_at(&s, 500.5);
        assert!(mid > sigma_of(&s, 500) && mid < sigma_of(&s, 501));
        assert_eq!(sigma_at(&s, 999.0), sigma_of(&s, 999));
        let e = Euler::new(s, 7, Spacing::Linspace, Prediction::Epsilon).unwrap();
        assert_eq!(e.sigmas().len(), 8);
        assert_eq!(e.sigmas()[7], 0.0);
        assert_eq!(e.timesteps()[0], 999.0);
        assert!(matches!(
            e.coefficients(7),
            Err(Error::StepOutOfRange { .. })
        ));
    }

    #[test]
    fn zero_terminal_snr_gives_a_finite_first_sigma() {
        let s = NoiseSchedule::new(BetaSchedule::LINEAR, 1000)
            .unwrap()
            .rescale_zero_terminal_snr();
        let e = Euler::new(s, 10, Spacing::Trailing, Prediction::V).unwrap();
        assert!((e.init_noise_sigma() - 4095.999).abs() < 1e-2);
    }
}
