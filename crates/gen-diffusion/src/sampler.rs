//! The sampler traits, and what every sampler shares.
//!
//! A sampler turns a denoiser's output into the next, less noisy sample. It
//! has two halves, so that everything that is plain numbers stays testable
//! without tensors (and object-safe):
//!
//! - [`Sampler`]: the host side. Which timesteps to evaluate the model at,
//!   the scale of the initial noise and of the model's input, all in `f64`.
//! - [`SamplerStep<D>`]: the tensor side, for samples of rank `D`: the step
//!   itself, plus provided methods that draw the initial noise and scale the
//!   model's input. `Box<dyn SamplerStep<4>>` swaps samplers at run time.
//!
//! A user's loop, with `model(x, t)` the denoiser:
//!
//! ```text
//! let mut x = sampler.initial_noise(shape, &device, &mut rng);
//! for (i, t) in sampler.timesteps().into_iter().enumerate() {
//!     let out = model(sampler.scale_model_input(x.clone(), i)?, t);
//!     x = sampler.step(out, i, x, &mut rng)?;
//! }
//! ```
//!
//! All randomness comes from [`SeededRng`] on the host, so a seed gives the
//! same samples on every backend. A sampler draws one standard normal
//! tensor of the sample's shape in a step exactly when that step adds
//! noise, and no other draws.

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use gen_core::SeededRng;

use crate::error::{Error, Result};
use crate::schedule::NoiseSchedule;

/// What the denoiser predicts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prediction {
    /// The noise `eps` (Ho et al. 2020).
    #[default]
    Epsilon,
    /// The velocity `v = sqrt(a) eps - sqrt(1 - a) x0` (Salimans & Ho 2022).
    V,
    /// The clean sample `x0` (diffusers' `"sample"`, which a config may
    /// also say).
    #[serde(alias = "sample")]
    X0,
}

gen_core::enum_names!(Prediction, "prediction", {
    Prediction::Epsilon => "epsilon" | "eps",
    Prediction::V => "v" | "v_prediction",
    Prediction::X0 => "x0" | "sample",
});

impl Prediction {
    /// `x0_hat` and `eps_hat` as linear combinations `(c_x, c_out)` of the
    /// noisy sample `x_t = sqrt(a) x0 + sqrt(1 - a) eps` and the model
    /// output, at `alpha_bar = a`.
    pub fn recover(self, a: f64) -> ((f64, f64), (f64, f64)) {
        let (sa, sb) = (a.sqrt(), (1.0 - a).sqrt());
        match self {
            Prediction::Epsilon => ((1.0 / sa, -sb / sa), (0.0, 1.0)),
            Prediction::X0 => ((0.0, 1.0), (1.0 / sb, -sa / sb)),
            Prediction::V => ((sa, -sb), (sb, sa)),
        }
    }

