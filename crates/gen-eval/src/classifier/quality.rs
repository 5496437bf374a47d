//! [`ImageQuality`]: the sample-quality metrics of generated MNIST-like
//! images against reference images, through the [`MnistClassifier`]'s
//! penultimate features and class probabilities. The maths is
//! [`crate::metrics`]'s; this module runs the classifier in batches and
//! collects its outputs on the host.

use burn::config::Config;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::{MnistClassifier, check_images, to_unit_range};
use crate::metrics::{
    FeatureStats, class_coverage, classifier_score, density_coverage, frechet_distance,
    kernel_inception_distance, precision_recall,
};
use gen_core::SeededRng;
use gen_core::ValueRange;
use gen_core::error::{Error, Result, ensure_nonzero};

/// How [`ImageQuality`] runs the classifier and the metrics.
#[derive(Config, Debug, PartialEq)]
pub struct QualityConfig {
    /// Images per forward pass, >= 1 (500 keeps 10,000 images well inside a
    /// few hundred MB).
    #[config(default = 500)]
    pub batch_size: usize,
    /// The pixel range of every image handed to [`ImageQuality`]
    /// (generated and reference alike); mapped to the classifier's `[0, 1]`.
    #[config(default = "ValueRange::ZeroToOne")]
    pub input_range: ValueRange,
    /// KID: the number of random subsets, >= 1.
    #[config(default = 20)]
    pub kid_subsets: usize,
    /// KID: rows per subset, >= 2; capped at the smaller set's size.
    #[config(default = 1000)]
    pub kid_subset_size: usize,
    /// Precision/recall: the neighbour `k` of the k-NN radii, >= 1
    /// (Kynkäänniemi et al. use 3).
    #[config(default = 3)]
    pub pr_k: usize,
    /// Density/coverage: the neighbour `k` of the real k-NN radii, >= 1
    /// (Naeem et al. use 5).
    #[config(default = 5)]
    pub dc_k: usize,
    /// Precision/recall and density/coverage: at most this many rows of
    /// each set (a seeded random subset), > `pr_k` and > `dc_k`; the cost
    /// is quadratic in it.
    #[config(default = 2000)]
    pub pr_samples: usize,
    /// Class coverage: a class counts as covered when its share of the
    /// generated images is at least this, in `[0, 1]` (0.05 is half the
    /// share of a uniform 10-class spread).
    #[config(default = 0.05)]
    pub coverage_threshold: f64,
    /// Seed of the KID and precision/recall subsets.
    #[config(default = 0)]
    pub seed: u64,
}

impl QualityConfig {
    /// Checks the ranges documented on each field.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the first wrong field.
    pub fn validate(&self) -> Result<()> {
        ensure_nonzero("batch_size", self.batch_size)?;
        ensure_nonzero("kid_subsets", self.kid_subsets)?;
        if self.kid_subset_size < 2 {
            return Err(Error::config(
                "kid_subset_size",
                format!("must be at least 2, found {}", self.kid_subset_size),
            ));
        }
        ensure_nonzero("pr_k", self.pr_k)?;
        if self.pr_samples <= self.pr_k {
            return Err(Error::config(
                "pr_samples",
                format!(
                    "must exceed pr_k ({}), found {}",
                    self.pr_k, self.pr_samples
                ),
            ));
        }
        if !(0.0..=1.0).contains(&self.coverage_threshold) {
            return Err(Error::config(
                "coverage_threshold",
                format!("must be in [0, 1], found {}", self.coverage_threshold),
            ));
        }
        Ok(())
    }
}

/// A set of images as the classifier sees them, on the host: reusable
/// across evaluations (compute the reference once, compare many generated
/// sets to it).
#[derive(Clone, Debug)]
pub struct Embedding {
    /// Penultimate features, row-major `[n, feature_dim]`.
    pub features: Vec<f32>,
    /// Class probabilities, row-major `[n, classes]`.
    pub probs: Vec<f32>,
    /// The number of images.
    pub n: usize,
    /// The fitted mean and covariance of the features.
    pub stats: FeatureStats,
}

/// The share of generated images assigned to each class, and a summary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassCoverage {
    /// The share of images whose most probable class is each class (sums
    /// to 1).
    pub shares: Vec<f64>,
    /// The smallest share (0 when a class is never produced).
    pub min_share: f64,
    /// The largest share (1 for a generator that produces one class).
    pub max_share: f64,
    /// How many classes have a share of at least `threshold`.
    pub classes_covered: usize,
    /// The threshold of `classes_covered`.
    pub threshold: f64,
    /// Total variation distance between the generated and the reference
    /// class shares, in `[0, 1]` (0: the same class balance).
    pub tv_to_reference: f64,
}

