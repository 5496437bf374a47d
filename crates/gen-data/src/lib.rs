//! # gen-data: datasets and a seeded loader for the generative family
//!
//! Holds no models. Everything here is offline:
//!
//! | module | what it holds |
//! |---|---|
//! | [`digits`] | the UCI 8x8 handwritten digits (1,797 images), embedded in the crate |
//! | [`toy`] | toy 2-D distributions: 8 Gaussians, two moons, swiss roll, checkerboard |
//! | [`loader`] | [`TensorDataset`] and [`Loader`]: seeded shuffling, batching, epochs, into tensors on any device |
//! | [`error`] | [`Error`], wrapping gen-core's |
//!
//! ```
//! use gen_core::BatchSource;
//! use gen_data::{Digits, Loader};
//!
//! let digits = Digits::embedded()?.to_dataset();
//! let mut loader = Loader::new(digits, 64, 0)?;
//! let batch = loader.batch(0, &burn::tensor::Device::flex())?;
//! assert_eq!(batch.data.dims(), [64, 64]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod digits;
pub mod error;
pub mod loader;
pub mod toy;

pub use digits::Digits;
pub use error::{Error, Result};
pub use loader::{Loader, TensorDataset};
pub use toy::Toy2d;
