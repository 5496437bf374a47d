//! The forward process on tensors: `q(x_t | x_0)` (Ho et al. 2020, eq. 4),
//!
//! ```text
//! x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) noise
//! ```
//!
//! for one timestep ([`add_noise`], diffusers' `add_noise`) or one per
//! example ([`add_noise_batch`], what training draws), and the training
//! target of each [`Prediction`] type ([`target`]). The coefficients come
//! from the schedule in `f64`; the schedule itself holds no tensors.

use burn::tensor::{Tensor, TensorData};

use crate::error::{Error, Result};
use crate::sampler::{Prediction, check_shapes};
use crate::schedule::NoiseSchedule;

fn check_t(schedule: &NoiseSchedule, t: usize) -> Result<()> {
    if t < schedule.len() {
        Ok(())
    } else {
        Err(Error::TimestepOutOfRange {
            t,
            steps: schedule.len(),
        })
    }
}

/// `x_t` drawn from `q(x_t | x_0)` at timestep `t`, given standard normal
/// `noise`.
///
/// # Shapes
/// `x0` and `noise` have the same shape, which the result keeps.
///
/// # Errors
/// [`Error::TimestepOutOfRange`] for `t >= T`, a shape error when the
/// shapes differ.
pub fn add_noise<const D: usize>(
    schedule: &NoiseSchedule,
    x0: Tensor<D>,
    noise: Tensor<D>,
    t: usize,
) -> Result<Tensor<D>> {
    check_t(schedule, t)?;
    check_shapes(&noise.dims(), &x0.dims())?;
    let (a, b) = schedule.add_noise_coefficients(t);
    Ok(x0 * a + noise * b)
}

/// Per-example coefficients `f(t)` as a tensor of shape `[B, 1, ..., 1]`.
fn per_example<const D: usize>(
    like: &Tensor<D>,
    ts: &[usize],
    f: impl Fn(usize) -> f64,
) -> Tensor<D> {
    let values: Vec<f32> = ts.iter().map(|&t| f(t) as f32).collect();
    let mut shape = [1; D];
    shape[0] = ts.len();
    Tensor::<D>::from_data(TensorData::new(values, shape), &like.device())
}

/// `x_t` for a batch, example `k` at timestep `ts[k]`.
///
/// # Shapes
/// `x0` and `noise`: `[B, ...]`, with `B = ts.len()`; the result keeps it.
///
/// # Errors
/// [`Error::TimestepOutOfRange`] for a timestep `>= T`, a shape error when
/// the shapes differ or the batch is not `ts.len()` long.
pub fn add_noise_batch<const D: usize>(
    schedule: &NoiseSchedule,
    x0: Tensor<D>,
    noise: Tensor<D>,
    ts: &[usize],
) -> Result<Tensor<D>> {
    let dims = x0.dims();
    check_shapes(&noise.dims(), &dims)?;
    if D == 0 || dims[0] != ts.len() {
        return Err(gen_core::Error::Shape {
            what: "add_noise_batch (one timestep per example)",
            expected: format!("a batch of {} examples", ts.len()),
            found: dims.to_vec(),
        }
        .into());
    }
    for &t in ts {
        check_t(schedule, t)?;
    }
    let a = per_example(&x0, ts, |t| schedule.add_noise_coefficients(t).0);
    let b = per_example(&x0, ts, |t| schedule.add_noise_coefficients(t).1);
    Ok(x0 * a + noise * b)
}

