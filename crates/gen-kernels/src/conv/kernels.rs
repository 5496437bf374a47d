//! The three products of a convolution, over a whole batch of contiguous
//! NCHW f32 images: the forward pass, the input gradient and the weight
//! gradient (and the per-channel sums that are the bias gradient). Transposed convolutions are these
//! same three with the roles of input and output exchanged (see
//! [`super::ext`]).
//!
//! Work is split over images (one product per image, one receptive-field
//! buffer per worker); the weight gradient sums fixed groups of images in
//! a fixed order, so every result is the same whatever the thread count
//! or timing.

use rayon::prelude::*;

use super::geom::Geometry;
use crate::gemm::{View, matmul};

/// Images per partial sum of the weight gradient. Fixed (not derived from
/// the thread count) so that the summation order, hence the rounding, is
/// always the same.
const IMAGES_PER_PARTIAL: usize = 4;

/// Whether to split a batch over rayon's workers, or run it on one and let
/// each product split itself (a batch smaller than the pool).
fn per_image_parallel(batch: usize) -> bool {
    batch >= rayon::current_num_threads()
}

/// Runs `f(image index, scratch, output chunk, threads)` for every image,
/// spread over rayon's workers where the batch is large enough (then
/// `threads` is false: one product per worker), else one image after the
/// other with `threads` true (each product splits its output columns over
/// the pool, which does not change any sum). `scratch` holds
/// `scratch_len` values and is reused between images of one worker.
fn for_each_image(
    out: &mut [f32],
    chunk: usize,
    scratch_len: usize,
    f: impl Fn(usize, &mut [f32], &mut [f32], bool) + Sync,
) {
    if chunk == 0 {
        return;
    }
    if per_image_parallel(out.len() / chunk) {
        out.par_chunks_mut(chunk).enumerate().for_each_init(
            || vec![0.0f32; scratch_len],
            |scratch, (i, o)| f(i, scratch, o, false),
        );
    } else {
        let mut scratch = vec![0.0f32; scratch_len];
        for (i, o) in out.chunks_mut(chunk).enumerate() {
            f(i, &mut scratch, o, true);
        }
    }
}

/// Values of the `im2col` buffer one worker needs (none when pointwise).
fn scratch_len(g: &Geometry) -> usize {
    if g.is_pointwise() { 0 } else { g.k() * g.p() }
}

/// The receptive-field matrix `[K, P]` of one image: the image itself for
/// a pointwise convolution, else `im2col` into `scratch`.
fn receptive_fields<'a>(g: &Geometry, image: &'a [f32], scratch: &'a mut [f32]) -> &'a [f32] {
    if g.is_pointwise() {
        image
    } else {
        g.im2col(image, scratch);
        scratch
    }
}

/// `y = conv(x, weight) + bias`: `x: [b, cin, h, w]`, `weight: [cout, K]`,
/// `bias: [cout]`; returns `[b, cout, ho, wo]`.
pub fn forward(g: &Geometry, x: &[f32], weight: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let (k, p) = (g.k(), g.p());
    let mut y = vec![0.0f32; g.batch * g.output_len()];
    let scratch = scratch_len(g);
    for_each_image(&mut y, g.output_len(), scratch, |i, cols, out, threads| {
        let image = &x[i * g.input_len()..(i + 1) * g.input_len()];
        let cols = receptive_fields(g, image, cols);
        if let Some(bias) = bias {
            for (line, b) in out.chunks_mut(p).zip(bias) {
                line.fill(*b);
            }
        }
        matmul(
            (out, View::row_major(g.cout, p)),
            (weight, View::row_major(g.cout, k)),
            (cols, View::row_major(k, p)),
            bias.is_some(),
            threads,
        );
    });
    y
}

