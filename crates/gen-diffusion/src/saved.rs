//! A saved diffusion model, rebuilt from its checkpoint's model card: the
//! denoiser (its moving average when the run kept one) with the noise
//! schedule and prediction type it was trained for, ready to sample with
//! any sampler.

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor};
use gen_core::StateReader;
use gen_core::card::ModelCard;
use gen_core::interop::TorchModule;
use gen_core::optim::Parts;
use serde::{Deserialize, Serialize};

use crate::denoiser::{Denoiser, DenoiserConfig};
use crate::error::Result;
use crate::sample::{Diffusion, SamplerKind};
use crate::sampler::Prediction;
use crate::schedule::{BetaSchedule, NoiseSchedule};
use crate::train::DiffusionTrainingConfig;
use crate::{MlpDenoiser, UNet};

/// The family name in model cards.
pub const FAMILY: &str = "diffusion";

/// What a diffusion checkpoint's card holds: the network, and the forward
/// process it was trained to reverse.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiffusionModelConfig {
    /// The network.
    pub denoiser: DenoiserConfig,
    /// The noise schedule.
    pub schedule: BetaSchedule,
    /// Training timesteps `T`.
    pub train_steps: usize,
    /// What the network predicts.
    pub prediction: Prediction,
}

impl DiffusionModelConfig {
    /// The noise schedule of `schedule` over `train_steps`.
    ///
    /// # Errors
    /// [`gen_core::Error::InvalidConfig`] for an invalid schedule.
    pub fn noise_schedule(&self) -> Result<NoiseSchedule> {
        Ok(NoiseSchedule::new(self.schedule, self.train_steps)?)
    }
}

/// The card of a network that describes itself, trained with `training`.
///
/// # Errors
/// When the config cannot be serialised.
pub fn card<M: Denoiser>(
    model: &M,
    training: &DiffusionTrainingConfig,
) -> gen_core::Result<Option<ModelCard>> {
    model
        .model_config()
        .map(|denoiser| {
            ModelCard::new(
                FAMILY,
                &DiffusionModelConfig {
                    denoiser,
                    schedule: training.schedule,
                    train_steps: training.train_steps,
                    prediction: training.prediction,
                },
            )
        })
        .transpose()
}

/// Any denoiser of the crate.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)] // one value per program
pub enum SavedDenoiser {
    /// A [`UNet`].
    Unet(UNet),
    /// An [`MlpDenoiser`].
    Mlp(MlpDenoiser),
}

/// A saved diffusion model.
#[derive(Clone, Debug)]
pub struct SavedDiffusion {
    /// The network (EMA weights when loaded with them).
    pub denoiser: SavedDenoiser,
    /// What the card says.
    pub config: DiffusionModelConfig,
    /// The noise schedule.
    pub schedule: NoiseSchedule,
}

impl SavedDiffusion {
    /// The model ready to sample with `sampler` in `steps` steps, guided
    /// with scale `guidance` (1: none).
    ///
    /// # Errors
    /// As [`Diffusion::new`].
    pub fn sampler(
        &self,
        sampler: SamplerKind,
        steps: usize,
        guidance: f64,
    ) -> Result<Diffusion<SavedDenoiser>> {
        Ok(Diffusion::new(
            self.denoiser.clone(),
            self.schedule.clone(),
            self.config.prediction,
            sampler,
            steps,
        )?
        .with_guidance(guidance))
    }
}

/// The diffusion model of a checkpoint: the EMA weights when `ema` is set
/// and the checkpoint has them, else the raw weights.
///
/// # Errors
/// A card of another family or kind, or weights that do not fit it.
pub fn load(
    card: &ModelCard,
    reader: &StateReader,
    ema: bool,
    device: &Device,
) -> gen_core::Result<SavedDiffusion> {
    let part = Parts::MODEL.weights(reader, ema);
    let config: DiffusionModelConfig = card.config(FAMILY)?;
    let denoiser = match &config.denoiser {
        DenoiserConfig::Unet(c) => SavedDenoiser::Unet(reader.module(part, c.init(device)?)?),
        DenoiserConfig::Mlp(c) => SavedDenoiser::Mlp(reader.module(part, c.init(device)?)?),
    };
    Ok(SavedDiffusion {
        schedule: config.noise_schedule()?,
        denoiser,
        config,
    })
}

/// Calls `$body` with `$m` bound to the network inside.
macro_rules! each {
    ($value:expr, $m:ident => $body:expr) => {
        match $value {
            SavedDenoiser::Unet($m) => $body,
            SavedDenoiser::Mlp($m) => $body,
        }
    };
}

impl Denoiser for SavedDenoiser {
    fn features(&self) -> usize {
        each!(self, m => m.features())
    }

    fn example_shape(&self) -> Vec<usize> {
        each!(self, m => m.example_shape())
    }

    fn num_classes(&self) -> Option<usize> {
        each!(self, m => m.num_classes())
    }

    fn model_config(&self) -> Option<DenoiserConfig> {
        each!(self, m => m.model_config())
    }

    fn forward(&self, x: Tensor<2>, t: Tensor<1>, class: Option<Tensor<1, Int>>) -> Tensor<2> {
        each!(self, m => m.forward(x, t, class))
    }
}

/// The inner network's PyTorch names (burn's path of an enum module starts
/// with the variant's name, which is dropped).
impl TorchModule for SavedDenoiser {
    fn torch_key(&self, path: &str) -> String {
        match self {
            Self::Unet(m) => m.torch_key(path.strip_prefix("Unet.").unwrap_or(path)),
            Self::Mlp(m) => m.torch_key(path.strip_prefix("Mlp.").unwrap_or(path)),
        }
    }
}
