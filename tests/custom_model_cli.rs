//! The worked example of a model of one's own (examples/custom_model.rs):
//! it learns, its curves are drawn, and a run stopped and resumed gives the same losses at every
//! step as one that was not.
//!
//! `cargo test` builds the examples first; this runs the one it built.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn example() -> PathBuf {
    common::example_binary("custom_model")
}

fn run(out: &Path, steps: u64, resume: bool) -> String {
    let mut cmd = Command::new(example());
    cmd.args(["--device", "flex", "--checkpoint-every", "20"])
        .args(["--steps", &steps.to_string()])
        .arg("--out")
        .arg(out)
        .env_remove("GEN_DEVICE");
    if resume {
        cmd.arg("--resume");
    }
    let result = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success(), "{stderr}");
    String::from_utf8_lossy(&result.stdout).into_owned()
}

/// The `nll` of every step in `metrics.jsonl`.
fn losses(out: &Path) -> Vec<f64> {
    std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["nll"]
                .as_f64()
                .unwrap()
        })
        .collect()
}

#[test]
fn the_custom_model_learns_and_resumes_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let straight = tmp.path().join("straight");
    let printed = run(&straight, 60, false);
    assert!(printed.contains("3840 examples seen"), "{printed}");
    let whole = losses(&straight);
    assert_eq!(whole.len(), 60);
    assert!(
        whole[59] < whole[0] - 20.0,
        "it does not learn: {} -> {}",
        whole[0],
        whole[59]
    );
    image::open(straight.join("samples.png")).unwrap();
    // The trainer drew the curves: a PNG that decodes, and an SVG.
    let curves = image::open(straight.join("curves.png")).unwrap();
    assert!(curves.width() >= 400 && curves.height() >= 300);
    let svg = std::fs::read_to_string(straight.join("curves.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("nll"));

    let split = tmp.path().join("split");
    run(&split, 40, false);
    // Its own JSON part comes back with the weights.
    let printed = run(&split, 60, true);
    assert!(
        printed.contains("steps 40..60") && printed.contains("3840 examples seen"),
        "{printed}"
    );
    assert_eq!(
        losses(&split),
        whole,
        "a resumed run differs from a straight one"
    );
}
