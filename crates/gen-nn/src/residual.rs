//! The residual block of diffusion UNets (Ho et al. 2020, appendix B; the
//! improved DDPM of Nichol & Dhariwal 2021): GroupNorm, SiLU, 3x3 conv,
//! plus the projected time embedding, then GroupNorm, SiLU, 3x3 conv,
//! added to the input (through a 1x1 conv when the width changes),
//! optionally followed by [`SpatialAttention`].

use burn::module::Module;
use burn::nn::conv::Conv2dConfig;
use burn::nn::{GroupNorm, GroupNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use crate::attention::SpatialAttention;
use crate::conv::{Conv2d, conv2d, conv3x3};
use crate::linear::linear;
use crate::norm::group_norm_silu;

/// A residual block with time conditioning; see the [module docs](self).
#[derive(Module, Debug)]
pub struct ResidualBlock {
    /// The first normalisation.
    pub norm1: GroupNorm,
    /// The first 3x3 convolution.
    pub conv1: Conv2d,
    /// The projection of the embedding to the block's channels.
    pub time: Linear,
    /// The second normalisation.
    pub norm2: GroupNorm,
    /// The second 3x3 convolution.
    pub conv2: Conv2d,
    /// The 1x1 convolution of the input when the width changes.
    pub skip: Option<Conv2d>,
    /// Attention after the block.
    pub attention: Option<SpatialAttention>,
}

impl ResidualBlock {
    /// A block from `cin` to `cout` channels reading an embedding of
    /// `emb` values, with GroupNorm in `groups` groups, followed by
    /// attention with `heads` heads if given.
    pub fn new(
        cin: usize,
        cout: usize,
        emb: usize,
        groups: usize,
        heads: Option<usize>,
        device: &Device,
    ) -> Self {
        Self {
            norm1: GroupNormConfig::new(groups, cin).init(device),
            conv1: conv3x3(cin, cout, 1, device),
            time: LinearConfig::new(emb, cout).init(device),
            norm2: GroupNormConfig::new(groups, cout).init(device),
            conv2: conv3x3(cout, cout, 1, device),
            skip: (cin != cout).then(|| Conv2dConfig::new([cin, cout], [1, 1]).init(device)),
            attention: heads.map(|heads| SpatialAttention::new(cout, groups, heads, device)),
        }
    }

    /// `emb` is what the time projection reads (the embedding, or its
    /// SiLU, as the network decides once for all its blocks).
    ///
    /// # Shapes
    /// `x`: `[b, cin, h, w]`, `emb`: `[b, emb]` -> `[b, cout, h, w]`.
    pub fn forward(&self, x: Tensor<4>, emb: Tensor<2>) -> Tensor<4> {
        let h = conv2d(&self.conv1, group_norm_silu(&self.norm1, x.clone()));
        let [b, c, _, _] = h.dims();
        let h = h + linear(&self.time, emb).reshape([b, c, 1, 1]);
        let h = conv2d(&self.conv2, group_norm_silu(&self.norm2, h));
        let x = match &self.skip {
            Some(conv) => conv2d(conv, x),
            None => x,
        };
        let out = x + h;
        match &self.attention {
            Some(a) => a.forward(out),
            None => out,
        }
    }
}
