//! Writes a trained model's weights as a safetensors file that PyTorch
//! loads with `load_state_dict(strict=True)` (see docs/interop.md).
//!
//! ```text
//! cargo run --release --example export_torch -- --run out/vae_mnist --out vae.safetensors
//! cargo run --release --example export_torch -- --run out/gan_mnist --out g.safetensors --discriminator d.safetensors
//! cargo run --release --example export_torch -- --run out/diffusion_mnist --out unet.safetensors --list
//! ```
//!
//! `--run` is a run folder (its newest checkpoint is read) or one
//! checkpoint folder; the checkpoint's model card says which model it
//! holds. A GAN's generator and a diffusion model are exported from their
//! EMA weights when the run kept them (`--no-ema` for the raw ones). The
//! file's header holds the model card's config (`config`), the family, the
//! training step and which weights were taken. `--list` prints each
//! tensor's PyTorch name and shape.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use burn::tensor::Device;
use clap::Parser;
use generative::core::interop::{TorchModule, save_safetensors_with_metadata, torch_state};
use generative::core::{self as gcore};
use generative::saved::{self, SavedModel};

/// Export a trained model to safetensors in PyTorch's names and layouts.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// A run folder (the `--out` of a training example) or a checkpoint folder.
    #[arg(long)]
    run: PathBuf,
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
    let saved = saved::open(&args.run, !args.no_ema, &device)?;
    if args.discriminator.is_some() && !matches!(saved.model, SavedModel::Gan(_)) {
        return Err(gcore::Error::config(
            "discriminator",
            "only a GAN run has a discriminator",
        ));
    }
    let mut meta = BTreeMap::from([
        ("step".to_string(), saved.step.to_string()),
        ("run".to_string(), common::display(&args.run)),
        ("family".to_string(), saved.card.family.clone()),
        ("config".to_string(), saved.card.model.to_string()),
        (
            "weights".to_string(),
            if saved.ema { "ema" } else { "model" }.to_string(),
        ),
    ]);
    match &saved.model {
        SavedModel::Vae(m) => write(args, m, &args.out, &meta)?,
        SavedModel::Diffusion(d) => write(args, &d.denoiser, &args.out, &meta)?,
        SavedModel::Ar(m) => write(args, &m.model, &args.out, &meta)?,
        SavedModel::Gan(g) => {
            write(args, g, &args.out, &meta)?;
            if let Some(path) = &args.discriminator {
                meta.insert("weights".into(), "discriminator".into());
                write(args, &saved.discriminator(&device)?, path, &meta)?;
            }
        }
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
