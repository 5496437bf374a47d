//! Diagonal Gaussian distributions over the latent space: the encoder's
//! posterior q(z | x), the reparameterisation trick, the closed-form KL
//! divergence to the standard normal prior, and log densities.

use burn::tensor::Tensor;
use gen_core::SeededRng;

/// `log(2 pi)`, the constant of every Gaussian log density.
pub const LOG_2PI: f64 = 1.837_877_066_409_345_5;

/// A diagonal Gaussian `N(mean, diag(exp(log_variance)))` per row.
///
/// # Shapes
/// `mean` and `log_variance`: `[batch, latent]`.
#[derive(Clone, Debug)]
pub struct DiagonalGaussian {
    /// The means.
    pub mean: Tensor<2>,
    /// The log-variances (the encoder predicts these, so the variance is
    /// positive by construction).
    pub log_variance: Tensor<2>,
}

impl DiagonalGaussian {
    /// A distribution from its parameters.
    pub fn new(mean: Tensor<2>, log_variance: Tensor<2>) -> Self {
        Self { mean, log_variance }
    }

    /// The standard deviations `exp(log_variance / 2)`.
    pub fn std(&self) -> Tensor<2> {
        (self.log_variance.clone() * 0.5).exp()
    }

    /// The reparameterised sample `mean + std * eps` for given standard
    /// normal noise `eps` (same shape): differentiable in the parameters.
    pub fn rsample_with(&self, eps: Tensor<2>) -> Tensor<2> {
        self.mean.clone() + self.std() * eps
    }

    /// A reparameterised sample, with the noise drawn from `rng` on the
    /// host (the same numbers on every backend).
    pub fn rsample(&self, rng: &mut SeededRng) -> Tensor<2> {
        let eps = rng.normal(self.mean.dims(), &self.mean.device());
        self.rsample_with(eps)
    }

    /// `KL(q || N(0, I))` in nats, per row, in closed form:
    /// `0.5 * sum(mean^2 + var - 1 - log var)`. Shape `[batch]`.
    pub fn kl_to_standard_normal(&self) -> Tensor<1> {
        let lv = self.log_variance.clone();
        let terms = self.mean.clone().square() + lv.clone().exp() - lv - 1.0;
        terms.sum_dim(1).squeeze_dim::<1>(1) * 0.5
    }

    /// `log q(z)` in nats, per row. Shape `[batch]`.
    pub fn log_prob(&self, z: Tensor<2>) -> Tensor<1> {
        let lv = self.log_variance.clone();
        let standardised = (z - self.mean.clone()) * (lv.clone() * -0.5).exp();
        let per_dim = standardised.square() + lv + LOG_2PI;
        per_dim.sum_dim(1).squeeze_dim::<1>(1) * -0.5
    }
}

/// `log N(z; 0, I)` in nats, per row. Shape `[batch]`.
pub fn standard_normal_log_prob(z: Tensor<2>) -> Tensor<1> {
    (z.square() + LOG_2PI).sum_dim(1).squeeze_dim::<1>(1) * -0.5
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;
    use std::f64::consts::PI;

    fn host(t: Tensor<1>) -> Vec<f64> {
        t.into_data()
            .try_into_vec::<f32>()
            .unwrap()
            .into_iter()
            .map(f64::from)
            .collect()
    }

    #[test]
    fn log_2pi_is_right() {
        assert!((LOG_2PI - (2.0 * PI).ln()).abs() < 1e-15);
    }

    #[test]
    fn closed_form_kl_matches_monte_carlo() {
        let dev = Device::flex();
        let mean = Tensor::<2>::from_floats([[0.5, -1.0, 0.0], [2.0, 0.3, -0.7]], &dev);
        let lv = Tensor::<2>::from_floats([[0.0, -1.0, 0.7], [-2.0, 0.4, 0.1]], &dev);
        let q = DiagonalGaussian::new(mean, lv);
        let closed = host(q.kl_to_standard_normal());
        // KL = E_q[log q(z) - log p(z)], estimated with 200,000 draws per row.
        let n = 200_000;
        let mut rng = SeededRng::new(7);
        let mut sums = [0.0f64; 2];
        for _ in 0..(n / 10_000) {
            let rows = |t: &Tensor<2>| t.clone().repeat_dim(0, 10_000);
            let big = DiagonalGaussian::new(rows(&q.mean), rows(&q.log_variance));
            let z = big.rsample(&mut rng);
            let diff = host(big.log_prob(z.clone()) - standard_normal_log_prob(z));
            // Rows alternate 0, 1, 0, 1... after repeat_dim(0, _).
            for (i, d) in diff.iter().enumerate() {
                sums[i % 2] += d;
            }
        }
        for (row, &kl) in closed.iter().enumerate() {
            let mc = sums[row] / n as f64;
            assert!(
                (mc - kl).abs() < 0.02 * kl.max(1.0),
                "row {row}: closed form {kl}, Monte Carlo {mc}"
            );
        }
    }

    #[test]
    fn standard_normal_matches_the_density_formula() {
        let dev = Device::flex();
        let z = Tensor::<2>::from_floats([[0.0, 1.0], [-2.0, 0.5]], &dev);
        let got = host(standard_normal_log_prob(z));
        let want = [-LOG_2PI - 0.5, -LOG_2PI - 0.5 * (4.0 + 0.25)];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-5, "{g} vs {w}");
        }
        let q = DiagonalGaussian::new(Tensor::zeros([1, 2], &dev), Tensor::zeros([1, 2], &dev));
        let same = host(q.log_prob(Tensor::<2>::from_floats([[1.0, 0.0]], &dev)));
        assert!((same[0] - (-LOG_2PI - 0.5)).abs() < 1e-5);
    }
}
