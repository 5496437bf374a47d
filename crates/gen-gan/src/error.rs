//! gen-gan's error type.

/// A result with gen-gan's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong when building or training a GAN.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A gen-core error: invalid config, I/O, checkpoint, divergence...
    #[error(transparent)]
    Core(#[from] gen_core::Error),
    /// An image size the DCGAN layout cannot build.
    #[error(
        "invalid config: image_size {size} cannot be built: it must be s0 * 2^k with s0 in 4..=7 and k >= 1 (e.g. 28, 32, 64)"
    )]
    ImageSize {
        /// The size asked for.
        size: usize,
    },
}

/// Into gen-core's error for the trainer and the [`gen_core::Sample`]
/// API: gen-core's own errors unwrapped, the others kept whole in
/// [`gen_core::Error::Crate`] (`downcast_ref::<gen_gan::Error>()` gives
/// them back).
impl From<Error> for gen_core::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Core(e) => e,
            other => gen_core::Error::wrap(other),
        }
    }
}
