//! Our convolution kernels against burn's own operations on random shapes
//! (forward and every gradient, on flex), a finite-difference check,
//! non-finite inputs, and determinism across thread counts.

use burn::tensor::module;
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{Device, Distribution, Tensor};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `max |a - b| / max(max |b|, 1e-6)`.
fn rel(a: Tensor<4>, b: Tensor<4>) -> f32 {
    rel_n(a, b)
}

fn rel_n<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
    let scale = b.clone().abs().max().into_scalar::<f32>().max(1e-6);
    (a - b).abs().max().into_scalar::<f32>() / scale
}

/// One random case: the operation's inputs and the options of both kinds.
struct Case {
    x: [usize; 4],
    weight: [usize; 4],
    bias: bool,
    stride: usize,
    pad: usize,
    dilation: usize,
    pad_out: usize,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "x {:?} w {:?} bias {} stride {} pad {} dilation {} pad_out {}",
            self.x, self.weight, self.bias, self.stride, self.pad, self.dilation, self.pad_out
        )
    }
}

/// Compares forward, d/dx, d/dw and d/db of ours and burn's for one
/// operation; returns the largest relative difference.
fn compare(
    case: &Case,
    ours: impl Fn(Tensor<4>, Tensor<4>, Option<Tensor<1>>) -> Tensor<4>,
    burns: impl Fn(Tensor<4>, Tensor<4>, Option<Tensor<1>>) -> Tensor<4>,
    bias_len: usize,
) -> f32 {
    let device = Device::flex().autodiff();
    let normal = Distribution::Normal(0.0, 1.0);
    let x = Tensor::<4>::random(case.x, normal, &device);
    let w = Tensor::<4>::random(case.weight, normal, &device);
    let b = case
        .bias
        .then(|| Tensor::<1>::random([bias_len], normal, &device));
    let run = |f: &dyn Fn(Tensor<4>, Tensor<4>, Option<Tensor<1>>) -> Tensor<4>| {
        let (x, w) = (x.clone().require_grad(), w.clone().require_grad());
        let b = b.clone().map(Tensor::require_grad);
        f(x.clone(), w.clone(), b.clone())
    };
    let (y_ours, y_burn) = (run(&ours), run(&burns));
    assert_eq!(y_ours.dims(), y_burn.dims(), "{case:?}");
    let g = Tensor::<4>::random(y_burn.dims(), normal, &device);
    let mut worst = rel(y_ours.clone().inner(), y_burn.clone().inner());
    // Gradients of <y, g> through each.
    let grads_of = |f: &dyn Fn(Tensor<4>, Tensor<4>, Option<Tensor<1>>) -> Tensor<4>| {
        let (xr, wr) = (x.clone().require_grad(), w.clone().require_grad());
        let br = b.clone().map(Tensor::require_grad);
        let grads = (f(xr.clone(), wr.clone(), br.clone()) * g.clone())
            .sum()
            .backward();
        (
            xr.grad(&grads).expect("dx"),
            wr.grad(&grads).expect("dw"),
            br.map(|b| b.grad(&grads).expect("db")),
        )
    };
    let (ours_g, burn_g) = (grads_of(&ours), grads_of(&burns));
    worst = worst
        .max(rel(ours_g.0, burn_g.0))
        .max(rel(ours_g.1, burn_g.1));
    if let (Some(a), Some(b)) = (ours_g.2, burn_g.2) {
        worst = worst.max(rel_n(a, b));
    }
    worst
}

fn random_case(rng: &mut ChaCha8Rng, transposed: bool) -> Case {
    loop {
        let (cin, cout) = (rng.random_range(1..=96), rng.random_range(1..=96));
        let (h, w) = (rng.random_range(1..=33), rng.random_range(1..=33));
        let (kh, kw) = (rng.random_range(1..=5), rng.random_range(1..=5));
        let stride = rng.random_range(1..=3);
        let pad = rng.random_range(0..=2);
        let dilation = rng.random_range(1..=2);
        let pad_out = if transposed {
            rng.random_range(0..stride.max(dilation))
        } else {
            0
        };
        let batch = rng.random_range(1..=8);
        // Keep each case small enough for a debug build.
        if batch * cin.max(cout) * h * w * kh * kw > 400_000 {
            continue;
        }
        let fits = |len: usize, k: usize| len + 2 * pad > dilation * (k - 1);
        let conv_fits = fits(h, kh) && fits(w, kw);
        if !transposed && !conv_fits {
            continue;
        }
        if transposed {
            let out = |len: usize, k: usize| (len - 1) * stride + dilation * (k - 1) + pad_out + 1;
            if out(h, kh) <= 2 * pad || out(w, kw) <= 2 * pad {
                continue;
            }
        }
        let weight = if transposed {
            [cin, cout, kh, kw]
        } else {
            [cout, cin, kh, kw]
        };
        return Case {
            x: [batch, cin, h, w],
            weight,
            bias: rng.random(),
            stride,
            pad,
            dilation,
            pad_out,
        };
    }
}

