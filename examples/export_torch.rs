//! Writes a trained model's weights as a safetensors file that PyTorch
//! loads with `load_state_dict(strict=True)` (see docs/interop.md).
//!
//! ```text
//! cargo run --release --example export_torch -- --run out/vae_mnist --out vae.safetensors
//! cargo run --release --example export_torch -- --run out/gan_mnist --out g.safetensors --discriminator d.safetensors
//! cargo run --release --example export_torch -- --run out/diffusion_mnist --out unet.safetensors --list
//! ```
//!
//! `--run` is the output folder of `vae_mnist`, `gan_mnist` or
//! `diffusion_mnist`; its newest checkpoint (or `--checkpoint DIR`) holds
//! the weights. A GAN's generator and a diffusion model are exported from
//! their EMA weights when the run kept them (`--no-ema` for the raw ones).
//! The file's header holds the run's model config (`config`), the family,
//! the training step and which weights were taken. `--list` prints each
//! tensor's PyTorch name and shape.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use burn::tensor::Device;
use clap::Parser;
use common::{GanConfig, RunFolder, RunModel};
use generative::core::interop::{TorchModule, save_safetensors_with_metadata, torch_state};
use generative::core::{self as gcore};
use generative::vae::VaeConfig;

/// Export a trained model to safetensors in PyTorch's names and layouts.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The run folder (the `--out` of vae_mnist, gan_mnist or diffusion_mnist).
    #[arg(long)]
    run: PathBuf,
    /// A checkpoint folder to read instead of the run's newest.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// The file to write (the VAE, the GAN's generator or the UNet).
    #[arg(long)]
    out: PathBuf,
    /// GAN only: also write the discriminator to this file.
    #[arg(long)]
    discriminator: Option<PathBuf>,
    /// Export the raw weights, not the EMA copy.
    #[arg(long)]
    no_ema: bool,
    /// Print each tensor's PyTorch name and shape.
    #[arg(long)]
    list: bool,
}

fn main() -> ExitCode {
    common::exit(run(&Args::parse()))
}

fn run(args: &Args) -> gcore::Result<()> {
    // Exporting reads weights back to the host: the CPU backend suffices.
    let device = Device::flex();
    let run = RunFolder::open(&args.run, args.checkpoint.as_deref())?;
    if args.discriminator.is_some() && !matches!(run.model, RunModel::Gan(_)) {
        return Err(gcore::Error::config(
            "discriminator",
            "only a GAN run has a discriminator",
        ));
    }
    let mut meta = BTreeMap::from([
        ("step".to_string(), run.reader.manifest().step.to_string()),
        ("run".to_string(), common::display(&args.run)),
    ]);
    match &run.model {
        RunModel::Vae(config) => {
            meta.insert("family".into(), "vae".into());
            meta.insert("config".into(), run.model_json.to_string());
            meta.insert("weights".into(), "model".into());
            match config {
                VaeConfig::Mlp(c) => {
                    let m = run.reader.module("model", c.init(&device)?)?;
                    write(args, &m, &args.out, &meta)
                }
                VaeConfig::Conv(c) => {
                    let m = run.reader.module("model", c.init(&device)?)?;
                    write(args, &m, &args.out, &meta)
                }
            }
        }
        RunModel::Gan(config) => {
            let part = run.weights_part("generator_ema", "generator", args.no_ema);
            meta.insert("family".into(), "gan".into());
            meta.insert("config".into(), run.model_json.to_string());
            meta.insert("weights".into(), part.into());
            let mut d_meta = meta.clone();
            d_meta.insert("weights".into(), "discriminator".into());
            match config {
                GanConfig::MlpGan(c) => write_gan(
                    args,
                    &run,
                    (c.init_generator(&device)?, c.init_discriminator(&device)?),
                    part,
                    (&meta, &d_meta),
                ),
                GanConfig::Dcgan(c) => write_gan(
                    args,
                    &run,
                    (c.init_generator(&device)?, c.init_discriminator(&device)?),
                    part,
                    (&meta, &d_meta),
                ),
            }
        }
        RunModel::Diffusion(config) => {
            let part = run.weights_part("ema", "model", args.no_ema);
            meta.insert("family".into(), "diffusion".into());
            meta.insert("config".into(), run.config["unet"].to_string());
            meta.insert("training".into(), run.config["training"].to_string());
            meta.insert("weights".into(), part.into());
            let net = run.reader.module(part, config.0.init(&device)?)?;
            write(args, &net, &args.out, &meta)
        }
    }
}

/// Writes the generator (weights `part`) to `--out` and, when asked, the
/// discriminator to `--discriminator`.
fn write_gan<G: TorchModule, D: TorchModule>(
    args: &Args,
    run: &RunFolder,
    (g, d): (G, D),
    part: &str,
    (g_meta, d_meta): (&BTreeMap<String, String>, &BTreeMap<String, String>),
) -> gcore::Result<()> {
    write(args, &run.reader.module(part, g)?, &args.out, g_meta)?;
    if let Some(path) = &args.discriminator {
        write(args, &run.reader.module("discriminator", d)?, path, d_meta)?;
    }
    Ok(())
}

/// Saves `model` to `path` and reports what was written.
fn write<M: TorchModule>(
    args: &Args,
    model: &M,
    path: &Path,
    meta: &BTreeMap<String, String>,
) -> gcore::Result<()> {
    save_safetensors_with_metadata(model, path, meta)?;
    let state = torch_state(model);
    let values: usize = state
        .iter()
        .map(|t| t.shape.iter().product::<usize>())
        .sum();
    println!(
        "{}: {} tensors, {values} values ({} weights, step {})",
        common::display(path),
        state.len(),
        meta["weights"],
        meta["step"]
    );
    if args.list {
        for t in state {
            println!("  {:40} {:?}", t.key, t.shape);
        }
    }
    Ok(())
}
