//! Distances between two sets of samples: how far generated data is from
//! real data, for low-dimensional (toy) data.
//!
//! - [`mmd_rbf`]: the unbiased estimate of the squared maximum mean
//!   discrepancy with a sum of Gaussian (RBF) kernels (Gretton et al., 2012,
//!   eq. 3).
//! - [`energy_distance`]: `2 E|X - Y| - E|X - X'| - E|Y - Y'|` (Székely and
//!   Rizzo, 2013), the V-statistic.
//!
//! Both take `[n, d]` and `[m, d]` tensors on any device and return a host
//! `f64`; both are 0 in expectation when the two distributions are equal.

use burn::tensor::Tensor;

use gen_core::error::{Error, Result};

/// Squared Euclidean distances between the rows of `x` `[n, d]` and `y`
/// `[m, d]`: `[n, m]`.
pub fn pairwise_sq_dist(x: Tensor<2>, y: Tensor<2>) -> Tensor<2> {
    let xx = x.clone().square().sum_dim(1); // [n, 1]
    let yy = y.clone().square().sum_dim(1).transpose(); // [1, m]
    let xy = x.matmul(y.transpose()); // [n, m]
    (xx + yy - xy * 2.0).clamp_min(0.0)
}

fn check(x: &Tensor<2>, y: &Tensor<2>, what: &'static str) -> Result<(usize, usize)> {
    let [n, d] = x.dims();
    let [m, e] = y.dims();
    if n < 2 || m < 2 || d != e {
        return Err(Error::Shape {
            what,
            expected: format!("two sets of at least 2 rows with equal width (first is [{n}, {d}])"),
            found: vec![m, e],
        });
    }
    Ok((n, m))
}

fn scalar(t: Tensor<1>) -> f64 {
    t.into_scalar::<f64>()
}

/// The unbiased squared MMD between samples `x` `[n, d]` and `y` `[m, d]`
/// with the kernel `sum_s exp(-|a - b|^2 / (2 s^2))` over `bandwidths`.
///
/// Diagonal terms are excluded from the within-set means, so the estimate
/// can be slightly negative when the sets come from the same distribution.
///
/// # Errors
/// [`Error::Shape`] when a set has fewer than 2 rows or the widths differ;
/// [`Error::InvalidConfig`] for an empty or non-positive bandwidth list.
pub fn mmd_rbf(x: Tensor<2>, y: Tensor<2>, bandwidths: &[f64]) -> Result<f64> {
    let (n, m) = check(&x, &y, "mmd_rbf")?;
    if bandwidths.is_empty() {
        return Err(Error::config("bandwidths", "needs at least one bandwidth"));
    }
    for &s in bandwidths {
        gen_core::error::ensure_positive("bandwidths", s)?;
    }
    let kernel = |d2: Tensor<2>| {
        let mut acc = d2.zeros_like();
        for &s in bandwidths {
            acc = acc + (d2.clone() * (-0.5 / (s * s))).exp();
        }
        acc
    };
    let k = bandwidths.len() as f64; // k(a, a) summed over the bandwidths
    let kxx = scalar(kernel(pairwise_sq_dist(x.clone(), x.clone())).sum());
    let kyy = scalar(kernel(pairwise_sq_dist(y.clone(), y.clone())).sum());
    let kxy = scalar(kernel(pairwise_sq_dist(x, y)).sum());
    let (nf, mf) = (n as f64, m as f64);
    Ok(
        (kxx - k * nf) / (nf * (nf - 1.0)) + (kyy - k * mf) / (mf * (mf - 1.0))
            - 2.0 * kxy / (nf * mf),
    )
}

/// The energy distance between samples `x` `[n, d]` and `y` `[m, d]`.
///
/// # Errors
/// [`Error::Shape`] when a set has fewer than 2 rows or the widths differ.
pub fn energy_distance(x: Tensor<2>, y: Tensor<2>) -> Result<f64> {
    check(&x, &y, "energy_distance")?;
    let mean_dist = |a: Tensor<2>, b: Tensor<2>| scalar(pairwise_sq_dist(a, b).sqrt().mean());
    let xy = mean_dist(x.clone(), y.clone());
    let xx = mean_dist(x.clone(), x);
    let yy = mean_dist(y.clone(), y);
    Ok(2.0 * xy - xx - yy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;
    use gen_core::SeededRng;

    fn gaussian(rng: &mut SeededRng, n: usize, shift: f32, dev: &Device) -> Tensor<2> {
        rng.normal([n, 2], dev) + shift
    }

    #[test]
    fn pairwise_distances_by_hand() {
        let dev = Device::flex();
        let x = Tensor::<2>::from_floats([[0.0, 0.0], [3.0, 4.0]], &dev);
        let y = Tensor::<2>::from_floats([[0.0, 4.0]], &dev);
        let d: Vec<f32> = pairwise_sq_dist(x, y).into_data().try_into_vec().unwrap();
        assert_eq!(d, vec![16.0, 9.0]);
    }

    #[test]
    fn same_distribution_is_near_zero_and_shift_is_far() {
        let dev = Device::flex();
        let mut rng = SeededRng::new(0);
        let a = gaussian(&mut rng, 400, 0.0, &dev);
        let b = gaussian(&mut rng, 400, 0.0, &dev);
        let c = gaussian(&mut rng, 400, 2.0, &dev);
        let bw = [0.5, 1.0, 2.0];
        let same = mmd_rbf(a.clone(), b.clone(), &bw).unwrap();
        let far = mmd_rbf(a.clone(), c.clone(), &bw).unwrap();
        assert!(same.abs() < 0.02, "same {same}");
        assert!(far > 0.5, "far {far}");
        let e_same = energy_distance(a.clone(), b).unwrap();
        let e_far = energy_distance(a, c).unwrap();
        assert!(e_same.abs() < 0.05, "energy same {e_same}");
        // For a shift of 2 along both axes the population value is about 1.9.
        assert!(e_far > 1.0, "energy far {e_far}");
    }

    #[test]
    fn bad_inputs_are_errors() {
        let dev = Device::flex();
        let x = Tensor::<2>::zeros([4, 2], &dev);
        let y = Tensor::<2>::zeros([4, 3], &dev);
        assert!(matches!(
            mmd_rbf(x.clone(), y.clone(), &[1.0]),
            Err(Error::Shape { .. })
        ));
        assert!(matches!(
            energy_distance(x.clone(), y),
            Err(Error::Shape { .. })
        ));
        assert!(matches!(
            mmd_rbf(x.clone(), x.clone(), &[]),
            Err(Error::InvalidConfig { .. })
        ));
        assert!(matches!(
            mmd_rbf(x.clone(), x, &[0.0]),
            Err(Error::InvalidConfig { .. })
        ));
    }
}
