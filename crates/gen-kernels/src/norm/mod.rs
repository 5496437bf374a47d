//! Layer normalisation over the last axis: our kernels on burn-flex (f32),
//! burn's own operation everywhere else.

#[cfg(feature = "flex")]
mod ext;
#[cfg(feature = "flex")]
mod kernels;

use burn::tensor::{Tensor, module};

/// `(x - mean) / sqrt(var + epsilon) * gamma + beta` over the last axis
/// (the biased variance), as [`burn::tensor::module::layer_norm`] and
/// `burn::nn::LayerNorm` define it, by our kernels when
/// [`fast_path`](crate::fast_path) holds and by burn otherwise (which also
/// reports inconsistent shapes).
///
/// # Shapes
/// `x: [..., d]`, `gamma: [d]`, `beta: [d]` -> `[..., d]`.
pub fn layer_norm<const D: usize>(
    x: Tensor<D>,
    gamma: Tensor<1>,
    beta: Option<Tensor<1>>,
    epsilon: f64,
) -> Tensor<D> {
    #[cfg(feature = "flex")]
    {
        use burn::tensor::DType;
        let dims = x.dims();
        let d = dims[D - 1];
        if d > 0
            && gamma.dims() == [d]
            && beta.as_ref().is_none_or(|b| b.dims() == [d])
            && crate::fast_path(&x.device())
            && x.dtype() == DType::F32
            && gamma.dtype() == DType::F32
            && beta.as_ref().is_none_or(|b| b.dtype() == DType::F32)
        {
            let rows = dims[..D - 1].iter().product();
            let y = ext::run(x.reshape([rows, d]), gamma, beta, epsilon);
            return y.reshape(dims);
        }
    }
    module::layer_norm(x, gamma, beta, epsilon)
}
