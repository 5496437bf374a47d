//! # gen-ar: autoregressive Transformers on burn
//!
//! The fourth route of the workspace: a decoder-only Transformer that
//! learns text and writes it.
//!
//! | module | what it holds |
//! |---|---|
//! | [`config`] | [`GptConfig`]: vocabulary, block size, layers, heads, width, dropout, bias, tied head, GELU |
//! | [`model`] | [`Gpt`]: GPT-2 / nanoGPT's decoder (gen-nn's causal [`MultiHeadAttention`](gen_nn::MultiHeadAttention) with a key/value cache), [`next_token_loss`] |
//! | [`tokenizer`] | [`Tokenizer`]: characters of the corpus, or bytes |
//! | [`train`] | [`GptTrainer`]: next-token cross-entropy over gen-core's shared optimisation layer; [`validation_loss`] |
//! | [`generate`](mod@generate) | KV-cached, batched decoding: greedy, temperature, top-k, top-p, repetition penalty, stops, streaming |
//! | [`saved`] | the model card ([`ArModelConfig`]) and a saved model rebuilt from it |
//! | [`weights`] | GPT-2-format weights: Hugging Face's `GPT2LMHeadModel` folders in and out, nanoGPT's `state_dict` in |
//! | [`error`] | [`ArError`], wrapping gen-core's |
//!
//! ```
//! use burn::tensor::Device;
//! use gen_ar::{DecodeConfig, GptConfig, Tokenizer, generate_text};
//! use gen_core::SeededRng;
//!
//! let dev = Device::flex();
//! let tokenizer = Tokenizer::chars_of("to be or not to be");
//! let model = GptConfig::new(tokenizer.vocab_size()).with_n_layer(1).with_n_embd(16).init(&dev)?;
//! let decode = DecodeConfig::new().with_max_new_tokens(5);
//! let text = generate_text(&model, &tokenizer, &["to be"; 2], &decode, &mut SeededRng::new(0), &dev, |_, _| {})?;
//! assert!(text.iter().all(|t| t.starts_with("to be") && t.chars().count() == 10));
//! # Ok::<(), gen_ar::ArError>(())
//! ```

pub mod config;
pub mod error;
pub mod generate;
pub mod model;
pub mod saved;
pub mod tokenizer;
pub mod train;
pub mod weights;

pub use config::{Gelu, GptConfig};
pub use error::{ArError, Result};
pub use generate::{DecodeConfig, generate, generate_text};
pub use model::{Gpt, GptCache, next_token_loss};
pub use saved::{ArModelConfig, FAMILY, SavedGpt};
pub use tokenizer::Tokenizer;
pub use train::{GptTrainer, GptTrainingConfig, nanogpt_adamw, validation_loss};
