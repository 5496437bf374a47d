//! `gen-serve`: serve this machine's devices to the generative family's
//! remote clients (burn's remote server).
//!
//! ```text
//! GEN_REMOTE_TOKEN=secret gen-serve --listen 0.0.0.0:3000 --device flex
//! GEN_REMOTE_TOKEN=secret gen-serve --iroh --key server.key --device cuda
//! ```
//!
//! The first line on stdout is the device name a client passes to
//! `--device` (`remote:ws://host:port`, `remote:iroh:<id>`); the server then
//! runs until Ctrl+C or SIGTERM. The token is read from `GEN_REMOTE_TOKEN`,
//! never from the command line; without one the server refuses to start
//! unless `--allow-anyone` says that every client that can reach it may use
//! its devices.

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;

use burn::server::{
    IrohIdentity, IrohRelays, IrohTransport, RemoteServer, TokenAuthorizer, Transport,
    WebSocketTransport,
};
use clap::Parser;
use gen_core::Backend;
use gen_core::remote::TOKEN_ENV;

/// Serve local devices to remote training and sampling clients.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The WebSocket address to listen on (port 0: one the system picks,
    /// printed on the first line). WebSocket is unencrypted: use it on a
    /// trusted network only, and `--iroh` otherwise.
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// Serve over Iroh (authenticated and encrypted) instead of WebSocket.
    #[arg(long)]
    iroh: bool,
    /// The Iroh identity file (created if missing), so the server keeps its
    /// id across restarts; a fresh identity each start otherwise.
    #[arg(long)]
    key: Option<PathBuf>,
    /// The UDP port Iroh binds, to be dialled directly (`remote:iroh:<id>@ip:port`).
    #[arg(long)]
    iroh_port: Option<u16>,
    /// Iroh without n0's public relays: clients must dial the address directly.
    #[arg(long)]
    no_relays: bool,
    /// A device to serve (flex, ndarray, wgpu, cuda); repeat for several of
    /// one backend. Clients pick one with `#index`.
    #[arg(long = "device", default_value = "flex")]
    devices: Vec<Backend>,
    /// Threads for the CPU backends (0: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Serve without a token: anyone who reaches the port may use the devices.
    #[arg(long)]
    allow_anyone: bool,
}

fn main() {
    if let Err(message) = run(Args::parse()) {
        eprintln!("gen-serve: {message}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<(), String> {
    if args.threads > 0 {
        rayon::ThreadPoolBuilder::new()
            .num_threads(args.threads)
            .build_global()
            .map_err(|e| e.to_string())?;
    }
    let devices = args
        .devices
        .iter()
        .map(|b| b.device().map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut server = RemoteServer::new(devices);
    match std::env::var(TOKEN_ENV) {
        Ok(token) if !token.is_empty() => {
            let auth = TokenAuthorizer::new(token).map_err(|_| "empty token".to_string())?;
            server = server.with_authorizer(auth);
        }
        _ if args.allow_anyone => {
            eprintln!("gen-serve: no {TOKEN_ENV}: serving every client that reaches the port");
        }
        _ => {
            return Err(format!(
                "set {TOKEN_ENV} to the token clients must present, or pass --allow-anyone"
            ));
        }
    }
    let names: Vec<&str> = args.devices.iter().map(|b| b.name()).collect();
    let (transport, name): (Transport, String) = if args.iroh {
        let identity = match &args.key {
            Some(path) => IrohIdentity::load_or_create(path)
                .map_err(|e| format!("{}: {e}", path.display()))?,
            None => IrohIdentity::random(),
        };
        let mut iroh = IrohTransport::new(identity);
        if args.no_relays {
            iroh = iroh.with_relays(IrohRelays::Disabled);
        }
        if let Some(port) = args.iroh_port {
            iroh = iroh.with_port(port);
        }
        let name = match args.iroh_port {
            Some(port) if args.no_relays => {
                format!("remote:iroh:{}@{}:{port}", iroh.id(), args.listen.ip())
            }
            _ => format!("remote:iroh:{}", iroh.id()),
        };
        (iroh.into(), name)
    } else {
        let listener =
            TcpListener::bind(args.listen).map_err(|e| format!("{}: {e}", args.listen))?;
        let bound = listener.local_addr().map_err(|e| e.to_string())?;
        (
            WebSocketTransport::from_listener(listener).into(),
            format!("remote:ws://{bound}"),
        )
    };
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{name}");
    let _ = out.flush();
    eprintln!("gen-serve: serving {} on {name}", names.join(", "));
    server.serve(transport).map_err(|e| e.to_string())
}
