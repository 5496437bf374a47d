//! Text to token ids and back.
//!
//! - [`Tokenizer::Char`]: one id per character of a vocabulary built from
//!   the corpus (its distinct characters in code-point order, nanoGPT's
//!   `sorted(set(text))`), saved with the model;
//! - [`Tokenizer::Byte`]: the 256 byte values of the UTF-8 text, nothing to
//!   build; decoding replaces invalid sequences with U+FFFD;
//! - [`Tokenizer::Bpe`]: byte-pair encoding through Hugging Face's
//!   `tokenizers` (feature `bpe`): GPT-2's `tokenizer.json`
//!   ([`Tokenizer::from_tokenizer_json`]), or one trained on the corpus
//!   ([`Tokenizer::train_bpe`]); its JSON is saved with the model.
//!
//! A character outside a character vocabulary is an error that names it,
//! never a panic.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use crate::error::{ArError, Result};

#[cfg(feature = "bpe")]
type Parsed = tokenizers::Tokenizer;
#[cfg(not(feature = "bpe"))]
type Parsed = ();

/// A BPE tokenizer: its `tokenizer.json`, parsed once on first use.
#[derive(Clone, Serialize, Deserialize)]
pub struct BpeJson {
    json: String,
    #[serde(skip)]
    #[cfg_attr(not(feature = "bpe"), allow(dead_code))]
    parsed: Arc<OnceLock<Parsed>>,
}

impl std::fmt::Debug for BpeJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BpeJson({} bytes)", self.json.len())
    }
}

impl PartialEq for BpeJson {
    fn eq(&self, other: &Self) -> bool {
        self.json == other.json
    }
}

impl Eq for BpeJson {}

#[cfg(not(feature = "bpe"))]
fn no_bpe() -> ArError {
    ArError::Bpe("byte-pair encoding needs gen-ar's `bpe` feature (`--features bpe`)".into())
}

impl BpeJson {
    /// The tokenizer of `json`, checked.
    ///
    /// # Errors
    /// [`ArError::Bpe`] for JSON `tokenizers` does not read, or a build
    /// without the `bpe` feature.
    pub fn new(json: String) -> Result<Self> {
        let this = Self {
            json,
            parsed: Arc::new(OnceLock::new()),
        };
        this.parsed()?;
        Ok(this)
    }

    /// The JSON.
    pub fn json(&self) -> &str {
        &self.json
    }

    #[cfg(feature = "bpe")]
    fn parsed(&self) -> Result<&Parsed> {
        if let Some(p) = self.parsed.get() {
            return Ok(p);
        }
        let t: Parsed = self
            .json
            .parse()
            .map_err(|e| ArError::Bpe(format!("not a tokenizer.json: {e}")))?;
        Ok(self.parsed.get_or_init(|| t))
    }

    #[cfg(not(feature = "bpe"))]
    fn parsed(&self) -> Result<&Parsed> {
        Err(no_bpe())
    }
}

/// A tokenizer; see the [module docs](self).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Tokenizer {
    /// One id per character of `vocab` (id = position).
    Char {
        /// The characters, in code-point order.
        vocab: Vec<char>,
    },
    /// One id per byte.
    Byte,
    /// Byte-pair encoding (feature `bpe`).
    Bpe {
        /// Its `tokenizer.json`.
        json: BpeJson,
    },
}

impl Tokenizer {
    /// The character vocabulary of `text`.
    ///
    /// ```
    /// use gen_ar::Tokenizer;
    /// let t = Tokenizer::chars_of("hello");
    /// assert_eq!(t.vocab_size(), 4); // e h l o
    /// assert_eq!(t.encode("hole")?, vec![1, 3, 2, 0]);
    /// assert_eq!(t.decode(&[1, 0, 2, 2, 3]), "hello");
    /// assert!(t.encode("help").unwrap_err().to_string().contains("'p'"));
    /// # Ok::<(), gen_ar::ArError>(())
    /// ```
    pub fn chars_of(text: &str) -> Self {
        let mut vocab: Vec<char> = text.chars().collect();
        vocab.sort_unstable();
        vocab.dedup();
        Self::Char { vocab }
    }

    /// A BPE tokenizer from a `tokenizer.json` file (GPT-2's, or one
    /// written by Hugging Face's `tokenizers`).
    ///
    /// # Errors
    /// [`ArError::Bpe`] for a file that cannot be read or parsed, or a
    /// build without the `bpe` feature.
    pub fn from_tokenizer_json(path: &Path) -> Result<Self> {
        let json = std::fs::read_to_string(path)
            .map_err(|e| ArError::Bpe(format!("{}: {e}", path.display())))?;
        Ok(Self::Bpe {
            json: BpeJson::new(json)?,
        })
    }

    /// A byte-level BPE (GPT-2's pre-tokenizer and decoder) trained on
    /// `text` up to `vocab_size` ids (at least the 256 bytes).
    ///
    /// # Errors
    /// [`ArError::Bpe`] when training fails or without the `bpe` feature.
    #[cfg(feature = "bpe")]
    pub fn train_bpe(text: &str, vocab_size: usize) -> Result<Self> {
        use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
        use tokenizers::pre_tokenizers::byte_level::ByteLevel;
        let bpe_error = |e: tokenizers::Error| ArError::Bpe(e.to_string());
        let mut trainer: tokenizers::models::TrainerWrapper = BpeTrainerBuilder::new()
            .vocab_size(vocab_size.max(256))
            .min_frequency(2)
            .show_progress(false)
            .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
            .build()
            .into();
        let mut tokenizer = tokenizers::Tokenizer::new(BPE::default());
        tokenizer.with_pre_tokenizer(Some(ByteLevel::default().add_prefix_space(false)));
        tokenizer.with_decoder(Some(ByteLevel::default()));
        tokenizer
            .train(&mut trainer, text.lines().map(|l| format!("{l}\n")))
            .map_err(bpe_error)?;
        let json = tokenizer.to_string(false).map_err(bpe_error)?;
        Ok(Self::Bpe {
            json: BpeJson::new(json)?,
        })
    }

