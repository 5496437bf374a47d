//! Our GELU, SiLU and layer norm against burn's own operations on flex:
//! values and every gradient on random shapes (and ranks), values over a
//! wide range of inputs, NaN, determinism across thread counts, and the
//! fallbacks.

use burn::tensor::activation;
use burn::tensor::module;
use burn::tensor::{Device, Distribution, Tensor};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

mod common;
use common::{host, normal, rel, same_at_any_thread_count};

type Unary = fn(Tensor<3>) -> Tensor<3>;

/// Values and the input gradient of `<f(x), g>` through ours and burn's.
fn compare_pointwise(ours: Unary, burns: Unary, shape: [usize; 3], scale: f64) -> (f32, f32) {
    let device = Device::flex().autodiff();
    let x = Tensor::<3>::random(shape, Distribution::Normal(0.0, scale), &device);
    let g = Tensor::<3>::random(shape, Distribution::Normal(0.0, 1.0), &device);
    let run = |f: Unary| {
        let xr = x.clone().require_grad();
        let y = f(xr.clone());
        let grads = (y.clone() * g.clone()).sum().backward();
        (y.inner(), xr.grad(&grads).expect("dx"))
    };
    let ((y1, d1), (y2, d2)) = (run(ours), run(burns));
    (rel(y1, y2), rel(d1, d2))
}

#[test]
fn gelu_and_silu_match_burn_on_random_shapes() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let cases: [(&str, Unary, Unary); 2] = [
        ("gelu", gen_kernels::gelu, activation::gelu),
        ("silu", gen_kernels::silu, activation::silu),
    ];
    for (name, ours, burns) in cases {
        let mut worst = (0.0f32, 0.0f32);
        for _ in 0..20 {
            let shape = [
                rng.random_range(1..5),
                rng.random_range(1..70),
                rng.random_range(1..600),
            ];
            let scale = [0.1, 1.0, 4.0][rng.random_range(0..3)];
            let (v, d) = compare_pointwise(ours, burns, shape, scale);
            assert!(
                v < 1e-6 && d < 1e-6,
                "{name} {shape:?} x{scale}: {v:e} {d:e}"
            );
            worst = (worst.0.max(v), worst.1.max(d));
        }
        eprintln!(
            "{name}: largest relative difference {:e} (values), {:e} (gradient)",
            worst.0, worst.1
        );
    }
}

#[test]
fn pointwise_values_agree_from_minus_30_to_30_and_keep_nan() {
    let device = Device::flex();
    let xs: Vec<f32> = (0..60_001).map(|i| -30.0 + i as f32 * 1e-3).collect();
    let x = Tensor::<1>::from_floats(xs.as_slice(), &device);
    for (name, ours, burns) in [
        (
            "gelu",
            gen_kernels::gelu::<1> as fn(Tensor<1>) -> Tensor<1>,
            activation::gelu::<1> as fn(Tensor<1>) -> Tensor<1>,
        ),
        ("silu", gen_kernels::silu::<1>, activation::silu::<1>),
    ] {
        let (a, b) = (host(ours(x.clone())), host(burns(x.clone())));
        for ((&x, a), b) in xs.iter().zip(a).zip(b) {
            assert!(
                (a - b).abs() <= 2e-6 * b.abs().max(1.0),
                "{name}({x}) = {a}, burn {b}"
            );
        }
        let nan = Tensor::<1>::from_floats([1.0, f32::NAN, -2.0], &device);
        let y = host(ours(nan));
        assert!(
            y[1].is_nan() && y[0].is_finite() && y[2].is_finite(),
            "{name}: {y:?}"
        );
    }
}

type Norm = fn(Tensor<3>, Tensor<1>, Option<Tensor<1>>, f64) -> Tensor<3>;

/// Layer norm and its three gradients for `<y, g>` in f64 on the host:
/// `(y, dx, dgamma, dbeta)`.
fn reference(x: &[f32], d: usize, gamma: &[f32], beta: &[f32], g: &[f32]) -> [Vec<f64>; 4] {
    let (mut y, mut dx) = (vec![0.0; x.len()], vec![0.0; x.len()]);
    let (mut dgamma, mut dbeta) = (vec![0.0; d], vec![0.0; d]);
    for r in 0..x.len() / d {
        let row: Vec<f64> = x[r * d..(r + 1) * d].iter().map(|&v| v as f64).collect();
        let mean = row.iter().sum::<f64>() / d as f64;
        let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / d as f64;
        let rstd = 1.0 / (var + 1e-5).sqrt();
        let xhat: Vec<f64> = row.iter().map(|v| (v - mean) * rstd).collect();
        let gr: Vec<f64> = (0..d)
            .map(|j| g[r * d + j] as f64 * gamma[j] as f64)
            .collect();
        let a = gr.iter().sum::<f64>() / d as f64;
        let b = gr.iter().zip(&xhat).map(|(g, h)| g * h).sum::<f64>() / d as f64;
        for j in 0..d {
            y[r * d + j] = xhat[j] * gamma[j] as f64 + beta[j] as f64;
            dx[r * d + j] = rstd * (gr[j] - a - xhat[j] * b);
            dgamma[j] += g[r * d + j] as f64 * xhat[j];
            dbeta[j] += g[r * d + j] as f64;
        }
    }
    [y, dx, dgamma, dbeta]
}

/// `max |a - b| / max |b|`.
fn rel64(a: &[f32], b: &[f64]) -> f64 {
    let scale = b.iter().fold(1e-12f64, |m, v| m.max(v.abs()));
    a.iter()
        .zip(b)
        .fold(0.0f64, |m, (&a, &b)| m.max((a as f64 - b).abs()))
        / scale
}

