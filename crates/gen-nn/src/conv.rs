//! The convolution seam: every block of the workspace runs its
//! convolutions through [`conv2d`] and [`conv_transpose2d`] rather than
//! calling the layer itself. The layers are burn's [`Conv2d`] and
//! [`ConvTranspose2d`] (their parameter names and shapes, hence
//! checkpoints and PyTorch exports, are burn's); the functions hand the
//! layer's tensors and options to gen-kernels, which runs its own kernels
//! on burn-flex and burn's operations on every other backend, so a model
//! never knows which kernel runs it.

use burn::nn::PaddingConfig2d;
pub use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{Device, Tensor};

/// `layer` applied to `x`: the same result as `layer.forward(x)`.
///
/// # Shapes
/// `x`: `[b, c_in, h, w]` -> `[b, c_out, h', w']`.
pub fn conv2d(layer: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    conv2d_with_weight(layer, layer.weight.val(), x)
}

/// `layer` applied to `x` with `weight` in place of its own (spectral
/// normalisation divides the weight before each use).
///
/// # Shapes
/// `weight`: the layer's `[c_out, c_in / groups, kh, kw]`; `x` as in
/// [`conv2d`].
pub fn conv2d_with_weight(layer: &Conv2d, weight: Tensor<4>, x: Tensor<4>) -> Tensor<4> {
    let padding = match layer.padding {
        PaddingConfig2d::Valid => [(0, 0), (0, 0)],
        PaddingConfig2d::Explicit(top, left, bottom, right) => [(top, bottom), (left, right)],
        // burn computes "same" padding per input size; let it.
        PaddingConfig2d::Same => {
            let mut layer = layer.clone();
            layer.weight = burn::module::Param::initialized(layer.weight.id, weight);
            return layer.forward(x);
        }
    };
    let options =
        ConvOptions::new_with_padding(layer.stride, padding, layer.dilation, layer.groups);
    let bias = layer.bias.as_ref().map(|b| b.val());
    gen_kernels::conv2d(x, weight, bias, options)
}

/// `layer` applied to `x`: the same result as `layer.forward(x)`.
///
/// # Shapes
/// `x`: `[b, c_in, h, w]` -> `[b, c_out, h', w']`.
pub fn conv_transpose2d(layer: &ConvTranspose2d, x: Tensor<4>) -> Tensor<4> {
    let options = ConvTransposeOptions::new(
        layer.stride,
        layer.padding,
        layer.padding_out,
        layer.dilation,
        layer.groups,
    );
    let bias = layer.bias.as_ref().map(|b| b.val());
    gen_kernels::conv_transpose2d(x, layer.weight.val(), bias, options)
}

/// A 3x3 convolution with padding 1 and the given stride (2 halves the
/// resolution).
pub fn conv3x3(cin: usize, cout: usize, stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([cin, cout], [3, 3])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    fn max_diff(a: Tensor<4>, b: Tensor<4>) -> f32 {
        (a - b).abs().max().into_scalar::<f32>()
    }

    #[test]
    fn the_seam_equals_the_layers_own_forward() {
        for device in [Device::flex(), Device::flex().autodiff()] {
            let x = Tensor::<4>::random([3, 4, 9, 9], Distribution::Normal(0.0, 1.0), &device);
            for padding in [
                PaddingConfig2d::Valid,
                PaddingConfig2d::Explicit(1, 0, 2, 1),
                PaddingConfig2d::Same,
            ] {
                let layer = Conv2dConfig::new([4, 6], [3, 3])
                    .with_padding(padding)
                    .init(&device);
                assert!(max_diff(conv2d(&layer, x.clone()), layer.forward(x.clone())) < 1e-5);
            }
            let up = ConvTranspose2dConfig::new([4, 2], [4, 4])
                .with_stride([2, 2])
                .with_padding([1, 1])
                .with_padding_out([1, 1])
                .init(&device);
            assert!(max_diff(conv_transpose2d(&up, x.clone()), up.forward(x.clone())) < 1e-5);
        }
    }
}
