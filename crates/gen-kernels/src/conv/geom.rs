//! The geometry of one 2-D convolution and the two data movements around
//! its matrix products: `im2col` (an image to the matrix of its receptive
//! fields) and `col2im` (that matrix back onto an image, summing overlaps).
//!
//! A convolution of `x: [cin, h, w]` by `weight: [cout, cin, kh, kw]` is the
//! product `weight[cout, K] * cols[K, P]` with `K = cin * kh * kw` and
//! `P = ho * wo`: row `(ci, ky, kx)` of `cols` holds, for every output
//! position, the input value that tap meets (0 in the padding).

use burn::tensor::ops::ConvOptions;

/// Shapes and hyper-parameters of a convolution `[b, cin, h, w] ->
/// [b, cout, ho, wo]`, with its padding as (top, left) offsets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Images in the batch.
    pub batch: usize,
    /// Input channels.
    pub cin: usize,
    /// Input height and width.
    pub input: [usize; 2],
    /// Output channels.
    pub cout: usize,
    /// Kernel height and width.
    pub kernel: [usize; 2],
    /// Stride per spatial dimension.
    pub stride: [usize; 2],
    /// Padding before the first row and column.
    pub pad: [usize; 2],
    /// Dilation per spatial dimension.
    pub dilation: [usize; 2],
    /// Output height and width.
    pub output: [usize; 2],
}

impl Geometry {
    /// The geometry of `conv2d(x, weight, options)` for `x: [b, cin, h, w]`
    /// and `weight: [cout, cin, kh, kw]` (one group), or `None` when the
    /// kernel does not fit the padded input.
    pub fn conv(x: [usize; 4], weight: [usize; 4], options: &ConvOptions<2>) -> Option<Self> {
        let [batch, cin, h, w] = x;
        let [cout, _, kh, kw] = weight;
        let out = |i: usize, len: usize, k: usize| {
            let (before, after) = options.padding[i];
            let span = options.dilation[i] * (k.checked_sub(1)?) + 1;
            let padded = len + before + after;
            (padded >= span).then(|| (padded - span) / options.stride[i] + 1)
        };
        Some(Geometry {
            batch,
            cin,
            input: [h, w],
            cout,
            kernel: [kh, kw],
            stride: options.stride,
            pad: [options.padding[0].0, options.padding[1].0],
            dilation: options.dilation,
            output: [out(0, h, kh)?, out(1, w, kw)?],
        })
    }

    /// Rows of the receptive-field matrix: `cin * kh * kw`.
    pub fn k(&self) -> usize {
        self.cin * self.kernel[0] * self.kernel[1]
    }

    /// Output positions per image: `ho * wo`.
    pub fn p(&self) -> usize {
        self.output[0] * self.output[1]
    }

    /// Values of one input image: `cin * h * w`.
    pub fn input_len(&self) -> usize {
        self.cin * self.input[0] * self.input[1]
    }

    /// Values of one output image: `cout * ho * wo`.
    pub fn output_len(&self) -> usize {
        self.cout * self.p()
    }

    /// Multiply-adds of the forward pass over the whole batch.
    pub fn macs(&self) -> usize {
        self.batch * self.cout * self.k() * self.p()
    }

    /// A 1x1 kernel at stride 1 without padding: the receptive-field
    /// matrix is the image itself (`[cin, h * w]`), no copy needed.
    pub fn is_pointwise(&self) -> bool {
        self.kernel == [1, 1] && self.stride == [1, 1] && self.pad == [0, 0]
    }

    /// For tap offset `t` (`k * dilation`) along dimension `d`: the output
    /// indices whose input index `o * stride + t - pad` lies inside the
    /// image, as a half-open range.
    fn valid(&self, d: usize, t: usize) -> (usize, usize) {
        let (s, pad, len, out) = (self.stride[d], self.pad[d], self.input[d], self.output[d]);
        // o * s + t >= pad  <=>  o >= ceil((pad - t) / s)
        let lo = if t >= pad { 0 } else { (pad - t).div_ceil(s) };
        // o * s + t - pad < len  <=>  o * s < len + pad - t
        let hi = if len + pad > t {
            (len + pad - t).div_ceil(s)
        } else {
            0
        };
        (lo.min(out), hi.min(out).max(lo.min(out)))
    }

