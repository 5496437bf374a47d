//! A gradient penalty that works with first-order autodiff.
//!
//! WGAN-GP (Gulrajani et al., 2017, eq. 3) penalises `(|grad_x D(x_hat)| - 1)^2`
//! at interpolates `x_hat = e x + (1 - e) G(z)`, `e ~ U(0, 1)`. Its gradient
//! with respect to D's parameters is a second-order derivative, which burn
//! 0.22 does not have (`Tensor::grad` is untracked: the penalty would
//! silently be a constant). Here the slope of D is instead estimated by a
//! finite difference along a unit direction `u` per sample,
//!
//! `slope = (D(x_hat + h u) - D(x_hat)) / h`,
//!
//! which is an ordinary forward expression and so differentiable with
//! respect to D's parameters by first-order autodiff. The penalty is
//! `mean((|slope| - 1)^2)`, or `mean(max(0, |slope| - 1)^2)` one-sided
//! (Petzka et al., 2018).
//!
//! The direction `u`:
//! * [`PenaltyDirection::Gradient`] (default): `u = g / |g|` with
//!   `g = grad_x D(x_hat)` from one extra first-order backward, *detached*.
//!   Then `slope ~ |g|`, the quantity WGAN-GP penalises; only the direction
//!   is held constant, the magnitude is differentiated.
//! * [`PenaltyDirection::Random`]: `u` uniform on the unit sphere. Then
//!   `E[(u . g)^2] = |g|^2 / d` in `d` dimensions, so the slope is scaled by
//!   `sqrt(d)` to estimate `|g|` (noisily); no extra backward.
//!
//! Both points are evaluated in one forward pass of the concatenated batch
//! `[x_hat; x_hat + h u]`, so a BatchNorm in D sees the same batch for
//! both (a penalty is per sample and is still best used without BatchNorm).

use burn::config::Config;
use burn::tensor::activation::relu;
use burn::tensor::{Int, Tensor};
use gen_core::SeededRng;
use gen_core::error::{Error as CoreError, ensure_positive};
use serde::{Deserialize, Serialize};

use crate::Discriminator;
use crate::error::Result;

/// Along which unit direction the critic's slope is measured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PenaltyDirection {
    /// The normalised input gradient (detached): the slope estimates the
    /// gradient norm. Costs one extra backward pass.
    #[default]
    Gradient,
    /// A random unit direction, the slope scaled by `sqrt(features)`.
    Random,
}

/// The finite-difference gradient penalty.
#[derive(Config, Debug, PartialEq)]
pub struct GradientPenaltyConfig {
    /// The penalty's weight (lambda; 10 in WGAN-GP), > 0.
    #[config(default = 10.0)]
    pub weight: f64,
    /// The finite-difference step `h`, in data units, > 0.
    #[config(default = 1e-2)]
    pub step: f64,
    /// The direction of the finite difference.
    #[config(default = "PenaltyDirection::Gradient")]
    pub direction: PenaltyDirection,
    /// Penalise only slopes above 1.
    #[config(default = false)]
    pub one_sided: bool,
}

impl GradientPenaltyConfig {
    /// Checks the ranges documented on each field.
    ///
    /// # Errors
    /// [`gen_core::Error::InvalidConfig`] naming the wrong field.
    pub fn validate(&self) -> Result<()> {
        ensure_positive("gradient_penalty.weight", self.weight)?;
        ensure_positive("gradient_penalty.step", self.step)?;
        if !self.step.is_finite() || !self.weight.is_finite() {
            return Err(CoreError::config("gradient_penalty", "must be finite").into());
        }
        Ok(())
    }
}

fn unit_rows(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().square().sum_dim(1).sqrt().add_scalar(1e-12);
    x.div(norm)
}

