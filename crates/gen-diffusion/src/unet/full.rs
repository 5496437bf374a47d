//! The full layout: `res_blocks` blocks per level down and
//! `res_blocks + 1` up, each up block fed one down activation (`conv_in`'s,
//! each block's, each downsampling's) concatenated on the channels;
//! attention after every block at low resolutions and in the middle; each
//! block's time projection reads `silu(embedding)`.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use gen_nn::silu;
use gen_nn::{ResidualBlock, conv2d, conv3x3};

use super::{Ends, Level, UNetConfig, block, down, middle_and_up};

/// The UNet in the full layout.
#[derive(Module, Debug)]
pub struct FullUNet {
    /// Input conv, conditioning and output head.
    pub ends: Ends,
    /// The levels going down, the first at full resolution.
    pub down: Vec<Level>,
    /// The middle: two blocks, attention after the first.
    pub middle: [ResidualBlock; 2],
    /// The levels going up, the lowest resolution first.
    pub up: Vec<Level>,
    /// What it was built from.
    #[module(skip)]
    pub config: UNetConfig,
}

impl FullUNet {
    /// Builds the network of a validated `config`.
    pub(super) fn new(config: &UNetConfig, device: &Device) -> Self {
        let base = config.base_channels;
        let levels = config.channel_mults.len();
        let mut ch = base;
        let mut skips = vec![base];
        let mut down = Vec::with_capacity(levels);
        for (level, &m) in config.channel_mults.iter().enumerate() {
            let out = base * m;
            let mut blocks = Vec::with_capacity(config.res_blocks);
            for _ in 0..config.res_blocks {
                blocks.push(block(config, ch, out, config.attends(level), device));
                ch = out;
                skips.push(ch);
            }
            let resample = (level + 1 < levels).then(|| {
                skips.push(ch);
                conv3x3(ch, ch, 2, device)
            });
            down.push(Level { blocks, resample });
        }
        let middle = [
            block(config, ch, ch, true, device),
            block(config, ch, ch, false, device),
        ];
        let mut up = Vec::with_capacity(levels);
        for (level, &m) in config.channel_mults.iter().enumerate().rev() {
            let out = base * m;
            let mut blocks = Vec::with_capacity(config.res_blocks + 1);
            for _ in 0..=config.res_blocks {
                let skip = skips.pop().unwrap_or(0);
                blocks.push(block(config, ch + skip, out, config.attends(level), device));
                ch = out;
            }
            let resample = (level > 0).then(|| conv3x3(ch, ch, 1, device));
            up.push(Level { blocks, resample });
        }
        Self {
            ends: Ends::new(config, ch, device),
            down,
            middle,
            up,
            config: config.clone(),
        }
    }

    /// The prediction for noisy images `x` given the conditioning vector
    /// `emb` (see [`UNet::forward_images`](super::UNet::forward_images)).
    pub fn forward_embedded(&self, x: Tensor<4>, emb: Tensor<2>) -> Tensor<4> {
        // What every block's time projection reads, computed once.
        let emb = silu(emb);
        let h = conv2d(&self.ends.conv_in, x);
        // Every down activation is a skip.
        let mut skips = vec![h.clone()];
        let h = down(&self.down, h, &emb, &mut skips, true);
        let h = middle_and_up(&self.middle, &self.up, h, &emb, skips);
        self.ends.output(h)
    }
}
