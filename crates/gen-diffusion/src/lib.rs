//! # gen-diffusion: diffusion models on burn
//!
//! The home of the diffusion family. What is here:
//!
//! | module | what it holds |
//! |---|---|
//! | [`ddim`] | the DDIM sampler (eta = 0 deterministic, eta = 1 ancestral), for epsilon, v and x0 prediction |
//! | [`schedule`] | noise schedules (linear, scaled-linear, cosine, sigmoid, zero-terminal-SNR rescale) and timestep spacings, as plain `f64` numbers checked against diffusers |
//!
//! Still to come: the other samplers (DDPM, DPM-Solver++, Euler), denoisers (a UNet, an MLP for toy data) and
//! training. Models here will implement [`gen_core::Sample`] and train
//! through [`gen_core::TrainStep`] and [`gen_core::Trainer`].
//!
//! Invariant: a noise schedule holds no tensors and no weights.

pub mod ddim;
pub mod schedule;

pub use ddim::{Ddim, Prediction, PrevTimestep, StepCoefficients};
pub use schedule::{BetaSchedule, NoiseSchedule, Spacing, timesteps};
