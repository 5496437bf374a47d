//! # gen-eval: how good are the samples
//!
//! Evaluation for every family of the workspace, kept out of gen-core so
//! that a crate that trains or samples does not compile the classifier's
//! embedded weights (0.86 MB) or nalgebra.
//!
//! | module | what it holds |
//! |---|---|
//! | [`classifier`] | [`MnistClassifier`] (pretrained, embedded) and [`ImageQuality`]: classifier-FID, KID, classifier score, coverage, precision/recall of generated digits |
//! | [`metrics`] | Fréchet distance, KID, classifier score, class coverage, precision/recall, density/coverage on host `f64` feature sets |
//! | [`distance`] | MMD and energy distance between low-dimensional sample sets, on tensors |
//!
//! Errors are gen-core's [`Error`](gen_core::Error) (shapes, configs,
//! non-finite results): this crate adds no failure of its own.
//!
//! ```
//! use burn::tensor::Device;
//! use gen_core::SeededRng;
//! use gen_eval::distance::energy_distance;
//!
//! let dev = Device::flex();
//! let mut rng = SeededRng::new(0);
//! let a = rng.normal([256, 2], &dev);
//! let b = rng.normal([256, 2], &dev) + 3.0;
//! assert!(energy_distance(a.clone(), b)? > energy_distance(a.clone(), a)?);
//! # Ok::<(), gen_core::Error>(())
//! ```

pub mod classifier;
pub mod distance;
pub mod metrics;

pub use classifier::{
    ImageQuality, MnistClassifier, MnistClassifierConfig, QualityConfig, QualityReport,
    to_unit_range,
};
pub use distance::{energy_distance, mmd_rbf};
