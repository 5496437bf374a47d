//! Trains the classifier behind the sample-quality metrics
//! (`gen_eval::classifier`) on MNIST, Fashion-MNIST or any labelled set of
//! 28x28 grey images (a folder of one sub-folder per class, up to 10) and
//! writes its weights: the embedded one is MNIST's; another one is what the
//! training examples and `evaluate` take with `--classifier FILE`.
//!
//! ```text
//! cargo run --release --example train_classifier -- \
//!     --data ../shared/data/mnist --out crates/gen-eval/weights/mnist-classifier.bpk
//! cargo run --release --example train_classifier -- \
//!     --dataset fashion-mnist --out out/fashion-classifier.bpk
//! cargo run --release --example train_classifier -- \
//!     --dataset folder --data my-glyphs --size 28 --color grey --out out/glyphs.bpk
//! ```
//!
//! Adam with a cosine learning-rate decay, random shifts of up to
//! `--shift` pixels as augmentation, a seeded data order and seeded
//! initial weights. Prints the test accuracy on the set's 10,000 test
//! images at the end (and after each epoch), then one JSON line with the
//! run's settings, accuracy and wall time.

mod common;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Int, Tensor, TensorData};
use clap::Parser;
use common::dataset::DataArgs;
use generative::core::{self as gcore, SeededRng, rng::with_seed};
use generative::data::IdxImages;
use generative::eval::classifier::{MnistClassifier, MnistClassifierConfig};
use serde::Serialize;

/// Train the classifier of the sample-quality metrics on MNIST, Fashion-MNIST
/// or a labelled folder of 28x28 grey images.
#[derive(Parser, Debug, Serialize)]
#[command(version)]
struct Args {
    /// The dataset (--dataset mnist or fashion-mnist, --data, --accept-modified).
    #[command(flatten)]
    data: DataArgs,
    /// Where to write the weights (burnpack bytes).
    #[arg(long, default_value = "out/mnist-classifier.bpk")]
    out: PathBuf,
    /// Backend: flex, ndarray, wgpu, cuda or remote:ws://host:port (default:
    /// $GEN_DEVICE, else flex).
    #[arg(long)]
    device: Option<String>,
    /// Passes over the training images.
    #[arg(long, default_value_t = 6)]
    epochs: usize,
    /// Images per step.
    #[arg(long, default_value_t = 128)]
    batch_size: usize,
    /// Peak Adam learning rate (decays to 5% of it along a cosine).
    #[arg(long, default_value_t = 2e-3)]
    lr: f64,
    /// Largest random shift in pixels (augmentation; 0 turns it off).
    #[arg(long, default_value_t = 2)]
    shift: usize,
    /// Use only the first N training images (quick trials).
    #[arg(long)]
    train_limit: Option<usize>,
    /// Seed of the initial weights, the data order and the shifts.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(Serialize)]
struct Summary<'a> {
    args: &'a Args,
    model: &'a MnistClassifierConfig,
    test_accuracy: f64,
    test_errors: usize,
    train_seconds: f64,
    bytes: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    common::exit(run(&args))
}

