//! Devices hosted by a burn remote server, named like any other device.
//!
//! A remote device runs every tensor operation on a server (the `gen-serve`
//! binary, or any program serving burn's `RemoteServer`) in another process
//! on this machine or another. The autodiff graph, the optimizer's
//! bookkeeping and the host-side randomness stay in this process; only
//! tensor operations and data travel. Names (for `--device`, `--devices`
//! and [`device`](crate::device::device)):
//!
//! | name | server |
//! |---|---|
//! | `remote:ws://host:port` | WebSocket (unencrypted: trusted networks only) |
//! | `remote:iroh:<id>` | Iroh (authenticated, encrypted), found through n0's relays |
//! | `remote:iroh:<id>@ip:port` | Iroh at a direct address, relays off |
//!
//! A `#k` suffix picks the server's device `k` (`remote:ws://gpu:3000#1`);
//! device 0 otherwise. The token the server's authorizer checks is read from
//! [`TOKEN_ENV`], never from the command line (where `ps` would show it).
//!
//! Connecting happens when the device is named: an unreachable server, a
//! refused token or a missing device index is an [`Error::Remote`] at once.
//! A server lost in the middle of a run surfaces from the
//! [`Trainer`](crate::Trainer) as [`RemoteError::Lost`]; the newest
//! checkpoint is untouched and the run can be resumed.

use crate::error::{Error, Result};

/// The environment variable holding the token sent to remote servers.
pub const TOKEN_ENV: &str = "GEN_REMOTE_TOKEN";

/// What went wrong with a remote device. The variants exist whether or not
/// the `remote` feature is compiled in, so a match on them always holds.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteError {
    /// A device name after `remote:` that is not one of the forms above.
    #[error(
        "`remote:{spec}` is not a remote device: {reason} (expected remote:ws://host:port, \
         remote:iroh:<id> or remote:iroh:<id>@ip:port, optionally followed by #index)"
    )]
    Address {
        /// What followed `remote:`.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No server answered: it is not running, or not at that address.
    #[error("the remote server {host} cannot be reached: {reason}")]
    Unreachable {
        /// The server, as named.
        host: String,
        /// burn-remote's reason.
        reason: String,
    },
    /// The server's authorizer refused the token (or its absence).
    #[error(
        "the remote server {host} refused the token: set {TOKEN_ENV} to the token the server \
         was started with"
    )]
    Unauthorized {
        /// The server, as named.
        host: String,
    },
    /// The server hosts fewer devices than the index asked for.
    #[error("the remote server {host} has no device #{index} (it hosts {count})")]
    NoSuchDevice {
        /// The server, as named.
        host: String,
        /// The index asked for.
        index: usize,
        /// How many devices it hosts.
        count: usize,
    },
    /// The server was reached but the session could not be opened (another
    /// burn release, a broken handshake, a bad Iroh setting).
    #[error("the remote server {host} could not open a session: {reason}")]
    Session {
        /// The server, as named.
        host: String,
        /// burn-remote's reason.
        reason: String,
    },
    /// A server stopped answering in the middle of a run. Nothing was
    /// written after the last good checkpoint: resume once it is back.
    #[error(
        "a remote device was lost during training ({reason}); the newest checkpoint is intact: \
         resume when the server is back"
    )]
    Lost {
        /// What the failure said.
        reason: String,
    },
}

/// Set once a remote device has been connected in this process.
static CONNECTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether this process has connected a remote device.
pub fn any_connected() -> bool {
    CONNECTED.load(std::sync::atomic::Ordering::Relaxed)
}

/// The text of a panic's payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "the remote backend failed".to_string()
    }
}

/// Whether `device` (or the device an autodiff device wraps) is remote.
pub fn is_remote(device: &burn::tensor::Device) -> bool {
    // The dispatch enum's variant names are burn's; its Debug form is the one
    // stable view of them without naming the feature-gated variant.
    format!("{:?}", device.clone().inner().as_dispatch()).starts_with("Remote")
}

/// One parsed remote device name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteSpec {
    /// The transport and address.
    pub host: RemoteHostSpec,
    /// The server's device index.
    pub index: usize,
}

/// Where a remote server is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RemoteHostSpec {
    /// A WebSocket URL (`ws://host:port`).
    WebSocket(String),
    /// An Iroh endpoint id, with a direct address or through the relays.
    Iroh {
        /// The server's endpoint id (its public key).
        id: String,
        /// A direct `ip:port`; `None` dials through n0's relays.
        address: Option<std::net::SocketAddr>,
    },
}

impl std::fmt::Display for RemoteHostSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::WebSocket(url) => f.write_str(url),
            Self::Iroh { id, address: None } => write!(f, "iroh:{id}"),
            Self::Iroh {
                id,
                address: Some(a),
            } => write!(f, "iroh:{id}@{a}"),
        }
    }
}

impl std::str::FromStr for RemoteSpec {
    type Err = Error;

    /// Parses what follows `remote:`.
    fn from_str(spec: &str) -> Result<Self> {
        let bad = |reason: &str| {
            Error::Remote(RemoteError::Address {
                spec: spec.to_string(),
                reason: reason.to_string(),
            })
        };
        let (target, index) = match spec.rsplit_once('#') {
            Some((target, index)) => (
                target,
                index
                    .parse::<usize>()
                    .map_err(|_| bad("the device index after `#` is not a number"))?,
            ),
            None => (spec, 0),
        };
        let host = if let Some(rest) = target.strip_prefix("ws://") {
            if rest.is_empty() || rest.starts_with(':') {
                return Err(bad("the WebSocket URL has no host"));
            }
            RemoteHostSpec::WebSocket(target.to_string())
        } else if let Some(rest) = target.strip_prefix("iroh:") {
            let (id, address) = match rest.split_once('@') {
                Some((id, addr)) => (
                    id,
                    Some(
                        addr.parse()
                            .map_err(|_| bad("the address after `@` is not ip:port"))?,
                    ),
                ),
                None => (rest, None),
            };
            if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad(
                    "an Iroh endpoint id is 64 hexadecimal digits (gen-serve prints it)",
                ));
            }
            RemoteHostSpec::Iroh {
                id: id.to_ascii_lowercase(),
                address,
            }
        } else {
            return Err(bad("the transport is neither ws:// nor iroh:"));
        };
        Ok(Self { host, index })
    }
}

