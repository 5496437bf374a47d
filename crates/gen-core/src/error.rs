//! The error type every crate of the family wraps.

use std::path::PathBuf;

/// A result with gen-core's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a user can get wrong, or that can go wrong outside the code:
/// configs, devices, files, checkpoints and numerics.
///
/// Model crates wrap it with `#[error(transparent)] Core(#[from] gen_core::Error)`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is out of its valid range.
    #[error("invalid config: `{field}` {reason}")]
    InvalidConfig {
        /// The field (or flag) that is wrong.
        field: &'static str,
        /// What was expected, and what was found.
        reason: String,
    },

    /// A device name that is not one of the known backends.
    #[error(
        "unknown device `{name}`: expected one of flex, ndarray, wgpu, cuda, or remote:ws://host:port"
    )]
    UnknownDevice {
        /// The name that was given.
        name: String,
    },

    /// A known backend that this build does not contain.
    #[error(
        "the `{backend}` backend is not compiled into this build: rebuild with `--features {feature}`"
    )]
    BackendNotCompiled {
        /// The backend that was asked for.
        backend: &'static str,
        /// The Cargo feature that turns it on.
        feature: &'static str,
    },

    /// A remote device that cannot be named, connected or kept.
    #[error(transparent)]
    Remote(#[from] crate::remote::RemoteError),

    /// A tensor whose shape does not fit what a function expects.
    #[error("shape mismatch in {what}: expected {expected}, found {found:?}")]
    Shape {
        /// What was being checked.
        what: &'static str,
        /// The expected shape, in words.
        expected: String,
        /// The shape that was found.
        found: Vec<usize>,
    },

    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A checkpoint that is missing a part, truncated, corrupt, or from
    /// another run.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// The checkpoint directory or file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// An output directory that already holds checkpoints of an earlier run,
    /// when the caller did not ask to resume.
    #[error(
        "{path} already holds checkpoints (latest: step {step}); resume from them or choose another output directory"
    )]
    WouldOverwrite {
        /// The output directory.
        path: PathBuf,
        /// The step of its latest checkpoint.
        step: u64,
    },

    /// An output directory another process is training into (it holds the
    /// folder's lock file); a crashed process's lock is released with it.
    #[error(
        "{path} is in use by another training process (it holds {lock}); wait for it to end or train into another folder"
    )]
    Busy {
        /// The output directory.
        path: PathBuf,
        /// Its lock file.
        lock: PathBuf,
    },

    /// Training produced a NaN or an infinity.
    #[error(
        "training diverged at step {step}: `{metric}` is {value}; the last good checkpoint is kept"
    )]
    NonFinite {
        /// The step that produced it (0-based).
        step: u64,
        /// The metric that is not finite.
        metric: String,
        /// The value.
        value: f64,
    },

    /// An image could not be encoded.
    #[error("{path}: cannot write image: {source}")]
    Image {
        /// The image path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: image::ImageError,
    },

    /// A model was asked for something it cannot do (e.g. labels for an
    /// unconditional model).
    #[error("{0}")]
    Unsupported(String),

    /// A dataset could not be read or is malformed.
    #[error("data: {0}")]
    Data(String),

    /// Weights could not be exchanged with PyTorch.
    #[error(transparent)]
    Interop(#[from] crate::interop::InteropError),

    /// A class label that does not fit the model.
    #[error(transparent)]
    Label(#[from] crate::labels::LabelError),

    /// An error of a model or data crate that is not one of gen-core's
    /// (an image size a DCGAN cannot build, a sampler step out of range,
    /// an unreadable dataset file...), kept whole on its way through the
    /// trainer: [`Error::downcast_ref`] gives it back with its variant.
    #[error(transparent)]
    Crate(Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl Error {
    /// Shorthand for [`Error::InvalidConfig`].
    pub fn config(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidConfig {
            field,
            reason: reason.into(),
        }
    }

    /// Shorthand for [`Error::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// Wraps a crate's own error ([`Error::Crate`]).
    pub fn wrap(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Crate(Box::new(error))
    }

    /// The crate error inside [`Error::Crate`], as its own type.
    ///
    /// ```
    /// use gen_core::Error;
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("bad size {0}")]
    /// struct SizeError(usize);
    /// let e = Error::wrap(SizeError(30));
    /// assert_eq!(e.downcast_ref::<SizeError>().map(|s| s.0), Some(30));
    /// assert_eq!(e.to_string(), "bad size 30");
    /// ```
    pub fn downcast_ref<E: std::error::Error + 'static>(&self) -> Option<&E> {
        match self {
            Self::Crate(inner) => inner.downcast_ref::<E>(),
            _ => None,
        }
    }

    /// Shorthand for [`Error::Checkpoint`].
    pub fn checkpoint(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::Checkpoint {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// Checks that `value > 0` (and finite): the usual rule for learning rates,
/// scales and temperatures.
pub fn ensure_positive(field: &'static str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(Error::config(field, format!("must be > 0, found {value}")))
    }
}

/// Checks that `value` lies in `[0, 1)`: the rule for Adam's betas,
/// LeakyReLU slopes and dropout rates.
pub fn ensure_unit_interval(field: &'static str, value: f64) -> Result<()> {
    if (0.0..1.0).contains(&value) {
        Ok(())
    } else {
        Err(Error::config(
            field,
            format!("must be in [0, 1), found {value}"),
        ))
    }
}

/// Checks that a count is at least 1.
pub fn ensure_nonzero(field: &'static str, value: usize) -> Result<()> {
    if value > 0 {
        Ok(())
    } else {
        Err(Error::config(field, "must be at least 1, found 0"))
    }
}

/// Implements [`FromStr`](std::str::FromStr) and
/// [`Display`](std::fmt::Display) for an enum without fields from a table
/// of names (each with optional aliases), so that command lines and
/// configs parse library enums directly. A name that is not in the table
/// is an [`Error::InvalidConfig`] on `field` listing the names.
///
/// ```
/// #[derive(Clone, Copy, Debug, PartialEq)]
/// enum Colour { Red, Green }
/// gen_core::enum_names!(Colour, "colour", { Colour::Red => "red" | "r", Colour::Green => "green" });
/// assert_eq!("r".parse::<Colour>()?, Colour::Red);
/// assert_eq!(Colour::Green.to_string(), "green");
/// let err = "blue".parse::<Colour>().unwrap_err().to_string();
/// assert!(err.contains("`blue` is not one of red, green"), "{err}");
/// # Ok::<(), gen_core::Error>(())
/// ```
#[macro_export]
macro_rules! enum_names {
    ($ty:ty, $field:literal, { $($variant:path => $name:literal $(| $alias:literal)*),+ $(,)? }) => {
        impl ::std::str::FromStr for $ty {
            type Err = $crate::Error;

            fn from_str(s: &str) -> ::std::result::Result<Self, Self::Err> {
                match s {
                    $($name $(| $alias)* => Ok($variant),)+
                    other => Err($crate::Error::config(
                        $field,
                        format!("`{other}` is not one of {}", [$($name),+].join(", ")),
                    )),
                }
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(match self {
                    $($variant => $name,)+
                })
            }
        }
    };
}
