//! [`UNetConfig`] and [`UNetLayout`]: the shape of a [`UNet`].

use burn::config::Config;
use burn::tensor::Device;
use gen_core::error::{Error as CoreError, ensure_nonzero};
use gen_core::rng::init_now;
use serde::{Deserialize, Deserializer, Serialize};

use super::{CompactUNet, FullUNet, UNet};
use crate::error::{Error, Result};

/// How the levels of a [`UNet`] are arranged; see the [module docs](super).
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

gen_core::enum_names!(UNetLayout, "layout", {
    UNetLayout::Full => "full",
    UNetLayout::Compact => "compact",
});

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
    pub(crate) fn attends(&self, level: usize) -> bool {
        (self.image_size >> level) <= self.attention_max_resolution
    }

    /// Builds the model on `device` (initialised now: see
    /// [`gen_core::rng::init_now`]).
    ///
    /// # Errors
    /// As [`validate`](Self::validate).
    pub fn init(&self, device: &Device) -> Result<UNet> {
        self.validate()?;
        Ok(init_now(match self.layout {
            UNetLayout::Full => UNet::Full(FullUNet::new(self, device)),
            UNetLayout::Compact => UNet::Compact(CompactUNet::new(self, device)),
        }))
    }
}
