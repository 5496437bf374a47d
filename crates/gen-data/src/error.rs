//! gen-data's error type: every variant names the file and what was wrong.

use std::path::PathBuf;

/// A result with gen-data's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong while reading or preparing data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A gen-core error (invalid config...).
    #[error(transparent)]
    Core(#[from] gen_core::Error),

    /// A file or folder that cannot be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A file whose content is not the expected format (wrong magic,
    /// truncated, a header that does not match the data...).
    #[error("{path}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// A file whose checksum is not the published one.
    #[error(
        "{path}: sha256 {found} is not the published {expected}; \
         if this is a deliberately modified copy, accept it with `Verify::AcceptModified`"
    )]
    Checksum {
        /// The file.
        path: PathBuf,
        /// The published sha256.
        expected: String,
        /// The sha256 of the file.
        found: String,
    },

    /// A dataset file or folder that is not there.
    #[error("{path}: not found ({hint})")]
    Missing {
        /// What was looked for.
        path: PathBuf,
        /// How to get it.
        hint: String,
    },

    /// An image that cannot be decoded.
    #[error("{path}: cannot decode image: {reason}")]
    Image {
        /// The image file.
        path: PathBuf,
        /// The decoder's message.
        reason: String,
    },

    /// A download that failed (only with the `download` feature).
    #[error("{url}: download failed: {reason}")]
    Download {
        /// The URL.
        url: String,
        /// What happened.
        reason: String,
    },

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

impl Error {
    /// Shorthand for [`Error::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<Error> for gen_core::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Core(e) => e,
            other => gen_core::Error::wrap(other),
        }
    }
}
