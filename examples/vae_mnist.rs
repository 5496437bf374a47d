//! A VAE learns MNIST, or any image dataset gen-data reads; its test-set
//! negative ELBO is reported in nats per image after every epoch.
//!
//! ```text
//! cargo run --release --example vae_mnist -- --data ../shared/data/mnist
//! cargo run --release --example vae_mnist -- --dataset fashion-mnist --model conv
//! cargo run --release --example vae_mnist -- --dataset folder --data my-faces --size 64 --model conv
//! cargo run --release --example vae_mnist -- --binarize dynamic --epochs 50 --nll-samples 1000
//! cargo run --release --example vae_mnist -- --model conv --conditional --epochs 5
//! ```
//!
//! The model is that of PyTorch's MNIST VAE example (the MLP 784-400-20,
//! Bernoulli decoder on grey levels read as probabilities, 10 epochs); the
//! recipe is this project's, chosen by measurement (docs/vae.md): batch
//! 64, Adam 2e-3 warmed up over 100 updates, then a cosine to 1e-5 at the
//! last update. `--batch-size 128 --lr 1e-3 --lr-schedule constant` is
//! PyTorch's example recipe. `--binarize dynamic` trains on
//! dynamically binarised digits (each epoch draws new binary images) and
//! tests on the test set binarised once with a fixed seed, the setting of
//! the published log-likelihoods; `--nll-samples K` adds the
//! importance-sampled negative log-likelihood with K samples per test image
//! at the end.
//!
//! Writes into `--out` (default `out/vae_mnist`): per epoch
//! `samples-EEE.png` (64 draws from the prior; for `--conditional` one row
//! per digit) and `reconstructions-EEE.png` (test digits above their
//! reconstructions); at the end `interpolation.png` (between test digits),
//! `traversal.png` (each latent coordinate from -3 to 3, the first 10),
//! `evaluation.json`, plus the trainer's `metrics.jsonl`, `config.json`
//! and `checkpoints/`. `--resume` continues from the newest checkpoint.

mod common;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use burn::tensor::{Device, Tensor};
use clap::{Parser, ValueEnum};
use common::dataset::{self, DataArgs, ImageData};
use generative::core::{
    self as gcore, BatchSource, GridOptions, Sample, SeededRng, Trainer, TrainerConfig, ValueRange,
    optim::LrSchedule, rng::seed_device, save_grid,
};
use generative::data::{Binarize, Examples, Loader};
use generative::vae::{
    ConvVaeConfig, Evaluation, MlpVaeConfig, Objective, Vae, VaeConfig, VaeTrainer,
    VaeTrainingConfig, evaluate, visual,
};
use serde::Serialize;

#[derive(Clone, Copy, Debug, Serialize, ValueEnum)]
enum Model {
    /// features-400-latent (784-400-20 on MNIST), the classic shape.
    Mlp,
    /// Two strided convolutions and two transposed ones (28, 32, 64... pixels).
    Conv,
}

#[derive(Clone, Copy, Debug, Serialize, ValueEnum)]
enum Binarise {
    /// Grey levels in [0, 1], read as Bernoulli probabilities.
    None,
    /// New binary draws every epoch; the test set binarised once.
    Dynamic,
}

#[derive(Clone, Copy, Debug, Serialize, ValueEnum)]
enum Schedule {
    /// The same rate at every update.
    Constant,
    /// Linear warm-up, then a cosine to --min-lr at the last update.
    Cosine,
}

