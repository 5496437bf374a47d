//! A UNet diffusion model learns MNIST, or any image dataset gen-data
//! reads; samples are drawn with DDIM and DPM-Solver++ at several step
//! counts and scored with the classifier-FID and class coverage against the
//! test set (where a classifier fits the data).
//!
//! ```text
//! cargo run --release --example diffusion_mnist -- --data ../shared/data/mnist
//! cargo run --release --example diffusion_mnist -- --dataset fashion-mnist --conditional
//! cargo run --release --example diffusion_mnist -- --dataset folder --data my-faces --size 32
//! cargo run --release --example diffusion_mnist -- --conditional --guidance 2 --epochs 5
//! cargo run --release --example diffusion_mnist -- --steps 1500 --samplers none
//! cargo run --release --example diffusion_mnist -- --steps 1500 --resume --samplers ddim10,dpm20 --vlb-images 100
//! ```
//!
//! Trains with gen-core's `Trainer` (progress, `metrics.jsonl`,
//! checkpoints; `--resume` continues from the newest one, and a resumed
//! run whose checkpoint is already at the requested length trains nothing
//! and goes straight to sampling). After every epoch it writes
//! `samples-EEE.png` (64 draws from the EMA weights, DDIM 20 steps). At the
//! end, for every sampler of `--samplers` (ddim10, ddim50, ddim250, dpm10,
//! dpm20, ddpm1000, euler50...): `samples-<sampler>.png` and, with
//! `--eval-samples N > 0`, the classifier-FID, KID and class coverage of N
//! samples against the 10,000 test images (gen-core's `ImageQuality`);
//! `strip.png` shows one digit denoising from noise (top row: `x_t`,
//! bottom row: the model's estimate of `x0`, DDIM 50 steps);
//! `--vlb-images K` adds the variational bound in bits per dimension on the
//! first K test images. Everything is summarised in `evaluation.json`.
//!
//! `--conditional` trains a class-conditional UNet with label dropout
//! (`--p-uncond`) and samples with classifier-free guidance scale
//! `--guidance`, one digit per column.
//!
//! `--layout compact` trains the UNet of the PyTorch benchmark
//! `bench_ddpm.py` (`UNetConfig::compact`: one block per level, attention
//! in the middle only, 583,713 parameters at 32 channels) instead of the
//! default full layout (`UNetConfig::for_size`, 1,112,801 parameters).

mod common;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use burn::tensor::{Device, Tensor};
use clap::Parser;
use common::dataset::{self, DataArgs, ImageData};
use generative::core::{
    self as gcore, BatchSource, GridOptions, SeededRng, Trainer, TrainerConfig, ValueRange,
    rng::seed_device, rng::with_seed, save_grid,
};
use generative::data::{Binarize, Loader};
use generative::diffusion::{
    BetaSchedule, DiffusionTrainer, DiffusionTrainingConfig, LossWeighting, Prediction,
    SamplerKind, Trajectory, UNet, UNetConfig, UNetLayout, sample, sample_trajectory, vlb,
};
use generative::eval::{ImageQuality, QualityConfig, QualityReport};
use serde::Serialize;

