//! Denoisers learn, guidance steers, training resumes exactly and fails
//! cleanly: on the 2-D eight-Gaussians distribution, in seconds.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Int, Tensor};
use gen_core::rng::with_seed;
use gen_core::{
    Batch, BatchSource, CheckpointStore, Error as CoreError, Progress, Sample, SeededRng,
    TrainStep, Trainer, TrainerConfig,
};
use gen_data::{Loader, TensorDataset, Toy2d};
use gen_diffusion::{
    Denoiser, Diffusion, DiffusionTrainer, DiffusionTrainingConfig, DpmSolver, LossWeighting,
    MlpDenoiser, MlpDenoiserConfig, NoiseSchedule, Prediction, SamplerKind, Spacing, Trajectory,
    UNetConfig, guided_output, sample, sample_trajectory,
};
use gen_eval::distance::mmd_rbf;

const BANDWIDTHS: [f64; 3] = [0.1, 0.5, 2.0];

fn mlp(seed: u64, classes: Option<usize>) -> MlpDenoiser {
    let dev = Device::flex();
    with_seed(seed, &dev, || {
        MlpDenoiserConfig::new(2)
            .with_hidden(64)
            .with_depth(2)
            .with_num_classes(classes)
            .init(&dev)
            .unwrap()
    })
}

fn quiet(steps: u64, every: u64, dir: &std::path::Path) -> Trainer {
    let config = TrainerConfig::new()
        .with_steps(steps)
        .with_checkpoint_every(every);
    Trainer::new(config, dir)
        .unwrap()
        .progress(Progress::Hidden)
}

fn toy_config() -> DiffusionTrainingConfig {
    DiffusionTrainingConfig::new()
        .with_lr(1e-2)
        .with_ema_decay(0.99)
}

fn eight_gaussians(n: usize, seed: u64) -> TensorDataset {
    Toy2d::EightGaussians.dataset(n, &mut SeededRng::new(seed))
}

/// Trains on 4,096 points for `steps` steps of 256.
fn train(
    model: MlpDenoiser,
    config: DiffusionTrainingConfig,
    steps: u64,
) -> DiffusionTrainer<MlpDenoiser> {
    let dev = Device::flex();
    let mut trainer = DiffusionTrainer::new(model, config, &dev).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut data = Loader::new(eight_gaussians(4096, 1), 256, 0).unwrap();
    quiet(steps, 0, dir.path())
        .fit(&mut trainer, &mut data, &mut SeededRng::new(0))
        .unwrap();
    trainer
}

fn dpm(schedule: &NoiseSchedule, steps: usize) -> DpmSolver {
    DpmSolver::new(
        schedule.clone(),
        steps,
        Spacing::Linspace,
        Prediction::Epsilon,
    )
    .unwrap()
}

/// MMD between 1,000 samples (DPM-Solver++, 20 steps) and 1,000 fresh
/// data points.
fn mmd_to_data(model: &MlpDenoiser, schedule: &NoiseSchedule) -> f64 {
    let dev = Device::flex();
    let x = sample(
        model,
        &mut dpm(schedule, 20),
        1000,
        None,
        1.0,
        &mut SeededRng::new(7),
        &dev,
    )
    .unwrap();
    let real = eight_gaussians(1000, 99).head(1000, &dev);
    mmd_rbf(x, real, &BANDWIDTHS).unwrap()
}

#[test]
fn mlp_denoiser_learns_eight_gaussians() {
    let model = mlp(1, None);
    let schedule = toy_config().noise_schedule().unwrap();
    let before = mmd_to_data(&model, &schedule);
    let start = std::time::Instant::now();
    let trainer = train(model, toy_config(), 1500);
    let seconds = start.elapsed().as_secs_f64();
    let after = mmd_to_data(&trainer.sampler(), &schedule);
    let raw = mmd_to_data(&trainer.model().valid(), &schedule);
    eprintln!(
        "8 Gaussians: MMD {before:.4} untrained -> {after:.4} (EMA), {raw:.4} (raw weights); \
         1,500 steps in {seconds:.1} s"
    );
    assert!(after < 0.03, "{after}");
    assert!(after < before / 10.0, "{before} -> {after}");
}

