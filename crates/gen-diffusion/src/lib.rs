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
//! | [`denoiser`] | the [`Denoiser`] trait: flat `[B, F]` data, float timesteps, optional class labels with a null class |
//! | [`unet`] | [`UNet`]: residual blocks with GroupNorm and SiLU, self-attention at low resolutions, sized by [`UNetConfig`] for 28x28, 32x32, 64x64; [`UNetLayout::Compact`] is the PyTorch benchmark's UNet |
//! | [`mlp_denoiser`] | [`MlpDenoiser`] for low-dimensional (toy 2-D) data |
//! | [`train`] | [`DiffusionTrainer`]: gen-core's `TrainStep` + `Stateful`; epsilon / v / x0 targets, uniform or min-SNR-gamma weights, Adam, EMA weights, label dropout for classifier-free guidance |
//! | [`sample`](mod@sample) | the sampling loop ([`sample()`], [`sample_trajectory`]), classifier-free guidance ([`guided_output`]), and [`Diffusion`], which implements [`gen_core::Sample`] |
//! | [`saved`] | a saved model rebuilt from its checkpoint's model card ([`SavedDiffusion`], [`SavedDenoiser`], [`DiffusionModelConfig`]) |
//! | [`vlb`] | the variational bound (prior, diffusion KL terms, discretised decoder) in bits per dimension, by stratified Monte Carlo over timesteps |
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
//! Training goes through [`gen_core::Trainer`] with a [`DiffusionTrainer`];
//! sampling a trained network is the same loop with the network (usually
//! the EMA copy, [`DiffusionTrainer::ema`]) in place of `model`, which
//! [`sample()`] runs, with classifier-free guidance for class-conditional
//! networks.
//!
//! Invariant: a noise schedule holds no tensors and no weights.

pub mod ddim;
pub mod ddpm;
pub mod denoiser;
pub mod dpm_solver;
pub mod error;
pub mod euler;
pub mod forward;
pub mod mlp_denoiser;
pub mod sample;
pub mod sampler;
pub mod saved;
pub mod schedule;
pub mod train;
pub mod unet;
pub mod vlb;

pub use ddim::{Ddim, PrevTimestep};
pub use ddpm::{Ddpm, DdpmVariance};
pub use denoiser::{Denoiser, DenoiserConfig};
pub use dpm_solver::{DpmSolver, MultistepCoefficients};
pub use error::{Error, Result};
pub use euler::Euler;
pub use forward::{add_noise, add_noise_batch, target};
pub use mlp_denoiser::{MlpDenoiser, MlpDenoiserConfig};
pub use sample::{
    Diffusion, SamplerKind, Snapshot, Trajectory, guided_output, sample, sample_trajectory,
};
pub use sampler::{LinearSampler, Prediction, Sampler, SamplerStep, StepCoefficients};
pub use saved::{DiffusionModelConfig, FAMILY, SavedDenoiser, SavedDiffusion};
pub use schedule::{BetaSchedule, NoiseSchedule, Spacing, timesteps};
pub use train::{DiffusionTrainer, DiffusionTrainingConfig, LossWeighting};
pub use unet::{CompactUNet, FullUNet, UNet, UNetConfig, UNetLayout};
pub use vlb::VlbEstimate;
