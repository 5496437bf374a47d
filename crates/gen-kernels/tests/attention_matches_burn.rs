//! Our self-attention against the same computation in burn's operations
//! (split the heads, scores, causal mask, softmax, weighted values, merge)
//! on flex: values and the gradient of `q | k | v` on random shapes, with
//! and without the causal mask; determinism across thread counts; when it
//! does not apply.

use burn::tensor::activation::softmax;
use burn::tensor::{Bool, Device, Distribution, Tensor, TensorData};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

mod common;
use common::{host, normal, rel, same_at_any_thread_count};

/// The definition, in burn's operations.
fn burns(qkv: Tensor<3>, heads: usize, causal: bool) -> Tensor<3> {
    let [b, t, three_c] = qkv.dims();
    let c = three_c / 3;
    let d = c / heads;
    let part = |i: usize| {
        qkv.clone()
            .narrow(2, i * c, c)
            .reshape([b, t, heads, d])
            .swap_dims(1, 2)
    };
    let (q, k, v) = (part(0), part(1), part(2));
    let scores = q.matmul(k.swap_dims(2, 3)) * (d as f64).powf(-0.5);
    let scores = if causal {
        let mask: Vec<bool> = (0..t).flat_map(|i| (0..t).map(move |j| j > i)).collect();
        let mask = Tensor::<2, Bool>::from_data(TensorData::new(mask, [t, t]), &qkv.device());
        scores.mask_fill(mask.unsqueeze::<4>(), f64::NEG_INFINITY)
    } else {
        scores
    };
    softmax(scores, 3)
        .matmul(v)
        .swap_dims(1, 2)
        .reshape([b, t, c])
}

fn ours(qkv: Tensor<3>, heads: usize, causal: bool) -> Tensor<3> {
    gen_kernels::self_attention(&qkv, heads, causal).expect("flex f32: our kernel")
}

#[test]
fn attention_matches_burn_on_random_shapes() {
    let device = Device::flex().autodiff();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let (mut worst_y, mut worst_g) = (0.0f32, 0.0f32);
    for case in 0..30 {
        let heads = rng.random_range(1..5);
        let d = [1, 2, 8, 16, 32, 33][case % 6];
        let (b, t) = (rng.random_range(1..5), rng.random_range(1..70));
        let causal = case % 3 != 0;
        let qkv = normal(&mut rng, [b, t, 3 * heads * d], &device);
        let g = normal(&mut rng, [b, t, heads * d], &device);
        let run = |f: fn(Tensor<3>, usize, bool) -> Tensor<3>| {
            let x = qkv.clone().require_grad();
            let y = f(x.clone(), heads, causal);
            let grads = (y.clone() * g.clone()).sum().backward();
            (y.inner(), x.grad(&grads).expect("dqkv"))
        };
        let ((y1, g1), (y2, g2)) = (run(ours), run(burns));
        let (ry, rg) = (rel(y1, y2), rel(g1, g2));
        let what = format!("b {b} t {t} heads {heads} d {d} causal {causal}");
        assert!(ry < 1e-5 && rg < 1e-5, "{what}: {ry:e} {rg:e}");
        (worst_y, worst_g) = (worst_y.max(ry), worst_g.max(rg));
    }
    eprintln!(
        "attention: largest relative difference {worst_y:e} (values), {worst_g:e} (gradient)"
    );
}

#[test]
fn attention_is_the_same_at_any_thread_count() {
    let device = Device::flex().autodiff();
    let qkv = Tensor::<3>::random([5, 37, 3 * 48], Distribution::Default, &device);
    let g = Tensor::<3>::random([5, 37, 48], Distribution::Default, &device);
    same_at_any_thread_count(|| {
        let x = qkv.clone().require_grad();
        let y = ours(x.clone(), 4, true);
        let grads = (y.clone() * g.clone()).sum().backward();
        (host(y.inner()), host(x.grad(&grads).unwrap()))
    });
}

#[test]
fn a_later_position_never_changes_an_earlier_output() {
    let device = Device::flex();
    let qkv = Tensor::<3>::random([1, 12, 3 * 8], Distribution::Default, &device);
    let mut changed = host(qkv.clone());
    for v in &mut changed[9 * 24..] {
        *v += 3.0;
    }
    let changed = Tensor::<1>::from_floats(changed.as_slice(), &device).reshape([1, 12, 24]);
    let (a, b) = (host(ours(qkv, 2, true)), host(ours(changed, 2, true)));
    assert_eq!(a[..9 * 8], b[..9 * 8]);
    assert_ne!(a[9 * 8..], b[9 * 8..]);
}

#[test]
fn elsewhere_it_does_not_apply() {
    #[allow(deprecated)] // the other CPU backend
    let ndarray = Device::ndarray();
    let qkv = Tensor::<3>::zeros([1, 4, 24], &ndarray);
    assert!(gen_kernels::self_attention(&qkv, 2, true).is_none());
    let flex = Tensor::<3>::zeros([1, 4, 24], &Device::flex());
    assert!(
        gen_kernels::self_attention(&flex, 3, true).is_none(),
        "3 heads do not divide 8"
    );
    assert!(gen_kernels::self_attention(&flex, 2, true).is_some());
}
