//! A GAN learns MNIST, or any image dataset gen-data reads: DCGAN by
//! default, or the MLP GAN; conditional or not; any of the five objectives,
//! with weight clipping, spectral normalisation, the finite-difference
//! gradient penalty and an EMA of the generator's weights.
//!
//! ```text
//! cargo run --release --example gan_mnist -- --data ../shared/data/mnist
//! cargo run --release --example gan_mnist -- --dataset fashion-mnist --conditional
//! cargo run --release --example gan_mnist -- --dataset folder --data my-faces --size 64
//! cargo run --release --example gan_mnist -- --model mlp --epochs 5
//! cargo run --release --example gan_mnist -- --conditional --loss hinge --spectral-norm
//! cargo run --release --example gan_mnist -- --loss wasserstein --gp 10 --n-critic 5
//! cargo run --release --example gan_mnist -- --loss wasserstein --clip 0.01 --n-critic 5
//! cargo run --release --example gan_mnist -- --steps 300 --ema 0.999   # a fraction of an epoch
//! ```
//!
//! The defaults are the DCGAN of `bench/pytorch/bench_dcgan.py` (z = 100,
//! G 128x7x7 -> 64x14x14 -> 1x28x28, D 1 -> 64 -> 128 -> 1), Adam 2e-4 with
//! beta1 = 0.5, batch 64, the non-saturating loss, digits in `[-1, 1]`.
//!
//! Writes into `--out` (default `out/gan_mnist`) after every epoch (and at
//! the end): `samples-EEE.png` (64 samples; conditional models: labels
//! 0..9 in turn), `interpolation-EEE.png` (8 rows, each a straight line in
//! z between two draws; conditional models: row r is digit r), and for
//! conditional models `digits-EEE.png` (one row per digit); at the end
//! `evaluation.json` with the classifier-based metrics of `--eval-samples`
//! samples against the test set (MNIST with the embedded classifier; a
//! 28x28 grey labelled set such as Fashion-MNIST with `--classifier FILE`
//! from `train_classifier`) (classifier-FID, KID, class coverage,
//! precision/recall; for conditional models the share of samples the
//! classifier assigns to the requested digit), plus the trainer's
//! `metrics.jsonl`, `config.json` and `checkpoints/`. `--resume` continues
//! from the newest checkpoint.

mod common;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use burn::tensor::{Device, Tensor};
use clap::{Parser, ValueEnum};
use common::dataset::{self, DataArgs, ImageData};
use generative::core::labels::upload as labels_tensor;
use generative::core::{
    self as gcore, BatchSource, GridOptions, Sample, SeededRng, Trainer, TrainerConfig, ValueRange,
    rng::seed_device, save_grid,
};
use generative::data::{Binarize, Examples, Loader};
use generative::eval::classifier::{
    ImageQuality, MnistClassifier, QualityConfig, QualityReport, to_unit_range,
};
use generative::gan::{
    DcganConfig, Discriminator, GanLoss, GanTrainer, GanTrainingConfig, Generator,
    GradientPenaltyConfig, MlpGanConfig,
};
use serde::Serialize;

#[derive(Clone, Copy, Debug, Serialize, ValueEnum)]
enum Model {
    /// The MLP GAN (G 64-256-512-784, D 784-512-256-1).
    Mlp,
    /// DCGAN (28, 32, 64... pixels).
    Dcgan,
}

