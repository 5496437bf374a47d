//! The small DDPM UNet of `../shared/bench/pytorch/bench_ddpm.py`, layer for
//! layer, on burn's modules, with the script's names. The project's own
//! [`UNet`] (gen-diffusion) has this topology as
//! `UNetConfig::compact(28, 1)`, which the side-by-side runner now uses;
//! this copy stays for `examples/bench_ops.rs` (each layer timed at its own
//! shape) and for `tests/unet_reference.rs`, which checks that the compact
//! UNet computes this network's function given its weights.
//!
//! ```text
//! time emb: sinusoidal(32) -> Linear(32,128) SiLU Linear(128,128)
//! conv_in 1->32 (3x3)
//! down: ResBlock(32->32)@28 [skip] -> Conv3x3 s2 -> ResBlock(32->64)@14 [skip] -> Conv3x3 s2
//! mid @7: ResBlock(64) -> SelfAttention(64, 1 head, 49 tokens) -> ResBlock(64)
//! up:   nearest x2 + Conv3x3 64->64 -> cat skip(64) -> ResBlock(128->64)@14
//!       nearest x2 + Conv3x3 64->64 -> cat skip(32) -> ResBlock(96->32)@28
//! out: GroupNorm(8,32) SiLU Conv3x3 32->1
//! ResBlock: GN(8) SiLU Conv3x3 (+ Linear(temb)) GN(8) SiLU Conv3x3, 1x1 skip when widths differ
//! ```
//!
//! [`UNet`]: generative::diffusion::UNet

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::interpolate::{Interpolate2d, Interpolate2dConfig, InterpolateMode};
use burn::nn::{GroupNorm, GroupNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::{silu, softmax};
use burn::tensor::{Device, Tensor};

/// Sinusoids of the timestep embedding.
pub const TDIM: usize = 32;
/// Width of the timestep embedding MLP.
pub const EDIM: usize = 128;

/// `[sin(t w), cos(t w)]` with `w_k = 10000^(-k / (dim/2))`, as
/// `timestep_embedding` of the PyTorch script.
///
/// # Shapes
/// `t`: `[B]` -> `[B, dim]`.
pub fn timestep_embedding(t: Tensor<1>, dim: usize) -> Tensor<2> {
    let device = t.device();
    let half = dim / 2;
    let freqs: Vec<f32> = (0..half)
        .map(|k| (-(10_000f64.ln()) * k as f64 / half as f64).exp() as f32)
        .collect();
    let freqs = Tensor::<1>::from_floats(freqs.as_slice(), &device);
    let a = t.unsqueeze_dim::<2>(1) * freqs.unsqueeze_dim::<2>(0);
    Tensor::cat(vec![a.clone().sin(), a.cos()], 1)
}

fn conv3(cin: usize, cout: usize, stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([cin, cout], [3, 3])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(device)
}

fn conv1(cin: usize, cout: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([cin, cout], [1, 1]).init(device)
}

/// GN SiLU Conv3x3 (+ time) GN SiLU Conv3x3, plus the (1x1) skip.
#[derive(Module, Debug)]
pub struct ResBlock {
    n1: GroupNorm,
    c1: Conv2d,
    t: Linear,
    n2: GroupNorm,
    c2: Conv2d,
    skip: Option<Conv2d>,
}

impl ResBlock {
    /// A block from `cin` to `cout` channels.
    pub fn new(cin: usize, cout: usize, device: &Device) -> Self {
        Self {
            n1: GroupNormConfig::new(8, cin).init(device),
            c1: conv3(cin, cout, 1, device),
            t: LinearConfig::new(EDIM, cout).init(device),
            n2: GroupNormConfig::new(8, cout).init(device),
            c2: conv3(cout, cout, 1, device),
            skip: (cin != cout).then(|| conv1(cin, cout, device)),
        }
    }

    /// `x`: `[B, cin, H, W]`, `e`: `[B, 128]` -> `[B, cout, H, W]`.
    pub fn forward(&self, x: Tensor<4>, e: Tensor<2>) -> Tensor<4> {
        let h = generative::nn::conv2d(&self.c1, silu(self.n1.forward(x.clone())));
        let [b, c, _, _] = h.dims();
        let h = h + self.t.forward(e).reshape([b, c, 1, 1]);
        let h = generative::nn::conv2d(&self.c2, silu(self.n2.forward(h)));
        let x = match &self.skip {
            Some(conv) => generative::nn::conv2d(conv, x),
            None => x,
        };
        h + x
    }
}

/// Single-head self-attention over the pixels: GN, a 1x1 conv to q, k, v,
/// softmax(q^T k / sqrt(c)), a 1x1 output projection, residual.
#[derive(Module, Debug)]
pub struct Attn {
    n: GroupNorm,
    qkv: Conv2d,
    proj: Conv2d,
}

impl Attn {
    /// The block for `c` channels.
    pub fn new(c: usize, device: &Device) -> Self {
        Self {
            n: GroupNormConfig::new(8, c).init(device),
            qkv: conv1(c, 3 * c, device),
            proj: conv1(c, c, device),
        }
    }

    /// `[B, c, H, W]` -> the same shape.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, c, h, w] = x.dims();
        let qkv =
            generative::nn::conv2d(&self.qkv, self.n.forward(x.clone())).reshape([b, 3, c, h * w]);
        let part = |i: usize| qkv.clone().narrow(1, i, 1).reshape([b, c, h * w]);
        let (q, k, v) = (part(0), part(1), part(2));
        // a[b, i, j] = sum_c q[b, c, i] k[b, c, j]
        let scale = (c as f64).powf(-0.5);
        let a = softmax(q.swap_dims(1, 2).matmul(k) * scale, 2);
        // o[b, c, i] = sum_j a[b, i, j] v[b, c, j]
        let o = v.matmul(a.swap_dims(1, 2)).reshape([b, c, h, w]);
        x + generative::nn::conv2d(&self.proj, o)
    }
}

