//! A UNet denoiser for images (Ronneberger et al. 2015, in the form of Ho
//! et al. 2020, appendix B, and the improved DDPM of Nichol & Dhariwal 2021).
//!
//! - `conv_in` (3x3) to `base_channels`;
//! - one level per entry of `channel_mults`: `res_blocks` residual blocks
//!   (GroupNorm, SiLU, 3x3 conv, plus the projected time embedding, then
//!   GroupNorm, SiLU, 3x3 conv; a 1x1 conv on the skip path when the width
//!   changes), self-attention after each block at resolutions of at most
//!   `attention_max_resolution`, and a strided 3x3 conv halving the
//!   resolution after every level but the last;
//! - a middle of two residual blocks with self-attention between them;
//! - the mirror image going up (`res_blocks + 1` blocks per level, each
//!   fed the matching down-path activation concatenated on the channels;
//!   nearest-neighbour 2x upsampling followed by a 3x3 conv);
//! - GroupNorm, SiLU and a zero-initialised 3x3 conv back to the image
//!   channels (the network starts by predicting 0).
//!
//! The timestep (and optional class, with a null class for
//! classifier-free guidance) enters every residual block through
//! [`Conditioning`]. The resolution is halved `channel_mults.len() - 1`
//! times, so the image size must be divisible by `2^(levels - 1)`:
//! 28 = 4 * 7 allows 3 levels (28, 14, 7), 32 and 64 allow 4 or more.
//!
//! Data is flat (`[B, C*H*W]`, see [`Denoiser`]); the UNet reshapes to
//! `[B, C, H, W]` and back.

use burn::config::Config;
use burn::module::Module;
use burn::nn::attention::{MhaInput, MultiHeadAttention, MultiHeadAttentionConfig};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{GroupNorm, GroupNormConfig, Initializer, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::silu;
use burn::tensor::{Device, Int, Tensor};
use gen_core::error::{Error as CoreError, ensure_nonzero};
use gen_core::rng::init_now;

use crate::denoiser::Denoiser;
use crate::embedding::Conditioning;
use crate::error::{Error, Result};

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
    /// per entry (at least one), each >= 1.
    #[config(default = "vec![1, 2, 2]")]
    pub channel_mults: Vec<usize>,
    /// Residual blocks per level on the way down (one more on the way up),
    /// >= 1.
    #[config(default = 1)]
    pub res_blocks: usize,
    /// Self-attention follows every residual block at resolutions of at
    /// most this many pixels across (0: only in the middle).
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
            let attends = self.attends(level) || level + 1 == self.channel_mults.len();
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

    /// Whether the blocks of `level` have self-attention.
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
        let block = |cin: usize, cout: usize, attention: bool| ResBlock {
            norm1: GroupNormConfig::new(self.groups, cin).init(device),
            conv1: conv3(cin, cout, 1, device),
            time: LinearConfig::new(emb, cout).init(device),
            norm2: GroupNormConfig::new(self.groups, cout).init(device),
            conv2: conv3(cout, cout, 1, device),
            skip: (cin != cout).then(|| Conv2dConfig::new([cin, cout], [1, 1]).init(device)),
            attention: attention.then(|| Attention {
                norm: GroupNormConfig::new(self.groups, cout).init(device),
                mha: MultiHeadAttentionConfig::new(cout, self.num_heads)
                    .with_dropout(0.0)
                    .init(device),
            }),
        };

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
        }))
    }
}

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
    fn forward(&self, x: Tensor<4>, emb: Tensor<2>) -> Tensor<4> {
        let h = self.conv1.forward(silu(self.norm1.forward(x.clone())));
        let [b, c, _, _] = h.dims();
        let h = h + self.time.forward(silu(emb)).reshape([b, c, 1, 1]);
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

/// Self-attention over the pixels, with a residual connection.
#[derive(Module, Debug)]
struct Attention {
    norm: GroupNorm,
    mha: MultiHeadAttention,
}

impl Attention {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, c, h, w] = x.dims();
        let seq = self
            .norm
            .forward(x.clone())
            .reshape([b, c, h * w])
            .swap_dims(1, 2);
        let out = self.mha.forward(MhaInput::self_attn(seq)).context;
        x + out.swap_dims(1, 2).reshape([b, c, h, w])
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
}

impl UNet {
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
        let emb = self.cond.forward(t, class);
        let mut h = self.conv_in.forward(x);
        let mut skips = vec![h.clone()];
        for level in &self.down {
            for block in &level.blocks {
                h = block.forward(h, emb.clone());
                skips.push(h.clone());
            }
            if let Some(conv) = &level.resample {
                h = conv.forward(h);
                skips.push(h.clone());
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

    fn forward(&self, x: Tensor<2>, t: Tensor<1>, class: Option<Tensor<1, Int>>) -> Tensor<2> {
        let [b, f] = x.dims();
        let (c, s) = (self.image_channels, self.image_size);
        self.forward_images(x.reshape([b, c, s, s]), t, class)
            .reshape([b, f])
    }
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn gradients_reach_every_level() {
        let dev = Device::flex().autodiff();
        let net = tiny(28, vec![1, 2, 2]).init(&dev).unwrap();
        let x = Tensor::<2>::ones([1, 784], &dev);
        let t = Tensor::<1>::from_floats([10.0], &dev);
        let loss = (net.forward(x, t, None) - 1.0).powi_scalar(2).mean();
        let grads = loss.backward();
        let g = net.conv_out.weight.val().grad(&grads).unwrap();
        assert!(g.abs().sum().into_scalar::<f64>() > 0.0);
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