/// Train a GAN on MNIST or any image dataset, write sample grids (and, on
/// MNIST, classifier-based metrics).
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
    #[arg(long, value_enum, default_value_t = Model::Dcgan)]
    model: Model,
    /// Condition G and D on the class label (a labelled dataset).
    #[arg(long)]
    conditional: bool,
    /// The objective: non-saturating, minimax, hinge, wasserstein (with
    /// --clip, --spectral-norm or --gp) or least-squares.
    #[arg(long, default_value = "non-saturating")]
    loss: GanLoss,
    /// Clip D's weights to [-c, c] after each update (WGAN).
    #[arg(long)]
    clip: Option<f64>,
    /// Spectrally normalise every layer of D (DCGAN's D then has no BatchNorm).
    #[arg(long)]
    spectral_norm: bool,
    /// Weight of the finite-difference gradient penalty (DCGAN's D then
    /// has no BatchNorm).
    #[arg(long)]
    gp: Option<f64>,
    /// Decay of the moving average of G's weights used for sampling (e.g. 0.999).
    #[arg(long)]
    ema: Option<f64>,
    /// D updates per G update.
    #[arg(long, default_value_t = 1)]
    n_critic: usize,
    /// Length of z (default: 100 for DCGAN, 64 for the MLP).
    #[arg(long)]
    latent: Option<usize>,
    /// Passes over the training images.
    #[arg(long, default_value_t = 5)]
    epochs: u64,
    /// Train this many steps instead of --epochs (a step is n_critic
    /// batches for D and one for G).
    #[arg(long)]
    steps: Option<u64>,
    /// Examples per batch.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Adam learning rate of both players.
    #[arg(long, default_value_t = 2e-4)]
    lr: f64,
    /// The discriminator's own learning rate (two time-scale updates,
    /// Heusel et al. 2017); default: --lr.
    #[arg(long)]
    lr_d: Option<f64>,
    /// Samples for the final evaluation (0: skip it).
    #[arg(long, default_value_t = 2000)]
    eval_samples: usize,
    /// Seed for initialisation, noise and data order.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output folder.
    #[arg(long, default_value = "out/gan_mnist")]
    out: PathBuf,
    /// Continue from the newest checkpoint in --out.
    #[arg(long)]
    resume: bool,
}

/// The run configuration saved next to the results.
#[derive(Serialize)]
struct RunConfig<'a> {
    args: &'a Args,
    /// `{"kind": "mlp_gan" | "dcgan", "config": ...}`: what the `evaluate`
    /// example rebuilds the generator from.
    model: &'a serde_json::Value,
    training: &'a GanTrainingConfig,
}

/// What `evaluation.json` holds.
#[derive(Serialize)]
struct Evaluation {
    steps: u64,
    train_seconds: f64,
    quality: QualityReport,
    /// Conditional models: the share of samples classified as the digit
    /// they were generated for.
    conditional_accuracy: Option<f64>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    common::exit(start(&args))
}

fn start(args: &Args) -> gcore::Result<()> {
    // Images in [-1, 1], the range of G's tanh.
    let data = args.data.load(ValueRange::MinusOneToOne, Binarize::Off)?;
    let classes = if args.conditional {
        Some(data.require_classes("--conditional")?)
    } else {
        None
    };
    let plain_d = args.gp.is_none();
    match args.model {
        Model::Mlp => {
            let cfg = MlpGanConfig::new(data.features())
                .with_latent_dim(args.latent.unwrap_or(64))
                .with_num_classes(classes)
                .with_spectral_norm(args.spectral_norm);
            let model = serde_json::json!({ "kind": "mlp_gan", "config": &cfg });
            run(args, data, &model, |device| {
                Ok((cfg.init_generator(device)?, cfg.init_discriminator(device)?))
            })
        }
        Model::Dcgan => {
            data.require_size("DCGAN", &[28, 32, 56, 64, 112, 128])?;
            let cfg = DcganConfig::new()
                .with_image_size(data.size())
                .with_channels(data.shape[0])
                .with_latent_dim(args.latent.unwrap_or(100))
                .with_num_classes(classes)
                .with_spectral_norm(args.spectral_norm)
                .with_discriminator_batch_norm(plain_d);
            let model = serde_json::json!({ "kind": "dcgan", "config": &cfg });
            run(args, data, &model, |device| {
                Ok((cfg.init_generator(device)?, cfg.init_discriminator(device)?))
            })
        }
    }
}

