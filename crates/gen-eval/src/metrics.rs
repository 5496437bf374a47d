//! Sample-quality metrics on feature vectors and class probabilities,
//! computed on the host in `f64`. The features usually come from a
//! classifier's penultimate layer (a "classifier-FID"), so that the metrics
//! need no downloaded Inception network and run offline on any backend.
//!
//! | function | what it measures | reference |
//! |---|---|---|
//! | [`frechet_distance`] | Fréchet distance between Gaussians fitted to two feature sets (FID) | Heusel et al. 2017, eq. 6 |
//! | [`kernel_inception_distance`] | unbiased MMD² with the cubic polynomial kernel, mean and std over subsets (KID) | Bińkowski et al. 2018 |
//! | [`classifier_score`] | `exp(E_x KL(p(y|x) || p(y)))` (the Inception-score formula) | Salimans et al. 2016 |
//! | [`class_coverage`] | the share of samples assigned to each class | |
//! | [`precision_recall`] | k-NN precision and recall of two feature sets | Kynkäänniemi et al. 2019 |
//! | [`density_coverage`] | k-NN density and coverage (outlier-robust fidelity and diversity) | Naeem et al. 2020 |
//!
//! Feature sets are row-major `[n, d]` slices with their width.

use nalgebra::{DMatrix, DVector};

use gen_core::SeededRng;
use gen_core::error::{Error, Result};

/// Row `i` of a row-major matrix of width `dim`.
fn row(s: &[f32], dim: usize, i: usize) -> &[f32] {
    &s[i * dim..(i + 1) * dim]
}

fn rows(features: &[f32], dim: usize, what: &'static str) -> Result<usize> {
    if dim == 0 || features.is_empty() || !features.len().is_multiple_of(dim) {
        return Err(Error::Shape {
            what,
            expected: format!("a non-empty [n, {dim}] feature matrix"),
            found: vec![features.len()],
        });
    }
    Ok(features.len() / dim)
}

/// The mean and covariance of a feature set.
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureStats {
    /// The mean, `d` long.
    pub mean: DVector<f64>,
    /// The (unbiased, `n - 1`) covariance, `d x d`.
    pub cov: DMatrix<f64>,
    /// The number of samples.
    pub n: usize,
}

impl FeatureStats {
    /// Fits the mean and covariance of `features` (`[n, dim]`, n >= 2).
    ///
    /// # Errors
    /// [`Error::Shape`] for an empty or ragged matrix, or a single row.
    pub fn fit(features: &[f32], dim: usize) -> Result<Self> {
        let n = rows(features, dim, "feature statistics")?;
        if n < 2 {
            return Err(Error::Shape {
                what: "feature statistics",
                expected: "at least 2 samples".into(),
                found: vec![n, dim],
            });
        }
        let x = DMatrix::from_row_iterator(n, dim, features.iter().map(|&v| f64::from(v)));
        let mean = x.row_mean().transpose();
        let centred = DMatrix::from_fn(n, dim, |i, j| x[(i, j)] - mean[j]);
        let cov = centred.transpose() * &centred / (n as f64 - 1.0);
        Ok(Self { mean, cov, n })
    }
}

/// The square root of a symmetric positive semi-definite matrix, and its
/// eigenvalues' square roots.
///
/// Through the SVD, which equals the eigendecomposition for a symmetric PSD
/// matrix: nalgebra's symmetric eigensolver returns NaN or infinite values
/// now and then for rank-deficient matrices (fewer samples than feature
/// dimensions), which its SVD does not.
fn sqrt_psd(m: &DMatrix<f64>) -> (DMatrix<f64>, f64) {
    let sym = (m + m.transpose()) * 0.5;
    let svd = sym.svd(true, false);
    let u = svd.u.expect("the SVD was asked for U");
    let roots = svd.singular_values.map(|v| v.max(0.0).sqrt());
    let trace = roots.sum();
    (&u * DMatrix::from_diagonal(&roots) * u.transpose(), trace)
}

