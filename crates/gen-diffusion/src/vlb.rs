//! The variational bound on the negative log-likelihood of images, in bits
//! per dimension (Ho et al. 2020, eq. 5 and sec. 3.3):
//!
//! ```text
//! -log p(x0) <= KL(q(x_T | x0) || N(0, I))                        (prior)
//!             + sum_{t>=1} KL(q(x_{t-1} | x_t, x0) || p(x_{t-1} | x_t))   (diffusion terms)
//!             - log p(x0 | x_1)                                   (decoder)
//! ```
//!
//! with 0-based timesteps here: the diffusion terms run over `t = 1..T-1`,
//! and the decoder is evaluated at `t = 0`. The reverse process uses the
//! model's `x0` estimate in the posterior mean and the posterior variance
//! `beta~_t` ("fixed small"), so each diffusion term is
//! `c_t^2 |x0 - x0_hat|^2 / (2 beta~_t)` with
//! `c_t = sqrt(alpha_bar_{t-1}) beta_t / (1 - alpha_bar_t)`. The decoder is
//! Ho et al.'s discretised Gaussian: 256 bins on `[-1, 1]`, mean `x0_hat`,
//! variance `beta_0`, the outer bins extended to infinity.
//!
//! The sum over `T - 1` terms is estimated per image by stratified Monte
//! Carlo: the timesteps are split into `k` equal strata, one uniform draw
//! per stratum, each term weighted by its stratum's size. The estimate is
//! unbiased; its standard error over images is reported with it.

use burn::tensor::{Tensor, TensorData};
use serde::Serialize;

use gen_core::{Error as CoreError, SeededRng};

use crate::denoiser::Denoiser;
use crate::error::Result;
use crate::forward::add_noise_batch;
use crate::sampler::Prediction;
use crate::schedule::NoiseSchedule;

/// The bound on a set of images.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VlbEstimate {
    /// The whole bound, bits per dimension (mean over images).
    pub bits_per_dim: f64,
    /// The standard error of that mean over images.
    pub std_error: f64,
    /// The prior term `KL(q(x_T | x0) || N(0, I))`, bits per dimension.
    pub prior_bpd: f64,
    /// The decoder term `-log p(x0 | x_1)`, bits per dimension.
    pub decoder_bpd: f64,
    /// The estimated sum of the diffusion terms, bits per dimension.
    pub diffusion_bpd: f64,
    /// Images evaluated.
    pub images: usize,
}

/// `Phi(x)`, the standard normal CDF, by the tanh approximation used in
/// Ho et al.'s code (`approx_standard_normal_cdf`).
fn normal_cdf(x: f64) -> f64 {
    0.5 * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x.powi(3))).tanh())
}

/// `log p(x)` of one pixel `x` in `[-1, 1]` (one of 256 levels) under the
/// discretised Gaussian with mean `mean` and standard deviation `std`.
fn discretized_log_likelihood(x: f64, mean: f64, std: f64) -> f64 {
    let half = 1.0 / 255.0;
    let centered = x - mean;
    let upper = normal_cdf((centered + half) / std);
    let lower = normal_cdf((centered - half) / std);
    let p = if x < -0.999 {
        upper
    } else if x > 0.999 {
        1.0 - lower
    } else {
        upper - lower
    };
    p.max(1e-12).ln()
}

/// Per-example values as a `[B, 1]` tensor on `like`'s device.
fn column(values: &[f64], like: &Tensor<2>) -> Tensor<2> {
    let v: Vec<f32> = values.iter().map(|&x| x as f32).collect();
    Tensor::from_data(TensorData::new(v, [values.len(), 1]), &like.device())
}

fn host(x: Tensor<2>) -> Result<Vec<f32>> {
    x.into_data()
        .try_into_vec::<f32>()
        .map_err(|e| CoreError::Data(format!("reading values back: {e:?}")).into())
}

/// Images per forward pass of the model.
const MODEL_BATCH: usize = 250;

/// The model's `x0` estimate for `x0` noised at the per-example timesteps
/// `ts` (the noise drawn for all of them at once, the model run in batches
/// of [`MODEL_BATCH`]).
fn x0_hat<M: Denoiser>(
    model: &M,
    schedule: &NoiseSchedule,
    prediction: Prediction,
    x0: &Tensor<2>,
    ts: &[usize],
    rng: &mut SeededRng,
) -> Result<Tensor<2>> {
    let [n, f] = x0.dims();
    let noise = rng.normal([n, f], &x0.device());
    let x_t = add_noise_batch(schedule, x0.clone(), noise, ts)?;
    let t = Tensor::<1>::from_data(
        TensorData::new(ts.iter().map(|&t| t as f32).collect(), [n]),
        &x0.device(),
    );
    // In batches, so that memory does not grow with the number of images
    // (all 10,000 MNIST test images in one forward pass took 10 GB).
    let out = Tensor::cat(
        (0..n)
            .step_by(MODEL_BATCH)
            .map(|start| {
                let len = MODEL_BATCH.min(n - start);
                model.forward(
                    x_t.clone().narrow(0, start, len),
                    t.clone().narrow(0, start, len),
                    None,
                )
            })
            .collect(),
        0,
    );
    let (cx, co): (Vec<f64>, Vec<f64>) = ts
        .iter()
        .map(|&t| prediction.recover(schedule.alpha_bar(Some(t))).0)
        .unzip();
    Ok(x_t * column(&cx, x0) + out * column(&co, x0))
}

