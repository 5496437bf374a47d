//! Every sampler against the same contracts (diffusers' `SchedulerCommonTest`
//! in spirit) and the same closed-form data, through one shared list of
//! samplers, so a new sampler is tested by adding it to [`all`].

use burn::tensor::{Device, Tensor};
use gen_core::SeededRng;
use gen_diffusion::euler::sigma_at;
use gen_diffusion::{
    BetaSchedule, Ddim, Ddpm, DdpmVariance, DpmSolver, Error, Euler, NoiseSchedule, Prediction,
    SamplerStep, Spacing,
};

fn device() -> Device {
    gen_core::device::device_from_env().unwrap()
}

const PREDICTIONS: [Prediction; 3] = [Prediction::Epsilon, Prediction::V, Prediction::X0];
const SPACINGS: [Spacing; 3] = [Spacing::Leading, Spacing::Linspace, Spacing::Trailing];

/// The schedules, by name: the four beta schedules and the
/// zero-terminal-SNR rescale of the linear one.
fn schedules() -> Vec<(&'static str, NoiseSchedule)> {
    let new = |kind| NoiseSchedule::new(kind, 1000).unwrap();
    vec![
        ("linear", new(BetaSchedule::LINEAR)),
        (
            "scaled_linear",
            new(BetaSchedule::ScaledLinear {
                beta_start: 1e-4,
                beta_end: 0.02,
            }),
        ),
        ("cosine", new(BetaSchedule::Cosine)),
        (
            "sigmoid",
            new(BetaSchedule::Sigmoid {
                beta_start: 1e-4,
                beta_end: 0.02,
            }),
        ),
        (
            "zero_snr_linear",
            new(BetaSchedule::LINEAR).rescale_zero_terminal_snr(),
        ),
    ]
}

/// How many steps each kind of sampler gets in the Gaussian test.
#[derive(Clone, Copy)]
struct Steps {
    ancestral: usize,
    deterministic: usize,
}

/// Every sampler (and variant) over `schedule`, by name. The same step
/// count for all when `steps` gives the same number for both kinds.
fn all<const D: usize>(
    schedule: &NoiseSchedule,
    steps: Steps,
    spacing: Spacing,
    prediction: Prediction,
) -> Vec<(&'static str, Box<dyn SamplerStep<D>>)> {
    let s = || schedule.clone();
    let (anc, det) = (steps.ancestral, steps.deterministic);
    let ddpm = |v| Ddpm::new(s(), anc, spacing, v, prediction).unwrap();
    vec![
        ("ddpm_small", Box::new(ddpm(DdpmVariance::FixedSmall))),
        ("ddpm_large", Box::new(ddpm(DdpmVariance::FixedLarge))),
        (
            "ddim_eta0",
            Box::new(Ddim::new(s(), det, spacing, 0.0, prediction).unwrap()),
        ),
        (
            "ddim_eta1",
            Box::new(Ddim::new(s(), anc, spacing, 1.0, prediction).unwrap()),
        ),
        (
            "dpm_solver_2m",
            Box::new(DpmSolver::new(s(), det, spacing, prediction).unwrap()),
        ),
        (
            "euler",
            Box::new(Euler::new(s(), det, spacing, prediction).unwrap()),
        ),
    ]
}

/// `alpha_bar` at a (possibly fractional) timestep, as the samplers see it.
fn alpha_bar_at(schedule: &NoiseSchedule, t: f64) -> f64 {
    let sigma = sigma_at(schedule, t);
    1.0 / (1.0 + sigma * sigma)
}

/// The exact denoiser for data `N(mu, s^2)`: with
/// `x_t = sqrt(a) x0 + sqrt(1 - a) eps` and `var = a s^2 + 1 - a`,
/// `E[eps | x_t] = sqrt(1 - a) (x_t - sqrt(a) mu) / var`,
/// `E[x0 | x_t] = mu + sqrt(a) s^2 (x_t - sqrt(a) mu) / var`, and
/// `E[v | x_t] = sqrt(a) E[eps | x_t] - sqrt(1 - a) E[x0 | x_t]`.
fn optimal<const D: usize>(
    prediction: Prediction,
    x: Tensor<D>,
    a: f64,
    mu: f64,
    s: f64,
) -> Tensor<D> {
    let var = a * s * s + 1.0 - a;
    let centred = x - a.sqrt() * mu;
    let eps = || centred.clone() * ((1.0 - a).sqrt() / var);
    let x0 = || centred.clone() * (a.sqrt() * s * s / var) + mu;
    match prediction {
        Prediction::Epsilon => eps(),
        Prediction::X0 => x0(),
        Prediction::V => eps() * a.sqrt() - x0() * (1.0 - a).sqrt(),
    }
}