/// The Fréchet distance between two Gaussians:
/// `|mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2)`.
///
/// The matrix square roots are taken on symmetric matrices (through the
/// SVD), which is exact for the symmetric form used here and needs no
/// complex arithmetic (unlike `sqrtm(S_a S_b)`).
///
/// # Errors
/// [`Error::Shape`] when the two have different dimensions;
/// [`Error::Data`] when the statistics are not finite.
pub fn frechet_distance(a: &FeatureStats, b: &FeatureStats) -> Result<f64> {
    if a.mean.len() != b.mean.len() {
        return Err(Error::Shape {
            what: "frechet_distance",
            expected: format!("statistics of width {}", a.mean.len()),
            found: vec![b.mean.len()],
        });
    }
    let finite = |s: &FeatureStats| s.mean.iter().chain(s.cov.iter()).all(|v| v.is_finite());
    if !(finite(a) && finite(b)) {
        return Err(Error::Data(
            "frechet_distance: the feature statistics hold NaN or infinite values".into(),
        ));
    }
    let diff = (&a.mean - &b.mean).norm_squared();
    let (root_a, _) = sqrt_psd(&a.cov);
    let (_, trace_sqrt) = sqrt_psd(&(&root_a * &b.cov * &root_a));
    let d = diff + a.cov.trace() + b.cov.trace() - 2.0 * trace_sqrt;
    if !d.is_finite() {
        return Err(Error::Data(format!(
            "frechet_distance: the result is not finite ({d})"
        )));
    }
    // Rounding can leave a tiny negative value for identical statistics.
    Ok(d.max(0.0))
}

/// KID: the unbiased squared MMD between `x` and `y` (`[n, dim]`, `[m,
/// dim]`) with the kernel `(a . b / dim + 1)^3`, over `subsets` random
/// subsets of `subset_size` rows of each; returns `(mean, std)`.
///
/// # Errors
/// [`Error::Shape`] for bad matrices, [`Error::InvalidConfig`] for a subset
/// size under 2 or larger than either set, or zero subsets.
pub fn kernel_inception_distance(
    x: &[f32],
    y: &[f32],
    dim: usize,
    subsets: usize,
    subset_size: usize,
    seed: u64,
) -> Result<(f64, f64)> {
    let (n, m) = (rows(x, dim, "kid")?, rows(y, dim, "kid")?);
    gen_core::error::ensure_nonzero("subsets", subsets)?;
    if subset_size < 2 || subset_size > n.min(m) {
        return Err(Error::config(
            "subset_size",
            format!("must be in 2..={}, found {subset_size}", n.min(m)),
        ));
    }
    let kernel = |a: &[f32], b: &[f32]| {
        let dot: f64 = a
            .iter()
            .zip(b)
            .map(|(p, q)| f64::from(*p) * f64::from(*q))
            .sum();
        (dot / dim as f64 + 1.0).powi(3)
    };
    let mut rng = SeededRng::new(seed);
    let s = subset_size as f64;
    let mut values = Vec::with_capacity(subsets);
    for _ in 0..subsets {
        let ix: Vec<usize> = rng.permutation(n)[..subset_size].to_vec();
        let iy: Vec<usize> = rng.permutation(m)[..subset_size].to_vec();
        let (mut kxx, mut kyy, mut kxy) = (0.0, 0.0, 0.0);
        for (p, &i) in ix.iter().enumerate() {
            for (q, &j) in iy.iter().enumerate() {
                kxy += kernel(row(x, dim, i), row(y, dim, j));
                if q > p {
                    kxx += kernel(row(x, dim, i), row(x, dim, ix[q]));
                    kyy += kernel(row(y, dim, iy[p]), row(y, dim, j));
                }
            }
        }
        values.push(2.0 * (kxx + kyy) / (s * (s - 1.0)) - 2.0 * kxy / (s * s));
    }
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64;
    Ok((mean, var.sqrt()))
}

/// The classifier score: `exp(E_x KL(p(y|x) || p(y)))` over class
/// probabilities `[n, classes]` (rows sum to 1). It ranges from 1 (every
/// sample looks the same) to `classes` (confident and evenly spread).
///
/// # Errors
/// [`Error::Shape`] for a bad matrix.
pub fn classifier_score(probs: &[f32], classes: usize) -> Result<f64> {
    let n = rows(probs, classes, "classifier_score")?;
    let mut marginal = vec![0.0f64; classes];
    for r in probs.chunks_exact(classes) {
        for (m, &p) in marginal.iter_mut().zip(r) {
            *m += f64::from(p) / n as f64;
        }
    }
    let kl: f64 = probs
        .chunks_exact(classes)
        .map(|r| {
            r.iter()
                .zip(&marginal)
                .filter(|(p, _)| **p > 0.0)
                .map(|(&p, &m)| f64::from(p) * (f64::from(p).ln() - m.max(1e-30).ln()))
                .sum::<f64>()
        })
        .sum::<f64>()
        / n as f64;
    Ok(kl.exp())
}

