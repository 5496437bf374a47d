//! Evaluation in nats: the negative ELBO and the importance-sampled
//! negative log-likelihood `-log p(x)` (Burda et al., 2016), per example,
//! with bits per dimension.
//!
//! `log p(x) ~ log (1/k) sum_j p(x | z_j) p(z_j) / q(z_j | x)` with
//! `z_j ~ q(z | x)`: a lower bound in expectation that tightens as k grows
//! and converges to `log p(x)`; with k >= 1000 it is the usual estimate of
//! a VAE's test log-likelihood.

use burn::tensor::{Device, Tensor};
use gen_core::nats::{bits_per_dim, log_mean_exp};
use gen_core::{BatchSource, Error as CoreError, SeededRng};
use serde::{Deserialize, Serialize};

use crate::objective::{elbo_terms, log_weights_from};
use crate::{Vae, condition_for};

/// The most rows one decoder call processes while estimating the
/// likelihood (k draws times the batch), which bounds the memory used.
const MAX_ROWS: usize = 20_000;

/// A model's scores on a dataset, per example, in nats.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Examples evaluated.
    pub examples: usize,
    /// The negative ELBO (one draw of z per example, KL in closed form).
    pub neg_elbo: f64,
    /// Its reconstruction term `-log p(x | z)`.
    pub reconstruction: f64,
    /// Its KL term.
    pub kl: f64,
    /// The importance-sampled negative log-likelihood, when asked for.
    pub nll: Option<f64>,
    /// The importance samples per example behind `nll` (0 when not
    /// computed).
    pub importance_samples: usize,
    /// `nll` (or, without it, `neg_elbo`) in bits per dimension.
    pub bits_per_dim: f64,
}

/// Estimates `log p(x)` per example with `k` importance samples (drawn
/// in chunks so that memory stays bounded), in nats.
///
/// # Errors
/// [`gen_core::Error::InvalidConfig`] when `k` is 0, and the input checks of
/// the training step (width, labels of a conditional model).
pub fn importance_sampled_log_likelihood<M: Vae>(
    model: &M,
    x: Tensor<2>,
    condition: Option<Tensor<2>>,
    k: usize,
    rng: &mut SeededRng,
) -> gen_core::Result<Vec<f64>> {
    gen_core::error::ensure_nonzero("importance samples", k)?;
    let b = x.dims()[0];
    let q = model.encode(x.clone(), condition.clone());
    let per_call = (MAX_ROWS / b.max(1)).clamp(1, k);
    // weights[i] collects the k log-weights of example i.
    let mut weights = vec![Vec::with_capacity(k); b];
    let mut drawn = 0;
    while drawn < k {
        let n = per_call.min(k - drawn);
        let log_w = log_weights_from(model, &q, x.clone(), condition.clone(), n, rng);
        let host: Vec<f32> = log_w
            .into_data()
            .try_into_vec()
            .map_err(|e| CoreError::Data(format!("reading log-weights back: {e:?}")))?;
        for (row, chunk) in host.chunks(b).enumerate() {
            debug_assert!(row < n);
            for (i, &w) in chunk.iter().enumerate() {
                weights[i].push(f64::from(w));
            }
        }
        drawn += n;
    }
    Ok(weights.iter().map(|w| log_mean_exp(w)).collect())
}

/// Evaluates `model` on one pass over `data` (batches `0..batches_per_epoch`;
/// use an unshuffled source whose batch size divides the dataset, so every
/// example counts once): the negative ELBO and, when `k > 0`, the
/// importance-sampled NLL with `k` samples per example.
///
/// # Errors
/// When a batch cannot be read or does not fit the model.
pub fn evaluate<M: Vae>(
    model: &M,
    data: &mut dyn BatchSource,
    device: &Device,
    k: usize,
    rng: &mut SeededRng,
) -> gen_core::Result<Evaluation> {
    let model = model.valid().to_device(device);
    let (mut n, mut log_px, mut kl, mut ll) = (0usize, 0.0, 0.0, 0.0);
    for index in 0..data.batches_per_epoch() as u64 {
        let batch = data.batch(index, device)?;
        let x = batch.data;
        let condition = condition_for(&model, &x, batch.labels.as_ref())?;
        let terms = elbo_terms(&model, x.clone(), condition.clone(), rng);
        let b = x.dims()[0];
        log_px += terms.log_likelihood.sum().into_scalar::<f64>();
        kl += terms.kl.sum().into_scalar::<f64>();
        if k > 0 {
            ll += importance_sampled_log_likelihood(&model, x, condition, k, rng)?
                .iter()
                .sum::<f64>();
        }
        n += b;
    }
    gen_core::error::ensure_nonzero("examples in the evaluation data", n)?;
    let per = |total: f64| total / n as f64;
    let neg_elbo = per(kl - log_px);
    let nll = (k > 0).then(|| -per(ll));
    Ok(Evaluation {
        examples: n,
        neg_elbo,
        reconstruction: -per(log_px),
        kl: per(kl),
        nll,
        importance_samples: k,
        bits_per_dim: bits_per_dim(nll.unwrap_or(neg_elbo), model.features()),
    })
}
