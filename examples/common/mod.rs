//! What every example does the same way: pick the device, report an error
//! with its causes and exit with code 1, print paths, name a dataset on the
//! command line ([`dataset`]), score samples.
//!
//! Included by each example with `mod common;` (a folder with `mod.rs` is
//! not itself an example for Cargo).
#![allow(dead_code)] // each example uses its own subset

pub mod dataset;

use std::path::Path;
use std::process::ExitCode;

use burn::tensor::{Device, Tensor};
use generative::core::{self as gcore, Sample, SeededRng, ValueRange};
use generative::eval::classifier::{
    ImageQuality, MnistClassifier, QualityConfig, QualityReport, to_unit_range,
};
use generative::saved::{Saved, SavedModel};

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

/// The device to train on and the devices of data-parallel training:
/// `--devices a,b,...` (the first holds the weights), or `--device` (then
/// `$GEN_DEVICE`, then flex) alone. Give the list to the model's
/// `TrainStep::replicate`.
///
/// # Errors
/// Both flags given, or a name that [`gcore::device::device`] refuses.
pub fn training_devices(
    device: Option<&str>,
    devices: Option<&str>,
) -> gcore::Result<(Device, Vec<Device>)> {
    match (device, devices) {
        (Some(_), Some(_)) => Err(gcore::Error::config(
            "devices",
            "and `--device` cannot both be given (the first of `--devices` is the main device)",
        )),
        (_, Some(list)) => {
            let all = gcore::device::devices(list)?;
            Ok((all[0].clone(), all))
        }
        (name, None) => {
            let main = self::device(name)?;
            Ok((main.clone(), vec![main]))
        }
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
    classifier: MnistClassifier,
    device: &Device,
) -> gcore::Result<SampleQuality> {
    let mut rng = SeededRng::new(12345);
    let labels: Option<Vec<usize>> = model
        .num_classes()
        .map(|k| (0..n).map(|i| i * k / n).collect());
    if model.example_shape() != [1, 28, 28] {
        return Err(gcore::Error::Shape {
            what: "samples scored by the MNIST classifier",
            expected: "[1, 28, 28] (28x28 grey)".into(),
            found: model.example_shape(),
        });
    }
    let samples = model.sample_images(n, labels.as_deref(), &mut rng, device)?;
    let images = to_unit_range(samples, range);
    image_quality(images, labels.as_deref(), reference, classifier)
}

/// Scores `images` (`[n, 1, 28, 28]` in `[0, 1]`) against `reference`;
/// with `labels` (the class each was drawn for), also the share the
/// classifier puts in that class.
///
/// # Errors
/// When the classifier or the metrics refuse the images.
pub fn image_quality(
    images: Tensor<4>,
    labels: Option<&[usize]>,
    reference: Tensor<4>,
    classifier: MnistClassifier,
) -> gcore::Result<SampleQuality> {
    let n = images.dims()[0];
    let quality = ImageQuality::new(classifier, QualityConfig::new())?;
    let conditional_accuracy = match labels {
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

/// The range of a saved model's samples: `[0, 1]` for a VAE (means of
/// p(x | z) on grey levels), `[-1, 1]` for GANs and diffusion models.
pub fn sample_range(saved: &Saved) -> ValueRange {
    match saved.model {
        SavedModel::Vae(_) => ValueRange::ZeroToOne,
        _ => ValueRange::MinusOneToOne,
    }
}
