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

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{GroupNorm, GroupNormConfig, Initializer, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::{silu, softmax};
use burn::tensor::{Device, Int, Tensor};
use gen_core::error::{Error as CoreError, ensure_nonzero};
use gen_core::interop::TorchModule;
use gen_core::rng::init_now;
use serde::{Deserialize, Deserializer, Serialize};

use crate::denoiser::{Denoiser, DenoiserConfig};
use crate::embedding::Conditioning;
use crate::error::{Error, Result};

/// How the levels of a [`UNet`] are arranged; see the [module docs](self).
///
/// Serialised as `"full"` or `"compact"`. A missing field (or `null`)
/// reads as [`Full`](Self::Full), so run configs written before the field
/// existed still load: burn's `Config` derive does not forward
/// `#[serde(default)]` on fields, so the default lives in this type's
/// `Deserialize` (serde deserialises a missing field as an absent option).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UNetLayout {
    /// `res_blocks` blocks per level down and `res_blocks + 1` up, each up
    /// block fed one down activation; attention at low resolutions and in
    /// the middle; SiLU before each block's time projection.
    #[default]
    Full,
    /// `bench_ddpm.py`'s: one block per level down (its output the only
    /// skip), the last level as the middle with attention, one block per
    /// level up; the time projection reads the embedding directly.
    Compact,
}

impl<'de> Deserialize<'de> for UNetLayout {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        match Option::<String>::deserialize(deserializer)?.as_deref() {
            None | Some("full") => Ok(Self::Full),
            Some("compact") => Ok(Self::Compact),
            Some(other) => Err(<D::Error as serde::de::Error>::unknown_variant(
                other,
                &["full", "compact"],
            )),
        }
    }
}

/// Shape of a [`UNet`].
#[derive(Config, Debug, PartialEq)]
pub struct UNetConfig {
    /// Height and width of the (square) images, >= 1, divisible by
    /// `2^(channel_mults.len() - 1)`.
    pub image_size: usize,
    /// Image channels (1 for grey, 3 for RGB), >= 1.
    #[config(default = 1)]
    pub image_channels: usize,
    /// Channels of the first level, >= 1; also the number of sinusoids of
    /// the time embedding (whose MLP is 4 times as wide).
    #[config(default = 32)]
    pub base_channels: usize,
    /// Per level, its channels as a multiple of `base_channels`; one level
    /// per entry (at least one; two for the compact layout), each >= 1.
    #[config(default = "vec![1, 2, 2]")]
    pub channel_mults: Vec<usize>,
    /// How the levels are arranged (default [`UNetLayout::Full`]; a config
    /// without this field reads as `Full`).
    #[config(default = "UNetLayout::Full")]
    pub layout: UNetLayout,
    /// Residual blocks per level on the way down (one more on the way up),
    /// >= 1; exactly 1 in the compact layout.
    #[config(default = 1)]
    pub res_blocks: usize,
    /// Self-attention follows every residual block at resolutions of at
    /// most this many pixels across (0: only in the middle). Ignored by
    /// the compact layout, which has attention in the middle only.
    #[config(default = 8)]
    pub attention_max_resolution: usize,
    /// Attention heads, >= 1, dividing the channels of every level that
    /// has attention.
    #[config(default = 4)]
    pub num_heads: usize,
    /// GroupNorm groups, >= 1, dividing every level's channels.
    #[config(default = 8)]
    pub groups: usize,
    /// Classes of a class-conditional model (>= 1), or `None`.
    #[config(default = "None")]
    pub num_classes: Option<usize>,
}

impl UNetConfig {
    /// A configuration for square images of `size` with `channels`
    /// channels: 3 levels (`[1, 2, 2]`) for 28x28 (MNIST), 4 levels
    /// (`[1, 2, 2, 2]`) for 32x32 and (`[1, 2, 2, 4]`) for 64x64 and
    /// larger; attention at 8x8 and below.
    pub fn for_size(size: usize, channels: usize) -> Self {
        let mults = match size {
            0..=28 => vec![1, 2, 2],
            29..=32 => vec![1, 2, 2, 2],
            _ => vec![1, 2, 2, 4],
        };
        Self::new(size)
            .with_image_channels(channels)
            .with_channel_mults(mults)
    }

    /// The compact layout with the levels of [`for_size`](Self::for_size),
    /// base 32, GroupNorm groups 8 and one attention head (in the middle).
    /// For 28x28 with one channel this is exactly the UNet of
    /// `bench_ddpm.py` (levels `[1, 2, 2]`: 28, 14, 7; 583,713
    /// parameters).
    pub fn compact(size: usize, channels: usize) -> Self {
        Self::for_size(size, channels)
            .with_layout(UNetLayout::Compact)
            .with_num_heads(1)
            .with_attention_max_resolution(0)
    }

