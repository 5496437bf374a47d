//! Normalisations: the seam for gen-kernels' layer norm, and the
//! normalisation + activation pairs a fused kernel would compute in one
//! pass (as [`conv2d`](crate::conv2d) is the seam for convolutions).

use burn::nn::{GroupNorm, LayerNorm};
use burn::tensor::Tensor;

use crate::activation::silu;

/// `silu(norm(x))`.
pub fn group_norm_silu<const D: usize>(norm: &GroupNorm, x: Tensor<D>) -> Tensor<D> {
    silu(norm.forward(x))
}

/// `norm.forward(x)` for a norm built with `epsilon` (burn's `LayerNorm`
/// keeps its epsilon private, so the caller passes the one it configured):
/// gen-kernels' one-pass kernel (values and the three gradients) on flex,
/// burn's operation elsewhere. The parameters stay burn's, so checkpoints
/// and PyTorch names are unchanged.
pub fn layer_norm<const D: usize>(norm: &LayerNorm, epsilon: f64, x: Tensor<D>) -> Tensor<D> {
    gen_kernels::layer_norm(
        x,
        norm.gamma.val(),
        norm.beta.as_ref().map(|b| b.val()),
        epsilon,
    )
}
