//! Noise schedules: plain `f64` numbers, no tensors, no weights.
//!
//! A schedule is the sequence `beta_1..beta_T` of the forward process
//! `q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I)` (Ho et al.
//! 2020), and its cumulative products `alpha_bar_t = prod_{s<=t}(1 - beta_s)`,
//! so that `q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I)`.
//! Timesteps are 0-based, as in diffusers: `t` in `0..T`.
//!
//! Everything is computed in `f64` with float division (an integer
//! division in the cosine schedule collapses it to zeros, a bug seen in
//! another Rust library), and the last cosine step, where `alpha_bar`
//! reaches ~2e-9, stays finite.

use serde::{Deserialize, Serialize};

use gen_core::Error;

/// How the betas are laid out over the training steps.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BetaSchedule {
    /// Betas evenly spaced from `beta_start` to `beta_end` (Ho et al. 2020:
    /// 1e-4 to 0.02).
    Linear {
        /// The first beta.
        beta_start: f64,
        /// The last beta.
        beta_end: f64,
    },
    /// Square roots of the betas evenly spaced (latent diffusion).
    ScaledLinear {
        /// The first beta.
        beta_start: f64,
        /// The last beta.
        beta_end: f64,
    },
    /// `alpha_bar(t) = cos((t/T + 0.008) / 1.008 * pi/2)^2`, each beta
    /// capped at 0.999 (Nichol & Dhariwal 2021, eq. 17; diffusers'
    /// `squaredcos_cap_v2`).
    Cosine,
    /// `beta_start + (beta_end - beta_start) * sigmoid(x)` for `x` evenly
    /// spaced on `[-6, 6]` (Jabri et al. 2022; diffusers' DDPM `sigmoid`).
    Sigmoid {
        /// The smallest beta.
        beta_start: f64,
        /// The largest beta.
        beta_end: f64,
    },
}

impl BetaSchedule {
    /// The linear schedule of Ho et al. (2020): 1e-4 to 0.02.
    pub const LINEAR: BetaSchedule = BetaSchedule::Linear {
        beta_start: 1e-4,
        beta_end: 0.02,
    };

    /// The betas for `steps` training steps.
    fn betas(self, steps: usize) -> Vec<f64> {
        let frac = |i: usize| {
            if steps == 1 {
                0.0
            } else {
                i as f64 / (steps - 1) as f64
            }
        };
        match self {
            BetaSchedule::Linear {
                beta_start,
                beta_end,
            } => (0..steps)
                .map(|i| beta_start + (beta_end - beta_start) * frac(i))
                .collect(),
            BetaSchedule::ScaledLinear {
                beta_start,
                beta_end,
            } => {
                let (a, b) = (beta_start.sqrt(), beta_end.sqrt());
                (0..steps)
                    .map(|i| (a + (b - a) * frac(i)).powi(2))
                    .collect()
            }
            BetaSchedule::Cosine => {
                let alpha_bar = |t: f64| {
                    ((t + 0.008) / 1.008 * std::f64::consts::FRAC_PI_2)
                        .cos()
                        .powi(2)
                };
                (0..steps)
                    .map(|i| {
                        let (t1, t2) = (i as f64 / steps as f64, (i + 1) as f64 / steps as f64);
                        (1.0 - alpha_bar(t2) / alpha_bar(t1)).min(0.999)
                    })
                    .collect()
            }
            BetaSchedule::Sigmoid {
                beta_start,
                beta_end,
            } => (0..steps)
                .map(|i| {
                    let x = -6.0 + 12.0 * frac(i);
                    beta_start + (beta_end - beta_start) / (1.0 + (-x).exp())
                })
                .collect(),
        }
    }
}

/// A noise schedule over `T` training steps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NoiseSchedule {
    betas: Vec<f64>,
    alphas_cumprod: Vec<f64>,
}

impl NoiseSchedule {
    /// The schedule `kind` over `steps` training steps (usually 1000).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for zero steps, or betas outside `(0, 1)`.
    pub fn new(kind: BetaSchedule, steps: usize) -> Result<Self, Error> {
        gen_core::error::ensure_nonzero("num_train_timesteps", steps)?;
        Self::from_betas(kind.betas(steps))
    }

