//! The one place that maps a backend name to a burn [`Device`].
//!
//! burn 0.22 keeps the backend inside the runtime [`Device`], so every model
//! of the family is backend-generic by taking `&Device`. Which backends exist
//! is decided at build time by this crate's Cargo features; which one runs is
//! decided at run time by a name (`--device` flag, or the `GEN_DEVICE`
//! environment variable).
//!
//! ```
//! use gen_core::device::{Backend, device};
//!
//! let dev = device("flex")?;
//! assert_eq!("FLEX".parse::<Backend>()?, Backend::Flex);
//! # Ok::<(), gen_core::Error>(())
//! ```

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;

use crate::error::{Error, Result};

/// The environment variable read by [`device_from_env`].
pub const DEVICE_ENV: &str = "GEN_DEVICE";

/// The backends the family knows, whether compiled in or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// burn's pure-Rust CPU backend (the default, and the fast one on CPU).
    Flex,
    /// burn's ndarray CPU backend (deprecated upstream; kept working).
    NdArray,
    /// The wgpu GPU backend (Vulkan, Metal, DX12; Mesa's lavapipe on a CPU).
    Wgpu,
    /// The CUDA backend (NVIDIA GPUs), device 0.
    Cuda,
}

impl Backend {
    /// Every backend, in the order they are listed to users.
    pub const ALL: [Backend; 4] = [
        Backend::Flex,
        Backend::NdArray,
        Backend::Wgpu,
        Backend::Cuda,
    ];

    /// The name used on the command line and in `GEN_DEVICE`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Flex => "flex",
            Backend::NdArray => "ndarray",
            Backend::Wgpu => "wgpu",
            Backend::Cuda => "cuda",
        }
    }

    /// The Cargo feature (of this crate and of every crate of the family)
    /// that compiles the backend in.
    pub fn feature(self) -> &'static str {
        self.name()
    }

    /// Whether this build contains the backend.
    pub fn is_compiled(self) -> bool {
        match self {
            Backend::Flex => cfg!(feature = "flex"),
            Backend::NdArray => cfg!(feature = "ndarray"),
            Backend::Wgpu => cfg!(feature = "wgpu"),
            Backend::Cuda => cfg!(feature = "cuda"),
        }
    }

    /// The backends compiled into this build.
    pub fn compiled() -> Vec<Backend> {
        Self::ALL.into_iter().filter(|b| b.is_compiled()).collect()
    }

    /// The burn device for this backend (without autodiff).
    ///
    /// # Errors
    /// [`Error::BackendNotCompiled`] when the feature is off.
    pub fn device(self) -> Result<Device> {
        let missing = Error::BackendNotCompiled {
            backend: self.name(),
            feature: self.feature(),
        };
        match self {
            #[cfg(feature = "flex")]
            Backend::Flex => Ok(Device::flex()),
            #[cfg(feature = "ndarray")]
            #[allow(deprecated)]
            // ndarray is deprecated upstream; the design card keeps it.
            Backend::NdArray => Ok(Device::ndarray()),
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => Ok(Device::wgpu(burn::tensor::DeviceKind::default())),
            #[cfg(feature = "cuda")]
            Backend::Cuda => Ok(Device::cuda(0)),
            #[allow(unreachable_patterns)]
            _ => Err(missing),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let lower = s.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|b| b.name() == lower)
            .ok_or_else(|| Error::UnknownDevice {
                name: s.to_string(),
            })
    }
}

/// Parses a device name and returns its device: a backend name, `cuda:N`
/// for the N-th CUDA device, or `remote:...` for a device on a burn remote
/// server (see
/// [`remote`](crate::remote); connected before this returns).
///
/// # Errors
/// [`Error::UnknownDevice`] for a name that is no backend,
/// [`Error::BackendNotCompiled`] for one whose feature is off,
/// [`Error::Remote`] for a remote device that cannot be connected.
pub fn device(name: &str) -> Result<Device> {
    let name = name.trim();
    if let Some(spec) = name.strip_prefix("remote:") {
        return spec.parse::<crate::remote::RemoteSpec>()?.connect();
    }
    match name.split_once(':') {
        Some((backend, index)) if backend.eq_ignore_ascii_case("cuda") => {
            let index = index.parse::<usize>().map_err(|_| Error::UnknownDevice {
                name: name.to_string(),
            })?;
            cuda(index)
        }
        _ => name.parse::<Backend>()?.device(),
    }
}

/// CUDA device `index` (`cuda:1`).
fn cuda(index: usize) -> Result<Device> {
    #[cfg(feature = "cuda")]
    {
        Ok(Device::cuda(index))
    }
    #[cfg(not(feature = "cuda"))]
    {
        let _ = index;
        Err(Error::BackendNotCompiled {
            backend: "cuda",
            feature: "cuda",
        })
    }
}

/// Parses a comma-separated list of device names (`--devices`), the main
/// device first.
///
/// # Errors
/// As [`device`], for the first name that fails; [`Error::InvalidConfig`]
/// for an empty list.
pub fn devices(names: &str) -> Result<Vec<Device>> {
    let list: Vec<&str> = names
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if list.is_empty() {
        return Err(Error::config("devices", "names no device"));
    }
    list.into_iter().map(device).collect()
}

/// The device named by `GEN_DEVICE`, or flex when it is unset or empty.
///
/// # Errors
/// As [`device`], for the name found in the environment.
pub fn device_from_env() -> Result<Device> {
    match std::env::var(DEVICE_ENV) {
        Ok(name) if !name.trim().is_empty() => device(&name),
        _ => Backend::Flex.device(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for b in Backend::ALL {
            assert_eq!(b.name().parse::<Backend>().unwrap(), b);
            assert_eq!(b.to_string(), b.name());
        }
        assert_eq!(" Wgpu ".parse::<Backend>().unwrap(), Backend::Wgpu);
    }

    #[test]
    fn unknown_name_is_a_typed_error() {
        let err = device("tpu").unwrap_err();
        assert!(matches!(err, Error::UnknownDevice { .. }));
        assert!(
            err.to_string()
                .contains("expected one of flex, ndarray, wgpu, cuda, or remote:")
        );
    }

    #[test]
    fn missing_backend_names_its_feature() {
        for b in Backend::ALL.into_iter().filter(|b| !b.is_compiled()) {
            let msg = b.device().unwrap_err().to_string();
            assert!(
                msg.contains(&format!("--features {}", b.feature())),
                "{msg}"
            );
        }
    }

    #[test]
    fn indexed_and_remote_names_are_checked() {
        assert!(matches!(
            device("cuda:x").unwrap_err(),
            Error::UnknownDevice { .. }
        ));
        if !Backend::Cuda.is_compiled() {
            assert!(matches!(
                device("cuda:1").unwrap_err(),
                Error::BackendNotCompiled {
                    backend: "cuda",
                    ..
                }
            ));
        }
        assert!(matches!(
            device("remote:http://x").unwrap_err(),
            Error::Remote(crate::remote::RemoteError::Address { .. })
        ));
        if !cfg!(feature = "remote") {
            assert!(matches!(
                device("remote:ws://127.0.0.1:9").unwrap_err(),
                Error::BackendNotCompiled {
                    feature: "remote",
                    ..
                }
            ));
        }
        assert!(devices(" , ").is_err());
        assert_eq!(devices("flex, flex").unwrap().len(), 2);
    }

    #[test]
    fn flex_is_compiled_by_default() {
        assert!(Backend::Flex.is_compiled());
        assert!(device("flex").is_ok());
    }
}
