//! What the kernel tests share: host values, relative differences, and a
//! computation run on pools of 1, 2 and 3 threads.

#![allow(dead_code)] // each test file uses a part

use burn::tensor::Tensor;

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