fn run<G, D>(
    args: &Args,
    data: ImageData,
    model: &serde_json::Value,
    build: impl Fn(&Device) -> generative::gan::Result<(G, D)>,
) -> gcore::Result<()>
where
    G: Generator + Sample,
    D: Discriminator,
{
    let (device, devices) =
        common::training_devices(args.device.as_deref(), args.devices.as_deref())?;
    let mut training = GanTrainingConfig::new()
        .with_lr(args.lr)
        .with_loss(args.loss)
        .with_n_critic(args.n_critic)
        .with_clip(args.clip)
        .with_gradient_penalty(args.gp.map(|w| GradientPenaltyConfig::new().with_weight(w)));
    if let Some(lr_d) = args.lr_d {
        training.discriminator.lr = lr_d;
    }
    if let Some(decay) = args.ema {
        training = training.with_ema(decay);
    }
    training.validate()?;
    let n_train = data.train.len();
    let per_epoch = n_train as u64 / args.batch_size.max(1) as u64 / args.n_critic.max(1) as u64;
    let schedule = match args.steps {
        Some(s) => TrainerConfig::new().with_steps(s),
        None => TrainerConfig::new().with_epochs(args.epochs),
    };
    let trainer = Trainer::new(
        schedule
            .with_checkpoint_every(per_epoch.max(1))
            .with_log_every(50),
        &args.out,
    )?
    .resume(args.resume)
    .with_run_config(&RunConfig {
        args,
        model,
        training: &training,
    })?;

    let mut train = Loader::new(data.train.clone(), args.batch_size, args.seed)?;
    let shape = data.shape;

    let mut rng = seed_device(args.seed, &device);
    let (g, d) = build(&device)?;
    let mut gan = GanTrainer::new(g, d, training, &device)?;
    generative::core::TrainStep::replicate(&mut gan, &devices)?;
    eprintln!(
        "training a {}{:?} GAN ({:?} loss) on {} on {device:?}: {} of {} batches of {}",
        if args.conditional { "conditional " } else { "" },
        args.model,
        args.loss,
        data.describe(),
        match args.steps {
            Some(s) => format!("{s} steps"),
            None => format!("{} epochs", args.epochs),
        },
        train.batches_per_epoch(),
        args.batch_size
    );
    let out = args.out.clone();
    let started = Instant::now();
    let outcome = trainer.fit_with(&mut gan, &mut train, &mut rng, |epoch, gan| {
        pictures(&gan.sampler(), shape, &format!("{epoch:03}"), &out, &device)?;
        Ok(Some(format!("epoch {epoch}: pictures written")))
    })?;
    let train_seconds = started.elapsed().as_secs_f64();
    pictures(&gan.sampler(), shape, "final", &out, &device)?;
    println!(
        "trained steps {}..{} in {:.1} s ({:.3} epochs)",
        outcome.start_step,
        outcome.final_step,
        outcome.seconds,
        outcome.final_step as f64 * (args.batch_size * args.n_critic) as f64 / n_train as f64
    );

    let classifier = match args.eval_samples {
        0 | 1 => None,
        _ => dataset::classifier(data.kind, shape, args.classifier.as_deref(), &device)?,
    };
    if let Some(classifier) = classifier {
        let eval_start = Instant::now();
        let evaluation = evaluate(
            &gan.sampler(),
            classifier,
            args.eval_samples,
            data.test.clone(),
            &device,
            outcome.final_step,
            train_seconds,
        )?;
        let q = &evaluation.quality;
        println!(
            "{} samples vs {} test images: classifier-FID {:.2}, KID {:.4}, classifier score {:.2} (test set {:.2}), \
             classes covered {}/10 (min share {:.3}, TV to the test set {:.3}), precision {:.3}, recall {:.3}",
            q.n_generated,
            q.n_reference,
            q.fid,
            q.kid_mean,
            q.classifier_score,
            q.classifier_score_reference,
            q.coverage.classes_covered,
            q.coverage.min_share,
            q.coverage.tv_to_reference,
            q.precision,
            q.recall
        );
        if let Some(acc) = evaluation.conditional_accuracy {
            println!(
                "conditional accuracy: {:.2}% of samples classified as the requested digit",
                100.0 * acc
            );
        }
        println!(
            "evaluation took {:.1} s",
            eval_start.elapsed().as_secs_f64()
        );
        let json = serde_json::to_string_pretty(&evaluation).expect("an evaluation serialises");
        gcore::checkpoint::write_atomic(&out.join("evaluation.json"), json.as_bytes())?;
    }
    println!("pictures in {}", display(&out));
    Ok(())
}

