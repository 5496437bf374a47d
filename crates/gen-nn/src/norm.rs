//! Normalisations followed by their activation: the pairs a fused kernel
//! would compute in one pass (the seam for it, as [`conv2d`](crate::conv2d)
//! is for convolutions).

use burn::nn::GroupNorm;
use burn::tensor::Tensor;
use burn::tensor::activation::silu;

/// `silu(norm(x))`.
pub fn group_norm_silu<const D: usize>(norm: &GroupNorm, x: Tensor<D>) -> Tensor<D> {
    silu(norm.forward(x))
}