fn run(args: &Args) -> gcore::Result<()> {
    gcore::error::ensure_nonzero("--batch-size", args.batch_size)?;
    gcore::error::ensure_nonzero("--epochs", args.epochs)?;
    let device = common::device(args.device.as_deref())?;
    let (kind, train, test) = args.data.labelled_28x28("train_classifier", &device)?;
    let n_train = args.train_limit.unwrap_or(train.len()).min(train.len());

    let config = MnistClassifierConfig::new();
    let ad = device.clone().autodiff();
    let mut model = with_seed(args.seed, &ad, || config.init(&ad))?;
    let mut opt = AdamConfig::new().init();
    let loss_fn = CrossEntropyLossConfig::new().init(&ad);
    let mut rng = SeededRng::derived(args.seed, 1);

    let steps_per_epoch = n_train.div_ceil(args.batch_size);
    let total = steps_per_epoch * args.epochs;
    eprintln!(
        "training the classifier on {n_train} {} images, {} epochs of {steps_per_epoch} steps, \
         on {device:?}",
        kind.name(),
        args.epochs
    );
    let started = Instant::now();
    let mut step = 0;
    for epoch in 0..args.epochs {
        let order = rng.permutation(n_train);
        let (mut loss_sum, mut loss_n) = (0.0, 0);
        for chunk in order.chunks(args.batch_size) {
            let progress = step as f64 / total as f64;
            let lr =
                args.lr * (0.05 + 0.95 * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()));
            let (images, labels) = batch(&train, chunk, args.shift, &mut rng, &ad);
            let loss = loss_fn.forward(model.forward(images), labels);
            loss_sum += loss.clone().into_scalar::<f64>();
            loss_n += 1;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = opt.step(lr, model, grads);
            step += 1;
            if step % 20 == 0 || step == total {
                let secs = started.elapsed().as_secs_f64();
                eprint!(
                    "\repoch {}/{} step {step}/{total} loss {:.4} lr {lr:.2e} {:.0} img/s  ",
                    epoch + 1,
                    args.epochs,
                    loss_sum / loss_n as f64,
                    (step * args.batch_size) as f64 / secs
                );
            }
        }
        let (correct, n) = accuracy(&model.valid(), &test, &device)?;
        eprintln!(
            "\nepoch {}: mean train loss {:.4}, test accuracy {:.2}% ({} errors), {:.0} s",
            epoch + 1,
            loss_sum / loss_n as f64,
            100.0 * correct as f64 / n as f64,
            n - correct,
            started.elapsed().as_secs_f64()
        );
    }
    let train_seconds = started.elapsed().as_secs_f64();
    let model = model.valid();
    let (correct, n) = accuracy(&model, &test, &device)?;
    let accuracy = correct as f64 / n as f64;
    if let Some(parent) = args.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| gcore::Error::io(parent, e))?;
    }
    model.save(&args.out)?;
    let bytes = std::fs::metadata(&args.out)
        .map_err(|e| gcore::Error::io(&args.out, e))?
        .len() as usize;
    println!(
        "test accuracy {:.2}% ({} errors of {n}); trained in {train_seconds:.0} s; wrote {} ({bytes} bytes)",
        100.0 * accuracy,
        n - correct,
        args.out.display()
    );
    let summary = Summary {
        args,
        model: &config,
        test_accuracy: accuracy,
        test_errors: n - correct,
        train_seconds,
        bytes,
    };
    println!(
        "{}",
        serde_json::to_string(&summary).expect("the summary is plain data")
    );
    Ok(())
}

/// The images `indices` of `set` as a `[b, 1, 28, 28]` tensor in `[0, 1]`,
/// each shifted by a random offset in `-shift..=shift` along both axes
/// (zero-filled), and their labels.
fn batch(
    set: &IdxImages,
    indices: &[usize],
    shift: usize,
    rng: &mut SeededRng,
    device: &Device,
) -> (Tensor<4>, Tensor<1, Int>) {
    let (h, w) = (set.rows, set.cols);
    let mut px = vec![0.0f32; indices.len() * h * w];
    for (out, &i) in px.chunks_exact_mut(h * w).zip(indices) {
        let span = 2 * shift + 1;
        let (dy, dx) = (
            rng.below(span) as isize - shift as isize,
            rng.below(span) as isize - shift as isize,
        );
        let img = set.image(i);
        for y in 0..h {
            let sy = y as isize - dy;
            if sy < 0 || sy >= h as isize {
                continue;
            }
            for x in 0..w {
                let sx = x as isize - dx;
                if sx >= 0 && sx < w as isize {
                    out[y * w + x] = f32::from(img[sy as usize * w + sx as usize]) / 255.0;
                }
            }
        }
    }
    let labels: Vec<i64> = indices.iter().map(|&i| i64::from(set.labels[i])).collect();
    (
        Tensor::from_data(TensorData::new(px, [indices.len(), 1, h, w]), device),
        Tensor::from_data(TensorData::new(labels, [indices.len()]), device),
    )
}

/// Correct predictions of `model` on `set`, and the set's size.
fn accuracy(
    model: &MnistClassifier,
    set: &IdxImages,
    device: &Device,
) -> gcore::Result<(usize, usize)> {
    let mut correct = 0;
    let all: Vec<usize> = (0..set.len()).collect();
    for chunk in all.chunks(1000) {
        let (images, _) = batch(set, chunk, 0, &mut SeededRng::new(0), device);
        let pred = model.logits(images)?.argmax(1);
        let pred: Vec<i64> = pred
            .into_data()
            .convert::<i64>()
            .try_into_vec()
            .map_err(|e| gcore::Error::Data(format!("{e:?}")))?;
        correct += pred
            .iter()
            .zip(chunk)
            .filter(|(p, i)| **p == i64::from(set.labels[**i]))
            .count();
    }
    Ok((correct, set.len()))
}
