//! The convolution seam: every block of the workspace runs its
//! convolutions through [`conv2d`] rather than calling the layer itself.
//! The layer is burn's [`Conv2d`] (its parameter names and shapes, hence
//! checkpoints and PyTorch exports, are burn's); the function is where a
//! kernel chosen by backend plugs in, so that a model never knows which
//! kernel runs it.

use burn::nn::PaddingConfig2d;
pub use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::{Device, Tensor};

/// `layer` applied to `x` (today burn's own kernel on every backend).
///
/// # Shapes
/// `x`: `[b, c_in, h, w]` -> `[b, c_out, h', w']`.
pub fn conv2d(layer: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    layer.forward(x)
}

/// A 3x3 convolution with padding 1 and the given stride (2 halves the
/// resolution).
pub fn conv3x3(cin: usize, cout: usize, stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([cin, cout], [3, 3])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(device)
}
