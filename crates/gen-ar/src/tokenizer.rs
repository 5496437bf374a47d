//! Text to token ids and back.
//!
//! - [`Tokenizer::Char`]: one id per character of a vocabulary built from
//!   the corpus (its distinct characters in code-point order, nanoGPT's
//!   `sorted(set(text))`), saved with the model;
//! - [`Tokenizer::Byte`]: the 256 byte values of the UTF-8 text, nothing to
//!   build; decoding replaces invalid sequences with U+FFFD.
//!
//! A character outside a character vocabulary is an error that names it,
//! never a panic.

use serde::{Deserialize, Serialize};

use crate::error::{ArError, Result};

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

    /// The number of ids.
    pub fn vocab_size(&self) -> usize {
        match self {
            Self::Char { vocab } => vocab.len(),
            Self::Byte => 256,
        }
    }

    /// The ids of `text`.
    ///
    /// # Errors
    /// [`ArError::UnknownChars`] listing every character of `text` outside
    /// a character vocabulary.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        match self {
            Self::Byte => Ok(text.bytes().map(u32::from).collect()),
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

    /// The text of `ids` (ids outside the vocabulary are skipped).
    pub fn decode(&self, ids: &[u32]) -> String {
        match self {
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
