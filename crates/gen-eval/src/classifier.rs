//! A small MNIST classifier: the feature extractor behind the family's
//! sample-quality metrics ("classifier-FID" and friends), so that they run
//! offline, on any backend, without a downloaded Inception network.
//!
//! The net is LeNet-like (LeCun et al., 1998):
//!
//! ```text
//! [b, 1, 28, 28] in [0, 1]
//!   -> (x - 0.1307) / 0.3081                 MNIST's mean and std
//!   -> conv 5x5 (1 -> 16), pad 2, relu, max-pool 2      [b, 16, 14, 14]
//!   -> conv 5x5 (16 -> 32), pad 2, relu, max-pool 2     [b, 32, 7, 7]
//!   -> flatten, linear 1568 -> 128, relu                [b, 128]  = features
//!   -> (dropout while training) linear 128 -> 10        [b, 10]   = logits
//! ```
//!
//! [`MnistClassifier::pretrained`] loads weights embedded in the crate
//! (`weights/mnist-classifier.bpk`, 0.86 MB, trained by
//! `examples/train_classifier.rs`; the command and its test accuracy are in
//! `crates/gen-eval/weights/README.md`). [`ImageQuality`] turns its features
//! and class probabilities into the metrics of [`crate::metrics`].
//!
//! # Input contract
//! Images are `[batch, 1, 28, 28]` with pixel values in `[0, 1]` (0 is the
//! black background, as in MNIST). Images in `[-1, 1]` (tanh outputs) go
//! through [`to_unit_range`] first, or through [`ImageQuality`] with
//! [`QualityConfig::input_range`] set to [`ValueRange::MinusOneToOne`].
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//! use gen_eval::classifier::MnistClassifier;
//!
//! let dev = Device::flex();
//! let net = MnistClassifier::pretrained(&dev)?;
//! let blank: Tensor<4> = Tensor::zeros([2, 1, 28, 28], &dev);
//! assert_eq!(net.features(blank.clone())?.dims(), [2, 128]);
//! assert_eq!(net.probs(blank)?.dims(), [2, 10]);
//! # Ok::<(), gen_core::Error>(())
//! ```

mod quality;

pub use quality::{ClassCoverage, Embedding, ImageQuality, QualityConfig, QualityReport};

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::store::ModuleRecord;
use burn::tensor::activation::{relu, softmax};
use burn::tensor::{Bytes, Device, Tensor};

use gen_core::ValueRange;
use gen_core::error::{Error, Result, ensure_nonzero};
use gen_core::rng::init_now;

/// The image side the classifier takes (MNIST's 28).
pub const IMAGE_SIZE: usize = 28;
/// MNIST's pixel mean over the train set, on the `[0, 1]` scale.
pub const MNIST_MEAN: f64 = 0.1307;
/// MNIST's pixel standard deviation over the train set, on the `[0, 1]`
/// scale.
pub const MNIST_STD: f64 = 0.3081;

/// The pretrained weights (burnpack, the default [`MnistClassifierConfig`]).
static PRETRAINED: &[u8] = include_bytes!("../weights/mnist-classifier.bpk");

/// Shape of an [`MnistClassifier`]. The defaults are the pretrained net's.
#[derive(Config, Debug, PartialEq)]
pub struct MnistClassifierConfig {
    /// Output channels of the first 5x5 convolution, >= 1.
    #[config(default = 16)]
    pub conv1_channels: usize,
    /// Output channels of the second 5x5 convolution, >= 1.
    #[config(default = 32)]
    pub conv2_channels: usize,
    /// Width of the penultimate layer (the features), >= 1.
    #[config(default = 128)]
    pub features: usize,
    /// Number of classes, >= 2.
    #[config(default = 10)]
    pub classes: usize,
    /// Dropout probability on the features while training (on an autodiff
    /// device only), in `[0, 1)`.
    #[config(default = 0.25)]
    pub dropout: f64,
}

impl MnistClassifierConfig {
    /// Checks the ranges documented on each field.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the first wrong field.
    pub fn validate(&self) -> Result<()> {
        ensure_nonzero("conv1_channels", self.conv1_channels)?;
        ensure_nonzero("conv2_channels", self.conv2_channels)?;
        ensure_nonzero("features", self.features)?;
        if self.classes < 2 {
            return Err(Error::config(
                "classes",
                format!("must be at least 2, found {}", self.classes),
            ));
        }
        gen_core::error::ensure_unit_interval("dropout", self.dropout)
    }