    /// A schedule from explicit betas.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for an empty list or a beta outside `(0, 1]`.
    pub fn from_betas(betas: Vec<f64>) -> Result<Self, Error> {
        if betas.is_empty() {
            return Err(Error::config("betas", "needs at least one step"));
        }
        if let Some(b) = betas.iter().find(|b| !(**b > 0.0 && **b <= 1.0)) {
            return Err(Error::config(
                "betas",
                format!("each must be in (0, 1], found {b}"),
            ));
        }
        let mut acc = 1.0;
        let alphas_cumprod = betas
            .iter()
            .map(|b| {
                acc *= 1.0 - b;
                acc
            })
            .collect();
        Ok(Self {
            betas,
            alphas_cumprod,
        })
    }

    /// Rescales the schedule so that the last step has zero signal-to-noise
    /// ratio, keeping the first step's (Lin et al. 2023, "Common Diffusion
    /// Noise Schedules and Sample Steps are Flawed", algorithm 1). Train
    /// with v-prediction afterwards: epsilon-prediction is undefined at
    /// SNR 0.
    #[must_use]
    pub fn rescale_zero_terminal_snr(self) -> Self {
        let root: Vec<f64> = self.alphas_cumprod.iter().map(|a| a.sqrt()).collect();
        let (first, last) = (root[0], root[root.len() - 1]);
        let scaled: Vec<f64> = root
            .iter()
            .map(|r| (r - last) * first / (first - last))
            .collect();
        let alphas_cumprod: Vec<f64> = scaled.iter().map(|r| r * r).collect();
        let mut prev = 1.0;
        let betas = alphas_cumprod
            .iter()
            .map(|&a| {
                let beta = 1.0 - a / prev;
                prev = a;
                beta
            })
            .collect();
        Self {
            betas,
            alphas_cumprod,
        }
    }

    /// The number of training steps `T`.
    pub fn len(&self) -> usize {
        self.betas.len()
    }

    /// Always false: a schedule has at least one step.
    pub fn is_empty(&self) -> bool {
        self.betas.is_empty()
    }

    /// `beta_t` for `t` in `0..T`.
    pub fn betas(&self) -> &[f64] {
        &self.betas
    }

    /// `alpha_bar_t` for `t` in `0..T`.
    pub fn alphas_cumprod(&self) -> &[f64] {
        &self.alphas_cumprod
    }

    /// `alpha_bar_t`, with `alpha_bar_{-1} = 1` (no noise) for `t = None`.
    pub fn alpha_bar(&self, t: Option<usize>) -> f64 {
        t.map_or(1.0, |t| self.alphas_cumprod[t])
    }

    /// The signal-to-noise ratio `alpha_bar_t / (1 - alpha_bar_t)`.
    pub fn snr(&self, t: usize) -> f64 {
        let a = self.alphas_cumprod[t];
        a / (1.0 - a)
    }

    /// The coefficients of `q(x_t | x_0)`: `x_t = a x_0 + b noise` with
    /// `a = sqrt(alpha_bar_t)` and `b = sqrt(1 - alpha_bar_t)`.
    pub fn add_noise_coefficients(&self, t: usize) -> (f64, f64) {
        let a = self.alphas_cumprod[t];
        (a.sqrt(), (1.0 - a).sqrt())
    }

    /// The variance of DDPM's posterior `q(x_{t-1} | x_t, x_0)`,
    /// `beta~_t = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) * beta_t` (Ho et
    /// al. 2020, eq. 7; the "fixed small" choice), at least 1e-20.
    pub fn posterior_variance(&self, t: usize) -> f64 {
        let a = self.alphas_cumprod[t];
        let prev = self.alpha_bar(t.checked_sub(1));
        let beta = 1.0 - a / prev;
        ((1.0 - prev) / (1.0 - a) * beta).max(1e-20)
    }
}

/// How a number of sampling steps is spread over the training timesteps
/// (Lin et al. 2023, table 2; diffusers' `timestep_spacing`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Spacing {
    /// `k * (T / n)` for `k = n-1 .. 0` (integer ratio): never reaches
    /// `T - 1` (DDIM's original choice).
    #[default]
    Leading,
    /// `round(linspace(0, T - 1, n))`, descending.
    Linspace,
    /// `round(T - k * T / n) - 1` for `k = 0..n`: starts at `T - 1`.
    Trailing,
}

gen_core::enum_names!(Spacing, "spacing", {
    Spacing::Leading => "leading",
    Spacing::Linspace => "linspace",
    Spacing::Trailing => "trailing",
});