    /// [`train_bpe`](Self::train_bpe) in a build without the `bpe` feature.
    ///
    /// # Errors
    /// Always [`ArError::Bpe`], naming the feature.
    #[cfg(not(feature = "bpe"))]
    pub fn train_bpe(_text: &str, _vocab_size: usize) -> Result<Self> {
        Err(no_bpe())
    }

    /// Whether this build can encode and decode with it (a BPE needs the
    /// `bpe` feature).
    pub fn is_available(&self) -> bool {
        match self {
            Self::Bpe { json } => json.parsed().is_ok(),
            _ => true,
        }
    }

    /// The number of ids.
    pub fn vocab_size(&self) -> usize {
        match self {
            Self::Char { vocab } => vocab.len(),
            Self::Byte => 256,
            #[cfg(feature = "bpe")]
            Self::Bpe { json } => json.parsed().map_or(0, |t| t.get_vocab_size(true)),
            #[cfg(not(feature = "bpe"))]
            Self::Bpe { .. } => 0,
        }
    }

    /// The ids of `text`.
    ///
    /// # Errors
    /// [`ArError::UnknownChars`] listing every character of `text` outside
    /// a character vocabulary; [`ArError::Bpe`] when a BPE fails (or the
    /// build lacks the `bpe` feature).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        match self {
            Self::Byte => Ok(text.bytes().map(u32::from).collect()),
            #[cfg(feature = "bpe")]
            Self::Bpe { json } => Ok(json
                .parsed()?
                .encode(text, false)
                .map_err(|e| ArError::Bpe(e.to_string()))?
                .get_ids()
                .to_vec()),
            #[cfg(not(feature = "bpe"))]
            Self::Bpe { .. } => Err(no_bpe()),
            Self::Char { vocab } => {
                let mut unknown = Vec::new();
                let ids = text
                    .chars()
                    .filter_map(|c| match vocab.binary_search(&c) {
                        Ok(i) => Some(i as u32),
                        Err(_) => {
                            if !unknown.contains(&c) {
                                unknown.push(c);
                            }
                            None
                        }
                    })
                    .collect();
                if unknown.is_empty() {
                    Ok(ids)
                } else {
                    Err(ArError::UnknownChars { chars: unknown })
                }
            }
        }
    }

    /// The text of `ids` (ids outside the vocabulary are skipped; a BPE in
    /// a build without the `bpe` feature decodes to nothing: see
    /// [`is_available`](Self::is_available)).
    pub fn decode(&self, ids: &[u32]) -> String {
        match self {
            #[cfg(feature = "bpe")]
            Self::Bpe { json } => json
                .parsed()
                .and_then(|t| {
                    t.decode(ids, false)
                        .map_err(|e| ArError::Bpe(e.to_string()))
                })
                .unwrap_or_default(),
            #[cfg(not(feature = "bpe"))]
            Self::Bpe { .. } => String::new(),
            Self::Byte => {
                let bytes: Vec<u8> = ids.iter().filter_map(|&i| u8::try_from(i).ok()).collect();
                String::from_utf8_lossy(&bytes).into_owned()
            }
            Self::Char { vocab } => ids.iter().filter_map(|&i| vocab.get(i as usize)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "bpe")]
    #[test]
    fn a_bpe_trained_on_the_text_round_trips_and_saves() {
        let text = "From fairest creatures we desire increase,\nThat thereby beauty's rose might never die,\n".repeat(20);
        let t = Tokenizer::train_bpe(&text, 300).unwrap();
        assert!(
            t.vocab_size() > 256 && t.vocab_size() <= 300,
            "{}",
            t.vocab_size()
        );
        let ids = t.encode("beauty's rose").unwrap();
        assert!(
            ids.len() < "beauty's rose".len(),
            "merges shorten the text: {ids:?}"
        );
        assert_eq!(t.decode(&ids), "beauty's rose");
        let json = serde_json::to_string(&t).unwrap();
        let back: Tokenizer = serde_json::from_str(&json).unwrap();
        assert_eq!(back, t);
        assert_eq!(back.encode("beauty's rose").unwrap(), ids);
    }

    #[test]
    fn bytes_round_trip_any_text() {
        let t = Tokenizer::Byte;
        let text = "Thou art – more lovely ♥";
        assert_eq!(t.decode(&t.encode(text).unwrap()), text);
        assert_eq!(t.vocab_size(), 256);
        // A cut multi-byte character decodes to the replacement character.
        let ids = t.encode("♥").unwrap();
        assert_eq!(t.decode(&ids[..2]), "\u{fffd}");
    }

    #[test]
    fn unknown_characters_are_all_named() {
        let t = Tokenizer::chars_of("abc");
        match t.encode("abxcyx") {
            Err(ArError::UnknownChars { chars }) => assert_eq!(chars, vec!['x', 'y']),
            other => panic!("{other:?}"),
        }
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<Tokenizer>(&json).unwrap(), t);
    }
}
