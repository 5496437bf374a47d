//! Scores any saved MNIST model of the three families and prints the
//! metrics as one JSON object.
//!
//! ```text
//! cargo run --release --example evaluate -- --run out/vae_mnist
//! cargo run --release --example evaluate -- --run out/gan_mnist --samples 5000
//! cargo run --release --example evaluate -- --run out/diffusion_mnist --sampler dpm_solver --steps 20
//! cargo run --release --example evaluate -- --images torch_dcgan/samples.npy --range minus-one-to-one
//! ```
//!
//! `--run` is a run folder (its newest checkpoint is read) or one
//! checkpoint folder. The checkpoint's model card says which model it
//! holds (`generative::saved::open` rebuilds it); the program draws
//! `--samples` images (a conditional model: every class in equal shares)
//! and scores them against the 10,000 MNIST test images with the project's
//! classifier (classifier-FID, KID, classifier score, class coverage,
//! precision/recall, density/coverage; for a conditional model the share
//! classified as the class asked for). For a VAE it adds the test-set
//! negative ELBO and, with `--nll-samples K`, the importance-sampled
//! negative log-likelihood, in nats per image.
//!
//! GANs and diffusion models are sampled from their EMA weights when the
//! run kept them (`--no-ema` to use the raw weights).
//!
//! `--images` scores samples that any program wrote instead (PyTorch's
//! peers, `benches/torch_peers.py`, or `sample`'s output): a `.npy` array
//! (`[n, 1, 28, 28]`, `[n, 28, 28]` or `[n, 784]`; float in `--range`, or
//! uint8) or a folder of 28x28 PNGs, all of them, by the same classifier
//! and against the same test images.

mod common;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use burn::tensor::Device;
use clap::Parser;
use common::dataset::{self, DataArgs};
use generative::core::{self as gcore, SeededRng, ValueRange};
use generative::data::{Binarize, IdxExamples, Loader, Split, Subset, Transform};
use generative::diffusion::SamplerKind;
use generative::eval::MnistClassifier;
use generative::saved::{self, SampleOptions, Saved, SavedModel};
use generative::vae::{Evaluation, evaluate};
use serde::Serialize;
use serde_json::Value;

/// Score a saved model's samples (and a VAE's likelihood) against a test
/// set: MNIST with the embedded classifier, or Fashion-MNIST with one saved
/// by train_classifier (--classifier).
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// A run folder (the `--out` of a training example) or a checkpoint folder.
    #[arg(long, required_unless_present = "images", conflicts_with = "images")]
    run: Option<PathBuf>,
    /// Samples written by another program: a .npy array or a folder of PNGs,
    /// scored instead of a run's model (all of them; --samples is ignored).
    #[arg(long)]
    images: Option<PathBuf>,
    /// --images only: the value range of float samples (uint8 and PNG are
    /// 0..=255).
    #[arg(long, value_enum, default_value_t = Range::ZeroToOne)]
    range: Range,
    /// The test set (--dataset mnist or fashion-mnist, --data, --accept-modified).
    #[command(flatten)]
    data: DataArgs,
    /// Classifier weights from train_classifier (needed for any dataset but MNIST).
    #[arg(long)]
    classifier: Option<PathBuf>,
    /// Samples to score.
    #[arg(long, default_value_t = 2000)]
    samples: usize,
    /// Test images to compare with (and, for a VAE, to score): the first
    /// N of the 10,000 (fewer is faster and noisier).
    #[arg(long, default_value_t = 10_000)]
    test_images: usize,
    /// VAE only: importance samples per test image for the NLL (0: skip).
    #[arg(long, default_value_t = 0)]
    nll_samples: usize,
    /// Diffusion only: the sampler (ddpm, ddim, ddim:<eta>, dpm_solver, euler).
    #[arg(long, default_value = "ddim")]
    sampler: SamplerKind,
    /// Diffusion only: sampling steps.
    #[arg(long, default_value_t = 50)]
    steps: usize,
    /// Diffusion only: the classifier-free guidance scale (1: none).
    #[arg(long, default_value_t = 1.0)]
    guidance: f64,
    /// GAN and diffusion: sample from the raw weights, not the EMA copy.
    #[arg(long)]
    no_ema: bool,
    /// Backend: flex, ndarray, wgpu, cuda or remote:ws://host:port (default:
    /// $GEN_DEVICE, else flex).
    #[arg(long)]
    device: Option<String>,
}

/// The value range of float samples given by --images.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Range {
    /// `[0, 1]` (a VAE's means; torchvision's `ToTensor`).
    ZeroToOne,
    /// `[-1, 1]` (a tanh generator; diffusion models).
    MinusOneToOne,
}

/// The report for --images.
#[derive(Serialize)]
struct ImagesReport {
    images: String,
    count: usize,
    quality: common::SampleQuality,
}