/// The user's loop: initial noise, then for each timestep predict and step.
fn run<const D: usize>(
    sampler: &mut dyn SamplerStep<D>,
    shape: [usize; D],
    seed: u64,
    model: impl Fn(Tensor<D>, f64) -> Tensor<D>,
) -> Tensor<D> {
    let dev = device();
    let mut rng = SeededRng::new(seed);
    let mut x = sampler.initial_noise(shape, &dev, &mut rng);
    for (i, t) in sampler.timesteps().into_iter().enumerate() {
        let out = model(sampler.scale_model_input(x.clone(), i).unwrap(), t);
        x = sampler.step(out, i, x, &mut rng).unwrap();
    }
    x
}

fn values<const D: usize>(x: Tensor<D>) -> Vec<f64> {
    let v: Vec<f32> = x.into_data().try_into_vec().unwrap();
    v.into_iter().map(f64::from).collect()
}

fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// The contract every sampler keeps, checked on one sampler.
fn contract<const D: usize>(what: &str, sampler: &mut dyn SamplerStep<D>, shape: [usize; D]) {
    let dev = device();
    let n = sampler.num_steps();
    let ts = sampler.timesteps();
    assert_eq!(ts.len(), n, "{what}");
    assert!(ts.windows(2).all(|w| w[1] < w[0]), "{what}: {ts:?}");
    assert!(ts.iter().all(|t| (0.0..1000.0).contains(t)), "{what}");
    assert!(sampler.init_noise_sigma().is_finite() && sampler.init_noise_sigma() > 0.0);

    // Shape kept, values finite, and the same seed gives the same numbers.
    let model = |x: Tensor<D>, _t: f64| x * 0.5;
    let a = run(sampler, shape, 7, model);
    assert_eq!(a.dims(), shape, "{what}");
    let b = run(sampler, shape, 7, model);
    let (a, b) = (values(a), values(b));
    assert!(a.iter().all(|v| v.is_finite()), "{what}: {a:?}");
    assert_eq!(a, b, "{what}: not deterministic under a seed");

    // Bad input is a typed error, not a panic.
    let mut rng = SeededRng::new(0);
    let x = Tensor::<D>::ones(shape, &dev);
    assert!(matches!(
        sampler.step(x.clone(), n, x.clone(), &mut rng),
        Err(Error::StepOutOfRange { .. })
    ));
    assert!(sampler.scale_model_input(x.clone(), n).is_err(), "{what}");
    let mut other = shape;
    other[0] += 1;
    let y = Tensor::<D>::ones(other, &dev);
    assert!(matches!(
        sampler.step(y, 0, x, &mut rng),
        Err(Error::Core(gen_core::Error::Shape { .. }))
    ));
    assert!(sampler.set_timesteps(0).is_err(), "{what}");
    assert!(sampler.set_timesteps(1001).is_err(), "{what}");
    assert_eq!(sampler.num_steps(), n, "{what}: a refused change kept");
    sampler.set_timesteps(3).unwrap();
    assert_eq!(sampler.timesteps().len(), 3, "{what}");
}

#[test]
fn every_sampler_keeps_the_contract() {
    let schedule = NoiseSchedule::new(BetaSchedule::LINEAR, 1000).unwrap();
    let steps = Steps {
        ancestral: 10,
        deterministic: 10,
    };
    let mut checked = 0;
    for spacing in SPACINGS {
        for prediction in PREDICTIONS {
            for (name, mut sampler) in all::<2>(&schedule, steps, spacing, prediction) {
                let what = format!("{name} {spacing:?} {prediction:?}");
                contract(&what, sampler.as_mut(), [3, 4]);
                checked += 1;
            }
        }
        for (name, mut sampler) in all::<4>(&schedule, steps, spacing, Prediction::Epsilon) {
            contract(
                &format!("{name} {spacing:?} rank 4"),
                sampler.as_mut(),
                [2, 1, 2, 3],
            );
        }
    }
    assert_eq!(checked, 3 * 3 * 6);
}