/// Train a VAE on MNIST or any image dataset and report the test-set
/// negative ELBO in nats.
#[derive(Parser, Debug, Serialize)]
#[command(version)]
struct Args {
    #[command(flatten)]
    data: DataArgs,
    /// Classifier weights from train_classifier, to score the samples of a
    /// 28x28 grey dataset other than MNIST (MNIST uses the embedded one).
    #[arg(long)]
    classifier: Option<PathBuf>,
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
    /// The architecture.
    #[arg(long, value_enum, default_value_t = Model::Mlp)]
    model: Model,
    /// Length of z (default: 20 for the MLP, 16 for the conv VAE).
    #[arg(long)]
    latent: Option<usize>,
    /// Condition encoder and decoder on the digit's label.
    #[arg(long)]
    conditional: bool,
    /// How pixels are turned into Bernoulli targets.
    #[arg(long, value_enum, default_value_t = Binarise::None)]
    binarize: Binarise,
    /// Passes over the 60,000 training images.
    #[arg(long, default_value_t = 10)]
    epochs: u64,
    /// Examples per batch.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 2e-3, allow_negative_numbers = true)]
    lr: f64,
    /// How the learning rate moves: `constant`, or `cosine` (a linear
    /// warm-up over --warmup-steps, then a cosine down to --min-lr at the
    /// last step of the run).
    #[arg(long, value_enum, default_value_t = Schedule::Cosine)]
    lr_schedule: Schedule,
    /// Warm-up updates of the cosine schedule (at most a tenth of the run).
    #[arg(long, default_value_t = 100)]
    warmup_steps: u64,
    /// The learning rate the cosine schedule ends at (default: 1e-5, or
    /// --lr if lower).
    #[arg(long, allow_negative_numbers = true)]
    min_lr: Option<f64>,
    /// KL weight (beta-VAE); 1 is the plain VAE.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    beta: f64,
    /// Steps of linear KL warm-up (0: none).
    #[arg(long, default_value_t = 0)]
    kl_warmup: u64,
    /// Train on the importance-weighted bound with this many samples
    /// (0: the ELBO).
    #[arg(long, default_value_t = 0)]
    iwae: usize,
    /// Importance samples per test image for the final NLL (0: skip it).
    #[arg(long, default_value_t = 0)]
    nll_samples: usize,
    /// Prior samples scored at the end by the project's MNIST classifier
    /// (classifier-FID, class coverage; for --conditional, the share
    /// classified as the digit asked for) against the 10,000 test images
    /// (0: skip).
    #[arg(long, default_value_t = 2000)]
    quality_samples: usize,
    /// Seed for initialisation, noise and data order.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output folder.
    #[arg(long, default_value = "out/vae_mnist")]
    out: PathBuf,
    /// Continue from the newest checkpoint in --out.
    #[arg(long)]
    resume: bool,
}

/// The run configuration saved next to the results.
#[derive(Serialize)]
struct RunConfig<'a> {
    args: &'a Args,
    model: &'a VaeConfig,
    training: &'a VaeTrainingConfig,
}

fn main() -> ExitCode {
    let args = Args::parse();
    common::exit(start(&args))
}

/// The training settings, checked: bad flags are reported before any data
/// is read (and whether or not the data is there).
fn training_config(args: &Args, updates: u64) -> gcore::Result<VaeTrainingConfig> {
    let objective = match args.iwae {
        0 => Objective::Elbo,
        samples => Objective::Iwae { samples },
    };
    let mut training = VaeTrainingConfig::new()
        .with_lr(args.lr)
        .with_beta(args.beta)
        .with_kl_warmup_steps(args.kl_warmup)
        .with_objective(objective);
    if let Schedule::Cosine = args.lr_schedule {
        // A short run (a test, a smoke run) warms up over a tenth of itself.
        let warmup_steps = args.warmup_steps.min(updates / 10).max(1);
        training.optimizer.schedule = LrSchedule::WarmupCosine {
            warmup_steps,
            total_steps: updates.max(warmup_steps + 1),
            min_lr: args.min_lr.unwrap_or(args.lr.min(1e-5)),
        };
    }
    training.validate()?;
    Ok(training)
}

fn start(args: &Args) -> gcore::Result<()> {
    // The schedule's length is checked again once the data is known.
    training_config(args, args.warmup_steps + 1)?;
    let binarize = match args.binarize {
        Binarise::None => Binarize::Off,
        Binarise::Dynamic => Binarize::Dynamic,
    };
    // Grey levels (or colours) in [0, 1], read as Bernoulli probabilities.
    let data = args.data.load(ValueRange::ZeroToOne, binarize)?;
    let classes = if args.conditional {
        Some(data.require_classes("--conditional")?)
    } else {
        None
    };
    match args.model {
        Model::Mlp => {
            let cfg = MlpVaeConfig::new(data.features())
                .with_example_shape(Some(data.shape))
                .with_latent_dim(args.latent.unwrap_or(20))
                .with_num_classes(classes);
            let init = |device: &Device| cfg.init(device);
            run(args, data, &VaeConfig::Mlp(cfg.clone()), init)
        }
        Model::Conv => {
            data.require_size("conv VAE", &[28, 32, 64, 128])?;
            let cfg = ConvVaeConfig::new()
                .with_image_size(data.size())
                .with_channels(data.shape[0])
                .with_latent_dim(args.latent.unwrap_or(16))
                .with_num_classes(classes);
            let init = |device: &Device| cfg.init(device);
            run(args, data, &VaeConfig::Conv(cfg.clone()), init)
        }
    }
}

