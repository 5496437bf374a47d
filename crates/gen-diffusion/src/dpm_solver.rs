//! DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++: Fast Solver for Guided
//! Sampling of Diffusion Probabilistic Models", algorithm 2), as diffusers'
//! `DPMSolverMultistepScheduler(algorithm_type="dpmsolver++",
//! solver_order=2)` with its defaults (midpoint form, lower-order final
//! step, final sigma 0, linspace spacing).
//!
//! With `alpha_t = sqrt(alpha_bar_t)`, `sigma_t = sqrt(1 - alpha_bar_t)`,
//! `lambda_t = log(alpha_t / sigma_t)`, and `m_i` the model's estimate of
//! `x0` at step `i`, step `i` goes from `s = t_i` to `t = t_{i+1}`
//! (`h = lambda_t - lambda_s`):
//!
//! ```text
//! first order:  x_t = sigma_t / sigma_s x_s - alpha_t (e^-h - 1) m_i
//! second order: x_t = sigma_t / sigma_s x_s - alpha_t (e^-h - 1) (m_i + (m_i - m_{i-1}) / (2 r))
//!               r = (lambda_s - lambda_{i-1}) / h
//! ```
//!
//! The first step has no earlier estimate and the last lands on
//! `sigma = 0` (`h` infinite, `x_t = m_i`): both are first order. It is a
//! multistep method: the sampler keeps the previous step's `x0` estimate.
//! A step taken out of order (not right after step `i - 1` on a sample of
//! the same shape) falls back to first order.
//!
//! The timesteps are this scheduler's own: `n + 1` points of which the last
//! is dropped for the linspace (`999, 899, ...` for 10 steps) and leading
//! (`k * (T / (n + 1))`) spacings. The coefficients are computed in `f64`
//! from ratios of `sigma / alpha` (no logarithm of 0 at the last step).

use burn::tensor::Tensor;

use gen_core::SeededRng;

use crate::error::Result;
use crate::euler::sigma_of;
use crate::sampler::{
    Prediction, Sampler, SamplerStep, as_f64, check_index, check_shapes, ensure_descending,
};
use crate::schedule::{NoiseSchedule, Spacing, timesteps};

/// diffusers' DPM-Solver timesteps: `n` of them, descending.
///
/// # Errors
/// An invalid config when `n` is 0, larger than `train_steps`, or too large
/// for the spacing to give distinct timesteps.
pub fn dpm_timesteps(train_steps: usize, n: usize, spacing: Spacing) -> Result<Vec<usize>> {
    // Checks 1 <= n <= T (and gives the trailing spacing as it is).
    let trailing = timesteps(train_steps, n, Spacing::Trailing)?;
    let ts = match spacing {
        Spacing::Trailing => trailing,
        Spacing::Linspace => {
            let step = (train_steps - 1) as f64 / n as f64;
            (1..=n)
                .rev()
                .map(|k| (k as f64 * step).round_ties_even() as usize)
                .collect()
        }
        Spacing::Leading => {
            let ratio = train_steps / (n + 1);
            (1..=n).rev().map(|k| k * ratio).collect()
        }
    };
    ensure_descending(&ts)?;
    Ok(ts)
}

/// One DPM-Solver++ step as linear combinations. With `m` the model's
/// estimate of `x0`, `m = x0_sample * x + x0_output * model_output`, and
/// `x_next = sample * x + x0 * m + previous_x0 * m_previous`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MultistepCoefficients {
    /// Coefficient of the sample in the `x0` estimate.
    pub x0_sample: f64,
    /// Coefficient of the model output in the `x0` estimate.
    pub x0_output: f64,
    /// Coefficient of the current sample.
    pub sample: f64,
    /// Coefficient of this step's `x0` estimate.
    pub x0: f64,
    /// Coefficient of the previous step's `x0` estimate (0 at first order).
    pub previous_x0: f64,
}

/// The previous step's `x0` estimate, flattened, with the step and shape it
/// came from.
#[derive(Clone, Debug)]
struct Previous {
    index: usize,
    dims: Vec<usize>,
    x0: Tensor<1>,
}

/// The DPM-Solver++(2M) sampler over a schedule.
#[derive(Clone, Debug)]
pub struct DpmSolver {
    schedule: NoiseSchedule,
    spacing: Spacing,
    prediction: Prediction,
    timesteps: Vec<usize>,
    /// `sigma / alpha` at each timestep, then 0.
    sigmas: Vec<f64>,
    previous: Option<Previous>,
}

impl DpmSolver {
    /// `steps` sampling steps spaced by `spacing` (diffusers' default is
    /// [`Spacing::Linspace`]).
    ///
    /// # Errors
    /// An invalid config for `steps` outside `1..=T` or too many for the
    /// spacing (see [`dpm_timesteps`]).
    pub fn new(
        schedule: NoiseSchedule,
        steps: usize,
        spacing: Spacing,
        prediction: Prediction,
    ) -> Result<Self> {
        let mut solver = Self {
            schedule,
            spacing,
            prediction,
            timesteps: Vec::new(),
            sigmas: Vec::new(),
            previous: None,
        };
        solver.set_timesteps(steps)?;
        Ok(solver)
    }

    /// The training timesteps, descending.
    pub fn int_timesteps(&self) -> &[usize] {
        &self.timesteps
    }

