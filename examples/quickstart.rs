//! The first run: an MLP GAN learns the embedded 8x8 handwritten digits.
//!
//! ```text
//! cargo run --release --example quickstart
//! cargo run --release --example quickstart -- --device ndarray --steps 2000 --out out/qs
//! ```
//!
//! Writes into `--out` (default `out/quickstart`): `samples.png` (64
//! generated digits), `real.png` (64 real ones, for comparison),
//! `metrics.jsonl` (one line per step), `config.json` and `checkpoints/`.
//! `--resume` continues from the newest checkpoint there. Prints the
//! energy distance between generated and real digits before and after
//! training (lower is closer), next to its floor: the distance between two
//! sets of real digits.

mod common;

use std::path::PathBuf;
use std::process::ExitCode;

use burn::tensor::Tensor;
use clap::Parser;
use generative::core::{
    self as gcore, GridOptions, Sample, SeededRng, Trainer, TrainerConfig, rng::seed_device,
    save_grid,
};
use generative::data::{Digits, Examples, Loader, digits};
use generative::eval::distance;
use generative::gan::{GanTrainer, GanTrainingConfig, MlpGanConfig, MlpGenerator};
use serde::Serialize;

/// Train an MLP GAN on the embedded 8x8 digits and write a PNG grid of samples.
#[derive(Parser, Debug, Serialize)]
#[command(version)]
struct Args {
    /// Backend: flex, ndarray, wgpu, cuda or remote:ws://host:port (default:
    /// $GEN_DEVICE, else flex).
    #[arg(long)]
    device: Option<String>,
    /// Data-parallel training over these devices, comma-separated
    /// (`remote:ws://a:3000,remote:ws://b:3000`): each batch is split
    /// across them and the gradients averaged on the first, which holds the
    /// weights. Replaces `--device`.
    #[arg(long)]
    devices: Option<String>,
    /// Optimisation steps (one D and one G update each).
    #[arg(long, default_value_t = 15000)]
    steps: u64,
    /// Seed for initialisation, noise and data order.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output folder.
    #[arg(long, default_value = "out/quickstart")]
    out: PathBuf,
    /// Examples per batch.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Adam learning rate of both networks.
    #[arg(long, default_value_t = 2e-4, allow_negative_numbers = true)]
    lr: f64,
    /// Steps between checkpoints (0: only at the end).
    #[arg(long, default_value_t = 5000)]
    checkpoint_every: u64,
    /// How many checkpoints to keep on disk (the newest).
    #[arg(long, default_value_t = 2)]
    keep_checkpoints: usize,
    /// Continue from the newest checkpoint in --out.
    #[arg(long)]
    resume: bool,
}

/// The run configuration saved next to the results.
#[derive(Serialize)]
struct RunConfig<'a> {
    args: &'a Args,
    model: &'a MlpGanConfig,
    training: &'a GanTrainingConfig,
}

fn main() -> ExitCode {
    let args = Args::parse();
    common::exit(run(&args))
}

fn run(args: &Args) -> gcore::Result<()> {
    let (device, devices) =
        common::training_devices(args.device.as_deref(), args.devices.as_deref())?;
    let model = MlpGanConfig::new(digits::PIXELS)
        .with_latent_dim(32)
        .with_generator_hidden(vec![128, 256])
        .with_discriminator_hidden(vec![256, 128]);
    let training = GanTrainingConfig::new().with_lr(args.lr);
    let trainer = Trainer::new(
        TrainerConfig::new()
            .with_steps(args.steps)
            .with_checkpoint_every(args.checkpoint_every)
            .with_keep_checkpoints(args.keep_checkpoints)
            .with_log_every(500),
        &args.out,
    )?
    .resume(args.resume)
    .with_run_config(&RunConfig {
        args,
        model: &model,
        training: &training,
    })?;

    let dataset = Digits::embedded()?.to_dataset();
    // 512 real digits to measure against, and 512 others as the floor: the
    // distance between two samples of the real distribution.
    let head = dataset.head(1024, &device);
    let real = head.clone().narrow(0, 0, 512);
    let floor = distance::energy_distance(head.narrow(0, 512, 512), real.clone())?;
    let mut loader = Loader::new(dataset, args.batch_size, args.seed)?;
    let mut rng = seed_device(args.seed, &device);
    let (g, d) = (
        model.init_generator(&device)?,
        model.init_discriminator(&device)?,
    );
    let mut gan = GanTrainer::new(g, d, training, &device)?;
    generative::core::TrainStep::replicate(&mut gan, &devices)?;

    let before = distance_to(gan.generator(), &real, &device)?;
    eprintln!(
        "training an MLP GAN on {} 8x8 digits for {} steps on {device:?}",
        loader.dataset().len(),
        args.steps
    );
    let outcome = trainer.fit(&mut gan, &mut loader, &mut rng)?;
    let after = distance_to(gan.generator(), &real, &device)?;

    let grid = GridOptions::default().columns(8).scale(4);
    let samples = gan
        .generator()
        .sample(64, None, &mut SeededRng::new(args.seed), &device)?;
    let samples_png = args.out.join("samples.png");
    save_grid(as_images(samples), &samples_png, &grid)?;
    save_grid(
        as_images(real.clone().narrow(0, 0, 64)),
        args.out.join("real.png"),
        &grid,
    )?;

    println!(
        "trained steps {}..{} in {:.1} s",
        outcome.start_step, outcome.final_step, outcome.seconds
    );
    println!(
        "energy distance to real digits: {before:.4} before, {after:.4} after \
         (between two sets of real digits: {floor:.4})"
    );
    println!("metrics:    {}", outcome.metrics_path.display());
    println!("checkpoint: {}", outcome.checkpoint.display());
    println!("samples:    {}", common::display(&samples_png));
    Ok(())
}

/// Energy distance between 512 generated digits and `real`.
fn distance_to(
    generator: &MlpGenerator,
    real: &Tensor<2>,
    device: &burn::tensor::Device,
) -> gcore::Result<f64> {
    let fake = generator.sample(real.dims()[0], None, &mut SeededRng::new(u64::MAX), device)?;
    distance::energy_distance(fake, real.clone())
}

fn as_images(flat: Tensor<2>) -> Tensor<4> {
    let n = flat.dims()[0];
    flat.reshape([n, 1, digits::SIDE, digits::SIDE])
}