/// The share of samples whose most probable class is each class.
///
/// # Errors
/// [`Error::Shape`] for a bad matrix.
pub fn class_coverage(probs: &[f32], classes: usize) -> Result<Vec<f64>> {
    let n = rows(probs, classes, "class_coverage")?;
    let mut counts = vec![0usize; classes];
    for r in probs.chunks_exact(classes) {
        let best = r
            .iter()
            .enumerate()
            .fold(
                (0, f32::MIN),
                |(bi, bv), (i, &v)| if v > bv { (i, v) } else { (bi, bv) },
            )
            .0;
        counts[best] += 1;
    }
    Ok(counts.into_iter().map(|c| c as f64 / n as f64).collect())
}

/// Squared Euclidean distance between two rows.
fn d2(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(p, q)| (f64::from(*p) - f64::from(*q)).powi(2))
        .sum()
}

/// The squared distance from each of the `count` rows of `s` to its `k`-th
/// nearest other row.
fn knn_radii(s: &[f32], dim: usize, count: usize, k: usize) -> Vec<f64> {
    (0..count)
        .map(|i| {
            let mut d: Vec<f64> = (0..count)
                .filter(|&j| j != i)
                .map(|j| d2(row(s, dim, i), row(s, dim, j)))
                .collect();
            d.select_nth_unstable_by(k - 1, f64::total_cmp);
            d[k - 1]
        })
        .collect()
}

/// The row counts of two feature sets, and a check that `1 <= k < min`.
fn knn_sets(
    real: &[f32],
    fake: &[f32],
    dim: usize,
    k: usize,
    what: &'static str,
) -> Result<(usize, usize)> {
    let (n, m) = (rows(real, dim, what)?, rows(fake, dim, what)?);
    if k == 0 || k >= n.min(m) {
        return Err(Error::config(
            "k",
            format!("must be in 1..{}, found {k}", n.min(m)),
        ));
    }
    Ok((n, m))
}

/// Improved precision and recall (k nearest neighbours): precision is the
/// share of generated samples inside the real manifold (the union of balls
/// around each real sample reaching its k-th neighbour), recall the share
/// of real samples inside the generated manifold.
///
/// Precision is not robust to outliers: one real sample far from the rest
/// has a large ball, and a collapsed generator whose samples all land in it
/// gets a precision near 1 (see [`density_coverage`]).
///
/// # Errors
/// [`Error::Shape`] for bad matrices, [`Error::InvalidConfig`] when `k` is
/// 0 or not smaller than either set.
pub fn precision_recall(real: &[f32], fake: &[f32], dim: usize, k: usize) -> Result<(f64, f64)> {
    let (n, m) = knn_sets(real, fake, dim, k, "precision_recall")?;
    let covered = |points: &[f32], count: usize, centres: &[f32], radii: &[f64]| -> f64 {
        (0..count)
            .filter(|&i| {
                (0..radii.len()).any(|j| d2(row(points, dim, i), row(centres, dim, j)) <= radii[j])
            })
            .count() as f64
            / count as f64
    };
    let (real_r, fake_r) = (knn_radii(real, dim, n, k), knn_radii(fake, dim, m, k));
    Ok((
        covered(fake, m, real, &real_r),
        covered(real, n, fake, &fake_r),
    ))
}

