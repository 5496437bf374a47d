//! A UNet denoiser for images (Ronneberger et al. 2015, in the form of Ho
//! et al. 2020, appendix B, and the improved DDPM of Nichol & Dhariwal 2021),
//! in two layouts ([`UNetLayout`]).
//!
//! [`UNetLayout::Full`] (the default):
//!
//! - `conv_in` (3x3) to `base_channels`;
//! - one level per entry of `channel_mults`: `res_blocks` residual blocks,
//!   self-attention after each block at resolutions of at most
//!   `attention_max_resolution`, and a strided 3x3 conv halving the
//!   resolution after every level but the last;
//! - a middle of two residual blocks with self-attention between them;
//! - the mirror image going up (`res_blocks + 1` blocks per level, each
//!   fed one down-path activation (`conv_in`'s, each block's, each
//!   downsampling's) concatenated on the channels; nearest-neighbour 2x
//!   upsampling followed by a 3x3 conv);
//! - GroupNorm, SiLU and a zero-initialised 3x3 conv back to the image
//!   channels (the network starts by predicting 0);
//! - each block's time projection reads `silu(embedding)`.
//!
//! [`UNetLayout::Compact`], the UNet of the PyTorch reference benchmark
//! `bench_ddpm.py` ([`UNetConfig::compact`]`(28, 1)` is that network,
//! 583,713 parameters):
//!
//! - `conv_in` (3x3) to `base_channels`;
//! - every level but the last: one residual block (to the level's
//!   channels; its output is the level's skip), then a strided 3x3 conv;
//! - the last level is the middle: a residual block (from the previous
//!   level's channels to the last level's), self-attention, a residual
//!   block;
//! - going up, for every level but the last, from the second-to-last to
//!   the first: nearest 2x upsampling and a 3x3 conv, the level's skip
//!   concatenated, one residual block to the level's channels;
//! - GroupNorm, SiLU and a zero-initialised 3x3 conv back to the image
//!   channels;
//! - each block's time projection reads the embedding itself (the
//!   script's `t(e)`, with no SiLU in front).
//!
//! It needs `res_blocks = 1` and at least two levels, and has attention in
//! the middle only (`attention_max_resolution` is ignored).
//!
//! In both layouts a residual block is GroupNorm, SiLU, 3x3 conv, plus the
//! projected time embedding, then GroupNorm, SiLU, 3x3 conv, added to the
//! input (through a 1x1 conv when the width changes). Self-attention is
//! the form of Ho et al.'s code and of the script: GroupNorm, a 1x1 conv to
//! `3c` channels read as `q`, `k`, `v` (channels `0..c`, `c..2c`,
//! `2c..3c`), `softmax(q^T k / sqrt(d))` over the `h * w` pixels, a 1x1
//! output conv and a residual connection. With `num_heads` heads of
//! `d = c / num_heads` channels, head `i` uses channels `i*d..(i+1)*d` of
//! each of `q`, `k`, `v`; one head is exactly the script's `Attn`.
//!
//! The timestep (and optional class, with a null class for
//! classifier-free guidance) enters every residual block through
//! [`Conditioning`] (sinusoids of `base_channels` frequencies, then
//! Linear, SiLU, Linear to `4 * base_channels`, as the script's `temb`).
//! The resolution is halved `channel_mults.len() - 1` times, so the image
//! size must be divisible by `2^(levels - 1)`: 28 = 4 * 7 allows 3 levels
//! (28, 14, 7), 32 and 64 allow 4 or more.
//!
//! Data is flat (`[B, C*H*W]`, see [`Denoiser`]); the UNet reshapes to
//! `[B, C, H, W]` and back.
//!
//! The two layouts are two networks, [`FullUNet`] and [`CompactUNet`],
//! built from gen-nn's public blocks ([`ResidualBlock`],
//! [`SpatialAttention`](gen_nn::SpatialAttention), [`Conditioning`]);
//! [`UNet`] is either. Parameter paths start with the layout's name
//! (`Compact.conv_in.weight`); the PyTorch names of the compact layout are
//! bench_ddpm.py's (see [`torch`]).

mod compact;
mod config;
mod full;
#[cfg(test)]
mod tests;
pub mod torch;

use burn::module::Module;
use burn::nn::conv::Conv2dConfig;
use burn::nn::{GroupNorm, GroupNormConfig, Initializer, PaddingConfig2d};
use burn::tensor::{Device, Int, Tensor};
use gen_nn::{Conditioning, ResidualBlock, conv2d, group_norm_silu};

pub use compact::CompactUNet;
pub use config::{UNetConfig, UNetLayout};
pub use full::FullUNet;

use crate::denoiser::{Denoiser, DenoiserConfig};

/// One level of a UNet: its residual blocks and the resampling conv that
/// follows (strided going down; after a 2x upsampling going up).
#[derive(Module, Debug)]
pub struct Level {
    /// The residual blocks.
    pub blocks: Vec<ResidualBlock>,
    /// The resampling conv, if any.
    pub resample: Option<gen_nn::conv::Conv2d>,
}