/// What a model of the given prediction type should output for `x0` noised
/// with `noise` at timestep `t`: `noise`, `x0`, or
/// `v = sqrt(a) noise - sqrt(1 - a) x0`.
///
/// # Errors
/// [`Error::TimestepOutOfRange`] for `t >= T`, a shape error when the
/// shapes differ.
pub fn target<const D: usize>(
    schedule: &NoiseSchedule,
    prediction: Prediction,
    x0: Tensor<D>,
    noise: Tensor<D>,
    t: usize,
) -> Result<Tensor<D>> {
    check_t(schedule, t)?;
    check_shapes(&noise.dims(), &x0.dims())?;
    Ok(match prediction {
        Prediction::Epsilon => noise,
        Prediction::X0 => x0,
        Prediction::V => {
            let (c_x0, c_eps) = prediction.target(schedule.alpha_bar(Some(t)));
            x0 * c_x0 + noise * c_eps
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::BetaSchedule;
    use gen_core::SeededRng;

    fn values<const D: usize>(x: Tensor<D>) -> Vec<f64> {
        let v: Vec<f32> = x.into_data().try_into_vec().unwrap();
        v.into_iter().map(f64::from).collect()
    }

    #[test]
    fn mean_and_variance_match_the_closed_form() {
        // x0 = 2 everywhere: x_t ~ N(2 sqrt(a), 1 - a). 20,000 draws: the
        // standard errors are sqrt((1 - a) / n) <= 0.007 for the mean and
        // (1 - a) sqrt(2 / n) <= 0.01 for the variance; tolerance 5 of them.
        let dev = gen_core::device::device_from_env().unwrap();
        let s = NoiseSchedule::new(BetaSchedule::LINEAR, 1000).unwrap();
        let n = 20_000;
        let mut rng = SeededRng::new(3);
        for t in [0, 100, 500, 999] {
            let x0 = Tensor::<2>::ones([n, 1], &dev) * 2.0;
            let x = values(add_noise(&s, x0, rng.normal([n, 1], &dev), t).unwrap());
            let mean = x.iter().sum::<f64>() / n as f64;
            let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
            let a = s.alpha_bar(Some(t));
            let se = ((1.0 - a) / n as f64).sqrt();
            assert!(
                (mean - 2.0 * a.sqrt()).abs() < 5.0 * se,
                "t {t}: mean {mean}"
            );
            assert!(
                (var - (1.0 - a)).abs() < 5.0 * (1.0 - a) * (2.0 / n as f64).sqrt(),
                "t {t}: var {var}"
            );
        }
    }

    #[test]
    fn batch_uses_each_examples_timestep_and_checks_its_input() {
        let dev = gen_core::device::device_from_env().unwrap();
        let s = NoiseSchedule::new(BetaSchedule::Cosine, 1000).unwrap();
        let x0 = Tensor::<3>::ones([3, 2, 2], &dev);
        let noise = Tensor::<3>::ones([3, 2, 2], &dev) * -1.0;
        let ts = [0, 400, 999];
        let x = values(add_noise_batch(&s, x0.clone(), noise.clone(), &ts).unwrap());
        for (k, &t) in ts.iter().enumerate() {
            let (a, b) = s.add_noise_coefficients(t);
            for v in &x[4 * k..4 * k + 4] {
                assert!((v - (a - b)).abs() < 1e-6, "t {t}: {v} vs {}", a - b);
            }
        }
        assert!(add_noise_batch(&s, x0.clone(), noise.clone(), &[0, 1]).is_err());
        assert!(add_noise_batch(&s, x0.clone(), noise.clone(), &[0, 1, 1000]).is_err());
        assert!(add_noise(&s, x0, noise, 1000).is_err());
    }

    #[test]
    fn v_target_is_recovered_by_the_v_sampler_maths() {
        let dev = gen_core::device::device_from_env().unwrap();
        let s = NoiseSchedule::new(BetaSchedule::LINEAR, 1000).unwrap();
        let (x0, eps) = (
            Tensor::<1>::from_floats([0.5, -1.0], &dev),
            Tensor::<1>::from_floats([1.5, 0.25], &dev),
        );
        let t = 300;
        let xt = add_noise(&s, x0.clone(), eps.clone(), t).unwrap();
        let v = target(&s, Prediction::V, x0.clone(), eps, t).unwrap();
        let ((cx, co), _) = Prediction::V.recover(s.alpha_bar(Some(t)));
        let back = values(xt * cx + v * co);
        let want = values(x0);
        assert!(back.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-5));
    }
}
