//! Writing text: incremental decoding with the key/value cache, batched,
//! with the usual controls (greedy, temperature, top-k, top-p, repetition
//! penalty), stop tokens and strings, a length limit, and a callback per
//! token for streaming.
//!
//! Every choice is made on the host from the logits with a [`SeededRng`]:
//! the same seed gives the same text on every backend. A prompt longer
//! than the block size is cropped to its last `block_size` tokens, and once
//! a sequence fills the block each new token sees the last `block_size`
//! tokens (nanoGPT's crop): the cache then restarts from that window.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};
use gen_core::SeededRng;
use gen_core::error::{ensure_nonzero, ensure_positive};

use crate::error::Result;
use crate::model::{Gpt, GptCache};
use crate::tokenizer::Tokenizer;

/// How tokens are chosen and when decoding stops.
#[derive(Config, Debug, PartialEq)]
pub struct DecodeConfig {
    /// The most tokens to add to each prompt.
    #[config(default = 256)]
    pub max_new_tokens: usize,
    /// Logits are divided by it before sampling, >= 0; 0 is greedy (the
    /// most likely token).
    #[config(default = 1.0)]
    pub temperature: f64,
    /// Sample among the `k` most likely tokens only (>= 1).
    #[config(default = "None")]
    pub top_k: Option<usize>,
    /// Nucleus sampling: among the most likely tokens whose probabilities
    /// sum to at least `p`, in `(0, 1]` (Holtzman et al. 2020).
    #[config(default = "None")]
    pub top_p: Option<f64>,
    /// CTRL's repetition penalty (Keskar et al. 2019), >= 1 to discourage:
    /// the logit of every token already in the sequence is divided by it
    /// when positive and multiplied by it when negative; 1 is none.
    #[config(default = 1.0)]
    pub repetition_penalty: f64,
    /// A sequence stops after producing one of these ids (kept in the
    /// output).
    #[config(default = "Vec::new()")]
    pub stop_tokens: Vec<u32>,
    /// A sequence stops once its generated text ends with one of these
    /// (kept in the output).
    #[config(default = "Vec::new()")]
    pub stop_strings: Vec<String>,
}

impl DecodeConfig {
    /// Checks the ranges documented on each field.
    ///
    /// # Errors
    /// [`gen_core::Error::InvalidConfig`] naming the first wrong field.
    pub fn validate(&self) -> gen_core::Result<()> {
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return Err(gen_core::Error::config(
                "temperature",
                format!("must be a finite value >= 0, found {}", self.temperature),
            ));
        }
        if let Some(k) = self.top_k {
            ensure_nonzero("top_k", k)?;
        }
        if let Some(p) = self.top_p
            && !(p > 0.0 && p <= 1.0)
        {
            return Err(gen_core::Error::config(
                "top_p",
                format!("must be in (0, 1], found {p}"),
            ));
        }
        ensure_positive("repetition_penalty", self.repetition_penalty)
    }
}

/// The ids that [`choose`] may return for these logits: all, or the top-k,
/// then the nucleus of the top-p (at least the most likely id). Sorted by
/// decreasing logit.
pub fn allowed(logits: &[f32], config: &DecodeConfig) -> Vec<usize> {
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
    if let Some(k) = config.top_k {
        order.truncate(k.max(1));
    }
    if let Some(p) = config.top_p {
        let t = config.temperature.max(f64::MIN_POSITIVE);
        let max = f64::from(logits[order[0]]);
        let weights: Vec<f64> = order
            .iter()
            .map(|&i| ((f64::from(logits[i]) - max) / t).exp())
            .collect();
        let total: f64 = weights.iter().sum();
        let mut cumulative = 0.0;
        let mut keep = order.len();
        for (n, w) in weights.iter().enumerate() {
            cumulative += w / total;
            if cumulative >= p {
                keep = n + 1;
                break;
            }
        }
        order.truncate(keep.max(1));
    }
    order
}

