//! # gen-diffusion: diffusion models on burn
//!
//! The home of the diffusion family in the workspace: noise schedules (plain
//! `f64` numbers, no tensors), samplers kept separate from models (DDPM,
//! DDIM, DPM-Solver++, Euler), and denoisers (a UNet, an MLP for toy data).
//! None of them is implemented yet; the crate exists so that the workspace
//! has its final shape and the dependency rules (model crates depend on
//! `gen-core` only, never on each other) are enforced from the start.
//!
//! Models here will implement [`gen_core::Sample`] and train through
//! [`gen_core::TrainStep`] and [`gen_core::Trainer`].

pub use gen_core;
