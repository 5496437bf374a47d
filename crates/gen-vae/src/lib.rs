//! # gen-vae: variational autoencoders on burn
//!
//! The home of the VAE family in the workspace: MLP and convolutional VAEs,
//! beta-VAE, the conditional VAE and the importance-weighted bound. None of
//! them is implemented yet; the crate exists so that the workspace has its
//! final shape and the dependency rules (model crates depend on `gen-core`
//! only, never on each other) are enforced from the start.
//!
//! Models here will implement [`gen_core::Sample`] and train through
//! [`gen_core::TrainStep`] and [`gen_core::Trainer`].

pub use gen_core;