    /// Builds an untrained classifier on `device` (burn's default
    /// initialisation, drawn now from the device's generator: seed it with
    /// [`gen_core::rng::with_seed`] for reproducible weights).
    ///
    /// # Errors
    /// As [`validate`](Self::validate).
    pub fn init(&self, device: &Device) -> Result<MnistClassifier> {
        self.validate()?;
        let conv = |cin, cout| {
            Conv2dConfig::new([cin, cout], [5, 5])
                .with_padding(PaddingConfig2d::Explicit(2, 2, 2, 2))
                .init(device)
        };
        let pooled = IMAGE_SIZE / 4;
        Ok(init_now(MnistClassifier {
            conv1: conv(1, self.conv1_channels),
            conv2: conv(self.conv1_channels, self.conv2_channels),
            pool: MaxPool2dConfig::new([2, 2]).init(),
            fc1: LinearConfig::new(self.conv2_channels * pooled * pooled, self.features)
                .init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            fc2: LinearConfig::new(self.features, self.classes).init(device),
            features: self.features,
            classes: self.classes,
        }))
    }
}

/// The LeNet-like MNIST classifier (see the [module docs](self)).
///
/// # Shapes
/// Every method takes `[batch, 1, 28, 28]` images in `[0, 1]` and returns an
/// [`Error::Shape`] for anything else.
#[derive(Module, Debug)]
pub struct MnistClassifier {
    conv1: Conv2d,
    conv2: Conv2d,
    pool: MaxPool2d,
    fc1: Linear,
    dropout: Dropout,
    fc2: Linear,
    features: usize,
    classes: usize,
}

impl MnistClassifier {
    /// The pretrained classifier (the default config, weights embedded in
    /// the crate), on `device`. Works offline, on every backend.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] if the embedded weights do not fit the model (a
    /// build with a corrupted weight file).
    pub fn pretrained(device: &Device) -> Result<Self> {
        MnistClassifierConfig::new()
            .init(device)?
            .load_bytes(PRETRAINED.to_vec())
    }

