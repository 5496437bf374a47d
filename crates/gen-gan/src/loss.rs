//! GAN objectives, on the discriminator's raw outputs `l(x)` (logits for
//! the cross-entropy losses, scores for the others).
//!
//! With `D(x) = sigmoid(l(x))` and `softplus(t) = log(1 + e^t)`:
//! `-log D = softplus(-l)` and `-log(1 - D) = softplus(l)`, which is how the
//! binary cross-entropies below are written (stable for any logit, and with
//! float targets, which burn's BCE loss does not take).
//!
//! | loss | D minimises | G minimises |
//! |---|---|---|
//! | [`NonSaturating`](GanLoss::NonSaturating) | `softplus(-l(x)) + softplus(l(G(z)))` | `softplus(-l(G(z)))` |
//! | [`Minimax`](GanLoss::Minimax) | as above | `-softplus(l(G(z)))` = `log(1 - D(G(z)))` |
//! | [`Hinge`](GanLoss::Hinge) | `relu(1 - l(x)) + relu(1 + l(G(z)))` | `-l(G(z))` |
//! | [`Wasserstein`](GanLoss::Wasserstein) | `l(G(z)) - l(x)` | `-l(G(z))` |
//! | [`LeastSquares`](GanLoss::LeastSquares) | `(l(x) - 1)^2 / 2 + l(G(z))^2 / 2` | `(l(G(z)) - 1)^2 / 2` |
//!
//! each averaged over the batch. The Wasserstein critic needs a Lipschitz
//! constraint (weight clipping, spectral normalisation or a gradient
//! penalty, see [`GanTrainingConfig`](crate::GanTrainingConfig)).

use burn::tensor::Tensor;
use burn::tensor::activation::{relu, softplus};
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
    /// The hinge loss (Lim and Ye, 2017; Miyato et al., 2018, eq. 16-17).
    Hinge,
    /// The Wasserstein-1 estimate of WGAN (Arjovsky et al., 2017, eq. 3):
    /// the critic maximises `E l(x) - E l(G(z))`.
    Wasserstein,
    /// Least squares (LSGAN, Mao et al., 2017, eq. 2 with a-b-c = 0-1-1).
    LeastSquares,
}

gen_core::enum_names!(GanLoss, "loss", {
    GanLoss::NonSaturating => "non_saturating" | "non-saturating",
    GanLoss::Minimax => "minimax",
    GanLoss::Hinge => "hinge",
    GanLoss::Wasserstein => "wasserstein",
    GanLoss::LeastSquares => "least_squares" | "least-squares",
});

impl GanLoss {
    /// Whether the discriminator's outputs are logits of a probability
    /// (the two cross-entropy losses).
    pub fn is_probabilistic(self) -> bool {
        matches!(self, GanLoss::NonSaturating | GanLoss::Minimax)
    }

    /// The discriminator's loss (see the table in the module docs).
    ///
    /// # Shapes
    /// `real`, `fake`: outputs `[batch, 1]`. Returns `[1]`.
    pub fn discriminator(self, real: Tensor<2>, fake: Tensor<2>) -> Tensor<1> {
        match self {
            GanLoss::NonSaturating | GanLoss::Minimax => {
                softplus(-real, 1.0).mean() + softplus(fake, 1.0).mean()
            }
            GanLoss::Hinge => relu(-real + 1.0).mean() + relu(fake + 1.0).mean(),
            GanLoss::Wasserstein => fake.mean() - real.mean(),
            GanLoss::LeastSquares => ((real - 1.0).square().mean() + fake.square().mean()) * 0.5,
        }
    }

    /// The generator's loss on the logits of its samples.
    ///
    /// # Shapes
    /// `fake`: logits `[batch, 1]`. Returns `[1]`.
    pub fn generator(self, fake: Tensor<2>) -> Tensor<1> {
        match self {
            GanLoss::NonSaturating => softplus(-fake, 1.0).mean(),
            GanLoss::Minimax => -softplus(fake, 1.0).mean(),
            GanLoss::Hinge | GanLoss::Wasserstein => -fake.mean(),
            GanLoss::LeastSquares => (fake - 1.0).square().mean() * 0.5,
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

    #[test]
    fn other_losses_by_hand() {
        let dev = Device::flex();
        let real = Tensor::<2>::from_floats([[2.0], [0.0]], &dev);
        let fake = Tensor::<2>::from_floats([[-0.5], [1.0]], &dev);
        let d = |l: GanLoss| value(l.discriminator(real.clone(), fake.clone()));
        let g = |l: GanLoss| value(l.generator(fake.clone()));
        // hinge: mean(relu(1 - [2, 0])) + mean(relu(1 + [-0.5, 1])) = 0.5 + 1.25
        assert!((d(GanLoss::Hinge) - 1.75).abs() < 1e-6);
        assert!((g(GanLoss::Hinge) + 0.25).abs() < 1e-6);
        // Wasserstein: mean(fake) - mean(real) = 0.25 - 1
        assert!((d(GanLoss::Wasserstein) + 0.75).abs() < 1e-6);
        assert!((g(GanLoss::Wasserstein) + 0.25).abs() < 1e-6);
        // least squares: ((1 + 1) / 2 + (0.25 + 1) / 2) / 2
        assert!((d(GanLoss::LeastSquares) - 0.8125).abs() < 1e-6);
        // ((2.25 + 0) / 2) / 2
        assert!((g(GanLoss::LeastSquares) - 0.5625).abs() < 1e-6);
        assert!(!GanLoss::Hinge.is_probabilistic());
    }
}