#[test]
fn layer_norm_is_as_accurate_as_burns_with_and_without_beta() {
    let device = Device::flex().autodiff();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let (mut ours_worst, mut burn_worst) = (0.0f64, 0.0f64);
    for case in 0..24 {
        let d = [1, 3, 7, 8, 64, 128, 130, 512][case % 8];
        let shape = [rng.random_range(1..4), rng.random_range(1..90), d];
        let with_beta = case % 3 != 0;
        // Rows far from 0 lose digits when centred in f32, in either code.
        let offset: f64 = [0.0, 5.0, -100.0][case % 3];
        let x = normal(&mut rng, shape, &device) + offset;
        let gamma = normal(&mut rng, [d], &device);
        let beta = with_beta.then(|| normal(&mut rng, [d], &device));
        let g = normal(&mut rng, shape, &device);
        // Centring a row at `offset` in f32 loses about |offset| * eps of
        // each value, in either code: the floor of what can be asked.
        let floor = 2e-5f64.max(4.0 * offset.abs() * f32::EPSILON as f64);
        let zeros = vec![0.0f32; d];
        let want = reference(
            &host(x.clone().inner()),
            d,
            &host(gamma.clone().inner()),
            &beta.clone().map_or(zeros, |b| host(b.inner())),
            &host(g.clone().inner()),
        );
        let run = |f: Norm| -> [f64; 4] {
            let (xr, gr) = (x.clone().require_grad(), gamma.clone().require_grad());
            let br = beta.clone().map(Tensor::require_grad);
            let y = f(xr.clone(), gr.clone(), br.clone(), 1e-5);
            let grads = (y.clone() * g.clone()).sum().backward();
            let dbeta = br.map_or(0.0, |b| {
                rel64(&host(b.grad(&grads).expect("dbeta")), &want[3])
            });
            [
                rel64(&host(y.inner()), &want[0]),
                rel64(&host(xr.grad(&grads).expect("dx")), &want[1]),
                rel64(&host(gr.grad(&grads).expect("dgamma")), &want[2]),
                dbeta,
            ]
        };
        let (ours, burns) = (run(gen_kernels::layer_norm), run(module::layer_norm));
        for k in 0..4 {
            assert!(
                ours[k] <= (2.0 * burns[k]).max(floor),
                "{shape:?} beta {with_beta} offset {offset}: ours {ours:?}, burn's {burns:?}"
            );
        }
        ours_worst = ours.iter().copied().fold(ours_worst, f64::max);
        burn_worst = burns.iter().copied().fold(burn_worst, f64::max);
    }
    eprintln!(
        "layer norm, largest relative error against f64: ours {ours_worst:e}, burn's {burn_worst:e}"
    );
}

#[test]
fn layer_norm_is_the_same_at_any_thread_count_and_keeps_nan_in_its_row() {
    let device = Device::flex().autodiff();
    let normal = Distribution::Normal(0.0, 1.0);
    let x = Tensor::<3>::random([3, 77, 128], normal, &device);
    let gamma = Tensor::<1>::random([128], normal, &device);
    let beta = Tensor::<1>::random([128], normal, &device);
    let g = Tensor::<3>::random([3, 77, 128], normal, &device);
    same_at_any_thread_count(|| {
        let (xr, gr) = (x.clone().require_grad(), gamma.clone().require_grad());
        let y = gen_kernels::layer_norm(xr.clone(), gr.clone(), Some(beta.clone()), 1e-5);
        let grads = (y.clone() * g.clone()).sum().backward();
        (
            host(y.inner()),
            host(xr.grad(&grads).unwrap()),
            host(gr.grad(&grads).unwrap()),
        )
    });

    let mut values = host(x.clone().inner());
    values[128 * 5 + 3] = f32::NAN;
    let x = Tensor::<1>::from_floats(values.as_slice(), &Device::flex()).reshape([3, 77, 128]);
    let y = host(gen_kernels::layer_norm(x, gamma.inner(), None, 1e-5));
    assert!(
        y[128 * 5..128 * 6].iter().all(|v| v.is_nan()),
        "the NaN's row"
    );
    assert!(
        y[..128 * 5]
            .iter()
            .chain(&y[128 * 6..])
            .all(|v| v.is_finite())
    );
}

#[test]
fn other_cases_are_burns_operation() {
    // ndarray, and a gamma of the wrong length (burn's own check reports it).
    #[allow(deprecated)] // the other CPU backend, for the fallback
    let device = Device::ndarray();
    let x = Tensor::<2>::random([4, 8], Distribution::Default, &device);
    let gamma = Tensor::<1>::ones([8], &device);
    let ours = gen_kernels::layer_norm(x.clone(), gamma.clone(), None, 1e-5);
    assert_eq!(
        host(ours),
        host(module::layer_norm(x.clone(), gamma, None, 1e-5))
    );
    assert_eq!(
        host(gen_kernels::gelu(x.clone())),
        host(activation::gelu(x))
    );
    let flex = Device::flex();
    let x = Tensor::<2>::random([4, 8], Distribution::Default, &flex);
    let wrong = Tensor::<1>::ones([7], &flex);
    let caught = std::panic::catch_unwind(|| gen_kernels::layer_norm(x, wrong, None, 1e-5));
    assert!(
        caught.is_err(),
        "burn's operation refuses a gamma of the wrong length"
    );
}