/// Every metric of one evaluation; serialisable (one JSON object per run).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QualityReport {
    /// Generated images evaluated.
    pub n_generated: usize,
    /// Reference images.
    pub n_reference: usize,
    /// Classifier-FID: the Fréchet distance between Gaussians fitted to the
    /// penultimate features (lower is better, 0 for identical statistics).
    pub fid: f64,
    /// KID: the unbiased MMD² with the cubic kernel, mean over subsets
    /// (lower is better; about 0, possibly slightly negative, for equal
    /// distributions).
    pub kid_mean: f64,
    /// The standard deviation of KID over the subsets.
    pub kid_std: f64,
    /// The classifier score of the generated images (the Inception-score
    /// formula; 1 to 10, higher is better).
    pub classifier_score: f64,
    /// The classifier score of the reference images, for scale.
    pub classifier_score_reference: f64,
    /// Which classes the generated images fall into.
    pub coverage: ClassCoverage,
    /// k-NN precision: the share of generated images inside the reference
    /// manifold (fidelity), in `[0, 1]`.
    pub precision: f64,
    /// k-NN recall: the share of reference images inside the generated
    /// manifold (diversity), in `[0, 1]`.
    pub recall: f64,
    /// Density (Naeem et al. 2020): how many reference k-NN balls a
    /// generated image falls in, over `k`; about 1 for real-like images,
    /// near 0 for images away from the reference (unlike precision, not
    /// fooled by a few reference outliers).
    pub density: f64,
    /// Coverage (Naeem et al. 2020): the share of reference images whose
    /// k-NN ball holds a generated image, in `[0, 1]` (diversity).
    pub knn_coverage: f64,
}

/// The pretrained classifier plus the metric settings: embeds image sets
/// in batches and compares them.
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use gen_eval::classifier::{ImageQuality, QualityConfig};
/// use gen_core::SeededRng;
///
/// let dev = Device::flex();
/// let config = QualityConfig::new().with_kid_subset_size(20).with_pr_samples(40);
/// let quality = ImageQuality::pretrained(config, &dev)?;
/// let real: Tensor<4> = SeededRng::new(1).uniform([40, 1, 28, 28], 0.0, 1.0, &dev);
/// let reference = quality.embed(real.clone())?;
/// let report = quality.evaluate(real, &reference)?;
/// assert!(report.fid.abs() < 1e-3);
/// println!("{}", serde_json::to_string(&report).unwrap());
/// # Ok::<(), gen_core::Error>(())
/// ```
#[derive(Debug)]
pub struct ImageQuality {
    classifier: MnistClassifier,
    config: QualityConfig,
}

