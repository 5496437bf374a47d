//! A convolutional VAE learns a latent space of faces and generates new
//! ones.
//!
//! ```text
//! cargo run --release --example vae_faces                    # the ORL faces at ../shared/data/orl-faces
//! cargo run --release --example vae_faces -- --data my/faces --rgb
//! cargo run --release --example vae_faces -- --celeba path/to/celeba --rgb --epochs 5
//! ```
//!
//! `--data` is any image folder (flat, or one subfolder per person or
//! class); 10% of it is held out as the test set. `--celeba` reads the
//! CelebA layout and uses its own train and test partitions. Images are
//! centre-cropped to a square and resized to `--size` (64), grey unless
//! `--rgb`; training images are flipped at random.
//!
//! Writes into `--out` (default `out/vae_faces`): every `--picture-every`
//! epochs and at the end `samples.png` (faces drawn from the prior),
//! `reconstructions.png` (test faces above their reconstructions) and
//! `interpolation.png` (four strips between pairs of test faces), plus
//! `evaluation.json` (test negative ELBO in nats), `metrics.jsonl`,
//! `config.json` and `checkpoints/`.

mod common;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use burn::tensor::{Device, Tensor};
use clap::{Parser, ValueEnum};
use generative::core::{
    self as gcore, BatchSource, GridOptions, Sample, SeededRng, Trainer, TrainerConfig, ValueRange,
    rng::seed_device, save_grid,
};
use generative::data::{
    CelebA, CelebASplit, Channels, Examples, FileImages, ImageFolder, Loader, Subset, Transform,
    train_test_split,
};
use generative::vae::{
    ConvVae, ConvVaeConfig, Likelihood, VaeConfig, VaeTrainer, VaeTrainingConfig, evaluate, visual,
};
use serde::Serialize;

#[derive(Clone, Copy, Debug, Serialize, ValueEnum)]
enum Decoder {
    /// Grey levels read as Bernoulli probabilities.
    Bernoulli,
    /// Gaussian with the fixed standard deviation --std.
    Gaussian,
    /// Gaussian with a learned variance per pixel.
    Learned,
}

/// Train a convolutional VAE on face images.
#[derive(Parser, Debug, Serialize)]
#[command(version)]
struct Args {
    /// An image folder (default: the ORL faces at ../shared/data/orl-faces).
    #[arg(long, conflicts_with = "celeba")]
    data: Option<PathBuf>,
    /// A folder in the CelebA layout (img_align_celeba/, list_attr_celeba.txt,
    /// list_eval_partition.txt).
    #[arg(long)]
    celeba: Option<PathBuf>,
    /// Colour images (3 channels) instead of grey.
    #[arg(long)]
    rgb: bool,
    /// Image side after crop and resize; a multiple of 16.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Length of z.
    #[arg(long, default_value_t = 64)]
    latent: usize,
    /// The decoder's likelihood.
    #[arg(long, value_enum, default_value_t = Decoder::Bernoulli)]
    decoder: Decoder,
    /// Standard deviation of the fixed Gaussian decoder (pixels in [0, 1]).
    #[arg(long, default_value_t = 0.1)]
    std: f64,
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
    /// Passes over the training images.
    #[arg(long, default_value_t = 100)]
    epochs: u64,
    /// Examples per batch.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3, allow_negative_numbers = true)]
    lr: f64,
    /// KL weight (beta-VAE).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    beta: f64,
    /// Epochs between pictures and test evaluations.
    #[arg(long, default_value_t = 50)]
    picture_every: u64,
    /// Seed for the split, initialisation, noise and data order.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output folder.
    #[arg(long, default_value = "out/vae_faces")]
    out: PathBuf,
    /// Continue from the newest checkpoint in --out.
    #[arg(long)]
    resume: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    common::exit(run(&args))
}

/// The training and test images: CelebA's own partitions, or a 90/10
/// split of a folder (the same split for both transforms).
fn datasets(args: &Args) -> gcore::Result<(Subset<FileImages>, Subset<FileImages>)> {
    let channels = if args.rgb {
        Channels::Rgb
    } else {
        Channels::Grey
    };
    let base = Transform::new()
        .square(args.size as u32)
        .channels(channels)
        .range(ValueRange::ZeroToOne);
    let flipped = base.clone().random_hflip();
    if let Some(root) = &args.celeba {
        let open = |split, t| CelebA::new().split(split).open(root, t);
        let (train, test) = (
            open(CelebASplit::Train, flipped)?,
            open(CelebASplit::Test, base)?,
        );
        let all = |e: FileImages| {
            let n = e.len();
            Subset::new(std::sync::Arc::new(e), (0..n).collect())
        };
        return Ok((all(train), all(test)));
    }
    let root = args
        .data
        .clone()
        .unwrap_or_else(|| PathBuf::from("../shared/data/orl-faces"));
    let open = |t| {
        ImageFolder::open(&root, t).map_err(|e| {
            gcore::Error::Data(format!(
                "{e}\nno faces at {}: pass --data <image folder> or --celeba <CelebA folder>",
                root.display()
            ))
        })
    };
    let (train, _) = train_test_split(open(flipped)?, 0.1, args.seed)?;
    let (_, test) = train_test_split(open(base)?, 0.1, args.seed)?;
    Ok((train, test))
}