    /// How many times the resolution is halved.
    pub fn downsamples(&self) -> usize {
        self.channel_mults.len().saturating_sub(1)
    }

    /// Checks the ranges documented on each field.
    ///
    /// # Errors
    /// [`Error::ImageSize`] for a size the levels cannot halve;
    /// [`gen_core::Error::InvalidConfig`] naming the first other wrong
    /// field.
    pub fn validate(&self) -> Result<()> {
        ensure_nonzero("image_size", self.image_size)?;
        ensure_nonzero("image_channels", self.image_channels)?;
        ensure_nonzero("base_channels", self.base_channels)?;
        ensure_nonzero("res_blocks", self.res_blocks)?;
        ensure_nonzero("num_heads", self.num_heads)?;
        ensure_nonzero("groups", self.groups)?;
        if self.channel_mults.is_empty() {
            return Err(CoreError::config("channel_mults", "needs at least one level").into());
        }
        if self.layout == UNetLayout::Compact {
            if self.res_blocks != 1 {
                return Err(CoreError::config(
                    "res_blocks",
                    format!(
                        "must be 1 in the compact layout (one block per level each way), not {}",
                        self.res_blocks
                    ),
                )
                .into());
            }
            if self.channel_mults.len() < 2 {
                return Err(CoreError::config(
                    "channel_mults",
                    "needs at least two levels in the compact layout (the last is the middle)",
                )
                .into());
            }
        }
        if let Some(k) = self.num_classes {
            ensure_nonzero("num_classes", k)?;
        }
        let downsamples = self.downsamples();
        let divisor = 1usize
            .checked_shl(downsamples as u32)
            .filter(|d| *d <= self.image_size)
            .unwrap_or(usize::MAX);
        if divisor == usize::MAX || !self.image_size.is_multiple_of(divisor) {
            return Err(Error::ImageSize {
                size: self.image_size,
                downsamples,
                divisor: 1usize.checked_shl(downsamples as u32).unwrap_or(usize::MAX),
            });
        }
        for (level, &m) in self.channel_mults.iter().enumerate() {
            ensure_nonzero("channel_mults", m)?;
            let c = m * self.base_channels;
            if !c.is_multiple_of(self.groups) || !self.base_channels.is_multiple_of(self.groups) {
                return Err(CoreError::config(
                    "groups",
                    format!(
                        "{} does not divide the {c} channels of level {level} (or the base {})",
                        self.groups, self.base_channels
                    ),
                )
                .into());
            }
            let last = level + 1 == self.channel_mults.len();
            let attends = match self.layout {
                UNetLayout::Full => self.attends(level) || last,
                UNetLayout::Compact => last,
            };
            if attends && !c.is_multiple_of(self.num_heads) {
                return Err(CoreError::config(
                    "num_heads",
                    format!(
                        "{} does not divide the {c} channels of level {level}, which has attention",
                        self.num_heads
                    ),
                )
                .into());
            }
        }
        Ok(())
    }

    /// Whether the blocks of `level` have self-attention (full layout).
    fn attends(&self, level: usize) -> bool {
        (self.image_size >> level) <= self.attention_max_resolution
    }