    /// For tap `(ky, kx)`: the output rows and columns that read inside
    /// the image, and where in an input plane their reads lie.
    fn tap(&self, ky: usize, kx: usize) -> Tap {
        let (ty, tx) = (ky * self.dilation[0], kx * self.dilation[1]);
        let ([sy, sx], w) = (self.stride, self.input[1]);
        let (rows, cols) = (self.valid(0, ty), self.valid(1, tx));
        let mut tap = Tap {
            rows,
            cols,
            first: 0,
            row_step: sy * w,
            span: 0,
        };
        if tap.reads() {
            // Inside the image by construction of `valid`, so not negative.
            let iy = rows.0 * sy + ty - self.pad[0];
            let ix = cols.0 * sx + tx - self.pad[1];
            tap.first = iy * w + ix;
            tap.span = (cols.1 - cols.0 - 1) * sx + 1;
        }
        tap
    }

    /// The taps of the kernel in row-major order, each with the output
    /// range it reads inside the image (the same for every channel).
    fn taps(&self) -> Vec<Tap> {
        let [kh, kw] = self.kernel;
        (0..kh * kw).map(|t| self.tap(t / kw, t % kw)).collect()
    }

    /// Fills `cols: [K, P]` with the receptive fields of one image `x`.
    pub fn im2col(&self, x: &[f32], cols: &mut [f32]) {
        debug_assert_eq!(cols.len(), self.k() * self.p());
        self.im2col_strided(x, cols, self.p());
    }

    /// As [`im2col`](Self::im2col), row `r` written at
    /// `cols[r * row_stride..][..P]`: several images side by side in one
    /// `[K, n * P]` matrix (image `j` at column offset `j * P` of `cols`).
    pub fn im2col_strided(&self, x: &[f32], cols: &mut [f32], row_stride: usize) {
        let ([h, w], [ho, wo], p) = (self.input, self.output, self.p());
        let sx = self.stride[1];
        debug_assert_eq!(x.len(), self.input_len());
        let taps = self.taps();
        let mut r = 0;
        for plane in x.chunks_exact(h * w) {
            for t in &taps {
                let row = &mut cols[r * row_stride..r * row_stride + p];
                r += 1;
                // One clear of the whole row where the tap meets padding
                // (cheaper than clearing the short pieces of each line).
                if t.rows != (0, ho) || t.cols != (0, wo) {
                    row.fill(0.0);
                }
                let (lo, hi) = t.cols;
                for (oy, start) in t.lines() {
                    let src = &plane[start..start + t.span];
                    let dst = &mut row[oy * wo + lo..oy * wo + hi];
                    if sx == 1 {
                        dst.copy_from_slice(src);
                    } else {
                        for (j, o) in dst.iter_mut().enumerate() {
                            *o = src[j * sx];
                        }
                    }
                }
            }
        }
    }

    /// Adds `cols: [K, P]` back onto one image `x` (the adjoint of
    /// [`im2col`](Self::im2col)); `x` is not cleared first.
    pub fn col2im(&self, cols: &[f32], x: &mut [f32]) {
        let ([h, w], [_, wo], p) = (self.input, self.output, self.p());
        let sx = self.stride[1];
        debug_assert_eq!(x.len(), self.input_len());
        debug_assert_eq!(cols.len(), self.k() * p);
        let taps = self.taps();
        let mut rows = cols.chunks_exact(p);
        for plane in x.chunks_exact_mut(h * w) {
            for t in &taps {
                let row = rows.next().expect("K rows");
                let (lo, hi) = t.cols;
                for (oy, start) in t.lines() {
                    let dst = &mut plane[start..start + t.span];
                    let src = &row[oy * wo + lo..oy * wo + hi];
                    if sx == 1 {
                        for (o, v) in dst.iter_mut().zip(src) {
                            *o += *v;
                        }
                    } else {
                        for (j, v) in src.iter().enumerate() {
                            dst[j * sx] += *v;
                        }
                    }
                }
            }
        }
    }
}

