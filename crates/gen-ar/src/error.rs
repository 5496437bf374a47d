//! gen-ar's error type.

/// A result with gen-ar's [`ArError`].
pub type Result<T, E = ArError> = std::result::Result<T, E>;

/// What can go wrong with a language model beyond gen-core's errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArError {
    /// A gen-core error: invalid config, I/O, checkpoint, divergence...
    #[error(transparent)]
    Core(#[from] gen_core::Error),
    /// Characters a character tokenizer does not know.
    #[error("{} not in the model's vocabulary: {}", if chars.len() == 1 { "a character is" } else { "characters are" }, chars.iter().map(|c| format!("{c:?}")).collect::<Vec<_>>().join(", "))]
    UnknownChars {
        /// Each unknown character, once, in order of appearance.
        chars: Vec<char>,
    },
    /// A byte-pair encoding that cannot be built, read or used.
    #[error("byte-pair encoding: {0}")]
    Bpe(String),
    /// A GPT-2-format checkpoint that this model cannot read.
    #[error("{path}: {reason}")]
    Weights {
        /// The file or folder.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Into gen-core's error for the trainer: gen-core's own errors unwrapped,
/// the others kept whole in [`gen_core::Error::Crate`].
impl From<ArError> for gen_core::Error {
    fn from(e: ArError) -> Self {
        match e {
            ArError::Core(e) => e,
            other => gen_core::Error::wrap(other),
        }
    }
}