/// The sampling timesteps, descending, for `n` steps over `train_steps`.
///
/// # Errors
/// [`Error::InvalidConfig`] when `n` is 0 or larger than `train_steps`.
pub fn timesteps(train_steps: usize, n: usize, spacing: Spacing) -> Result<Vec<usize>, Error> {
    if n == 0 || n > train_steps {
        return Err(Error::config(
            "num_inference_steps",
            format!("must be in 1..={train_steps}, found {n}"),
        ));
    }
    let (t, nf) = (train_steps as f64, n as f64);
    Ok(match spacing {
        Spacing::Leading => {
            let ratio = train_steps / n;
            (0..n).rev().map(|k| k * ratio).collect()
        }
        Spacing::Linspace => (0..n)
            .rev()
            .map(|k| {
                let v = if n == 1 {
                    0.0
                } else {
                    k as f64 * (t - 1.0) / (nf - 1.0)
                };
                v.round_ties_even() as usize
            })
            .collect(),
        Spacing::Trailing => (0..n)
            .map(|k| (t - k as f64 * t / nf).round_ties_even() as usize - 1)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spacings_and_variances_read_and_write_diffusers_names() {
        use crate::ddpm::DdpmVariance;
        for s in [Spacing::Leading, Spacing::Linspace, Spacing::Trailing] {
            assert_eq!(s.to_string().parse::<Spacing>().unwrap(), s);
        }
        for v in [DdpmVariance::FixedSmall, DdpmVariance::FixedLarge] {
            assert_eq!(v.to_string().parse::<DdpmVariance>().unwrap(), v);
        }
        assert_eq!(Spacing::Trailing.to_string(), "trailing");
        let e = "middle".parse::<Spacing>().unwrap_err().to_string();
        assert!(e.contains("leading, linspace, trailing"), "{e}");
    }

    #[test]
    fn cosine_schedule_is_not_collapsed_and_stays_finite() {
        let s = NoiseSchedule::new(BetaSchedule::Cosine, 1000).unwrap();
        assert!(s.betas().iter().all(|b| *b > 0.0 && *b <= 0.999));
        assert!(s.alphas_cumprod()[0] > 0.9999);
        let last = s.alphas_cumprod()[999];
        assert!(last > 0.0 && last < 1e-8, "{last}");
        assert!(s.snr(999).is_finite() && s.posterior_variance(999).is_finite());
    }

    #[test]
    fn zero_terminal_snr() {
        let s = NoiseSchedule::new(BetaSchedule::LINEAR, 1000).unwrap();
        let first = s.alphas_cumprod()[0];
        let r = s.rescale_zero_terminal_snr();
        assert_eq!(r.alphas_cumprod()[999], 0.0);
        assert_eq!(r.snr(999), 0.0);
        assert!((r.alphas_cumprod()[0] - first).abs() < 1e-12);
        assert!(r.alphas_cumprod().windows(2).all(|w| w[1] < w[0]));
        assert!((r.betas()[999] - 1.0).abs() < 1e-12);
    }

    #[test]
    fn spacings_by_hand() {
        assert_eq!(
            timesteps(1000, 4, Spacing::Leading).unwrap(),
            vec![750, 500, 250, 0]
        );
        assert_eq!(
            timesteps(1000, 4, Spacing::Trailing).unwrap(),
            vec![999, 749, 499, 249]
        );
        assert_eq!(
            timesteps(1000, 4, Spacing::Linspace).unwrap(),
            vec![999, 666, 333, 0]
        );
        assert_eq!(timesteps(1000, 1, Spacing::Trailing).unwrap(), vec![999]);
        assert!(timesteps(1000, 0, Spacing::Leading).is_err());
        assert!(timesteps(10, 11, Spacing::Leading).is_err());
    }

    #[test]
    fn invalid_schedules_are_typed_errors() {
        assert!(NoiseSchedule::new(BetaSchedule::LINEAR, 0).is_err());
        assert!(NoiseSchedule::from_betas(vec![0.1, 0.0]).is_err());
        assert!(NoiseSchedule::from_betas(vec![1.5]).is_err());
        let bad = BetaSchedule::Linear {
            beta_start: -0.1,
            beta_end: 0.02,
        };
        assert!(NoiseSchedule::new(bad, 10).is_err());
    }
}
