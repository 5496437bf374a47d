//! Scaled dot-product attention (Vaswani et al. 2017, eq. 1) and the two
//! blocks built on it:
//!
//! - [`SpatialAttention`]: self-attention over the pixels of a feature map,
//!   in the form of Ho et al.'s DDPM code (GroupNorm, a 1x1 convolution to
//!   `q`, `k`, `v`, the attention, a 1x1 output convolution, a residual);
//! - [`MultiHeadAttention`]: self-attention over a sequence `[b, t, c]`
//!   with one fused `q`/`k`/`v` projection, as GPT-2 and nanoGPT write it
//!   (its layers carry GPT-2's names, `c_attn` and `c_proj`), optionally
//!   causal, with a [`KvCache`] for incremental decoding.
//!
//! Both split `c` channels into `heads` heads of `d = c / heads` channels:
//! head `i` uses channels `i*d..(i+1)*d` of each of `q`, `k` and `v`.

use burn::module::Module;
use burn::nn::conv::Conv2dConfig;
use burn::nn::{GroupNorm, GroupNormConfig, Linear, LinearConfig};
use burn::tensor::activation::softmax;
use burn::tensor::{Bool, Device, Tensor};

use crate::conv::{Conv2d, conv2d};
use crate::linear::linear;

/// `softmax(q k^T / sqrt(d) + mask) v` per head.
///
/// With `causal`, query `i` (at absolute position `offset + i`) attends to
/// keys `0..=offset + i` only: keys at later positions get `-inf` before
/// the softmax. `offset` is the number of keys that precede the queries
/// (0 without a cache).
///
/// # Shapes
/// `q`: `[b, h, n, d]`; `k`, `v`: `[b, h, m, d]` -> `[b, h, n, d]`.
pub fn attend(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, causal: Option<usize>) -> Tensor<4> {
    let [_, _, n, d] = q.dims();
    let m = k.dims()[2];
    let scores = q.matmul(k.swap_dims(2, 3)) * (d as f64).powf(-0.5);
    let scores = match causal {
        Some(offset) => {
            let mask = future_mask(n, m, offset, &scores.device());
            scores.mask_fill(mask.unsqueeze::<4>(), f64::NEG_INFINITY)
        }
        None => scores,
    };
    softmax(scores, 3).matmul(v)
}

/// `true` where query `i` must not see key `j`: `j > offset + i`.
fn future_mask(n: usize, m: usize, offset: usize, device: &Device) -> Tensor<2, Bool> {
    let values: Vec<bool> = (0..n)
        .flat_map(|i| (0..m).map(move |j| j > offset + i))
        .collect();
    Tensor::<2, Bool>::from_data(burn::tensor::TensorData::new(values, [n, m]), device)
}

/// Self-attention over the pixels with a residual connection; see the
/// [module docs](self).
#[derive(Module, Debug)]
pub struct SpatialAttention {
    /// The normalisation in front.
    pub norm: GroupNorm,
    /// The 1x1 convolution to `3c` channels read as `q`, `k`, `v`
    /// (channels `0..c`, `c..2c`, `2c..3c`).
    pub qkv: Conv2d,
    /// The 1x1 output convolution.
    pub proj: Conv2d,
    /// The number of heads.
    #[module(skip)]
    pub heads: usize,
}

impl SpatialAttention {
    /// Attention over `channels` channels (divisible by `heads` and
    /// `groups`).
    pub fn new(channels: usize, groups: usize, heads: usize, device: &Device) -> Self {
        Self {
            norm: GroupNormConfig::new(groups, channels).init(device),
            qkv: Conv2dConfig::new([channels, 3 * channels], [1, 1]).init(device),
            proj: Conv2dConfig::new([channels, channels], [1, 1]).init(device),
            heads,
        }
    }

