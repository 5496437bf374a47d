//! The linear seam: every block of the workspace runs its linear layers
//! through [`linear`] rather than `Linear::forward`. The layer is burn's
//! [`Linear`] (its parameter names and `[d_in, d_out]` weight, hence
//! checkpoints and PyTorch exports, are burn's); gen-kernels runs it as
//! one matrix product on burn-flex and burn's operation on every other
//! backend.

pub use burn::nn::{Linear, LinearConfig};
use burn::tensor::Tensor;

/// `layer` applied to the last axis of `x`: the same result as
/// `layer.forward(x)`.
///
/// # Shapes
/// `x`: `[..., d_in]` -> `[..., d_out]`.
pub fn linear<const D: usize>(layer: &Linear, x: Tensor<D>) -> Tensor<D> {
    gen_kernels::linear(x, layer.weight.val(), layer.bias.as_ref().map(|b| b.val()))
}

/// `layer` applied with `weight` in place of its own (spectral
/// normalisation divides the weight before each use).
///
/// # Shapes
/// `weight`: the layer's `[d_in, d_out]`; `x` as in [`linear`].
pub fn linear_with_weight<const D: usize>(
    layer: &Linear,
    weight: Tensor<2>,
    x: Tensor<D>,
) -> Tensor<D> {
    gen_kernels::linear(x, weight, layer.bias.as_ref().map(|b| b.val()))
}

/// `x E^T` for a table `E: [d_out, d_in]`: an output layer tied to an
/// embedding (`E` its weight), without materialising the transpose.
///
/// # Shapes
/// `x`: `[..., d_in]`, `table`: `[d_out, d_in]` -> `[..., d_out]`.
pub fn linear_transposed<const D: usize>(x: Tensor<D>, table: Tensor<2>) -> Tensor<D> {
    gen_kernels::linear_transposed(x, table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Distribution};

    #[test]
    fn the_seam_equals_the_layer() {
        for device in [Device::flex(), Device::flex().autodiff()] {
            let layer = LinearConfig::new(6, 5).init(&device);
            let x = Tensor::<3>::random([2, 3, 6], Distribution::Default, &device);
            let diff = (linear(&layer, x.clone()) - layer.forward(x.clone()))
                .abs()
                .max()
                .into_scalar::<f32>();
            assert!(diff < 1e-6, "{diff}");
            let table = layer.weight.val().transpose();
            let tied = linear_transposed(x.clone(), table);
            let plain = layer.forward(x) - layer.bias.as_ref().unwrap().val().unsqueeze();
            let diff = (tied - plain).abs().max().into_scalar::<f32>();
            assert!(diff < 1e-5, "{diff}");
        }
    }
}
