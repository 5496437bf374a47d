//! # gen-diffusion: diffusion models on burn
//!
//! The home of the diffusion family. What is here:
//!
//! | module | what it holds |
//! |---|---|
//! | [`schedule`] | noise schedules (linear, scaled-linear, cosine, sigmoid, zero-terminal-SNR rescale) and timestep spacings, as plain `f64` numbers checked against diffusers |
//! | [`forward`] | the forward process `q(x_t \| x_0)` on tensors ([`add_noise`], per-example [`add_noise_batch`]) and each prediction type's training [`target`] |
//! | [`sampler`] | the sampler traits: [`Sampler`] (timesteps and scalars, host side) and [`SamplerStep`] (the step on tensors); [`Prediction`] (epsilon, v, x0) |
//! | [`ddpm`] | DDPM ancestral sampling, fixed-small or fixed-large variance |
//! | [`ddim`] | DDIM (eta = 0 deterministic, eta = 1 ancestral) |
//! | [`dpm_solver`] | DPM-Solver++(2M), diffusers' `DPMSolverMultistepScheduler` defaults |
//! | [`euler`] | the Euler sampler, diffusers' `EulerDiscreteScheduler` (sigmas, initial noise and model-input scaling) |
//! | [`error`] | [`Error`], which wraps [`gen_core::Error`] |
//!
//! Every sampler takes any schedule, the leading, linspace and trailing
//! spacings, and the three prediction types. The coefficients of a step are
//! computed in `f64` from the schedule; the step is one linear combination
//! of tensors; noise comes from [`gen_core::SeededRng`] on the host, so a
//! seed gives the same samples on every backend.
//!
//! A sampling loop (here with the exact noise predictor for data
//! `N(2, 0.5^2)`, `E[eps | x_t] = sqrt(1 - a) (x_t - 2 sqrt(a)) / (0.25 a + 1 - a)`,
//! in place of a trained model):
//!
//! ```
//! use burn::tensor::Tensor;
//! use gen_core::SeededRng;
//! use gen_diffusion::{BetaSchedule, DpmSolver, NoiseSchedule, Prediction, Sampler, SamplerStep, Spacing};
//!
//! # fn main() -> Result<(), gen_diffusion::Error> {
//! let device = gen_core::device::device("flex")?;
//! let schedule = NoiseSchedule::new(BetaSchedule::LINEAR, 1000)?;
//! let model = |x: Tensor<2>, t: f64| {
//!     let a = schedule.alpha_bar(Some(t as usize));
//!     (x - 2.0 * a.sqrt()) * ((1.0 - a).sqrt() / (0.25 * a + 1.0 - a))
//! };
//!
//! let mut sampler = DpmSolver::new(schedule.clone(), 20, Spacing::Linspace, Prediction::Epsilon)?;
//! let mut rng = SeededRng::new(0);
//! let mut x = sampler.initial_noise([2000, 1], &device, &mut rng);
//! for (i, t) in sampler.timesteps().into_iter().enumerate() {
//!     let out = model(sampler.scale_model_input(x.clone(), i)?, t);
//!     x = sampler.step(out, i, x, &mut rng)?;
//! }
//!
//! let mean: f32 = x.mean().into_scalar();
//! assert!((mean - 2.0).abs() < 0.05, "{mean}");
//! # Ok(())
//! # }
//! ```
//!
//! Still to come: denoisers (a UNet, an MLP for toy data) and training.
//! Models here will implement [`gen_core::Sample`] and train through
//! [`gen_core::TrainStep`] and [`gen_core::Trainer`].
//!
//! Invariant: a noise schedule holds no tensors and no weights.

pub mod ddim;
pub mod ddpm;
pub mod dpm_solver;
pub mod error;
pub mod euler;
pub mod forward;
pub mod sampler;
pub mod schedule;

pub use ddim::{Ddim, PrevTimestep};
pub use ddpm::{Ddpm, DdpmVariance};
pub use dpm_solver::{DpmSolver, MultistepCoefficients};
pub use error::{Error, Result};
pub use euler::Euler;
pub use forward::{add_noise, add_noise_batch, target};
pub use sampler::{Prediction, Sampler, SamplerStep, StepCoefficients};
pub use schedule::{BetaSchedule, NoiseSchedule, Spacing, timesteps};
