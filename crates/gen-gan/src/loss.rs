//! GAN objectives, on discriminator logits.
//!
//! With `D(x) = sigmoid(l(x))` and `softplus(t) = log(1 + e^t)`:
//! `-log D = softplus(-l)` and `-log(1 - D) = softplus(l)`, which is how the
//! binary cross-entropies below are written (stable for any logit, and with
//! float targets, which burn's BCE loss does not take).

use burn::tensor::Tensor;
use burn::tensor::activation::softplus;
use serde::{Deserialize, Serialize};

/// The adversarial objective.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GanLoss {
    /// The minimax game of Goodfellow et al. (2014) for D, and the
    /// non-saturating generator loss `-log D(G(z))` of the same paper
    /// (section 3), which gives G strong gradients early in training.
    #[default]
    NonSaturating,
    /// The original minimax objective for both players: G minimises
    /// `log(1 - D(G(z)))`. Saturates when D wins; kept for comparison.
    Minimax,
}

impl GanLoss {
    /// The discriminator's loss: `-log D(x) - log(1 - D(G(z)))`, averaged.
    ///
    /// # Shapes
    /// `real`, `fake`: logits `[batch, 1]`. Returns `[1]`.
    pub fn discriminator(self, real: Tensor<2>, fake: Tensor<2>) -> Tensor<1> {
        softplus(-real, 1.0).mean() + softplus(fake, 1.0).mean()
    }

    /// The generator's loss on the logits of its samples.
    ///
    /// # Shapes
    /// `fake`: logits `[batch, 1]`. Returns `[1]`.
    pub fn generator(self, fake: Tensor<2>) -> Tensor<1> {
        match self {
            GanLoss::NonSaturating => softplus(-fake, 1.0).mean(),
            GanLoss::Minimax => -softplus(fake, 1.0).mean(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    fn value(t: Tensor<1>) -> f64 {
        t.into_scalar::<f64>()
    }

    #[test]
    fn losses_by_hand() {
        let dev = Device::flex();
        let zero = Tensor::<2>::zeros([4, 1], &dev);
        // D(x) = 1/2 everywhere: each BCE term is ln 2.
        let ln2 = std::f64::consts::LN_2;
        assert!(
            (value(GanLoss::NonSaturating.discriminator(zero.clone(), zero.clone())) - 2.0 * ln2)
                .abs()
                < 1e-6
        );
        assert!((value(GanLoss::NonSaturating.generator(zero.clone())) - ln2).abs() < 1e-6);
        assert!((value(GanLoss::Minimax.generator(zero)) + ln2).abs() < 1e-6);
        // A confident, correct D has a small loss; large logits stay finite.
        let big = Tensor::<2>::full([2, 1], 50.0, &dev);
        let d = value(GanLoss::NonSaturating.discriminator(big.clone(), -big.clone()));
        assert!(d.is_finite() && d < 1e-6, "{d}");
        let g = value(GanLoss::NonSaturating.generator(-big));
        assert!((g - 50.0).abs() < 1e-3, "{g}");
    }
}