/// Samples `n` images `[n, c, h, w]` in [-1, 1]; conditional models get
/// the labels 0..k in turn, which are returned.
fn draw<G: Generator + Sample>(
    g: &G,
    shape: [usize; 3],
    n: usize,
    rng: &mut SeededRng,
    device: &Device,
) -> gcore::Result<(Tensor<4>, Option<Vec<usize>>)> {
    let labels: Option<Vec<usize>> = g.num_classes().map(|k| (0..n).map(|i| i % k).collect());
    let x = g.sample(n, labels.as_deref(), rng, device)?;
    let [c, h, w] = shape;
    Ok((x.reshape([n, c, h, w]), labels))
}

fn evaluate<G: Generator + Sample>(
    g: &G,
    classifier: MnistClassifier,
    n: usize,
    test: std::sync::Arc<dyn Examples>,
    device: &Device,
    steps: u64,
    train_seconds: f64,
) -> gcore::Result<Evaluation> {
    let quality = ImageQuality::new(
        classifier,
        QualityConfig::new().with_input_range(ValueRange::MinusOneToOne),
    )?;
    let (reference, _) = dataset::first_images(test, usize::MAX, device)?;
    // Generate in chunks of 500 to bound memory.
    let mut rng = SeededRng::new(12345);
    let mut images = Vec::new();
    let mut labels = Vec::new();
    let mut left = n;
    while left > 0 {
        let k = left.min(500);
        let (x, l) = draw(g, [1, 28, 28], k, &mut rng, device)?;
        images.push(x);
        labels.extend(l.unwrap_or_default());
        left -= k;
    }
    let generated = Tensor::cat(images, 0);
    let conditional_accuracy = if labels.is_empty() {
        None
    } else {
        let probs = quality
            .classifier()
            .probs(to_unit_range(generated.clone(), ValueRange::MinusOneToOne))?;
        let predicted: Vec<i64> = probs
            .argmax(1)
            .into_data()
            .convert::<i64>()
            .try_into_vec()
            .map_err(|e| gcore::Error::Data(format!("{e:?}")))?;
        let hits = predicted
            .iter()
            .zip(&labels)
            .filter(|&(p, &l)| *p == l as i64)
            .count();
        Some(hits as f64 / labels.len() as f64)
    };
    let quality = quality.compare(generated, reference)?;
    Ok(Evaluation {
        steps,
        train_seconds,
        quality,
        conditional_accuracy,
    })
}

/// The pictures: samples, interpolations, and one row per digit.
fn pictures<G: Generator + Sample>(
    g: &G,
    shape: [usize; 3],
    tag: &str,
    out: &Path,
    device: &Device,
) -> gcore::Result<()> {
    let grid = |columns| GridOptions::default().columns(columns).scale(2);
    let mut rng = SeededRng::new(0);
    let (samples, _) = draw(g, shape, 64, &mut rng, device)?;
    let [c, h, w] = shape;
    save_grid(samples, out.join(format!("samples-{tag}.png")), &grid(8))?;

    // Interpolation: row r goes from z_a to z_b in 10 steps.
    let model = g.valid().to_device(device);
    let (rows, steps) = (8, 10);
    let za = rng.normal([rows, g.latent_dim()], device);
    let zb = rng.normal([rows, g.latent_dim()], device);
    let mut zs = Vec::new();
    for r in 0..rows {
        for s in 0..steps {
            let t = s as f64 / (steps - 1) as f64;
            let a = za.clone().narrow(0, r, 1);
            let b = zb.clone().narrow(0, r, 1);
            zs.push(a * (1.0 - t) + b * t);
        }
    }
    let z = Tensor::cat(zs, 0);
    let labels = g.num_classes().map(|k| {
        labels_tensor(
            &(0..rows * steps)
                .map(|i| (i / steps) % k)
                .collect::<Vec<_>>(),
            device,
        )
    });
    let strip = model.generate(z, labels).reshape([rows * steps, c, h, w]);
    save_grid(
        strip,
        out.join(format!("interpolation-{tag}.png")),
        &grid(steps),
    )?;

    if let Some(k) = g.num_classes() {
        let labels: Vec<usize> = (0..k).flat_map(|d| [d; 10]).collect();
        let x = g.sample(labels.len(), Some(&labels), &mut rng, device)?;
        save_grid(
            x.reshape([labels.len(), c, h, w]),
            out.join(format!("digits-{tag}.png")),
            &grid(10),
        )?;
    }
    Ok(())
}

fn display(path: &Path) -> String {
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}
