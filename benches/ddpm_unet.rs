//! The DDPM UNet for 28x28: one training step (epsilon-prediction MSE, one
//! Adam update with gradient clipping and the EMA update, as
//! [`DiffusionTrainer`] does) and sampling (one UNet evaluation, and a
//! 10-step DDIM run), at batch 64 on MNIST-shaped data, on every compiled
//! backend (wgpu with `--features wgpu`).
//!
//! The model is the project's MNIST preset [`UNetConfig::for_size`]`(28, 1)`
//! (base 32, levels `[1, 2, 2]`, attention at 7x7, 4 heads), which is
//! larger than `bench_ddpm.py`'s UNet (that one is
//! `UNetConfig::compact(28, 1)`, which the side-by-side runner,
//! `examples/bench_side_by_side.rs`, times; see `docs/benchmarks.md`).
//!
//! ```text
//! cargo bench --bench ddpm_unet
//! ```

use std::time::Duration;

use burn::tensor::{Device, Tensor};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use generative::core::{Backend, Batch, Sample, SeededRng, TrainStep};
use generative::diffusion::{
    Denoiser, Diffusion, DiffusionTrainer, DiffusionTrainingConfig, Prediction, SamplerKind,
    UNetConfig,
};

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
        let net = UNetConfig::for_size(28, 1).init(&device).unwrap();
        let mut trainer =
            DiffusionTrainer::new(net, DiffusionTrainingConfig::new(), &device).unwrap();
        let mut rng = SeededRng::new(0);
        let x0 = rng.uniform([BATCH, 784], -1.0, 1.0, &trainer.device());

        let mut group = c.benchmark_group(format!("ddpm_unet/{backend}"));
        group.sample_size(10);
        group.measurement_time(Duration::from_secs(30));
        group.throughput(Throughput::Elements(BATCH as u64));
        group.bench_function("train_step_b64", |b| {
            b.iter(|| {
                pool.install(|| {
                    trainer
                        .step(vec![Batch::new(x0.clone())], &mut rng)
                        .unwrap()
                })
            })
        });
        let ema = trainer.sampler();
        let x = rng.normal([BATCH, 784], &device);
        let t = Tensor::<1>::full([BATCH], 500.0, &device);
        group.bench_function("unet_eval_b64", |b| {
            b.iter(|| pool.install(|| ema.forward(x.clone(), t.clone(), None).into_data()))
        });
        let diffusion = Diffusion::new(
            ema.clone(),
            trainer.schedule().clone(),
            Prediction::Epsilon,
            SamplerKind::Ddim { eta: 0.0 },
            10,
        )
        .unwrap();
        group.bench_function("sample_ddim10_b64", |b| {
            b.iter(|| {
                pool.install(|| {
                    diffusion
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
