//! The VAE examples as a user runs them: a tiny face folder trains end to
//! end and writes its pictures; missing data and invalid settings give a
//! clear message and exit code 1, never a panic.
//!
//! `cargo test` builds the examples before running tests; this file runs
//! the binaries it built.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn example(name: &str) -> PathBuf {
    common::example_binary(name)
}

fn run(name: &str, args: &[&str]) -> Output {
    Command::new(example(name))
        .args(args)
        .env_remove("GEN_DEVICE")
        .output()
        .unwrap()
}

fn fails_with(name: &str, args: &[&str], expected: &str) {
    let out = run(name, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    assert!(
        stderr.contains(expected),
        "{args:?}: `{stderr}` lacks `{expected}`"
    );
}

/// 20 random 24x20 grey "faces" (PNG) in two person folders.
fn face_folder(root: &Path) {
    let mut state = 1u32;
    for person in ["s1", "s2"] {
        std::fs::create_dir_all(root.join(person)).unwrap();
        for i in 0..10 {
            let img = image::GrayImage::from_fn(24, 20, |_, _| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                image::Luma([(state >> 24) as u8])
            });
            img.save(root.join(person).join(format!("{i}.png")))
                .unwrap();
        }
    }
}

#[test]
fn vae_faces_trains_on_a_folder_and_writes_pictures() {
    let dir = tempfile::tempdir().unwrap();
    let faces = dir.path().join("faces");
    face_folder(&faces);
    let out = dir.path().join("out");
    let args = [
        "--data",
        faces.to_str().unwrap(),
        "--size",
        "16",
        "--latent",
        "4",
        "--epochs",
        "2",
        "--batch-size",
        "6",
        "--picture-every",
        "1",
        "--out",
        out.to_str().unwrap(),
    ];
    let result = run("vae_faces", &args);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success(), "{stderr}");
    assert!(stderr.contains("epoch 2: test -ELBO"), "{stderr}");
    for file in [
        "samples.png",
        "reconstructions.png",
        "evaluation.json",
        "metrics.jsonl",
    ] {
        assert!(out.join(file).exists(), "{file} missing");
    }
    let eval: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("evaluation.json")).unwrap()).unwrap();
    assert_eq!(eval["examples"], 2); // 10% of 20 held out
    assert!(eval["neg_elbo"].as_f64().unwrap().is_finite());

    // Running again into the same folder without --resume refuses to
    // overwrite the run; with --resume and the same total it trains nothing.
    fails_with("vae_faces", &args, "already holds checkpoints");
    let mut again = args.to_vec();
    again.push("--resume");
    assert!(run("vae_faces", &again).status.success());
}

/// The CelebA layout in colour: its own train and test partitions.
#[test]
fn vae_faces_reads_the_celeba_layout_in_rgb() {
    let dir = tempfile::tempdir().unwrap();
    let celeba = dir.path().join("celeba");
    generative::data::celeba::write_fixture(&celeba, 24, 2).unwrap();
    let out = dir.path().join("out");
    let args = [
        "--celeba",
        celeba.to_str().unwrap(),
        "--rgb",
        "--size",
        "16",
        "--latent",
        "4",
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--out",
        out.to_str().unwrap(),
    ];
    let result = run("vae_faces", &args);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success(), "{stderr}");
    assert!(
        stderr.contains("on 8 faces (8 held out), 16x16 RGB"),
        "{stderr}"
    );
    let eval: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("evaluation.json")).unwrap()).unwrap();
    assert_eq!(eval["examples"], 8);
    let samples = image::open(out.join("samples.png")).unwrap();
    assert!(samples.color().has_color());
}

#[test]
fn missing_data_and_bad_settings_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing-here");
    let out = dir.path().join("out");
    let (missing, out) = (missing.to_str().unwrap(), out.to_str().unwrap());
    fails_with(
        "vae_mnist",
        &["--data", missing, "--out", out],
        "pass --data <the folder with the four mnist IDX files>",
    );
    fails_with(
        "vae_faces",
        &["--data", missing, "--out", out],
        "no faces at",
    );
    fails_with("vae_mnist", &["--beta", "0", "--out", out], "beta");
    fails_with("vae_mnist", &["--lr", "-1", "--out", out], "lr");
    fails_with("vae_faces", &["--size", "40", "--out", out], "image_size");
    fails_with(
        "vae_faces",
        &["--decoder", "gaussian", "--std", "0", "--out", out],
        "std",
    );
}