    /// Builds the model on `device` (initialised now: see
    /// [`gen_core::rng::init_now`]).
    ///
    /// # Errors
    /// As [`validate`](Self::validate).
    pub fn init(&self, device: &Device) -> Result<UNet> {
        self.validate()?;
        let base = self.base_channels;
        let emb = 4 * base;
        let block = |cin: usize, cout: usize, attention: bool| {
            let heads = attention.then_some(self.num_heads);
            ResBlock::new(cin, cout, emb, self.groups, heads, device)
        };
        let (down, middle, up, ch) = match self.layout {
            UNetLayout::Full => self.full_levels(&block, device),
            UNetLayout::Compact => self.compact_levels(&block, device),
        };
        Ok(init_now(UNet {
            conv_in: conv3(self.image_channels, base, 1, device),
            cond: Conditioning::new(base.max(2), emb, self.num_classes, device),
            down,
            middle,
            up,
            norm_out: GroupNormConfig::new(self.groups, ch).init(device),
            conv_out: Conv2dConfig::new([ch, self.image_channels], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_initializer(Initializer::Zeros)
                .init(device),
            image_channels: self.image_channels,
            image_size: self.image_size,
            config: self.clone(),
        }))
    }

    /// The down levels, the middle, the up levels and the channels of the
    /// last up level, in the full layout.
    fn full_levels(
        &self,
        block: &dyn Fn(usize, usize, bool) -> ResBlock,
        device: &Device,
    ) -> Levels {
        let base = self.base_channels;
        let levels = self.channel_mults.len();
        let mut ch = base;
        let mut skips = vec![base];
        let mut down = Vec::with_capacity(levels);
        for (level, &m) in self.channel_mults.iter().enumerate() {
            let out = base * m;
            let mut blocks = Vec::with_capacity(self.res_blocks);
            for _ in 0..self.res_blocks {
                blocks.push(block(ch, out, self.attends(level)));
                ch = out;
                skips.push(ch);
            }
            let resample = (level + 1 < levels).then(|| {
                skips.push(ch);
                conv3(ch, ch, 2, device)
            });
            down.push(Level { blocks, resample });
        }
        let middle = [block(ch, ch, true), block(ch, ch, false)];
        let mut up = Vec::with_capacity(levels);
        for (level, &m) in self.channel_mults.iter().enumerate().rev() {
            let out = base * m;
            let mut blocks = Vec::with_capacity(self.res_blocks + 1);
            for _ in 0..=self.res_blocks {
                let skip = skips.pop().unwrap_or(0);
                blocks.push(block(ch + skip, out, self.attends(level)));
                ch = out;
            }
            let resample = (level > 0).then(|| conv3(ch, ch, 1, device));
            up.push(Level { blocks, resample });
        }
        (down, middle, up, ch)
    }

    /// The same in the compact layout: `down` has one entry per level but
    /// the last (block, strided conv); `up` starts with the last level's
    /// upsampling conv alone (no blocks), then one entry per level from the
    /// second-to-last to the first (block, then the upsampling conv
    /// towards the next level, except for the first level).
    fn compact_levels(
        &self,
        block: &dyn Fn(usize, usize, bool) -> ResBlock,
        device: &Device,
    ) -> Levels {
        let widths: Vec<usize> = self
            .channel_mults
            .iter()
            .map(|m| m * self.base_channels)
            .collect();
        let (&last, above) = widths.split_last().expect("validated: at least two levels");
        let mut ch = self.base_channels;
        let mut down = Vec::with_capacity(above.len());
        for &out in above {
            down.push(Level {
                blocks: vec![block(ch, out, false)],
                resample: Some(conv3(out, out, 2, device)),
            });
            ch = out;
        }
        let middle = [block(ch, last, true), block(last, last, false)];
        ch = last;
        let mut up = Vec::with_capacity(widths.len());
        up.push(Level {
            blocks: Vec::new(),
            resample: Some(conv3(ch, ch, 1, device)),
        });
        for (level, &out) in above.iter().enumerate().rev() {
            let blocks = vec![block(ch + out, out, false)];
            ch = out;
            let resample = (level > 0).then(|| conv3(ch, ch, 1, device));
            up.push(Level { blocks, resample });
        }
        (down, middle, up, ch)
    }
}

/// What [`UNetConfig::init`] assembles: down levels, middle, up levels and
/// the channels entering the output head.
type Levels = (Vec<Level>, [ResBlock; 2], Vec<Level>, usize);

/// A 3x3 convolution with padding 1 and the given stride.
fn conv3(cin: usize, cout: usize, stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([cin, cout], [3, 3])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(device)
}

/// Residual block with time conditioning and optional self-attention.
#[derive(Module, Debug)]
struct ResBlock {
    norm1: GroupNorm,
    conv1: Conv2d,
    time: Linear,
    norm2: GroupNorm,
    conv2: Conv2d,
    skip: Option<Conv2d>,
    attention: Option<Attention>,
}

impl ResBlock {
    /// A block from `cin` to `cout` channels reading an embedding of `emb`
    /// values, followed by attention with `heads` heads if given.
    fn new(
        cin: usize,
        cout: usize,
        emb: usize,
        groups: usize,
        heads: Option<usize>,
        device: &Device,
    ) -> Self {
        Self {
            norm1: GroupNormConfig::new(groups, cin).init(device),
            conv1: conv3(cin, cout, 1, device),
            time: LinearConfig::new(emb, cout).init(device),
            norm2: GroupNormConfig::new(groups, cout).init(device),
            conv2: conv3(cout, cout, 1, device),
            skip: (cin != cout).then(|| Conv2dConfig::new([cin, cout], [1, 1]).init(device)),
            attention: heads.map(|heads| Attention::new(cout, groups, heads, device)),
        }
    }

