//! A new family costs its model and its loss: a toy one written here on
//! the shared layer only (`Optimized`, `Trainer`, checkpoints, the guard),
//! as a user's crate would. The model is a diagonal Gaussian fitted to
//! data by maximum likelihood; its trainer is its negative log-likelihood
//! and nothing else.

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};
use gen_core::optim::{Diverged, Guarded, OptimConfig, Optimized};
use gen_core::{
    Batch, BatchSource, CheckpointStore, Error, Metrics, Progress, Result, SeededRng, StateReader,
    StateWriter, Stateful, TrainStep, Trainer, TrainerConfig,
};

/// The model: a mean and a log standard deviation per feature.
#[derive(Module, Debug)]
struct Gaussian {
    mean: Param<Tensor<1>>,
    log_std: Param<Tensor<1>>,
}

impl Gaussian {
    fn new(features: usize, device: &Device) -> Self {
        Self {
            mean: Param::from_tensor(Tensor::zeros([features], device)),
            log_std: Param::from_tensor(Tensor::zeros([features], device)),
        }
    }

    /// Negative log-likelihood per example, in nats (without the constant).
    fn nll(&self, x: Tensor<2>) -> Tensor<1> {
        let [n, f] = x.dims();
        let mean = self.mean.val().reshape([1, f]);
        let log_std = self.log_std.val().reshape([1, f]);
        let z = (x - mean) / log_std.clone().exp();
        (z.powi_scalar(2) * 0.5 + log_std).sum() / n as f64
    }
}

/// The family's trainer: its loss over `Optimized`.
struct GaussianTrainer(Optimized<Gaussian>);

impl TrainStep for GaussianTrainer {
    fn device(&self) -> Device {
        self.0.device().clone()
    }

    fn step(&mut self, batches: Vec<Batch>, _rng: &mut SeededRng) -> Result<Metrics> {
        let batch = Batch::single(batches, "a Gaussian step")?;
        let loss = self.0.module().nll(batch.data);
        let metrics = Metrics::new().with_tensor("nll", loss.clone());
        self.0.update(loss);
        Ok(metrics)
    }

    fn settle(&mut self) -> std::result::Result<(), Diverged> {
        self.0.settle()
    }
}

impl Stateful for GaussianTrainer {
    fn save_state(&self, out: &mut StateWriter) -> Result<()> {
        self.0.save(out)
    }

    fn load_state(&mut self, input: &StateReader) -> Result<()> {
        self.0 = self.0.loaded(input)?;
        Ok(())
    }
}

/// Data from N((3, -1), diag(0.5^2, 2^2)); from batch `poison_from` on, NaN.
struct Data {
    poison_from: u64,
}

impl BatchSource for Data {
    fn batches_per_epoch(&self) -> usize {
        10
    }

    fn batch(&mut self, index: u64, device: &Device) -> Result<Batch> {
        let mut rng = SeededRng::derived(7, index);
        let z = rng.normal([64, 2], device);
        let scale = Tensor::<1>::from_floats([0.5, 2.0], device).reshape([1, 2]);
        let shift = Tensor::<1>::from_floats([3.0, -1.0], device).reshape([1, 2]);
        let x = z * scale + shift;
        Ok(Batch::new(if index >= self.poison_from {
            x * f64::NAN
        } else {
            x
        }))
    }
}

fn trainer(dev: &Device) -> GaussianTrainer {
    let config = OptimConfig::new().with_lr(0.05).with_ema_decay(0.9);
    GaussianTrainer(Optimized::new(Gaussian::new(2, dev), config, dev).unwrap())
}

fn fit(
    steps: u64,
    every: u64,
    dir: &std::path::Path,
    t: &mut GaussianTrainer,
    data: &mut Data,
) -> Result<gen_core::TrainOutcome> {
    Trainer::new(
        TrainerConfig::new()
            .with_steps(steps)
            .with_checkpoint_every(every)
            .with_log_every(7),
        dir,
    )?
    .progress(Progress::Hidden)
    .resume(true)
    .fit(t, data, &mut SeededRng::new(0))
}

fn values(t: &GaussianTrainer) -> Vec<f32> {
    let m = t.0.module();
    let mut v: Vec<f32> = m.mean.val().into_data().try_into_vec().unwrap();
    v.extend(m.log_std.val().into_data().try_into_vec::<f32>().unwrap());
    v
}

#[test]
fn a_toy_family_learns_resumes_and_is_guarded_by_the_shared_layer() {
    let dev = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let mut data = Data {
        poison_from: u64::MAX,
    };

    // It learns: the fit approaches the data's mean and spread.
    let mut straight = trainer(&dev);
    let out = fit(400, 0, dir.path(), &mut straight, &mut data).unwrap();
    let v = values(&straight);
    let (mean, std) = ((v[0], v[1]), (v[2].exp(), v[3].exp()));
    assert!(
        (mean.0 - 3.0).abs() < 0.2 && (mean.1 + 1.0).abs() < 0.3,
        "{mean:?}"
    );
    assert!(
        (std.0 - 0.5).abs() < 0.1 && (std.1 - 2.0).abs() < 0.3,
        "{std:?}"
    );
    let nll = out.last_metrics.unwrap().get("nll").unwrap();
    assert!(nll < 1.2, "{nll}");
    assert!(straight.0.ema().is_some());

    // It resumes exactly: 200 steps, a checkpoint, a fresh model, 200 more.
    let split = tempfile::tempdir().unwrap();
    fit(200, 0, split.path(), &mut trainer(&dev), &mut data).unwrap();
    let mut resumed = trainer(&dev);
    fit(400, 0, split.path(), &mut resumed, &mut data).unwrap();
    assert_eq!(values(&resumed), values(&straight));
    assert_eq!(resumed.0.updates(), 400);

    // A NaN batch at step 30 changes nothing and stops the run; the newest
    // checkpoint is the step before and loads.
    let poisoned = tempfile::tempdir().unwrap();
    let mut t = trainer(&dev);
    let err = fit(
        60,
        10,
        poisoned.path(),
        &mut t,
        &mut Data { poison_from: 30 },
    )
    .unwrap_err();
    assert!(matches!(err, Error::NonFinite { step: 30, .. }), "{err}");
    assert_eq!(t.0.updates(), 30);
    let mut clean = trainer(&dev);
    let other = tempfile::tempdir().unwrap();
    fit(30, 0, other.path(), &mut clean, &mut data).unwrap();
    assert_eq!(values(&t), values(&clean));
    let (step, ckpt) = CheckpointStore::new(poisoned.path().join("checkpoints"), 2)
        .latest()
        .unwrap()
        .unwrap();
    assert_eq!(step, 30);
    let mut loaded = trainer(&dev);
    CheckpointStore::load(&ckpt, &mut loaded).unwrap();
    assert_eq!(values(&loaded), values(&clean));
}
