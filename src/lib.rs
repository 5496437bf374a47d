//! # generative: GANs, VAEs, diffusion models and Transformers on burn
//!
//! One dependency for the whole family. Each crate is re-exported under a
//! short name:
//!
//! | name | crate | what it holds |
//! |---|---|---|
//! | [`core`] | `gen-core` | devices, the `Sample` and `TrainStep` traits, the `Trainer` (progress, metrics, checkpoints, resume), the shared optimisation layer, labels, model cards, seeding, PNG grids, PyTorch interop, errors |
//! | [`eval`] | `gen-eval` | the pretrained MNIST classifier, classifier-FID, KID, precision/recall, MMD and energy distance |
//! | [`data`] | `gen-data` | the embedded UCI digits, toy 2-D sets, MNIST and Fashion-MNIST, image folders, CelebA, text corpora, transforms, a seeded parallel loader |
//! | [`nn`] | `gen-nn` | the shared building blocks: embeddings, attention with a key/value cache, residual blocks, the convolution seam |
//! | [`kernels`] | `gen-kernels` | our CPU kernels on burn-flex (convolutions, GELU, SiLU, layer norm, self-attention; forward and backward) behind burn's backend-extension seam; burn's operations elsewhere |
//! | [`gan`] | `gen-gan` | the MLP GAN, DCGAN and the adversarial trainer |
//! | [`vae`] | `gen-vae` | variational autoencoders |
//! | [`ar`] | `gen-ar` | autoregressive Transformers: a GPT, tokenizers, next-token training, KV-cached decoding |
//! | [`diffusion`] | `gen-diffusion` | noise schedules, samplers, the UNet and MLP denoisers, diffusion training |
//!
//! [`saved::open`] rebuilds any saved model of the workspace from its
//! checkpoint alone (the model card every trainer writes).
//!
//! Backends are Cargo features of this crate: `flex` (default, CPU),
//! `ndarray` (CPU), `wgpu` (GPU), `cuda`. The one that runs is picked at run
//! time by name with [`core::device::device`].
//!
//! ```
//! use generative::core::{Sample, SeededRng, device::device};
//! use generative::gan::MlpGanConfig;
//!
//! let dev = device("flex")?;
//! let generator = MlpGanConfig::new(64).init_generator(&dev)?;
//! let images = generator.sample(16, None, &mut SeededRng::new(0), &dev)?;
//! assert_eq!(images.dims(), [16, 64]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub use burn;
pub use gen_ar as ar;
pub use gen_core as core;
pub use gen_data as data;
pub use gen_diffusion as diffusion;
pub use gen_eval as eval;
pub use gen_gan as gan;
pub use gen_kernels as kernels;
pub use gen_nn as nn;
pub use gen_vae as vae;

pub mod saved;

/// The README's code, compiled as a doctest so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

#[cfg(doctest)]
#[doc = include_str!("../docs/interop.md")]
pub struct InteropDoctests;

#[cfg(doctest)]
#[doc = include_str!("../docs/data.md")]
pub struct DataDoctests;

#[cfg(doctest)]
#[doc = include_str!("../docs/metrics.md")]
pub struct MetricsDoctests;