/// Nearest 2x upsampling then a 3x3 conv.
#[derive(Module, Debug)]
pub struct Up {
    up: Interpolate2d,
    conv: Conv2d,
}

impl Up {
    /// The block for `c` channels.
    pub fn new(c: usize, device: &Device) -> Self {
        Self {
            up: Interpolate2dConfig::new()
                .with_scale_factor(Some([2.0, 2.0]))
                .with_mode(InterpolateMode::Nearest)
                .init(),
            conv: conv3(c, c, 1, device),
        }
    }

    /// `[B, c, H, W]` -> `[B, c, 2H, 2W]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        generative::nn::conv2d(&self.conv, self.up.forward(x))
    }
}

/// The UNet of the module docs.
#[derive(Module, Debug)]
pub struct ReferenceUNet {
    temb1: Linear,
    temb2: Linear,
    conv_in: Conv2d,
    d1: ResBlock,
    ds1: Conv2d,
    d2: ResBlock,
    ds2: Conv2d,
    m1: ResBlock,
    attn: Option<Attn>,
    m2: ResBlock,
    us2: Up,
    u2: ResBlock,
    us1: Up,
    u1: ResBlock,
    out_norm: GroupNorm,
    out_conv: Conv2d,
}

impl ReferenceUNet {
    /// Builds the network on `device`; `attention: false` is the script's
    /// `--no-attn`.
    pub fn new(attention: bool, device: &Device) -> Self {
        Self {
            temb1: LinearConfig::new(TDIM, EDIM).init(device),
            temb2: LinearConfig::new(EDIM, EDIM).init(device),
            conv_in: conv3(1, 32, 1, device),
            d1: ResBlock::new(32, 32, device),
            ds1: conv3(32, 32, 2, device),
            d2: ResBlock::new(32, 64, device),
            ds2: conv3(64, 64, 2, device),
            m1: ResBlock::new(64, 64, device),
            attn: attention.then(|| Attn::new(64, device)),
            m2: ResBlock::new(64, 64, device),
            us2: Up::new(64, device),
            u2: ResBlock::new(128, 64, device),
            us1: Up::new(64, device),
            u1: ResBlock::new(96, 32, device),
            out_norm: GroupNormConfig::new(8, 32).init(device),
            out_conv: conv3(32, 1, 1, device),
        }
    }

    /// The predicted noise.
    ///
    /// # Shapes
    /// `x`: `[B, 1, 28, 28]`, `t`: `[B]` (float timesteps) -> `[B, 1, 28, 28]`.
    pub fn forward(&self, x: Tensor<4>, t: Tensor<1>) -> Tensor<4> {
        let e = self
            .temb2
            .forward(silu(self.temb1.forward(timestep_embedding(t, TDIM))));
        let h1 = self
            .d1
            .forward(generative::nn::conv2d(&self.conv_in, x), e.clone());
        let h2 = self
            .d2
            .forward(generative::nn::conv2d(&self.ds1, h1.clone()), e.clone());
        let mut h = self
            .m1
            .forward(generative::nn::conv2d(&self.ds2, h2.clone()), e.clone());
        if let Some(attn) = &self.attn {
            h = attn.forward(h);
        }
        let h = self.m2.forward(h, e.clone());
        let h = self
            .u2
            .forward(Tensor::cat(vec![self.us2.forward(h), h2], 1), e.clone());
        let h = self
            .u1
            .forward(Tensor::cat(vec![self.us1.forward(h), h1], 1), e);
        generative::nn::conv2d(&self.out_conv, silu(self.out_norm.forward(h)))
    }
}
