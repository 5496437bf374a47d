//! The [`Denoiser`] trait: what training and sampling need from a network.
//!
//! One convention for every denoiser: data is flat, `[B, F]`, as
//! [`gen_core::Batch`] delivers it; an image model reshapes to
//! `[B, C, H, W]` inside and flattens its output again. Timesteps are
//! floats (`[B]`), so that samplers with fractional timesteps (Euler's
//! linspace spacing) can call the same network. Class labels are integers
//! in `0..=num_classes`; the label `num_classes` is the "null" class of
//! classifier-free guidance, and `None` means the null class for every
//! example.

use burn::module::Module;
use burn::tensor::{Int, Tensor};
use serde::{Deserialize, Serialize};

use crate::mlp_denoiser::MlpDenoiserConfig;
use crate::unet::UNetConfig;

/// The shape of any denoiser of the crate, tagged with its kind: what a
/// checkpoint's model card holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "config", rename_all = "snake_case")]
pub enum DenoiserConfig {
    /// A [`UNet`](crate::UNet).
    Unet(UNetConfig),
    /// An [`MlpDenoiser`](crate::MlpDenoiser).
    Mlp(MlpDenoiserConfig),
}

/// A network that predicts the noise, the velocity or the clean sample from
/// a noisy sample and its timestep (which of them is the
/// [`Prediction`](crate::Prediction) it is trained for).
pub trait Denoiser: Module {
    /// The number of features of one example (the width of the flat data).
    fn features(&self) -> usize;

    /// The shape of one example: `[F]` for vectors, `[C, H, W]` for
    /// images; its product is [`features`](Self::features).
    fn example_shape(&self) -> Vec<usize> {
        vec![self.features()]
    }

    /// The number of real classes of a conditional model (the null class is
    /// this number); `None` for an unconditional model.
    fn num_classes(&self) -> Option<usize> {
        None
    }

    /// The config that rebuilds this network: what a checkpoint's model
    /// card holds. `None` (the default) for a network of your own.
    fn model_config(&self) -> Option<DenoiserConfig> {
        None
    }

    /// The prediction for noisy samples `x` at timesteps `t`.
    ///
    /// # Shapes
    /// `x`: `[B, F]`; `t`: `[B]`; `class`: `[B]` with values in
    /// `0..=num_classes` (ignored by an unconditional model). The result
    /// has the shape of `x`.
    fn forward(&self, x: Tensor<2>, t: Tensor<1>, class: Option<Tensor<1, Int>>) -> Tensor<2>;
}