/// Estimates the bound on `images` (`[n, F]`, pixels on the 256 levels of
/// `[-1, 1]`), with `k` stratified timesteps per image; conditional
/// models are evaluated with the null class (the unconditional model).
///
/// # Errors
/// An invalid config for `k` outside `1..=T-1` or a schedule of fewer than
/// 2 steps; a shape error when the width is not the model's; a data error
/// for pixels outside `[-1, 1]`.
pub fn estimate<M: Denoiser>(
    model: &M,
    schedule: &NoiseSchedule,
    prediction: Prediction,
    images: Tensor<2>,
    k: usize,
    rng: &mut SeededRng,
) -> Result<VlbEstimate> {
    let steps = schedule.len();
    let [n, f] = images.dims();
    if steps < 2 || k == 0 || k > steps - 1 {
        return Err(CoreError::config(
            "vlb_timesteps",
            format!(
                "must be in 1..={} for a schedule of {steps} steps, found {k}",
                steps.saturating_sub(1)
            ),
        )
        .into());
    }
    if f != model.features() || n == 0 {
        return Err(CoreError::Shape {
            what: "variational bound images",
            expected: format!("[n >= 1, {}]", model.features()),
            found: vec![n, f],
        }
        .into());
    }
    let x0_host: Vec<f64> = host(images.clone())?.into_iter().map(f64::from).collect();
    if let Some(v) = x0_host.iter().find(|v| !(-1.0..=1.0).contains(*v)) {
        return Err(
            CoreError::Data(format!("the bound needs pixels in [-1, 1], found {v}")).into(),
        );
    }
    let per_dim = f as f64 * std::f64::consts::LN_2;

    // Prior: KL(N(sqrt(a) x0, 1 - a) || N(0, 1)) per value.
    let a = schedule.alpha_bar(Some(steps - 1));
    let prior: Vec<f64> = x0_host
        .chunks(f)
        .map(|x| {
            x.iter()
                .map(|v| 0.5 * (a * v * v + (1.0 - a) - 1.0 - (1.0 - a).ln()))
                .sum()
        })
        .collect();

    // Decoder at t = 0.
    let x0h = host(x0_hat(
        model,
        schedule,
        prediction,
        &images,
        &vec![0; n],
        rng,
    )?)?;
    let std = schedule.betas()[0].sqrt();
    let decoder: Vec<f64> = x0_host
        .iter()
        .zip(&x0h)
        .map(|(&x, &m)| -discretized_log_likelihood(x, f64::from(m), std))
        .collect::<Vec<_>>()
        .chunks(f)
        .map(|c| c.iter().sum())
        .collect();

    // Diffusion terms t = 1..T-1, stratified.
    let terms = steps - 1;
    let mut diffusion = vec![0.0; n];
    for s in 0..k {
        let (lo, hi) = (1 + s * terms / k, 1 + (s + 1) * terms / k);
        let size = (hi - lo) as f64;
        let ts: Vec<usize> = (0..n).map(|_| lo + rng.below(hi - lo)).collect();
        let x0h = x0_hat(model, schedule, prediction, &images, &ts, rng)?;
        let sq = host((images.clone() - x0h).powi_scalar(2).sum_dim(1))?;
        for (i, &t) in ts.iter().enumerate() {
            let at = schedule.alpha_bar(Some(t));
            let prev = schedule.alpha_bar(Some(t - 1));
            let beta = schedule.betas()[t];
            let c = prev.sqrt() * beta / (1.0 - at);
            let var = schedule.posterior_variance(t);
            diffusion[i] += size * c * c * f64::from(sq[i]) / (2.0 * var);
        }
    }

    let totals: Vec<f64> = (0..n)
        .map(|i| (prior[i] + decoder[i] + diffusion[i]) / per_dim)
        .collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let m = mean(&totals);
    let var = if n > 1 {
        totals.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1) as f64
    } else {
        0.0
    };
    Ok(VlbEstimate {
        bits_per_dim: m,
        std_error: (var / n as f64).sqrt(),
        prior_bpd: mean(&prior) / per_dim,
        decoder_bpd: mean(&decoder) / per_dim,
        diffusion_bpd: mean(&diffusion) / per_dim,
        images: n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::BetaSchedule;
    use burn::tensor::{Device, Int};

    /// The exact denoiser of a point mass: x0_hat = c for every input.
    #[derive(burn::module::Module, Debug)]
    struct Oracle {
        value: f64,
        features: usize,
    }

    impl Denoiser for Oracle {
        fn features(&self) -> usize {
            self.features
        }
        fn forward(&self, x: Tensor<2>, _t: Tensor<1>, _c: Option<Tensor<1, Int>>) -> Tensor<2> {
            // An x0-predictor that knows the data.
            x.zeros_like() + self.value
        }
    }

    #[test]
    fn an_exact_model_pays_only_prior_and_decoder() {
        let dev = Device::flex();
        let s = NoiseSchedule::new(BetaSchedule::LINEAR, 1000).unwrap();
        let images = Tensor::<2>::full([3, 4], 0.2 + 1.0 / 255.0, &dev);
        let oracle = Oracle {
            value: 0.2 + 1.0 / 255.0,
            features: 4,
        };
        let est = estimate(
            &oracle,
            &s,
            Prediction::X0,
            images,
            10,
            &mut SeededRng::new(0),
        )
        .unwrap();
        // x0_hat = x0: the diffusion terms vanish (up to float rounding)...
        assert!(est.diffusion_bpd.abs() < 1e-6, "{est:?}");
        // ...the decoder's bin of width 2/255 around its own mean, with
        // std 0.01, holds P(|z| < 0.39) = 0.305: -ln 0.305 / ln 2 = 1.71 bits.
        assert!((est.decoder_bpd - 1.71).abs() < 0.02, "{est:?}");
        // The prior term is tiny for the linear schedule.
        assert!(est.prior_bpd < 1e-3, "{est:?}");
        assert!(
            (est.bits_per_dim - (est.prior_bpd + est.decoder_bpd + est.diffusion_bpd)).abs() < 1e-9
        );

        // A wrong model pays for it in the diffusion terms.
        let wrong = Oracle {
            value: -0.5,
            features: 4,
        };
        let images = Tensor::<2>::full([3, 4], 0.2 + 1.0 / 255.0, &dev);
        let bad = estimate(
            &wrong,
            &s,
            Prediction::X0,
            images.clone(),
            10,
            &mut SeededRng::new(0),
        )
        .unwrap();
        assert!(bad.diffusion_bpd > 1.0, "{bad:?}");
        assert!(
            estimate(
                &wrong,
                &s,
                Prediction::X0,
                images.clone(),
                0,
                &mut SeededRng::new(0)
            )
            .is_err()
        );
        assert!(
            estimate(
                &wrong,
                &s,
                Prediction::X0,
                images * 10.0,
                5,
                &mut SeededRng::new(0)
            )
            .is_err()
        );
    }

    /// The exact epsilon-predictor of a point mass at `value`: its output
    /// depends on each row's own `x_t` and `t`, so rows paired with the
    /// wrong timesteps would be caught.
    #[derive(burn::module::Module, Debug)]
    struct EpsilonOracle {
        value: f64,
        features: usize,
    }

    impl Denoiser for EpsilonOracle {
        fn features(&self) -> usize {
            self.features
        }
        fn forward(&self, x: Tensor<2>, t: Tensor<1>, _c: Option<Tensor<1, Int>>) -> Tensor<2> {
            let s = NoiseSchedule::new(BetaSchedule::LINEAR, 1000).unwrap();
            let ts: Vec<f32> = t.into_data().try_into_vec().unwrap();
            let a: Vec<f64> = ts.iter().map(|&t| s.alpha_bar(Some(t as usize))).collect();
            let shift: Vec<f64> = a.iter().map(|a| a.sqrt() * self.value).collect();
            let scale: Vec<f64> = a.iter().map(|a| 1.0 / (1.0 - a).sqrt()).collect();
            (x.clone() - column(&shift, &x)) * column(&scale, &x)
        }
    }

    #[test]
    fn more_images_than_one_batch_keep_their_timesteps() {
        let dev = Device::flex();
        let s = NoiseSchedule::new(BetaSchedule::LINEAR, 1000).unwrap();
        let n = MODEL_BATCH + 50;
        let value = 0.2 + 1.0 / 255.0;
        let oracle = EpsilonOracle { value, features: 4 };
        let est = estimate(
            &oracle,
            &s,
            Prediction::Epsilon,
            Tensor::<2>::full([n, 4], value, &dev),
            10,
            &mut SeededRng::new(0),
        )
        .unwrap();
        assert_eq!(est.images, n);
        assert!(est.diffusion_bpd.abs() < 1e-3, "{est:?}");
        assert!((est.decoder_bpd - 1.71).abs() < 0.02, "{est:?}");
    }
}
