//! The `evaluate`, `export_torch` and `sample` examples on a run folder
//! written through the library: they rebuild the model from the newest
//! checkpoint's model card; `evaluate` prints one JSON object (it needs
//! MNIST's test images from ../shared/data for the scores, and without them
//! must say so clearly), `export_torch` writes a safetensors file, `sample`
//! a folder of PNG files and `.npy` arrays.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use burn::tensor::Device;
use generative::core::interop::load_safetensors;
use generative::core::{CheckpointStore, Progress, SeededRng, Trainer, TrainerConfig};
use generative::data::TensorDataset;
use generative::vae::{MlpVaeConfig, VaeConfig, VaeTrainer, VaeTrainingConfig};

fn evaluate(args: &[&str]) -> Output {
    example("evaluate", args)
}

fn example(name: &str, args: &[&str]) -> Output {
    common::run_example(name, args)
}

fn mnist() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist")
}

/// A 784-16-4 VAE trained for 3 steps on random pixels, saved like
/// vae_mnist saves its runs.
fn vae_run(dir: &Path) {
    let dev = Device::flex();
    let cfg = MlpVaeConfig::mnist()
        .with_hidden(vec![16])
        .with_latent_dim(4);
    let mut trainer =
        VaeTrainer::new(cfg.init(&dev).unwrap(), VaeTrainingConfig::new(), &dev).unwrap();
    let pixels = SeededRng::new(0).uniform_vec(64 * 784, 0.0, 1.0);
    let data = TensorDataset::new(pixels, [1, 28, 28], None).unwrap();
    let mut loader = generative::data::Loader::new(data, 16, 0).unwrap();
    Trainer::new(TrainerConfig::new().with_steps(3), dir)
        .unwrap()
        .progress(Progress::Hidden)
        .with_run_config(&serde_json::json!({ "model": VaeConfig::Mlp(cfg) }))
        .unwrap()
        .fit(&mut trainer, &mut loader, &mut SeededRng::new(0))
        .unwrap();
}

#[test]
fn scores_a_saved_vae_or_says_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    vae_run(&run);
    let data = mnist();
    let args = [
        "--run",
        run.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--samples",
        "50",
        "--test-images",
        "200",
    ];
    let out = evaluate(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !data.exists() {
        eprintln!("{} absent: checking the error only", data.display());
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("pass --data <the folder with the four mnist IDX files>"),
            "{stderr}"
        );
        return;
    }
    assert!(out.status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["family"], "vae");
    assert_eq!(report["step"], 3);
    assert_eq!(report["model"]["kind"], "mlp");
    assert_eq!(report["quality"]["report"]["n_generated"], 50);
    // Noise-like samples against real digits: a large distance. (The
    // eigensolver behind the FID once returned NaN here about one run in
    // four, reported as 0.)
    let fid = report["quality"]["report"]["fid"].as_f64().unwrap();
    assert!(fid > 500.0, "{report}");
    assert_eq!(report["quality"]["report"]["n_reference"], 200);
    assert_eq!(report["likelihood"]["examples"], 200);
    // A barely trained model: about log 2 per pixel on grey levels.
    let nats = report["likelihood"]["neg_elbo"].as_f64().unwrap();
    assert!((300.0..700.0).contains(&nats), "{nats}");
}

#[test]
fn scores_samples_that_another_program_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    vae_run(&run);
    let samples = dir.path().join("samples");
    let args = [
        "--run",
        run.to_str().unwrap(),
        "--out",
        samples.to_str().unwrap(),
    ];
    let out = example("sample", &[&args[..], &["--n", "20"]].concat());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let data = mnist();
    let score = |images: &Path| {
        let images = images.to_str().unwrap();
        let data = data.to_str().unwrap();
        evaluate(&["--images", images, "--data", data, "--test-images", "200"])
    };
    // A file that is not samples: said before anything else is read.
    let bad = dir.path().join("bad.npy");
    std::fs::write(&bad, b"not numpy").unwrap();
    let out = score(&bad);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("bad.npy") && stderr.contains("not a .npy file"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    if !data.exists() {
        eprintln!("{} absent: checking the error only", data.display());
        return;
    }
    // The .npy and the PNGs of the same samples: the same count, and FIDs
    // that differ only by the PNGs' 8-bit rounding.
    let fid = |path: &Path| {
        let out = score(path);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["count"], 20);
        assert_eq!(report["quality"]["report"]["n_reference"], 200);
        report["quality"]["report"]["fid"].as_f64().unwrap()
    };
    let (npy, png) = (fid(&samples.join("samples.npy")), fid(&samples));
    assert!(
        npy > 100.0 && (npy - png).abs() < 0.02 * npy,
        "{npy} vs {png}"
    );
}

