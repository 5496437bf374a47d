//! Our linear layer against burn's on flex: values and the three
//! gradients on random shapes (ranks 1 to 4, with and without a bias, the
//! weight in burn's layout and transposed as a tied output layer), the
//! same bits at any thread count, and burn's operation elsewhere.

use burn::tensor::{Device, Distribution, Tensor, module};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

mod common;
use common::{host, normal, rel, same_at_any_thread_count};

/// Values and the gradients of `<linear(x), g>` for x, the weight and the
/// bias, through ours and through burn's `module::linear`.
fn gradients<const D: usize>(
    x: &Tensor<D>,
    w: &Tensor<2>,
    b: Option<&Tensor<1>>,
    g: &Tensor<D>,
    transposed: bool,
    ours: bool,
) -> Vec<Vec<f32>> {
    let (xr, wr) = (x.clone().require_grad(), w.clone().require_grad());
    let br = b.cloned().map(Tensor::require_grad);
    let y = match (ours, transposed) {
        (true, false) => gen_kernels::linear(xr.clone(), wr.clone(), br.clone()),
        (true, true) => gen_kernels::linear_transposed(xr.clone(), wr.clone()),
        (false, false) => module::linear(xr.clone(), wr.clone(), br.clone()),
        (false, true) => module::linear(xr.clone(), wr.clone().transpose(), None),
    };
    let grads = (y.clone() * g.clone()).sum().backward();
    let mut out = vec![
        host(y.inner()),
        host(xr.grad(&grads).expect("dx")),
        host(wr.grad(&grads).expect("dw")),
    ];
    if let Some(b) = br {
        out.push(host(b.grad(&grads).expect("db")));
    }
    out
}

fn compare<const D: usize>(rng: &mut ChaCha8Rng, lead: [usize; D], d_out: usize, bias: bool) {
    let device = Device::flex().autodiff();
    let d_in = lead[D - 1];
    let transposed = !bias && rng.random_bool(0.5);
    let x = normal(rng, lead, &device);
    let w_shape = if transposed {
        [d_out, d_in]
    } else {
        [d_in, d_out]
    };
    let w = normal(rng, w_shape, &device);
    let b = bias.then(|| normal(rng, [d_out], &device));
    let mut out = lead;
    out[D - 1] = d_out;
    let g = normal(rng, out, &device);
    let ours = gradients(&x, &w, b.as_ref(), &g, transposed, true);
    let burns = gradients(&x, &w, b.as_ref(), &g, transposed, false);
    for (k, (a, e)) in ours.iter().zip(&burns).enumerate() {
        let (a, e) = (
            Tensor::<1>::from_floats(a.as_slice(), &Device::flex()),
            Tensor::<1>::from_floats(e.as_slice(), &Device::flex()),
        );
        let r = rel(a, e);
        assert!(
            r < 2e-6,
            "{lead:?} -> {d_out} bias {bias} transposed {transposed}, output {k}: {r:e}"
        );
    }
}

#[test]
fn linear_matches_burn_on_random_shapes() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for case in 0..40 {
        let d_in = [1, 3, 16, 64, 128, 130][case % 6];
        let d_out = [1, 7, 65, 128, 384][rng.random_range(0..5)];
        let bias = case % 3 != 0;
        match case % 4 {
            0 => compare(&mut rng, [d_in], d_out, bias),
            1 => {
                let lead = [rng.random_range(1..70), d_in];
                compare(&mut rng, lead, d_out, bias)
            }
            2 => {
                let lead = [rng.random_range(1..13), rng.random_range(1..65), d_in];
                compare(&mut rng, lead, d_out, bias)
            }
            _ => {
                let lead = [2, rng.random_range(1..4), rng.random_range(1..9), d_in];
                compare(&mut rng, lead, d_out, bias)
            }
        }
    }
}

#[test]
fn linear_is_the_same_at_any_thread_count() {
    let device = Device::flex().autodiff();
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    // Large enough that the products split over the pool.
    let x = normal(&mut rng, [12, 64, 128], &device);
    let w = normal(&mut rng, [128, 384], &device);
    let b = normal(&mut rng, [384], &device);
    let g = normal(&mut rng, [12, 64, 384], &device);
    same_at_any_thread_count(|| gradients(&x, &w, Some(&b), &g, false, true));
    let table = normal(&mut rng, [65, 128], &device);
    let g = normal(&mut rng, [12, 64, 65], &device);
    same_at_any_thread_count(|| gradients(&x, &table, None, &g, true, true));
}

#[test]
fn other_cases_are_burns_operation() {
    #[allow(deprecated)] // the other CPU backend, for the fallback
    let device = Device::ndarray();
    let x = Tensor::<3>::random([2, 3, 8], Distribution::Default, &device);
    let w = Tensor::<2>::random([8, 5], Distribution::Default, &device);
    let b = Tensor::<1>::random([5], Distribution::Default, &device);
    assert_eq!(
        host(gen_kernels::linear(x.clone(), w.clone(), Some(b.clone()))),
        host(module::linear(x.clone(), w.clone(), Some(b)))
    );
    let table = w.clone().transpose();
    assert_eq!(
        host(gen_kernels::linear_transposed(x.clone(), table)),
        host(module::linear(x, w, None))
    );
    // A weight that does not chain: burn's operation reports it.
    let flex = Device::flex();
    let x = Tensor::<2>::random([4, 8], Distribution::Default, &flex);
    let wrong = Tensor::<2>::random([7, 5], Distribution::Default, &flex);
    let caught = std::panic::catch_unwind(|| gen_kernels::linear(x, wrong, None));
    assert!(caught.is_err(), "burn refuses a weight of the wrong shape");
}
