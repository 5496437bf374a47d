//! # gen-core: the common trait layer of the generative family
//!
//! Every model crate (`gen-gan`, `gen-vae`, `gen-diffusion`) builds on these
//! pieces, and this crate knows nothing about GANs, VAEs or diffusion:
//!
//! | module | what it holds |
//! |---|---|
//! | [`device`] | the one mapping from a backend name (`flex`, `ndarray`, `wgpu`, `cuda`) to a burn `Device` |
//! | [`remote`] | devices hosted by a burn remote server (`remote:ws://host:port`, Iroh), with typed errors |
//! | [`sample`] | [`Sample`]: draw `n` samples on a device, optionally conditioned on labels |
//! | [`train`] | [`TrainStep`] (one optimisation step, single or adversarial), [`BatchSource`], [`Stateful`], [`Metrics`] |
//! | [`optim`] | [`Optimized`](optim::Optimized): a module with burn's Adam/AdamW, a learning-rate schedule, clipping, a moving average and the non-finite guard |
//! | [`trainer`] | [`Trainer`]: steps or epochs, progress, JSON-lines metrics, atomic checkpoints, resume |
//! | [`checkpoint`] | the checkpoint format and its store |
//! | [`card`] | [`ModelCard`](card::ModelCard): the family and kind-tagged config a checkpoint holds, to rebuild its model |
//! | [`rng`] | [`SeededRng`]: host-side, serialisable randomness that is the same on every backend |
//! | [`grid`] | PNG grids of grey or RGB image batches |
//! | [`nats`] | likelihood units: bits per dimension, log-mean-exp |
//! | [`interop`] | [`TorchModule`](interop::TorchModule): weights in and out of PyTorch as safetensors and `state_dict` files, in PyTorch's names and layouts |
//! | [`labels`] | class labels for every family: checks, upload, one-hot, the null class, [`LabelError`](labels::LabelError) |
//! | [`error`] | [`Error`], which the other crates wrap |
//!
//! Models take `&Device` and have no backend type parameter (burn 0.22):
//!
//! ```
//! use burn::tensor::Tensor;
//! use gen_core::{device::device, rng::SeededRng};
//!
//! let dev = device("flex")?;
//! let z: Tensor<2> = SeededRng::new(0).normal([4, 16], &dev);
//! assert_eq!(z.dims(), [4, 16]);
//! # Ok::<(), gen_core::Error>(())
//! ```

pub mod card;
pub mod checkpoint;
pub mod curves;
pub mod device;
pub mod error;
pub mod grid;
pub mod interop;
pub mod labels;
pub mod nats;
pub mod optim;
pub mod remote;
pub mod rng;
pub mod sample;
pub mod train;
pub mod trainer;

pub use checkpoint::{CheckpointStore, StateReader, StateWriter};
pub use device::Backend;
pub use error::{Error, Result};
pub use grid::{GridOptions, ValueRange, save_grid};
pub use rng::SeededRng;
pub use sample::Sample;
pub use train::{Batch, BatchSource, Metrics, Stateful, TrainStep};
pub use trainer::{Progress, TrainOutcome, Trainer, TrainerConfig};

/// Re-exported so that downstream crates and users name one burn.
pub use burn;
