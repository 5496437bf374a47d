//! # gen-data: datasets and a seeded loader for the generative family
//!
//! Holds no models. Offline first: everything reads local files, and only
//! the `download` feature adds network code.
//!
//! | module | what it holds |
//! |---|---|
//! | [`digits`] | the UCI 8x8 handwritten digits (1,797 images), embedded in the crate |
//! | [`toy`] | toy 2-D distributions: 8 Gaussians, two moons, swiss roll, checkerboard |
//! | [`idx`], [`mnist`] | the IDX format; MNIST and Fashion-MNIST with their published checksums |
//! | [`folder`] | folders of PNG, JPEG, PGM/PPM, BMP images, flat or one subfolder per class (the ORL faces too) |
//! | [`celeba`] | the CelebA layout: images, 40 attributes, partitions |
//! | [`text`] | text corpora (a file or a folder of `.txt` files), token streams split by position, random windows for autoregressive models |
//! | [`samples`] | samples written by any program (a `.npy` array or a folder of PNGs) read back to be scored with our metric |
//! | [`transform`] | centre crop, resize, grey/RGB, random flip, binarisation, value range |
//! | [`examples`] | [`Examples`], the view the loader batches; train/test splits |
//! | [`loader`] | [`Loader`]: seeded shuffling, parallel decoding with prefetch, epochs, into tensors on any device |
//! | [`burn_interop`] | any dataset as a burn `Dataset`, and a burn `Batcher`, for burn's `DataLoader` and `Learner` |
//! | `download` | (feature `download`) fetching MNIST / Fashion-MNIST into a cache, verified and atomic |
//! | [`error`] | [`Error`], naming the file and what was wrong |
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

pub mod burn_interop;
pub mod celeba;
pub mod digits;
#[cfg(feature = "download")]
pub mod download;
pub mod error;
pub mod examples;
pub mod folder;
pub mod idx;
pub mod loader;
pub mod mnist;
pub mod samples;
pub mod text;
pub mod toy;
pub mod transform;

pub use burn_interop::{BurnDataset, Example, ExampleBatcher};
pub use celeba::{CelebA, CelebASplit};
pub use digits::Digits;
pub use error::{Error, Result};
pub use examples::{Examples, IdxExamples, Subset, train_test_split};
pub use folder::{FileImages, ImageFolder};
pub use loader::{Loader, OnBadExample, TensorDataset};
pub use mnist::{IdxImages, IdxKind, Split, Verify};
pub use text::{TextCorpus, TokenStream, TokenWindows};
pub use toy::Toy2d;
pub use transform::{Binarize, Channels, Transform};
