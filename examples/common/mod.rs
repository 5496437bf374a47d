//! What every example does the same way: pick the device, report an error
//! with its causes and exit with code 1, print paths, read MNIST's test
//! images, score samples, open a training run's folder.
//!
//! Included by each example with `mod common;` (a folder with `mod.rs` is
//! not itself an example for Cargo).
#![allow(dead_code)] // each example uses its own subset

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use burn::tensor::{Device, Tensor};
use generative::core::{
    self as gcore, BatchSource, CheckpointStore, Sample, SeededRng, StateReader, ValueRange,
};
use generative::data::{IdxExamples, IdxImages, IdxKind, Loader, Split, Transform, Verify};
use generative::diffusion::{DiffusionTrainingConfig, UNetConfig};
use generative::eval::classifier::{ImageQuality, QualityConfig, QualityReport, to_unit_range};
use generative::gan::{DcganConfig, MlpGanConfig};
use generative::vae::VaeConfig;
use serde_json::Value;

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

/// The 10,000 MNIST test images, grey levels in `[0, 1]`, `[n, 1, 28, 28]`:
/// the reference set of the sample-quality metrics.
///
/// # Errors
/// When the files are missing or damaged (the message says how to get
/// them).
pub fn mnist_test_images(dir: &Path, device: &Device) -> gcore::Result<Tensor<4>> {
    let test = IdxImages::load(IdxKind::Mnist, dir, Split::Test, Verify::Strict).map_err(|e| {
        gcore::Error::Data(format!(
            "{e}\nMNIST is needed: pass --data <folder with the four IDX files> \
             (the `download` feature of gen-data can fetch them)"
        ))
    })?;
    let grey = IdxExamples::new(test, Transform::new().range(ValueRange::ZeroToOne));
    let mut loader = Loader::new(grey, 500, 0)?.sequential();
    let batches = (0..loader.batches_per_epoch() as u64)
        .map(|i| Ok(loader.batch(i, device)?.data))
        .collect::<gcore::Result<Vec<_>>>()?;
    let flat = Tensor::cat(batches, 0);
    let n = flat.dims()[0];
    Ok(flat.reshape([n, 1, 28, 28]))
}

/// What the project's MNIST classifier says of a model's samples.
#[derive(serde::Serialize)]
pub struct SampleQuality {
    /// Classifier-FID, KID, coverage, precision/recall... against the
    /// reference images.
    pub report: QualityReport,
    /// For a conditional model: the share of samples the classifier puts
    /// in the class they were drawn for.
    pub conditional_accuracy: Option<f64>,
}

/// Draws `n` samples of `model` (28x28 grey images, flat, in `range`; a
/// conditional model: classes in equal shares) and scores them against
/// `reference` (`[m, 1, 28, 28]` in `[0, 1]`).
///
/// # Errors
/// When sampling fails or the samples are not 28x28 grey images.
pub fn sample_quality(
    model: &dyn Sample,
    n: usize,
    range: ValueRange,
    reference: Tensor<4>,
    device: &Device,
) -> gcore::Result<SampleQuality> {
    let mut rng = SeededRng::new(12345);
    let labels: Option<Vec<usize>> = model
        .num_classes()
        .map(|k| (0..n).map(|i| i * k / n).collect());
    let samples = model.sample(n, labels.as_deref(), &mut rng, device)?;
    let [rows, width] = samples.dims();
    if width != 784 {
        return Err(gcore::Error::Shape {
            what: "samples scored by the MNIST classifier",
            expected: "[n, 784] (28x28 grey)".into(),
            found: vec![rows, width],
        });
    }
    let images = to_unit_range(samples.reshape([rows, 1, 28, 28]), range);
    let quality = ImageQuality::pretrained(QualityConfig::new(), device)?;
    let conditional_accuracy = match &labels {
        Some(labels) => {
            let predicted = quality.classifier().probs(images.clone())?.argmax(1);
            let predicted: Vec<i64> = predicted
                .into_data()
                .convert::<i64>()
                .try_into_vec()
                .map_err(|e| gcore::Error::Data(format!("reading predictions: {e:?}")))?;
            let hits = predicted
                .iter()
                .zip(labels)
                .filter(|(p, l)| **p as usize == **l)
                .count();
            Some(hits as f64 / n as f64)
        }
        None => None,
    };
    Ok(SampleQuality {
        report: quality.compare(images, reference)?,
        conditional_accuracy,
    })
}