    /// `emb` is what the time projection reads: the embedding (compact
    /// layout) or its SiLU (full layout), computed once by the caller.
    fn forward(&self, x: Tensor<4>, emb: Tensor<2>) -> Tensor<4> {
        let h = self.conv1.forward(silu(self.norm1.forward(x.clone())));
        let [b, c, _, _] = h.dims();
        let h = h + self.time.forward(emb).reshape([b, c, 1, 1]);
        let h = self.conv2.forward(silu(self.norm2.forward(h)));
        let x = match &self.skip {
            Some(conv) => conv.forward(x),
            None => x,
        };
        let out = x + h;
        match &self.attention {
            Some(a) => a.forward(out),
            None => out,
        }
    }
}

/// Self-attention over the pixels with a residual connection; see the
/// [module docs](self).
#[derive(Module, Debug)]
struct Attention {
    norm: GroupNorm,
    qkv: Conv2d,
    proj: Conv2d,
    #[module(skip)]
    heads: usize,
}

impl Attention {
    /// Attention over `channels` channels (divisible by `heads` and
    /// `groups`).
    fn new(channels: usize, groups: usize, heads: usize, device: &Device) -> Self {
        Self {
            norm: GroupNormConfig::new(groups, channels).init(device),
            qkv: Conv2dConfig::new([channels, 3 * channels], [1, 1]).init(device),
            proj: Conv2dConfig::new([channels, channels], [1, 1]).init(device),
            heads,
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, c, h, w] = x.dims();
        let (heads, n) = (self.heads, h * w);
        let d = c / heads;
        // [b, 3c, h, w] as [b, 3 * heads, d, n]: q is channels 0..c, k
        // c..2c, v 2c..3c (the script's `reshape(b, 3, c, h * w)`), and
        // head i holds channels i*d..(i+1)*d of each.
        let qkv = self
            .qkv
            .forward(self.norm.forward(x.clone()))
            .reshape([b, 3 * heads, d, n]);
        let q = qkv.clone().narrow(1, 0, heads).swap_dims(2, 3); // [b, heads, n, d]
        let k = qkv.clone().narrow(1, heads, heads); // [b, heads, d, n]
        let v = qkv.narrow(1, 2 * heads, heads).swap_dims(2, 3); // [b, heads, n, d]
        let scale = (d as f64).powf(-0.5);
        // a[i, j]: query pixel i attends to key pixel j.
        let a = softmax(q.matmul(k) * scale, 3);
        let o = a.matmul(v).swap_dims(2, 3).reshape([b, c, h, w]);
        x + self.proj.forward(o)
    }
}

/// One level: its residual blocks and the resampling conv that follows.
#[derive(Module, Debug)]
struct Level {
    blocks: Vec<ResBlock>,
    resample: Option<Conv2d>,
}

/// Nearest-neighbour 2x upsampling.
fn upsample(x: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    x.reshape([b, c, h, 1, w, 1])
        .repeat_dim(3, 2)
        .repeat_dim(5, 2)
        .reshape([b, c, 2 * h, 2 * w])
}

/// The UNet; see the [module docs](self).
#[derive(Module, Debug)]
pub struct UNet {
    conv_in: Conv2d,
    cond: Conditioning,
    down: Vec<Level>,
    middle: [ResBlock; 2],
    up: Vec<Level>,
    norm_out: GroupNorm,
    conv_out: Conv2d,
    image_channels: usize,
    image_size: usize,
    /// What it was built from (its card in checkpoints).
    #[module(skip)]
    config: UNetConfig,
}

impl UNet {
    /// The layout the model was built with.
    pub fn layout(&self) -> UNetLayout {
        self.config.layout
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
        let full = self.config.layout == UNetLayout::Full;
        let emb = self.cond.forward(t, class);
        // What every block's time projection reads, computed once.
        let emb = if full { silu(emb) } else { emb };
        let mut h = self.conv_in.forward(x);
        // Full: every down activation is a skip; compact: block outputs only.
        let mut skips = if full { vec![h.clone()] } else { Vec::new() };
        for level in &self.down {
            for block in &level.blocks {
                h = block.forward(h, emb.clone());
                skips.push(h.clone());
            }
            if let Some(conv) = &level.resample {
                h = conv.forward(h);
                if full {
                    skips.push(h.clone());
                }
            }
        }
        for block in &self.middle {
            h = block.forward(h, emb.clone());
        }
        for level in &self.up {
            for block in &level.blocks {
                let skip = skips.pop().expect("one skip per up block, by construction");
                h = block.forward(Tensor::cat(vec![h, skip], 1), emb.clone());
            }
            if let Some(conv) = &level.resample {
                h = conv.forward(upsample(h));
            }
        }
        self.conv_out.forward(silu(self.norm_out.forward(h)))
    }
}

impl Denoiser for UNet {
    fn features(&self) -> usize {
        self.image_channels * self.image_size * self.image_size
    }

