//! [`Gpt`]: a decoder-only Transformer as GPT-2 and nanoGPT write it.
//!
//! Token and learned position embeddings, `n_layer` pre-norm blocks
//! (LayerNorm, causal multi-head self-attention with one fused `q`/`k`/`v`
//! projection, residual; LayerNorm, an MLP 4x as wide with GELU,
//! residual), a final LayerNorm and a language-model head tied to the token
//! embedding (or a separate `lm_head`). GPT-2's initialisation: every
//! weight matrix and embedding from `N(0, 0.02)`, the projections back
//! into the residual stream from `N(0, 0.02 / sqrt(2 n_layer))`, biases 0,
//! norms 1 and 0.
//!
//! The attention is gen-nn's [`MultiHeadAttention`], whose key/value cache
//! makes [`Gpt::forward_cached`] compute only the new positions.

use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig, Embedding, LayerNorm, LayerNormConfig, Linear};
use burn::tensor::activation::{gelu_approximate, log_softmax};
use burn::tensor::{Device, Distribution, Int, Tensor};
use gen_core::interop::TorchModule;
use gen_nn::{KvCache, MultiHeadAttention, gelu, layer_norm, linear, linear_transposed};

use crate::config::{Gelu, GptConfig};

/// A linear layer with GPT-2's initialisation: weight `N(0, std)`, bias 0.
fn gpt2_linear(d_in: usize, d_out: usize, std: f64, bias: bool, device: &Device) -> Linear {
    Linear {
        weight: Param::from_tensor(Tensor::random(
            [d_in, d_out],
            Distribution::Normal(0.0, std),
            device,
        )),
        bias: bias.then(|| Param::from_tensor(Tensor::zeros([d_out], device))),
    }
}

fn embedding(n: usize, d: usize, device: &Device) -> Embedding {
    Embedding {
        weight: Param::from_tensor(Tensor::random(
            [n, d],
            Distribution::Normal(0.0, 0.02),
            device,
        )),
    }
}

/// The MLP of a block: `c_proj(gelu(c_fc(x)))`, 4x as wide inside.
#[derive(Module, Debug)]
pub struct Mlp {
    /// `n_embd -> 4 n_embd`.
    pub c_fc: Linear,
    /// `4 n_embd -> n_embd`.
    pub c_proj: Linear,
    /// The GELU.
    #[module(skip)]
    pub gelu: Gelu,
}

impl Mlp {
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let h = linear(&self.c_fc, x);
        let h = match self.gelu {
            Gelu::Exact => gelu(h),
            Gelu::Tanh => gelu_approximate(h),
        };
        linear(&self.c_proj, h)
    }
}

/// One pre-norm block.
#[derive(Module, Debug)]
pub struct Block {
    /// The norm before the attention.
    pub ln_1: LayerNorm,
    /// Causal self-attention.
    pub attn: MultiHeadAttention,
    /// The norm before the MLP.
    pub ln_2: LayerNorm,
    /// The MLP.
    pub mlp: Mlp,
    /// Dropout on both residual branches.
    pub dropout: Dropout,
    /// The norms' epsilon (burn's `LayerNorm` keeps its own private).
    #[module(skip)]
    pub epsilon: f64,
}

impl Block {
    fn new(config: &GptConfig, device: &Device) -> Self {
        let (e, b) = (config.n_embd, config.bias);
        let residual = 0.02 / (2.0 * config.n_layer as f64).sqrt();
        let norm = || {
            LayerNormConfig::new(e)
                .with_epsilon(config.layer_norm_epsilon)
                .with_bias(b)
                .init(device)
        };
        Self {
            ln_1: norm(),
            attn: MultiHeadAttention {
                c_attn: gpt2_linear(e, 3 * e, 0.02, b, device),
                c_proj: gpt2_linear(e, e, residual, b, device),
                heads: config.n_head,
                causal: true,
            },
            ln_2: norm(),
            mlp: Mlp {
                c_fc: gpt2_linear(e, 4 * e, 0.02, b, device),
                c_proj: gpt2_linear(4 * e, e, residual, b, device),
                gelu: config.gelu,
            },
            dropout: DropoutConfig::new(config.dropout).init(),
            epsilon: config.layer_norm_epsilon,
        }
    }

    fn forward(&self, x: Tensor<3>, cache: Option<&mut KvCache>) -> Tensor<3> {
        let h = layer_norm(&self.ln_1, self.epsilon, x.clone());
        let a = match cache {
            Some(cache) => self.attn.forward_cached(h, cache),
            None => self.attn.forward(h),
        };
        let x = x + self.dropout.forward(a);
        let m = self
            .mlp
            .forward(layer_norm(&self.ln_2, self.epsilon, x.clone()));
        x + self.dropout.forward(m)
    }
}

/// The keys and values of every layer for the positions decoded so far.
#[derive(Clone, Debug, Default)]
pub struct GptCache {
    layers: Vec<KvCache>,
}

