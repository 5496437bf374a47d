//! The shared optimisation layer: one way to update weights for every
//! family.
//!
//! | item | what it is |
//! |---|---|
//! | [`OptimConfig`] | burn's Adam or AdamW ([`OptimizerKind`]), a learning-rate schedule ([`LrSchedule`], burn's schedulers), gradient clipping ([`GradClip`]), an optional moving average ([`EmaConfig`]) |
//! | [`Optimized`] | a module with all of that, its update count, checkpoint part names ([`Parts`]) and the guard |
//! | [`Ema`] | the moving average of a module's weights, one rule for every family |
//! | [`Guarded`], [`settle`], [`Diverged`] | the guard: a step whose loss is not finite changes nothing |
//!
//! A family's trainer is its objective: it computes a loss from a batch and
//! hands it to [`Optimized::update`]; a GAN holds two `Optimized` modules.

mod clip;
mod config;
mod ema;
mod guard;
mod optimized;
mod sharded;

pub use config::{EmaConfig, GradClip, LrSchedule, OptimConfig, OptimizerKind};
pub use ema::Ema;
pub use guard::{Diverged, Guarded, settle};
pub use optimized::{Optimized, Parts};
pub use sharded::Share;