/// With the exact denoiser for Gaussian data `N(1.5, 0.5^2)`, every
/// sampler's samples have the data's mean and standard deviation, for every
/// schedule and prediction type (ancestral samplers: 1,000 steps;
/// DDIM eta = 0, DPM-Solver++ and Euler: 100 steps; trailing spacing).
///
/// Tolerance 0.04 on both, from: the Monte Carlo standard errors with
/// 4,000 samples (s / sqrt(n) = 0.008 for the mean, s / sqrt(2n) = 0.0056
/// for the standard deviation); the start from `N(0, 1)` where the true
/// marginal at `t = 999` is not quite that, which the deterministic
/// samplers carry to the end as a mean bias of
/// `s sqrt(a_T) mu / sqrt(a_T s^2 + 1 - a_T)` (0.020 for scaled-linear,
/// `a_T = 7.3e-4`; under 0.01 for the others); and the ancestral samplers'
/// discretisation (computed in closed form for 1,000 steps: at most 0.004
/// in the standard deviation, DDPM fixed-small). Observed: at most 0.027
/// for the mean (scaled-linear, deterministic samplers) and 0.010 for the
/// standard deviation. Set `GEN_DIFFUSION_VERBOSE=1` to print every case.
#[test]
fn gaussian_data_is_recovered_by_every_sampler() {
    let (mu, s) = (1.5, 0.5);
    let n = 4000;
    let tolerance = 0.04;
    let steps = Steps {
        ancestral: 1000,
        deterministic: 100,
    };
    let (mut worst_mean, mut worst_std) = ((0.0, String::new()), (0.0, String::new()));
    for (sname, schedule) in schedules() {
        for prediction in PREDICTIONS {
            if sname == "zero_snr_linear" && prediction == Prediction::Epsilon {
                continue; // undefined at SNR 0: a config error (tested below)
            }
            for (name, mut sampler) in all::<1>(&schedule, steps, Spacing::Trailing, prediction) {
                let what = format!("{sname} {prediction:?} {name}");
                let model = |x, t| optimal(prediction, x, alpha_bar_at(&schedule, t), mu, s);
                let x = values(run(sampler.as_mut(), [n], 1, model));
                assert!(x.iter().all(|v| v.is_finite()), "{what}");
                let (mean, std) = mean_std(&x);
                let (em, es) = ((mean - mu).abs(), (std - s).abs());
                if std::env::var("GEN_DIFFUSION_VERBOSE").is_ok() {
                    eprintln!("{what}: mean error {em:.4}, std error {es:.4}");
                }
                if em > worst_mean.0 {
                    worst_mean = (em, what.clone());
                }
                if es > worst_std.0 {
                    worst_std = (es, what.clone());
                }
                assert!(em < tolerance, "{what}: mean {mean}, expected {mu}");
                assert!(es < tolerance, "{what}: std {std}, expected {s}");
            }
        }
    }
    eprintln!("largest |mean - mu| {:.4} ({})", worst_mean.0, worst_mean.1);
    eprintln!("largest |std - s| {:.4} ({})", worst_std.0, worst_std.1);
}

