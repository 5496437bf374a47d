//! What the fuzz targets share: a tiny model to load outside bytes into,
//! and a scratch folder per process.

use std::path::PathBuf;
use std::sync::OnceLock;

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::Device;
use gen_core::interop::TorchModule;

/// A model whose PyTorch twin is `nn.Sequential(nn.Linear(3, 2))`.
#[derive(Module, Debug)]
pub struct Tiny {
    fc: Linear,
}

impl TorchModule for Tiny {
    fn torch_key(&self, path: &str) -> String {
        path.replace("fc.", "0.")
    }
}

/// A fresh [`Tiny`] on the CPU.
pub fn tiny() -> Tiny {
    Tiny {
        fc: LinearConfig::new(3, 2).init(&Device::flex()),
    }
}

/// A scratch folder for this process, removed by the OS's temp cleaning
/// (libFuzzer runs one input at a time per process).
pub fn scratch(name: &str) -> PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    let root = ROOT.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("generative-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch folder");
        dir
    });
    let path = root.join(name);
    let _ = std::fs::remove_dir_all(&path);
    std::fs::create_dir_all(&path).expect("a scratch folder");
    path
}

/// Splits an input in two at the first `0xff` byte (or at its end).
pub fn split(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == 0xff) {
        Some(k) => (&data[..k], &data[k + 1..]),
        None => (data, &[]),
    }
}
