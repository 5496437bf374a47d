//! The decoder's output distribution p(x | z): Bernoulli for binary or
//! grey-as-probability pixels, Gaussian with a fixed or a learned variance
//! for real-valued data.

use burn::module::{Module, Param};
use burn::tensor::activation::{sigmoid, softplus};
use burn::tensor::{Device, Tensor};
use gen_core::Error as CoreError;
use serde::{Deserialize, Serialize};

use crate::posterior::LOG_2PI;

/// The family of p(x | z).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Likelihood {
    /// Independent Bernoulli per value; the decoder outputs logits and the
    /// data must lie in `[0, 1]` (binary, or grey levels read as
    /// probabilities, as in most MNIST VAE code).
    Bernoulli,
    /// Independent Gaussians with one fixed standard deviation (> 0); the
    /// decoder outputs the means.
    Gaussian {
        /// The standard deviation of every value.
        std: f64,
    },
    /// Independent Gaussians with a learned log-variance per value (one
    /// parameter per data dimension, shared across examples, initialised
    /// to variance 1 and clamped to `[-10, 10]`); the decoder outputs the
    /// means.
    GaussianLearned,
}

impl Likelihood {
    /// Checks the parameters.
    ///
    /// # Errors
    /// [`gen_core::Error::InvalidConfig`] for a standard deviation that is
    /// not finite and positive.
    pub fn validate(&self) -> gen_core::Result<()> {
        if let Self::Gaussian { std } = *self
            && !(std.is_finite() && std > 0.0)
        {
            return Err(CoreError::config(
                "likelihood",
                format!("Gaussian std must be finite and > 0, found {std}"),
            ));
        }
        Ok(())
    }
}

/// The decoder's output head: turns the decoder's raw output into log
/// densities and means. Holds the learned log-variance when there is one.
#[derive(Module, Debug)]
pub struct OutputDistribution {
    #[module(skip)]
    likelihood: Likelihood,
    log_variance: Option<Param<Tensor<1>>>,
}

/// The clamp on a learned log-variance, so that a collapsing variance
/// cannot send the likelihood to infinity.
const LOG_VARIANCE_LIMIT: f64 = 10.0;

impl OutputDistribution {
    /// The head for `likelihood` over `features` values.
    pub fn new(likelihood: Likelihood, features: usize, device: &Device) -> Self {
        let log_variance = matches!(likelihood, Likelihood::GaussianLearned)
            .then(|| Param::from_tensor(Tensor::zeros([features], device)));
        Self {
            likelihood,
            log_variance,
        }
    }

    /// The family.
    pub fn likelihood(&self) -> Likelihood {
        self.likelihood
    }

    /// `log p(x | z)` in nats per row, from the decoder's raw output.
    ///
    /// # Shapes
    /// `params`, `x`: `[batch, features]` -> `[batch]`.
    pub fn log_prob(&self, params: Tensor<2>, x: Tensor<2>) -> Tensor<1> {
        let per_value = match self.likelihood {
            // x * l - log(1 + e^l), the negative of BCE-with-logits.
            Likelihood::Bernoulli => x * params.clone() - softplus(params, 1.0),
            Likelihood::Gaussian { std } => {
                let log_var = 2.0 * std.ln();
                (x - params).square() * (-0.5 / (std * std)) - 0.5 * (log_var + LOG_2PI)
            }
            Likelihood::GaussianLearned => {
                let lv = self.learned_log_variance().unsqueeze_dim::<2>(0);
                ((x - params).square() * (lv.clone() * -1.0).exp() + lv + LOG_2PI) * -0.5
            }
        };
        per_value.sum_dim(1).squeeze_dim::<1>(1)
    }

    /// The mean of p(x | z): probabilities for Bernoulli, the decoder's
    /// output for the Gaussians. This is what reconstructions and sample
    /// grids show.
    pub fn mean(&self, params: Tensor<2>) -> Tensor<2> {
        match self.likelihood {
            Likelihood::Bernoulli => sigmoid(params),
            Likelihood::Gaussian { .. } | Likelihood::GaussianLearned => params,
        }
    }

    fn learned_log_variance(&self) -> Tensor<1> {
        self.log_variance
            .as_ref()
            .expect("a learned-variance head holds its parameter")
            .val()
            .clamp(-LOG_VARIANCE_LIMIT, LOG_VARIANCE_LIMIT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(t: Tensor<1>) -> Vec<f64> {
        t.into_data()
            .try_into_vec::<f32>()
            .unwrap()
            .into_iter()
            .map(f64::from)
            .collect()
    }

    #[test]
    fn bernoulli_is_the_negative_cross_entropy() {
        let dev = Device::flex();
        let head = OutputDistribution::new(Likelihood::Bernoulli, 2, &dev);
        let logits = Tensor::<2>::from_floats([[0.0, 2.0]], &dev);
        let x = Tensor::<2>::from_floats([[1.0, 0.25]], &dev);
        let p = 1.0 / (1.0 + (-2.0f64).exp());
        let want = 0.5f64.ln() + 0.25 * p.ln() + 0.75 * (1.0 - p).ln();
        let got = host(head.log_prob(logits, x))[0];
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
    }

    #[test]
    fn gaussians_match_the_density_formula() {
        let dev = Device::flex();
        let mean = Tensor::<2>::from_floats([[0.0, 1.0]], &dev);
        let x = Tensor::<2>::from_floats([[0.5, 0.0]], &dev);
        let fixed = OutputDistribution::new(Likelihood::Gaussian { std: 0.5 }, 2, &dev);
        let lv = 2.0 * 0.5f64.ln();
        let want = -0.5 * (0.25 / 0.25 + 1.0 / 0.25) - (lv + LOG_2PI);
        let got = host(fixed.log_prob(mean.clone(), x.clone()))[0];
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        // Learned variance starts at 1.
        let learned = OutputDistribution::new(Likelihood::GaussianLearned, 2, &dev);
        let want = -0.5 * (0.25 + 1.0) - LOG_2PI;
        let got = host(learned.log_prob(mean, x))[0];
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        assert_eq!(learned.num_params(), 2);
        assert_eq!(fixed.num_params(), 0);
    }

    #[test]
    fn invalid_std_is_a_typed_error() {
        for std in [0.0, -1.0, f64::NAN] {
            let err = Likelihood::Gaussian { std }.validate().unwrap_err();
            assert!(err.to_string().contains("likelihood"), "{err}");
        }
    }
}