/// The printed report.
#[derive(Serialize)]
struct Report {
    run: String,
    checkpoint: String,
    step: u64,
    family: String,
    model: Value,
    weights: &'static str,
    sampler: Option<String>,
    quality: common::SampleQuality,
    likelihood: Option<Evaluation>,
}

fn main() -> ExitCode {
    common::exit(run(&Args::parse()))
}

fn run(args: &Args) -> gcore::Result<()> {
    let device = common::device(args.device.as_deref())?;
    let run_dir = match (&args.run, &args.images) {
        (_, Some(images)) => return score_images(args, images, &device),
        (Some(run), None) => run,
        (None, None) => unreachable!("clap requires --run or --images"),
    };
    // The run first: a folder that is not one is said so whether or not
    // the test set is there.
    let saved = saved::open(run_dir, !args.no_ema, &device)?;
    let (reference, classifier) = test_set(args, &device)?;
    let options = SampleOptions {
        sampler: args.sampler,
        steps: args.steps,
        guidance: args.guidance,
    };
    let model = saved.sampler(&options)?;
    let quality = common::sample_quality(
        model.as_ref(),
        args.samples,
        common::sample_range(&saved),
        reference,
        classifier,
        &device,
    )?;
    let likelihood = match &saved.model {
        SavedModel::Vae(vae) => Some(vae_likelihood(args, &saved, vae, &device)?),
        _ => None,
    };
    let sampler = matches!(saved.model, SavedModel::Diffusion(_)).then(|| {
        format!(
            "{} with {} steps, guidance {}",
            args.sampler, args.steps, args.guidance
        )
    });
    let report = Report {
        run: common::display(run_dir),
        checkpoint: common::display(&saved.checkpoint),
        step: saved.step,
        family: saved.card.family.clone(),
        model: saved.card.model.clone(),
        weights: if saved.ema { "ema" } else { "model" },
        sampler,
        quality,
        likelihood,
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&report).expect("a report serialises")
    );
    Ok(())
}

/// The first --test-images test images (`[m, 1, 28, 28]` in `[0, 1]`) and
/// the classifier that scores samples against them.
fn test_set(
    args: &Args,
    device: &Device,
) -> gcore::Result<(burn::tensor::Tensor<4>, MnistClassifier)> {
    let (kind, _) = args.data.idx_images(Split::Test, "evaluate")?;
    let classifier = dataset::required_classifier(kind, args.classifier.as_deref(), device)?;
    let reference = dataset::idx_test_images(&args.data, device)?;
    let available = reference.dims()[0];
    if !(2..=available).contains(&args.test_images) {
        return Err(gcore::Error::config(
            "test_images",
            format!("must be in 2..={available}, found {}", args.test_images),
        ));
    }
    Ok((reference.narrow(0, 0, args.test_images), classifier))
}

/// Scores the samples of `path` (see the module docs).
fn score_images(args: &Args, path: &std::path::Path, device: &Device) -> gcore::Result<()> {
    let range = match args.range {
        Range::ZeroToOne => ValueRange::ZeroToOne,
        Range::MinusOneToOne => ValueRange::MinusOneToOne,
    };
    // The samples first: a bad file is reported before the test set loads.
    let (n, values) = generative::data::samples::read_samples(path, [1, 28, 28], range)?;
    let (reference, classifier) = test_set(args, device)?;
    let images = burn::tensor::Tensor::<4>::from_data(
        burn::tensor::TensorData::new(values, [n, 1, 28, 28]),
        device,
    );
    let quality = common::image_quality(images, None, reference, classifier)?;
    let report = ImagesReport {
        images: common::display(path),
        count: n,
        quality,
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&report).expect("a report serialises")
    );
    Ok(())
}

/// The test-set likelihood as the run trained: dynamically binarised runs
/// are scored on binarised test images.
fn vae_likelihood(
    args: &Args,
    saved: &Saved,
    model: &generative::vae::SavedVae,
    device: &Device,
) -> gcore::Result<Evaluation> {
    let binarize = match saved.run_config["args"]["binarize"].as_str() {
        Some("Dynamic") => Binarize::Dynamic,
        _ => Binarize::Off,
    };
    let (_, test) = args.data.idx_images(Split::Test, "evaluate")?;
    let transform = Transform::new()
        .binarize(binarize)
        .range(ValueRange::ZeroToOne);
    let n = args.test_images;
    let batch = (1..=n.min(500))
        .rev()
        .find(|b| n.is_multiple_of(*b))
        .unwrap_or(1);
    let first = Subset::new(
        Arc::new(IdxExamples::new(test, transform)),
        (0..n).collect(),
    );
    let mut loader = Loader::new(first, batch, 1)?.sequential();
    evaluate(
        model,
        &mut loader,
        device,
        args.nll_samples,
        &mut SeededRng::new(u64::MAX),
    )
}
