//! DCGAN for 28x28: one training step (a D and a G update) and one
//! sampling call (64 images), at batch 64 on MNIST-shaped data, on every
//! compiled backend (wgpu with `--features wgpu`).
//!
//! The model is gen-gan's default [`DcganConfig`], which is exactly the
//! DCGAN of `bench_dcgan.py` (G 100 -> 128x7x7 -> 64x14x14 -> 1x28x28 with
//! BatchNorm; D 1 -> 64x14x14 -> 128x7x7 -> 1); Adam(2e-4, betas 0.5/0.999).
//!
//! ```text
//! cargo bench --bench dcgan
//! ```

use burn::tensor::Device;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use generative::core::{Backend, Batch, Sample, SeededRng, TrainStep};
use generative::gan::{DcganConfig, GanTrainer, GanTrainingConfig};

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
        let cfg = DcganConfig::new();
        let g = cfg.init_generator(&device).unwrap();
        let d = cfg.init_discriminator(&device).unwrap();
        let mut gan = GanTrainer::new(g, d, GanTrainingConfig::new(), &device).unwrap();
        let mut rng = SeededRng::new(0);
        let real = rng.uniform([BATCH, cfg.features()], -1.0, 1.0, &gan.device());

        let mut group = c.benchmark_group(format!("dcgan/{backend}"));
        group.sample_size(10);
        group.throughput(Throughput::Elements(BATCH as u64));
        group.bench_function("train_step_b64", |b| {
            b.iter(|| pool.install(|| gan.step(vec![Batch::new(real.clone())], &mut rng).unwrap()))
        });
        group.bench_function("sample_b64", |b| {
            b.iter(|| {
                pool.install(|| {
                    gan.generator()
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
