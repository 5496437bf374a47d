//! Your own model on the library's traits: a worked example that trains,
//! checkpoints, resumes and samples.
//!
//! ```text
//! cargo run --release --example custom_model -- --steps 300 --out out/custom
//! cargo run --release --example custom_model -- --steps 600 --out out/custom --resume
//! ```
//!
//! The model is the simplest generative model of images there is, a
//! diagonal Gaussian over the 64 pixels of the embedded 8x8 digits (a mean
//! and a spread per pixel), fitted by maximum likelihood. Everything else
//! a model needs comes from the library:
//!
//! - [`TrainStep`]: one optimisation step, returning its metrics; the
//!   [`Trainer`] adds progress, `metrics.jsonl`, checkpoints and resume;
//! - [`Optimized`]: the module with its optimizer (Adam here), the
//!   learning-rate schedule, clipping, EMA and the NaN guard ([`Guarded`]:
//!   a step whose loss is not finite is undone when the trainer settles it);
//! - [`Stateful`]: what goes into a checkpoint, written through a
//!   [`StateWriter`] (here the optimised module and one JSON part of our
//!   own) and read back through a [`StateReader`];
//! - [`Sample`]: drawing examples, so that the grid writer, the metrics
//!   and the `sample` tools work with it.
//!
//! In a crate of your own, `#[derive(Module)]` expands to paths that start
//! with `burn::`: either depend on burn too (`burn = "=0.22.1"`, the
//! version this library uses) or bring the re-export into scope with
//! `use generative::burn;` as below.
//!

mod common;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use generative::burn;

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};
use generative::core::optim::{Diverged, Guarded, OptimConfig, Optimized};
use generative::core::{
    self as gcore, Batch, GridOptions, Metrics, Sample, SeededRng, StateReader, StateWriter,
    Stateful, TrainStep, Trainer, TrainerConfig, labels, save_grid,
};
use generative::data::{Digits, Loader, digits};
use serde::{Deserialize, Serialize};

/// Fit a diagonal Gaussian to the embedded 8x8 digits on the library's
/// traits, checkpoint it, resume it, and write a grid of its samples.
#[derive(Parser, Debug, Serialize)]
#[command(version)]
struct Args {
    /// Backend: flex, ndarray, wgpu, cuda or remote:ws://host:port (default:
    /// $GEN_DEVICE, else flex).
    #[arg(long)]
    device: Option<String>,
    /// Total optimisation steps (a resumed run counts the steps done).
    #[arg(long, default_value_t = 300)]
    steps: u64,
    /// Steps between checkpoints (0: only at the end).
    #[arg(long, default_value_t = 100)]
    checkpoint_every: u64,
    /// Output folder.
    #[arg(long, default_value = "out/custom_model")]
    out: PathBuf,
    /// Continue from the newest checkpoint in --out.
    #[arg(long)]
    resume: bool,
}

/// The model: a mean and a log standard deviation per pixel.
#[derive(Module, Debug)]
struct DiagonalGaussian {
    mean: Param<Tensor<1>>,
    log_std: Param<Tensor<1>>,
}

impl DiagonalGaussian {
    fn new(features: usize, device: &Device) -> Self {
        Self {
            mean: Param::from_tensor(Tensor::zeros([features], device)),
            log_std: Param::from_tensor(Tensor::zeros([features], device)),
        }
    }

    /// Negative log-likelihood per example, in nats (of the dequantised
    /// digits, whose values lie in `[0, 1]`).
    fn nll(&self, x: Tensor<2>) -> Tensor<1> {
        let [n, f] = x.dims();
        let mean = self.mean.val().reshape([1, f]);
        let log_std = self.log_std.val().reshape([1, f]);
        let z = (x - mean) / log_std.clone().exp();
        let constant = 0.5 * (2.0 * std::f64::consts::PI).ln() * f as f64;
        (z.powi_scalar(2) * 0.5 + log_std).sum() / n as f64 + constant
    }
}

impl Sample for DiagonalGaussian {
    fn example_shape(&self) -> Vec<usize> {
        vec![1, digits::SIDE, digits::SIDE]
    }

