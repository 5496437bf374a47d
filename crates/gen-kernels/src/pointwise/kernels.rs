//! The element loops of the pointwise operations: values and gradients,
//! in blocks spread over rayon's pool, each block one vectorised loop.

use rayon::prelude::*;

use super::Pointwise;
use crate::flex::vectorized;
use crate::math::{erf, exp};

/// Elements per parallel block: large enough that a block outweighs its
/// hand-off, small enough that two threads share a 64x512 activation.
const BLOCK: usize = 16 * 1024;

const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
/// `1 / sqrt(2 pi)`.
const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;

/// `op(x)`, element by element.
pub(crate) fn forward(op: Pointwise, x: &[f32]) -> Vec<f32> {
    let mut y = vec![0.0; x.len()];
    y.par_chunks_mut(BLOCK)
        .zip(x.par_chunks(BLOCK))
        .for_each(|(y, x)| match op {
            Pointwise::Gelu => vectorized(
                #[inline(always)]
                || {
                    for (y, &x) in y.iter_mut().zip(x) {
                        *y = 0.5 * x * (1.0 + erf(x * FRAC_1_SQRT_2));
                    }
                },
            ),
            Pointwise::Silu => vectorized(
                #[inline(always)]
                || {
                    for (y, &x) in y.iter_mut().zip(x) {
                        *y = x / (1.0 + exp(-x));
                    }
                },
            ),
        });
    y
}

/// `dy * op'(x)`, element by element.
pub(crate) fn backward(op: Pointwise, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let mut dx = vec![0.0; x.len()];
    dx.par_chunks_mut(BLOCK)
        .zip(x.par_chunks(BLOCK).zip(dy.par_chunks(BLOCK)))
        .for_each(|(dx, (x, dy))| match op {
            // Phi(x) + x phi(x).
            Pointwise::Gelu => vectorized(
                #[inline(always)]
                || {
                    for ((dx, &x), &dy) in dx.iter_mut().zip(x).zip(dy) {
                        let cdf = 0.5 * (1.0 + erf(x * FRAC_1_SQRT_2));
                        let pdf = FRAC_1_SQRT_2PI * exp(-0.5 * x * x);
                        *dx = dy * (cdf + x * pdf);
                    }
                },
            ),
            // s (1 + x (1 - s)) with s = sigmoid(x).
            Pointwise::Silu => vectorized(
                #[inline(always)]
                || {
                    for ((dx, &x), &dy) in dx.iter_mut().zip(x).zip(dy) {
                        let s = 1.0 / (1.0 + exp(-x));
                        *dx = dy * (s * (1.0 + x * (1.0 - s)));
                    }
                },
            ),
        });
    dx
}