    /// # Shapes
    /// `x`: `[b, c, h, w]` -> the same.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, c, h, w] = x.dims();
        let (heads, n) = (self.heads, h * w);
        let d = c / heads;
        // [b, 3c, h, w] as [b, 3 * heads, d, n]: q is channels 0..c, k
        // c..2c, v 2c..3c, and head i holds channels i*d..(i+1)*d of each.
        let qkv = conv2d(&self.qkv, self.norm.forward(x.clone())).reshape([b, 3 * heads, d, n]);
        let q = qkv.clone().narrow(1, 0, heads).swap_dims(2, 3); // [b, heads, n, d]
        let k = qkv.clone().narrow(1, heads, heads).swap_dims(2, 3);
        let v = qkv.narrow(1, 2 * heads, heads).swap_dims(2, 3);
        let o = attend(q, k, v, None).swap_dims(2, 3).reshape([b, c, h, w]);
        x + conv2d(&self.proj, o)
    }
}

/// The keys and values of the positions seen so far, per layer: what
/// incremental decoding keeps so that a new token does not recompute the
/// prefix.
#[derive(Clone, Debug, Default)]
pub struct KvCache {
    /// `[b, heads, t, d]` each, once a first step has run.
    entries: Option<(Tensor<4>, Tensor<4>)>,
}

impl KvCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of positions held.
    pub fn len(&self) -> usize {
        self.entries.as_ref().map_or(0, |(k, _)| k.dims()[2])
    }

    /// Whether no position is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keeps only the last `keep` positions (a window that slides past the
    /// block size).
    pub fn keep_last(&mut self, keep: usize) {
        if let Some((k, v)) = self.entries.take() {
            let t = k.dims()[2];
            let start = t.saturating_sub(keep);
            self.entries = Some((k.narrow(2, start, t - start), v.narrow(2, start, t - start)));
        }
    }

    /// Appends the new keys and values and returns all of them.
    fn extend(&mut self, k: Tensor<4>, v: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let (k, v) = match self.entries.take() {
            Some((pk, pv)) => (Tensor::cat(vec![pk, k], 2), Tensor::cat(vec![pv, v], 2)),
            None => (k, v),
        };
        self.entries = Some((k.clone(), v.clone()));
        (k, v)
    }
}

/// Multi-head self-attention over a sequence; see the [module docs](self).
#[derive(Module, Debug)]
pub struct MultiHeadAttention {
    /// The fused `q`, `k`, `v` projection, `c -> 3c` (GPT-2's `c_attn`).
    pub c_attn: Linear,
    /// The output projection, `c -> c` (GPT-2's `c_proj`).
    pub c_proj: Linear,
    /// The number of heads.
    #[module(skip)]
    pub heads: usize,
    /// Whether position `i` sees only positions `<= i`.
    #[module(skip)]
    pub causal: bool,
}

impl MultiHeadAttention {
    /// Attention over `width` channels (divisible by `heads`).
    pub fn new(width: usize, heads: usize, causal: bool, bias: bool, device: &Device) -> Self {
        Self {
            c_attn: LinearConfig::new(width, 3 * width)
                .with_bias(bias)
                .init(device),
            c_proj: LinearConfig::new(width, width).with_bias(bias).init(device),
            heads,
            causal,
        }
    }

    /// `q`, `k`, `v` as `[b, heads, t, d]` each, from the projection
    /// `[b, t, 3c]`.
    fn split(&self, qkv: Tensor<3>) -> [Tensor<4>; 3] {
        let [b, t, three_c] = qkv.dims();
        let c = three_c / 3;
        let (h, d) = (self.heads, c / self.heads);
        let part = |i: usize| {
            qkv.clone()
                .narrow(2, i * c, c)
                .reshape([b, t, h, d])
                .swap_dims(1, 2)
        };
        [part(0), part(1), part(2)]
    }

    fn merge(&self, o: Tensor<4>) -> Tensor<3> {
        let [b, h, t, d] = o.dims();
        linear(&self.c_proj, o.swap_dims(1, 2).reshape([b, t, h * d]))
    }

