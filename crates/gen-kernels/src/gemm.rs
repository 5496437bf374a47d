//! The one `unsafe` module of the crate: a checked front for the `gemm`
//! crate's strided matrix product.
//!
//! `gemm::gemm` takes raw pointers and strides and trusts them. [`matmul`]
//! takes slices and [`View`]s instead and checks, before the call, every
//! fact the raw call relies on (see "Safety argument" below), so that no
//! caller needs `unsafe`.

use gemm::Parallelism;

/// How a `rows x cols` matrix lies in a slice: element `(i, j)` is at
/// `i * row_stride + j * col_stride`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct View {
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// Distance between consecutive rows.
    pub row_stride: usize,
    /// Distance between consecutive columns.
    pub col_stride: usize,
}

impl View {
    /// Row-major, rows contiguous one after the other.
    pub fn row_major(rows: usize, cols: usize) -> Self {
        View {
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose of a row-major `cols x rows` matrix.
    pub fn transposed(rows: usize, cols: usize) -> Self {
        View {
            rows,
            cols,
            row_stride: 1,
            col_stride: rows,
        }
    }

    /// One past the largest offset the view touches (0 when empty).
    fn extent(&self) -> usize {
        if self.rows == 0 || self.cols == 0 {
            return 0;
        }
        (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride + 1
    }

    /// Distinct `(i, j)` never share an offset: one of the two strides is 1
    /// and the other spans a whole line.
    fn is_injective(&self) -> bool {
        self.rows <= 1
            || self.cols <= 1
            || (self.col_stride == 1 && self.row_stride >= self.cols)
            || (self.row_stride == 1 && self.col_stride >= self.rows)
    }
}

/// `dst = a * b` (or `dst += a * b` when `accumulate`), f32.
///
/// `threads`: whether the product may split itself over rayon's pool
/// (callers that already run one product per thread pass `false`).
///
/// # Panics
/// When the shapes do not chain (`a: m x k`, `b: k x n`, `dst: m x n`),
/// when a view reaches past its slice, or when `dst`'s view maps two
/// elements to one place. These are programming errors of this crate.
pub fn matmul(
    (dst, dst_view): (&mut [f32], View),
    (a, a_view): (&[f32], View),
    (b, b_view): (&[f32], View),
    accumulate: bool,
    threads: bool,
) {
    let (m, k, n) = (a_view.rows, a_view.cols, b_view.cols);
    assert_eq!(b_view.rows, k, "matmul: inner dimensions differ");
    assert_eq!(
        (dst_view.rows, dst_view.cols),
        (m, n),
        "matmul: output shape"
    );
    assert!(
        dst_view.extent() <= dst.len(),
        "matmul: output view past its slice"
    );
    assert!(
        a_view.extent() <= a.len(),
        "matmul: left view past its slice"
    );
    assert!(
        b_view.extent() <= b.len(),
        "matmul: right view past its slice"
    );
    assert!(
        dst_view.is_injective(),
        "matmul: output view overlaps itself"
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                for j in 0..n {
                    dst[i * dst_view.row_stride + j * dst_view.col_stride] = 0.0;
                }
            }
        }
        return;
    }
    let stride = |s: usize| isize::try_from(s).expect("matmul: stride fits isize");
    let parallelism = if threads {
        Parallelism::Rayon(0)
    } else {
        Parallelism::None
    };
    // Safety argument. `gemm::gemm` reads `a` at `i*rs + l*cs` for i < m,
    // l < k, `b` likewise for l < k, j < n, and reads (when `read_dst`) and
    // writes `dst` at `i*rs + j*cs` for i < m, j < n; nothing else.
    // - Every such offset is below the view's `extent()`, which the asserts
    //   above bound by the slice's length, so all accesses are in bounds.
    // - Strides are non-negative and fit `isize` (`stride` panics otherwise),
    //   so the offsets are the ones computed above.
    // - `dst` is a `&mut` slice: no other reference, in particular not `a`
    //   or `b`, aliases it for the duration of the call; its view is
    //   injective, so the product's parallel workers never write one
    //   element twice.
    // - m, n, k > 0 here (gemm's contract does not cover empty products).
    // - `T = f32` is one of the types gemm implements (it panics otherwise).
    #[allow(unsafe_code)]
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            stride(dst_view.col_stride),
            stride(dst_view.row_stride),
            accumulate,
            a.as_ptr(),
            stride(a_view.col_stride),
            stride(a_view.row_stride),
            b.as_ptr(),
            stride(b_view.col_stride),
            stride(b_view.row_stride),
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], av: View, b: &[f32], bv: View) -> Vec<f32> {
        let mut out = vec![0.0; av.rows * bv.cols];
        for i in 0..av.rows {
            for j in 0..bv.cols {
                let mut s = 0.0;
                for l in 0..av.cols {
                    s += a[i * av.row_stride + l * av.col_stride]
                        * b[l * bv.row_stride + j * bv.col_stride];
                }
                out[i * bv.cols + j] = s;
            }
        }
        out
    }

    #[test]
    fn strided_products_match_the_definition() {
        let (m, k, n) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect();
        for (av, bv) in [
            (View::row_major(m, k), View::row_major(k, n)),
            (View::transposed(m, k), View::transposed(k, n)),
        ] {
            let want = naive(&a, av, &b, bv);
            let mut got = vec![1.0; m * n];
            matmul(
                (&mut got, View::row_major(m, n)),
                (&a, av),
                (&b, bv),
                false,
                false,
            );
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() < 1e-5, "{g} vs {w}");
            }
            // Accumulating adds to what is there.
            matmul(
                (&mut got, View::row_major(m, n)),
                (&a, av),
                (&b, bv),
                true,
                true,
            );
            for (g, w) in got.iter().zip(&want) {
                assert!((g - 2.0 * w).abs() < 1e-5);
            }
        }
    }

    #[test]
    #[should_panic(expected = "past its slice")]
    fn a_view_past_its_slice_is_refused() {
        let a = vec![0.0; 5];
        let b = vec![0.0; 6];
        let mut d = vec![0.0; 6];
        matmul(
            (&mut d, View::row_major(2, 3)),
            (&a, View::row_major(2, 3)),
            (&b, View::row_major(3, 3)),
            false,
            false,
        );
    }

    #[test]
    #[should_panic(expected = "overlaps itself")]
    fn an_overlapping_output_is_refused() {
        let a = vec![0.0; 4];
        let b = vec![0.0; 4];
        let mut d = vec![0.0; 4];
        let bad = View {
            rows: 2,
            cols: 2,
            row_stride: 1,
            col_stride: 1,
        };
        matmul(
            (&mut d, bad),
            (&a, View::row_major(2, 2)),
            (&b, View::row_major(2, 2)),
            false,
            false,
        );
    }
}
