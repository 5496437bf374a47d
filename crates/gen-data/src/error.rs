//! gen-data's error type.

/// A result with gen-data's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong while reading or preparing data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A gen-core error (invalid config, I/O...).
    #[error(transparent)]
    Core(#[from] gen_core::Error),

    /// A text record that does not parse.
    #[error("{source_name}, line {line}: {reason}")]
    Parse {
        /// Which data (file or embedded set).
        source_name: String,
        /// The 1-based line number.
        line: usize,
        /// What was wrong.
        reason: String,
    },

    /// A dataset that parsed but does not have the expected content.
    #[error("{source_name}: {reason}")]
    Invalid {
        /// Which data.
        source_name: String,
        /// What was wrong.
        reason: String,
    },
}

impl From<Error> for gen_core::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Core(e) => e,
            other => gen_core::Error::Data(other.to_string()),
        }
    }
}