    fn example_shape(&self) -> Vec<usize> {
        vec![self.image_channels, self.image_size, self.image_size]
    }

    fn num_classes(&self) -> Option<usize> {
        self.cond.num_classes()
    }

    fn model_config(&self) -> Option<DenoiserConfig> {
        Some(DenoiserConfig::Unet(self.config.clone()))
    }

    fn forward(&self, x: Tensor<2>, t: Tensor<1>, class: Option<Tensor<1, Int>>) -> Tensor<2> {
        let [b, f] = x.dims();
        let (c, s) = (self.image_channels, self.image_size);
        self.forward_images(x.reshape([b, c, s, s]), t, class)
            .reshape([b, f])
    }
}

/// PyTorch names. The compact layout takes bench_ddpm.py's `UNet` names:
/// `temb.0` / `temb.2` (the time MLP), `conv_in`, `d<l>` and `ds<l>` (level
/// `l`'s block and strided conv, from 1), `m1`, `attn`, `m2`, `us<l>.conv`
/// (the upsampling conv into level `l`), `u<l>`, and `out.0` / `out.2` (the
/// output GroupNorm and conv); inside a block `n1`, `c1`, `t`, `n2`, `c2`,
/// `skip`, inside attention `n`, `qkv`, `proj`. The class embedding of a
/// conditional model stays `cond.classes.weight`. The full layout has no
/// PyTorch twin and keeps its own paths.
impl TorchModule for UNet {
    fn torch_key(&self, path: &str) -> String {
        match self.config.layout {
            UNetLayout::Full => None,
            UNetLayout::Compact => compact_torch_key(path, self.down.len() + 1),
        }
        .unwrap_or_else(|| path.to_owned())
    }
}

/// [`TorchModule::torch_key`] of a compact UNet with `levels` levels.
fn compact_torch_key(path: &str, levels: usize) -> Option<String> {
    let (module, param) = path.rsplit_once('.')?;
    let segments: Vec<&str> = module.split('.').collect();
    let index = |s: &str| s.parse::<usize>().ok();
    let (head, rest): (String, &[&str]) = match segments.as_slice() {
        ["cond", "linear1", rest @ ..] => ("temb.0".into(), rest),
        ["cond", "linear2", rest @ ..] => ("temb.2".into(), rest),
        ["norm_out", rest @ ..] => ("out.0".into(), rest),
        ["conv_out", rest @ ..] => ("out.2".into(), rest),
        ["down", i, "blocks", "0", rest @ ..] => (format!("d{}", index(i)? + 1), rest),
        ["down", i, "resample", rest @ ..] => (format!("ds{}", index(i)? + 1), rest),
        ["middle", "0", "attention", rest @ ..] => ("attn".into(), rest),
        ["middle", m, rest @ ..] => (format!("m{}", index(m)? + 1), rest),
        ["up", j, "blocks", "0", rest @ ..] => {
            (format!("u{}", levels.checked_sub(index(j)?)?), rest)
        }
        ["up", j, "resample", rest @ ..] => (
            format!("us{}.conv", levels.checked_sub(index(j)? + 1)?),
            rest,
        ),
        _ => return None,
    };
    let mut key = head;
    for segment in rest {
        key.push('.');
        key.push_str(match *segment {
            "norm1" => "n1",
            "conv1" => "c1",
            "time" => "t",
            "norm2" => "n2",
            "conv2" => "c2",
            "norm" => "n",
            other => other,
        });
    }
    key.push('.');
    key.push_str(param);
    Some(key)
}

#[cfg(test)]
mod tests {
    use burn::store::ModuleSnapshot;
    use burn::tensor::Distribution;

    use super::*;

    fn tiny(size: usize, mults: Vec<usize>) -> UNetConfig {
        UNetConfig::new(size)
            .with_base_channels(8)
            .with_groups(4)
            .with_num_heads(2)
            .with_channel_mults(mults)
    }

    #[test]
    fn shapes_for_28_32_and_64() {
        let dev = Device::flex();
        for (size, channels, mults) in [
            (28, 1, vec![1, 2, 2]),
            (32, 3, vec![1, 2, 2, 2]),
            (64, 3, vec![1, 1, 2, 2]),
        ] {
            let cfg = tiny(size, mults)
                .with_image_channels(channels)
                .with_num_classes(Some(10));
            let net = cfg.init(&dev).unwrap();
            let f = channels * size * size;
            assert_eq!(net.features(), f);
            assert_eq!(net.example_shape(), [channels, size, size]);
            let x = Tensor::<2>::ones([2, f], &dev);
            let t = Tensor::<1>::from_floats([3.0, 700.0], &dev);
            let y = net.forward(x.clone(), t.clone(), Some(Tensor::from_ints([1, 10], &dev)));
            assert_eq!(y.dims(), [2, f], "size {size}");
            // The zero-initialised output conv: the untrained net predicts 0.
            assert_eq!(y.abs().max().into_scalar::<f64>(), 0.0);
        }
        // The presets validate.
        for size in [28, 32, 64] {
            UNetConfig::for_size(size, 1).validate().unwrap();
        }
    }