    /// Attention over the whole sequence.
    ///
    /// # Shapes
    /// `x`: `[b, t, c]` -> the same.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let qkv = linear(&self.c_attn, x);
        // gen-kernels' fused kernel on flex (no head is split or merged by a
        // copy); burn's operations elsewhere.
        if let Some(y) = gen_kernels::self_attention(&qkv, self.heads, self.causal) {
            return linear(&self.c_proj, y);
        }
        let [q, k, v] = self.split(qkv);
        self.merge(attend(q, k, v, self.causal.then_some(0)))
    }

    /// Attention of the new positions `x` over the cached ones and
    /// themselves; `cache` gains their keys and values. The same as
    /// [`forward`](Self::forward) over the whole sequence, for the new
    /// positions, without recomputing the old ones.
    ///
    /// # Shapes
    /// `x`: `[b, t_new, c]` -> the same.
    pub fn forward_cached(&self, x: Tensor<3>, cache: &mut KvCache) -> Tensor<3> {
        let offset = cache.len();
        let [q, k, v] = self.split(linear(&self.c_attn, x));
        let (k, v) = cache.extend(k, v);
        self.merge(attend(q, k, v, self.causal.then_some(offset)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    fn close(a: Tensor<3>, b: Tensor<3>) -> f64 {
        (a - b).abs().max().into_scalar::<f64>()
    }

    #[test]
    fn cached_decoding_equals_the_full_pass_position_by_position() {
        let dev = Device::flex();
        let mha = MultiHeadAttention::new(8, 2, true, true, &dev);
        let x = Tensor::<3>::random([2, 5, 8], Distribution::Normal(0.0, 1.0), &dev);
        let full = mha.forward(x.clone());
        let mut cache = KvCache::new();
        // A prompt of 2, then one position at a time.
        let mut parts = vec![mha.forward_cached(x.clone().narrow(1, 0, 2), &mut cache)];
        for i in 2..5 {
            parts.push(mha.forward_cached(x.clone().narrow(1, i, 1), &mut cache));
        }
        assert_eq!(cache.len(), 5);
        assert!(close(full, Tensor::cat(parts, 1)) < 1e-5);
    }

    #[test]
    fn causal_attention_ignores_later_positions() {
        let dev = Device::flex();
        let mha = MultiHeadAttention::new(4, 1, true, false, &dev);
        let x = Tensor::<3>::random([1, 4, 4], Distribution::Normal(0.0, 1.0), &dev);
        let mut y = x.clone();
        y = y.slice_assign([0..1, 3..4, 0..4], Tensor::<3>::ones([1, 1, 4], &dev) * 7.0);
        let (a, b) = (mha.forward(x), mha.forward(y));
        assert!(close(a.clone().narrow(1, 0, 3), b.clone().narrow(1, 0, 3)) < 1e-6);
        assert!(close(a.narrow(1, 3, 1), b.narrow(1, 3, 1)) > 1e-3);
        // Not causal: every position sees the change.
        let open = MultiHeadAttention {
            causal: false,
            ..mha
        };
        let x = Tensor::<3>::random([1, 4, 4], Distribution::Normal(0.0, 1.0), &dev);
        let y = x
            .clone()
            .slice_assign([0..1, 3..4, 0..4], Tensor::ones([1, 1, 4], &dev));
        assert!(
            close(
                open.forward(x).narrow(1, 0, 1),
                open.forward(y).narrow(1, 0, 1)
            ) > 1e-6
        );
    }

    #[test]
    fn a_cache_window_keeps_the_last_positions() {
        let dev = Device::flex();
        let mha = MultiHeadAttention::new(4, 2, true, true, &dev);
        let mut cache = KvCache::new();
        let x = Tensor::<3>::random([1, 6, 4], Distribution::Normal(0.0, 1.0), &dev);
        mha.forward_cached(x, &mut cache);
        cache.keep_last(4);
        assert_eq!(cache.len(), 4);
        cache.keep_last(9);
        assert_eq!(cache.len(), 4);
    }
}
