//! 3x3, stride-1 convolutions by Winograd's minimal filtering F(2x2, 3x3)
//! (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks",
//! 2016): each 2x2 block of outputs is computed from the 4x4 block of
//! inputs around it as `A^T [(G g G^T) . (B^T d B)] A`, so a channel pair
//! costs 16 multiplications per 4 outputs instead of 36. Over a whole layer
//! the 16 element-wise products become 16 matrix products
//! `U[e] (cout x cin) x V[e] (cin x tiles)`, run by the `gemm` crate.
//!
//! The forward pass and the input gradient of a 3x3 stride-1 convolution
//! are both such correlations (the gradient's kernel is the weight rotated
//! by half a turn with its channel axes exchanged, its padding `2 - pad`),
//! and so is a stride-1 3x3 transposed convolution; the weight gradient
//! stays an `im2col` product.
//!
//! Numerics: the transforms only add, subtract and halve, so results
//! differ from the direct sum by a few units in the last place (the
//! property tests bound them with the other kernels). Non-finite inputs
//! reach exactly the outputs whose receptive field holds them, as in the
//! direct sum, but an infinity may arrive as a NaN (`inf - inf` inside a
//! transform).
//!
//! Work is split over fixed groups of images (their number depends only on
//! the shapes), each output written by one group: results are the same at
//! any thread count.

use rayon::prelude::*;

use super::geom::Geometry;
use super::kernels::{per_image_parallel, with_scratch};
use crate::gemm::{View, matmul};

/// Tiles per product that a group of images aims at: enough columns for
/// `gemm`'s micro-kernels, few enough for the transformed inputs of the
/// group to stay in the core's cache.
const TILES_PER_GROUP: usize = 64;

/// The harmonic mean of the two channel counts below which the transforms
/// cost more than the products save: per tile, the products save in
/// proportion to `cin * cout`, the transforms cost in proportion to
/// `cin + cout`. Measured with `bench_ops` (docs/benchmarks.md, 3 Dec
/// 2026): 32 -> 32 at 28x28 (mean 32) ran at 0.59-0.74x of im2col's
/// speed forward, 96 -> 32 (exactly 48) within the noise, 128 -> 64 (85)
/// 1.34x forward + backward at one thread.
const MIN_CHANNEL_MEAN: usize = 48;

/// A 3x3 correlation at stride 1 of `x: [batch, cin, h, w]` (zero outside
/// the image) into `[batch, cout, oh, ow]`:
/// `out[m, oy, ox] = sum_{c, ky, kx} x[c, oy + ky - pad_y, ox + kx - pad_x] k[m, c, ky, kx]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Images in the batch.
    pub batch: usize,
    /// Input channels.
    pub cin: usize,
    /// Input height and width.
    pub input: [usize; 2],
    /// Output channels.
    pub cout: usize,
    /// Output height and width.
    pub output: [usize; 2],
    /// Zero rows and columns before the input (at most 2).
    pub pad: [usize; 2],
}

impl Plan {
    /// The forward pass of `g`, when it is a 3x3 stride-1 convolution that
    /// Winograd's algorithm serves (wide enough, padding at most 2).
    pub fn forward(g: &Geometry) -> Option<Plan> {
        Self::applies(g).then_some(Plan {
            batch: g.batch,
            cin: g.cin,
            input: g.input,
            cout: g.cout,
            output: g.output,
            pad: g.pad,
        })
    }

    /// The input gradient of `g` (from `[cout, oh, ow]` back to
    /// `[cin, h, w]`), under the same conditions.
    pub fn input_grad(g: &Geometry) -> Option<Plan> {
        Self::applies(g).then(|| Plan {
            batch: g.batch,
            cin: g.cout,
            input: g.output,
            cout: g.cin,
            output: g.input,
            pad: [2 - g.pad[0], 2 - g.pad[1]],
        })
    }

    fn applies(g: &Geometry) -> bool {
        crate::winograd_enabled()
            && g.kernel == [3, 3]
            && g.stride == [1, 1]
            && g.dilation == [1, 1]
            && g.pad[0] <= 2
            && g.pad[1] <= 2
            && 2 * g.cin * g.cout >= MIN_CHANNEL_MEAN * (g.cin + g.cout)
    }

    /// Tiles (2x2 output blocks) per image: rows and columns.
    fn tiles(&self) -> [usize; 2] {
        [self.output[0].div_ceil(2), self.output[1].div_ceil(2)]
    }

