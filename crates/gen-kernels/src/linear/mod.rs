//! The linear layer, `x W + b` over the last axis: our kernels on
//! burn-flex (f32), burn's own operation everywhere else.
//!
//! burn-flex runs a linear layer on `[b, t, d]` as `b` products against
//! the broadcast weight, each into a zeroed and then copied buffer, then
//! adds the bias as a separate operation; its backward sums `b` weight
//! gradients. Ours folds the leading axes into the rows: one product
//! forward (the bias written first and added to), two backward.

#[cfg(feature = "flex")]
mod ext;
#[cfg(feature = "flex")]
mod kernels;

use burn::tensor::{Tensor, module};

/// `x W + b` over the last axis, as [`burn::tensor::module::linear`] and
/// `burn::nn::Linear` define it, by our kernels when
/// [`fast_path`](crate::fast_path) holds and by burn otherwise (which also
/// reports inconsistent shapes).
///
/// # Shapes
/// `x: [..., d_in]`, `weight: [d_in, d_out]`, `bias: [d_out]` ->
/// `[..., d_out]`.
pub fn linear<const D: usize>(
    x: Tensor<D>,
    weight: Tensor<2>,
    bias: Option<Tensor<1>>,
) -> Tensor<D> {
    #[cfg(feature = "flex")]
    if let Some(y) = fast(&x, &weight, bias.as_ref(), false) {
        return y;
    }
    module::linear(x, weight, bias)
}

/// `x E^T` over the last axis for `E: [d_out, d_in]`: a language model's
/// output layer tied to its token embedding (`E` the embedding table), by
/// our kernels when [`fast_path`](crate::fast_path) holds and by burn
/// otherwise. The same as `linear(x, E.transpose(), None)`.
///
/// # Shapes
/// `x: [..., d_in]`, `weight: [d_out, d_in]` -> `[..., d_out]`.
pub fn linear_transposed<const D: usize>(x: Tensor<D>, weight: Tensor<2>) -> Tensor<D> {
    #[cfg(feature = "flex")]
    if let Some(y) = fast(&x, &weight, None, true) {
        return y;
    }
    module::linear(x, weight.transpose(), None)
}

/// Our kernel's result, or `None` where it does not apply (not flex f32,
/// shapes that do not chain, an empty input).
#[cfg(feature = "flex")]
fn fast<const D: usize>(
    x: &Tensor<D>,
    weight: &Tensor<2>,
    bias: Option<&Tensor<1>>,
    transposed: bool,
) -> Option<Tensor<D>> {
    use burn::tensor::DType;
    let dims = x.dims();
    let d_in = *dims.last()?;
    let [a, b] = weight.dims();
    let (w_in, d_out) = if transposed { (b, a) } else { (a, b) };
    let rows: usize = dims[..D - 1].iter().product();
    let f32s = x.dtype() == DType::F32
        && weight.dtype() == DType::F32
        && bias.is_none_or(|b| b.dtype() == DType::F32);
    let usable = w_in == d_in
        && rows > 0
        && bias.is_none_or(|b| b.dims() == [d_out])
        && f32s
        && crate::fast_path(&x.device());
    if !usable {
        return None;
    }
    let k = kernels::Dims {
        rows,
        d_in,
        d_out,
        transposed,
    };
    let y = ext::run(
        x.clone().reshape([rows, d_in]),
        weight.clone(),
        bias.cloned(),
        k,
    );
    let mut out = dims;
    out[D - 1] = d_out;
    Some(y.reshape(out))
}
