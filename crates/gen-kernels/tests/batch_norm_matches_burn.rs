//! Our training-mode batch norm against burn's on flex: the output, the
//! statistics and the three gradients on random shapes (ranks 2 to 4,
//! channels far from 0 included), the same bits at any thread count, and
//! burn's operation elsewhere.

use burn::tensor::{Device, Distribution, Tensor, module};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

mod common;
use common::{host, normal, rel, same_at_any_thread_count};

type Train<const D: usize> =
    fn(Tensor<D>, Tensor<1>, Tensor<1>, f64) -> module::BatchNormTrainOutput<D>;

/// The output, mean, variance and the gradients of `<y, g>` for x, gamma
/// and beta.
fn run<const D: usize>(
    f: Train<D>,
    x: &Tensor<D>,
    gamma: &Tensor<1>,
    beta: &Tensor<1>,
    g: &Tensor<D>,
) -> Vec<Vec<f32>> {
    let (xr, gr, br) = (
        x.clone().require_grad(),
        gamma.clone().require_grad(),
        beta.clone().require_grad(),
    );
    let out = f(xr.clone(), gr.clone(), br.clone(), 1e-5);
    let grads = (out.output.clone() * g.clone()).sum().backward();
    vec![
        host(out.output.inner()),
        host(out.mean.inner()),
        host(out.variance.inner()),
        host(xr.grad(&grads).expect("dx")),
        host(gr.grad(&grads).expect("dgamma")),
        host(br.grad(&grads).expect("dbeta")),
    ]
}

fn compare<const D: usize>(rng: &mut ChaCha8Rng, shape: [usize; D], offset: f32) -> f32 {
    let device = Device::flex().autodiff();
    let c = shape[1];
    let x = normal(rng, shape, &device) * 2.0 + offset;
    let gamma = normal(rng, [c], &device);
    let beta = normal(rng, [c], &device);
    let g = normal(rng, shape, &device);
    let ours = run(gen_kernels::batch_norm_train, &x, &gamma, &beta, &g);
    let burns = run(module::batch_norm_train, &x, &gamma, &beta, &g);
    let flex = Device::flex();
    let mut worst = 0.0f32;
    for (k, (a, b)) in ours.iter().zip(&burns).enumerate() {
        let r = rel(
            Tensor::<1>::from_floats(a.as_slice(), &flex),
            Tensor::<1>::from_floats(b.as_slice(), &flex),
        );
        // burn centres in f32 after a mean in f32; a channel at 100 loses
        // about 100 * eps of each value in either code.
        let tolerance = 2e-5 * (1.0 + offset.abs() / 10.0);
        assert!(
            r < tolerance,
            "{shape:?} offset {offset}, output {k}: {r:e}"
        );
        worst = worst.max(r);
    }
    worst
}

#[test]
fn batch_norm_matches_burn_on_random_shapes() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut worst = 0.0f32;
    for case in 0..24 {
        let offset = [0.0, 3.0, -100.0][case % 3];
        let (n, c) = (rng.random_range(1..9), rng.random_range(1..40));
        let r = match case % 4 {
            0 => compare(&mut rng, [n + 1, c], offset),
            1 => {
                let s = rng.random_range(1..50);
                compare(&mut rng, [n, c, s], offset)
            }
            _ => {
                let (h, w) = (rng.random_range(1..15), rng.random_range(1..15));
                compare(&mut rng, [n, c, h, w], offset)
            }
        };
        worst = worst.max(r);
    }
    eprintln!("batch norm: largest relative difference to burn's {worst:e}");
}

#[test]
fn batch_norm_is_the_same_at_any_thread_count() {
    let device = Device::flex().autodiff();
    let mut rng = ChaCha8Rng::seed_from_u64(10);
    let x = normal(&mut rng, [16, 24, 14, 14], &device);
    let gamma = normal(&mut rng, [24], &device);
    let beta = normal(&mut rng, [24], &device);
    let g = normal(&mut rng, [16, 24, 14, 14], &device);
    same_at_any_thread_count(|| run(gen_kernels::batch_norm_train, &x, &gamma, &beta, &g));
}

#[test]
fn other_cases_are_burns_operation() {
    #[allow(deprecated)] // the other CPU backend, for the fallback
    let device = Device::ndarray();
    let x = Tensor::<4>::random([3, 4, 5, 5], Distribution::Default, &device);
    let (gamma, beta) = (Tensor::ones([4], &device), Tensor::zeros([4], &device));
    let ours = gen_kernels::batch_norm_train(x.clone(), gamma.clone(), beta.clone(), 1e-5);
    let burns = module::batch_norm_train(x, gamma, beta, 1e-5);
    assert_eq!(host(ours.output), host(burns.output));
    assert_eq!(host(ours.variance), host(burns.variance));
    // A gamma of the wrong length: burn's operation reports it.
    let flex = Device::flex();
    let x = Tensor::<4>::random([3, 4, 5, 5], Distribution::Default, &flex);
    let caught = std::panic::catch_unwind(|| {
        gen_kernels::batch_norm_train(x, Tensor::ones([3], &flex), Tensor::zeros([3], &flex), 1e-5)
    });
    assert!(caught.is_err(), "burn refuses a gamma of the wrong length");
}