    fn input_len(&self) -> usize {
        self.cin * self.input[0] * self.input[1]
    }

    fn output_len(&self) -> usize {
        self.cout * self.output[0] * self.output[1]
    }
}

/// `G g G^T` for every `(m, c)` pair of a 3x3 kernel given as
/// `kernel(m, c) -> [ky * 3 + kx]`: `[16, cout, cin]`.
pub fn transform_kernel(
    cout: usize,
    cin: usize,
    kernel: impl Fn(usize, usize) -> [f32; 9],
) -> Vec<f32> {
    let plane = cout * cin;
    let mut u = vec![0.0f32; 16 * plane];
    for m in 0..cout {
        for c in 0..cin {
            let g = kernel(m, c);
            // G g: 4x3, one column of g at a time.
            let mut a = [[0.0f32; 3]; 4];
            for k in 0..3 {
                let (g0, g1, g2) = (g[k], g[3 + k], g[6 + k]);
                a[0][k] = g0;
                a[1][k] = 0.5 * (g0 + g1 + g2);
                a[2][k] = 0.5 * (g0 - g1 + g2);
                a[3][k] = g2;
            }
            // (G g) G^T: 4x4.
            for (r, row) in a.iter().enumerate() {
                let v = [
                    row[0],
                    0.5 * (row[0] + row[1] + row[2]),
                    0.5 * (row[0] - row[1] + row[2]),
                    row[2],
                ];
                for (col, value) in v.into_iter().enumerate() {
                    u[(r * 4 + col) * plane + m * cin + c] = value;
                }
            }
        }
    }
    u
}

/// The transformed kernel of a convolution's forward pass, from its weight
/// `[cout, cin, 3, 3]`.
pub fn forward_kernel(weight: &[f32], cout: usize, cin: usize) -> Vec<f32> {
    transform_kernel(cout, cin, |m, c| {
        let at = (m * cin + c) * 9;
        weight[at..at + 9].try_into().expect("nine taps")
    })
}

/// The transformed kernel of a convolution's input gradient, from the
/// convolution's weight `[cout, cin, 3, 3]`: for output channel `c` (an
/// input channel of the convolution) and input channel `m`, the weight
/// `w[m, c]` rotated by half a turn.
pub fn input_grad_kernel(weight: &[f32], cout: usize, cin: usize) -> Vec<f32> {
    transform_kernel(cin, cout, |c, m| {
        let at = (m * cin + c) * 9;
        let mut g = [0.0f32; 9];
        for (t, v) in g.iter_mut().enumerate() {
            *v = weight[at + 8 - t];
        }
        g
    })
}

/// Runs the correlation `plan` of `x` with the transformed kernel `u`
/// (`[16, cout, cin]`, from [`transform_kernel`]), adding `bias` per output
/// channel.
pub fn correlate(plan: &Plan, x: &[f32], u: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    assert_eq!(x.len(), plan.batch * plan.input_len(), "winograd: input");
    assert_eq!(u.len(), 16 * plan.cout * plan.cin, "winograd: kernel");
    let mut out = vec![0.0f32; plan.batch * plan.output_len()];
    let [th, tw] = plan.tiles();
    let per_image = th * tw;
    if out.is_empty() || per_image == 0 {
        return out;
    }
    let images = TILES_PER_GROUP.div_ceil(per_image).min(plan.batch);
    let groups = plan.batch.div_ceil(images);
    let tiles = images * per_image;
    let scratch = 16 * (plan.cin + plan.cout) * tiles;
    let group = |gi: usize, buffer: &mut [f32], out: &mut [f32], threads: bool| {
        let first = gi * images;
        let n = out.len() / plan.output_len();
        let x = &x[first * plan.input_len()..(first + n) * plan.input_len()];
        run_group(plan, x, u, bias, n, buffer, out, threads);
    };
    let chunk = images * plan.output_len();
    if per_image_parallel(groups) {
        out.par_chunks_mut(chunk)
            .enumerate()
            .for_each(|(gi, o)| with_scratch(scratch, |buffer| group(gi, buffer, o, false)));
    } else {
        with_scratch(scratch, |buffer| {
            for (gi, o) in out.chunks_mut(chunk).enumerate() {
                group(gi, buffer, o, true);
            }
        });
    }
    out
}