/// The next id for one sequence from its logits: the penalty for the ids
/// in `history`, then greedy at temperature 0, else a draw (`u` uniform in
/// `[0, 1)`) from the softmax at the temperature over [`allowed`].
pub fn choose(logits: &[f32], history: &[u32], config: &DecodeConfig, u: f64) -> u32 {
    let mut logits = logits.to_vec();
    if config.repetition_penalty != 1.0 {
        let p = config.repetition_penalty as f32;
        for &id in history {
            if let Some(l) = logits.get_mut(id as usize) {
                *l = if *l > 0.0 { *l / p } else { *l * p };
            }
        }
    }
    let candidates = allowed(&logits, config);
    if config.temperature == 0.0 {
        return candidates[0] as u32;
    }
    let max = f64::from(logits[candidates[0]]);
    let weights: Vec<f64> = candidates
        .iter()
        .map(|&i| ((f64::from(logits[i]) - max) / config.temperature).exp())
        .collect();
    let mut target = u * weights.iter().sum::<f64>();
    for (&i, w) in candidates.iter().zip(&weights) {
        target -= w;
        if target < 0.0 {
            return i as u32;
        }
    }
    *candidates.last().expect("at least one candidate") as u32
}

/// Continues each prompt (all of the same length, at least one token) and
/// returns prompt + continuation per sequence. `on_token(row, id)` is
/// called for every new token as it is chosen.
///
/// # Errors
/// An invalid config, no prompt, an empty prompt, prompts of different
/// lengths, or ids outside the vocabulary.
pub fn generate(
    model: &Gpt,
    prompts: &[Vec<u32>],
    config: &DecodeConfig,
    tokenizer: Option<&Tokenizer>,
    rng: &mut SeededRng,
    device: &Device,
    mut on_token: impl FnMut(usize, u32),
) -> Result<Vec<Vec<u32>>> {
    config.validate()?;
    let vocab = model.config.vocab_size;
    let block = model.config.block_size;
    let len = prompts.first().map(Vec::len).unwrap_or(0);
    if len == 0 || prompts.iter().any(|p| p.len() != len) {
        return Err(gen_core::Error::config(
            "prompts",
            "need at least one prompt, all of the same length >= 1 (a batch decodes in step)",
        )
        .into());
    }
    if let Some(&id) = prompts.iter().flatten().find(|&&id| id as usize >= vocab) {
        return Err(gen_core::Error::config(
            "prompts",
            format!("token {id} is outside the vocabulary of {vocab}"),
        )
        .into());
    }
    if config.stop_strings.iter().any(String::is_empty) {
        return Err(gen_core::Error::config("stop_strings", "cannot hold an empty string").into());
    }
    let model = model.valid().to_device(device);
    let mut sequences: Vec<Vec<u32>> = prompts.to_vec();
    // Where each sequence ended; a stopped row keeps repeating its last id
    // so that the batch stays rectangular, and is cut back at the end.
    let mut ends: Vec<Option<usize>> = vec![None; prompts.len()];
    let mut cache = GptCache::new();
    let start = len.saturating_sub(block);
    let mut logits = model.forward_cached(tokens(&sequences, start, device), &mut cache);
    for _ in 0..config.max_new_tokens {
        let last = host_last(logits);
        let mut fresh = Vec::with_capacity(sequences.len());
        for (row, seq) in sequences.iter_mut().enumerate() {
            // A draw per row whether it has stopped or not: the stream of
            // one row does not depend on when the others stop.
            let u = f64::from(rng.uniform_vec(1, 0.0, 1.0)[0]);
            let id = match ends[row] {
                Some(_) => *seq.last().expect("non-empty"),
                None => {
                    let id = choose(&last[row * vocab..(row + 1) * vocab], seq, config, u);
                    on_token(row, id);
                    id
                }
            };
            seq.push(id);
            if ends[row].is_none() && stops(seq, len, id, config, tokenizer) {
                ends[row] = Some(seq.len());
            }
            fresh.push(id);
        }
        if ends.iter().all(Option::is_some) {
            break;
        }
        let total = sequences[0].len();
        logits = if cache.len() + 1 > block {
            // The window slides: positions restart from its first token.
            cache = GptCache::new();
            model.forward_cached(tokens(&sequences, total - block, device), &mut cache)
        } else {
            let ids: Vec<i64> = fresh.iter().map(|&i| i64::from(i)).collect();
            let n = ids.len();
            model.forward_cached(
                Tensor::from_data(TensorData::new(ids, [n, 1]), device),
                &mut cache,
            )
        };
    }
    for (seq, end) in sequences.iter_mut().zip(ends) {
        if let Some(end) = end {
            seq.truncate(end);
        }
    }
    Ok(sequences)
}

/// Whether a sequence stops after `id`.
fn stops(
    seq: &[u32],
    prompt: usize,
    id: u32,
    config: &DecodeConfig,
    tokenizer: Option<&Tokenizer>,
) -> bool {
    if config.stop_tokens.contains(&id) {
        return true;
    }
    match tokenizer {
        Some(t) if !config.stop_strings.is_empty() => {
            let text = t.decode(&seq[prompt..]);
            config
                .stop_strings
                .iter()
                .any(|s| text.ends_with(s.as_str()))
        }
        _ => false,
    }
}