#[test]
fn conv2d_matches_burn_on_random_shapes() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut worst = 0f32;
    for _ in 0..40 {
        let case = random_case(&mut rng, false);
        let o = ConvOptions::new([case.stride; 2], [case.pad; 2], [case.dilation; 2], 1);
        let (o1, o2) = (o.clone(), o);
        let r = compare(
            &case,
            |x, w, b| gen_kernels::conv2d(x, w, b, o1.clone()),
            |x, w, b| module::conv2d(x, w, b, o2.clone()),
            case.weight[0],
        );
        assert!(r < 1e-4, "{case:?}: relative difference {r}");
        worst = worst.max(r);
    }
    println!("conv2d: largest relative difference {worst:e}");
}

#[test]
fn conv_transpose2d_matches_burn_on_random_shapes() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut worst = 0f32;
    for _ in 0..40 {
        let case = random_case(&mut rng, true);
        let o = ConvTransposeOptions::new(
            [case.stride; 2],
            [case.pad; 2],
            [case.pad_out; 2],
            [case.dilation; 2],
            1,
        );
        let (o1, o2) = (o.clone(), o);
        let r = compare(
            &case,
            |x, w, b| gen_kernels::conv_transpose2d(x, w, b, o1.clone()),
            |x, w, b| module::conv_transpose2d(x, w, b, o2.clone()),
            case.weight[1],
        );
        assert!(r < 1e-4, "{case:?}: relative difference {r}");
        worst = worst.max(r);
    }
    println!("conv_transpose2d: largest relative difference {worst:e}");
}

/// 3x3 stride-1 cases with at least 48 channels each way: the ones that
/// run Winograd's F(2x2, 3x3), forward and input gradient (odd and even
/// sizes, every padding it takes, the transposed convolution too).
#[test]
fn winograd_convolutions_match_burn() {
    let mut rng = ChaCha8Rng::seed_from_u64(23);
    let mut worst = 0f32;
    for i in 0..16 {
        let transposed = i % 4 == 3;
        let (cin, cout) = (rng.random_range(48..=72), rng.random_range(48..=72));
        let (h, w) = (rng.random_range(1..=15), rng.random_range(1..=15));
        let pad = rng.random_range(0..=2);
        let batch = rng.random_range(1..=5);
        if !transposed && (h + 2 * pad < 3 || w + 2 * pad < 3) {
            continue;
        }
        if transposed && (h + 2 <= 2 * pad || w + 2 <= 2 * pad) {
            continue;
        }
        let case = Case {
            x: [batch, cin, h, w],
            weight: [cout, cin, 3, 3],
            bias: rng.random(),
            stride: 1,
            pad,
            dilation: 1,
            pad_out: 0,
        };
        let r = if transposed {
            let case = Case {
                weight: [cin, cout, 3, 3],
                ..case
            };
            let o = ConvTransposeOptions::new([1; 2], [pad; 2], [0; 2], [1; 2], 1);
            let (o1, o2) = (o.clone(), o);
            compare(
                &case,
                |x, w, b| gen_kernels::conv_transpose2d(x, w, b, o1.clone()),
                |x, w, b| module::conv_transpose2d(x, w, b, o2.clone()),
                cout,
            )
        } else {
            let o = ConvOptions::new([1; 2], [pad; 2], [1; 2], 1);
            let (o1, o2) = (o.clone(), o);
            compare(
                &case,
                |x, w, b| gen_kernels::conv2d(x, w, b, o1.clone()),
                |x, w, b| module::conv2d(x, w, b, o2.clone()),
                cout,
            )
        };
        assert!(
            r < 1e-4,
            "{case:?} transposed {transposed}: relative difference {r}"
        );
        worst = worst.max(r);
    }
    println!("winograd: largest relative difference {worst:e}");
}

