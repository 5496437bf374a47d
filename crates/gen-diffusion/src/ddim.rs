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
//! The previous timestep is the next one in the sampler's own list (past
//! the last, `a_prev = 1`), which is right for every spacing. diffusers'
//! `DDIMScheduler` derives it as `t - T / n` instead, which skips to the
//! wrong alpha_bar with the linspace spacing (999 -> 899 where the list says
//! 888); [`PrevTimestep::FixedOffset`] reproduces that for bit-compatibility.
//!
//! The coefficients are computed in `f64` from the schedule; the step is
//! one fused linear combination of tensors.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use gen_core::Error;

use crate::schedule::{NoiseSchedule, Spacing, timesteps};

/// What the denoiser predicts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prediction {
    /// The noise `eps` (Ho et al. 2020).
    #[default]
    Epsilon,
    /// The velocity `v = sqrt(a) eps - sqrt(1 - a) x0` (Salimans & Ho 2022).
    V,
    /// The clean sample `x0`.
    Sample,
}

impl Prediction {
    /// `x0_hat` and `eps_hat` as linear combinations `(c_x, c_out)` of the
    /// noisy sample and the model output, at `alpha_bar = a`.
    pub fn recover(self, a: f64) -> ((f64, f64), (f64, f64)) {
        let (sa, sb) = (a.sqrt(), (1.0 - a).sqrt());
        match self {
            Prediction::Epsilon => ((1.0 / sa, -sb / sa), (0.0, 1.0)),
            Prediction::Sample => ((0.0, 1.0), (1.0 / sb, -sa / sb)),
            Prediction::V => ((sa, -sb), (sb, sa)),
        }
    }
}

/// One step as a linear combination:
/// `x_prev = sample * x + output * model_output + noise * z`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepCoefficients {
    /// Coefficient of the current sample.
    pub sample: f64,
    /// Coefficient of the model output.
    pub output: f64,
    /// Coefficient of fresh standard normal noise (0 when deterministic).
    pub noise: f64,
}

impl StepCoefficients {
    /// Applies the step to tensors (`noise` is needed when the noise
    /// coefficient is not 0).
    pub fn apply<const D: usize>(
        &self,
        sample: Tensor<D>,
        model_output: Tensor<D>,
        noise: Option<Tensor<D>>,
    ) -> Tensor<D> {
        let mut x = sample * self.sample + model_output * self.output;
        if let Some(z) = noise.filter(|_| self.noise != 0.0) {
            x = x + z * self.noise;
        }
        x
    }

    /// Applies the step to host values.
    pub fn apply_slice(&self, sample: &[f64], model_output: &[f64], noise: &[f64]) -> Vec<f64> {
        (0..sample.len())
            .map(|i| {
                let z = if self.noise != 0.0 {
                    self.noise * noise[i]
                } else {
                    0.0
                };
                self.sample * sample[i] + self.output * model_output[i] + z
            })
            .collect()
    }
}

/// How the timestep a step lands on is chosen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrevTimestep {
    /// The next timestep of the list: correct for every spacing.
    #[default]
    NextInList,
    /// `t - T / n` (integer division), as diffusers' DDIMScheduler: the
    /// same for the leading and trailing spacings, wrong for linspace.
    FixedOffset,
}

/// The DDIM sampler over a schedule.
#[derive(Clone, Debug, PartialEq)]
pub struct Ddim {
    schedule: NoiseSchedule,
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
    /// [`Error::InvalidConfig`] for `steps` outside `1..=T` or `eta < 0`.
    pub fn new(
        schedule: NoiseSchedule,
        steps: usize,
        spacing: Spacing,
        eta: f64,
        prediction: Prediction,
    ) -> Result<Self, Error> {
        if !(eta >= 0.0 && eta.is_finite()) {
            return Err(Error::config("eta", format!("must be >= 0, found {eta}")));
        }
        let timesteps = timesteps(schedule.len(), steps, spacing)?;
        Ok(Self {
            schedule,
            timesteps,
            eta,
            prediction,
            prev: PrevTimestep::NextInList,
        })
    }

    /// Chooses how the previous timestep is derived.
    #[must_use]
    pub fn prev_timestep(mut self, rule: PrevTimestep) -> Self {
        self.prev = rule;
        self
    }

    /// The timestep step `i` lands on (`None`: past the end, no noise).
    pub fn landing(&self, i: usize) -> Option<usize> {
        match self.prev {
            PrevTimestep::NextInList => self.timesteps.get(i + 1).copied(),
            PrevTimestep::FixedOffset => {
                let offset = self.schedule.len() / self.timesteps.len();
                self.timesteps[i].checked_sub(offset)
            }
        }
    }

    /// The timesteps, descending.
    pub fn timesteps(&self) -> &[usize] {
        &self.timesteps
    }

