//! Text for autoregressive models: a corpus read from a file or a folder
//! of text files, its token stream split by position into training and
//! validation parts, and random windows of it drawn deterministically.
//!
//! gen-data knows no tokenizer: a [`TokenStream`] is the ids a tokenizer
//! made of the text (gen-ar's character, byte or BPE tokenizers).
//!
//! ```
//! use gen_core::BatchSource;
//! use gen_data::text::{TokenStream, TokenWindows};
//!
//! let stream = TokenStream::new("toy", (0..1000).map(|i| i % 7).collect(), 7)?;
//! let (train, val) = stream.split(0.9)?;
//! assert_eq!((train.len(), val.len()), (900, 100));
//! let mut windows = TokenWindows::new(train, 16, 4, 0)?;
//! let batch = windows.batch(0, &burn::tensor::Device::flex())?;
//! assert_eq!(batch.tokens()?.dims(), [4, 17]); // 16 inputs and their next tokens
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fs;
use std::path::{Path, PathBuf};

use burn::tensor::{Device, Int, Tensor, TensorData};
use gen_core::{Batch, BatchSource, SeededRng};

use crate::error::{Error, Result};

/// Shakespeare's sonnets (95,728 bytes of ASCII), embedded in the crate
/// with their credit (`data/shakespeare/README.md`): the corpus of the
/// language-model tests and the short demo.
///
/// ```
/// let corpus = gen_data::text::sonnets();
/// assert_eq!(corpus.text.len(), 95_728);
/// assert!(corpus.text.contains("Shall I compare thee to a summer's day?"));
/// ```
pub fn sonnets() -> TextCorpus {
    TextCorpus {
        text: include_str!("../data/shakespeare/sonnets_gut.txt").to_owned(),
        files: Vec::new(),
    }
}

/// Text read from one file or from every file of a folder whose name ends
/// with a suffix, concatenated in sorted file-name order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextCorpus {
    /// The text.
    pub text: String,
    /// The files it was read from, in order.
    pub files: Vec<PathBuf>,
}

impl TextCorpus {
    /// Reads `path`: a file, or a folder whose files ending in `suffix`
    /// (`".txt"`, or `"_gut.txt"` for the Shakespeare set) are read in
    /// sorted name order and concatenated.
    ///
    /// # Errors
    /// [`Error::Missing`] for a path that does not exist, [`Error::Io`]
    /// when a file cannot be read, [`Error::Format`] for a file that is not
    /// UTF-8 (with the byte offset), [`Error::Invalid`] for a folder without
    /// such files or a corpus without text.
    pub fn read(path: &Path, suffix: &str) -> Result<Self> {
        let meta = fs::metadata(path).map_err(|_| Error::Missing {
            path: path.to_owned(),
            hint: "give a text file or a folder of text files".into(),
        })?;
        let files = if meta.is_dir() {
            let mut files: Vec<PathBuf> = fs::read_dir(path)
                .map_err(|e| Error::io(path, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.is_file()
                        && p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.ends_with(suffix))
                })
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(Error::Invalid {
                    source_name: path.display().to_string(),
                    reason: format!("holds no file whose name ends with `{suffix}`"),
                });
            }
            files
        } else {
            vec![path.to_owned()]
        };
        let mut text = String::new();
        for file in &files {
            let bytes = fs::read(file).map_err(|e| Error::io(file, e))?;
            let part = String::from_utf8(bytes).map_err(|e| Error::Format {
                path: file.clone(),
                reason: format!(
                    "not UTF-8 text: invalid byte at offset {}",
                    e.utf8_error().valid_up_to()
                ),
            })?;
            text.push_str(&part);
        }
        Self::from_text(&path.display().to_string(), text).map(|c| Self { files, ..c })
    }

    /// A corpus held in memory (an embedded text).
    ///
    /// # Errors
    /// [`Error::Invalid`] for an empty text.
    pub fn from_text(name: &str, text: String) -> Result<Self> {
        if text.is_empty() {
            return Err(Error::Invalid {
                source_name: name.to_owned(),
                reason: "the corpus is empty".into(),
            });
        }
        Ok(Self {
            text,
            files: Vec::new(),
        })
    }
}

/// A sequence of token ids in `0..vocab_size`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenStream {
    name: String,
    tokens: Vec<u32>,
    vocab_size: usize,
}

impl TokenStream {
    /// The ids of `name` (for messages).
    ///
    /// # Errors
    /// [`Error::Invalid`] for an empty stream or an id outside the
    /// vocabulary.
    pub fn new(name: &str, tokens: Vec<u32>, vocab_size: usize) -> Result<Self> {
        let invalid = |reason: String| Error::Invalid {
            source_name: name.to_owned(),
            reason,
        };
        if tokens.is_empty() {
            return Err(invalid("the token stream is empty".into()));
        }
        if let Some(&t) = tokens.iter().find(|&&t| t as usize >= vocab_size) {
            return Err(invalid(format!(
                "token {t} is outside the vocabulary of {vocab_size}"
            )));
        }
        Ok(Self {
            name: name.to_owned(),
            tokens,
            vocab_size,
        })
    }

    /// The number of tokens.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Always false: a stream holds at least one token.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The vocabulary size.
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// The ids.
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    /// The first `round(fraction * len)` tokens for training and the rest
    /// for validation (nanoGPT's split by position).
    ///
    /// # Errors
    /// [`Error::Invalid`] for a fraction outside `(0, 1)` or a part left
    /// empty.
    pub fn split(&self, fraction: f64) -> Result<(Self, Self)> {
        let n = (fraction * self.len() as f64) as usize;
        if !(fraction > 0.0 && fraction < 1.0) || n == 0 || n == self.len() {
            return Err(Error::Invalid {
                source_name: self.name.clone(),
                reason: format!(
                    "cannot split {} tokens at {fraction}: both parts need tokens",
                    self.len()
                ),
            });
        }
        let part = |suffix: &str, tokens: &[u32]| Self {
            name: format!("{} ({suffix})", self.name),
            tokens: tokens.to_vec(),
            vocab_size: self.vocab_size,
        };
        Ok((
            part("train", &self.tokens[..n]),
            part("validation", &self.tokens[n..]),
        ))
    }
}