    /// Loads weights saved by [`to_bytes`](Self::to_bytes) (or
    /// [`save`](Self::save)) into this classifier, which must have the
    /// same config.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] when the bytes are not a module record or do
    /// not fit this model.
    pub fn load_bytes(self, bytes: Vec<u8>) -> Result<Self> {
        let what = "mnist classifier weights";
        let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes))
            .map_err(|e| Error::checkpoint(what, format!("not a module record: {e}")))?;
        self.try_load_record(record)
            .map_err(|e| Error::checkpoint(what, format!("does not fit the model: {e}")))
    }

    /// The weights as burnpack bytes (the format [`load_bytes`] and
    /// [`pretrained`](Self::pretrained) read).
    ///
    /// # Errors
    /// [`Error::Checkpoint`] if burn cannot serialise the record.
    ///
    /// [`load_bytes`]: Self::load_bytes
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let bytes = self
            .clone()
            .into_record()
            .into_bytes()
            .map_err(|e| Error::checkpoint("mnist classifier weights", e.to_string()))?;
        Ok(bytes.to_vec())
    }

    /// Writes the weights to `path` (burnpack bytes, any extension).
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be written.
    pub fn save(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        let path = path.as_ref();
        std::fs::write(path, self.to_bytes()?).map_err(|e| Error::io(path, e))
    }

    /// The device the weights are on.
    pub fn device(&self) -> Device {
        self.fc2.weight.val().device()
    }

    /// The width of [`features`](Self::features) (128 for the pretrained
    /// net).
    pub fn feature_dim(&self) -> usize {
        self.features
    }

    /// The number of classes (10).
    pub fn num_classes(&self) -> usize {
        self.classes
    }

    /// The penultimate activations (after the relu), the features of
    /// classifier-FID, KID and precision/recall.
    ///
    /// # Shapes
    /// `[batch, 1, 28, 28]` in `[0, 1]` -> `[batch, features]`.
    ///
    /// # Errors
    /// [`Error::Shape`] for any other input shape.
    pub fn features(&self, images: Tensor<4>) -> Result<Tensor<2>> {
        check_images(&images, 1, "MnistClassifier input")?;
        Ok(self.features_unchecked(images))
    }

    /// The class logits.
    ///
    /// # Shapes
    /// `[batch, 1, 28, 28]` in `[0, 1]` -> `[batch, classes]`.
    ///
    /// # Errors
    /// [`Error::Shape`] for any other input shape.
    pub fn logits(&self, images: Tensor<4>) -> Result<Tensor<2>> {
        Ok(self.head(self.features(images)?))
    }

    /// The class probabilities (softmax of the logits; rows sum to 1).
    ///
    /// # Shapes
    /// `[batch, 1, 28, 28]` in `[0, 1]` -> `[batch, classes]`.
    ///
    /// # Errors
    /// [`Error::Shape`] for any other input shape.
    pub fn probs(&self, images: Tensor<4>) -> Result<Tensor<2>> {
        Ok(softmax(self.logits(images)?, 1))
    }

    /// Features and probabilities from one forward pass.
    ///
    /// # Errors
    /// [`Error::Shape`] for an input that is not `[batch, 1, 28, 28]`.
    pub fn features_and_probs(&self, images: Tensor<4>) -> Result<(Tensor<2>, Tensor<2>)> {
        let features = self.features(images)?;
        let probs = softmax(self.head(features.clone()), 1);
        Ok((features, probs))
    }

    /// The logits for training: the same as [`logits`](Self::logits)
    /// without the shape check (the caller builds the batches), and with
    /// dropout on an autodiff device.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.head(self.features_unchecked(images))
    }

    fn features_unchecked(&self, images: Tensor<4>) -> Tensor<2> {
        let x = (images - MNIST_MEAN) / MNIST_STD;
        let x = self.pool.forward(relu(gen_nn::conv2d(&self.conv1, x)));
        let x = self.pool.forward(relu(gen_nn::conv2d(&self.conv2, x)));
        let x: Tensor<2> = x.flatten(1, 3);
        relu(self.fc1.forward(x))
    }

    fn head(&self, features: Tensor<2>) -> Tensor<2> {
        self.fc2.forward(self.dropout.forward(features))
    }
}

/// Maps images from `range` to the classifier's `[0, 1]`:
/// `(x + 1) / 2` for [`ValueRange::MinusOneToOne`], unchanged for
/// [`ValueRange::ZeroToOne`]. Values are not clipped.
pub fn to_unit_range<const D: usize>(images: Tensor<D>, range: ValueRange) -> Tensor<D> {
    match range {
        ValueRange::MinusOneToOne => (images + 1.0) * 0.5,
        ValueRange::ZeroToOne => images,
    }
}