impl ImageQuality {
    /// Wraps a classifier (inference only: its device should not be an
    /// autodiff one, see `Module::valid`).
    ///
    /// # Errors
    /// As [`QualityConfig::validate`].
    pub fn new(classifier: MnistClassifier, config: QualityConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self { classifier, config })
    }

    /// The pretrained classifier on `device`, with `config`.
    ///
    /// # Errors
    /// As [`QualityConfig::validate`] and [`MnistClassifier::pretrained`].
    pub fn pretrained(config: QualityConfig, device: &Device) -> Result<Self> {
        Self::new(MnistClassifier::pretrained(device)?, config)
    }

    /// The settings.
    pub fn config(&self) -> &QualityConfig {
        &self.config
    }

    /// The classifier.
    pub fn classifier(&self) -> &MnistClassifier {
        &self.classifier
    }

    /// Runs the classifier over `images` (`[n, 1, 28, 28]` in
    /// [`QualityConfig::input_range`], on any device; n >= 2) in batches of
    /// [`QualityConfig::batch_size`] and returns the features and
    /// probabilities on the host.
    ///
    /// # Errors
    /// [`Error::Shape`] for another shape or fewer than 2 images;
    /// [`Error::Data`] when the features are not finite (NaN or infinite
    /// pixels).
    pub fn embed(&self, images: Tensor<4>) -> Result<Embedding> {
        let n = check_images(&images, 2, "ImageQuality images")?;
        let device = self.classifier.device();
        let (mut features, mut probs) = (Vec::new(), Vec::new());
        let mut start = 0;
        while start < n {
            let len = self.config.batch_size.min(n - start);
            let batch = images.clone().narrow(0, start, len).to_device(&device);
            let batch = to_unit_range(batch, self.config.input_range);
            let (f, p) = self.classifier.features_and_probs(batch)?;
            features.extend(host(f)?);
            probs.extend(host(p)?);
            start += len;
        }
        if let Some(bad) = features.iter().chain(&probs).position(|v| !v.is_finite()) {
            return Err(Error::Data(format!(
                "the classifier's outputs are not finite (value {bad} of {}): the images hold NaN \
                 or infinite pixels",
                features.len() + probs.len()
            )));
        }
        let stats = FeatureStats::fit(&features, self.classifier.feature_dim())?;
        Ok(Embedding {
            features,
            probs,
            n,
            stats,
        })
    }

    /// Compares `generated` images (`[n, 1, 28, 28]`, n >= 2) with the
    /// reference [`Embedding`] made by [`embed`](Self::embed).
    ///
    /// # Errors
    /// As [`embed`](Self::embed), and [`Error::Shape`] for a
    /// reference of another feature width.
    pub fn evaluate(&self, generated: Tensor<4>, reference: &Embedding) -> Result<QualityReport> {
        let gen_set = self.embed(generated)?;
        self.compare_sets(&gen_set, reference)
    }

    /// [`evaluate`](Self::evaluate) against reference images.
    ///
    /// # Errors
    /// As [`evaluate`](Self::evaluate), for either set.
    pub fn compare(&self, generated: Tensor<4>, reference: Tensor<4>) -> Result<QualityReport> {
        let reference = self.embed(reference)?;
        self.evaluate(generated, &reference)
    }

    /// The metrics between two embedded sets.
    ///
    /// # Errors
    /// [`Error::Shape`] when a set's features or probabilities do not have
    /// this classifier's widths (another classifier's embedding).
    pub fn compare_sets(
        &self,
        generated: &Embedding,
        reference: &Embedding,
    ) -> Result<QualityReport> {
        let cfg = &self.config;
        let dim = self.classifier.feature_dim();
        let classes = self.classifier.num_classes();
        for set in [generated, reference] {
            if set.features.len() != set.n * dim || set.probs.len() != set.n * classes {
                return Err(Error::Shape {
                    what: "ImageQuality::compare_sets",
                    expected: format!(
                        "{} rows of {dim} features and {classes} probabilities",
                        set.n
                    ),
                    found: vec![set.features.len(), set.probs.len()],
                });
            }
        }
        let fid = frechet_distance(&generated.stats, &reference.stats)?;
        let smaller = generated.n.min(reference.n);
        let (kid_mean, kid_std) = kernel_inception_distance(
            &generated.features,
            &reference.features,
            dim,
            cfg.kid_subsets,
            cfg.kid_subset_size.min(smaller),
            cfg.seed,
        )?;
        let k = cfg.pr_k.max(cfg.dc_k);
        if smaller <= k {
            return Err(Error::Shape {
                what: "ImageQuality precision/recall",
                expected: format!("more than pr_k and dc_k ({k}) images in each set"),
                found: vec![generated.n, reference.n],
            });
        }
        let mut rng = SeededRng::derived(cfg.seed, 1);
        let real = subset(&reference.features, dim, cfg.pr_samples, &mut rng);
        let fake = subset(&generated.features, dim, cfg.pr_samples, &mut rng);
        let (precision, recall) = precision_recall(&real, &fake, dim, cfg.pr_k)?;
        let (density, knn_coverage) = density_coverage(&real, &fake, dim, cfg.dc_k)?;
        let shares = class_coverage(&generated.probs, classes)?;
        let reference_shares = class_coverage(&reference.probs, classes)?;
        let coverage = ClassCoverage {
            min_share: shares.iter().copied().fold(f64::INFINITY, f64::min),
            max_share: shares.iter().copied().fold(0.0, f64::max),
            classes_covered: shares
                .iter()
                .filter(|&&s| s >= cfg.coverage_threshold)
                .count(),
            threshold: cfg.coverage_threshold,
            tv_to_reference: 0.5
                * shares
                    .iter()
                    .zip(&reference_shares)
                    .map(|(a, b)| (a - b).abs())
                    .sum::<f64>(),
            shares,
        };
        Ok(QualityReport {
            n_generated: generated.n,
            n_reference: reference.n,
            fid,
            kid_mean,
            kid_std,
            classifier_score: classifier_score(&generated.probs, classes)?,
            classifier_score_reference: classifier_score(&reference.probs, classes)?,
            coverage,
            precision,
            recall,
            density,
            knn_coverage,
        })
    }
}

fn host(t: Tensor<2>) -> Result<Vec<f32>> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| Error::Data(format!("cannot read classifier outputs back: {e:?}")))
}

