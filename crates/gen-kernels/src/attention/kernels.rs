//! Multi-head self-attention straight from the fused `q | k | v`
//! projection `[b, t, 3c]` to the heads' merged output `[b, t, c]`, and its
//! gradient back to `[b, t, 3c]`: the heads are read and written in place
//! through strided views, so no head is split, transposed or merged by a
//! copy. One task per sequence (rayon), one head after another inside it;
//! nothing is summed across tasks, so results do not depend on the thread
//! count.

use rayon::prelude::*;

use crate::flex::vectorized;
use crate::gemm::{View, matmul};
use crate::math::exp;

/// The sizes of one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dims {
    /// Sequences.
    pub batch: usize,
    /// Positions per sequence.
    pub len: usize,
    /// Width `c` (the heads' widths together).
    pub width: usize,
    /// Heads; `width` is a multiple of it.
    pub heads: usize,
    /// Whether position `i` sees only positions `<= i`.
    pub causal: bool,
}

impl Dims {
    fn head(&self) -> usize {
        self.width / self.heads
    }

    /// Head `h`'s part `part` (0: q, 1: k, 2: v) of one sequence's
    /// `[t, 3c]` rows: its offset and its `t x d` view.
    fn part(&self, part: usize, h: usize) -> (usize, View) {
        let view = View {
            rows: self.len,
            cols: self.head(),
            row_stride: 3 * self.width,
            col_stride: 1,
        };
        (part * self.width + h * self.head(), view)
    }

    /// Head `h`'s columns of one sequence's `[t, c]` rows.
    fn merged(&self, h: usize) -> (usize, View) {
        let view = View {
            rows: self.len,
            cols: self.head(),
            row_stride: self.width,
            col_stride: 1,
        };
        (h * self.head(), view)
    }

    /// The transpose of a `t x d` view.
    fn transpose(v: View) -> View {
        View {
            rows: v.cols,
            cols: v.rows,
            row_stride: v.col_stride,
            col_stride: v.row_stride,
        }
    }
}

/// Row `i` of scores `s` (scaled) becomes its softmax over the positions it
/// may see (`..=i` when causal), 0 elsewhere.
fn softmax_rows(s: &mut [f32], t: usize, scale: f32, causal: bool) {
    vectorized(
        #[inline(always)]
        || {
            for (i, row) in s.chunks_exact_mut(t).enumerate() {
                let seen = if causal { i + 1 } else { t };
                let (row, hidden) = row.split_at_mut(seen);
                let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
                let mut total = 0.0;
                for v in row.iter_mut() {
                    *v = exp((*v - max) * scale);
                    total += *v;
                }
                let inv = 1.0 / total;
                for v in row.iter_mut() {
                    *v *= inv;
                }
                hidden.fill(0.0);
            }
        },
    );
}

/// The output `[b, t, c]` and the attention weights `[b, heads, t, t]`
/// (kept for the backward pass).
pub(crate) fn forward(dims: Dims, qkv: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let (t, c, heads) = (dims.len, dims.width, dims.heads);
    let scale = 1.0 / (dims.head() as f32).sqrt();
    let mut y = vec![0.0; dims.batch * t * c];
    let mut weights = vec![0.0; dims.batch * heads * t * t];
    y.par_chunks_mut(t * c)
        .zip(weights.par_chunks_mut(heads * t * t))
        .zip(qkv.par_chunks(t * 3 * c))
        .for_each(|((y, weights), qkv)| {
            for (h, p) in weights.chunks_exact_mut(t * t).enumerate() {
                let ((qo, qv), (ko, kv), (vo, vv)) =
                    (dims.part(0, h), dims.part(1, h), dims.part(2, h));
                let square = View::row_major(t, t);
                // Scores q k^T, then their softmax in place.
                matmul(
                    (p, square),
                    (&qkv[qo..], qv),
                    (&qkv[ko..], Dims::transpose(kv)),
                    false,
                    false,
                );
                softmax_rows(p, t, scale, dims.causal);
                let (yo, yv) = dims.merged(h);
                matmul(
                    (&mut y[yo..], yv),
                    (p, square),
                    (&qkv[vo..], vv),
                    false,
                    false,
                );
            }
        });
    (y, weights)
}

/// The gradient `[b, t, 3c]` of `q | k | v` from the output's `dy
/// [b, t, c]`, with the weights `p` the forward pass kept:
/// `dv = p^T dy`, `dp = dy v^T`, `ds = p (dp - rowsum(p dp)) scale`,
/// `dq = ds k`, `dk = ds^T q`.
pub(crate) fn backward(dims: Dims, qkv: &[f32], weights: &[f32], dy: &[f32]) -> Vec<f32> {
    let (t, c, heads) = (dims.len, dims.width, dims.heads);
    let scale = 1.0 / (dims.head() as f32).sqrt();
    let mut dqkv = vec![0.0; qkv.len()];
    dqkv.par_chunks_mut(t * 3 * c)
        .zip(qkv.par_chunks(t * 3 * c))
        .zip(weights.par_chunks(heads * t * t).zip(dy.par_chunks(t * c)))
        .for_each(|((dqkv, qkv), (weights, dy))| {
            let square = View::row_major(t, t);
            let mut ds = vec![0.0f32; t * t];
            for (h, p) in weights.chunks_exact(t * t).enumerate() {
                let ((qo, qv), (ko, kv), (vo, vv)) =
                    (dims.part(0, h), dims.part(1, h), dims.part(2, h));
                let (yo, yv) = dims.merged(h);
                let dy = &dy[yo..];
                matmul(
                    (&mut dqkv[vo..], vv),
                    (p, Dims::transpose(square)),
                    (dy, yv),
                    false,
                    false,
                );
                matmul(
                    (&mut ds, square),
                    (dy, yv),
                    (&qkv[vo..], Dims::transpose(vv)),
                    false,
                    false,
                );
                vectorized(
                    #[inline(always)]
                    || {
                        for (ds, p) in ds.chunks_exact_mut(t).zip(p.chunks_exact(t)) {
                            let r: f32 = ds.iter().zip(p).map(|(d, p)| d * p).sum();
                            for (d, &p) in ds.iter_mut().zip(p) {
                                *d = p * (*d - r) * scale;
                            }
                        }
                    },
                );
                matmul(
                    (&mut dqkv[qo..], qv),
                    (&ds, square),
                    (&qkv[ko..], kv),
                    false,
                    false,
                );
                matmul(
                    (&mut dqkv[ko..], kv),
                    (&ds, Dims::transpose(square)),
                    (&qkv[qo..], qv),
                    false,
                    false,
                );
            }
        });
    dqkv
}
