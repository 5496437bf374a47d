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
    use gen_diffusion::{Ddim, Prediction, PrevTimestep};
    let g = golden();
    let vec = |k: &str| -> Vec<f64> { serde_json::from_value(g[k].clone()).unwrap() };
    let (x, out, noise) = (vec("x"), vec("model_output"), vec("noise"));
    let mut checked = 0;
    for (name, kind) in schedules() {
        for (key, v) in g["schedules"][name]["ddim"].as_object().unwrap() {
            let parts: Vec<&str> = key.split('/').collect();
            let spacing = match parts[0] {
                "leading" => Spacing::Leading,
                "linspace" => Spacing::Linspace,
                _ => Spacing::Trailing,
            };
            let prediction = match parts[2] {
                "epsilon" => Prediction::Epsilon,
                "v_prediction" => Prediction::V,
                _ => Prediction::Sample,
            };
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
            let expected: Vec<Vec<f64>> = serde_json::from_value(v.clone()).unwrap();
            let mut sample = x.clone();
            for (i, want) in expected.iter().enumerate() {
                sample = compat.coefficients(i).apply_slice(&sample, &out, &noise);
                for (ours, theirs) in sample.iter().zip(want) {
                    let err = (ours - theirs).abs() / theirs.abs().max(1.0);
                    assert!(err < 1e-4, "{name} {key} step {i}: {sample:?} vs {want:?}");
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 3 * 36);
}
