//! A saved VAE, rebuilt from its checkpoint's model card.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use gen_core::card::ModelCard;
use gen_core::interop::TorchModule;
use gen_core::optim::Parts;
use gen_core::{SeededRng, StateReader};

use crate::likelihood::OutputDistribution;
use crate::posterior::DiagonalGaussian;
use crate::{ConvVae, MlpVae, Vae, VaeConfig};

/// The family name in model cards.
pub const FAMILY: &str = "vae";

/// The card of a model that describes itself.
///
/// # Errors
/// When the config cannot be serialised.
pub fn card<M: Vae>(model: &M) -> gen_core::Result<Option<ModelCard>> {
    model
        .model_config()
        .map(|config| ModelCard::new(FAMILY, &config))
        .transpose()
}

/// Any VAE of the crate.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)] // one value per program
pub enum SavedVae {
    /// An [`MlpVae`].
    Mlp(MlpVae),
    /// A [`ConvVae`].
    Conv(ConvVae),
}

/// The VAE of a checkpoint: the moving average of its weights when `ema`
/// is set and the run kept one (`OptimConfig::ema`), its weights otherwise.
///
/// # Errors
/// A card of another family or kind, or weights that do not fit it.
pub fn load(
    card: &ModelCard,
    reader: &StateReader,
    ema: bool,
    device: &Device,
) -> gen_core::Result<SavedVae> {
    let part = Parts::MODEL.weights(reader, ema);
    Ok(match card.config::<VaeConfig>(FAMILY)? {
        VaeConfig::Mlp(c) => SavedVae::Mlp(reader.module(part, c.init(device)?)?),
        VaeConfig::Conv(c) => SavedVae::Conv(reader.module(part, c.init(device)?)?),
    })
}

/// Calls `$body` with `$m` bound to the model inside.
macro_rules! each {
    ($value:expr, $m:ident => $body:expr) => {
        match $value {
            SavedVae::Mlp($m) => $body,
            SavedVae::Conv($m) => $body,
        }
    };
}

gen_core::impl_sample!(SavedVae, |s| {
    example_shape: each!(s, m => m.example_shape()),
    num_classes: each!(s, m => m.num_classes()),
    sample: |s: &Self, n, labels, rng: &mut SeededRng, device| {
        each!(s, m => m.sample(n, labels, rng, device))
    },
});

impl Vae for SavedVae {
    fn latent_dim(&self) -> usize {
        each!(self, m => m.latent_dim())
    }

    fn encode(&self, x: Tensor<2>, condition: Option<Tensor<2>>) -> DiagonalGaussian {
        each!(self, m => m.encode(x, condition))
    }

    fn decode(&self, z: Tensor<2>, condition: Option<Tensor<2>>) -> Tensor<2> {
        each!(self, m => m.decode(z, condition))
    }

    fn output(&self) -> &OutputDistribution {
        each!(self, m => m.output())
    }

    fn model_config(&self) -> Option<VaeConfig> {
        each!(self, m => m.model_config())
    }
}

/// The inner model's PyTorch names (burn's path of an enum module starts
/// with the variant's name, which is dropped).
impl TorchModule for SavedVae {
    fn torch_key(&self, path: &str) -> String {
        match self {
            Self::Mlp(m) => m.torch_key(path.strip_prefix("Mlp.").unwrap_or(path)),
            Self::Conv(m) => m.torch_key(path.strip_prefix("Conv.").unwrap_or(path)),
        }
    }
}