impl RemoteSpec {
    /// Connects the device, with the token from [`TOKEN_ENV`] if set.
    ///
    /// # Errors
    /// [`Error::BackendNotCompiled`] without the `remote` feature; an
    /// [`Error::Remote`] naming the server when it cannot be connected.
    pub fn connect(&self) -> Result<burn::tensor::Device> {
        let token = std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty());
        self.connect_with(token.as_deref())
    }

    /// Connects the device presenting `token` (none: the server must
    /// serve anyone).
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub fn connect_with(&self, token: Option<&str>) -> Result<burn::tensor::Device> {
        #[cfg(feature = "remote")]
        {
            connect::connect(self, token)
        }
        #[cfg(not(feature = "remote"))]
        {
            let _ = token;
            Err(Error::BackendNotCompiled {
                backend: "remote",
                feature: "remote",
            })
        }
    }
}

/// Connects the device `name` (`remote:...`, as printed by `gen-serve`)
/// presenting `token`, whatever [`TOKEN_ENV`] says.
///
/// # Errors
/// [`RemoteError::Address`] for a name that is not a remote device, and
/// as [`RemoteSpec::connect`].
pub fn connect(name: &str, token: Option<&str>) -> Result<burn::tensor::Device> {
    let spec = name.trim().strip_prefix("remote:").ok_or_else(|| {
        Error::Remote(RemoteError::Address {
            spec: name.to_string(),
            reason: "the name does not start with `remote:`".into(),
        })
    })?;
    spec.parse::<RemoteSpec>()?.connect_with(token)
}

#[cfg(feature = "remote")]
mod connect {
    use burn::remote::{ConnectError, EndpointId, IrohHost, IrohRelays, RemoteHost};
    use burn::tensor::Device;

    use super::{RemoteError, RemoteHostSpec, RemoteSpec};
    use crate::error::{Error, Result};

    pub(super) fn connect(spec: &RemoteSpec, token: Option<&str>) -> Result<Device> {
        let named = spec.host.to_string();
        let mut host = match &spec.host {
            RemoteHostSpec::WebSocket(url) => RemoteHost::websocket(url),
            RemoteHostSpec::Iroh { id, address } => {
                let id: EndpointId = id.parse().map_err(|e| {
                    Error::Remote(RemoteError::Address {
                        spec: named.clone(),
                        reason: format!("not an Iroh endpoint id: {e}"),
                    })
                })?;
                let iroh = match address {
                    Some(a) => IrohHost::new(id)
                        .with_relays(IrohRelays::Disabled)
                        .with_address(*a),
                    None => IrohHost::new(id),
                };
                RemoteHost::iroh(iroh)
            }
        };
        if let Some(token) = token {
            host = host.with_credential(token);
        }
        let device = Device::remote_options(&host)
            .device_index(spec.index)
            .init()
            .map_err(|e| Error::Remote(classify(e, named, spec.index)))?;
        super::CONNECTED.store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(device)
    }

    fn classify(err: ConnectError, host: String, index: usize) -> RemoteError {
        match err {
            ConnectError::Unreachable { reason } => RemoteError::Unreachable { host, reason },
            ConnectError::NoAddress => RemoteError::Unreachable {
                host,
                reason: "no address to dial and no relay to look one up".into(),
            },
            ConnectError::Unauthorized => RemoteError::Unauthorized { host },
            ConnectError::NoSuchDevice { device_count } => RemoteError::NoSuchDevice {
                host,
                index,
                count: device_count,
            },
            other => RemoteError::Session {
                host,
                reason: other.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<RemoteSpec> {
        s.parse()
    }

    #[test]
    fn names_parse() {
        let ws = parse("ws://127.0.0.1:3000#1").unwrap();
        assert_eq!(
            ws.host,
            RemoteHostSpec::WebSocket("ws://127.0.0.1:3000".into())
        );
        assert_eq!(ws.index, 1);
        let id = "ab".repeat(32);
        let iroh = parse(&format!("iroh:{id}@127.0.0.1:4000")).unwrap();
        assert_eq!(iroh.index, 0);
        assert_eq!(iroh.host.to_string(), format!("iroh:{id}@127.0.0.1:4000"));
        assert!(matches!(
            parse(&format!("iroh:{id}")).unwrap().host,
            RemoteHostSpec::Iroh { address: None, .. }
        ));
    }

    #[test]
    fn bad_names_are_typed_errors() {
        for bad in [
            "http://host:3000",
            "ws://",
            "ws://h:1#x",
            "iroh:1234",
            "iroh:zz@1.2.3.4:5",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(
                matches!(err, Error::Remote(RemoteError::Address { .. })),
                "{bad}: {err}"
            );
        }
        let id = "ab".repeat(32);
        let err = parse(&format!("iroh:{id}@nowhere")).unwrap_err();
        assert!(err.to_string().contains("ip:port"), "{err}");
    }

    #[test]
    fn local_devices_are_not_remote() {
        assert!(!is_remote(&burn::tensor::Device::flex()));
        assert!(!is_remote(&burn::tensor::Device::flex().autodiff()));
    }
}