/// DDIM with eta = 1 is DDPM's ancestral sampler with the fixed-small
/// variance on the same timesteps: the same coefficients, and the same
/// samples under the same seed.
#[test]
fn ddim_with_eta_one_is_ddpm() {
    for (sname, schedule) in schedules() {
        for prediction in [Prediction::V, Prediction::X0] {
            for spacing in SPACINGS {
                let ddim = Ddim::new(schedule.clone(), 20, spacing, 1.0, prediction).unwrap();
                let ddpm = Ddpm::new(
                    schedule.clone(),
                    20,
                    spacing,
                    DdpmVariance::FixedSmall,
                    prediction,
                )
                .unwrap();
                for i in 0..20 {
                    let (a, b) = (ddim.coefficients(i).unwrap(), ddpm.coefficients(i).unwrap());
                    let what = format!("{sname} {prediction:?} {spacing:?} step {i}");
                    // 1e-7: DDIM's sqrt(1 - a_prev - sigma^2) turns the f64
                    // rounding of its argument (1e-16 at zero SNR) into 1e-8,
                    // and DDPM's variance is at least 1e-20 where DDIM's is 0.
                    assert!((a.sample - b.sample).abs() < 1e-7, "{what}: {a:?} {b:?}");
                    assert!((a.output - b.output).abs() < 1e-7, "{what}: {a:?} {b:?}");
                    assert!((a.noise - b.noise).abs() < 1e-7, "{what}: {a:?} {b:?}");
                }
            }
        }
    }
    let schedule = NoiseSchedule::new(BetaSchedule::LINEAR, 1000).unwrap();
    for prediction in PREDICTIONS {
        let model =
            |x: Tensor<2>, t: f64| optimal(prediction, x, alpha_bar_at(&schedule, t), 0.3, 0.8);
        let mut ddim = Ddim::new(schedule.clone(), 50, Spacing::Trailing, 1.0, prediction).unwrap();
        let mut ddpm = Ddpm::new(
            schedule.clone(),
            50,
            Spacing::Trailing,
            DdpmVariance::FixedSmall,
            prediction,
        )
        .unwrap();
        let a = values(run(&mut ddim, [64, 2], 11, model));
        let b = values(run(&mut ddpm, [64, 2], 11, model));
        let diff = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max);
        assert!(diff < 1e-4, "{prediction:?}: largest difference {diff}");
    }
}

/// The cosine schedule (alpha_bar ~ 2e-9 at t = 999) and the
/// zero-terminal-SNR one, with 1 to 4 steps, every spacing and prediction
/// type, in f32 tensors: finite coefficients and samples (diffusers #14213).
#[test]
fn extreme_settings_stay_finite() {
    let cosine = NoiseSchedule::new(BetaSchedule::Cosine, 1000).unwrap();
    let zero_snr = cosine.clone().rescale_zero_terminal_snr();
    for (sname, schedule) in [("cosine", cosine), ("zero_snr_cosine", zero_snr)] {
        for steps in 1..=4 {
            for spacing in SPACINGS {
                for prediction in PREDICTIONS {
                    if sname == "zero_snr_cosine" && prediction == Prediction::Epsilon {
                        continue;
                    }
                    let both = Steps {
                        ancestral: steps,
                        deterministic: steps,
                    };
                    for (name, mut sampler) in all::<2>(&schedule, both, spacing, prediction) {
                        let what =
                            format!("{sname} {steps} steps {spacing:?} {prediction:?} {name}");
                        let model =
                            |x, t| optimal(prediction, x, alpha_bar_at(&schedule, t), 1.0, 0.5);
                        let x = values(run(sampler.as_mut(), [8, 2], 3, model));
                        assert!(x.iter().all(|v| v.is_finite()), "{what}: {x:?}");
                    }
                }
            }
        }
    }
}

#[test]
fn epsilon_prediction_at_zero_snr_is_a_config_error() {
    let schedule = NoiseSchedule::new(BetaSchedule::LINEAR, 1000)
        .unwrap()
        .rescale_zero_terminal_snr();
    let e = Prediction::Epsilon;
    let err = Ddpm::new(
        schedule.clone(),
        10,
        Spacing::Trailing,
        DdpmVariance::FixedSmall,
        e,
    );
    assert!(matches!(
        err,
        Err(Error::Core(gen_core::Error::InvalidConfig { .. }))
    ));
    assert!(Ddim::new(schedule.clone(), 10, Spacing::Trailing, 0.0, e).is_err());
    // The sigma-based samplers read alpha_bar = 0 as 2^-24, as diffusers.
    assert!(Euler::new(schedule.clone(), 10, Spacing::Trailing, e).is_ok());
    assert!(DpmSolver::new(schedule, 10, Spacing::Trailing, e).is_ok());
}
