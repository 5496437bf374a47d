//! A linear layer on `[rows, d_in]` values: `y = x W + b` as one matrix
//! product (every leading axis folded into the rows, the bias written into
//! the output before the product adds to it), and its three gradients as
//! two products and one column sum. No operand is copied, transposed or
//! broadcast: the products read `W` and `x` through strided views.
//!
//! The `gemm` crate splits a product over output blocks, never over the
//! summed axis, and the bias gradient sums rows in order, so results do
//! not depend on the thread count.

use crate::flex::vectorized;
use crate::gemm::{View, matmul};

/// Products at least this large (multiply-adds) split over rayon's pool.
const THREADED: usize = 64 * 64 * 64;

/// The sizes of one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dims {
    /// Rows of `x` (the leading axes together).
    pub rows: usize,
    /// Input features.
    pub d_in: usize,
    /// Output features.
    pub d_out: usize,
    /// Whether the weight is stored `[d_out, d_in]` (a tied embedding
    /// used as the output layer) rather than `[d_in, d_out]` (burn's
    /// `Linear`).
    pub transposed: bool,
}

impl Dims {
    /// `W` as a `d_in x d_out` view of its storage.
    fn weight(&self) -> View {
        if self.transposed {
            View::transposed(self.d_in, self.d_out)
        } else {
            View::row_major(self.d_in, self.d_out)
        }
    }

    /// `W^T` as a `d_out x d_in` view of its storage.
    fn weight_t(&self) -> View {
        if self.transposed {
            View::row_major(self.d_out, self.d_in)
        } else {
            View::transposed(self.d_out, self.d_in)
        }
    }

    /// Whether the products (all three of `rows x d_in x d_out`) split
    /// over the pool.
    fn threads(&self) -> bool {
        self.rows * self.d_in * self.d_out >= THREADED
    }
}

/// `y = x W (+ b)`, `[rows, d_out]`.
pub fn forward(d: Dims, x: &[f32], w: &[f32], b: Option<&[f32]>) -> Vec<f32> {
    let n = d.rows * d.d_out;
    let mut y = match b {
        Some(b) => {
            let mut y = Vec::with_capacity(n);
            for _ in 0..d.rows {
                y.extend_from_slice(b);
            }
            y
        }
        None => vec![0.0; n],
    };
    matmul(
        (&mut y, View::row_major(d.rows, d.d_out)),
        (x, View::row_major(d.rows, d.d_in)),
        (w, d.weight()),
        b.is_some(),
        d.threads(),
    );
    y
}

/// `dy W^T`, the input gradient `[rows, d_in]`.
pub fn input_grad(d: Dims, w: &[f32], dy: &[f32]) -> Vec<f32> {
    let mut dx = vec![0.0; d.rows * d.d_in];
    matmul(
        (&mut dx, View::row_major(d.rows, d.d_in)),
        (dy, View::row_major(d.rows, d.d_out)),
        (w, d.weight_t()),
        false,
        d.threads(),
    );
    dx
}

/// `x^T dy` (or `dy^T x` for a transposed weight): the weight gradient in
/// the weight's own layout.
pub fn weight_grad(d: Dims, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let mut dw = vec![0.0; d.d_in * d.d_out];
    let xs = (x, View::row_major(d.rows, d.d_in));
    let dys = (dy, View::row_major(d.rows, d.d_out));
    let (out, a, b) = if d.transposed {
        let dyt = (dy, View::transposed(d.d_out, d.rows));
        (View::row_major(d.d_out, d.d_in), dyt, xs)
    } else {
        let xt = (x, View::transposed(d.d_in, d.rows));
        (View::row_major(d.d_in, d.d_out), xt, dys)
    };
    matmul((&mut dw, out), a, b, false, d.threads());
    dw
}

/// The bias gradient: `dy` summed over its rows, in row order.
pub fn bias_grad(d: Dims, dy: &[f32]) -> Vec<f32> {
    let mut db = vec![0.0f32; d.d_out];
    if d.d_out == 0 {
        return db;
    }
    vectorized(
        #[inline(always)]
        || {
            for row in dy.chunks_exact(d.d_out) {
                for (s, &g) in db.iter_mut().zip(row) {
                    *s += g;
                }
            }
        },
    );
    db
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(d: Dims, x: &[f32], w: &[f32], b: Option<&[f32]>) -> Vec<f32> {
        let mut y = vec![0.0; d.rows * d.d_out];
        for r in 0..d.rows {
            for o in 0..d.d_out {
                let mut s = b.map_or(0.0, |b| b[o]);
                for i in 0..d.d_in {
                    let wv = if d.transposed {
                        w[o * d.d_in + i]
                    } else {
                        w[i * d.d_out + o]
                    };
                    s += x[r * d.d_in + i] * wv;
                }
                y[r * d.d_out + o] = s;
            }
        }
        y
    }

    #[test]
    fn forward_and_gradients_match_the_definition_in_both_layouts() {
        for transposed in [false, true] {
            let d = Dims {
                rows: 7,
                d_in: 5,
                d_out: 3,
                transposed,
            };
            let x: Vec<f32> = (0..35).map(|i| (i as f32 * 0.37).sin()).collect();
            let w: Vec<f32> = (0..15).map(|i| (i as f32 * 0.11).cos()).collect();
            let b = [0.5, -1.0, 2.0];
            let dy: Vec<f32> = (0..21).map(|i| (i as f32 * 0.23).sin()).collect();
            let close = |a: &[f32], b: &[f32]| {
                a.iter().zip(b).all(|(a, b)| (a - b).abs() < 1e-5) && a.len() == b.len()
            };
            assert!(close(
                &forward(d, &x, &w, Some(&b)),
                &naive(d, &x, &w, Some(&b))
            ));
            assert!(close(&forward(d, &x, &w, None), &naive(d, &x, &w, None)));
            // <dy, y(x)> is linear in x and w: its gradients by finite
            // differences of size 1 are exact up to rounding.
            let inner = |x: &[f32], w: &[f32]| -> f32 {
                naive(d, x, w, None)
                    .iter()
                    .zip(&dy)
                    .map(|(a, b)| a * b)
                    .sum()
            };
            let base = inner(&x, &w);
            let dx = input_grad(d, &w, &dy);
            for i in 0..x.len() {
                let mut xp = x.clone();
                xp[i] += 1.0;
                assert!((inner(&xp, &w) - base - dx[i]).abs() < 1e-4);
            }
            let dw = weight_grad(d, &x, &dy);
            for i in 0..w.len() {
                let mut wp = w.clone();
                wp[i] += 1.0;
                assert!((inner(&x, &wp) - base - dw[i]).abs() < 1e-4);
            }
            let db = bias_grad(d, &dy);
            for (o, g) in db.iter().enumerate() {
                let want: f32 = (0..d.rows).map(|r| dy[r * 3 + o]).sum();
                assert!((g - want).abs() < 1e-6);
            }
        }
    }
}