/// Winograd's transforms add and subtract neighbouring inputs, so an
/// infinity may come out as a NaN; but the outputs that are not finite
/// are exactly burn's.
#[test]
fn winograd_keeps_non_finite_values_where_burn_has_them() {
    let device = Device::flex();
    let mut values = vec![0.5f32; 2 * 48 * 7 * 6];
    values[9] = f32::NAN;
    values[48 * 42 + 20] = f32::INFINITY;
    values[2 * 48 * 42 - 1] = f32::NEG_INFINITY;
    let x = Tensor::<4>::from_data(
        burn::tensor::TensorData::new(values, [2, 48, 7, 6]),
        &device,
    );
    let w = Tensor::<4>::random([48, 48, 3, 3], Distribution::Normal(0.0, 1.0), &device);
    let o = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
    let finite = |t: Tensor<4>| {
        t.into_data()
            .try_into_vec::<f32>()
            .expect("f32")
            .iter()
            .map(|v| v.is_finite())
            .collect::<Vec<_>>()
    };
    let ours = finite(gen_kernels::conv2d(x.clone(), w.clone(), None, o.clone()));
    assert!(ours.iter().any(|f| !f));
    assert_eq!(ours, finite(module::conv2d(x, w, None, o)));
}

#[test]
fn asymmetric_padding_matches_burn() {
    let device = Device::flex();
    let x = Tensor::<4>::random([2, 3, 9, 8], Distribution::Normal(0.0, 1.0), &device);
    let w = Tensor::<4>::random([5, 3, 3, 4], Distribution::Normal(0.0, 1.0), &device);
    let o = ConvOptions::new_with_padding([2, 1], [(0, 2), (1, 0)], [1, 2], 1);
    let r = rel(
        gen_kernels::conv2d(x.clone(), w.clone(), None, o.clone()),
        module::conv2d(x, w, None, o),
    );
    assert!(r < 1e-5, "{r}");
}

#[test]
fn gradients_match_finite_differences() {
    // f(w) = <conv(x, w), g>; a central difference of each weight entry.
    let device = Device::flex().autodiff();
    let x = Tensor::<4>::random([2, 2, 5, 4], Distribution::Normal(0.0, 1.0), &device);
    let w =
        Tensor::<4>::random([3, 2, 3, 2], Distribution::Normal(0.0, 1.0), &device).require_grad();
    let o = ConvOptions::new([2, 1], [1, 0], [1, 1], 1);
    let g = Tensor::<4>::random([2, 3, 3, 3], Distribution::Normal(0.0, 1.0), &device);
    let f = |w: Tensor<4>| (gen_kernels::conv2d(x.clone(), w, None, o.clone()) * g.clone()).sum();
    let grads = f(w.clone()).backward();
    let dw: Vec<f32> = w
        .grad(&grads)
        .expect("dw")
        .into_data()
        .try_into_vec::<f32>()
        .expect("f32");
    let w0: Vec<f32> = w
        .clone()
        .inner()
        .into_data()
        .try_into_vec::<f32>()
        .expect("f32");
    let eps = 1e-2;
    for (i, analytic) in dw.iter().enumerate() {
        let at = |d: f32| {
            let mut v = w0.clone();
            v[i] += d;
            let t = Tensor::<4>::from_data(
                burn::tensor::TensorData::new(v, [3, 2, 3, 2]),
                &device.clone().inner(),
            );
            f(t).into_scalar::<f32>()
        };
        let numeric = (at(eps) - at(-eps)) / (2.0 * eps);
        assert!(
            (numeric - analytic).abs() < 2e-2 * analytic.abs().max(1.0),
            "entry {i}: {numeric} vs {analytic}"
        );
    }
}