/// Density and coverage (Naeem et al. 2020, eqs. 3 and 4), the
/// outlier-robust counterparts of [`precision_recall`], built on the k-NN
/// balls of the real samples only:
///
/// - density `= 1/(k m) sum_j sum_i 1[fake_j in B(real_i)]`: how many real
///   balls a generated sample falls in, on average, over `k`. About 1 when
///   the two distributions match; near 0 for samples away from the real
///   ones (it can exceed 1 for samples crowded where real data is dense).
/// - coverage `= 1/n sum_i 1[some fake_j in B(real_i)]`: the share of real
///   samples whose ball holds a generated one, in `[0, 1]`.
///
/// # Errors
/// [`Error::Shape`] for bad matrices, [`Error::InvalidConfig`] when `k` is
/// 0 or not smaller than either set.
pub fn density_coverage(real: &[f32], fake: &[f32], dim: usize, k: usize) -> Result<(f64, f64)> {
    let (n, m) = knn_sets(real, fake, dim, k, "density_coverage")?;
    let radii = knn_radii(real, dim, n, k);
    let mut inside = 0usize;
    let mut covered = vec![false; n];
    for j in 0..m {
        for (i, (&r, c)) in radii.iter().zip(covered.iter_mut()).enumerate() {
            if d2(row(fake, dim, j), row(real, dim, i)) <= r {
                inside += 1;
                *c = true;
            }
        }
    }
    let coverage = covered.iter().filter(|&&c| c).count() as f64 / n as f64;
    Ok((inside as f64 / (k * m) as f64, coverage))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A set of identical rows has a zero covariance: the distance is then
    /// `|mu_a - mu_b|^2 + Tr(S_b)`, not a NaN clamped to 0.
    #[test]
    fn frechet_distance_of_a_collapsed_set_is_finite_and_large() {
        let dim = 16;
        let collapsed = vec![0.5f32; 50 * dim];
        let spread = gaussian(200, dim, 0.0, 1.0, 3);
        let a = FeatureStats::fit(&collapsed, dim).unwrap();
        let b = FeatureStats::fit(&spread, dim).unwrap();
        let d = frechet_distance(&a, &b).unwrap();
        let want = (&a.mean - &b.mean).norm_squared() + b.cov.trace();
        assert!((d - want).abs() < 1e-6 * want, "{d} vs {want}");
        let d = frechet_distance(&b, &a).unwrap();
        assert!((d - want).abs() < 1e-6 * want, "{d} vs {want}");
    }

    /// Fewer samples than dimensions (rank-deficient covariances) and
    /// columns that are exactly 0, as ReLU features of a collapsed
    /// generator are: every seed gives a finite distance at least the
    /// squared mean difference, and ~0 for a set with itself. (The case
    /// that broke the former eigensolver-based code, 50 classifier features
    /// of a barely trained VAE, is `tests/evaluate_cli.rs`.)
    #[test]
    fn frechet_distance_is_finite_for_rank_deficient_sets() {
        let dim = 128;
        for seed in 0..4 {
            let a = gaussian(50, dim, 0.0, 1.0, seed);
            // ReLU features of a near-collapsed generator: most columns
            // exactly 0, the rest small and nearly constant.
            let b: Vec<f32> = gaussian(50, dim, 0.0, 0.2, seed + 100)
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    if (i % dim) % 3 == 0 {
                        (v + 0.1).max(0.0)
                    } else {
                        0.0
                    }
                })
                .collect();
            let (sa, sb) = (
                FeatureStats::fit(&a, dim).unwrap(),
                FeatureStats::fit(&b, dim).unwrap(),
            );
            let d = frechet_distance(&sa, &sb).unwrap();
            let lower = (&sa.mean - &sb.mean).norm_squared();
            assert!(
                d.is_finite() && d >= lower * 0.99,
                "seed {seed}: {d} < {lower}"
            );
            let same = frechet_distance(&sa, &sa).unwrap();
            assert!(same < 1e-6 * sa.cov.trace(), "seed {seed}: {same}");
        }
    }

    fn gaussian(n: usize, dim: usize, mean: f32, std: f32, seed: u64) -> Vec<f32> {
        SeededRng::new(seed)
            .normal_vec(n * dim)
            .into_iter()
            .map(|v| mean + std * v)
            .collect()
    }

    #[test]
    fn frechet_distance_closed_form() {
        // Diagonal Gaussians: |mu_a - mu_b|^2 + sum (s_a - s_b)^2 over stds.
        let a = FeatureStats {
            mean: DVector::from_vec(vec![0.0, 0.0]),
            cov: DMatrix::from_diagonal(&DVector::from_vec(vec![1.0, 4.0])),
            n: 10,
        };
        let b = FeatureStats {
            mean: DVector::from_vec(vec![1.0, 0.0]),
            cov: DMatrix::from_diagonal(&DVector::from_vec(vec![4.0, 9.0])),
            n: 10,
        };
        let fd = frechet_distance(&a, &b).unwrap();
        assert!((fd - (1.0 + 1.0 + 1.0)).abs() < 1e-9, "{fd}");
        assert!(frechet_distance(&a, &a).unwrap().abs() < 1e-9);
        // A rotated (non-diagonal) covariance against itself.
        let r = DMatrix::from_row_slice(2, 2, &[2.0, 1.0, 1.0, 2.0]);
        let c = FeatureStats {
            mean: a.mean.clone(),
            cov: r,
            n: 10,
        };
        assert!(frechet_distance(&c, &c).unwrap().abs() < 1e-9);
    }

    #[test]
    fn fitted_stats_and_sample_fid() {
        let x = gaussian(4000, 3, 0.0, 1.0, 1);
        let y = gaussian(4000, 3, 0.0, 1.0, 2);
        let z = gaussian(4000, 3, 1.0, 1.0, 3);
        let (sx, sy, sz) = (
            FeatureStats::fit(&x, 3).unwrap(),
            FeatureStats::fit(&y, 3).unwrap(),
            FeatureStats::fit(&z, 3).unwrap(),
        );
        assert!((sx.cov[(0, 0)] - 1.0).abs() < 0.06);
        assert!(frechet_distance(&sx, &sy).unwrap() < 0.02);
        let far = frechet_distance(&sx, &sz).unwrap();
        assert!((far - 3.0).abs() < 0.15, "{far}"); // |mu|^2 = 3
        assert!(FeatureStats::fit(&x[..3], 3).is_err());
        assert!(FeatureStats::fit(&x[..4], 3).is_err());
    }

    #[test]
    fn kid_is_near_zero_for_equal_and_positive_for_shifted() {
        let x = gaussian(600, 4, 0.0, 1.0, 4);
        let y = gaussian(600, 4, 0.0, 1.0, 5);
        let z = gaussian(600, 4, 0.5, 1.0, 6);
        let (same, _) = kernel_inception_distance(&x, &y, 4, 10, 200, 0).unwrap();
        let (far, std) = kernel_inception_distance(&x, &z, 4, 10, 200, 0).unwrap();
        assert!(same.abs() < 0.05, "{same}");
        assert!(far > 5.0 * std && far > 0.1, "{far} +- {std}");
        assert!(kernel_inception_distance(&x, &y, 4, 10, 1, 0).is_err());
    }

    #[test]
    fn classifier_score_bounds_and_coverage() {
        // Confident and evenly spread over 4 classes: score 4.
        let even: Vec<f32> = (0..8)
            .flat_map(|i| (0..4).map(move |c| f32::from(u8::from(c == i % 4))))
            .collect();
        assert!((classifier_score(&even, 4).unwrap() - 4.0).abs() < 1e-9);
        assert_eq!(class_coverage(&even, 4).unwrap(), vec![0.25; 4]);
        // Everything the same class: score 1.
        let one: Vec<f32> = (0..8).flat_map(|_| [1.0, 0.0, 0.0, 0.0]).collect();
        assert!((classifier_score(&one, 4).unwrap() - 1.0).abs() < 1e-9);
        assert_eq!(class_coverage(&one, 4).unwrap(), vec![1.0, 0.0, 0.0, 0.0]);
        // Uniform predictions: score 1.
        assert!((classifier_score(&[0.25; 16], 4).unwrap() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn precision_and_recall() {
        let real = gaussian(300, 2, 0.0, 1.0, 7);
        let same = gaussian(300, 2, 0.0, 1.0, 8);
        let (p, r) = precision_recall(&real, &same, 2, 3).unwrap();
        assert!(p > 0.85 && r > 0.85, "{p} {r}");
        // Collapsed generator: every sample near one real mode: high
        // precision, low recall.
        let collapsed = gaussian(300, 2, 0.0, 0.05, 9);
        let (p, r) = precision_recall(&real, &collapsed, 2, 3).unwrap();
        assert!(p > 0.9 && r < 0.2, "{p} {r}");
        // Far away: neither.
        let far = gaussian(300, 2, 10.0, 1.0, 10);
        let (p, r) = precision_recall(&real, &far, 2, 3).unwrap();
        assert!(p < 0.05 && r < 0.05, "{p} {r}");
        assert!(precision_recall(&real, &far, 2, 0).is_err());
    }

    #[test]
    fn density_and_coverage() {
        let real = gaussian(300, 2, 0.0, 1.0, 7);
        let same = gaussian(300, 2, 0.0, 1.0, 8);
        let (d, c) = density_coverage(&real, &same, 2, 5).unwrap();
        assert!((d - 1.0).abs() < 0.2 && c > 0.9, "{d} {c}");
        // Every fake sample on one real outlier: precision 1, but density
        // (one ball of k) and coverage (one ball of n) stay low.
        let mut real = real;
        real.extend([8.0, 8.0]);
        let collapsed: Vec<f32> = (0..50).flat_map(|_| [7.0, 7.0]).collect();
        let (p, _) = precision_recall(&real, &collapsed, 2, 5).unwrap();
        let (d, c) = density_coverage(&real, &collapsed, 2, 5).unwrap();
        assert_eq!(p, 1.0);
        assert!((d - 0.2).abs() < 1e-12, "{d}"); // in 1 ball of k = 5
        assert!(c < 0.01, "{c}");
        assert!(density_coverage(&real, &collapsed, 2, 0).is_err());
    }
}
