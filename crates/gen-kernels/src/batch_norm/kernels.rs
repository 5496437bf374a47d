//! Batch normalisation in training mode over `[n, c, s]` values (every
//! axis after the channels folded into `s`): the batch statistics and the
//! output in two passes, the three gradients in two more.
//!
//! The per-channel sums run one task per channel, over the batch in order,
//! in f64 and shifted by the channel's first value (so a channel far from
//! 0 keeps its digits); the element passes run one task per image. Nothing
//! is summed across tasks, so results do not depend on the thread count.

use rayon::prelude::*;

use crate::flex::vectorized;

/// The sizes of one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dims {
    /// Images (axis 0).
    pub batch: usize,
    /// Channels (axis 1).
    pub channels: usize,
    /// Values per image and channel (the other axes together).
    pub spatial: usize,
}

impl Dims {
    /// Values per channel over the batch.
    fn count(&self) -> f64 {
        (self.batch * self.spatial) as f64
    }

    /// Channel `ch`'s values of every image, in order.
    fn lanes<'a>(&self, v: &'a [f32], ch: usize) -> impl Iterator<Item = &'a [f32]> {
        let (c, s) = (self.channels, self.spatial);
        (0..self.batch).map(move |n| &v[(n * c + ch) * s..(n * c + ch + 1) * s])
    }
}

/// `(sum(a - k), sum((a - k)^2))`, or with `b`: `(sum(b), sum(b (a - k)))`,
/// in 8 interleaved f64 partial sums.
#[inline(always)]
fn sums(a: &[f32], b: Option<&[f32]>, k: f64, acc: &mut [[f64; 8]; 2]) {
    match b {
        None => {
            let chunks = a.chunks_exact(8);
            for &v in chunks.remainder() {
                let d = v as f64 - k;
                acc[0][0] += d;
                acc[1][0] += d * d;
            }
            for c in chunks {
                for (i, &v) in c.iter().enumerate() {
                    let d = v as f64 - k;
                    acc[0][i] += d;
                    acc[1][i] += d * d;
                }
            }
        }
        Some(b) => {
            let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
            for (&v, &g) in ca.remainder().iter().zip(cb.remainder()) {
                acc[0][0] += g as f64;
                acc[1][0] += g as f64 * (v as f64 - k);
            }
            for (c, g) in ca.zip(cb) {
                for i in 0..8 {
                    acc[0][i] += g[i] as f64;
                    acc[1][i] += g[i] as f64 * (c[i] as f64 - k);
                }
            }
        }
    }
}

/// Both sums of every channel (see [`sums`]), shifted by `shift[ch]`.
fn channel_sums(d: Dims, x: &[f32], dy: Option<&[f32]>, shift: &[f64]) -> Vec<(f64, f64)> {
    (0..d.channels)
        .into_par_iter()
        .map(|ch| {
            vectorized(
                #[inline(always)]
                || {
                    let mut acc = [[0.0f64; 8]; 2];
                    let grads = dy.map(|g| d.lanes(g, ch));
                    match grads {
                        None => d
                            .lanes(x, ch)
                            .for_each(|a| sums(a, None, shift[ch], &mut acc)),
                        Some(gs) => d
                            .lanes(x, ch)
                            .zip(gs)
                            .for_each(|(a, g)| sums(a, Some(g), shift[ch], &mut acc)),
                    }
                    (acc[0].iter().sum(), acc[1].iter().sum())
                },
            )
        })
        .collect()
}

