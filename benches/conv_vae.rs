//! The convolutional VAE: one training step (one Adam update on the
//! negative ELBO) and one sampling call (decode 64 draws from the prior),
//! at batch 64 on MNIST-shaped data (28x28 in `[0, 1]`), on every compiled
//! backend (wgpu with `--features wgpu`).
//!
//! The model is gen-vae's default [`ConvVaeConfig`], which is exactly the
//! conv VAE of `bench_vae.py` (widths 32, 64; latent 16; Bernoulli
//! decoder); Adam(1e-3).
//!
//! ```text
//! cargo bench --bench conv_vae
//! ```

use burn::tensor::Device;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use generative::core::{Backend, Batch, Sample, SeededRng, TrainStep};
use generative::vae::{ConvVaeConfig, VaeTrainer, VaeTrainingConfig};

const BATCH: usize = 64;

fn bench(c: &mut Criterion) {
    for backend in Backend::compiled() {
        if backend == Backend::Cuda {
            continue;
        }
        let device: Device = backend.device().expect("compiled in");
        // Each iteration runs on a thread of this pool (RAYON_NUM_THREADS
        // threads, default one per CPU), so burn's parallel operations
        // start on the calling thread instead of waking a pool thread each
        // time (see docs/benchmarks.md).
        let pool = rayon::ThreadPoolBuilder::new()
            .build()
            .expect("a rayon pool");
        let model = ConvVaeConfig::new().init(&device).unwrap();
        let mut vae = VaeTrainer::new(model, VaeTrainingConfig::new(), &device).unwrap();
        let mut rng = SeededRng::new(0);
        let x = rng.uniform([BATCH, 784], 0.0, 1.0, &vae.device());

        let mut group = c.benchmark_group(format!("conv_vae/{backend}"));
        group.sample_size(20);
        group.throughput(Throughput::Elements(BATCH as u64));
        group.bench_function("train_step_b64", |b| {
            b.iter(|| pool.install(|| vae.step(vec![Batch::new(x.clone())], &mut rng).unwrap()))
        });
        group.bench_function("sample_b64", |b| {
            b.iter(|| {
                pool.install(|| {
                    vae.model()
                        .sample(BATCH, None, &mut rng, &device)
                        .unwrap()
                        .into_data()
                })
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
