//! A saved GAN, rebuilt from its checkpoint's model card: the generator to
//! sample from (its moving average when the run kept one) and, for tools
//! that need it, the discriminator.
//!
//! ```
//! use burn::tensor::Device;
//! use gen_core::{CheckpointStore, Sample, SeededRng, card::ModelCard};
//! use gen_gan::{GanTrainer, GanTrainingConfig, MlpGanConfig, saved};
//!
//! let dev = Device::flex();
//! let cfg = MlpGanConfig::new(2).with_latent_dim(2).with_generator_hidden(vec![8]);
//! let gan = GanTrainer::new(cfg.init_generator(&dev)?, cfg.init_discriminator(&dev)?,
//!                           GanTrainingConfig::new(), &dev)?;
//! let dir = tempfile::tempdir()?;
//! let store = CheckpointStore::new(dir.path(), 1);
//! let ckpt = store.save(0, &SeededRng::new(0), &serde_json::Value::Null, &gan)?;
//! let reader = CheckpointStore::open(&ckpt)?;
//! let g = saved::load_generator(&ModelCard::read(&reader)?, &reader, true, &dev)?;
//! assert_eq!(g.sample(3, None, &mut SeededRng::new(1), &dev)?.dims(), [3, 2]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor};
use gen_core::card::ModelCard;
use gen_core::interop::TorchModule;
use gen_core::{SeededRng, StateReader};

use crate::train::{DISCRIMINATOR, GENERATOR};
use crate::{
    DcganDiscriminator, DcganGenerator, Discriminator, GanModelConfig, Generator, MlpDiscriminator,
    MlpGenerator,
};

/// The family name in model cards.
pub const FAMILY: &str = "gan";

/// The card of a generator that describes itself.
///
/// # Errors
/// When the config cannot be serialised.
pub fn card<G: Generator>(generator: &G) -> gen_core::Result<Option<ModelCard>> {
    generator
        .model_config()
        .map(|config| ModelCard::new(FAMILY, &config))
        .transpose()
}

/// Any generator of the crate.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)] // one value per program
pub enum SavedGenerator {
    /// An MLP GAN's.
    MlpGan(MlpGenerator),
    /// A DCGAN's.
    Dcgan(DcganGenerator),
}

/// Any discriminator of the crate.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum SavedDiscriminator {
    /// An MLP GAN's.
    MlpGan(MlpDiscriminator),
    /// A DCGAN's.
    Dcgan(DcganDiscriminator),
}

/// The generator of a checkpoint: its moving average when `ema` is set
/// and the checkpoint has one, else the raw weights.
///
/// # Errors
/// A card of another family or kind, or weights that do not fit it.
pub fn load_generator(
    card: &ModelCard,
    reader: &StateReader,
    ema: bool,
    device: &Device,
) -> gen_core::Result<SavedGenerator> {
    let part = GENERATOR.weights(reader, ema);
    Ok(match card.config::<GanModelConfig>(FAMILY)? {
        GanModelConfig::MlpGan(c) => {
            SavedGenerator::MlpGan(reader.module(part, c.init_generator(device)?)?)
        }
        GanModelConfig::Dcgan(c) => {
            SavedGenerator::Dcgan(reader.module(part, c.init_generator(device)?)?)
        }
    })
}

/// The discriminator of a checkpoint.
///
/// # Errors
/// As [`load_generator`].
pub fn load_discriminator(
    card: &ModelCard,
    reader: &StateReader,
    device: &Device,
) -> gen_core::Result<SavedDiscriminator> {
    let part = DISCRIMINATOR.model;
    Ok(match card.config::<GanModelConfig>(FAMILY)? {
        GanModelConfig::MlpGan(c) => {
            SavedDiscriminator::MlpGan(reader.module(part, c.init_discriminator(device)?)?)
        }
        GanModelConfig::Dcgan(c) => {
            SavedDiscriminator::Dcgan(reader.module(part, c.init_discriminator(device)?)?)
        }
    })
}

/// Calls `$body` with `$g` bound to the generator inside.
macro_rules! each {
    ($value:expr, $g:ident => $body:expr) => {
        match $value {
            SavedGenerator::MlpGan($g) => $body,
            SavedGenerator::Dcgan($g) => $body,
        }
    };
}

gen_core::impl_sample!(SavedGenerator, |s| {
    example_shape: each!(s, g => g.example_shape()),
    num_classes: each!(s, g => g.num_classes()),
    sample: |s: &Self, n, labels, rng: &mut SeededRng, device| {
        each!(s, g => g.sample(n, labels, rng, device))
    },
});

impl Generator for SavedGenerator {
    fn latent_dim(&self) -> usize {
        each!(self, g => g.latent_dim())
    }

    fn generate(&self, z: Tensor<2>, labels: Option<Tensor<1, Int>>) -> Tensor<2> {
        each!(self, g => g.generate(z, labels))
    }

    fn model_config(&self) -> Option<GanModelConfig> {
        each!(self, g => g.model_config())
    }
}

/// The inner generator's PyTorch names (burn's path of an enum module
/// starts with the variant's name, which is dropped).
impl TorchModule for SavedGenerator {
    fn torch_key(&self, path: &str) -> String {
        match self {
            Self::MlpGan(g) => g.torch_key(path.strip_prefix("MlpGan.").unwrap_or(path)),
            Self::Dcgan(g) => g.torch_key(path.strip_prefix("Dcgan.").unwrap_or(path)),
        }
    }
}

impl Discriminator for SavedDiscriminator {
    fn num_classes(&self) -> Option<usize> {
        match self {
            Self::MlpGan(d) => d.num_classes(),
            Self::Dcgan(d) => d.num_classes(),
        }
    }

    fn logits(&self, x: Tensor<2>, labels: Option<Tensor<1, Int>>) -> Tensor<2> {
        match self {
            Self::MlpGan(d) => d.logits(x, labels),
            Self::Dcgan(d) => d.logits(x, labels),
        }
    }
}

impl TorchModule for SavedDiscriminator {
    fn torch_key(&self, path: &str) -> String {
        match self {
            Self::MlpGan(d) => d.torch_key(path.strip_prefix("MlpGan.").unwrap_or(path)),
            Self::Dcgan(d) => d.torch_key(path.strip_prefix("Dcgan.").unwrap_or(path)),
        }
    }
}