    /// Whether a gradient exists and is not all zeros.
    fn reached<const D: usize>(g: Option<Tensor<D>>) -> bool {
        g.is_some_and(|g| g.abs().sum().into_scalar::<f64>() > 0.0)
    }

    #[test]
    fn gradients_reach_every_level() {
        let dev = Device::flex().autodiff();
        for cfg in [
            tiny(28, vec![1, 2, 2]),
            tiny(28, vec![1, 2, 2])
                .with_layout(UNetLayout::Compact)
                .with_num_heads(1),
            tiny(32, vec![1, 2, 2, 2])
                .with_layout(UNetLayout::Compact)
                .with_num_heads(2),
        ] {
            let mut net = cfg.init(&dev).unwrap();
            // The zero-initialised output conv would stop every gradient
            // below it; give it random weights.
            net.conv_out = Conv2dConfig::new([8, 1], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(&dev);
            let f = cfg.image_size * cfg.image_size;
            let x = Tensor::<2>::random([2, f], Distribution::Normal(0.0, 1.0), &dev);
            let t = Tensor::<1>::from_floats([10.0, 500.0], &dev);
            let loss = (net.forward(x, t, None) - 1.0).powi_scalar(2).mean();
            let grads = loss.backward();
            let layout = cfg.layout;
            assert!(reached(net.conv_out.weight.val().grad(&grads)));
            assert!(reached(net.conv_in.weight.val().grad(&grads)), "{layout:?}");
            for (i, level) in net.down.iter().chain(&net.up).enumerate() {
                for block in &level.blocks {
                    assert!(
                        reached(block.conv1.weight.val().grad(&grads)),
                        "{layout:?} {i}"
                    );
                    assert!(
                        reached(block.time.weight.val().grad(&grads)),
                        "{layout:?} {i}"
                    );
                }
                if let Some(conv) = &level.resample {
                    assert!(reached(conv.weight.val().grad(&grads)), "{layout:?} {i}");
                }
            }
            for block in &net.middle {
                assert!(reached(block.conv2.weight.val().grad(&grads)), "{layout:?}");
            }
            let attention = net.middle[0].attention.as_ref().unwrap();
            assert!(reached(attention.qkv.weight.val().grad(&grads)));
            assert!(reached(attention.proj.weight.val().grad(&grads)));
        }
    }

    #[test]
    fn compact_is_the_benchmark_unet() {
        let dev = Device::flex();
        let cfg = UNetConfig::compact(28, 1);
        assert_eq!(
            (
                cfg.base_channels,
                &cfg.channel_mults,
                cfg.num_heads,
                cfg.groups
            ),
            (32, &vec![1, 2, 2], 1, 8)
        );
        let net = cfg.init(&dev).unwrap();
        // bench_ddpm.py's count (burn counts GroupNorm's gamma and beta,
        // as PyTorch does).
        assert_eq!(net.num_params(), 583_713);
        assert_eq!(net.layout(), UNetLayout::Compact);
        // The full layout's preset: the attention swap kept its count
        // (separate q, k, v, output linears and a 1x1 conv to q, k, v plus
        // a 1x1 output conv both have 4 (c^2 + c) parameters).
        let full = UNetConfig::for_size(28, 1).init(&dev).unwrap();
        assert_eq!(full.num_params(), 1_112_801);

        // The parameter paths, against the script's state_dict names.
        let paths: Vec<(String, Vec<usize>)> = net
            .collect(None, None, false)
            .into_iter()
            .map(|t| (t.name, t.shape.to_vec()))
            .collect();
        let count: usize = paths.iter().map(|(_, s)| s.iter().product::<usize>()).sum();
        assert_eq!(count, 583_713);
        let names: Vec<&str> = paths.iter().map(|(n, _)| n.as_str()).collect();
        for block in [
            "down.0.blocks.0",
            "down.1.blocks.0",
            "middle.0",
            "middle.1",
            "up.1.blocks.0",
            "up.2.blocks.0",
        ] {
            for part in [
                "norm1.gamma",
                "conv1.weight",
                "time.weight",
                "norm2.beta",
                "conv2.bias",
            ] {
                let path = format!("{block}.{part}");
                assert!(names.contains(&path.as_str()), "{path} in {names:?}");
            }
        }
        for path in [
            "conv_in.weight",
            "cond.linear1.weight",
            "cond.linear2.bias",
            "down.0.resample.weight",
            "down.1.resample.weight",
            "down.1.blocks.0.skip.weight",
            "middle.0.attention.norm.gamma",
            "middle.0.attention.qkv.weight",
            "middle.0.attention.proj.bias",
            "up.0.resample.weight",
            "up.1.resample.weight",
            "up.1.blocks.0.skip.weight",
            "up.2.blocks.0.skip.weight",
            "norm_out.gamma",
            "conv_out.weight",
        ] {
            assert!(names.contains(&path), "{path} in {names:?}");
        }
        assert!(
            !names
                .iter()
                .any(|n| n.starts_with("down.2") || n.starts_with("up.3"))
        );
        assert!(!names.contains(&"down.0.blocks.0.skip.weight"));
        assert!(!names.contains(&"up.2.resample.weight"));
        assert!(
            !names
                .iter()
                .any(|n| n.contains("attention") && !n.starts_with("middle.0"))
        );
        if std::env::var_os("UNET_PRINT_PATHS").is_some() {
            for (name, shape) in &paths {
                println!("{name} {shape:?}");
            }
        }
    }

    #[test]
    fn compact_shapes_for_28_and_32() {
        let dev = Device::flex();
        for (size, channels, mults) in [(28, 1, vec![1, 2, 2]), (32, 3, vec![1, 2, 2, 2])] {
            let cfg = UNetConfig::compact(size, channels);
            assert_eq!(cfg.channel_mults, mults);
            let net = cfg.init(&dev).unwrap();
            assert_eq!(net.down.len(), mults.len() - 1);
            assert_eq!(net.up.len(), mults.len());
            assert!(net.up[0].blocks.is_empty());
            let f = channels * size * size;
            let x = Tensor::<2>::ones([2, f], &dev);
            let t = Tensor::<1>::from_floats([3.0, 700.0], &dev);
            let y = net.forward(x, t, None);
            assert_eq!(y.dims(), [2, f], "size {size}");
            assert_eq!(y.abs().max().into_scalar::<f64>(), 0.0);
        }
    }

    #[test]
    fn compact_needs_one_block_and_two_levels() {
        let compact = |mults: Vec<usize>| {
            tiny(28, mults)
                .with_layout(UNetLayout::Compact)
                .with_num_heads(1)
        };
        for (cfg, field) in [
            (compact(vec![1, 2, 2]).with_res_blocks(2), "res_blocks"),
            (compact(vec![1]), "channel_mults"),
        ] {
            let err = cfg.init(&Device::flex()).unwrap_err();
            assert!(
                matches!(&err, Error::Core(CoreError::InvalidConfig { field: f, .. }) if *f == field),
                "{field}: {err}"
            );
        }
        // Heads must divide the middle's width only: 16 channels there.
        compact(vec![1, 2]).with_num_heads(16).validate().unwrap();
        assert!(compact(vec![1, 2]).with_num_heads(3).validate().is_err());
    }

    #[test]
    fn the_layout_reads_from_json_and_defaults_to_full() {
        let cfg = UNetConfig::compact(28, 1);
        let json = serde_json::to_value(&cfg).unwrap();
        assert_eq!(json["layout"], "compact");
        let back: UNetConfig = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, cfg);
        // A run config written before the field existed.
        let mut old = serde_json::to_value(UNetConfig::for_size(28, 1)).unwrap();
        old.as_object_mut().unwrap().remove("layout");
        let back: UNetConfig = serde_json::from_value(old).unwrap();
        assert_eq!(back, UNetConfig::for_size(28, 1));
        assert_eq!(back.layout, UNetLayout::Full);
        let mut bad = json;
        bad["layout"] = "wide".into();
        let err = serde_json::from_value::<UNetConfig>(bad).unwrap_err();
        assert!(err.to_string().contains("wide"), "{err}");
    }