/// v-prediction with min-SNR weighting learns too (the weights of each
/// prediction type are handled in its own space).
#[test]
fn v_prediction_with_min_snr_learns() {
    let config = toy_config()
        .with_prediction(Prediction::V)
        .with_weighting(LossWeighting::MinSnr { gamma: 5.0 });
    let schedule = config.noise_schedule().unwrap();
    let trainer = train(mlp(2, None), config, 1500);
    let dev = Device::flex();
    let model = Diffusion::new(
        trainer.sampler(),
        schedule,
        Prediction::V,
        SamplerKind::Ddim { eta: 0.0 },
        50,
    )
    .unwrap();
    let x = model
        .sample(1000, None, &mut SeededRng::new(3), &dev)
        .unwrap();
    let real = eight_gaussians(1000, 99).head(1000, &dev);
    let mmd = mmd_rbf(x, real, &BANDWIDTHS).unwrap();
    eprintln!("8 Gaussians, v-prediction + min-SNR-5, DDIM 50: MMD {mmd:.4}");
    // Observed 0.01-0.03; the untrained model is at about 0.68.
    assert!(mmd < 0.06, "{mmd}");
}

/// The share of samples within 0.5 of the centre of their label's
/// Gaussian.
fn on_target(x: Tensor<2>, labels: &[usize]) -> f64 {
    let v: Vec<f32> = x.into_data().try_into_vec().unwrap();
    let hits = labels
        .iter()
        .enumerate()
        .filter(|&(i, &k)| {
            let a = k as f32 * std::f32::consts::PI / 4.0;
            let (dx, dy) = (v[2 * i] - 2.0 * a.cos(), v[2 * i + 1] - 2.0 * a.sin());
            (dx * dx + dy * dy).sqrt() < 0.5
        })
        .count();
    hits as f64 / labels.len() as f64
}

#[test]
fn classifier_free_guidance_steers_to_the_label() {
    let config = toy_config().with_p_uncond(0.2);
    let schedule = config.noise_schedule().unwrap();
    let trainer = train(mlp(3, Some(8)), config, 1500);
    let model = &trainer.sampler();
    let dev = Device::flex();

    // Scale 0 is the unconditional model, scale 1 the conditional one,
    // exactly; other scales combine the two.
    let x = SeededRng::new(1).normal([6, 2], &dev);
    let labels = Tensor::<1, Int>::from_ints([0, 1, 2, 3, 4, 5], &dev);
    let t = Tensor::<1>::full([6], 500.0, &dev);
    let uncond = model.forward(x.clone(), t.clone(), None);
    let cond = model.forward(x.clone(), t, Some(labels.clone()));
    let at = |s: f64| guided_output(model, x.clone(), 500.0, Some(&labels), s);
    assert_eq!(at(0.0).into_data(), uncond.clone().into_data());
    assert_eq!(at(1.0).into_data(), cond.clone().into_data());
    let want = uncond.clone() + (cond - uncond) * 3.0;
    let err = (at(3.0) - want).abs().max().into_scalar::<f64>();
    assert!(err < 1e-4, "{err}");

    let labels: Vec<usize> = (0..400).map(|i| i % 8).collect();
    let share = |s: f64| {
        let x = sample(
            model,
            &mut dpm(&schedule, 20),
            labels.len(),
            Some(&labels),
            s,
            &mut SeededRng::new(5),
            &dev,
        )
        .unwrap();
        on_target(x, &labels)
    };
    let (s0, s1, s3) = (share(0.0), share(1.0), share(3.0));
    eprintln!("samples at their label's Gaussian: scale 0 {s0:.3}, 1 {s1:.3}, 3 {s3:.3}");
    // Unguided: about 1/8 land on the asked-for Gaussian by chance.
    assert!(s0 < 0.3, "{s0}");
    assert!(s1 > 0.8, "{s1}");
    assert!(s3 >= s1 - 0.02, "{s1} -> {s3}");

    // Labels for an unconditional model, or out of range: typed errors.
    let plain = mlp(4, None);
    let err = sample(
        &plain,
        &mut dpm(&schedule, 5),
        2,
        Some(&[0, 1]),
        1.0,
        &mut SeededRng::new(0),
        &dev,
    )
    .unwrap_err();
    assert!(err.to_string().contains("unconditional"), "{err}");
    let err = sample(
        model,
        &mut dpm(&schedule, 5),
        2,
        Some(&[0, 8]),
        1.0,
        &mut SeededRng::new(0),
        &dev,
    )
    .unwrap_err();
    assert!(err.to_string().contains("not a class"), "{err}");
    let err = sample(
        model,
        &mut dpm(&schedule, 5),
        2,
        None,
        -1.0,
        &mut SeededRng::new(0),
        &dev,
    )
    .unwrap_err();
    assert!(err.to_string().contains("guidance"), "{err}");
}