/// Train a diffusion UNet on MNIST or any image dataset and score its
/// samples (where a classifier fits the data).
#[derive(Parser, Debug, Serialize)]
#[command(version)]
struct Args {
    /// Folder with the four MNIST IDX files (gzipped or not).
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
    /// Passes over the 60,000 training images (ignored when --steps is set).
    #[arg(long, default_value_t = 1)]
    epochs: u64,
    /// Train for this many optimisation steps instead of whole epochs.
    #[arg(long)]
    steps: Option<u64>,
    /// Examples per batch.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// UNet channels of the first level (levels: x1, x2, x2).
    #[arg(long, default_value_t = 32)]
    channels: usize,
    /// Residual blocks per level.
    #[arg(long, default_value_t = 1)]
    res_blocks: usize,
    /// UNet layout: full (the project's: `res_blocks` blocks per level down
    /// and one more up, attention at 7x7 and in the middle) or compact
    /// (bench_ddpm.py's UNet: one block per level, attention in the middle
    /// only; needs `--res-blocks 1`).
    #[arg(long, default_value = "full")]
    layout: UNetLayout,
    /// What the network predicts: epsilon (the noise), v (the velocity) or
    /// x0 (the clean image).
    #[arg(long, default_value = "epsilon")]
    prediction: Prediction,
    /// Min-SNR-gamma loss weighting with this gamma (0: uniform).
    #[arg(long, default_value_t = 0.0)]
    min_snr: f64,
    /// Cosine noise schedule instead of the linear one.
    #[arg(long)]
    cosine: bool,
    /// EMA decay of the weights used for sampling.
    #[arg(long, default_value_t = 0.995)]
    ema: f64,
    /// Condition on the digit's label (classifier-free guidance).
    #[arg(long)]
    conditional: bool,
    /// Probability of dropping a label during training (--conditional).
    #[arg(long, default_value_t = 0.1)]
    p_uncond: f64,
    /// Guidance scale when sampling a conditional model (1: none).
    #[arg(long, default_value_t = 2.0)]
    guidance: f64,
    /// Samplers to run at the end, comma-separated: ddimN, dpmN, ddpmN,
    /// eulerN; "none" for none.
    #[arg(long, default_value = "ddim10,ddim50,ddim250,dpm10,dpm20")]
    samplers: String,
    /// Samples per sampler for the classifier-FID (0: only the grids).
    #[arg(long, default_value_t = 1000)]
    eval_samples: usize,
    /// Test images for the variational bound in bits per dimension (0: skip).
    #[arg(long, default_value_t = 0)]
    vlb_images: usize,
    /// Timesteps per image of the bound's Monte-Carlo estimate (1..=1000).
    #[arg(long, default_value_t = 50)]
    vlb_timesteps: usize,
    /// Images per sampling batch.
    #[arg(long, default_value_t = 250)]
    sample_batch: usize,
    /// Seed for initialisation, noise and data order.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output folder.
    #[arg(long, default_value = "out/diffusion_mnist")]
    out: PathBuf,
    /// Steps between checkpoints.
    #[arg(long, default_value_t = 200)]
    checkpoint_every: u64,
    /// Continue from the newest checkpoint in --out.
    #[arg(long)]
    resume: bool,
}

