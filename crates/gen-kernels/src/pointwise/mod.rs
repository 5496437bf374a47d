//! Pointwise activations: our vectorised kernels on burn-flex (f32),
//! burn's own operations everywhere else.
//!
//! burn-flex computes GELU with a scalar `erf` call per element and SiLU
//! as a sigmoid and a product (four passes, forward and backward); ours is
//! one pass each way with `exp` and `erf` written as vectorisable
//! arithmetic ([`crate::math`]).

#[cfg(feature = "flex")]
mod ext;
#[cfg(feature = "flex")]
mod kernels;

use burn::tensor::{Tensor, activation};

/// Which operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pointwise {
    /// `x Phi(x)`, the exact GELU (`erf`, PyTorch's `nn.GELU()` default).
    Gelu,
    /// `x sigmoid(x)`, also called swish.
    Silu,
}

/// The exact GELU, `0.5 x (1 + erf(x / sqrt 2))`, as
/// [`burn::tensor::activation::gelu`] defines it, by our kernel when
/// [`fast_path`](crate::fast_path) holds and by burn otherwise.
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "flex")]
    if usable(&x) {
        return ext::run(x, Pointwise::Gelu);
    }
    activation::gelu(x)
}

/// `x sigmoid(x)`, as [`burn::tensor::activation::silu`] defines it, by
/// our kernel when [`fast_path`](crate::fast_path) holds and by burn
/// otherwise.
pub fn silu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "flex")]
    if usable(&x) {
        return ext::run(x, Pointwise::Silu);
    }
    activation::silu(x)
}

/// A flex tensor of f32.
#[cfg(feature = "flex")]
fn usable<const D: usize>(x: &Tensor<D>) -> bool {
    crate::fast_path(&x.device()) && x.dtype() == burn::tensor::DType::F32
}
