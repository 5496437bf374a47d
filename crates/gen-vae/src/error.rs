//! gen-vae's error type.

/// A result with gen-vae's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong when building, training or evaluating a VAE.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A gen-core error: invalid config, I/O, checkpoint, divergence...
    #[error(transparent)]
    Core(#[from] gen_core::Error),
}

impl From<Error> for gen_core::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Core(e) => e,
        }
    }
}