/// At most `max` rows of a `[n, dim]` matrix, a seeded random choice (all
/// rows, in order, when there are no more than `max`).
fn subset(rows: &[f32], dim: usize, max: usize, rng: &mut SeededRng) -> Vec<f32> {
    let n = rows.len() / dim;
    if n <= max {
        return rows.to_vec();
    }
    let mut pick = rng.permutation(n);
    pick.truncate(max);
    pick.sort_unstable();
    pick.iter()
        .flat_map(|&i| &rows[i * dim..(i + 1) * dim])
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> QualityConfig {
        QualityConfig::new()
            .with_kid_subsets(5)
            .with_kid_subset_size(50)
            .with_pr_samples(200)
            .with_batch_size(32)
    }

    /// Smooth blob images (strokes-like), in [0, 1].
    fn blobs(n: usize, seed: u64, dev: &Device) -> Tensor<4> {
        let mut rng = SeededRng::new(seed);
        let mut px = vec![0.0f32; n * 784];
        for img in px.chunks_exact_mut(784) {
            let (cx, cy) = (8.0 + 12.0 * rng.uniform_vec(1, 0.0, 1.0)[0], 14.0);
            let r = 3.0 + 3.0 * rng.uniform_vec(1, 0.0, 1.0)[0];
            for (i, v) in img.iter_mut().enumerate() {
                let (y, x) = ((i / 28) as f32, (i % 28) as f32);
                let d = ((x - cx).powi(2) + (y - cy).powi(2)).sqrt();
                *v = (1.0 - (d - r).abs() / 1.5).clamp(0.0, 1.0);
            }
        }
        Tensor::from_data(burn::tensor::TensorData::new(px, [n, 1, 28, 28]), dev)
    }

    #[test]
    fn fid_of_a_set_with_itself_is_zero_and_grows_with_noise() {
        let dev = Device::flex();
        let q = ImageQuality::pretrained(small(), &dev).unwrap();
        let real = blobs(120, 0, &dev);
        let reference = q.embed(real.clone()).unwrap();
        let same = q.evaluate(real.clone(), &reference).unwrap();
        assert!(same.fid.abs() < 1e-6, "{}", same.fid);
        assert_eq!(same.coverage.tv_to_reference, 0.0);
        // Every row is used (120 <= pr_samples): each point is its own
        // neighbour.
        assert_eq!((same.precision, same.recall), (1.0, 1.0));
        assert_eq!(same.knn_coverage, 1.0);
        assert!(same.density >= 1.0, "{}", same.density);
        let mut last = same.fid;
        for (i, amount) in [0.2f32, 0.5].into_iter().enumerate() {
            let noise: Tensor<4> =
                SeededRng::new(10 + i as u64).uniform([120, 1, 28, 28], -1.0, 1.0, &dev);
            let noisy = (real.clone() + noise * amount).clamp(0.0, 1.0);
            let r = q.evaluate(noisy, &reference).unwrap();
            assert!(r.fid > last + 1e-3, "{} after {last}", r.fid);
            last = r.fid;
        }
        let json = serde_json::to_string(&same).unwrap();
        let back: QualityReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back, same);
    }

    #[test]
    fn input_range_is_applied() {
        let dev = Device::flex();
        let real = blobs(20, 1, &dev);
        let unit = ImageQuality::pretrained(small(), &dev).unwrap();
        let tanh =
            ImageQuality::pretrained(small().with_input_range(ValueRange::MinusOneToOne), &dev)
                .unwrap();
        let a = unit.embed(real.clone()).unwrap();
        let b = tanh.embed(real * 2.0 - 1.0).unwrap();
        let diff = a
            .features
            .iter()
            .zip(&b.features)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(diff < 1e-4, "{diff}");
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        let dev = Device::flex();
        let q = ImageQuality::pretrained(small(), &dev).unwrap();
        let e = q.embed(Tensor::zeros([4, 1, 32, 32], &dev)).unwrap_err();
        assert!(matches!(e, Error::Shape { .. }), "{e}");
        let e = q.embed(Tensor::zeros([1, 1, 28, 28], &dev)).unwrap_err();
        assert!(matches!(e, Error::Shape { .. }), "{e}");
        let nan: Tensor<4> = Tensor::zeros([4, 1, 28, 28], &dev) / 0.0;
        let e = q.embed(nan).unwrap_err();
        assert!(matches!(e, Error::Data(_)), "{e}");
        let e = ImageQuality::pretrained(QualityConfig::new().with_pr_samples(3), &dev);
        assert!(matches!(
            e,
            Err(Error::InvalidConfig {
                field: "pr_samples",
                ..
            })
        ));
        // Too few images for the k-NN radii (dc_k = 5).
        let tiny = blobs(5, 2, &dev);
        let e = q.compare(tiny.clone(), tiny).unwrap_err();
        assert!(matches!(e, Error::Shape { .. }), "{e}");
    }
}