/// A GAN generator's shape as gan_mnist saves it (`model` in config.json).
#[derive(Debug, serde::Deserialize)]
#[serde(tag = "kind", content = "config", rename_all = "snake_case")]
pub enum GanConfig {
    /// `MlpGanConfig`.
    MlpGan(MlpGanConfig),
    /// `DcganConfig`.
    Dcgan(DcganConfig),
}

/// The model a run folder holds, as its config.json describes it.
pub enum RunModel {
    /// vae_mnist / vae_faces: `model` is a kind-tagged `VaeConfig`.
    Vae(VaeConfig),
    /// gan_mnist: `model` is a [`GanConfig`].
    Gan(GanConfig),
    /// diffusion_mnist: `unet` and `training`.
    Diffusion(Box<(UNetConfig, DiffusionTrainingConfig)>),
}

/// A training run's output folder, opened: its config and the checkpoint
/// to load (the newest, unless one is named).
pub struct RunFolder {
    /// config.json.
    pub config: Value,
    /// The `model` entry of config.json (`null` for diffusion runs).
    pub model_json: Value,
    /// What was trained.
    pub model: RunModel,
    /// The checkpoint folder being read.
    pub checkpoint: PathBuf,
    /// Its reader.
    pub reader: StateReader,
}

impl RunFolder {
    /// Opens `run` (the `--out` of vae_mnist, gan_mnist or diffusion_mnist)
    /// at `checkpoint`, or at its newest checkpoint.
    ///
    /// # Errors
    /// A folder without a readable config.json naming a known model, or
    /// without a checkpoint.
    pub fn open(run: &Path, checkpoint: Option<&Path>) -> gcore::Result<Self> {
        let config_path = run.join("config.json");
        let text =
            std::fs::read_to_string(&config_path).map_err(|e| gcore::Error::io(&config_path, e))?;
        let config: Value = serde_json::from_str(&text).map_err(|e| {
            gcore::Error::Data(format!("{}: not a run config: {e}", config_path.display()))
        })?;
        let checkpoint = match checkpoint {
            Some(dir) => dir.to_path_buf(),
            None => {
                let store = CheckpointStore::new(run.join("checkpoints"), usize::MAX);
                store.latest()?.map(|(_, dir)| dir).ok_or_else(|| {
                    gcore::Error::checkpoint(store.root(), "no checkpoint in this run folder")
                })?
            }
        };
        let reader = CheckpointStore::open(&checkpoint)?;
        let model_json = config.get("model").cloned().unwrap_or(Value::Null);
        let kind = model_json.get("kind").and_then(Value::as_str).unwrap_or("");
        let model = if config.get("unet").is_some() {
            RunModel::Diffusion(Box::new((
                parse(&config["unet"], "unet")?,
                parse(&config["training"], "training")?,
            )))
        } else if matches!(kind, "mlp" | "conv") {
            RunModel::Vae(parse(&model_json, "model")?)
        } else if matches!(kind, "mlp_gan" | "dcgan") {
            RunModel::Gan(parse(&model_json, "model")?)
        } else {
            return Err(gcore::Error::Data(format!(
                "{}: no model this program knows (expected `unet`, or `model.kind` one of mlp, \
                 conv, mlp_gan, dcgan): was it written by vae_mnist, gan_mnist or diffusion_mnist?",
                config_path.display()
            )));
        };
        Ok(Self {
            config,
            model_json,
            model,
            checkpoint,
            reader,
        })
    }

    /// The EMA part when the checkpoint has it and `no_ema` is false, else
    /// the raw weights.
    pub fn weights_part(&self, ema: &'static str, raw: &'static str, no_ema: bool) -> &'static str {
        let has_ema = self.reader.manifest().parts.iter().any(|p| p.name == ema);
        if has_ema && !no_ema { ema } else { raw }
    }
}

/// Reads one entry of a run config.
pub fn parse<T: serde::de::DeserializeOwned>(value: &Value, what: &str) -> gcore::Result<T> {
    serde_json::from_value(value.clone())
        .map_err(|e| gcore::Error::Data(format!("the run config's {what} is not readable: {e}")))
}
