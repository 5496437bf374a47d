//! PyTorch weights from outside: any bytes given to the safetensors and
//! `torch.save` loaders must load or give an `InteropError`, never a panic
//! or a huge allocation.
#![no_main]

use generative_fuzz::{scratch, tiny};
use gen_core::interop::{load_pytorch, load_safetensors, load_safetensors_bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = load_safetensors_bytes(tiny(), data.to_vec());
    let dir = scratch("interop");
    let st = dir.join("model.safetensors");
    std::fs::write(&st, data).unwrap();
    let _ = load_safetensors(tiny(), &st);
    let pt = dir.join("model.pt");
    std::fs::write(&pt, data).unwrap();
    let _ = load_pytorch(tiny(), &pt, None);
    let _ = load_pytorch(tiny(), &pt, Some("model"));
});
