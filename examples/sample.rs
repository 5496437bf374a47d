//! Draws samples from any saved model of the workspace into a folder: one
//! PNG per sample (what pytorch-fid and clean-fid read) and `samples.npy`.
//!
//! ```text
//! cargo run --release --example sample -- --run out/gan_mnist --n 10000 --out out/gan_samples
//! cargo run --release --example sample -- --run out/diffusion_mnist --n 1000 --sampler dpm_solver --steps 20 --guidance 2 --out out/ddpm_samples
//! cargo run --release --example sample -- --run out/vae_mnist --n 64 --class 3 --out out/threes
//! ```
//!
//! `--run` is a run folder (its newest checkpoint) or a checkpoint folder;
//! its model card says which model it holds. Labels follow the rules of
//! `evaluate` and gen-core's `labels`: a conditional model draws every
//! class in equal shares (`--class K` for one class, `--marginal` to let
//! the model draw each sample's class itself, or its null class for a
//! diffusion model); an unconditional model refuses `--class`.
//!
//! What is written:
//! - `000000.png`, `000001.png`, ...: grey or RGB images at the model's
//!   resolution, pixel values mapped from the model's range to 0..255;
//! - `samples.npy`: float32 `[n, c, h, w]` in `[0, 1]` (or `[n, features]`
//!   for models of vectors, in the model's own range);
//! - `labels.npy`: int64 `[n]`, the class of each sample, when there are
//!   classes.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use burn::tensor::Tensor;
use clap::Parser;
use generative::core::{self as gcore, GridOptions, SeededRng, save_grid};
use generative::diffusion::SamplerKind;
use generative::eval::to_unit_range;
use generative::saved::{self, SampleOptions};
use npyz::WriterBuilder;

/// Draw samples from a saved model into a folder of PNG files and a .npy.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// A run folder (the `--out` of a training example) or a checkpoint folder.
    #[arg(long)]
    run: PathBuf,
    /// The folder to write into (created; it must not hold samples already).
    #[arg(long)]
    out: PathBuf,
    /// Samples to draw, >= 1.
    #[arg(long, default_value_t = 1000)]
    n: usize,
    /// Conditional models: draw only this class.
    #[arg(long, conflicts_with = "marginal")]
    class: Option<usize>,
    /// Conditional models: no labels (each sample's class is drawn by the
    /// model; a diffusion model samples its null class).
    #[arg(long)]
    marginal: bool,
    /// Samples drawn at once.
    #[arg(long, default_value_t = 250)]
    batch: usize,
    /// Seed of the noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
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

fn main() -> ExitCode {
    common::exit(run(&Args::parse()))
}

fn run(args: &Args) -> gcore::Result<()> {
    gcore::error::ensure_nonzero("n", args.n)?;
    gcore::error::ensure_nonzero("batch", args.batch)?;
    let device = common::device(args.device.as_deref())?;
    let saved = saved::open(&args.run, !args.no_ema, &device)?;
    let model = saved.sampler(&SampleOptions {
        sampler: args.sampler,
        steps: args.steps,
        guidance: args.guidance,
    })?;
    let labels: Option<Vec<usize>> = match (model.num_classes(), args.class, args.marginal) {
        (_, _, true) => None,
        (Some(_), Some(c), _) => Some(vec![c; args.n]),
        (Some(k), None, _) => Some((0..args.n).map(|i| i * k / args.n).collect()),
        (None, Some(_), _) => {
            return Err(gcore::Error::config(
                "class",
                "the model is unconditional: it has no classes to choose from",
            ));
        }
        (None, None, _) => None,
    };
    prepare(&args.out)?;
    let shape = model.example_shape();
    let range = common::sample_range(&saved);
    let mut rng = SeededRng::new(args.seed);
    let mut values: Vec<f32> = Vec::with_capacity(args.n * model.features());
    for start in (0..args.n).step_by(args.batch) {
        let n = args.batch.min(args.n - start);
        let chunk = labels.as_ref().map(|l| &l[start..start + n]);
        let x = model.sample(n, chunk, &mut rng, &device)?;
        let x = if let [c, h, w] = shape[..] {
            let images = x.reshape([n, c, h, w]);
            for i in 0..n {
                let path = args.out.join(format!("{:06}.png", start + i));
                let one = images.clone().narrow(0, i, 1);
                save_grid(one, &path, &GridOptions::default().padding(0).range(range))?;
            }
            to_unit_range(images, range).flatten::<2>(1, 3)
        } else {
            x
        };
        values.extend(host(x)?);
        eprintln!("{}/{} samples", start + n, args.n);
    }
    let dims: Vec<u64> = std::iter::once(args.n)
        .chain(shape.iter().copied())
        .map(|d| d as u64)
        .collect();
    write_npy(&args.out.join("samples.npy"), &dims, values)?;
    if let Some(labels) = &labels {
        let labels: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
        write_npy(&args.out.join("labels.npy"), &[args.n as u64], labels)?;
    }
    println!(
        "{} samples of the `{}` model at step {} ({} weights) in {}",
        args.n,
        saved.card.family,
        saved.step,
        if saved.ema { "EMA" } else { "raw" },
        common::display(&args.out)
    );
    Ok(())
}

/// Creates `dir`, refusing one that already holds samples.
fn prepare(dir: &Path) -> gcore::Result<()> {
    if dir.join("samples.npy").exists() {
        return Err(gcore::Error::config(
            "out",
            format!(
                "{} already holds samples: choose another folder",
                dir.display()
            ),
        ));
    }
    fs::create_dir_all(dir).map_err(|e| gcore::Error::io(dir, e))
}

fn host(x: Tensor<2>) -> gcore::Result<Vec<f32>> {
    x.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| gcore::Error::Data(format!("reading samples back: {e:?}")))
}

/// Writes `values` as a C-order `.npy` array of shape `dims`.
fn write_npy<T: npyz::AutoSerialize + Copy>(
    path: &Path,
    dims: &[u64],
    values: Vec<T>,
) -> gcore::Result<()> {
    let io = |e: std::io::Error| gcore::Error::io(path, e);
    let file = std::io::BufWriter::new(fs::File::create(path).map_err(io)?);
    let mut writer = npyz::WriteOptions::new()
        .default_dtype()
        .shape(dims)
        .writer(file)
        .begin_nd()
        .map_err(io)?;
    writer.extend(values).map_err(io)?;
    writer.finish().map_err(io)
}
