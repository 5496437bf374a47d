//! Layer normalisation over the last axis of `[rows, d]` values: the
//! forward pass (keeping each row's mean and reciprocal standard
//! deviation) and the three gradients, rows spread over rayon's pool.
//!
//! The sums over a row run in 8 interleaved partial sums (so they
//! vectorise), always in the same order; the parameter gradients are
//! summed per fixed block of rows and the blocks added in order, so results
//! do not depend on the number of threads.

use rayon::prelude::*;

use crate::flex::vectorized;

/// Rows per parallel block (fixed: it sets the order of the parameter
/// gradients' sums).
const ROWS: usize = 32;

/// `sum(v)` in 8 interleaved partial sums.
#[inline(always)]
fn sum(v: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = v.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a += x;
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `sum(a * b)` in 8 interleaved partial sums.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for ((s, &x), &y) in acc.iter_mut().zip(x).zip(y) {
            *s += x * y;
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// The normalised rows `y`, and each row's mean and `1 / sqrt(var + eps)`
/// (the biased variance, as PyTorch and burn compute it).
pub(crate) fn forward(
    x: &[f32],
    d: usize,
    gamma: &[f32],
    beta: Option<&[f32]>,
    eps: f64,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let rows = x.len() / d;
    let (mut y, mut mean, mut rstd) = (vec![0.0; x.len()], vec![0.0; rows], vec![0.0; rows]);
    y.par_chunks_mut(ROWS * d)
        .zip(x.par_chunks(ROWS * d))
        .zip(mean.par_chunks_mut(ROWS).zip(rstd.par_chunks_mut(ROWS)))
        .for_each(|((y, x), (mean, rstd))| {
            vectorized(
                #[inline(always)]
                || {
                    for (((y, x), m), r) in y
                        .chunks_exact_mut(d)
                        .zip(x.chunks_exact(d))
                        .zip(mean.iter_mut())
                        .zip(rstd.iter_mut())
                    {
                        let mu = sum(x) / d as f32;
                        for (y, &x) in y.iter_mut().zip(x) {
                            *y = x - mu;
                        }
                        let var = dot(y, y) / d as f32;
                        let inv = (1.0 / (f64::from(var) + eps).sqrt()) as f32;
                        match beta {
                            Some(beta) => {
                                for ((y, &g), &b) in y.iter_mut().zip(gamma).zip(beta) {
                                    *y = *y * inv * g + b;
                                }
                            }
                            None => {
                                for (y, &g) in y.iter_mut().zip(gamma) {
                                    *y = *y * inv * g;
                                }
                            }
                        }
                        (*m, *r) = (mu, inv);
                    }
                },
            )
        });
    (y, mean, rstd)
}

/// The gradients of x, gamma and beta from `dy`, for `x` and the mean and
/// reciprocal deviation [`forward`] kept: with `xhat = (x - mean) rstd` and
/// `g = dy gamma`, `dx = rstd (g - mean(g) - xhat mean(g xhat))`,
/// `dgamma = sum over rows of dy xhat`, `dbeta = sum over rows of dy`.
pub(crate) fn backward(
    x: &[f32],
    dy: &[f32],
    d: usize,
    gamma: &[f32],
    (mean, rstd): (&[f32], &[f32]),
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut dx = vec![0.0; x.len()];
    let partials: Vec<(Vec<f32>, Vec<f32>)> = dx
        .par_chunks_mut(ROWS * d)
        .zip(x.par_chunks(ROWS * d).zip(dy.par_chunks(ROWS * d)))
        .zip(mean.par_chunks(ROWS).zip(rstd.par_chunks(ROWS)))
        .map(|((dx, (x, dy)), (mean, rstd))| {
            let (mut dgamma, mut dbeta) = (vec![0.0f32; d], vec![0.0f32; d]);
            let mut xhat = vec![0.0f32; d];
            let mut g = vec![0.0f32; d];
            vectorized(
                #[inline(always)]
                || {
                    for ((((dx, x), dy), &mu), &inv) in dx
                        .chunks_exact_mut(d)
                        .zip(x.chunks_exact(d))
                        .zip(dy.chunks_exact(d))
                        .zip(mean)
                        .zip(rstd)
                    {
                        for (((h, g), &x), (&dy, &gm)) in xhat
                            .iter_mut()
                            .zip(g.iter_mut())
                            .zip(x)
                            .zip(dy.iter().zip(gamma))
                        {
                            *h = (x - mu) * inv;
                            *g = dy * gm;
                        }
                        let a = sum(&g) / d as f32;
                        let b = dot(&g, &xhat) / d as f32;
                        for ((dx, &g), &h) in dx.iter_mut().zip(&g).zip(&xhat) {
                            *dx = inv * (g - a - h * b);
                        }
                        for (((dg, db), &dy), &h) in
                            dgamma.iter_mut().zip(dbeta.iter_mut()).zip(dy).zip(&xhat)
                        {
                            *dg += dy * h;
                            *db += dy;
                        }
                    }
                },
            );
            (dgamma, dbeta)
        })
        .collect();
    let (mut dgamma, mut dbeta) = (vec![0.0f32; d], vec![0.0f32; d]);
    for (pg, pb) in &partials {
        for ((a, b), (&x, &y)) in dgamma
            .iter_mut()
            .zip(dbeta.iter_mut())
            .zip(pg.iter().zip(pb))
        {
            *a += x;
            *b += y;
        }
    }
    (dx, dgamma, dbeta)
}
