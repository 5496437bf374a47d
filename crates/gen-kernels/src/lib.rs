//! CPU kernels of the generative family, behind burn's backend-extension
//! seam.
//!
//! [`conv2d`] and [`conv_transpose2d`] have the signatures and semantics of
//! burn's functional operations. On a burn-flex device (plain or autodiff)
//! with f32 tensors and one group they run this crate's kernels: receptive
//! fields (`im2col`) and one matrix product per image through the `gemm`
//! crate's AVX-512 / AVX2 micro-kernels (chosen at run time), forward and,
//! under autodiff, a hand-written backward (input, weight and bias
//! gradients). Everywhere else (ndarray, wgpu, cuda, f16, groups) they are
//! burn's own operations, so nothing changes there.
//!
//! [`linear`] (and [`linear_transposed`], a tied output layer), [`gelu`],
//! [`silu`], [`layer_norm`] and [`batch_norm_train`] are burn's functional
//! operations too, and
//! [`self_attention`] is multi-head self-attention from a fused `q | k | v`
//! projection (`None` where it does not apply); on flex the linear layer
//! is one matrix product forward and two backward, the others one
//! vectorised pass each way (see the modules' docs).
//!
//! Models do not call these directly: gen-nn's layers do (`gen_nn::conv2d`,
//! `gen_nn::conv_transpose2d`, `gen_nn::linear`, `gen_nn::gelu`, `gen_nn::silu`,
//! `gen_nn::layer_norm`, `MultiHeadAttention`), keeping burn's modules,
//! their parameter names and shapes, so checkpoints and PyTorch exports are
//! unchanged.
//!
//! Set `GEN_KERNELS=burn` in the environment to run burn's kernels on flex
//! too, or `GEN_KERNELS=im2col` to keep ours but compute 3x3 stride-1
//! convolutions by receptive fields instead of Winograd's F(2x2, 3x3) (for
//! A/B measurements; read once per process).
//!
//! ```
//! use burn::tensor::{Device, Distribution, Tensor};
//! use burn::tensor::ops::ConvOptions;
//!
//! let device = Device::flex();
//! let x = Tensor::<4>::random([2, 3, 8, 8], Distribution::Default, &device);
//! let w = Tensor::<4>::random([4, 3, 3, 3], Distribution::Default, &device);
//! let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
//! let ours = gen_kernels::conv2d(x.clone(), w.clone(), None, options.clone());
//! let burns = burn::tensor::module::conv2d(x, w, None, options);
//! assert_eq!(ours.dims(), [2, 4, 8, 8]);
//! let diff: f32 = (ours - burns).abs().max().into_scalar();
//! assert!(diff < 1e-4);
//! ```

mod attention;
mod batch_norm;
mod conv;
#[cfg(feature = "flex")]
mod flex;
#[cfg(feature = "flex")]
mod gemm;
mod linear;
#[cfg(feature = "flex")]
mod math;
mod norm;
mod pointwise;

pub use attention::self_attention;
pub use batch_norm::batch_norm_train;
#[cfg(feature = "flex")]
pub use conv::geom::Geometry;
pub use conv::{conv_transpose2d, conv2d};
pub use linear::{linear, linear_transposed};
pub use norm::layer_norm;
pub use pointwise::{Pointwise, gelu, silu};

use burn::tensor::Device;

/// `GEN_KERNELS`, read once.
#[cfg(feature = "flex")]
fn kernels_setting() -> Option<&'static str> {
    static SETTING: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    SETTING
        .get_or_init(|| std::env::var("GEN_KERNELS").ok())
        .as_deref()
}

/// Whether 3x3 stride-1 convolutions may use Winograd's algorithm
/// (`GEN_KERNELS` is not `im2col`).
#[cfg(feature = "flex")]
fn winograd_enabled() -> bool {
    kernels_setting() != Some("im2col")
}

/// Whether this crate's kernels run on `device`: a flex device (or an
/// autodiff one over flex), the `flex` feature compiled in, and
/// `GEN_KERNELS` not set to `burn`.
pub fn fast_path(device: &Device) -> bool {
    #[cfg(feature = "flex")]
    {
        kernels_setting() != Some("burn") && device.clone().inner() == Device::flex()
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = device;
        false
    }
}