/// One group of `n` images: transform their inputs, 16 products, transform
/// back into `out` (`n` output images).
#[allow(clippy::too_many_arguments)]
fn run_group(
    plan: &Plan,
    x: &[f32],
    u: &[f32],
    bias: Option<&[f32]>,
    n: usize,
    buffer: &mut [f32],
    out: &mut [f32],
    threads: bool,
) {
    let [th, tw] = plan.tiles();
    let tiles = n * th * tw;
    let (v, rest) = buffer.split_at_mut(16 * plan.cin * tiles);
    let m = &mut rest[..16 * plan.cout * tiles];
    for (j, image) in x.chunks_exact(plan.input_len()).enumerate() {
        transform_input(plan, image, v, tiles, j * th * tw);
    }
    let (u_plane, v_plane, m_plane) = (plan.cout * plan.cin, plan.cin * tiles, plan.cout * tiles);
    for e in 0..16 {
        matmul(
            (
                &mut m[e * m_plane..(e + 1) * m_plane],
                View::row_major(plan.cout, tiles),
            ),
            (
                &u[e * u_plane..(e + 1) * u_plane],
                View::row_major(plan.cout, plan.cin),
            ),
            (
                &v[e * v_plane..(e + 1) * v_plane],
                View::row_major(plan.cin, tiles),
            ),
            false,
            threads,
        );
    }
    for (j, image) in out.chunks_exact_mut(plan.output_len()).enumerate() {
        transform_output(plan, m, tiles, j * th * tw, bias, image);
    }
}

/// `B^T d B` of every 4x4 input block of one image into
/// `v[e][c][offset + tile]` (`v: [16, cin, tiles]`).
fn transform_input(plan: &Plan, image: &[f32], v: &mut [f32], tiles: usize, offset: usize) {
    let ([h, w], [th, tw], [py, px]) = (plan.input, plan.tiles(), plan.pad);
    let width = 2 * tw + 2;
    let plane = plan.cin * tiles;
    // Four padded input rows, then their vertical combinations.
    let mut rows = vec![0.0f32; 4 * width];
    let mut mixed = vec![0.0f32; 4 * width];
    for (c, channel) in image.chunks_exact(h * w).enumerate() {
        for ty in 0..th {
            for (r, row) in rows.chunks_exact_mut(width).enumerate() {
                row.fill(0.0);
                // Input row 2 ty + r - py, columns from -px.
                let Some(iy) = (2 * ty + r).checked_sub(py).filter(|&iy| iy < h) else {
                    continue;
                };
                let src = &channel[iy * w..(iy + 1) * w];
                // Position j of the padded row is input column j - px
                // (px <= 2 < width); columns past the last tile are unused.
                let len = w.min(width - px);
                row[px..px + len].copy_from_slice(&src[..len]);
            }
            {
                let (r0, rest) = rows.split_at(width);
                let (r1, rest) = rest.split_at(width);
                let (r2, r3) = rest.split_at(width);
                let (m0, rest) = mixed.split_at_mut(width);
                let (m1, rest) = rest.split_at_mut(width);
                let (m2, m3) = rest.split_at_mut(width);
                for i in 0..width {
                    m0[i] = r0[i] - r2[i];
                    m1[i] = r1[i] + r2[i];
                    m2[i] = r2[i] - r1[i];
                    m3[i] = r1[i] - r3[i];
                }
            }
            let base = c * tiles + offset + ty * tw;
            for (r, line) in mixed.chunks_exact(width).enumerate() {
                let line = &line[..2 * tw + 2];
                // B on the columns: one pass per transformed column, each
                // a contiguous run of `v` (one value per tile).
                let at = |k: usize| (r * 4 + k) * plane + base;
                pass(&mut v[at(0)..at(0) + tw], line, |d| d[0] - d[2]);
                pass(&mut v[at(1)..at(1) + tw], line, |d| d[1] + d[2]);
                pass(&mut v[at(2)..at(2) + tw], line, |d| d[2] - d[1]);
                pass(&mut v[at(3)..at(3) + tw], line, |d| d[1] - d[3]);
            }
        }
    }
}

/// `out[tx] = f(line[2 tx..2 tx + 4])` for every tile of a row.
#[inline(always)]
fn pass(out: &mut [f32], line: &[f32], f: impl Fn(&[f32]) -> f32) {
    for (tx, o) in out.iter_mut().enumerate() {
        *o = f(&line[2 * tx..2 * tx + 4]);
    }
}