/// The (unweighted) finite-difference penalty of `critic` at random
/// interpolates of `real` and `fake`; `[1]`, differentiable with respect
/// to the critic's parameters.
///
/// `real` and `fake` are detached first; `labels` (conditional critics)
/// label both. Uses `rng` for the interpolation weights and, with
/// [`PenaltyDirection::Random`], the directions. On a device without
/// autodiff the gradient direction is unavailable and a random one is used.
///
/// # Shapes
/// `real`, `fake`: `[batch, features]`; `labels`: `[batch]`.
pub fn gradient_penalty<D: Discriminator>(
    critic: &D,
    real: Tensor<2>,
    fake: Tensor<2>,
    labels: Option<Tensor<1, Int>>,
    config: &GradientPenaltyConfig,
    rng: &mut SeededRng,
) -> Tensor<1> {
    let [n, f] = real.dims();
    let device = real.device();
    let e = rng.uniform([n, 1], 0.0, 1.0, &device);
    let x_hat = (real.detach() * e.clone() + fake.detach() * (-e + 1.0)).detach();
    let gradient_dir = match config.direction {
        PenaltyDirection::Gradient if device.is_autodiff() => {
            let leaf = x_hat.clone().require_grad();
            let grads = critic.logits(leaf.clone(), labels.clone()).sum().backward();
            leaf.grad(&grads).map(|g| unit_rows(Tensor::from_inner(g)))
        }
        _ => None,
    };
    let (u, scale) = match gradient_dir {
        Some(u) => (u, 1.0),
        None => (unit_rows(rng.normal([n, f], &device)), (f as f64).sqrt()),
    };
    let both = Tensor::cat(vec![x_hat.clone(), x_hat + u * config.step], 0);
    let labels = labels.map(|l| Tensor::cat(vec![l.clone(), l], 0));
    let out = critic.logits(both, labels);
    let base = out.clone().narrow(0, 0, n);
    let moved = out.narrow(0, n, n);
    let slope = ((moved - base) * (scale / config.step)).abs();
    let excess = slope - 1.0;
    let excess = if config.one_sided {
        relu(excess)
    } else {
        excess
    };
    excess.square().mean()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MlpGanConfig;
    use crate::loss::GanLoss;
    use burn::module::{Module, ModuleVisitor, Param};
    use burn::tensor::Device;
    use burn::tensor::Gradients;

    /// Every parameter gradient of a module, flattened in visiting order.
    struct Grads<'a>(&'a Gradients, Vec<f32>);

    impl ModuleVisitor for Grads<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = param.val().grad(self.0) {
                self.1.extend(
                    g.into_data()
                        .convert::<f32>()
                        .try_into_vec::<f32>()
                        .unwrap(),
                );
            }
        }
    }

    fn grads<M: Module>(m: &M, g: &Gradients) -> Vec<f32> {
        let mut v = Grads(g, Vec::new());
        m.visit(&mut v);
        v.1
    }

    #[test]
    fn the_penalty_reaches_the_critics_parameters() {
        let dev = Device::flex().autodiff();
        let d = gen_core::rng::with_seed(1, &dev, || {
            MlpGanConfig::new(6)
                .with_discriminator_hidden(vec![16, 16])
                .init_discriminator(&dev)
                .unwrap()
        });
        let real = SeededRng::new(2).normal([32, 6], &dev);
        let fake = SeededRng::new(3).normal([32, 6], &dev) * 0.5;
        for direction in [PenaltyDirection::Gradient, PenaltyDirection::Random] {
            let cfg = GradientPenaltyConfig::new().with_direction(direction);
            let base = || {
                GanLoss::Wasserstein
                    .discriminator(d.forward(real.clone(), None), d.forward(fake.clone(), None))
            };
            let g0 = grads(&d, &base().backward());
            let gp = gradient_penalty(
                &d,
                real.clone(),
                fake.clone(),
                None,
                &cfg,
                &mut SeededRng::new(4),
            );
            assert!(gp.is_tracked(), "the penalty must be part of the graph");
            let g1 = grads(&d, &(base() + gp * cfg.weight).backward());
            assert_eq!(g0.len(), g1.len());
            let delta = g0
                .iter()
                .zip(&g1)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            eprintln!("{direction:?}: max |grad change| from the penalty {delta:.3e}");
            assert!(delta > 1e-3, "{direction:?}: {delta}");
        }
    }

    #[test]
    fn a_linear_critic_has_its_weight_norm_as_slope() {
        // D(x) = w . x + b: |grad D| = |w| everywhere, so the penalty is
        // exactly (|w| - 1)^2 along the gradient direction.
        let dev = Device::flex().autodiff();
        let d = gen_core::rng::with_seed(7, &dev, || {
            MlpGanConfig::new(5)
                .with_discriminator_hidden(vec![])
                .init_discriminator(&dev)
                .unwrap()
        });
        let w: Vec<f32> = d.layers().0[0]
            .weight
            .val()
            .into_data()
            .try_into_vec()
            .unwrap();
        let norm = w.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
        let real = SeededRng::new(2).normal([8, 5], &dev);
        let fake = SeededRng::new(3).normal([8, 5], &dev);
        let cfg = GradientPenaltyConfig::new();
        let gp = gradient_penalty(&d, real, fake, None, &cfg, &mut SeededRng::new(0));
        let got = gp.into_scalar::<f64>();
        let want = (norm - 1.0).powi(2);
        assert!(
            (got - want).abs() < 1e-3 * want.max(1e-2),
            "{got} vs {want}"
        );
    }

    #[test]
    fn invalid_configs() {
        assert!(
            GradientPenaltyConfig::new()
                .with_step(0.0)
                .validate()
                .is_err()
        );
        assert!(
            GradientPenaltyConfig::new()
                .with_weight(-1.0)
                .validate()
                .is_err()
        );
    }
}