/// Where one kernel tap reads: the output rows and columns whose input
/// lies inside the image, and the offsets of those reads in an input
/// plane (computed once per call, the same for every channel).
struct Tap {
    /// Output rows `[lo, hi)` that read inside the image.
    rows: (usize, usize),
    /// Output columns `[lo, hi)` that read inside the image.
    cols: (usize, usize),
    /// Plane offset of the read of output `(rows.0, cols.0)` (0 when the
    /// tap reads nothing).
    first: usize,
    /// Plane distance between the reads of consecutive output rows.
    row_step: usize,
    /// Plane values one output line's reads span, stride apart.
    span: usize,
}

impl Tap {
    /// Whether any output position reads inside the image.
    fn reads(&self) -> bool {
        self.rows.0 < self.rows.1 && self.cols.0 < self.cols.1
    }

    /// Each output row that reads inside the image, with the plane offset
    /// of its first read.
    fn lines(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        let rows = if self.reads() {
            self.rows.0..self.rows.1
        } else {
            0..0
        };
        rows.map(move |oy| (oy, self.first + (oy - self.rows.0) * self.row_step))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry(h: usize, w: usize, k: usize, s: usize, p: usize, d: usize) -> Geometry {
        let options = ConvOptions::new([s, s], [p, p], [d, d], 1);
        Geometry::conv([1, 2, h, w], [3, 2, k, k], &options).expect("fits")
    }

    /// im2col by the definition, one value at a time.
    fn naive_im2col(g: &Geometry, x: &[f32]) -> Vec<f32> {
        let [h, w] = g.input;
        let [ho, wo] = g.output;
        let mut cols = vec![0.0; g.k() * g.p()];
        for ci in 0..g.cin {
            for ky in 0..g.kernel[0] {
                for kx in 0..g.kernel[1] {
                    let row = (ci * g.kernel[0] + ky) * g.kernel[1] + kx;
                    for oy in 0..ho {
                        for ox in 0..wo {
                            let iy = (oy * g.stride[0] + ky * g.dilation[0]) as isize
                                - g.pad[0] as isize;
                            let ix = (ox * g.stride[1] + kx * g.dilation[1]) as isize
                                - g.pad[1] as isize;
                            if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                                cols[row * g.p() + oy * wo + ox] =
                                    x[ci * h * w + iy as usize * w + ix as usize];
                            }
                        }
                    }
                }
            }
        }
        cols
    }

    #[test]
    fn im2col_matches_the_definition_and_col2im_is_its_adjoint() {
        for (h, w, k, s, p, d) in [
            (5, 7, 3, 1, 1, 1),
            (6, 6, 4, 2, 1, 1),
            (7, 5, 3, 3, 2, 2),
            (4, 4, 1, 1, 0, 1),
            (3, 9, 5, 2, 2, 1),
            (1, 1, 1, 1, 0, 1),
            (5, 5, 2, 3, 0, 2),
        ] {
            let g = geometry(h, w, k, s, p, d);
            let x: Vec<f32> = (0..g.input_len())
                .map(|i| (i as f32 * 0.73).sin())
                .collect();
            let mut cols = vec![f32::NAN; g.k() * g.p()];
            g.im2col(&x, &mut cols);
            assert_eq!(cols, naive_im2col(&g, &x), "{g:?}");
            // <im2col(x), c> == <x, col2im(c)>
            let c: Vec<f32> = (0..cols.len()).map(|i| (i as f32 * 0.31).cos()).collect();
            let mut back = vec![0.0; g.input_len()];
            g.col2im(&c, &mut back);
            let lhs: f64 = cols
                .iter()
                .zip(&c)
                .map(|(a, b)| (*a as f64) * (*b as f64))
                .sum();
            let rhs: f64 = x
                .iter()
                .zip(&back)
                .map(|(a, b)| (*a as f64) * (*b as f64))
                .sum();
            assert!((lhs - rhs).abs() < 1e-4, "{g:?}: {lhs} vs {rhs}");
        }
    }

    #[test]
    fn a_kernel_larger_than_the_padded_input_has_no_geometry() {
        let options = ConvOptions::new([1, 1], [0, 0], [1, 1], 1);
        assert!(Geometry::conv([1, 1, 2, 2], [1, 1, 3, 3], &options).is_none());
    }
}
