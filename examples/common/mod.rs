//! What every example does the same way: pick the device, report an error
//! with its causes and exit with code 1, print paths.
//!
//! Included by each example with `mod common;` (a folder with `mod.rs` is
//! not itself an example for Cargo).
#![allow(dead_code)] // each example uses its own subset

use std::path::Path;
use std::process::ExitCode;

use burn::tensor::Device;
use generative::core as gcore;

/// The device named by `--device`, else by `$GEN_DEVICE`, else flex.
///
/// # Errors
/// An unknown name, or a backend not compiled into this build.
pub fn device(name: Option<&str>) -> gcore::Result<Device> {
    match name {
        Some(name) => gcore::device::device(name),
        None => gcore::device::device_from_env(),
    }
}

/// Exit code 0, or the error and each of its causes on stderr and code 1.
pub fn exit<E: std::error::Error>(result: Result<(), E>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            let mut source = e.source();
            while let Some(s) = source {
                eprintln!("  caused by: {s}");
                source = s.source();
            }
            ExitCode::FAILURE
        }
    }
}

/// The absolute form of `path` when it exists, for messages.
pub fn display(path: &Path) -> String {
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}
