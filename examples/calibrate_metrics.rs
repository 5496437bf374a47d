//! Calibrates the sample-quality metrics of `gen_eval::classifier`: every
//! metric for sets whose quality is known, against the 10,000 test images
//! of MNIST (the embedded classifier) or Fashion-MNIST (`--dataset
//! fashion-mnist --classifier FILE`, a classifier from `train_classifier`). Prints one JSON object per case (stdout) and the wall time
//! (stderr); `docs/metrics.md` holds the table it produced.
//!
//! ```text
//! cargo run --release --example calibrate_metrics -- --data ../shared/data/mnist
//! cargo run --release --example calibrate_metrics -- --dataset fashion-mnist \
//!     --classifier out/fashion-classifier.bpk
//! ```
//!
//! Cases (each `--n` images, default 10,000, drawn from the train split
//! with a seeded permutation, so none of them is in the reference set):
//! real train images (the floor), the same with 1,000 images (the floor at a
//! smaller sample size), Gaussian pixel noise of std 0.1 and 0.3 added to
//! them (clipped to [0, 1]), 3x3 and 5x5 box blurs of them, classes 0-4 only
//! (a half-collapsed generator), and
//! uniform noise.

mod common;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use burn::tensor::{Tensor, TensorData};
use clap::Parser;
use common::dataset::{self, DataArgs};
use generative::core::{self as gcore, SeededRng};
use generative::data::{IdxImages, Split};
use generative::eval::classifier::{ImageQuality, QualityConfig, QualityReport};
use serde::Serialize;

/// Print each sample-quality metric for reference cases against a test set
/// (MNIST, or Fashion-MNIST with --classifier).
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// The dataset (--dataset mnist or fashion-mnist, --data, --accept-modified).
    #[command(flatten)]
    data: DataArgs,
    /// Classifier weights from train_classifier (needed for Fashion-MNIST).
    #[arg(long)]
    classifier: Option<PathBuf>,
    /// Images per case.
    #[arg(long, default_value_t = 10_000)]
    n: usize,
    /// Backend: flex, ndarray, wgpu, cuda or remote:ws://host:port (default:
    /// $GEN_DEVICE, else flex).
    #[arg(long)]
    device: Option<String>,
    /// Seed of the subsets and the noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(Serialize)]
struct Case<'a> {
    case: &'a str,
    seconds: f64,
    report: QualityReport,
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

fn run(args: &Args) -> gcore::Result<()> {
    let started = Instant::now();
    let device = common::device(args.device.as_deref())?;
    let (kind, train) = args.data.idx_images(Split::Train, "calibrate_metrics")?;
    let (_, test) = args.data.idx_images(Split::Test, "calibrate_metrics")?;
    let classifier = dataset::required_classifier(kind, args.classifier.as_deref(), &device)?;
    let n = args.n.min(train.len());
    let quality = ImageQuality::new(classifier, QualityConfig::new().with_seed(args.seed))?;
    let reference = quality.embed(images(&unit(&test, 0..test.len()), test.len(), &device))?;
    eprintln!(
        "reference: {} {} test images embedded in {:.1} s",
        reference.n,
        kind.name(),
        started.elapsed().as_secs_f64()
    );

    let mut rng = SeededRng::new(args.seed);
    let order = rng.permutation(train.len());
    let real = unit(&train, order[..n].iter().copied());
    let low: Vec<usize> = order
        .iter()
        .copied()
        .filter(|&i| train.labels[i] < 5)
        .take(n)
        .collect();
    let small = 1000.min(n);
    let cases: Vec<(String, Vec<f32>, usize)> = vec![
        ("real train".into(), real.clone(), n),
        (
            format!("real train, {small} images"),
            real[..small * 784].to_vec(),
            small,
        ),
        (
            "real + gaussian noise std 0.1".into(),
            noisy(&real, 0.1, &mut rng),
            n,
        ),
        (
            "real + gaussian noise std 0.3".into(),
            noisy(&real, 0.3, &mut rng),
            n,
        ),
        ("real, 3x3 box blur".into(), box_blur(&real, 3), n),
        ("real, 5x5 box blur".into(), box_blur(&real, 5), n),
        (
            "real, classes 0-4 only".into(),
            unit(&train, low.iter().copied()),
            low.len(),
        ),
        (
            "uniform noise".into(),
            rng.uniform_vec(n * 784, 0.0, 1.0),
            n,
        ),
    ];
    for (name, pixels, count) in cases {
        let t = Instant::now();
        let report = quality.evaluate(images(&pixels, count, &device), &reference)?;
        let case = Case {
            case: &name,
            seconds: t.elapsed().as_secs_f64(),
            report,
        };
        println!(
            "{}",
            serde_json::to_string(&case).expect("the report is plain data")
        );
    }
    eprintln!("total wall time {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// The pixels of the chosen images, in `[0, 1]`.
fn unit(set: &IdxImages, which: impl IntoIterator<Item = usize>) -> Vec<f32> {
    which
        .into_iter()
        .flat_map(|i| set.image(i).iter().map(|&p| f32::from(p) / 255.0))
        .collect()
}

fn images(pixels: &[f32], n: usize, device: &burn::tensor::Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(pixels.to_vec(), [n, 1, 28, 28]), device)
}

fn noisy(pixels: &[f32], std: f32, rng: &mut SeededRng) -> Vec<f32> {
    let noise = rng.normal_vec(pixels.len());
    pixels
        .iter()
        .zip(noise)
        .map(|(p, z)| (p + std * z).clamp(0.0, 1.0))
        .collect()
}

/// A `k x k` box blur of every 28x28 image (zero padding: the MNIST
/// background).
fn box_blur(pixels: &[f32], k: usize) -> Vec<f32> {
    let r = (k / 2) as isize;
    let mut out = vec![0.0; pixels.len()];
    for (src, dst) in pixels.chunks_exact(784).zip(out.chunks_exact_mut(784)) {
        for y in 0..28isize {
            for x in 0..28isize {
                let mut sum = 0.0;
                for dy in -r..=r {
                    for dx in -r..=r {
                        let (sy, sx) = (y + dy, x + dx);
                        if (0..28).contains(&sy) && (0..28).contains(&sx) {
                            sum += src[(sy * 28 + sx) as usize];
                        }
                    }
                }
                dst[(y * 28 + x) as usize] = sum / (k * k) as f32;
            }
        }
    }
    out
}