    /// The attention written out with loops in `f64` from the module's
    /// weights: `x + proj(o)`, `o` per head from `softmax(q^T k / sqrt(d))`.
    #[allow(clippy::needless_range_loop)] // index loops read as the formula
    fn attention_by_hand(att: &Attention, x: &Tensor<4>, heads: usize) -> Vec<f64> {
        let [b, c, h, w] = x.dims();
        let n = h * w;
        let d = c / heads;
        let host = |t: Tensor<4>| -> Vec<f64> {
            t.into_data()
                .convert::<f64>()
                .try_into_vec::<f64>()
                .unwrap()
        };
        let host1 = |t: Tensor<1>| -> Vec<f64> {
            t.into_data()
                .convert::<f64>()
                .try_into_vec::<f64>()
                .unwrap()
        };
        let xs = host(x.clone());
        let xn = host(att.norm.forward(x.clone()));
        let wqkv = host(att.qkv.weight.val()); // [3c, c, 1, 1]
        let bqkv = host1(att.qkv.bias.as_ref().unwrap().val());
        let wp = host(att.proj.weight.val()); // [c, c, 1, 1]
        let bp = host1(att.proj.bias.as_ref().unwrap().val());
        let mut out = vec![0.0; b * c * n];
        for bi in 0..b {
            // qkv[o][p] for o in 0..3c.
            let qkv: Vec<Vec<f64>> = (0..3 * c)
                .map(|o| {
                    (0..n)
                        .map(|p| {
                            bqkv[o]
                                + (0..c)
                                    .map(|i| wqkv[o * c + i] * xn[(bi * c + i) * n + p])
                                    .sum::<f64>()
                        })
                        .collect()
                })
                .collect();
            let mut o = vec![vec![0.0; n]; c];
            for head in 0..heads {
                let chans = head * d..(head + 1) * d;
                for i in 0..n {
                    let scores: Vec<f64> = (0..n)
                        .map(|j| {
                            chans
                                .clone()
                                .map(|ch| qkv[ch][i] * qkv[c + ch][j])
                                .sum::<f64>()
                                / (d as f64).sqrt()
                        })
                        .collect();
                    let max = scores.iter().cloned().fold(f64::MIN, f64::max);
                    let e: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                    let z: f64 = e.iter().sum();
                    for ch in chans.clone() {
                        o[ch][i] = (0..n).map(|j| e[j] / z * qkv[2 * c + ch][j]).sum();
                    }
                }
            }
            for co in 0..c {
                for p in 0..n {
                    let idx = (bi * c + co) * n + p;
                    out[idx] =
                        xs[idx] + bp[co] + (0..c).map(|ch| wp[co * c + ch] * o[ch][p]).sum::<f64>();
                }
            }
        }
        out
    }