/// The trajectory records every step, and its last x0 estimate is the
/// final sample for a deterministic sampler (DDIM's last step returns it).
#[test]
fn trajectory_records_every_step() {
    let dev = Device::flex();
    let schedule = toy_config().noise_schedule().unwrap();
    let model = mlp(5, None);
    let mut sampler = gen_diffusion::Ddim::new(
        schedule.clone(),
        8,
        Spacing::Trailing,
        0.0,
        Prediction::Epsilon,
    )
    .unwrap();
    let tr = Trajectory {
        schedule,
        prediction: Prediction::Epsilon,
        examples: 3,
    };
    let (x, snaps) = sample_trajectory(
        &model,
        &mut sampler,
        10,
        None,
        1.0,
        &mut SeededRng::new(0),
        &dev,
        &tr,
    )
    .unwrap();
    assert_eq!(snaps.len(), 8);
    assert!(snaps.windows(2).all(|w| w[0].t > w[1].t));
    assert_eq!(snaps[0].x_t.dims(), [3, 2]);
    let last = snaps.last().unwrap().x0.clone();
    let err = (last - x.narrow(0, 0, 3)).abs().max().into_scalar::<f64>();
    assert!(err < 1e-4, "{err}");
}

/// Every float parameter, flattened.
fn params<M: Module>(m: &M) -> Vec<f32> {
    struct Collect(Vec<f32>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            self.0
                .extend(p.val().into_data().try_into_vec::<f32>().unwrap());
        }
    }
    let mut c = Collect(Vec::new());
    m.visit(&mut c);
    c.0
}

/// 4 steps, a checkpoint, a restart from a differently initialised model
/// and another seed, 4 more: the weights and the EMA are bit-identical to
/// 8 straight steps (label dropout, timesteps and noise included).
#[test]
fn resume_is_exact() {
    let dev = Device::flex();
    let config = toy_config().with_p_uncond(0.3);
    let mut data = Loader::new(eight_gaussians(1024, 2), 64, 0).unwrap();
    let straight = tempfile::tempdir().unwrap();
    let mut a = DiffusionTrainer::new(mlp(6, Some(8)), config.clone(), &dev).unwrap();
    quiet(8, 0, straight.path())
        .fit(&mut a, &mut data, &mut SeededRng::new(0))
        .unwrap();

    let split = tempfile::tempdir().unwrap();
    let mut b = DiffusionTrainer::new(mlp(6, Some(8)), config.clone(), &dev).unwrap();
    quiet(4, 4, split.path())
        .fit(&mut b, &mut data, &mut SeededRng::new(0))
        .unwrap();
    let mut c = DiffusionTrainer::new(mlp(99, Some(8)), config, &dev).unwrap();
    quiet(8, 4, split.path())
        .resume(true)
        .fit(&mut c, &mut data, &mut SeededRng::new(123))
        .unwrap();
    assert_eq!(c.steps_done(), 8);
    assert_eq!(params(a.model()), params(c.model()));
    assert_eq!(params(&a.sampler()), params(&c.sampler()));
    assert_ne!(params(a.model()), params(&a.sampler()));
}

