//! Scores any saved MNIST model of the three families and prints the
//! metrics as one JSON object.
//!
//! ```text
//! cargo run --release --example evaluate -- --run out/vae_mnist
//! cargo run --release --example evaluate -- --run out/gan_mnist --samples 5000
//! cargo run --release --example evaluate -- --run out/diffusion_mnist --sampler dpm_solver --steps 20
//! ```
//!
//! `--run` is the output folder of `vae_mnist`, `gan_mnist` or
//! `diffusion_mnist`: its `config.json` says which model it trained (the
//! family and the model's config), and its newest checkpoint (or
//! `--checkpoint DIR`) holds the weights. The program rebuilds the model,
//! loads the weights, draws `--samples` images (a conditional model: every
//! class in equal shares) and scores them against the 10,000 MNIST test
//! images with the project's classifier (classifier-FID, KID, classifier
//! score, class coverage, precision/recall, density/coverage; for a
//! conditional model the share classified as the class asked for). For a
//! VAE it adds the test-set negative ELBO and, with `--nll-samples K`, the
//! importance-sampled negative log-likelihood, in nats per image.
//!
//! GANs and diffusion models are sampled from their EMA weights when the
//! run kept them (`--no-ema` to use the raw weights).

mod common;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use burn::tensor::Device;
use clap::Parser;
use common::{GanConfig, RunFolder, RunModel};
use generative::core::{self as gcore, Sample, SeededRng, ValueRange};
use generative::data::{
    Binarize, IdxExamples, IdxImages, IdxKind, Loader, Split, Subset, Transform, Verify,
};
use generative::diffusion::{Diffusion, DiffusionTrainingConfig, SamplerKind, UNetConfig};
use generative::vae::{Evaluation, Vae, VaeConfig, evaluate};
use serde::Serialize;
use serde_json::Value;

/// Score a saved model's samples (and a VAE's likelihood) on MNIST.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The run folder (the `--out` of vae_mnist, gan_mnist or diffusion_mnist).
    #[arg(long)]
    run: PathBuf,
    /// A checkpoint folder to load instead of the run's newest.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Folder with the four MNIST IDX files.
    #[arg(long, default_value = "../shared/data/mnist")]
    data: PathBuf,
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
    /// Diffusion only: the sampler (ddpm, ddim, dpm_solver, euler).
    #[arg(long, default_value = "ddim")]
    sampler: String,
    /// Diffusion only: sampling steps.
    #[arg(long, default_value_t = 50)]
    steps: usize,
    /// Diffusion only: the classifier-free guidance scale (1: none).
    #[arg(long, default_value_t = 1.0)]
    guidance: f64,
    /// GAN and diffusion: sample from the raw weights, not the EMA copy.
    #[arg(long)]
    no_ema: bool,
    /// Backend: flex, ndarray, wgpu or cuda (default: $GEN_DEVICE, else flex).
    #[arg(long)]
    device: Option<String>,
}

/// The printed report.
#[derive(Serialize)]
struct Report {
    run: String,
    checkpoint: String,
    step: u64,
    family: &'static str,
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
    let run = RunFolder::open(&args.run, args.checkpoint.as_deref())?;
    let reference = common::mnist_test_images(&args.data, &device)?;
    let available = reference.dims()[0];
    if !(2..=available).contains(&args.test_images) {
        return Err(gcore::Error::config(
            "test_images",
            format!("must be in 2..={available}, found {}", args.test_images),
        ));
    }
    let reference = reference.narrow(0, 0, args.test_images);
    let mut report = match &run.model {
        RunModel::Diffusion(config) => {
            diffusion(args, &run, &config.0, &config.1, reference, &device)?
        }
        RunModel::Vae(config) => vae(args, &run, config, reference, &device)?,
        RunModel::Gan(config) => gan(args, &run, config, reference, &device)?,
    };
    report.run = common::display(&args.run);
    report.checkpoint = common::display(&run.checkpoint);
    report.step = run.reader.manifest().step;
    println!(
        "{}",
        serde_json::to_string_pretty(&report).expect("a report serialises")
    );
    Ok(())
}

