//! The compact layout, the UNet of the PyTorch reference benchmark
//! `bench_ddpm.py`: one block per level down (its output the level's only
//! skip) then a strided conv; the last level as the middle (block,
//! attention, block); going up, for every level but the last, nearest 2x
//! upsampling and a 3x3 conv, the skip concatenated, one block; each
//! block's time projection reads the embedding itself.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use gen_nn::{ResidualBlock, conv2d, conv3x3};

use super::{Ends, Level, UNetConfig, block, down, middle_and_up};

/// The UNet in the compact layout.
#[derive(Module, Debug)]
pub struct CompactUNet {
    /// Input conv, conditioning and output head.
    pub ends: Ends,
    /// One entry per level but the last: its block, then its strided conv.
    pub down: Vec<Level>,
    /// The last level: a block with attention, then a block.
    pub middle: [ResidualBlock; 2],
    /// The last level's upsampling conv alone (no blocks), then one entry
    /// per level from the second-to-last to the first: its block, then
    /// the upsampling conv towards the next level (none for the first).
    pub up: Vec<Level>,
    /// What it was built from.
    #[module(skip)]
    pub config: UNetConfig,
}

impl CompactUNet {
    /// Builds the network of a validated `config`.
    pub(super) fn new(config: &UNetConfig, device: &Device) -> Self {
        let widths: Vec<usize> = config
            .channel_mults
            .iter()
            .map(|m| m * config.base_channels)
            .collect();
        let (&last, above) = widths.split_last().expect("validated: at least two levels");
        let mut ch = config.base_channels;
        let mut down = Vec::with_capacity(above.len());
        for &out in above {
            down.push(Level {
                blocks: vec![block(config, ch, out, false, device)],
                resample: Some(conv3x3(out, out, 2, device)),
            });
            ch = out;
        }
        let middle = [
            block(config, ch, last, true, device),
            block(config, last, last, false, device),
        ];
        ch = last;
        let mut up = Vec::with_capacity(widths.len());
        up.push(Level {
            blocks: Vec::new(),
            resample: Some(conv3x3(ch, ch, 1, device)),
        });
        for (level, &out) in above.iter().enumerate().rev() {
            let blocks = vec![block(config, ch + out, out, false, device)];
            ch = out;
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
        let h = conv2d(&self.ends.conv_in, x);
        // Block outputs are the only skips.
        let mut skips = Vec::with_capacity(self.down.len());
        let h = down(&self.down, h, &emb, &mut skips, false);
        let h = middle_and_up(&self.middle, &self.up, h, &emb, skips);
        self.ends.output(h)
    }
}