/// A NaN batch stops the run with a clear error and the last good
/// checkpoint stays loadable; batches that do not fit are typed errors.
#[test]
fn nan_stops_with_a_clear_error_and_keeps_the_checkpoint() {
    struct Poisoned(Loader<TensorDataset>);
    impl BatchSource for Poisoned {
        fn batches_per_epoch(&self) -> usize {
            self.0.batches_per_epoch()
        }
        fn batch(&mut self, index: u64, device: &Device) -> gen_core::Result<Batch> {
            let batch = self.0.batch(index, device)?;
            Ok(match index {
                5 => Batch::new(batch.data * f64::NAN),
                _ => batch,
            })
        }
    }
    let dev = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let mut data = Poisoned(Loader::new(eight_gaussians(1024, 3), 64, 0).unwrap());
    let mut t = DiffusionTrainer::new(mlp(7, None), toy_config(), &dev).unwrap();
    let err = quiet(10, 4, dir.path())
        .fit(&mut t, &mut data, &mut SeededRng::new(0))
        .unwrap_err();
    assert!(matches!(err, CoreError::NonFinite { step: 5, .. }), "{err}");
    assert!(
        err.to_string().contains("last good checkpoint is kept"),
        "{err}"
    );
    // The diverged step did not touch the weights.
    assert!(params(t.model()).iter().all(|v| v.is_finite()));
    let store = CheckpointStore::new(dir.path().join("checkpoints"), 2);
    let (step, path) = store.latest().unwrap().unwrap();
    assert_eq!(step, 4);
    let mut fresh = DiffusionTrainer::new(mlp(8, None), toy_config(), &dev).unwrap();
    CheckpointStore::load(&path, &mut fresh).unwrap();
    assert_eq!(fresh.steps_done(), 4);

    // The wrong width: a shape error.
    let x = Tensor::<2>::zeros([2, 3], &t.device());
    let err = t
        .step(vec![Batch::new(x)], &mut SeededRng::new(0))
        .unwrap_err();
    assert!(matches!(err, CoreError::Shape { .. }), "{err}");
    // A conditional model without labels, or with a label out of range.
    let mut cond = DiffusionTrainer::new(mlp(9, Some(8)), toy_config(), &dev).unwrap();
    let x = Tensor::<2>::zeros([2, 2], &cond.device());
    let err = cond
        .step(vec![Batch::new(x.clone())], &mut SeededRng::new(0))
        .unwrap_err();
    assert!(
        matches!(
            err,
            CoreError::Label(gen_core::labels::LabelError::Missing { classes: 8 })
        ),
        "{err}"
    );
    let bad = Batch::new(x).with_labels(Tensor::from_ints([0, 8], &cond.device()));
    let err = cond.step(vec![bad], &mut SeededRng::new(0)).unwrap_err();
    assert!(err.to_string().contains("not a class"), "{err}");
}

/// A tiny class-conditional UNet takes training steps on 28x28 data and
/// samples through `gen_core::Sample`.
#[test]
fn unet_trains_and_samples() {
    let dev = Device::flex();
    let net = with_seed(10, &dev, || {
        UNetConfig::new(28)
            .with_base_channels(8)
            .with_groups(4)
            .with_num_heads(2)
            .with_num_classes(Some(10))
            .init(&dev)
            .unwrap()
    });
    let mut t =
        DiffusionTrainer::new(net, DiffusionTrainingConfig::new().with_lr(1e-3), &dev).unwrap();
    let mut rng = SeededRng::new(0);
    let x = rng.uniform([4, 784], -1.0, 1.0, &t.device());
    let batch = Batch::new(x).with_labels(Tensor::from_ints([0, 1, 2, 3], &t.device()));
    let first = t.step(vec![batch.clone()], &mut rng).unwrap();
    for _ in 0..3 {
        t.step(vec![batch.clone()], &mut rng).unwrap();
    }
    assert!(first.get("loss").unwrap().is_finite());
    let model = Diffusion::new(
        t.sampler(),
        t.schedule().clone(),
        Prediction::Epsilon,
        SamplerKind::DpmSolver,
        3,
    )
    .unwrap()
    .with_guidance(2.0);
    assert_eq!(model.num_classes(), Some(10));
    let x = model
        .sample(2, Some(&[3, 7]), &mut SeededRng::new(1), &dev)
        .unwrap();
    assert_eq!(x.dims(), [2, 784]);
    assert!(x.abs().max().into_scalar::<f64>().is_finite());
    // gen_core::Sample's rule: `None` samples the whole distribution, here
    // through the null class; labels outside the classes are refused.
    let free = model.sample(2, None, &mut SeededRng::new(1), &dev).unwrap();
    assert_eq!(free.dims(), [2, 784]);
    assert!(
        model
            .sample(1, Some(&[10]), &mut SeededRng::new(1), &dev)
            .is_err()
    );
}
