//! The training objectives: the evidence lower bound (with a KL weight
//! beta) and the importance-weighted bound of Burda et al. (2016).
//!
//! Both are computed per example in nats; losses are their negated batch
//! means.

use burn::tensor::Tensor;
use gen_core::SeededRng;
use serde::{Deserialize, Serialize};

use crate::Vae;
use crate::posterior::{DiagonalGaussian, standard_normal_log_prob};

/// What a training step maximises.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Objective {
    /// The ELBO `E_q[log p(x|z)] - beta * KL(q(z|x) || p(z))`, one sample
    /// of z per example, the KL in closed form.
    Elbo,
    /// The importance-weighted bound with `samples` (k >= 1) draws of z per
    /// example: `log (1/k) sum_j p(x, z_j) / q(z_j | x)`. k = 1 is the ELBO
    /// (with a sampled rather than closed-form KL); it tightens as k grows.
    Iwae {
        /// The number of importance samples k, >= 1.
        samples: usize,
    },
}

/// The two terms of the ELBO, per example, in nats.
#[derive(Clone, Debug)]
pub struct ElboTerms {
    /// `log p(x | z)` for one reparameterised draw of z. Shape `[batch]`.
    pub log_likelihood: Tensor<1>,
    /// `KL(q(z | x) || N(0, I))`, in closed form. Shape `[batch]`.
    pub kl: Tensor<1>,
}

impl ElboTerms {
    /// `log p(x|z) - beta * KL` per example (the ELBO when beta = 1).
    pub fn bound(&self, beta: f64) -> Tensor<1> {
        self.log_likelihood.clone() - self.kl.clone() * beta
    }
}

/// The ELBO's terms for a batch, drawing z with the reparameterisation
/// trick (so gradients reach the encoder through z).
///
/// # Shapes
/// `x`: `[batch, features]`; `condition`: one-hot `[batch, classes]` for a
/// conditional model.
pub fn elbo_terms<M: Vae>(
    model: &M,
    x: Tensor<2>,
    condition: Option<Tensor<2>>,
    rng: &mut SeededRng,
) -> ElboTerms {
    let q = model.encode(x.clone(), condition.clone());
    let z = q.rsample(rng);
    let params = model.decode(z, condition);
    ElboTerms {
        log_likelihood: model.output().log_prob(params, x),
        kl: q.kl_to_standard_normal(),
    }
}

/// The log importance weights `log p(x, z_j) - log q(z_j | x)` for `k`
/// draws of z per example. Shape `[k, batch]`.
pub fn log_weights<M: Vae>(
    model: &M,
    x: Tensor<2>,
    condition: Option<Tensor<2>>,
    k: usize,
    rng: &mut SeededRng,
) -> Tensor<2> {
    let q = model.encode(x.clone(), condition.clone());
    log_weights_from(model, &q, x, condition, k, rng)
}

/// [`log_weights`] for a posterior already computed (the encoder runs once
/// per example however many draws are taken).
pub fn log_weights_from<M: Vae>(
    model: &M,
    q: &DiagonalGaussian,
    x: Tensor<2>,
    condition: Option<Tensor<2>>,
    k: usize,
    rng: &mut SeededRng,
) -> Tensor<2> {
    let b = x.dims()[0];
    // Row j * b + i holds draw j of example i.
    let tile = |t: Tensor<2>| t.repeat_dim(0, k);
    let q_k = DiagonalGaussian::new(tile(q.mean.clone()), tile(q.log_variance.clone()));
    let z = q_k.rsample(rng);
    let params = model.decode(z.clone(), condition.map(tile));
    let log_px = model.output().log_prob(params, tile(x));
    let log_w = log_px + standard_normal_log_prob(z.clone()) - q_k.log_prob(z);
    log_w.reshape([k, b])
}

/// `log (1/k) sum_j exp(w_j)` over the first dimension, computed stably.
/// Shape `[k, batch]` -> `[batch]`.
pub fn log_mean_exp(log_w: Tensor<2>) -> Tensor<1> {
    let k = log_w.dims()[0];
    let max = log_w.clone().max_dim(0).detach();
    let centred = (log_w - max.clone()).exp().sum_dim(0);
    (centred.log() + max - (k as f64).ln()).squeeze_dim::<1>(0)
}

/// The importance-weighted bound per example, in nats. Shape `[batch]`.
pub fn iwae_bound<M: Vae>(
    model: &M,
    x: Tensor<2>,
    condition: Option<Tensor<2>>,
    k: usize,
    rng: &mut SeededRng,
) -> Tensor<1> {
    log_mean_exp(log_weights(model, x, condition, k, rng))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MlpVaeConfig;
    use burn::tensor::Device;

    fn mean(t: Tensor<1>) -> f64 {
        t.mean().into_scalar::<f64>()
    }

    #[test]
    fn log_mean_exp_is_stable_and_exact() {
        let dev = Device::flex();
        let w = Tensor::<2>::from_floats([[1000.0, -3.0], [1000.0, -1.0]], &dev);
        let got: Vec<f32> = log_mean_exp(w).into_data().try_into_vec().unwrap();
        assert!((got[0] - 1000.0).abs() < 1e-3);
        let want = ((-3.0f64).exp() / 2.0 + (-1.0f64).exp() / 2.0).ln();
        assert!((f64::from(got[1]) - want).abs() < 1e-5);
    }

    /// On a fixed small model, the k-sample bound is >= the ELBO and does
    /// not decrease with k (averaged over enough draws that the Monte Carlo
    /// error is far below the gaps).
    #[test]
    fn iwae_bound_is_above_the_elbo_and_grows_with_k() {
        let dev = Device::flex();
        let model = gen_core::rng::with_seed(3, &dev, || {
            MlpVaeConfig::new(12)
                .with_latent_dim(3)
                .with_hidden(vec![16])
                .init(&dev)
                .unwrap()
        });
        let mut rng = SeededRng::new(1);
        let x = rng
            .uniform([64, 12], 0.0, 1.0, &dev)
            .greater_elem(0.5)
            .float();
        // The ELBO's expectation, with the KL in closed form.
        let mut elbo = 0.0;
        for _ in 0..50 {
            elbo += mean(elbo_terms(&model, x.clone(), None, &mut rng).bound(1.0)) / 50.0;
        }
        let mut previous = elbo;
        for k in [1, 5, 50, 500] {
            let reps = (2000 / k).max(4);
            let mut bound = 0.0;
            for _ in 0..reps {
                bound += mean(iwae_bound(&model, x.clone(), None, k, &mut rng)) / reps as f64;
            }
            assert!(
                bound >= previous - 0.02,
                "k = {k}: bound {bound} fell below {previous} (elbo {elbo})"
            );
            previous = bound;
        }
        assert!(
            previous > elbo + 0.05,
            "k = 500 gained nothing: {previous} vs {elbo}"
        );
    }
}