fn run<M: Vae + Sample>(
    args: &Args,
    data: ImageData,
    model_config: &VaeConfig,
    build: impl Fn(&Device) -> gcore::Result<M>,
) -> gcore::Result<()> {
    let (device, devices) =
        common::training_devices(args.device.as_deref(), args.devices.as_deref())?;
    // Full batches only, as the loader draws them.
    let per_epoch = (data.train.len() / args.batch_size.max(1)).max(1) as u64;
    let training = training_config(args, args.epochs * per_epoch)?;
    let trainer = Trainer::new(
        TrainerConfig::new()
            .with_epochs(args.epochs)
            .with_checkpoint_every(per_epoch)
            .with_log_every(100),
        &args.out,
    )?
    .resume(args.resume)
    .with_run_config(&RunConfig {
        args,
        model: model_config,
        training: &training,
    })?;

    let mut train = Loader::new(data.train.clone(), args.batch_size, args.seed)?;
    // The test set, read once, in order, binarised (if at all) by the
    // loader's fixed seed: epoch 0 of a sequential loader is the same
    // every time it is evaluated.
    let mut test_loader = Loader::new(data.test.clone(), 500.min(data.test.len()), 1)?.sequential();
    let probe = test_loader.batch(0, &device)?;
    let probe_labels: Vec<usize> = label_vec(&probe.labels);
    let shape = data.shape;

    let mut rng = seed_device(args.seed, &device);
    let mut vae = VaeTrainer::new(build(&device)?, training, &device)?;
    generative::core::TrainStep::replicate(&mut vae, &devices)?;
    eprintln!(
        "training a {:?} VAE on {} ({} epochs of {} batches of {}) on {device:?}",
        args.model,
        data.describe(),
        args.epochs,
        train.batches_per_epoch(),
        args.batch_size
    );
    let out = args.out.clone();
    let outcome = trainer.fit_with(&mut vae, &mut train, &mut rng, |epoch, vae| {
        let model = vae.model();
        let eval = evaluate(
            model,
            &mut test_loader,
            &device,
            0,
            &mut SeededRng::new(epoch),
        )?;
        pictures(
            model,
            shape,
            epoch,
            &probe.data,
            &probe_labels,
            &out,
            &device,
        )?;
        Ok(Some(format!(
            "epoch {epoch}: test -ELBO {:.2} nats per image (reconstruction {:.2}, KL {:.2})",
            eval.neg_elbo, eval.reconstruction, eval.kl
        )))
    })?;
    let model = vae.model();
    let eval: Evaluation = evaluate(
        model,
        &mut test_loader,
        &device,
        args.nll_samples,
        &mut SeededRng::new(u64::MAX),
    )?;
    let probes = probe.data.dims()[0];
    let strip_ends = |i: usize| probe.data.clone().narrow(0, i % probes, 1);
    let label = model.num_classes().map(|_| probe_labels[0]);
    let mut strips = Vec::new();
    for (a, b) in [(0, 1), (2, 3), (4, 5), (6, 7)] {
        strips.push(visual::interpolation(
            model,
            strip_ends(a),
            strip_ends(b),
            10,
            label,
            &device,
        )?);
    }
    let grid = GridOptions::default()
        .columns(10)
        .scale(2)
        .range(ValueRange::ZeroToOne);
    save_grid(
        visual::images(Tensor::cat(strips, 0), shape)?,
        out.join("interpolation.png"),
        &grid,
    )?;
    let dims: Vec<usize> = (0..model.latent_dim().min(10)).collect();
    let values: Vec<f64> = (0..10).map(|i| -3.0 + 6.0 * i as f64 / 9.0).collect();
    let traversal = visual::traversal(model, strip_ends(0), &dims, &values, label, &device)?;
    save_grid(
        visual::images(traversal, shape)?,
        out.join("traversal.png"),
        &grid,
    )?;
    let quality = match args.quality_samples {
        0 => None,
        n => match dataset::classifier(data.kind, shape, args.classifier.as_deref(), &device)? {
            None => None,
            Some(classifier) => {
                // An IDX set's references are its test images as they are
                // (not binarised); a folder's are its held-out tenth.
                let reference = if data.kind.is_idx() {
                    dataset::idx_test_images(&args.data, &device)?
                } else {
                    dataset::first_images(data.test.clone(), usize::MAX, &device)?.0
                };
                Some(common::sample_quality(
                    model,
                    n,
                    ValueRange::ZeroToOne,
                    reference,
                    classifier,
                    &device,
                )?)
            }
        },
    };
    let json = serde_json::to_string_pretty(&serde_json::json!({
        "likelihood": &eval,
        "quality": &quality,
    }))
    .expect("an evaluation serialises");
    gcore::checkpoint::write_atomic(&out.join("evaluation.json"), json.as_bytes())?;

    println!(
        "trained steps {}..{} in {:.1} s",
        outcome.start_step, outcome.final_step, outcome.seconds
    );
    println!(
        "test set ({} images): -ELBO {:.2} nats per image ({:.4} bits/dim)",
        eval.examples,
        eval.neg_elbo,
        gcore::nats::bits_per_dim(eval.neg_elbo, data.features())
    );
    if let Some(nll) = eval.nll {
        println!(
            "test set: -log p(x) ~ {nll:.2} nats per image ({} importance samples; {:.4} bits/dim)",
            eval.importance_samples, eval.bits_per_dim
        );
    }
    if let Some(q) = &quality {
        println!(
            "{} prior samples vs the test set: classifier-FID {:.2}, {} of 10 classes covered \
             (shares {:.3}..{:.3}), precision {:.3}, recall {:.3}",
            q.report.n_generated,
            q.report.fid,
            q.report.coverage.classes_covered,
            q.report.coverage.min_share,
            q.report.coverage.max_share,
            q.report.precision,
            q.report.recall
        );
        if let Some(acc) = q.conditional_accuracy {
            println!(
                "conditional samples classified as the class asked for: {:.1}%",
                100.0 * acc
            );
        }
    }
    println!("pictures and evaluation.json in {}", common::display(&out));
    Ok(())
}

