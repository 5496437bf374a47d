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

use std::cell::RefCell;

use rayon::prelude::*;

use super::geom::Geometry;
use super::winograd;
use crate::gemm::{View, matmul};

/// Images per partial sum of the weight gradient. Fixed (not derived from
/// the thread count) so that the summation order, hence the rounding, is
/// always the same.
const IMAGES_PER_PARTIAL: usize = 4;

/// Whether to split a batch over rayon's workers, or run it on one and let
/// each product split itself (a batch smaller than the pool).
pub(super) fn per_image_parallel(batch: usize) -> bool {
    batch >= rayon::current_num_threads()
}

thread_local! {
    /// Each thread's receptive-field buffer, kept between calls: a fresh
    /// one per call cost page faults and zeroing (7 % of a DCGAN step).
    /// It grows to the largest `K * P` the thread has met (a few MB).
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with `len` values of this thread's scratch buffer (a fresh
/// one if the buffer is in use further up this thread's stack, which a
/// work-stealing wait could cause).
pub(super) fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buffer) => {
            if buffer.len() < len {
                buffer.resize(len, 0.0);
            }
            f(&mut buffer[..len])
        }
        Err(_) => f(&mut vec![0.0; len]),
    })
}

/// Runs `f(image index, scratch, output chunk, threads)` for every image,
/// spread over rayon's workers where the batch is large enough (then
/// `threads` is false: one product per worker), else one image after the
/// other with `threads` true (each product splits its output columns over
/// the pool, which does not change any sum). `scratch` holds
/// `scratch_len` values of the worker's own buffer.
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
        out.par_chunks_mut(chunk)
            .enumerate()
            .for_each(|(i, o)| with_scratch(scratch_len, |scratch| f(i, scratch, o, false)));
    } else {
        with_scratch(scratch_len, |scratch| {
            for (i, o) in out.chunks_mut(chunk).enumerate() {
                f(i, scratch, o, true);
            }
        });
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
///
/// A 3x3 stride-1 convolution wide enough runs Winograd's F(2x2, 3x3)
/// instead (see [`super::winograd`]).
pub fn forward(g: &Geometry, x: &[f32], weight: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    if let Some(plan) = winograd::Plan::forward(g) {
        let u = winograd::forward_kernel(weight, g.cout, g.cin);
        return winograd::correlate(&plan, x, &u, bias);
    }
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
/// image, `col2im(weight^T * dy)` (or, for a 3x3 stride-1 convolution
/// wide enough, Winograd's F(2x2, 3x3) on the rotated kernel). Returns
/// `[b, cin, h, w]`.
pub fn input_grad(g: &Geometry, dy: &[f32], weight: &[f32]) -> Vec<f32> {
    if let Some(plan) = winograd::Plan::input_grad(g) {
        let u = winograd::input_grad_kernel(weight, g.cout, g.cin);
        return winograd::correlate(&plan, dy, &u, None);
    }
    let (k, p) = (g.k(), g.p());
    let mut dx = vec![0.0f32; g.batch * g.input_len()];
    let scratch = scratch_len(g);
    for_each_image(&mut dx, g.input_len(), scratch, |i, cols, out, threads| {
        let grad = &dy[i * g.output_len()..(i + 1) * g.output_len()];
        // A pointwise convolution's receptive fields are the image itself:
        // the product lands in `out` directly, else in `cols` and then back
        // onto the image.
        let spread = !g.is_pointwise();
        let dst = if spread { &mut *cols } else { &mut *out };
        matmul(
            (dst, View::row_major(k, p)),
            (weight, View::transposed(k, g.cout)),
            (grad, View::row_major(g.cout, p)),
            false,
            threads,
        );
        if spread {
            g.col2im(cols, out);
        }
    });
    dx
}

/// The gradient with respect to the weight (`[cout, K]`) of
/// `<dy, conv(x, weight)>`: `sum_b dy_b * cols_b^T`, as one product per
/// fixed group of images (`[cout, n P] x [n P, K]`: a long inner
/// dimension, 1.3-1.7x faster than a product per image), the groups'
/// partial sums added in order.
pub fn weight_grad(g: &Geometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let (k, p) = (g.k(), g.p());
    let wlen = g.cout * k;
    let groups = g.batch.div_ceil(IMAGES_PER_PARTIAL);
    let mut partials = vec![0.0f32; groups.max(1) * wlen];
    if wlen == 0 || p == 0 {
        partials.truncate(wlen);
        return partials;
    }
    let width = IMAGES_PER_PARTIAL * p;
    // Per worker: the group's receptive fields [K, n P], then its output
    // gradients gathered into [cout, n P].
    let scratch = (k + g.cout) * width;
    let parallel = per_image_parallel(groups);
    let group = |gi: usize, buffer: &mut [f32], dw: &mut [f32]| {
        let (cols, grads) = buffer.split_at_mut(k * width);
        let images = gi * IMAGES_PER_PARTIAL..((gi + 1) * IMAGES_PER_PARTIAL).min(g.batch);
        let n = images.len();
        for (j, i) in images.enumerate() {
            let image = &x[i * g.input_len()..(i + 1) * g.input_len()];
            g.im2col_strided(image, &mut cols[j * p..], width);
            let grad = &dy[i * g.output_len()..(i + 1) * g.output_len()];
            for (co, line) in grad.chunks_exact(p).enumerate() {
                grads[co * width + j * p..co * width + (j + 1) * p].copy_from_slice(line);
            }
        }
        let dy_v = View {
            rows: g.cout,
            cols: n * p,
            row_stride: width,
            col_stride: 1,
        };
        let cols_t = View {
            rows: n * p,
            cols: k,
            row_stride: 1,
            col_stride: width,
        };
        matmul(
            (dw, View::row_major(g.cout, k)),
            (grads, dy_v),
            (cols, cols_t),
            false,
            !parallel,
        );
    };
    if parallel {
        partials
            .par_chunks_mut(wlen)
            .enumerate()
            .for_each(|(gi, dw)| with_scratch(scratch, |buffer| group(gi, buffer, dw)));
    } else {
        with_scratch(scratch, |buffer| {
            for (gi, dw) in partials.chunks_mut(wlen).enumerate() {
                group(gi, buffer, dw);
            }
        });
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