/// One sampler's results.
#[derive(Serialize)]
struct SamplerResult {
    sampler: String,
    steps: usize,
    samples: usize,
    seconds: f64,
    seconds_per_sample: f64,
    quality: Option<QualityReport>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `ddim50` -> (DDIM eta 0, 50).
fn parse_sampler(name: &str) -> gcore::Result<(SamplerKind, usize)> {
    let split = name
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(name.len());
    let (kind, steps) = name.split_at(split);
    let steps: usize = steps.parse().map_err(|_| {
        gcore::Error::config(
            "samplers",
            format!("`{name}`: expected a name and a step count, e.g. ddim50"),
        )
    })?;
    Ok((kind.parse()?, steps))
}

/// The first `n` held-out images as `[n, c, h, w]` in [-1, 1], with
/// their labels.
fn images(data: &ImageData, n: usize, device: &Device) -> gcore::Result<(Tensor<4>, Vec<i64>)> {
    dataset::first_images(data.test.clone(), n, device)
}

fn run(args: &Args) -> gcore::Result<()> {
    let (device, devices) =
        common::training_devices(args.device.as_deref(), args.devices.as_deref())?;
    let data = args.data.load(ValueRange::MinusOneToOne, Binarize::Off)?;
    let classes = if args.conditional {
        Some(data.require_classes("--conditional")?)
    } else {
        None
    };
    data.require_size("UNet", &[28, 32, 64])?;
    let [c, h, w] = data.shape;
    let samplers: Vec<(String, SamplerKind, usize)> = if args.samplers == "none" {
        Vec::new()
    } else {
        args.samplers
            .split(',')
            .map(|s| parse_sampler(s.trim()).map(|(k, n)| (s.trim().to_string(), k, n)))
            .collect::<gcore::Result<_>>()?
    };
    let prediction = args.prediction;
    let training = DiffusionTrainingConfig::new()
        .with_lr(args.lr)
        .with_prediction(prediction)
        .with_schedule(if args.cosine {
            BetaSchedule::Cosine
        } else {
            BetaSchedule::LINEAR
        })
        .with_weighting(if args.min_snr > 0.0 {
            LossWeighting::MinSnr {
                gamma: args.min_snr,
            }
        } else {
            LossWeighting::Uniform
        })
        .with_ema_decay(args.ema)
        .with_p_uncond(args.p_uncond);
    let unet = match args.layout {
        UNetLayout::Full => UNetConfig::for_size(h, c),
        UNetLayout::Compact => UNetConfig::compact(h, c),
    }
    .with_base_channels(args.channels)
    .with_res_blocks(args.res_blocks)
    .with_num_classes(classes);
    let trainer_config = match args.steps {
        Some(s) => TrainerConfig::new().with_steps(s),
        None => TrainerConfig::new().with_epochs(args.epochs),
    }
    .with_checkpoint_every(args.checkpoint_every)
    .with_log_every(50);
    let trainer = Trainer::new(trainer_config, &args.out)?
        .resume(args.resume)
        .with_run_config(&serde_json::json!({
            "args": args, "training": &training, "unet": &unet,
        }))?;

    let mut rng = seed_device(args.seed, &device);
    let net: UNet = with_seed(args.seed, &device, || unet.init(&device))?;
    let mut model = DiffusionTrainer::new(net, training, &device)?;
    generative::core::TrainStep::replicate(&mut model, &devices)?;
    let schedule = model.schedule().clone();
    let mut train = Loader::new(data.train.clone(), args.batch_size, args.seed)?;
    eprintln!(
        "training a UNet ({:?} layout, {} channels, {} classes) on {}, {} batches of {} per epoch, on {device:?}",
        unet.layout,
        args.channels,
        classes.unwrap_or(0),
        data.describe(),
        train.batches_per_epoch(),
        args.batch_size
    );
    let grid = GridOptions::default()
        .columns(10)
        .scale(2)
        .range(ValueRange::MinusOneToOne);
    let out = args.out.clone();
    let labels_for =
        |n: usize| -> Option<Vec<usize>> { classes.map(|k| (0..n).map(|i| i % k).collect()) };
    let epoch_start = std::sync::Mutex::new(Instant::now());
    let outcome = trainer.fit_with(&mut model, &mut train, &mut rng, |epoch, m| {
        let seconds = epoch_start
            .lock()
            .map(|t| t.elapsed())
            .unwrap_or_default()
            .as_secs_f64();
        let mut sampler = SamplerKind::Ddim { eta: 0.0 }.build(&schedule, 20, prediction)?;
        let labels = labels_for(60);
        let x = sample(
            &m.sampler(),
            sampler.as_mut(),
            60,
            labels.as_deref(),
            args.guidance,
            &mut SeededRng::new(epoch),
            &device.clone().inner(),
        )?;
        save_grid(
            x.clamp(-1.0, 1.0).reshape([60, c, h, w]),
            out.join(format!("samples-{epoch:03}.png")),
            &grid,
        )?;
        if let Ok(mut t) = epoch_start.lock() {
            *t = Instant::now();
        }
        Ok(Some(format!(
            "epoch {epoch} done at step {}: {seconds:.1} s since the previous epoch \
             (or since this run started)",
            m.steps_done()
        )))
    })?;
    let steps_done = outcome.final_step - outcome.start_step;
    eprintln!(
        "trained steps {}..{} in {:.1} s ({:.3} s per step)",
        outcome.start_step,
        outcome.final_step,
        outcome.seconds,
        outcome.seconds / steps_done.max(1) as f64
    );

    let inner = device.clone().inner();
    let ema = model.sampler();
    let mut results = Vec::new();
    let classifier = if args.eval_samples > 0 && !samplers.is_empty() {
        dataset::classifier(data.kind, data.shape, args.classifier.as_deref(), &inner)?
    } else {
        None
    };
    let quality = if let Some(classifier) = classifier {
        let q = ImageQuality::new(
            classifier,
            QualityConfig::new().with_input_range(ValueRange::MinusOneToOne),
        )?;
        let (test, _) = images(&data, 10_000, &inner)?;
        let reference = q.embed(test)?;
        Some((q, reference))
    } else {
        None
    };
    for (name, kind, steps) in &samplers {
        let n = args.eval_samples.max(100);
        let labels = labels_for(n);
        let mut sampler = kind.build(&schedule, *steps, prediction)?;
        let mut rng = SeededRng::new(args.seed ^ 0x5eed);
        let start = Instant::now();
        let mut parts = Vec::new();
        let mut done = 0;
        while done < n {
            let b = args.sample_batch.max(1).min(n - done);
            let l = labels.as_ref().map(|l| &l[done..done + b]);
            parts.push(sample(
                &ema,
                sampler.as_mut(),
                b,
                l,
                args.guidance,
                &mut rng,
                &inner,
            )?);
            done += b;
        }
        let seconds = start.elapsed().as_secs_f64();
        // Clipped to the data range, as in Ho et al.'s sampler.
        let x = Tensor::cat(parts, 0).clamp(-1.0, 1.0).reshape([n, c, h, w]);
        save_grid(
            x.clone().narrow(0, 0, 100),
            out.join(format!("samples-{name}.png")),
            &grid,
        )?;
        let report = match (&quality, args.eval_samples) {
            (Some((q, reference)), m) if m > 0 => Some(q.evaluate(x, reference)?),
            _ => None,
        };
        match &report {
            Some(r) => eprintln!(
                "{name}: {n} samples in {seconds:.1} s; classifier-FID {:.2}, KID {:.4}, \
                 {} of 10 classes covered (shares {:.3}..{:.3}), precision {:.3}, recall {:.3}",
                r.fid,
                r.kid_mean,
                r.coverage.classes_covered,
                r.coverage.min_share,
                r.coverage.max_share,
                r.precision,
                r.recall
            ),
            None => eprintln!("{name}: {n} samples in {seconds:.1} s"),
        }
        results.push(SamplerResult {
            sampler: name.clone(),
            steps: *steps,
            samples: n,
            seconds,
            seconds_per_sample: seconds / n as f64,
            quality: report,
        });
    }

    // One digit (per column: ten of them) denoising, DDIM 50 steps.
    let mut ddim = SamplerKind::Ddim { eta: 0.0 }.build(&schedule, 50, prediction)?;
    let trajectory = Trajectory {
        schedule: schedule.clone(),
        prediction,
        examples: 1,
    };
    let labels = labels_for(1);
    let (_, snaps) = sample_trajectory(
        &ema,
        ddim.as_mut(),
        1,
        labels.as_deref(),
        args.guidance,
        &mut SeededRng::new(args.seed ^ 0x57),
        &inner,
        &trajectory,
    )?;
    let picks: Vec<usize> = (0..10).map(|k| k * (snaps.len() - 1) / 9).collect();
    let row = |f: &dyn Fn(&generative::diffusion::Snapshot) -> Tensor<2>| {
        Tensor::cat(picks.iter().map(|&i| f(&snaps[i])).collect(), 0)
    };
    let strip = Tensor::cat(vec![row(&|s| s.x_t.clone()), row(&|s| s.x0.clone())], 0)
        .clamp(-1.0, 1.0)
        .reshape([20, c, h, w]);
    save_grid(strip, out.join("strip.png"), &grid)?;

    let bound = if args.vlb_images > 0 {
        let (test, _) = images(&data, args.vlb_images, &inner)?;
        let n = test.dims()[0];
        let start = Instant::now();
        let est = vlb::estimate(
            &ema,
            &schedule,
            prediction,
            test.reshape([n, data.features()]),
            args.vlb_timesteps,
            &mut SeededRng::new(args.seed ^ 0xb0),
        )?;
        let seconds = start.elapsed().as_secs_f64();
        eprintln!(
            "variational bound on {n} test images: {:.3} bits/dim (± {:.3}; prior {:.4}, decoder {:.3}, \
             diffusion terms {:.3}; {} timesteps per image, {seconds:.1} s)",
            est.bits_per_dim,
            est.std_error,
            est.prior_bpd,
            est.decoder_bpd,
            est.diffusion_bpd,
            args.vlb_timesteps
        );
        Some(serde_json::json!({ "estimate": est, "images": n, "seconds": seconds }))
    } else {
        None
    };

    let json = serde_json::to_string_pretty(&serde_json::json!({
        "trained_steps": outcome.final_step,
        "train_seconds": outcome.seconds,
        "seconds_per_step": outcome.seconds / steps_done.max(1) as f64,
        "samplers": results,
        "vlb": bound,
    }))
    .expect("the evaluation serialises");
    gcore::checkpoint::write_atomic(&out.join("evaluation.json"), json.as_bytes())?;
    eprintln!("pictures and evaluation.json in {}", out.display());
    Ok(())
}
