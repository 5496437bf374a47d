//! The convolutions of the four reference models, one shape each of the
//! kinds they use, forward and forward + backward at batch 64: gen-kernels
//! (the default on flex) against burn's own operation on the same device,
//! and burn's operation on every other compiled CPU backend. A regression
//! of our kernels shows up as `gen-kernels` drifting towards `burn`.
//!
//! ```text
//! cargo bench --bench conv
//! ```

use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{Device, Distribution, Tensor, module};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use generative::core::Backend;
use generative::kernels;

const BATCH: usize = 64;

/// (name, transposed, cin, cout, input side, kernel, stride)
const SHAPES: [(&str, bool, usize, usize, usize, usize, usize); 5] = [
    ("dcgan_d_k4s2_64to128_14", false, 64, 128, 14, 4, 2),
    ("dcgan_g_convT_k4s2_128to64_7", true, 128, 64, 7, 4, 2),
    ("unet_k3_32to32_28", false, 32, 32, 28, 3, 1),
    ("unet_k3_128to64_14", false, 128, 64, 14, 3, 1),
    ("vae_convT_k4s2_32to1_14", true, 32, 1, 14, 4, 2),
];

type Op = Box<dyn Fn(Tensor<4>, Tensor<4>) -> Tensor<4> + Send + Sync>;

fn op(transposed: bool, stride: usize, ours: bool) -> Op {
    let pad = 1;
    if transposed {
        let o = ConvTransposeOptions::new([stride; 2], [pad; 2], [0; 2], [1; 2], 1);
        if ours {
            Box::new(move |x, w| kernels::conv_transpose2d(x, w, None, o.clone()))
        } else {
            Box::new(move |x, w| module::conv_transpose2d(x, w, None, o.clone()))
        }
    } else {
        let o = ConvOptions::new([stride; 2], [pad; 2], [1; 2], 1);
        if ours {
            Box::new(move |x, w| kernels::conv2d(x, w, None, o.clone()))
        } else {
            Box::new(move |x, w| module::conv2d(x, w, None, o.clone()))
        }
    }
}

fn bench(c: &mut Criterion) {
    let pool = rayon::ThreadPoolBuilder::new()
        .build()
        .expect("a rayon pool");
    for backend in [Backend::Flex, Backend::NdArray] {
        let Ok(device) = backend.device() else {
            continue;
        };
        let impls: &[(&str, bool)] = if kernels::fast_path(&device) {
            &[("gen-kernels", true), ("burn", false)]
        } else {
            &[("burn", false)]
        };
        for &(name, transposed, cin, cout, side, k, stride) in &SHAPES {
            let mut group = c.benchmark_group(format!("conv/{backend}/{name}"));
            group.sample_size(10);
            group.throughput(Throughput::Elements(BATCH as u64));
            let ad: Device = device.clone().autodiff();
            let normal = Distribution::Normal(0.0, 1.0);
            let w_shape = if transposed {
                [cin, cout, k, k]
            } else {
                [cout, cin, k, k]
            };
            let (x, w) = (
                Tensor::<4>::random([BATCH, cin, side, side], normal, &device),
                Tensor::<4>::random(w_shape, normal, &device),
            );
            let (xa, wa) = (
                Tensor::<4>::random([BATCH, cin, side, side], normal, &ad).require_grad(),
                Tensor::<4>::random(w_shape, normal, &ad).require_grad(),
            );
            for &(label, ours) in impls {
                let f = op(transposed, stride, ours);
                group.bench_function(format!("{label}/fwd"), |b| {
                    b.iter(|| pool.install(|| f(x.clone(), w.clone()).into_data()))
                });
                group.bench_function(format!("{label}/fwd_bwd"), |b| {
                    b.iter(|| pool.install(|| drop(f(xa.clone(), wa.clone()).sum().backward())))
                });
            }
            group.finish();
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