impl GptCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of positions held.
    pub fn len(&self) -> usize {
        self.layers.first().map_or(0, KvCache::len)
    }

    /// Whether no position is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The Transformer; see the [module docs](self).
#[derive(Module, Debug)]
pub struct Gpt {
    /// Token embedding `[vocab, n_embd]` (also the head when tied).
    pub wte: Embedding,
    /// Position embedding `[block_size, n_embd]`.
    pub wpe: Embedding,
    /// Dropout after the embeddings.
    pub dropout: Dropout,
    /// The blocks.
    pub h: Vec<Block>,
    /// The final norm.
    pub ln_f: LayerNorm,
    /// The head when it is not tied: `n_embd -> vocab`, no bias.
    pub lm_head: Option<Linear>,
    /// What it was built from.
    #[module(skip)]
    pub config: GptConfig,
}

impl GptConfig {
    /// Builds the model on `device` with GPT-2's initialisation, drawn from
    /// the device's generator ([`gen_core::rng::seed_device`] or
    /// [`gen_core::rng::with_seed`] make it reproducible).
    ///
    /// # Errors
    /// As [`validate`](Self::validate).
    pub fn init(&self, device: &Device) -> gen_core::Result<Gpt> {
        self.validate()?;
        let e = self.n_embd;
        Ok(Gpt {
            wte: embedding(self.vocab_size, e, device),
            wpe: embedding(self.block_size, e, device),
            dropout: DropoutConfig::new(self.dropout).init(),
            h: (0..self.n_layer)
                .map(|_| Block::new(self, device))
                .collect(),
            ln_f: LayerNormConfig::new(e)
                .with_epsilon(self.layer_norm_epsilon)
                .with_bias(self.bias)
                .init(device),
            lm_head: (!self.tie_weights)
                .then(|| gpt2_linear(e, self.vocab_size, 0.02, false, device)),
            config: self.clone(),
        })
    }
}

impl Gpt {
    /// The logits of the next token at every position.
    ///
    /// # Shapes
    /// `tokens`: `[b, t]` with `t <= block_size` -> `[b, t, vocab_size]`.
    pub fn forward(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        self.run(tokens, 0, None)
    }

    /// The logits of the new positions `tokens` given the cached ones (the
    /// cache grows by `t`): the same as [`forward`](Self::forward) over the
    /// whole sequence, without recomputing the prefix. The cache and the
    /// new tokens together must fit the block size.
    ///
    /// # Shapes
    /// `tokens`: `[b, t]` -> `[b, t, vocab_size]`.
    pub fn forward_cached(&self, tokens: Tensor<2, Int>, cache: &mut GptCache) -> Tensor<3> {
        if cache.layers.is_empty() {
            cache.layers = vec![KvCache::new(); self.h.len()];
        }
        let offset = cache.len();
        self.run(tokens, offset, Some(cache))
    }

    fn run(
        &self,
        tokens: Tensor<2, Int>,
        offset: usize,
        mut cache: Option<&mut GptCache>,
    ) -> Tensor<3> {
        let [b, t] = tokens.dims();
        let device = tokens.device();
        let positions =
            Tensor::<1, Int>::arange(offset as i64..(offset + t) as i64, &device).reshape([1, t]);
        let mut x = self.wte.forward(tokens) + self.wpe.forward(positions);
        x = self.dropout.forward(x);
        for (i, block) in self.h.iter().enumerate() {
            let layer = cache.as_deref_mut().map(|c| &mut c.layers[i]);
            x = block.forward(x, layer);
        }
        let x = layer_norm(&self.ln_f, self.config.layer_norm_epsilon, x)
            .reshape([b * t, self.config.n_embd]);
        let logits = match &self.lm_head {
            Some(head) => linear(head, x),
            None => linear_transposed(x, self.wte.weight.val()),
        };
        logits.reshape([b, t, self.config.vocab_size])
    }
}

/// The mean next-token cross-entropy in nats: `tokens[:, :-1]` predict
/// `tokens[:, 1:]`.
///
/// # Shapes
/// `tokens`: `[b, t + 1]` with `t <= block_size` -> `[1]`.
pub fn next_token_loss(model: &Gpt, tokens: Tensor<2, Int>) -> Tensor<1> {
    let [b, n] = tokens.dims();
    let inputs = tokens.clone().narrow(1, 0, n - 1);
    let targets = tokens.narrow(1, 1, n - 1).reshape([b, n - 1, 1]);
    let logp = log_softmax(model.forward(inputs), 2);
    -logp.gather(2, targets).mean()
}

/// nanoGPT's `state_dict` names: `transformer.` before every tensor but
/// `lm_head.weight` (the Linear layouts of PyTorch; Hugging Face's `Conv1D`
/// layout is read by [`crate::weights`]).
impl TorchModule for Gpt {
    fn torch_key(&self, path: &str) -> String {
        if path.starts_with("lm_head") {
            path.to_owned()
        } else {
            format!("transformer.{path}")
        }
    }
}
