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

impl From<Error> for gen_core::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Core(e) => e,
            Error::ImageSize { size } => gen_core::Error::config(
                "image_size",
                format!("{size} is not s0 * 2^k with s0 in 4..=7 and k >= 1"),
            ),
        }
    }
}
