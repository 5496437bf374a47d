//! Any saved model of the workspace, rebuilt from its checkpoint alone.
//!
//! Every family's trainer writes a [`ModelCard`] into each checkpoint (the
//! family and its kind-tagged model config); [`open`] reads it, builds the
//! model and loads the weights to sample from (the moving average where
//! the run kept one). This is the one place that knows every family: the
//! model crates do not know each other.
//!
//! ```no_run
//! use generative::core::{Sample, SeededRng, device::device};
//! use generative::saved::{self, SampleOptions};
//!
//! # fn main() -> generative::core::Result<()> {
//! let dev = device("flex")?;
//! let run = saved::open("out/gan_mnist".as_ref(), true, &dev)?;
//! let model = run.sampler(&SampleOptions::default())?;
//! let images = model.sample_images(16, None, &mut SeededRng::new(0), &dev)?;
//! println!("{} at step {}: {:?}", run.card.family, run.step, images.dims());
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use gen_core::card::ModelCard;
use gen_core::{CheckpointStore, Error, Result, Sample, StateReader};
use gen_diffusion::{SamplerKind, SavedDiffusion};
use gen_gan::{SavedDiscriminator, SavedGenerator};
use gen_vae::SavedVae;

/// The model a checkpoint holds, by family.
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)] // one value per program
pub enum SavedModel {
    /// A GAN's generator.
    Gan(SavedGenerator),
    /// A VAE.
    Vae(SavedVae),
    /// A diffusion model.
    Diffusion(SavedDiffusion),
    /// A language model with its tokenizer.
    Ar(gen_ar::SavedGpt),
}

/// How a diffusion model is sampled (ignored by the other families).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SampleOptions {
    /// The sampler.
    pub sampler: SamplerKind,
    /// Its number of steps.
    pub steps: usize,
    /// The classifier-free guidance scale (1: none).
    pub guidance: f64,
}

impl Default for SampleOptions {
    /// DDIM with 50 steps, no guidance.
    fn default() -> Self {
        Self {
            sampler: SamplerKind::Ddim { eta: 0.0 },
            steps: 50,
            guidance: 1.0,
        }
    }
}

/// A checkpoint, opened: its card, its step and its model.
#[derive(Debug)]
pub struct Saved {
    /// The checkpoint folder.
    pub checkpoint: PathBuf,
    /// The training steps it had completed.
    pub step: u64,
    /// What it says about its model.
    pub card: ModelCard,
    /// The run's configuration, as given to the trainer.
    pub run_config: serde_json::Value,
    /// The model, with the weights to sample from.
    pub model: SavedModel,
    /// Whether those are the moving average of the weights.
    pub ema: bool,
    reader: StateReader,
}

/// The checkpoint to read at `path`: the folder itself when it is one (it
/// holds `state.json`), else the newest of the run folder `path`.
///
/// # Errors
/// A folder that is neither, or a run without checkpoints.
pub fn checkpoint_of(path: &Path) -> Result<PathBuf> {
    if path.join("state.json").is_file() {
        return Ok(path.to_path_buf());
    }
    let store = CheckpointStore::new(path.join("checkpoints"), usize::MAX);
    store.latest()?.map(|(_, dir)| dir).ok_or_else(|| {
        Error::checkpoint(
            path,
            "is neither a checkpoint folder nor a run folder with checkpoints",
        )
    })
}

/// Opens the checkpoint at `path` (a checkpoint folder, or a run folder:
/// its newest checkpoint) and rebuilds its model on `device`, from the
/// moving average of its weights when `ema` is set and the run kept one.
///
/// # Errors
/// [`Error::Checkpoint`] for a missing, damaged or old-format checkpoint
/// or one without a model card; [`Error::Data`] for a card of a family or
/// kind this version does not know.
pub fn open(path: &Path, ema: bool, device: &Device) -> Result<Saved> {
    let checkpoint = checkpoint_of(path)?;
    let reader = CheckpointStore::open(&checkpoint)?;
    let card = ModelCard::read(&reader)?;
    let model = match card.family.as_str() {
        gen_gan::FAMILY => {
            SavedModel::Gan(gen_gan::saved::load_generator(&card, &reader, ema, device)?)
        }
        gen_vae::FAMILY => SavedModel::Vae(gen_vae::saved::load(&card, &reader, ema, device)?),
        gen_diffusion::FAMILY => {
            SavedModel::Diffusion(gen_diffusion::saved::load(&card, &reader, ema, device)?)
        }
        gen_ar::FAMILY => SavedModel::Ar(gen_ar::saved::load(&card, &reader, ema, device)?),
        other => {
            return Err(Error::Data(format!(
                "{}: a model of the `{other}` family, which this version does not know",
                checkpoint.display()
            )));
        }
    };
    // The part the family's loader read.
    let parts = match &model {
        SavedModel::Gan(_) => gen_gan::GENERATOR,
        SavedModel::Vae(_) | SavedModel::Diffusion(_) | SavedModel::Ar(_) => {
            gen_core::optim::Parts::MODEL
        }
    };
    Ok(Saved {
        step: reader.manifest().step,
        run_config: reader.manifest().run_config.clone(),
        ema: parts.weights(&reader, ema) == parts.ema,
        checkpoint,
        card,
        model,
        reader,
    })
}

impl Saved {
    /// The model as a sampler (a diffusion model with `options`).
    ///
    /// # Errors
    /// Invalid diffusion sampling options.
    pub fn sampler(&self, options: &SampleOptions) -> Result<Box<dyn Sample>> {
        Ok(match &self.model {
            SavedModel::Gan(g) => Box::new(g.clone()),
            SavedModel::Vae(v) => Box::new(v.clone()),
            SavedModel::Diffusion(d) => {
                Box::new(d.sampler(options.sampler, options.steps, options.guidance)?)
            }
            SavedModel::Ar(_) => {
                return Err(Error::Unsupported(
                    "a language model writes token sequences: decode it with gen_ar::generate \
                     (the generate example)"
                        .into(),
                ));
            }
        })
    }

    /// A GAN's discriminator.
    ///
    /// # Errors
    /// [`Error::Unsupported`] for another family; as [`open`] otherwise.
    pub fn discriminator(&self, device: &Device) -> Result<SavedDiscriminator> {
        match &self.model {
            SavedModel::Gan(_) => {
                gen_gan::saved::load_discriminator(&self.card, &self.reader, device)
            }
            _ => Err(Error::Unsupported(format!(
                "a `{}` model has no discriminator",
                self.card.family
            ))),
        }
    }

    /// The checkpoint's reader (other parts, the manifest).
    pub fn reader(&self) -> &StateReader {
        &self.reader
    }
}
