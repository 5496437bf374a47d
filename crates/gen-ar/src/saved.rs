//! A saved language model, rebuilt from its checkpoint's model card: the
//! Transformer's config and the tokenizer travel together.

use gen_core::StateReader;
use gen_core::card::ModelCard;
use gen_core::optim::Parts;
use serde::{Deserialize, Serialize};

use burn::tensor::Device;

use crate::config::GptConfig;
use crate::model::Gpt;
use crate::tokenizer::Tokenizer;

/// The family name in model cards.
pub const FAMILY: &str = "ar";

/// What an autoregressive checkpoint's card holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArModelConfig {
    /// The Transformer.
    pub gpt: GptConfig,
    /// Its tokenizer.
    pub tokenizer: Tokenizer,
}

/// The card of `model` with `tokenizer`.
///
/// # Errors
/// When the config cannot be serialised.
pub fn card(model: &Gpt, tokenizer: &Tokenizer) -> gen_core::Result<ModelCard> {
    ModelCard::new(
        FAMILY,
        &ArModelConfig {
            gpt: model.config.clone(),
            tokenizer: tokenizer.clone(),
        },
    )
}

/// A saved model with its tokenizer.
#[derive(Clone, Debug)]
pub struct SavedGpt {
    /// The model (EMA weights when loaded with them).
    pub model: Gpt,
    /// Its tokenizer.
    pub tokenizer: Tokenizer,
}

/// The model of a checkpoint: its moving average when `ema` is set and the
/// checkpoint has one, else the raw weights.
///
/// # Errors
/// A card of another family, or weights that do not fit it.
pub fn load(
    card: &ModelCard,
    reader: &StateReader,
    ema: bool,
    device: &Device,
) -> gen_core::Result<SavedGpt> {
    let config: ArModelConfig = card.config(FAMILY)?;
    if !config.tokenizer.is_available() {
        return Err(gen_core::Error::Unsupported(
            "this model's tokenizer is a byte-pair encoding: rebuild with `--features bpe`".into(),
        ));
    }
    let part = Parts::MODEL.weights(reader, ema);
    Ok(SavedGpt {
        model: reader.module(part, config.gpt.init(device)?)?,
        tokenizer: config.tokenizer,
    })
}