fn label_vec(labels: &Option<Tensor<1, burn::tensor::Int>>) -> Vec<usize> {
    labels
        .as_ref()
        .and_then(|l| {
            l.clone()
                .into_data()
                .convert::<i64>()
                .try_into_vec::<i64>()
                .ok()
        })
        .map(|v| v.into_iter().map(|l| l as usize).collect())
        .unwrap_or_default()
}

/// The per-epoch pictures: prior samples and test reconstructions.
fn pictures<M: Vae + Sample>(
    model: &M,
    shape: [usize; 3],
    epoch: u64,
    probe: &Tensor<2>,
    probe_labels: &[usize],
    out: &Path,
    device: &Device,
) -> gcore::Result<()> {
    let grid = |columns| {
        GridOptions::default()
            .columns(columns)
            .scale(2)
            .range(ValueRange::ZeroToOne)
    };
    let mut rng = SeededRng::new(0);
    let samples = match model.num_classes() {
        // One row per digit.
        Some(k) => {
            let labels: Vec<usize> = (0..k).flat_map(|d| [d; 8]).collect();
            model.sample(labels.len(), Some(&labels), &mut rng, device)?
        }
        None => model.sample(64, None, &mut rng, device)?,
    };
    save_grid(
        visual::images(samples, shape)?,
        out.join(format!("samples-{epoch:03}.png")),
        &grid(8),
    )?;
    let shown = probe.dims()[0].min(16);
    let labels = model.num_classes().map(|_| &probe_labels[..shown]);
    let recon = visual::reconstructions(model, probe.clone().narrow(0, 0, shown), labels, device)?;
    save_grid(
        visual::images(recon, shape)?,
        out.join(format!("reconstructions-{epoch:03}.png")),
        &grid(shown),
    )?;
    Ok(())
}
