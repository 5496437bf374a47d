//! Schedules against diffusers 0.42.1 (the reference implementation): see
//! tests/golden/README.md for how the numbers were made. diffusers builds
//! its schedules in float32 and we build ours in f64, so values are
//! compared with a relative tolerance.

use gen_diffusion::schedule::{BetaSchedule, NoiseSchedule, Spacing, timesteps};
use serde_json::Value;

fn golden() -> Value {
    let text = include_str!("golden/diffusers-schedulers.json");
    serde_json::from_str(text).unwrap()
}

/// The fixed inputs of the sampler loops: `x`, `model_output`, `noise`.
fn loop_inputs(g: &Value) -> [Vec<f64>; 3] {
    ["x", "model_output", "noise"].map(|k| serde_json::from_value(g[k].clone()).unwrap())
}

/// diffusers' names and constructor defaults (beta 1e-4 to 0.02).
fn schedules() -> [(&'static str, BetaSchedule); 3] {
    [
        ("linear", BetaSchedule::LINEAR),
        (
            "scaled_linear",
            BetaSchedule::ScaledLinear {
                beta_start: 1e-4,
                beta_end: 0.02,
            },
        ),
        ("squaredcos_cap_v2", BetaSchedule::Cosine),
    ]
}

fn close(ours: f64, theirs: f64, rel: f64, what: &str) {
    let err = (ours - theirs).abs() / theirs.abs().max(1e-30);
    assert!(
        err <= rel,
        "{what}: ours {ours:e}, diffusers {theirs:e} (relative error {err:.1e})"
    );
}

fn per_t(map: &Value) -> Vec<(usize, &Value)> {
    map.as_object()
        .unwrap()
        .iter()
        .map(|(t, v)| (t.parse().unwrap(), v))
        .collect()
}

#[test]
fn betas_alphas_cumprod_and_posterior_variance() {
    let g = golden();
    for (name, kind) in schedules() {
        let s = NoiseSchedule::new(kind, 1000).unwrap();
        let gs = &g["schedules"][name];
        for (t, v) in per_t(&gs["betas_at"]) {
            close(
                s.betas()[t],
                v.as_f64().unwrap(),
                1e-6,
                &format!("{name} beta[{t}]"),
            );
        }
        for (t, v) in per_t(&gs["alphas_cumprod_at"]) {
            // float32 cumulative products drift: ~1e-5 relative by t = 999.
            let tol = if t > 900 { 5e-4 } else { 2e-5 };
            close(
                s.alphas_cumprod()[t],
                v.as_f64().unwrap(),
                tol,
                &format!("{name} alpha_bar[{t}]"),
            );
        }
        for (t, v) in per_t(&gs["ddpm_variance_fixed_small_at"]) {
            // diffusers' float32 cumulative product carries about t float32
            // epsilons of absolute error, and `1 - alpha_bar_t` (small near
            // t = 0) turns it into a relative error of t eps / (1 - alpha_bar_t).
            let eps = f64::from(f32::EPSILON);
            let tol = 1e-5 + (t as f64 + 4.0) * eps / (1.0 - s.alphas_cumprod()[t]);
            close(
                s.posterior_variance(t),
                v.as_f64().unwrap(),
                tol,
                &format!("{name} variance[{t}]"),
            );
        }
    }
}

#[test]
fn add_noise_matches() {
    let g = golden();
    let x: Vec<f64> = serde_json::from_value(g["x"].clone()).unwrap();
    let noise: Vec<f64> = serde_json::from_value(g["noise"].clone()).unwrap();
    for (name, kind) in schedules() {
        let s = NoiseSchedule::new(kind, 1000).unwrap();
        for (t, v) in per_t(&g["schedules"][name]["add_noise"]) {
            let (a, b) = s.add_noise_coefficients(t);
            let expected: Vec<f64> = serde_json::from_value(v.clone()).unwrap();
            for i in 0..4 {
                let ours = a * x[i] + b * noise[i];
                assert!(
                    (ours - expected[i]).abs() < 1e-5,
                    "{name} add_noise t={t}[{i}]: {ours} vs {}",
                    expected[i]
                );
            }
        }
    }
}

#[test]
fn timesteps_match_every_spacing() {
    let g = golden();
    for (name, _) in schedules() {
        for (key, v) in g["schedules"][name]["timesteps"].as_object().unwrap() {
            let (spacing, n) = key.split_once('/').unwrap();
            let spacing = match spacing {
                "leading" => Spacing::Leading,
                "linspace" => Spacing::Linspace,
                "trailing" => Spacing::Trailing,
                other => panic!("unknown spacing {other}"),
            };
            let expected: Vec<usize> = serde_json::from_value(v.clone()).unwrap();
            assert_eq!(
                timesteps(1000, n.parse().unwrap(), spacing).unwrap(),
                expected,
                "{key}"
            );
        }
    }
}

/// The first three DDIM steps from `x`, feeding `model_output` at every
/// step (and `noise` as the variance noise when eta = 1), for every
/// schedule, spacing, step count and prediction type.
#[test]
fn ddim_steps_match() {
    use gen_diffusion::{Ddim, PrevTimestep};
    let g = golden();
    let inputs = loop_inputs(&g);
    let mut worst = Worst::default();
    let mut checked = 0;
    for (name, kind) in schedules() {
        for (key, v) in g["schedules"][name]["ddim"].as_object().unwrap() {
            let parts: Vec<&str> = key.split('/').collect();
            let spacing: Spacing = parts[0].parse().unwrap();
            let prediction = parts[2].parse().unwrap();
            let eta = if parts[3] == "eta1" { 1.0 } else { 0.0 };
            let schedule = NoiseSchedule::new(kind, 1000).unwrap();
            let ddim = Ddim::new(
                schedule,
                parts[1].parse().unwrap(),
                spacing,
                eta,
                prediction,
            )
            .unwrap();
            // diffusers lands on t - T/n: the same as the list for leading and
            // trailing, not for linspace (where our default differs on purpose).
            let compat = ddim.clone().prev_timestep(PrevTimestep::FixedOffset);
            let differs = (0..3).any(|i| ddim.landing(i) != compat.landing(i));
            assert_eq!(differs, spacing == Spacing::Linspace, "{key}");
            check_steps(&compat, &inputs, v, &mut worst, &format!("{name} {key}"));
            checked += 1;
        }
    }
    assert_eq!(checked, 3 * 36);
    worst.report("DDIM steps");
}

/// Runs DDIM from `x`, feeding `model_output` (and `noise`) at every step,
/// and checks each step's sample against diffusers' `expected[i]`; returns
/// the number of steps.
fn check_steps(
    ddim: &gen_diffusion::Ddim,
    [x, out, noise]: &[Vec<f64>; 3],
    expected: &Value,
    worst: &mut Worst,
    what: &str,
) -> usize {
    let expected: Vec<Vec<f64>> = serde_json::from_value(expected.clone()).unwrap();
    let mut sample = x.to_vec();
    for (i, want) in expected.iter().enumerate() {
        sample = ddim
            .coefficients(i)
            .unwrap()
            .apply_slice(&sample, out, noise);
        for (k, (ours, theirs)) in sample.iter().zip(want).enumerate() {
            worst.check(*ours, *theirs, 1e-4, 1.0, &format!("{what} step {i}[{k}]"));
        }
    }
    expected.len()
}

/// The largest relative error of a comparison, for the report printed
/// with `--nocapture`.
#[derive(Default)]
struct Worst(f64, String);

impl Worst {
    /// Checks `ours` against `theirs` at relative tolerance `rel`
    /// (relative to `max(|theirs|, floor)`), and keeps the worst error.
    fn check(&mut self, ours: f64, theirs: f64, rel: f64, floor: f64, what: &str) {
        let err = (ours - theirs).abs() / theirs.abs().max(floor);
        assert!(
            err <= rel,
            "{what}: ours {ours:e}, diffusers {theirs:e} (relative error {err:.1e} > {rel:.0e})"
        );
        if err > self.0 {
            *self = Worst(err, what.to_string());
        }
    }

    fn report(&self, name: &str) {
        eprintln!("{name}: largest relative error {:.2e} ({})", self.0, self.1);
    }
}

/// DDPM's fixed-small variance (diffusers' `_get_variance(t)` on the full
/// chain) and fixed-large variance (`beta_t`) at every golden `t`.
#[test]
fn ddpm_variances_match() {
    use gen_diffusion::{Ddpm, DdpmVariance, Prediction};
    let g = golden();
    let mut worst = Worst::default();
    for (name, kind) in schedules() {
        let s = NoiseSchedule::new(kind, 1000).unwrap();
        let gs = &g["schedules"][name];
        let make =
            |v| Ddpm::new(s.clone(), 1000, Spacing::Leading, v, Prediction::Epsilon).unwrap();
        let (small, large) = (
            make(DdpmVariance::FixedSmall),
            make(DdpmVariance::FixedLarge),
        );
        for (t, v) in per_t(&gs["ddpm_variance_fixed_small_at"]) {
            // The same float32 tolerance as the schedule's posterior variance.
            let eps = f64::from(f32::EPSILON);
            let tol = 1e-5 + (t as f64 + 4.0) * eps / (1.0 - s.alphas_cumprod()[t]);
            let what = format!("{name} fixed_small variance at t={t}");
            worst.check(
                small.variance(999 - t).unwrap(),
                v.as_f64().unwrap(),
                tol,
                1e-30,
                &what,
            );
        }
        for (t, v) in per_t(&gs["betas_at"]).into_iter().filter(|(t, _)| *t > 0) {
            let what = format!("{name} fixed_large variance at t={t}");
            worst.check(
                large.variance(999 - t).unwrap(),
                v.as_f64().unwrap(),
                1e-5,
                1e-30,
                &what,
            );
        }
    }
    worst.report("DDPM variances");
}

/// DPM-Solver++(2M): diffusers' timesteps for every spacing, and the first
/// four steps of the fixed loop (x, then `model_output` at every step), on
/// the host in f64 and through the sampler's tensor step in f32.
#[test]
fn dpm_solver_steps_match() {
    use gen_diffusion::{DpmSolver, Prediction, SamplerStep};
    let g = golden();
    let [x, out, _] = loop_inputs(&g);
    let dev = gen_core::device::device_from_env().unwrap();
    let tensor = |v: &[f64]| {
        let v: Vec<f32> = v.iter().map(|&a| a as f32).collect();
        burn::tensor::Tensor::<1>::from_floats(v.as_slice(), &dev)
    };
    let (mut host, mut device) = (Worst::default(), Worst::default());
    let mut checked = 0;
    for (name, kind) in schedules() {
        for (key, v) in g["schedules"][name]["dpmpp_2m"].as_object().unwrap() {
            let (spacing, n) = key.split_once('/').unwrap();
            let schedule = NoiseSchedule::new(kind, 1000).unwrap();
            let mut dpm = DpmSolver::new(
                schedule,
                n.parse().unwrap(),
                spacing.parse().unwrap(),
                Prediction::Epsilon,
            )
            .unwrap();
            let ts: Vec<usize> = serde_json::from_value(v["timesteps"].clone()).unwrap();
            assert_eq!(dpm.int_timesteps(), ts.as_slice(), "{name} {key}");
            let expected: Vec<Vec<f64>> =
                serde_json::from_value(v["first_4_prev_samples"].clone()).unwrap();
            let (mut sample, mut previous) = (x.clone(), vec![0.0; 4]);
            let mut xt = tensor(&x);
            let mut rng = gen_core::SeededRng::new(0);
            for (i, want) in expected.iter().enumerate() {
                let c = dpm.coefficients(i).unwrap();
                let x0: Vec<f64> = (0..4)
                    .map(|k| c.x0_sample * sample[k] + c.x0_output * out[k])
                    .collect();
                sample = (0..4)
                    .map(|k| c.sample * sample[k] + c.x0 * x0[k] + c.previous_x0 * previous[k])
                    .collect();
                previous = x0;
                xt = dpm.step(tensor(&out), i, xt, &mut rng).unwrap();
                let got: Vec<f32> = xt.clone().into_data().try_into_vec().unwrap();
                for k in 0..4 {
                    let what = format!("{name} {key} step {i}[{k}]");
                    host.check(sample[k], want[k], 1e-5, 1.0, &what);
                    device.check(f64::from(got[k]), want[k], 1e-5, 1.0, &what);
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 3 * 6);
    host.report("DPM-Solver++ 2M (f64 host)");
    device.report("DPM-Solver++ 2M (f32 tensors)");
}

/// Euler: diffusers' timesteps, sigmas, `init_noise_sigma`, and the first
/// three steps of the fixed loop started at `x * init_noise_sigma`.
#[test]
fn euler_steps_match() {
    use gen_diffusion::{Euler, Prediction, Sampler};
    let g = golden();
    let [x, out, _] = loop_inputs(&g);
    let (mut wt, mut ws, mut wi, mut wx) = (
        Worst::default(),
        Worst::default(),
        Worst::default(),
        Worst::default(),
    );
    let mut checked = 0;
    for (name, kind) in schedules() {
        for (key, v) in g["schedules"][name]["euler"].as_object().unwrap() {
            let (spacing, n) = key.split_once('/').unwrap();
            let schedule = NoiseSchedule::new(kind, 1000).unwrap();
            let euler = Euler::new(
                schedule,
                n.parse().unwrap(),
                spacing.parse().unwrap(),
                Prediction::Epsilon,
            )
            .unwrap();
            let f = |k: &str| -> Vec<f64> { serde_json::from_value(v[k].clone()).unwrap() };
            // diffusers' linspace is float32: 978.6122436 for 999 * 48 / 49.
            for (ours, theirs) in euler.timesteps().iter().zip(f("timesteps")) {
                wt.check(*ours, theirs, 1e-7, 1.0, &format!("{name} {key} timestep"));
            }
            // Sigmas inherit float32 alpha_bar's errors: its drift near
            // t = 999 (up to 5e-4 relative, see above) and the rounding of
            // `1 - alpha_bar` near t = 0 (2.6e-4 for cosine's sigma at t = 0).
            for (i, (ours, theirs)) in euler.sigmas().iter().zip(f("sigmas")).enumerate() {
                ws.check(
                    *ours,
                    theirs,
                    5e-4,
                    1e-30,
                    &format!("{name} {key} sigma[{i}]"),
                );
            }
            let init = euler.init_noise_sigma();
            wi.check(
                init,
                v["init_noise_sigma"].as_f64().unwrap(),
                3e-4,
                1e-30,
                &format!("{name} {key}"),
            );
            let expected: Vec<Vec<f64>> =
                serde_json::from_value(v["first_3_prev_samples"].clone()).unwrap();
            let mut sample: Vec<f64> = x.iter().map(|a| a * init).collect();
            for (i, want) in expected.iter().enumerate() {
                let c = euler.coefficients(i).unwrap();
                sample = c.apply_slice(&sample, &out, &[0.0; 4]);
                for k in 0..4 {
                    let what = format!("{name} {key} step {i}[{k}]");
                    wx.check(sample[k], want[k], 3e-4, 1.0, &what);
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 3 * 6);
    wt.report("Euler timesteps");
    ws.report("Euler sigmas");
    wi.report("Euler init_noise_sigma");
    wx.report("Euler steps");
}

/// DDIM at T = 500 with 7 trailing steps (T not a multiple of n), against
/// diffusers (tests/golden/make_ddim_uneven.py): `FixedOffset` reproduces
/// its every step; the default lands on the list's own timesteps, which
/// differ from diffusers' `t - T / n` at every other step.
#[test]
fn ddim_at_an_uneven_training_length() {
    use gen_diffusion::{Ddim, PrevTimestep};
    let g: Value = serde_json::from_str(include_str!("golden/ddim-uneven.json")).unwrap();
    let inputs = loop_inputs(&golden());
    let (train, steps) = (500, 7);
    let list: Vec<usize> = serde_json::from_value(g["timesteps"].clone()).unwrap();
    let theirs: Vec<Option<usize>> = serde_json::from_value::<Vec<i64>>(g["landing"].clone())
        .unwrap()
        .into_iter()
        .map(|t| usize::try_from(t).ok())
        .collect();
    let mut worst = Worst::default();
    for (key, v) in g["ddim"].as_object().unwrap() {
        let (prediction, eta) = key.split_once('/').unwrap();
        let prediction = prediction.parse().unwrap();
        let eta = if eta == "eta1" { 1.0 } else { 0.0 };
        let schedule = NoiseSchedule::new(BetaSchedule::LINEAR, train).unwrap();
        let ddim = Ddim::new(schedule, steps, Spacing::Trailing, eta, prediction).unwrap();
        assert_eq!(ddim.int_timesteps(), list, "{key}");
        let compat = ddim.clone().prev_timestep(PrevTimestep::FixedOffset);
        let ours: Vec<Option<usize>> = (0..steps).map(|i| ddim.landing(i)).collect();
        let offset: Vec<Option<usize>> = (0..steps).map(|i| compat.landing(i)).collect();
        assert_eq!(offset, theirs, "{key}: FixedOffset is diffusers' rule");
        let mut next: Vec<Option<usize>> = list[1..].iter().map(|&t| Some(t)).collect();
        next.push(None);
        assert_eq!(ours, next, "{key}: the default lands on the list");
        let differ: Vec<usize> = (0..steps).filter(|&i| ours[i] != theirs[i]).collect();
        assert_eq!(
            differ,
            [1, 3, 5],
            "{key}: 428 -> 356 (diffusers 357) and two more"
        );

        let checked = check_steps(&compat, &inputs, v, &mut worst, &format!("T=500 {key}"));
        assert_eq!(checked, steps);
    }
    worst.report("DDIM at T = 500, 7 trailing steps");
}