#[test]
fn folders_that_are_not_runs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = evaluate(&["--run", dir.path().to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("neither a checkpoint folder nor a run folder"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    // A checkpoint of the earlier format: refused, and said why.
    let old = dir.path().join("checkpoints/step-000000000003");
    std::fs::create_dir_all(&old).unwrap();
    std::fs::write(
        old.join("state.json"),
        r#"{"format": "gen-checkpoint/1", "step": 3, "rng": null, "run_config": null, "parts": []}"#,
    )
    .unwrap();
    let out = evaluate(&["--run", dir.path().to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("earlier version"), "{stderr}");
}

#[test]
fn samples_a_saved_vae_into_pngs_and_npy() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    vae_run(&run);
    let out_dir = dir.path().join("samples");
    let args = [
        "--run",
        run.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "--n",
        "5",
        "--batch",
        "2",
    ];
    let out = example("sample", &args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let pngs = std::fs::read_dir(&out_dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension() == Some("png".as_ref()))
        .count();
    assert_eq!(pngs, 5);
    let png = image::open(out_dir.join("000004.png")).unwrap();
    assert_eq!((png.width(), png.height()), (28, 28));
    let bytes = std::fs::read(out_dir.join("samples.npy")).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    assert_eq!(npy.shape(), [5, 1, 28, 28]);
    let values: Vec<f32> = npy.into_vec().unwrap();
    assert!(values.iter().all(|v| (0.0..=1.0).contains(v)));
    // An unconditional model has no labels file, and refuses a class.
    assert!(!out_dir.join("labels.npy").exists());
    let again = example("sample", &args);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds samples"));
    let other = dir.path().join("other");
    let mut with_class = args.to_vec();
    with_class[3] = other.to_str().unwrap();
    with_class.extend(["--class", "3"]);
    let out = example("sample", &with_class);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("unconditional"), "{stderr}");
}

#[test]
fn exports_a_saved_vae_for_pytorch() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    vae_run(&run);
    let file = dir.path().join("vae.safetensors");
    let out = example(
        "export_torch",
        &[
            "--run",
            run.to_str().unwrap(),
            "--out",
            file.to_str().unwrap(),
            "--list",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("10 tensors"), "{stdout}");
    assert!(stdout.contains("encoder.0.weight"), "{stdout}");
    assert!(stdout.contains("[16, 784]"), "{stdout}");

    // The file holds the checkpoint's weights.
    let dev = Device::flex();
    let cfg = MlpVaeConfig::mnist()
        .with_hidden(vec![16])
        .with_latent_dim(4);
    let exported = load_safetensors(cfg.init(&dev).unwrap(), &file).unwrap();
    let (_, newest) = CheckpointStore::new(run.join("checkpoints"), 9)
        .latest()
        .unwrap()
        .unwrap();
    let saved = CheckpointStore::open(&newest)
        .unwrap()
        .module("model", cfg.init(&dev).unwrap())
        .unwrap();
    let x = burn::tensor::Tensor::<2>::ones([2, 784], &dev);
    use generative::vae::Vae;
    assert_eq!(
        exported.encode(x.clone(), None).mean.into_data(),
        saved.encode(x, None).mean.into_data()
    );

    // A VAE has no discriminator; a folder that is not a run says so.
    let out = example(
        "export_torch",
        &[
            "--run",
            run.to_str().unwrap(),
            "--out",
            file.to_str().unwrap(),
            "--discriminator",
            "d.safetensors",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("only a GAN run has a discriminator"),
        "{stderr}"
    );
    let out = example(
        "export_torch",
        &[
            "--run",
            dir.path().to_str().unwrap(),
            "--out",
            "x.safetensors",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("neither a checkpoint folder nor a run folder")
            && !stderr.contains("panicked"),
        "{stderr}"
    );
}
