//! The quickstart as a user runs it: bad input gives a clear message and a
//! non-zero exit, never a panic, and never touches the last good checkpoint.
//!
//! `cargo test` builds the examples before running tests; this file runs
//! the quickstart binary it built.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn quickstart() -> PathBuf {
    common::example_binary("quickstart")
}

fn run(args: &[&str]) -> Output {
    Command::new(quickstart())
        .args(args)
        .env_remove("GEN_DEVICE")
        .output()
        .unwrap()
}

/// Runs with `args`, expects a failure whose stderr contains `expected`.
fn fails_with(args: &[&str], expected: &str) {
    let out = run(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    assert!(
        stderr.contains(expected),
        "{args:?}: `{stderr}` lacks `{expected}`"
    );
}

fn tiny(out: &Path) -> Vec<String> {
    [
        "--steps",
        "6",
        "--checkpoint-every",
        "3",
        "--batch-size",
        "16",
        "--out",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([out.display().to_string()])
    .collect()
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn a_tiny_run_writes_samples_metrics_and_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&args(&tiny(dir.path())));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("samples.png"), "{stdout}");
    let png = image::open(dir.path().join("samples.png")).unwrap();
    // 8 columns of 8x8 digits with 2 px padding, scaled 4x.
    assert_eq!(
        (png.width(), png.height()),
        ((8 * 10 + 2) * 4, (8 * 10 + 2) * 4)
    );
    let metrics = fs::read_to_string(dir.path().join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 6);
    assert!(
        dir.path()
            .join("checkpoints/step-000000000006/state.json")
            .exists()
    );
}

#[test]
fn unknown_and_missing_backends() {
    fails_with(&["--device", "tpu", "--steps", "1"], "unknown device `tpu`");
    fails_with(&["--device", "cuda", "--steps", "1"], "--features cuda");
}

#[test]
fn invalid_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().display().to_string();
    fails_with(
        &["--batch-size", "0", "--out", &out],
        "`batch_size` must be at least 1",
    );
    fails_with(&["--lr", "0", "--out", &out], "`lr` must be > 0");
    fails_with(&["--lr", "-0.1", "--out", &out], "`lr` must be > 0");
    fails_with(
        &["--steps", "0", "--out", &out],
        "`steps` or `epochs` must be at least 1",
    );
}

#[test]
fn unwritable_output() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    fs::write(&file, b"not a folder").unwrap();
    let inside = file.join("out").display().to_string();
    fails_with(&["--steps", "1", "--out", &inside], "a-file/out");
}

#[test]
fn damaged_checkpoint_on_resume_is_reported_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let first = tiny(dir.path());
    assert!(run(&args(&first)).status.success());
    let ckpt = dir.path().join("checkpoints/step-000000000006");
    let gen_file = ckpt.join("generator.bpk");
    let bytes = fs::read(&gen_file).unwrap();
    fs::write(&gen_file, &bytes[..100]).unwrap();

    let mut again = first.clone();
    again[1] = "12".into(); // --steps 12
    again.push("--resume".into());
    fails_with(&args(&again), "truncated");
    assert_eq!(
        fs::read(&gen_file).unwrap().len(),
        100,
        "the checkpoint was rewritten"
    );
    assert!(ckpt.join("state.json").exists());

    // Without --resume the folder is protected, not overwritten.
    fails_with(&args(&first), "already holds checkpoints");
    assert_eq!(fs::read(&gen_file).unwrap().len(), 100);
}
