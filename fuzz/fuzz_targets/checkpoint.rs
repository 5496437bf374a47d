//! A checkpoint from outside: any manifest (state.json) and any part bytes
//! must give a loaded model or a typed error, never a panic, a file read
//! outside the checkpoint's folder, or a huge allocation.
//!
//! The input is `manifest 0xff part`. The part is tried twice: under the
//! fuzzed manifest, and under a manifest with its true length and CRC (so
//! that the record parser sees bytes past the checksum).
#![no_main]

use generative_fuzz::{scratch, split, tiny};
use gen_core::checkpoint::{CheckpointStore, FORMAT};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (manifest, part) = split(data);
    let dir = scratch("checkpoints").join("step-000000000004");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("model.bpk"), part).unwrap();
    std::fs::write(dir.join("notes.json"), part).unwrap();

    std::fs::write(dir.join("state.json"), manifest).unwrap();
    if let Ok(reader) = CheckpointStore::open(&dir) {
        let _ = reader.module("model", tiny());
        let _ = reader.json::<serde_json::Value>("notes");
        for p in &reader.manifest().parts {
            let _ = reader.bytes(&p.name);
        }
    }

    let parts: Vec<serde_json::Value> = ["model.bpk", "notes.json"]
        .iter()
        .map(|file| {
            serde_json::json!({
                "name": file.split('.').next().unwrap(),
                "file": file,
                "bytes": part.len(),
                "crc32": crc32fast::hash(part),
            })
        })
        .collect();
    let honest = serde_json::json!({
        "format": FORMAT,
        "step": 4,
        "rng": gen_core::SeededRng::new(0),
        "run_config": null,
        "parts": parts,
    });
    std::fs::write(dir.join("state.json"), honest.to_string()).unwrap();
    let reader = CheckpointStore::open(&dir).expect("an honest manifest opens");
    let _ = reader.module("model", tiny());
    let _ = reader.json::<serde_json::Value>("notes");
});
