//! [`GptConfig`]: the shape of a decoder-only Transformer.

use burn::config::Config;
use gen_core::Error;
use gen_core::error::{ensure_nonzero, ensure_positive, ensure_unit_interval};
use serde::{Deserialize, Serialize};

/// The GELU of the MLP.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Gelu {
    /// `x Phi(x)` (PyTorch's `nn.GELU()`, nanoGPT's).
    #[default]
    Exact,
    /// The tanh approximation (GPT-2's `gelu_new`, Hugging Face's).
    Tanh,
}

gen_core::enum_names!(Gelu, "gelu", { Gelu::Exact => "exact", Gelu::Tanh => "tanh" | "gelu_new" });

/// Shape of a [`Gpt`](crate::Gpt): GPT-2's decoder (Radford et al. 2019) as
/// nanoGPT writes it. The defaults are nanoGPT's small CPU configuration
/// (block 64, 4 layers, 4 heads, width 128).
#[derive(Config, Debug, PartialEq)]
pub struct GptConfig {
    /// Tokens in the vocabulary, >= 1.
    pub vocab_size: usize,
    /// The longest context, in tokens (learned positions), >= 1.
    #[config(default = 64)]
    pub block_size: usize,
    /// Transformer blocks, >= 1.
    #[config(default = 4)]
    pub n_layer: usize,
    /// Attention heads, >= 1, dividing `n_embd`.
    #[config(default = 4)]
    pub n_head: usize,
    /// The width, >= 1.
    #[config(default = 128)]
    pub n_embd: usize,
    /// Dropout after the embeddings, the attention and the MLP, in `[0, 1)`
    /// (drawn from burn's device generator: a run with dropout is
    /// reproducible on one backend only).
    #[config(default = 0.0)]
    pub dropout: f64,
    /// Biases in the linear layers and the norms (GPT-2: yes).
    #[config(default = true)]
    pub bias: bool,
    /// The language-model head is the token embedding, transposed (GPT-2);
    /// otherwise a separate `lm_head` without bias.
    #[config(default = true)]
    pub tie_weights: bool,
    /// The MLP's GELU.
    #[config(default = "Gelu::Exact")]
    pub gelu: Gelu,
    /// LayerNorm's epsilon, > 0.
    #[config(default = 1e-5)]
    pub layer_norm_epsilon: f64,
}

impl GptConfig {
    /// Checks the ranges documented on each field.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the first wrong field.
    pub fn validate(&self) -> gen_core::Result<()> {
        ensure_nonzero("vocab_size", self.vocab_size)?;
        ensure_nonzero("block_size", self.block_size)?;
        ensure_nonzero("n_layer", self.n_layer)?;
        ensure_nonzero("n_head", self.n_head)?;
        ensure_nonzero("n_embd", self.n_embd)?;
        if !self.n_embd.is_multiple_of(self.n_head) {
            return Err(Error::config(
                "n_head",
                format!("{} does not divide n_embd = {}", self.n_head, self.n_embd),
            ));
        }
        ensure_unit_interval("dropout", self.dropout)?;
        ensure_positive("layer_norm_epsilon", self.layer_norm_epsilon)
    }

    /// The number of parameters (a tied head counted once).
    pub fn num_params(&self) -> usize {
        let (e, v, t, l) = (self.n_embd, self.vocab_size, self.block_size, self.n_layer);
        let b = usize::from(self.bias);
        let norm = e + b * e;
        let block = 2 * norm
            + (e * 3 * e + b * 3 * e)
            + (e * e + b * e)
            + (e * 4 * e + b * 4 * e)
            + (4 * e * e + b * e);
        let head = if self.tie_weights { 0 } else { e * v };
        v * e + t * e + l * block + norm + head
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_configs_are_typed_errors() {
        for (cfg, field) in [
            (GptConfig::new(0), "vocab_size"),
            (GptConfig::new(65).with_block_size(0), "block_size"),
            (GptConfig::new(65).with_n_layer(0), "n_layer"),
            (GptConfig::new(65).with_n_head(3), "n_head"),
            (GptConfig::new(65).with_dropout(1.0), "dropout"),
            (
                GptConfig::new(65).with_layer_norm_epsilon(0.0),
                "layer_norm_epsilon",
            ),
        ] {
            match cfg.validate() {
                Err(Error::InvalidConfig { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_small_cpu_gpt_has_nanogpts_count() {
        // bench_gpt.py's model: vocab 65, block 64, 4 x 4 x 128, tied:
        // 0.81M parameters (nanoGPT's count without the positions: 0.80M).
        let n = GptConfig::new(65).num_params();
        assert_eq!(n, 65 * 128 + 64 * 128 + 4 * 198_272 + 256);
        assert!((800_000..820_000).contains(&n), "{n}");
    }
}