/// `out = (x - centre[ch]) * scale[ch] + offset[ch] (+ dy * dy_scale[ch])`
/// per image, in parallel.
fn per_channel(
    d: Dims,
    x: &[f32],
    dy: Option<(&[f32], &[f32])>,
    [centre, scale, offset]: [&[f32]; 3],
) -> Vec<f32> {
    let mut out = vec![0.0f32; x.len()];
    let image = d.channels * d.spatial;
    if image == 0 {
        return out;
    }
    out.par_chunks_mut(image).enumerate().for_each(|(n, o)| {
        vectorized(
            #[inline(always)]
            || {
                for ch in 0..d.channels {
                    let at = n * image + ch * d.spatial;
                    let xs = &x[at..at + d.spatial];
                    let os = &mut o[ch * d.spatial..(ch + 1) * d.spatial];
                    let (m, sc, of) = (centre[ch], scale[ch], offset[ch]);
                    match dy {
                        None => {
                            for (o, &v) in os.iter_mut().zip(xs) {
                                *o = (v - m) * sc + of;
                            }
                        }
                        Some((g, gs)) => {
                            let (gs, g) = (gs[ch], &g[at..at + d.spatial]);
                            for ((o, &v), &g) in os.iter_mut().zip(xs).zip(g) {
                                *o = g * gs + (v - m) * sc + of;
                            }
                        }
                    }
                }
            },
        )
    });
    out
}

/// The first value of each channel (the shift of its sums; 0 when empty).
fn firsts(d: Dims, x: &[f32]) -> Vec<f64> {
    (0..d.channels)
        .map(|ch| d.lanes(x, ch).flatten().next().map_or(0.0, |&v| v as f64))
        .collect()
}

/// The batch statistics of the forward pass.
#[derive(Clone, Debug)]
pub struct Stats {
    /// Each channel's mean.
    pub mean: Vec<f32>,
    /// Each channel's biased (population) variance, without epsilon.
    pub variance: Vec<f32>,
    /// `1 / sqrt(variance + epsilon)`.
    pub rstd: Vec<f32>,
}

/// `(x - mean) / sqrt(var + epsilon) * gamma + beta` with each channel's
/// batch mean and biased variance, and those statistics.
pub fn forward(d: Dims, x: &[f32], gamma: &[f32], beta: &[f32], epsilon: f64) -> (Vec<f32>, Stats) {
    let shift = firsts(d, x);
    let n = d.count();
    let (mut mean, mut variance, mut rstd) = (vec![], vec![], vec![]);
    for ((s1, s2), k) in channel_sums(d, x, None, &shift).into_iter().zip(&shift) {
        let m = s1 / n;
        let var = (s2 / n - m * m).max(0.0);
        mean.push((k + m) as f32);
        variance.push(var as f32);
        rstd.push((1.0 / (var + epsilon).sqrt()) as f32);
    }
    let scale: Vec<f32> = rstd.iter().zip(gamma).map(|(r, g)| r * g).collect();
    let y = per_channel(d, x, None, [&mean, &scale, beta]);
    (
        y,
        Stats {
            mean,
            variance,
            rstd,
        },
    )
}

/// The gradients of x, gamma and beta from the output's `dy`.
///
/// With `xhat = (x - mean) rstd`: `dbeta = sum(dy)`, `dgamma = sum(dy
/// xhat)`, `dx = gamma rstd (dy - dbeta / m - xhat dgamma / m)` over the
/// `m` values of the channel.
pub fn backward(
    d: Dims,
    x: &[f32],
    dy: &[f32],
    gamma: &[f32],
    stats: &Stats,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let shift: Vec<f64> = stats.mean.iter().map(|&m| m as f64).collect();
    let n = d.count();
    let (mut dgamma, mut dbeta) = (vec![], vec![]);
    let (mut dy_scale, mut x_scale, mut offset) = (vec![], vec![], vec![]);
    for (ch, (sum_dy, sum_dy_xc)) in channel_sums(d, x, Some(dy), &shift).into_iter().enumerate() {
        let r = stats.rstd[ch] as f64;
        let g = gamma[ch] as f64;
        let sum_dy_xhat = sum_dy_xc * r;
        dbeta.push(sum_dy as f32);
        dgamma.push(sum_dy_xhat as f32);
        dy_scale.push((g * r) as f32);
        x_scale.push((-g * r * r * sum_dy_xhat / n) as f32);
        offset.push((-g * r * sum_dy / n) as f32);
    }
    let dx = per_channel(
        d,
        x,
        Some((dy, &dy_scale)),
        [&stats.mean, &x_scale, &offset],
    );
    (dx, dgamma, dbeta)
}
