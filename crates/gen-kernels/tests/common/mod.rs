//! What the kernel tests share: host values, relative differences, and a
//! computation run on pools of 1, 2 and 3 threads.

#![allow(dead_code)] // each test file uses a part

use burn::tensor::{Device, Tensor, TensorData};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

/// A tensor of standard normal values drawn from `rng` (Box-Muller), so a
/// test's inputs do not depend on which other test drew from the device's
/// shared generator first.
pub fn normal<const D: usize>(
    rng: &mut ChaCha8Rng,
    shape: [usize; D],
    device: &Device,
) -> Tensor<D> {
    let n = shape.iter().product::<usize>();
    let values: Vec<f32> = (0..n)
        .map(|_| {
            let u: f64 = 1.0 - rng.random::<f64>();
            let v: f64 = rng.random();
            ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
        })
        .collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// The values of a tensor, as f32.
pub fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec().unwrap()
}

/// `max |a - b| / max(max |b|, 1e-6)`.
pub fn rel<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
    let scale = b.clone().abs().max().into_scalar::<f32>().max(1e-6);
    (a - b).abs().max().into_scalar::<f32>() / scale
}

/// Runs `f` on a pool of 1 thread, then of 2 and 3, and asserts that every
/// result equals the first, bit for bit.
pub fn same_at_any_thread_count<R: PartialEq + Send>(f: impl Fn() -> R + Sync) {
    let on = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool")
            .install(&f)
    };
    let one = on(1);
    for threads in [2, 3] {
        assert!(on(threads) == one, "{threads} threads differ from one");
    }
}