    /// Whether step `i` is second order when it follows step `i - 1`: all
    /// but the first and the last.
    pub fn is_second_order(&self, i: usize) -> bool {
        i > 0 && i + 1 < self.timesteps.len()
    }

    /// The coefficients of step `i`, at the order [`Self::is_second_order`]
    /// gives.
    ///
    /// # Errors
    /// [`Error::StepOutOfRange`](crate::Error::StepOutOfRange) if `i` is past the last step.
    pub fn coefficients(&self, i: usize) -> Result<MultistepCoefficients> {
        self.coefficients_at_order(i, self.is_second_order(i))
    }

    fn coefficients_at_order(&self, i: usize, second: bool) -> Result<MultistepCoefficients> {
        check_index(i, self.timesteps.len())?;
        // Variance-preserving alpha and sigma from sigma / alpha.
        let vp = |ve: f64| {
            let alpha = 1.0 / (ve * ve + 1.0).sqrt();
            (alpha, ve * alpha)
        };
        let (ve_s, ve_t) = (self.sigmas[i], self.sigmas[i + 1]);
        let ((alpha_s, sigma_s), (alpha_t, sigma_t)) = (vp(ve_s), vp(ve_t));
        let ((x0_x, x0_out), _) = self.prediction.recover(alpha_s * alpha_s);
        // e^-h = (sigma_t / alpha_t) / (sigma_s / alpha_s).
        let e = -alpha_t * (ve_t / ve_s - 1.0);
        let (x0, previous_x0) = if second {
            let ve_r = self.sigmas[i - 1];
            let r = (ve_r / ve_s).ln() / (ve_s / ve_t).ln();
            (e * (1.0 + 0.5 / r), -e * 0.5 / r)
        } else {
            (e, 0.0)
        };
        Ok(MultistepCoefficients {
            x0_sample: x0_x,
            x0_output: x0_out,
            sample: sigma_t / sigma_s,
            x0,
            previous_x0,
        })
    }
}

impl Sampler for DpmSolver {
    fn set_timesteps(&mut self, n: usize) -> Result<()> {
        let ts = dpm_timesteps(self.schedule.len(), n, self.spacing)?;
        let mut sigmas: Vec<f64> = ts.iter().map(|&t| sigma_of(&self.schedule, t)).collect();
        sigmas.push(0.0);
        self.timesteps = ts;
        self.sigmas = sigmas;
        self.previous = None;
        Ok(())
    }

    fn num_steps(&self) -> usize {
        self.timesteps.len()
    }

    fn timesteps(&self) -> Vec<f64> {
        as_f64(&self.timesteps)
    }
}

impl<const D: usize> SamplerStep<D> for DpmSolver {
    fn step(
        &mut self,
        model_output: Tensor<D>,
        i: usize,
        sample: Tensor<D>,
        _rng: &mut SeededRng,
    ) -> Result<Tensor<D>> {
        let dims = sample.dims();
        check_shapes(&model_output.dims(), &dims)?;
        // Before the state is touched: a refused step keeps it.
        check_index(i, self.timesteps.len())?;
        let previous = self
            .previous
            .take()
            .filter(|p| p.index + 1 == i && p.dims == dims);
        let second = self.is_second_order(i) && previous.is_some();
        let c = self.coefficients_at_order(i, second)?;
        let x0 = sample.clone() * c.x0_sample + model_output * c.x0_output;
        let mut next = sample * c.sample + x0.clone() * c.x0;
        if let Some(p) = previous.filter(|_| second) {
            next = next + p.x0.reshape(dims) * c.previous_x0;
        }
        let numel = dims.iter().product::<usize>();
        self.previous = Some(Previous {
            index: i,
            dims: dims.to_vec(),
            x0: x0.reshape([numel]),
        });
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;
    use crate::schedule::BetaSchedule;

    #[test]
    fn own_spacings_by_hand() {
        assert_eq!(
            dpm_timesteps(1000, 4, Spacing::Linspace).unwrap(),
            vec![999, 749, 500, 250]
        );
        assert_eq!(
            dpm_timesteps(1000, 4, Spacing::Leading).unwrap(),
            vec![800, 600, 400, 200]
        );
        assert_eq!(
            dpm_timesteps(1000, 4, Spacing::Trailing).unwrap(),
            vec![999, 749, 499, 249]
        );
        // T / (n + 1) = 0: every timestep would be 0.
        assert!(dpm_timesteps(1000, 1000, Spacing::Leading).is_err());
        assert!(dpm_timesteps(1000, 0, Spacing::Linspace).is_err());
    }

    #[test]
    fn the_last_step_returns_the_x0_estimate() {
        let s = NoiseSchedule::new(BetaSchedule::LINEAR, 1000).unwrap();
        let d = DpmSolver::new(s, 5, Spacing::Linspace, Prediction::X0).unwrap();
        let c = d.coefficients(4).unwrap();
        assert_eq!((c.sample, c.x0, c.previous_x0), (0.0, 1.0, 0.0));
        assert!(!d.is_second_order(0) && d.is_second_order(1) && !d.is_second_order(4));
        assert!(matches!(
            d.coefficients(5),
            Err(Error::StepOutOfRange { .. })
        ));
    }
}