/// Checks that `images` is `[n, 1, 28, 28]` with `n >= min_batch`.
fn check_images(images: &Tensor<4>, min_batch: usize, what: &'static str) -> Result<usize> {
    let dims = images.dims();
    if dims[0] < min_batch || dims[1..] != [1, IMAGE_SIZE, IMAGE_SIZE] {
        return Err(Error::Shape {
            what,
            expected: format!("[n, 1, {IMAGE_SIZE}, {IMAGE_SIZE}] images with n >= {min_batch}"),
            found: dims.to_vec(),
        });
    }
    Ok(dims[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev() -> Device {
        Device::flex()
    }

    #[test]
    fn config_validation() {
        assert!(MnistClassifierConfig::new().validate().is_ok());
        let e = MnistClassifierConfig::new().with_classes(1).validate();
        assert!(matches!(
            e,
            Err(Error::InvalidConfig {
                field: "classes",
                ..
            })
        ));
        let e = MnistClassifierConfig::new().with_dropout(1.0).validate();
        assert!(matches!(
            e,
            Err(Error::InvalidConfig {
                field: "dropout",
                ..
            })
        ));
        let e = MnistClassifierConfig::new().with_features(0).init(&dev());
        assert!(matches!(
            e,
            Err(Error::InvalidConfig {
                field: "features",
                ..
            })
        ));
    }

    #[test]
    fn pretrained_probs_are_finite_and_sum_to_one() {
        let dev = dev();
        let net = MnistClassifier::pretrained(&dev).unwrap();
        assert_eq!((net.feature_dim(), net.num_classes()), (128, 10));
        let x: Tensor<4> = gen_core::SeededRng::new(0).uniform([6, 1, 28, 28], 0.0, 1.0, &dev);
        let p = net.probs(x).unwrap();
        assert_eq!(p.dims(), [6, 10]);
        let p: Vec<f32> = p.into_data().try_to_vec().unwrap();
        assert!(p.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)));
        for row in p.chunks_exact(10) {
            let s: f32 = row.iter().sum();
            assert!((s - 1.0).abs() < 1e-5, "{s}");
        }
    }

    #[test]
    fn pretrained_agrees_across_cpu_backends() {
        let flex = dev();
        let x: Tensor<4> = gen_core::SeededRng::new(3).uniform([4, 1, 28, 28], 0.0, 1.0, &flex);
        let logits = |device: &Device| -> Vec<f32> {
            let net = MnistClassifier::pretrained(device).unwrap();
            net.logits(x.clone().to_device(device))
                .unwrap()
                .into_data()
                .try_to_vec()
                .unwrap()
        };
        let want = logits(&flex);
        // ndarray is compiled in under `--workspace` (the root package's
        // dev-dependencies turn it on); the GPU backends are left to their
        // own parity tests.
        if gen_core::Backend::NdArray.is_compiled() {
            let got = logits(&gen_core::Backend::NdArray.device().unwrap());
            for (a, b) in want.iter().zip(&got) {
                assert!((a - b).abs() < 1e-3 * (1.0 + a.abs()), "{a} vs {b}");
            }
        } else {
            eprintln!("ndarray is not compiled in: only flex checked");
        }
    }

    #[test]
    fn bad_shapes_are_typed_errors() {
        let dev = dev();
        let net = MnistClassifier::pretrained(&dev).unwrap();
        for shape in [[2, 3, 28, 28], [2, 1, 32, 32], [0, 1, 28, 28]] {
            let x: Tensor<4> = Tensor::zeros(shape, &dev);
            let e = net.features(x).unwrap_err();
            assert!(matches!(e, Error::Shape { .. }), "{e}");
        }
    }

    #[test]
    fn weights_round_trip_and_reject_other_shapes() {
        let dev = dev();
        let net = gen_core::rng::with_seed(1, &dev, || {
            MnistClassifierConfig::new()
                .with_conv1_channels(2)
                .with_conv2_channels(3)
                .with_features(4)
                .init(&dev)
                .unwrap()
        });
        let bytes = net.to_bytes().unwrap();
        let x: Tensor<4> = Tensor::ones([2, 1, 28, 28], &dev) * 0.5;
        let fresh = MnistClassifierConfig::new()
            .with_conv1_channels(2)
            .with_conv2_channels(3)
            .with_features(4)
            .init(&dev)
            .unwrap()
            .load_bytes(bytes.clone())
            .unwrap();
        let (a, b) = (
            net.logits(x.clone()).unwrap().into_data(),
            fresh.logits(x).unwrap().into_data(),
        );
        assert_eq!(a, b);
        let other = MnistClassifierConfig::new().init(&dev).unwrap();
        let e = other.load_bytes(bytes).unwrap_err();
        assert!(matches!(e, Error::Checkpoint { .. }), "{e}");
        let e = MnistClassifierConfig::new()
            .init(&dev)
            .unwrap()
            .load_bytes(b"not a record".to_vec())
            .unwrap_err();
        assert!(matches!(e, Error::Checkpoint { .. }), "{e}");
    }

    #[test]
    fn unit_range() {
        let dev = dev();
        let x = Tensor::<1>::from_floats([-1.0, 0.0, 1.0], &dev);
        let y: Vec<f32> = to_unit_range(x.clone(), ValueRange::MinusOneToOne)
            .into_data()
            .try_to_vec()
            .unwrap();
        assert_eq!(y, vec![0.0, 0.5, 1.0]);
        let z: Vec<f32> = to_unit_range(x, ValueRange::ZeroToOne)
            .into_data()
            .try_to_vec()
            .unwrap();
        assert_eq!(z, vec![-1.0, 0.0, 1.0]);
    }
}