/// Random windows of `block_size + 1` tokens of a stream, `batch_size` at
/// a time: the inputs and, shifted by one, their next tokens. Batch `i` is
/// a function of `(seed, i)` alone, so a resumed run reads the same data.
/// One epoch is `len / (batch_size * block_size)` batches (at least one):
/// about one pass over the tokens.
#[derive(Clone, Debug)]
pub struct TokenWindows {
    stream: TokenStream,
    block_size: usize,
    batch_size: usize,
    seed: u64,
}

impl TokenWindows {
    /// Windows of `block_size + 1` tokens.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a zero block or batch size, or a stream
    /// shorter than one window.
    pub fn new(
        stream: TokenStream,
        block_size: usize,
        batch_size: usize,
        seed: u64,
    ) -> Result<Self> {
        let invalid = |reason: String| Error::Invalid {
            source_name: stream.name.clone(),
            reason,
        };
        if block_size == 0 || batch_size == 0 {
            return Err(invalid("block and batch sizes must be at least 1".into()));
        }
        if stream.len() < block_size + 1 {
            return Err(invalid(format!(
                "{} tokens are shorter than one window of {} (block size {block_size} + 1)",
                stream.len(),
                block_size + 1
            )));
        }
        Ok(Self {
            stream,
            block_size,
            batch_size,
            seed,
        })
    }

    /// The stream the windows are drawn from.
    pub fn stream(&self) -> &TokenStream {
        &self.stream
    }

    /// The start positions of batch `index`.
    pub fn starts(&self, index: u64) -> Vec<usize> {
        let mut rng = SeededRng::derived(self.seed, index);
        let choices = self.stream.len() - self.block_size;
        (0..self.batch_size).map(|_| rng.below(choices)).collect()
    }
}

impl BatchSource for TokenWindows {
    fn batches_per_epoch(&self) -> usize {
        (self.stream.len() / (self.batch_size * self.block_size)).max(1)
    }

    fn batch(&mut self, index: u64, device: &Device) -> gen_core::Result<Batch> {
        let window = self.block_size + 1;
        let tokens = self.stream.tokens();
        let ids: Vec<i64> = self
            .starts(index)
            .into_iter()
            .flat_map(|s| tokens[s..s + window].iter().map(|&t| i64::from(t)))
            .collect();
        let batch =
            Tensor::<2, Int>::from_data(TensorData::new(ids, [self.batch_size, window]), device);
        Ok(Batch::of_tokens(batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_deterministic_and_shifted_pairs() {
        let stream = TokenStream::new("count", (0..500).collect(), 500).unwrap();
        let mut w = TokenWindows::new(stream, 8, 3, 5).unwrap();
        let dev = Device::flex();
        let read = |w: &mut TokenWindows| -> Vec<i64> {
            let batch = w.batch(7, &dev).unwrap();
            let data = batch.tokens().unwrap().clone().into_data();
            data.convert::<i64>().try_into_vec().unwrap()
        };
        let a = read(&mut w);
        let b = read(&mut w);
        assert_eq!(a, b);
        // Each row is 9 consecutive ids.
        for row in a.chunks(9) {
            assert!(row.windows(2).all(|p| p[1] == p[0] + 1), "{row:?}");
        }
        assert_ne!(w.starts(7), w.starts(8));
        assert_eq!(w.batches_per_epoch(), 500 / 24);
    }

    #[test]
    fn bad_streams_and_corpora_are_typed_errors() {
        assert!(matches!(
            TokenStream::new("e", vec![], 3),
            Err(Error::Invalid { .. })
        ));
        assert!(matches!(
            TokenStream::new("v", vec![0, 3], 3),
            Err(Error::Invalid { .. })
        ));
        let short = TokenStream::new("s", vec![0; 8], 1).unwrap();
        let err = TokenWindows::new(short.clone(), 8, 1, 0).unwrap_err();
        assert!(err.to_string().contains("shorter than one window"), "{err}");
        assert!(short.split(1.0).is_err() && short.split(0.01).is_err());
        assert!(matches!(
            TextCorpus::from_text("t", String::new()),
            Err(Error::Invalid { .. })
        ));

        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            TextCorpus::read(&dir.path().join("nope"), ".txt"),
            Err(Error::Missing { .. })
        ));
        assert!(matches!(
            TextCorpus::read(dir.path(), ".txt"),
            Err(Error::Invalid { .. })
        ));
        std::fs::write(dir.path().join("b.txt"), "second").unwrap();
        std::fs::write(dir.path().join("a.txt"), "first ").unwrap();
        std::fs::write(dir.path().join("notes.md"), "ignored").unwrap();
        let corpus = TextCorpus::read(dir.path(), ".txt").unwrap();
        assert_eq!(corpus.text, "first second");
        assert_eq!(corpus.files.len(), 2);
        std::fs::write(dir.path().join("c.txt"), [b'o', b'k', 0xff, b'!']).unwrap();
        let err = TextCorpus::read(dir.path(), ".txt").unwrap_err();
        assert!(
            matches!(err, Error::Format { .. }) && err.to_string().contains("offset 2"),
            "{err}"
        );
    }
}