    fn sample(
        &self,
        n: usize,
        labels: Option<&[usize]>,
        rng: &mut SeededRng,
        device: &Device,
    ) -> gcore::Result<Tensor<2>> {
        // An unconditional model: the shared rules refuse labels.
        labels::check(n, labels, self.num_classes())?;
        let f = self.features();
        let z = rng.normal([n, f], device);
        let std = self.log_std.val().exp().reshape([1, f]);
        Ok(z * std + self.mean.val().reshape([1, f]))
    }
}

/// What the model keeps besides its weights: saved as a JSON part.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Seen {
    examples: u64,
}

/// The trainer: the optimised model, and its own bookkeeping.
struct GaussianTrainer {
    model: Optimized<DiagonalGaussian>,
    seen: Seen,
}

impl TrainStep for GaussianTrainer {
    fn device(&self) -> Device {
        self.model.device().clone()
    }

    fn step(&mut self, batches: Vec<Batch>, rng: &mut SeededRng) -> gcore::Result<Metrics> {
        let batch = Batch::single(batches, "a Gaussian step")?;
        let [n, f] = batch.data.dims();
        self.seen.examples += n as u64;
        // The digits take 17 grey levels: spreading each level over its
        // width (uniform dequantisation) gives them a density, which a
        // continuous model can fit without its spread collapsing to zero
        // on the pixels that are always black. The noise comes from the
        // trainer's generator, which checkpoints carry: a resumed run
        // draws what an uninterrupted one would.
        let level = 1.0 / f32::from(digits::MAX_VALUE + 1);
        let noise = rng.uniform([n, f], 0.0, level, self.model.device());
        let x = batch.data * f64::from(1.0 - level) + noise;
        let loss = self.model.module().nll(x);
        // Metrics may stay on the device: the trainer reads them in bulk.
        let metrics = Metrics::new().with_tensor("nll", loss.clone());
        self.model.update(loss);
        Ok(metrics)
    }

    fn settle(&mut self) -> Result<(), Diverged> {
        self.model.settle()
    }
}

impl Stateful for GaussianTrainer {
    fn save_state(&self, out: &mut StateWriter) -> gcore::Result<()> {
        self.model.save(out)?;
        out.json("seen", &self.seen)
    }

    fn load_state(&mut self, input: &StateReader) -> gcore::Result<()> {
        self.model = self.model.loaded(input)?;
        self.seen = input.json("seen")?;
        Ok(())
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    common::exit(run(&args))
}

fn run(args: &Args) -> gcore::Result<()> {
    let device = common::device(args.device.as_deref())?;
    let trainer = Trainer::new(
        TrainerConfig::new()
            .with_steps(args.steps)
            .with_checkpoint_every(args.checkpoint_every)
            .with_log_every(100),
        &args.out,
    )?
    .resume(args.resume)
    .with_run_config(args)?;

    // The digits in [0, 1], batches of 64 in a seeded order.
    let dataset = Digits::embedded()?.to_dataset_in(gcore::ValueRange::ZeroToOne);
    let mut loader = Loader::new(dataset, 64, 0)?;
    let optim = OptimConfig::new().with_lr(0.02);
    let mut model = GaussianTrainer {
        model: Optimized::new(
            DiagonalGaussian::new(digits::PIXELS, &device),
            optim,
            &device,
        )?,
        seen: Seen::default(),
    };

    let outcome = trainer.fit(&mut model, &mut loader, &mut SeededRng::new(0))?;
    let nll = outcome
        .last_metrics
        .as_ref()
        .and_then(|m| m.get("nll"))
        .map_or("-".into(), |v| format!("{v:.2}"));
    let samples = model
        .model
        .module()
        .sample_images(64, None, &mut SeededRng::new(1), &device)?;
    let grid = args.out.join("samples.png");
    let options = GridOptions::default()
        .columns(8)
        .scale(4)
        .range(gcore::ValueRange::ZeroToOne);
    save_grid(samples.clamp(0.0, 1.0), &grid, &options)?;
    println!(
        "steps {}..{}: negative log-likelihood {nll} nats per digit, {} examples seen",
        outcome.start_step, outcome.final_step, model.seen.examples
    );
    println!("checkpoint: {}", outcome.checkpoint.display());
    println!("samples:    {}", common::display(&grid));
    Ok(())
}