/// What both layouts have at their ends: the input conv, the timestep
/// (and class) conditioning, and the output head.
#[derive(Module, Debug)]
pub struct Ends {
    /// 3x3 conv from the image channels to `base_channels`.
    pub conv_in: gen_nn::conv::Conv2d,
    /// The timestep (and class) embedding, `4 * base_channels` wide.
    pub cond: Conditioning,
    /// GroupNorm before the output conv.
    pub norm_out: GroupNorm,
    /// Zero-initialised 3x3 conv back to the image channels (the network
    /// starts by predicting 0).
    pub conv_out: gen_nn::conv::Conv2d,
}

impl Ends {
    fn new(config: &UNetConfig, last_channels: usize, device: &Device) -> Self {
        let base = config.base_channels;
        Self {
            conv_in: gen_nn::conv3x3(config.image_channels, base, 1, device),
            cond: Conditioning::new(base.max(2), 4 * base, config.num_classes, device),
            norm_out: GroupNormConfig::new(config.groups, last_channels).init(device),
            conv_out: Conv2dConfig::new([last_channels, config.image_channels], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_initializer(Initializer::Zeros)
                .init(device),
        }
    }

    fn output(&self, h: Tensor<4>) -> Tensor<4> {
        conv2d(&self.conv_out, group_norm_silu(&self.norm_out, h))
    }
}

/// The down path: each level's blocks, then its resampling conv. Every
/// block's output is pushed onto `skips`, and with `resampled` every
/// resampling's too.
fn down(
    levels: &[Level],
    mut h: Tensor<4>,
    emb: &Tensor<2>,
    skips: &mut Vec<Tensor<4>>,
    resampled: bool,
) -> Tensor<4> {
    for level in levels {
        for block in &level.blocks {
            h = block.forward(h, emb.clone());
            skips.push(h.clone());
        }
        if let Some(conv) = &level.resample {
            h = conv2d(conv, h);
            if resampled {
                skips.push(h.clone());
            }
        }
    }
    h
}

/// The middle blocks, then the up path: each level's blocks, each fed the
/// newest skip concatenated on the channels, then a 2x upsampling and its
/// conv.
fn middle_and_up(
    middle: &[ResidualBlock; 2],
    levels: &[Level],
    mut h: Tensor<4>,
    emb: &Tensor<2>,
    mut skips: Vec<Tensor<4>>,
) -> Tensor<4> {
    for block in middle {
        h = block.forward(h, emb.clone());
    }
    for level in levels {
        for block in &level.blocks {
            let skip = skips.pop().expect("one skip per up block, by construction");
            h = block.forward(Tensor::cat(vec![h, skip], 1), emb.clone());
        }
        if let Some(conv) = &level.resample {
            h = conv2d(conv, gen_nn::upsample_nearest(h));
        }
    }
    h
}

/// A residual block of `config` from `cin` to `cout` channels, with
/// attention when asked.
fn block(
    config: &UNetConfig,
    cin: usize,
    cout: usize,
    attention: bool,
    device: &Device,
) -> ResidualBlock {
    let heads = attention.then_some(config.num_heads);
    ResidualBlock::new(
        cin,
        cout,
        4 * config.base_channels,
        config.groups,
        heads,
        device,
    )
}

/// The UNet in either layout; see the [module docs](self).
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)] // one value per model
pub enum UNet {
    /// The full layout.
    Full(FullUNet),
    /// bench_ddpm.py's layout.
    Compact(CompactUNet),
}

impl UNet {
    /// The layout the model was built with.
    pub fn layout(&self) -> UNetLayout {
        self.config().layout
    }

    /// The config it was built from.
    pub fn config(&self) -> &UNetConfig {
        match self {
            UNet::Full(net) => &net.config,
            UNet::Compact(net) => &net.config,
        }
    }

    /// The prediction for noisy images.
    ///
    /// # Shapes
    /// `x`: `[B, C, H, W]` with the configured channels and size; `t`:
    /// `[B]`; `class`: `[B]`. The result has the shape of `x`.
    pub fn forward_images(
        &self,
        x: Tensor<4>,
        t: Tensor<1>,
        class: Option<Tensor<1, Int>>,
    ) -> Tensor<4> {
        let emb = self.ends().cond.forward(t, class);
        match self {
            UNet::Full(net) => net.forward_embedded(x, emb),
            UNet::Compact(net) => net.forward_embedded(x, emb),
        }
    }

    fn ends(&self) -> &Ends {
        match self {
            UNet::Full(net) => &net.ends,
            UNet::Compact(net) => &net.ends,
        }
    }
}

impl Denoiser for UNet {
    fn features(&self) -> usize {
        let c = self.config();
        c.image_channels * c.image_size * c.image_size
    }

    fn example_shape(&self) -> Vec<usize> {
        let c = self.config();
        vec![c.image_channels, c.image_size, c.image_size]
    }

    fn num_classes(&self) -> Option<usize> {
        self.ends().cond.num_classes()
    }

    fn model_config(&self) -> Option<DenoiserConfig> {
        Some(DenoiserConfig::Unet(self.config().clone()))
    }

    fn forward(&self, x: Tensor<2>, t: Tensor<1>, class: Option<Tensor<1, Int>>) -> Tensor<2> {
        let [b, f] = x.dims();
        let c = self.config();
        let (ch, s) = (c.image_channels, c.image_size);
        self.forward_images(x.reshape([b, ch, s, s]), t, class)
            .reshape([b, f])
    }
}