#[test]
fn non_finite_inputs_propagate_as_burn_does() {
    let device = Device::flex();
    let mut values = vec![0.5f32; 2 * 2 * 6 * 6];
    values[7] = f32::NAN;
    values[40] = f32::INFINITY;
    let x = Tensor::<4>::from_data(burn::tensor::TensorData::new(values, [2, 2, 6, 6]), &device);
    let w = Tensor::<4>::random([3, 2, 3, 3], Distribution::Normal(0.0, 1.0), &device);
    let o = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
    let ours: Vec<f32> = gen_kernels::conv2d(x.clone(), w.clone(), None, o.clone())
        .into_data()
        .try_into_vec::<f32>()
        .expect("f32");
    let burns: Vec<f32> = module::conv2d(x, w, None, o)
        .into_data()
        .try_into_vec::<f32>()
        .expect("f32");
    let class = |v: &f32| (v.is_nan(), v.is_infinite());
    assert!(ours.iter().any(|v| !v.is_finite()));
    assert_eq!(
        ours.iter().map(class).collect::<Vec<_>>(),
        burns.iter().map(class).collect::<Vec<_>>()
    );
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    // Batch 9: images spread over the workers; batch 1: one image whose
    // products split themselves over the pool.
    for batch in [9, 1] {
        let device = Device::flex().autodiff();
        let x = Tensor::<4>::random([batch, 48, 12, 12], Distribution::Normal(0.0, 1.0), &device);
        let w = Tensor::<4>::random([56, 48, 3, 3], Distribution::Normal(0.0, 1.0), &device);
        let b = Tensor::<1>::random([56], Distribution::Normal(0.0, 1.0), &device);
        let o = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("pool");
            pool.install(|| {
                let (x, w, b) = (
                    x.clone().require_grad(),
                    w.clone().require_grad(),
                    b.clone().require_grad(),
                );
                let y = gen_kernels::conv2d(x.clone(), w.clone(), Some(b.clone()), o.clone());
                let grads = (y.clone() * y.clone()).sum().backward();
                let v = |t: Tensor<4>| t.into_data().try_into_vec::<f32>().expect("f32");
                (
                    v(y.inner()),
                    v(x.grad(&grads).expect("dx")),
                    v(w.grad(&grads).expect("dw")),
                    b.grad(&grads)
                        .expect("db")
                        .into_data()
                        .try_into_vec::<f32>()
                        .expect("f32"),
                )
            })
        };
        let one = run(1);
        assert_eq!(one, run(2), "batch {batch}, 2 threads");
        assert_eq!(one, run(3), "batch {batch}, 3 threads");
        assert_eq!(one, run(1), "batch {batch}, again");
    }
}

#[test]
fn other_backends_and_groups_run_burns_operation() {
    #[allow(deprecated)]
    let device = Device::ndarray();
    assert!(!gen_kernels::fast_path(&device));
    assert!(gen_kernels::fast_path(&Device::flex()));
    assert!(gen_kernels::fast_path(&Device::flex().autodiff()));
    let x = Tensor::<4>::random([2, 4, 6, 6], Distribution::Normal(0.0, 1.0), &device);
    let w = Tensor::<4>::random([6, 2, 3, 3], Distribution::Normal(0.0, 1.0), &device);
    let o = ConvOptions::new([1, 1], [1, 1], [1, 1], 2);
    let y = gen_kernels::conv2d(x.clone(), w.clone(), None, o.clone());
    assert_eq!(rel(y, module::conv2d(x, w, None, o)), 0.0);
}

#[test]
fn inconsistent_shapes_are_burns_to_report() {
    // A bias of the wrong length goes to burn's operation, which refuses
    // it as burn does, rather than to a kernel that would read past it.
    let device = Device::flex();
    let x = Tensor::<4>::random([1, 2, 5, 5], Distribution::Normal(0.0, 1.0), &device);
    let w = Tensor::<4>::random([3, 2, 3, 3], Distribution::Normal(0.0, 1.0), &device);
    let b = Tensor::<1>::random([4], Distribution::Normal(0.0, 1.0), &device);
    let o = ConvOptions::new([1, 1], [0, 0], [1, 1], 1);
    let ours = std::panic::catch_unwind(|| {
        gen_kernels::conv2d(x.clone(), w.clone(), Some(b.clone()), o.clone()).dims()
    });
    let burns = std::panic::catch_unwind(|| {
        module::conv2d(x.clone(), w.clone(), Some(b.clone()), o.clone()).dims()
    });
    assert_eq!(ours.is_err(), burns.is_err());
}
