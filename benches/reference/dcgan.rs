//! The DCGAN of `../shared/bench/pytorch/bench_dcgan.py` written directly
//! on burn's modules, with a switch for how LeakyReLU is computed: burn's
//! `leaky_relu`, or `relu(x) * (1 - a) + x * a` (the same function; its
//! backward avoids the slow `mask_where` path of burn-flex). gen-gan's
//! `DcganConfig::new()` is the same network with burn's `leaky_relu`; this
//! copy measures what the other formulation would change.
//!
//! ```text
//! G: z=100 -> Linear(100, 128*7*7) -> ReLU -> 128x7x7
//!    -> ConvT(128,64,k4,s2,p1) -> BN(64) -> ReLU -> ConvT(64,1,k4,s2,p1) -> tanh
//! D: Conv(1,64,k4,s2,p1) -> LeakyReLU(0.2) -> Conv(64,128,k4,s2,p1) -> BN(128)
//!    -> LeakyReLU(0.2) -> flatten -> Linear(128*7*7, 1)
//! ```

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::{leaky_relu, relu, tanh};
use burn::tensor::{Device, Tensor};

/// Length of z.
pub const LATENT: usize = 100;
/// LeakyReLU's negative slope.
const SLOPE: f64 = 0.2;

/// LeakyReLU(0.2), through burn's op or as `relu(x) (1 - a) + x a`.
fn leaky(x: Tensor<4>, as_relu: bool) -> Tensor<4> {
    if as_relu {
        relu(x.clone()) * (1.0 - SLOPE) + x * SLOPE
    } else {
        leaky_relu(x, SLOPE)
    }
}

/// The generator.
#[derive(Module, Debug)]
pub struct RefGenerator {
    fc: Linear,
    up1: ConvTranspose2d,
    bn1: BatchNorm,
    up2: ConvTranspose2d,
}

impl RefGenerator {
    /// Builds it on `device`.
    pub fn new(device: &Device) -> Self {
        let up = |cin, cout| {
            ConvTranspose2dConfig::new([cin, cout], [4, 4])
                .with_stride([2, 2])
                .with_padding([1, 1])
                .init(device)
        };
        Self {
            fc: LinearConfig::new(LATENT, 128 * 7 * 7).init(device),
            up1: up(128, 64),
            bn1: BatchNormConfig::new(64).init(device),
            up2: up(64, 1),
        }
    }

    /// `z`: `[B, 100]` -> images `[B, 1, 28, 28]`.
    pub fn forward(&self, z: Tensor<2>) -> Tensor<4> {
        let b = z.dims()[0];
        let x = relu(self.fc.forward(z)).reshape([b, 128, 7, 7]);
        let x = relu(
            self.bn1
                .forward(generative::nn::conv_transpose2d(&self.up1, x)),
        );
        tanh(generative::nn::conv_transpose2d(&self.up2, x))
    }
}

/// The discriminator.
#[derive(Module, Debug)]
pub struct RefDiscriminator {
    c1: Conv2d,
    c2: Conv2d,
    bn2: BatchNorm,
    head: Linear,
    leaky_as_relu: bool,
}

impl RefDiscriminator {
    /// Builds it on `device`; `leaky_as_relu` picks the LeakyReLU
    /// formulation.
    pub fn new(leaky_as_relu: bool, device: &Device) -> Self {
        let down = |cin, cout| {
            Conv2dConfig::new([cin, cout], [4, 4])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        Self {
            c1: down(1, 64),
            c2: down(64, 128),
            bn2: BatchNormConfig::new(128).init(device),
            head: LinearConfig::new(128 * 7 * 7, 1).init(device),
            leaky_as_relu,
        }
    }

    /// `x`: `[B, 1, 28, 28]` -> logits `[B, 1]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let h = leaky(generative::nn::conv2d(&self.c1, x), self.leaky_as_relu);
        let h = leaky(
            self.bn2.forward(generative::nn::conv2d(&self.c2, h)),
            self.leaky_as_relu,
        );
        self.head.forward(h.flatten(1, 3))
    }
}