/// `A^T M A` of every tile of one image from `m: [16, cout, tiles]` (its
/// tiles from `offset`), plus the bias, into `image: [cout, oh, ow]`.
fn transform_output(
    plan: &Plan,
    m: &[f32],
    tiles: usize,
    offset: usize,
    bias: Option<&[f32]>,
    image: &mut [f32],
) {
    let ([oh, ow], [th, tw]) = (plan.output, plan.tiles());
    let plane = plan.cout * tiles;
    let mut pair = vec![0.0f32; 2 * 2 * tw];
    for (co, channel) in image.chunks_exact_mut(oh * ow).enumerate() {
        let b = bias.map_or(0.0, |b| b[co]);
        for ty in 0..th {
            let base = co * tiles + offset + ty * tw;
            let lanes: [&[f32]; 16] =
                std::array::from_fn(|e| &m[e * plane + base..e * plane + base + tw]);
            let (top, bottom) = pair.split_at_mut(2 * tw);
            for tx in 0..tw {
                // A^T on the rows, then on the columns.
                let mut q = [[0.0f32; 4]; 2];
                for k in 0..4 {
                    let (m0, m1, m2, m3) = (
                        lanes[k][tx],
                        lanes[4 + k][tx],
                        lanes[8 + k][tx],
                        lanes[12 + k][tx],
                    );
                    q[0][k] = m0 + m1 + m2;
                    q[1][k] = m1 - m2 - m3;
                }
                top[2 * tx] = q[0][0] + q[0][1] + q[0][2] + b;
                top[2 * tx + 1] = q[0][1] - q[0][2] - q[0][3] + b;
                bottom[2 * tx] = q[1][0] + q[1][1] + q[1][2] + b;
                bottom[2 * tx + 1] = q[1][1] - q[1][2] - q[1][3] + b;
            }
            for (r, row) in [&*top, &*bottom].into_iter().enumerate() {
                let oy = 2 * ty + r;
                if oy < oh {
                    channel[oy * ow..(oy + 1) * ow].copy_from_slice(&row[..ow]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, one sum per output.
    fn direct(plan: &Plan, x: &[f32], k: &[f32]) -> Vec<f32> {
        let ([h, w], [oh, ow]) = (plan.input, plan.output);
        let mut out = vec![0.0f32; plan.batch * plan.output_len()];
        for b in 0..plan.batch {
            for m in 0..plan.cout {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut s = 0.0f64;
                        for c in 0..plan.cin {
                            for ky in 0..3 {
                                for kx in 0..3 {
                                    let (iy, ix) = (oy + ky, ox + kx);
                                    let (Some(iy), Some(ix)) =
                                        (iy.checked_sub(plan.pad[0]), ix.checked_sub(plan.pad[1]))
                                    else {
                                        continue;
                                    };
                                    if iy >= h || ix >= w {
                                        continue;
                                    }
                                    let xv = x[((b * plan.cin + c) * h + iy) * w + ix];
                                    let kv = k[((m * plan.cin + c) * 3 + ky) * 3 + kx];
                                    s += f64::from(xv) * f64::from(kv);
                                }
                            }
                        }
                        out[((b * plan.cout + m) * oh + oy) * ow + ox] = s as f32;
                    }
                }
            }
        }
        out
    }

    fn values(n: usize, seed: f32) -> Vec<f32> {
        (0..n).map(|i| ((i as f32 + seed) * 0.731).sin()).collect()
    }

    #[test]
    fn matches_the_definition_on_odd_sizes_and_paddings() {
        for (batch, cin, cout, input, output, pad) in [
            (1, 1, 1, [4, 4], [2, 2], [0, 0]),
            (2, 3, 2, [5, 7], [5, 7], [1, 1]),
            (3, 2, 4, [1, 1], [3, 3], [2, 2]),
            (2, 2, 3, [6, 5], [4, 6], [0, 1]),
            (9, 2, 2, [3, 2], [3, 2], [1, 1]),
        ] {
            let plan = Plan {
                batch,
                cin,
                input,
                cout,
                output,
                pad,
            };
            let x = values(batch * plan.input_len(), 0.5);
            let k = values(cout * cin * 9, 3.0);
            let bias = values(cout, 7.0);
            let u = forward_kernel(&k, cout, cin);
            let got = correlate(&plan, &x, &u, Some(&bias));
            let want = direct(&plan, &x, &k);
            let plane = output[0] * output[1];
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                let w = w + bias[(i / plane) % cout];
                assert!((g - w).abs() < 1e-5, "{plan:?} at {i}: {g} vs {w}");
            }
        }
    }
}