fn run(args: &Args) -> gcore::Result<()> {
    let (device, devices) =
        common::training_devices(args.device.as_deref(), args.devices.as_deref())?;
    let channels = if args.rgb { 3 } else { 1 };
    let likelihood = match args.decoder {
        Decoder::Bernoulli => Likelihood::Bernoulli,
        Decoder::Gaussian => Likelihood::Gaussian { std: args.std },
        Decoder::Learned => Likelihood::GaussianLearned,
    };
    let model = ConvVaeConfig::faces(channels)
        .with_image_size(args.size)
        .with_latent_dim(args.latent)
        .with_likelihood(likelihood);
    model.validate()?;
    let training = VaeTrainingConfig::new()
        .with_lr(args.lr)
        .with_beta(args.beta);
    let (train, test) = datasets(args)?;
    let (n_train, n_test) = (train.len(), test.len());
    let mut train = Loader::new(train, args.batch_size.min(n_train), args.seed)?;
    let test_batch = test_batch_size(n_test);
    let mut test = Loader::new(test, test_batch, 0)?.sequential();
    let probe = test.batch(0, &device)?.data;
    let trainer = Trainer::new(
        TrainerConfig::new()
            .with_epochs(args.epochs)
            .with_checkpoint_every(train.batches_per_epoch() as u64 * args.picture_every.max(1))
            .with_log_every(50),
        &args.out,
    )?
    .resume(args.resume)
    .with_run_config(&serde_json::json!({
        "args": args, "model": VaeConfig::Conv(model.clone()), "training": &training,
    }))?;

    let mut rng = seed_device(args.seed, &device);
    let mut vae = VaeTrainer::new(model.init(&device)?, training, &device)?;
    generative::core::TrainStep::replicate(&mut vae, &devices)?;
    eprintln!(
        "training a conv VAE on {n_train} faces ({n_test} held out), {}x{} {}, for {} epochs on {device:?}",
        args.size,
        args.size,
        if args.rgb { "RGB" } else { "grey" },
        args.epochs
    );
    let shape = [channels, args.size, args.size];
    let out = args.out.clone();
    let every = args.picture_every.max(1);
    let outcome = trainer.fit_with(&mut vae, &mut train, &mut rng, |epoch, vae| {
        if !epoch.is_multiple_of(every) {
            return Ok(None);
        }
        let eval = evaluate(
            vae.model(),
            &mut test,
            &device,
            0,
            &mut SeededRng::new(epoch),
        )?;
        pictures(vae.model(), &probe, shape, &out, &device)?;
        Ok(Some(format!(
            "epoch {epoch}: test -ELBO {:.1} nats per image (reconstruction {:.1}, KL {:.1})",
            eval.neg_elbo, eval.reconstruction, eval.kl
        )))
    })?;
    pictures(vae.model(), &probe, shape, &out, &device)?;
    let eval = evaluate(vae.model(), &mut test, &device, 0, &mut SeededRng::new(0))?;
    let json = serde_json::to_string_pretty(&eval).expect("an evaluation serialises");
    gcore::checkpoint::write_atomic(&out.join("evaluation.json"), json.as_bytes())?;
    println!(
        "trained steps {}..{} in {:.1} s",
        outcome.start_step, outcome.final_step, outcome.seconds
    );
    println!(
        "test set ({} faces): -ELBO {:.1} nats per image ({:.4} bits/dim)",
        eval.examples, eval.neg_elbo, eval.bits_per_dim
    );
    println!("pictures in {}", common::display(&out));
    Ok(())
}

/// The largest batch size up to 64 that divides the test set, so every
/// test image counts once.
fn test_batch_size(n: usize) -> usize {
    (1..=n.min(64))
        .rev()
        .find(|b| n.is_multiple_of(*b))
        .unwrap_or(1)
}

fn pictures(
    model: &ConvVae,
    probe: &Tensor<2>,
    shape: [usize; 3],
    out: &Path,
    device: &Device,
) -> gcore::Result<()> {
    let grid = |columns| {
        GridOptions::default()
            .columns(columns)
            .range(ValueRange::ZeroToOne)
    };
    let samples = model.sample(32, None, &mut SeededRng::new(0), device)?;
    save_grid(
        visual::images(samples, shape)?,
        out.join("samples.png"),
        &grid(8),
    )?;
    let n = probe.dims()[0].min(8);
    let recon = visual::reconstructions(model, probe.clone().narrow(0, 0, n), None, device)?;
    save_grid(
        visual::images(recon, shape)?,
        out.join("reconstructions.png"),
        &grid(n),
    )?;
    if probe.dims()[0] >= 8 {
        let face = |i| probe.clone().narrow(0, i, 1);
        let strips = (0..4)
            .map(|p| visual::interpolation(model, face(2 * p), face(2 * p + 1), 8, None, device))
            .collect::<gcore::Result<Vec<_>>>()?;
        save_grid(
            visual::images(Tensor::cat(strips, 0), shape)?,
            out.join("interpolation.png"),
            &grid(8),
        )?;
    }
    Ok(())
}