    /// What the model should output for a clean sample `x0` and its noise
    /// `eps` at `alpha_bar = a`: the training target, as coefficients
    /// `(c_x0, c_eps)` of `c_x0 x0 + c_eps eps`.
    pub fn target(self, a: f64) -> (f64, f64) {
        match self {
            Prediction::Epsilon => (0.0, 1.0),
            Prediction::X0 => (1.0, 0.0),
            Prediction::V => (-(1.0 - a).sqrt(), a.sqrt()),
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
    /// Applies the step to tensors (`noise` is used only when the noise
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

    /// Applies the step to tensors, drawing the noise from `rng` when the
    /// noise coefficient is not 0 (and nothing otherwise).
    pub fn apply_rng<const D: usize>(
        &self,
        sample: Tensor<D>,
        model_output: Tensor<D>,
        rng: &mut SeededRng,
    ) -> Tensor<D> {
        let noise = (self.noise != 0.0).then(|| rng.normal(sample.dims(), &sample.device()));
        self.apply(sample, model_output, noise)
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

/// The host side of a sampler: timesteps and scalars, no tensors.
pub trait Sampler {
    /// Chooses `n` sampling steps, spaced by the sampler's spacing, and
    /// clears any state left by earlier steps.
    ///
    /// # Errors
    /// [`Error::Core`] (invalid config) when `n` is 0, larger than the
    /// schedule's `T`, or gives repeated timesteps with this spacing.
    fn set_timesteps(&mut self, n: usize) -> Result<()>;

    /// The number of sampling steps.
    fn num_steps(&self) -> usize;

    /// The timesteps to evaluate the model at, in order (descending). They
    /// are whole numbers except for Euler's linspace spacing.
    fn timesteps(&self) -> Vec<f64>;

    /// The standard deviation of the initial noise (1 except for Euler).
    fn init_noise_sigma(&self) -> f64 {
        1.0
    }

    /// The factor the sample is multiplied by before it is given to the
    /// model at step `i` (1 except for Euler).
    ///
    /// # Errors
    /// [`Error::StepOutOfRange`] for `i >= num_steps()`.
    fn model_input_scale(&self, i: usize) -> Result<f64> {
        check_index(i, self.num_steps())?;
        Ok(1.0)
    }
}

/// The tensor side of a sampler, for samples of rank `D`.
pub trait SamplerStep<const D: usize>: Sampler {
    /// Step `i`: from the sample at `timesteps()[i]` to the next one, given
    /// the model's output for it. Noise, where the step adds any, is drawn
    /// from `rng`.
    ///
    /// # Shapes
    /// `model_output` and `sample` have the same shape, which the result
    /// keeps.
    ///
    /// # Errors
    /// [`Error::StepOutOfRange`] for `i >= num_steps()`, and a shape error
    /// when the two tensors differ in shape.
    fn step(
        &mut self,
        model_output: Tensor<D>,
        i: usize,
        sample: Tensor<D>,
        rng: &mut SeededRng,
    ) -> Result<Tensor<D>>;

    /// The sample to start from: standard normal noise of `shape` times
    /// [`Sampler::init_noise_sigma`].
    fn initial_noise(&self, shape: [usize; D], device: &Device, rng: &mut SeededRng) -> Tensor<D> {
        let x = rng.normal(shape, device);
        let sigma = self.init_noise_sigma();
        if sigma == 1.0 { x } else { x * sigma }
    }

    /// The model's input at step `i`: `sample` times
    /// [`Sampler::model_input_scale`].
    ///
    /// # Errors
    /// [`Error::StepOutOfRange`] for `i >= num_steps()`.
    fn scale_model_input(&self, sample: Tensor<D>, i: usize) -> Result<Tensor<D>> {
        let scale = self.model_input_scale(i)?;
        Ok(if scale == 1.0 { sample } else { sample * scale })
    }
}

/// A sampler whose every step is one [`StepCoefficients`] combination of
/// the sample, the model output and fresh noise (DDPM, DDIM, Euler): its
/// [`SamplerStep`] comes with it, for every rank.
pub trait LinearSampler: Sampler {
    /// The coefficients of step `i`.
    ///
    /// # Errors
    /// [`Error::StepOutOfRange`] past the last step.
    fn step_coefficients(&self, i: usize) -> Result<StepCoefficients>;
}

impl<S: LinearSampler, const D: usize> SamplerStep<D> for S {
    fn step(
        &mut self,
        model_output: Tensor<D>,
        i: usize,
        sample: Tensor<D>,
        rng: &mut SeededRng,
    ) -> Result<Tensor<D>> {
        check_shapes(&model_output.dims(), &sample.dims())?;
        Ok(self
            .step_coefficients(i)?
            .apply_rng(sample, model_output, rng))
    }
}

/// The [`Sampler`] and [`LinearSampler`] of a sampler whose steps are its
/// `timesteps: Vec<usize>`, listed from `schedule`, `spacing` and
/// `prediction` fields, and whose step coefficients come from its own
/// `coefficients(i)` (DDIM, DDPM).
macro_rules! listed_linear_sampler {
    ($ty:ty) => {
        impl $crate::sampler::Sampler for $ty {
            fn set_timesteps(&mut self, n: usize) -> $crate::error::Result<()> {
                let ts = $crate::schedule::timesteps(self.schedule.len(), n, self.spacing)?;
                $crate::sampler::check_prediction(&self.schedule, &ts, self.prediction)?;
                self.timesteps = ts;
                Ok(())
            }

            fn num_steps(&self) -> usize {
                self.timesteps.len()
            }

            fn timesteps(&self) -> Vec<f64> {
                $crate::sampler::as_f64(&self.timesteps)
            }
        }

        impl $crate::sampler::LinearSampler for $ty {
            fn step_coefficients(
                &self,
                i: usize,
            ) -> $crate::error::Result<$crate::sampler::StepCoefficients> {
                self.coefficients(i)
            }
        }
    };
}
pub(crate) use listed_linear_sampler;

/// [`Error::StepOutOfRange`] unless `i < steps`.
pub(crate) fn check_index(i: usize, steps: usize) -> Result<()> {
    if i < steps {
        Ok(())
    } else {
        Err(Error::StepOutOfRange { index: i, steps })
    }
}

/// A shape error unless the model output has the sample's shape.
pub(crate) fn check_shapes(model_output: &[usize], sample: &[usize]) -> Result<()> {
    if model_output == sample {
        Ok(())
    } else {
        Err(gen_core::Error::Shape {
            what: "sampler step (model output against sample)",
            expected: format!("{sample:?}"),
            found: model_output.to_vec(),
        }
        .into())
    }
}

/// An invalid-config error unless the timesteps strictly decrease.
pub(crate) fn ensure_descending(timesteps: &[usize]) -> Result<()> {
    match timesteps.windows(2).find(|w| w[1] >= w[0]) {
        None => Ok(()),
        Some(w) => Err(gen_core::Error::config(
            "num_inference_steps",
            format!(
                "too many steps for this spacing: timestep {} repeats or rises to {}",
                w[0], w[1]
            ),
        )
        .into()),
    }
}

/// An invalid-config error when epsilon-prediction meets a timestep with
/// `alpha_bar = 0` (a zero-terminal-SNR schedule), where `x0` cannot be
/// recovered from the noise.
pub(crate) fn check_prediction(
    schedule: &NoiseSchedule,
    timesteps: &[usize],
    prediction: Prediction,
) -> Result<()> {
    let zero_snr = timesteps
        .iter()
        .any(|&t| schedule.alpha_bar(Some(t)) <= 0.0);
    if prediction == Prediction::Epsilon && zero_snr {
        return Err(gen_core::Error::config(
            "prediction",
            "epsilon-prediction is undefined at zero SNR: use v or sample with a zero-terminal-SNR schedule",
        )
        .into());
    }
    Ok(())
}

/// The timesteps as `f64`.
pub(crate) fn as_f64(timesteps: &[usize]) -> Vec<f64> {
    timesteps.iter().map(|&t| t as f64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recover_inverts_the_forward_process() {
        // x_t = sqrt(a) x0 + sqrt(1 - a) eps, with the model output the exact
        // target: recover gives back x0 and eps for every prediction type.
        let (x0, eps, a): (f64, f64, f64) = (0.7, -1.3, 0.3);
        let x = a.sqrt() * x0 + (1.0 - a).sqrt() * eps;
        for p in [Prediction::Epsilon, Prediction::V, Prediction::X0] {
            let (cx0, ceps) = p.target(a);
            let out = cx0 * x0 + ceps * eps;
            let ((x0x, x0o), (ex, eo)) = p.recover(a);
            assert!((x0x * x + x0o * out - x0).abs() < 1e-12, "{p:?}");
            assert!((ex * x + eo * out - eps).abs() < 1e-12, "{p:?}");
        }
    }

    #[test]
    fn helpers_report_typed_errors() {
        assert!(check_index(2, 2).is_err() && check_index(1, 2).is_ok());
        assert!(check_shapes(&[2, 3], &[2, 3]).is_ok());
        assert!(check_shapes(&[2, 3], &[3, 2]).is_err());
        assert!(ensure_descending(&[5, 3, 0]).is_ok());
        assert!(ensure_descending(&[5, 5, 0]).is_err());
    }
}