/// The gradient with respect to `x` of `<dy, conv(x, weight)>`: for each
/// image, `col2im(weight^T * dy)`. Returns `[b, cin, h, w]`.
pub fn input_grad(g: &Geometry, dy: &[f32], weight: &[f32]) -> Vec<f32> {
    let (k, p) = (g.k(), g.p());
    let mut dx = vec![0.0f32; g.batch * g.input_len()];
    let scratch = scratch_len(g);
    for_each_image(&mut dx, g.input_len(), scratch, |i, cols, out, threads| {
        let grad = &dy[i * g.output_len()..(i + 1) * g.output_len()];
        let w_t = View::transposed(k, g.cout);
        if g.is_pointwise() {
            matmul(
                (out, View::row_major(k, p)),
                (weight, w_t),
                (grad, View::row_major(g.cout, p)),
                false,
                threads,
            );
        } else {
            matmul(
                (cols, View::row_major(k, p)),
                (weight, w_t),
                (grad, View::row_major(g.cout, p)),
                false,
                threads,
            );
            g.col2im(cols, out);
        }
    });
    dx
}

/// The gradient with respect to the weight (`[cout, K]`) of
/// `<dy, conv(x, weight)>`: `sum_b dy_b * cols_b^T`.
pub fn weight_grad(g: &Geometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let (k, p) = (g.k(), g.p());
    let wlen = g.cout * k;
    let groups = g.batch.div_ceil(IMAGES_PER_PARTIAL);
    // One partial [cout, K] gradient per group of images, each summed
    // image by image in order.
    let mut partials = vec![0.0f32; groups.max(1) * wlen];
    let scratch = scratch_len(g);
    let parallel = per_image_parallel(groups);
    let group = |gi: usize, cols: &mut [f32], dw: &mut [f32]| {
        let first = gi * IMAGES_PER_PARTIAL;
        for (n, i) in (first..(first + IMAGES_PER_PARTIAL).min(g.batch)).enumerate() {
            let image = &x[i * g.input_len()..(i + 1) * g.input_len()];
            let grad = &dy[i * g.output_len()..(i + 1) * g.output_len()];
            let cols = receptive_fields(g, image, cols);
            let (dw_v, dy_v, cols_t) = (
                View::row_major(g.cout, k),
                View::row_major(g.cout, p),
                View::transposed(p, k),
            );
            matmul((dw, dw_v), (grad, dy_v), (cols, cols_t), n > 0, !parallel);
        }
    };
    if wlen == 0 {
        return partials;
    }
    if parallel {
        partials.par_chunks_mut(wlen).enumerate().for_each_init(
            || vec![0.0f32; scratch],
            |cols, (gi, dw)| group(gi, cols, dw),
        );
    } else {
        let mut cols = vec![0.0f32; scratch];
        for (gi, dw) in partials.chunks_mut(wlen).enumerate() {
            group(gi, &mut cols, dw);
        }
    }
    // The partials, summed in group order.
    let (total, rest) = partials.split_at_mut(wlen);
    for part in rest.chunks(wlen) {
        for (t, v) in total.iter_mut().zip(part) {
            *t += *v;
        }
    }
    partials.truncate(wlen);
    partials
}

/// Per-channel sums of `t: [batch, channels, plane]` (the bias gradient),
/// image by image in order.
pub fn channel_sums(t: &[f32], channels: usize, plane: usize) -> Vec<f32> {
    let mut sums = vec![0.0f32; channels];
    if channels == 0 || plane == 0 {
        return sums;
    }
    for image in t.chunks(channels * plane) {
        for (s, line) in sums.iter_mut().zip(image.chunks(plane)) {
            *s += line.iter().sum::<f32>();
        }
    }
    sums
}

/// Adds `bias[c]` to every value of channel `c` of `t: [batch, channels,
/// plane]`.
pub fn add_bias(t: &mut [f32], bias: &[f32], plane: usize) {
    if plane == 0 || bias.is_empty() {
        return;
    }
    for image in t.chunks_mut(bias.len() * plane) {
        for (line, b) in image.chunks_mut(plane).zip(bias) {
            for v in line {
                *v += *b;
            }
        }
    }
}