fn empty(
    family: &'static str,
    model: Value,
    weights: &'static str,
    quality: common::SampleQuality,
) -> Report {
    Report {
        run: String::new(),
        checkpoint: String::new(),
        step: 0,
        family,
        model,
        weights,
        sampler: None,
        quality,
        likelihood: None,
    }
}

fn vae(
    args: &Args,
    run: &RunFolder,
    config: &VaeConfig,
    reference: burn::tensor::Tensor<4>,
    device: &Device,
) -> gcore::Result<Report> {
    match config {
        VaeConfig::Mlp(c) => {
            let model = run.reader.module("model", c.init(device)?)?;
            vae_report(args, &model, &run.model_json, reference, device)
        }
        VaeConfig::Conv(c) => {
            let model = run.reader.module("model", c.init(device)?)?;
            vae_report(args, &model, &run.model_json, reference, device)
        }
    }
}

fn vae_report<M: Vae + Sample>(
    args: &Args,
    model: &M,
    model_json: &Value,
    reference: burn::tensor::Tensor<4>,
    device: &Device,
) -> gcore::Result<Report> {
    let quality = common::sample_quality(
        model,
        args.samples,
        ValueRange::ZeroToOne,
        reference,
        device,
    )?;
    // The likelihood of the test set as the run trained: dynamically
    // binarised runs are scored on binarised test images.
    let run_args: Value = std::fs::read_to_string(args.run.join("config.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v.get("args").cloned())
        .unwrap_or(Value::Null);
    let binarize = match run_args.get("binarize").and_then(Value::as_str) {
        Some("Dynamic") => Binarize::Dynamic,
        _ => Binarize::Off,
    };
    let test = IdxImages::load(IdxKind::Mnist, &args.data, Split::Test, Verify::Strict)?;
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
    let likelihood = evaluate(
        model,
        &mut loader,
        device,
        args.nll_samples,
        &mut SeededRng::new(u64::MAX),
    )?;
    let mut report = empty("vae", model_json.clone(), "model", quality);
    report.likelihood = Some(likelihood);
    Ok(report)
}

fn gan(
    args: &Args,
    run: &RunFolder,
    config: &GanConfig,
    reference: burn::tensor::Tensor<4>,
    device: &Device,
) -> gcore::Result<Report> {
    let part = run.weights_part("generator_ema", "generator", args.no_ema);
    let quality = match config {
        GanConfig::MlpGan(c) => {
            let g = run.reader.module(part, c.init_generator(device)?)?;
            common::sample_quality(
                &g,
                args.samples,
                ValueRange::MinusOneToOne,
                reference,
                device,
            )?
        }
        GanConfig::Dcgan(c) => {
            let g = run.reader.module(part, c.init_generator(device)?)?;
            common::sample_quality(
                &g,
                args.samples,
                ValueRange::MinusOneToOne,
                reference,
                device,
            )?
        }
    };
    Ok(empty("gan", run.model_json.clone(), part, quality))
}

fn diffusion(
    args: &Args,
    run: &RunFolder,
    unet: &UNetConfig,
    training: &DiffusionTrainingConfig,
    reference: burn::tensor::Tensor<4>,
    device: &Device,
) -> gcore::Result<Report> {
    let sampler: SamplerKind = match args.sampler.as_str() {
        "ddpm" => SamplerKind::Ddpm,
        "ddim" => SamplerKind::Ddim { eta: 0.0 },
        "dpm_solver" => SamplerKind::DpmSolver,
        "euler" => SamplerKind::Euler,
        other => {
            return Err(gcore::Error::config(
                "sampler",
                format!("`{other}` is not one of ddpm, ddim, dpm_solver, euler"),
            ));
        }
    };
    let part = run.weights_part("ema", "model", args.no_ema);
    let net = run.reader.module(part, unet.init(device)?)?;
    let model = Diffusion::new(
        net,
        training.noise_schedule()?,
        training.prediction,
        sampler,
        args.steps,
    )?
    .with_guidance(args.guidance);
    let quality = common::sample_quality(
        &model,
        args.samples,
        ValueRange::MinusOneToOne,
        reference,
        device,
    )?;
    let mut report = empty("diffusion", run.config["unet"].clone(), part, quality);
    report.sampler = Some(format!(
        "{} with {} steps, guidance {}",
        args.sampler, args.steps, args.guidance
    ));
    Ok(report)
}
