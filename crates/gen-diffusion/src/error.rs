//! gen-diffusion's error type.

/// A result with gen-diffusion's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong when building a sampler or taking a step.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A gen-core error: an invalid config (0 steps, more steps than the
    /// schedule has, a negative eta...) or a shape mismatch.
    #[error(transparent)]
    Core(#[from] gen_core::Error),

    /// A step index past the sampler's last step.
    #[error("step {index} is out of range: the sampler has {steps} steps")]
    StepOutOfRange {
        /// The index that was asked for.
        index: usize,
        /// The number of steps (`timesteps().len()`).
        steps: usize,
    },

    /// A training timestep past the schedule's end.
    #[error("timestep {t} is out of range: the schedule has {steps} training steps")]
    TimestepOutOfRange {
        /// The timestep that was asked for.
        t: usize,
        /// The number of training steps `T`.
        steps: usize,
    },

    /// An image size the UNet cannot halve `downsamples` times.
    #[error(
        "image size {size} is not divisible by 2^{downsamples} = {divisor}: the UNet halves it \
         once per level after the first; use fewer channel multipliers or another size"
    )]
    ImageSize {
        /// The configured height and width.
        size: usize,
        /// How many times the UNet halves the resolution.
        downsamples: usize,
        /// `2^downsamples`.
        divisor: usize,
    },
}

/// Into gen-core's error for the trainer and the [`gen_core::Sample`]
/// API: gen-core's own errors unwrapped, the others kept whole in
/// [`gen_core::Error::Crate`] (`downcast_ref::<gen_diffusion::Error>()`
/// gives them back).
impl From<Error> for gen_core::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Core(e) => e,
            other => gen_core::Error::wrap(other),
        }
    }
}
