//! Activations: the seam for gen-kernels' vectorised GELU and SiLU, and a
//! LeakyReLU whose backward stays on burn-flex's fast element-wise path.

use burn::tensor::Tensor;
use burn::tensor::activation::relu;

/// The exact GELU, `x Phi(x)` (PyTorch's `nn.GELU()`): gen-kernels' one-pass
/// kernel (values and gradient) on flex, burn's `gelu` elsewhere.
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    gen_kernels::gelu(x)
}

/// `x sigmoid(x)`: gen-kernels' one-pass kernel (values and gradient) on
/// flex, burn's `silu` elsewhere.
pub fn silu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    gen_kernels::silu(x)
}

/// LeakyReLU written as `relu(x) * (1 - slope) + x * slope`: the same
/// function, and the same gradient except at exactly 0, but its backward
/// stays on burn-flex's fast element-wise path. burn's own `leaky_relu`
/// backward is a masked select that costs 22x PyTorch's on a DCGAN
/// critic's `[64, 64, 14, 14]` activation (14.6 ms against 0.65 ms; this
/// form: 0.70 ms; see docs/benchmarks.md).
pub fn leaky_relu<const D: usize>(x: Tensor<D>, slope: f64) -> Tensor<D> {
    relu(x.clone()) * (1.0 - slope) + x * slope
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn leaky_relu_matches_burns_values_and_gradients() {
        let dev = Device::flex().autodiff();
        let x = Tensor::<2>::from_floats([[-2.0, -0.5, 0.25, 3.0]], &dev).require_grad();
        let ours = leaky_relu(x.clone(), 0.2);
        let grads = (ours.clone() * ours.clone()).sum().backward();
        let g_ours = x.grad(&grads).unwrap();
        let x2 = x.clone().detach().require_grad();
        let theirs = burn::tensor::activation::leaky_relu(x2.clone(), 0.2);
        let grads = (theirs.clone() * theirs.clone()).sum().backward();
        let g_theirs = x2.grad(&grads).unwrap();
        let diff = |a: Tensor<2>, b: Tensor<2>| (a - b).abs().max().into_scalar::<f64>();
        assert!(diff(ours.inner(), theirs.inner()) < 1e-6);
        assert!(diff(g_ours, g_theirs) < 1e-6);
    }
}