    /// The coefficients of step `i` (from `timesteps()[i]` to the next).
    ///
    /// # Panics
    /// If `i` is past the last step.
    pub fn coefficients(&self, i: usize) -> StepCoefficients {
        let t = self.timesteps[i];
        let a = self.schedule.alpha_bar(Some(t));
        let a_prev = self.schedule.alpha_bar(self.landing(i));
        let variance = (1.0 - a_prev) / (1.0 - a) * (1.0 - a / a_prev);
        let sigma = self.eta * variance.max(0.0).sqrt();
        let direction = (1.0 - a_prev - sigma * sigma).max(0.0).sqrt();
        let ((x0_x, x0_out), (eps_x, eps_out)) = self.prediction.recover(a);
        let root_prev = a_prev.sqrt();
        StepCoefficients {
            sample: root_prev * x0_x + direction * eps_x,
            output: root_prev * x0_out + direction * eps_out,
            noise: sigma,
        }
    }

    /// Step `i` on tensors: `model_output` is the denoiser's output at
    /// `timesteps()[i]` for `sample`; `noise` (standard normal, same shape)
    /// is used when `eta > 0`.
    pub fn step<const D: usize>(
        &self,
        i: usize,
        model_output: Tensor<D>,
        sample: Tensor<D>,
        noise: Option<Tensor<D>>,
    ) -> Tensor<D> {
        self.coefficients(i).apply(sample, model_output, noise)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::BetaSchedule;
    use burn::tensor::Device;
    use gen_core::SeededRng;

    /// The exact denoiser for data N(mu, s^2): E[eps | x_t], and the other
    /// prediction types derived from it.
    fn optimal(prediction: Prediction, x: Tensor<1>, a: f64, mu: f64, s: f64) -> Tensor<1> {
        let var = a * s * s + 1.0 - a;
        let eps = (x.clone() - a.sqrt() * mu) * ((1.0 - a).sqrt() / var);
        let x0 = (x.clone() - eps.clone() * (1.0 - a).sqrt()) / a.sqrt();
        match prediction {
            Prediction::Epsilon => eps,
            Prediction::Sample => x0,
            Prediction::V => eps * a.sqrt() - x0 * (1.0 - a).sqrt(),
        }
    }

    #[test]
    fn gaussian_data_is_recovered_by_every_prediction_type_and_eta() {
        let dev = Device::flex();
        let (mu, s) = (1.5, 0.5);
        for kind in [BetaSchedule::LINEAR, BetaSchedule::Cosine] {
            for prediction in [Prediction::Epsilon, Prediction::V, Prediction::Sample] {
                for eta in [0.0, 1.0] {
                    let schedule = NoiseSchedule::new(kind, 1000).unwrap();
                    // The deterministic sampler integrates an ODE and is exact in
                    // the limit with few steps; the ancestral one replaces x0 by
                    // its posterior mean at each step and needs the full chain.
                    let steps = if eta == 0.0 { 100 } else { 1000 };
                    let ddim =
                        Ddim::new(schedule.clone(), steps, Spacing::Trailing, eta, prediction)
                            .unwrap();
                    let mut rng = SeededRng::new(1);
                    let n = 20_000;
                    let mut x: Tensor<1> = rng.normal([n], &dev);
                    for (i, &t) in ddim.timesteps().iter().enumerate() {
                        let a = schedule.alpha_bar(Some(t));
                        let out = optimal(prediction, x.clone(), a, mu, s);
                        x = ddim.step(i, out, x, Some(rng.normal([n], &dev)));
                    }
                    let v: Vec<f32> = x.into_data().try_into_vec().unwrap();
                    let mean = v.iter().map(|&a| f64::from(a)).sum::<f64>() / n as f64;
                    let var = v
                        .iter()
                        .map(|&a| (f64::from(a) - mean).powi(2))
                        .sum::<f64>()
                        / n as f64;
                    let what = format!("{kind:?} {prediction:?} eta {eta}");
                    assert!((mean - mu).abs() < 0.03, "{what}: mean {mean}");
                    assert!((var.sqrt() - s).abs() < 0.03, "{what}: std {}", var.sqrt());
                    assert!(v.iter().all(|a| a.is_finite()), "{what}");
                }
            }
        }
    }

    #[test]
    fn few_steps_stay_finite_and_eta_is_checked() {
        let dev = Device::flex();
        let schedule = NoiseSchedule::new(BetaSchedule::Cosine, 1000).unwrap();
        for steps in 1..=4 {
            for prediction in [Prediction::Epsilon, Prediction::V, Prediction::Sample] {
                let ddim =
                    Ddim::new(schedule.clone(), steps, Spacing::Trailing, 1.0, prediction).unwrap();
                let mut x = Tensor::<1>::ones([4], &dev);
                for i in 0..steps {
                    let c = ddim.coefficients(i);
                    assert!(c.sample.is_finite() && c.output.is_finite() && c.noise.is_finite());
                    x = ddim.step(i, x.clone() * 0.1, x, Some(Tensor::ones([4], &dev)));
                }
                let v: Vec<f32> = x.into_data().try_into_vec().unwrap();
                assert!(
                    v.iter().all(|a| a.is_finite()),
                    "{steps} steps {prediction:?}: {v:?}"
                );
            }
        }
        assert!(Ddim::new(schedule, 10, Spacing::Leading, -1.0, Prediction::Epsilon).is_err());
    }
}
