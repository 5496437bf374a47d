//! A saved model describes itself (diffusers' `ConfigMixin`): every
//! checkpoint of a family's trainer holds a [`ModelCard`], the family's
//! name and its kind-tagged model config, next to the weights. A program
//! that did not train the model rebuilds it from the card alone (the
//! facade's `generative::saved::open` does it for every family) instead of
//! guessing from the keys of a run config.
//!
//! gen-core knows no family: the card's `family` is a name each family
//! crate exports (`gen_gan::FAMILY` ...), and its `model` is JSON that the
//! family parses.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::checkpoint::StateReader;
use crate::error::{Error, Result};

/// The checkpoint part that holds the [`ModelCard`] (`model_card.json`).
pub const MODEL_CARD: &str = "model_card";

/// What a checkpoint says about the model it holds.
///
/// ```
/// use gen_core::card::ModelCard;
///
/// #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
/// struct Toy { width: usize }
/// let card = ModelCard::new("toy", &Toy { width: 3 })?;
/// assert_eq!(card.config::<Toy>("toy")?, Toy { width: 3 });
/// assert!(card.config::<Toy>("vae").is_err());
/// # Ok::<(), gen_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    /// The family that can rebuild it (`gan`, `vae`, `diffusion`, `ar`).
    pub family: String,
    /// The family's kind-tagged model config.
    pub model: serde_json::Value,
}

impl ModelCard {
    /// The card of a model of `family` built from `config`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when the config cannot be serialised.
    pub fn new<T: Serialize>(family: &str, config: &T) -> Result<Self> {
        Ok(Self {
            family: family.to_owned(),
            model: serde_json::to_value(config)
                .map_err(|e| Error::config("model_card", format!("cannot be serialised: {e}")))?,
        })
    }

    /// The model config, for the family `family`.
    ///
    /// # Errors
    /// [`Error::Data`] when the card is of another family or its config
    /// does not parse.
    pub fn config<T: DeserializeOwned>(&self, family: &str) -> Result<T> {
        if self.family != family {
            return Err(Error::Data(format!(
                "the model card is of the `{}` family, not `{family}`",
                self.family
            )));
        }
        serde_json::from_value(self.model.clone()).map_err(|e| {
            Error::Data(format!(
                "the `{family}` model card does not describe a model this version knows: {e}"
            ))
        })
    }

    /// The card of the checkpoint `reader` reads.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] when the checkpoint has no card (a model of
    /// the user's own) or it is damaged.
    pub fn read(reader: &StateReader) -> Result<Self> {
        if !reader.has(MODEL_CARD) {
            return Err(Error::checkpoint(
                reader.dir(),
                "has no model card: it holds a model of your own (whose `model_config` is \
                 `None`), which only your code can rebuild",
            ));
        }
        reader.json(MODEL_CARD)
    }
}
