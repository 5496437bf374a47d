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

    /// Visits every (row of `cols`, output row) pair with the input row it
    /// reads (`None` in the padding) and the valid output columns.
    fn for_each_line(&self, mut f: impl FnMut(usize, usize, Option<usize>, (usize, usize), usize)) {
        let [kh, kw] = self.kernel;
        let [ho, _] = self.output;
        let [h, w] = self.input;
        for ci in 0..self.cin {
            for ky in 0..kh {
                let ty = ky * self.dilation[0];
                let (y_lo, y_hi) = self.valid(0, ty);
                for kx in 0..kw {
                    let tx = kx * self.dilation[1];
                    let cols_x = self.valid(1, tx);
                    let row = (ci * kh + ky) * kw + kx;
                    for oy in 0..ho {
                        let iy = (oy >= y_lo && oy < y_hi)
                            .then(|| ci * h * w + (oy * self.stride[0] + ty - self.pad[0]) * w);
                        f(row, oy, iy, cols_x, tx);
                    }
                }
            }
        }
    }

    /// Fills `cols: [K, P]` with the receptive fields of one image `x`.
    pub fn im2col(&self, x: &[f32], cols: &mut [f32]) {
        let [_, wo] = self.output;
        let (p, sx, pad) = (self.p(), self.stride[1], self.pad[1]);
        debug_assert_eq!(x.len(), self.input_len());
        debug_assert_eq!(cols.len(), self.k() * p);
        self.for_each_line(|row, oy, iy, (lo, hi), tx| {
            let line = &mut cols[row * p + oy * wo..row * p + (oy + 1) * wo];
            let Some(base) = iy else {
                line.fill(0.0);
                return;
            };
            line[..lo].fill(0.0);
            line[hi..].fill(0.0);
            if lo < hi {
                let start = base + lo * sx + tx - pad;
                if sx == 1 {
                    line[lo..hi].copy_from_slice(&x[start..start + (hi - lo)]);
                } else {
                    for (o, v) in line[lo..hi].iter_mut().zip(x[start..].iter().step_by(sx)) {
                        *o = *v;
                    }
                }
            }
        });
    }

    /// Adds `cols: [K, P]` back onto one image `x` (the adjoint of
    /// [`im2col`](Self::im2col)); `x` is not cleared first.
    pub fn col2im(&self, cols: &[f32], x: &mut [f32]) {
        let [_, wo] = self.output;
        let (p, sx, pad) = (self.p(), self.stride[1], self.pad[1]);
        debug_assert_eq!(x.len(), self.input_len());
        debug_assert_eq!(cols.len(), self.k() * p);
        self.for_each_line(|row, oy, iy, (lo, hi), tx| {
            let (Some(base), true) = (iy, lo < hi) else {
                return;
            };
            let line = &cols[row * p + oy * wo + lo..row * p + oy * wo + hi];
            let start = base + lo * sx + tx - pad;
            if sx == 1 {
                for (o, v) in x[start..start + (hi - lo)].iter_mut().zip(line) {
                    *o += *v;
                }
            } else {
                for (o, v) in x[start..].iter_mut().step_by(sx).zip(line) {
                    *o += *v;
                }
            }
        });
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