    #[test]
    fn attention_heads_split_q_k_v_channels() {
        let dev = Device::flex();
        let (c, heads) = (4, 1);
        let one = Attention::new(c, 2, heads, &dev);
        let x = Tensor::<4>::random([2, c, 2, 3], Distribution::Normal(0.0, 1.0), &dev);
        let y1: Vec<f64> = one
            .forward(x.clone())
            .into_data()
            .convert::<f64>()
            .try_into_vec()
            .unwrap();
        let want1 = attention_by_hand(&one, &x, 1);
        for (a, b) in y1.iter().zip(&want1) {
            assert!((a - b).abs() < 1e-5, "{y1:?} vs {want1:?}");
        }
        // The same weights split into two heads of 2 channels.
        let two = Attention {
            heads: 2,
            ..one.clone()
        };
        let y2: Vec<f64> = two
            .forward(x.clone())
            .into_data()
            .convert::<f64>()
            .try_into_vec()
            .unwrap();
        let want2 = attention_by_hand(&two, &x, 2);
        for (a, b) in y2.iter().zip(&want2) {
            assert!((a - b).abs() < 1e-5, "{y2:?} vs {want2:?}");
        }
        let diff: f64 = y1.iter().zip(&y2).map(|(a, b)| (a - b).abs()).sum();
        assert!(diff > 1e-3, "{diff}");
    }

    #[test]
    fn bad_sizes_and_widths_are_typed_errors() {
        let dev = Device::flex();
        // 28 cannot be halved 3 times.
        let err = tiny(28, vec![1, 2, 2, 2]).init(&dev).unwrap_err();
        assert!(
            matches!(
                err,
                Error::ImageSize {
                    size: 28,
                    downsamples: 3,
                    divisor: 8
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("not divisible by 2^3 = 8"));
        assert!(matches!(
            tiny(30, vec![1, 2, 2]).validate(),
            Err(Error::ImageSize { .. })
        ));
        assert!(matches!(
            tiny(2, vec![1, 1, 1, 1]).validate(),
            Err(Error::ImageSize { .. })
        ));
        for (cfg, field) in [
            (tiny(28, vec![]), "channel_mults"),
            (tiny(28, vec![1, 0, 2]), "channel_mults"),
            (tiny(28, vec![1, 2, 2]).with_groups(3), "groups"),
            (tiny(28, vec![1, 2, 2]).with_num_heads(3), "num_heads"),
            (tiny(28, vec![1, 2, 2]).with_res_blocks(0), "res_blocks"),
            (tiny(0, vec![1]), "image_size"),
            (tiny(28, vec![1]).with_num_classes(Some(0)), "num_classes"),
        ] {
            let err = cfg.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
    }
}
