//! The MLP GAN: one training step (a D and a G update) and one sampling
//! call, at batch 64 on MNIST-shaped data (784 values), on every compiled
//! CPU backend (and wgpu with `--features wgpu`).
//!
//! The architecture is the reference one of `bench_mlp_gan.py`:
//! G 64 -> 256 -> 512 -> 784, D 784 -> 512 -> 256 -> 1, LeakyReLU(0.2),
//! Adam(2e-4, betas (0.5, 0.999)).
//!
//! ```text
//! cargo bench --bench mlp_gan
//! ```

use burn::tensor::Device;
use criterion::{Criterion, criterion_group, criterion_main};
use generative::core::{Backend, Batch, Sample, SeededRng, TrainStep};
use generative::gan::{GanTrainer, GanTrainingConfig, MlpGanConfig};

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
        let cfg = MlpGanConfig::new(784);
        let g = cfg.init_generator(&device).unwrap();
        let d = cfg.init_discriminator(&device).unwrap();
        let mut gan = GanTrainer::new(g, d, GanTrainingConfig::new(), &device).unwrap();
        let mut rng = SeededRng::new(0);
        let real = rng.uniform([BATCH, 784], -1.0, 1.0, &gan.device());

        let mut group = c.benchmark_group(format!("mlp_gan/{backend}"));
        group.sample_size(20);
        group.bench_function("train_step_b64", |b| {
            b.iter(|| pool.install(|| gan.step(vec![Batch::new(real.clone())], &mut rng).unwrap()))
        });
        group.bench_function("sample_b64", |b| {
            b.iter(|| {
                pool.install(|| {
                    let x = gan
                        .generator()
                        .sample(BATCH, None, &mut rng, &device)
                        .unwrap();
                    x.into_data()
                })
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