/// `sequences[.][from..]` as a `[b, t]` tensor.
fn tokens(sequences: &[Vec<u32>], from: usize, device: &Device) -> Tensor<2, Int> {
    let t = sequences[0].len() - from;
    let ids: Vec<i64> = sequences
        .iter()
        .flat_map(|s| s[from..].iter().map(|&i| i64::from(i)))
        .collect();
    Tensor::from_data(TensorData::new(ids, [sequences.len(), t]), device)
}

/// The logits of the last position, `[b, v]`, on the host.
fn host_last(logits: Tensor<3>) -> Vec<f32> {
    let [b, t, v] = logits.dims();
    logits
        .narrow(1, t - 1, 1)
        .reshape([b, v])
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap_or_default()
}

/// [`generate`] from text: a continuation of each prompt (prompts of the
/// same length in tokens; the same prompt `n` times gives `n` samples),
/// decoded.
///
/// # Errors
/// As [`generate`], and [`ArError::UnknownChars`](crate::ArError::UnknownChars)
/// for a prompt with characters outside the vocabulary.
pub fn generate_text(
    model: &Gpt,
    tokenizer: &Tokenizer,
    prompts: &[&str],
    config: &DecodeConfig,
    rng: &mut SeededRng,
    device: &Device,
    on_token: impl FnMut(usize, u32),
) -> Result<Vec<String>> {
    let ids = prompts
        .iter()
        .map(|p| tokenizer.encode(p))
        .collect::<Result<Vec<_>>>()?;
    let out = generate(model, &ids, config, Some(tokenizer), rng, device, on_token)?;
    Ok(out.iter().map(|s| tokenizer.decode(s)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random_logits(rng: &mut SeededRng, n: usize) -> Vec<f32> {
        rng.normal_vec(n).into_iter().map(|x| x * 3.0).collect()
    }

    #[test]
    fn top_k_and_top_p_never_leave_their_set() {
        let mut rng = SeededRng::new(11);
        for case in 0..500 {
            let n = 2 + case % 40;
            let logits = random_logits(&mut rng, n);
            let k = 1 + rng.below(n);
            let p = f64::from(rng.uniform_vec(1, 0.05, 1.0)[0]);
            let config = DecodeConfig::new()
                .with_top_k(Some(k))
                .with_top_p(Some(p))
                .with_temperature(0.5 + f64::from(rng.uniform_vec(1, 0.0, 1.5)[0]));
            let set = allowed(&logits, &config);
            assert!(!set.is_empty() && set.len() <= k, "{case}");
            // The set is the most likely ids.
            let worst_kept = set.iter().map(|&i| logits[i]).fold(f32::INFINITY, f32::min);
            assert!(
                (0..n)
                    .filter(|i| !set.contains(i))
                    .all(|i| logits[i] <= worst_kept),
                "{case}"
            );
            for _ in 0..20 {
                let u = f64::from(rng.uniform_vec(1, 0.0, 1.0)[0]);
                let id = choose(&logits, &[], &config, u) as usize;
                assert!(set.contains(&id), "{case}: {id} outside {set:?}");
            }
        }
    }

    #[test]
    fn temperature_zero_is_greedy_and_the_penalty_discourages_repeats() {
        let logits = [0.5f32, 3.0, 2.9, -1.0];
        let greedy = DecodeConfig::new().with_temperature(0.0);
        for u in [0.0, 0.5, 0.999] {
            assert_eq!(choose(&logits, &[], &greedy, u), 1);
        }
        let penalised = greedy.clone().with_repetition_penalty(1.5);
        assert_eq!(choose(&logits, &[1], &penalised, 0.0), 2);
        assert_eq!(choose(&logits, &[2], &penalised, 0.0), 1);
        // A top-p small enough keeps only the best id.
        let nucleus = DecodeConfig::new().with_top_p(Some(1e-9));
        assert_eq!(allowed(&logits, &nucleus), vec![1]);
        for (cfg, field) in [
            (DecodeConfig::new().with_temperature(-1.0), "temperature"),
            (DecodeConfig::new().with_top_k(Some(0)), "top_k"),
            (DecodeConfig::new().with_top_p(Some(0.0)), "top_p"),
            (
                DecodeConfig::new().with_repetition_penalty(0.0),
                "repetition_penalty",
            ),
        ] {
            let err = cfg.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{err}");
        }
    }
}
