//! # gen-nn: the shared building blocks
//!
//! Layers that more than one model uses, written once, public, and used
//! identically everywhere (burn-nn's `modules/`, candle's `attention.rs`,
//! `resnet.rs`, `embeddings.rs`):
//!
//! | module | what it holds |
//! |---|---|
//! | [`embedding`] | the sinusoidal timestep embedding, and [`Conditioning`]: its MLP plus a class table with a null class |
//! | [`attention`] | [`attend`] (scaled dot-product, optionally causal), [`SpatialAttention`] over pixels, [`MultiHeadAttention`] over sequences with a [`KvCache`] |
//! | [`residual`] | [`ResidualBlock`]: GroupNorm/SiLU/conv with a time projection, optional attention |
//! | [`resample`] | nearest-neighbour upsampling |
//! | [`norm`] | [`layer_norm`] and [`batch_norm`] (gen-kernels on flex) and normalisation + activation pairs ([`group_norm_silu`]) |
//! | [`activation`] | [`gelu`] and [`silu`] (gen-kernels on flex), [`leaky_relu`] with a fast backward |
//! | [`mod@linear`] | the linear seam ([`linear()`], [`linear_transposed`] for a tied output layer): gen-kernels on flex, burn elsewhere |
//! | [`conv`] | the convolution seam ([`conv2d`], [`conv_transpose2d`], [`conv3x3`]): gen-kernels on flex, burn elsewhere |
//!
//! The fast path is chosen here, at the block (candle's `use_flash_attn`,
//! diffusers' attention dispatch): models call these functions and never
//! name a kernel. Parameter names and shapes are burn's, so checkpoints
//! and PyTorch exports do not depend on which kernel ran.
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//! use gen_nn::{KvCache, MultiHeadAttention};
//!
//! let dev = Device::flex();
//! let attention = MultiHeadAttention::new(16, 4, true, true, &dev);
//! let x = Tensor::<3>::zeros([2, 5, 16], &dev);
//! let mut cache = KvCache::new();
//! let y = attention.forward_cached(x, &mut cache);
//! assert_eq!((y.dims(), cache.len()), ([2, 5, 16], 5));
//! ```

pub mod activation;
pub mod attention;
pub mod conv;
pub mod embedding;
pub mod linear;
pub mod norm;
pub mod resample;
pub mod residual;

pub use activation::{gelu, leaky_relu, silu};
pub use attention::{KvCache, MultiHeadAttention, SpatialAttention, attend};
pub use conv::{conv_transpose2d, conv2d, conv2d_with_weight, conv3x3};
pub use embedding::{Conditioning, sinusoidal_embedding};
pub use linear::{linear, linear_transposed, linear_with_weight};
pub use norm::{batch_norm, group_norm_silu, layer_norm};
pub use resample::upsample_nearest;
pub use residual::ResidualBlock;
