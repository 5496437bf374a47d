//! The VAE family learns, resumes exactly, and fails cleanly: on the
//! embedded 8x8 digits (1,797 images), in seconds.

use burn::tensor::{Device, Tensor};
use gen_core::rng::with_seed;
use gen_core::{
    Batch, BatchSource, CheckpointStore, Error as CoreError, Progress, SeededRng, TrainStep,
    Trainer, TrainerConfig, ValueRange,
};
use gen_data::{Digits, Loader, TensorDataset};
use gen_vae::{
    ConvVaeConfig, MlpVae, MlpVaeConfig, Objective, Vae, VaeTrainer, VaeTrainingConfig, evaluate,
};

/// The digits as grey-level probabilities in [0, 1], with labels.
fn digits01() -> TensorDataset {
    Digits::embedded()
        .unwrap()
        .to_dataset_in(ValueRange::ZeroToOne)
}

fn small_mlp(seed: u64, classes: Option<usize>) -> MlpVae {
    let dev = Device::flex();
    with_seed(seed, &dev, || {
        MlpVaeConfig::new(64)
            .with_latent_dim(8)
            .with_hidden(vec![128])
            .with_num_classes(classes)
            .with_example_shape(Some([1, 8, 8]))
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

/// Negative ELBO on all the digits, in nats per image.
fn neg_elbo<M: Vae>(model: &M) -> f64 {
    let mut all = Loader::new(digits01(), 599, 0).unwrap().sequential();
    evaluate(model, &mut all, &Device::flex(), 0, &mut SeededRng::new(9))
        .unwrap()
        .neg_elbo
}

#[test]
fn mlp_vae_elbo_improves_within_seconds() {
    let dev = Device::flex();
    let model = small_mlp(1, None);
    let before = neg_elbo(&model);
    let mut trainer = VaeTrainer::new(model, VaeTrainingConfig::new(), &dev).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut data = Loader::new(digits01(), 64, 0).unwrap();
    quiet(600, 0, dir.path())
        .fit(&mut trainer, &mut data, &mut SeededRng::new(0))
        .unwrap();
    let after = neg_elbo(trainer.model());
    eprintln!("MLP VAE, digits: -ELBO {before:.2} -> {after:.2} nats per image");
    // 64 grey values: the untrained model pays ~log 2 per value (44 nats).
    assert!(before > 40.0, "{before}");
    assert!(after < 0.8 * before, "{before} -> {after}");
}

#[test]
fn conv_vae_and_iwae_objective_learn() {
    let dev = Device::flex();
    let conv = with_seed(2, &dev, || {
        ConvVaeConfig::new()
            .with_image_size(8)
            .with_widths(vec![16, 32])
            .with_latent_dim(8)
            .init(&dev)
            .unwrap()
    });
    let before = neg_elbo(&conv);
    let mut trainer = VaeTrainer::new(conv, VaeTrainingConfig::new(), &dev).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut data = Loader::new(digits01(), 64, 0).unwrap();
    quiet(300, 0, dir.path())
        .fit(&mut trainer, &mut data, &mut SeededRng::new(0))
        .unwrap();
    let after = neg_elbo(trainer.model());
    eprintln!("conv VAE, digits: -ELBO {before:.2} -> {after:.2}");
    assert!(after < 0.85 * before, "{before} -> {after}");

    let config = VaeTrainingConfig::new().with_objective(Objective::Iwae { samples: 5 });
    let model = small_mlp(3, None);
    let before = neg_elbo(&model);
    let mut trainer = VaeTrainer::new(model, config, &dev).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = quiet(300, 0, dir.path())
        .fit(&mut trainer, &mut data, &mut SeededRng::new(0))
        .unwrap();
    let after = neg_elbo(trainer.model());
    eprintln!("IWAE (k = 5), digits: -ELBO {before:.2} -> {after:.2}");
    assert!(out.last_metrics.unwrap().get("neg_iwae").is_some());
    assert!(after < 0.85 * before, "{before} -> {after}");
}

/// beta = 1 is the plain VAE: the loss is the negative ELBO; another beta
/// weights the KL term and nothing else.
#[test]
fn beta_weights_only_the_kl_term() {
    let dev = Device::flex();
    let data = digits01();
    let x = data.head(32, &dev.clone().autodiff());
    for beta in [1.0, 4.0, 0.25] {
        let config = VaeTrainingConfig::new().with_beta(beta);
        let mut t = VaeTrainer::new(small_mlp(4, None), config, &dev).unwrap();
        let m = t
            .step(vec![Batch::new(x.clone())], &mut SeededRng::new(5))
            .unwrap();
        let (loss, recon, kl) = (
            m.get("loss").unwrap(),
            m.get("recon").unwrap(),
            m.get("kl").unwrap(),
        );
        assert!(
            (loss - (recon + beta * kl)).abs() < 1e-3 * loss.abs(),
            "{m:?}"
        );
        if beta == 1.0 {
            assert!(
                (loss - m.get("neg_elbo").unwrap()).abs() < 1e-3 * loss,
                "{m:?}"
            );
        }
    }
}

/// The conditional VAE needs labels, and decoding with a label changes the
/// picture: the label really enters the decoder.
#[test]
fn conditional_vae_trains_on_labels_and_uses_them() {
    let dev = Device::flex();
    let mut t = VaeTrainer::new(small_mlp(5, Some(10)), VaeTrainingConfig::new(), &dev).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut data = Loader::new(digits01(), 64, 0).unwrap();
    quiet(200, 0, dir.path())
        .fit(&mut t, &mut data, &mut SeededRng::new(0))
        .unwrap();
    let unlabelled = Batch::new(digits01().head(4, &t.device()));
    let err = t
        .step(vec![unlabelled], &mut SeededRng::new(0))
        .unwrap_err();
    assert!(
        matches!(
            err,
            CoreError::Label(gen_core::labels::LabelError::Missing { classes: 10 })
        ),
        "{err}"
    );
    use gen_core::Sample;
    let zeros = t
        .model()
        .sample(8, Some(&[0; 8]), &mut SeededRng::new(1), &dev)
        .unwrap();
    let ones = t
        .model()
        .sample(8, Some(&[1; 8]), &mut SeededRng::new(1), &dev)
        .unwrap();
    let diff = (zeros - ones).abs().mean().into_scalar::<f64>();
    assert!(diff > 0.05, "labels change the samples by {diff}");
}

/// 4 steps, a checkpoint, a fresh process-like restart from a differently
/// initialised model, 4 more: bit-identical to 8 straight steps (the KL
/// warm-up counter included).
#[test]
fn resume_is_exact() {
    let dev = Device::flex();
    let config = VaeTrainingConfig::new().with_kl_warmup_steps(6);
    let mut data = Loader::new(digits01(), 64, 0).unwrap();
    let straight = tempfile::tempdir().unwrap();
    let mut a = VaeTrainer::new(small_mlp(6, None), config.clone(), &dev).unwrap();
    quiet(8, 0, straight.path())
        .fit(&mut a, &mut data, &mut SeededRng::new(0))
        .unwrap();

    let split = tempfile::tempdir().unwrap();
    let mut b = VaeTrainer::new(small_mlp(6, None), config.clone(), &dev).unwrap();
    quiet(4, 4, split.path())
        .fit(&mut b, &mut data, &mut SeededRng::new(0))
        .unwrap();
    let mut c = VaeTrainer::new(small_mlp(99, None), config, &dev).unwrap();
    quiet(8, 4, split.path())
        .resume(true)
        .fit(&mut c, &mut data, &mut SeededRng::new(123))
        .unwrap();
    assert_eq!(c.steps_done(), 8);
    let probe = digits01().head(16, &dev);
    let out = |t: &VaeTrainer<MlpVae>| {
        let m = burn::module::Module::valid(t.model());
        m.encode(probe.clone(), None).mean.into_data()
    };
    assert_eq!(out(&a), out(&c));
}

/// A batch the decoder cannot score stops the run with a clear error, and
/// the last good checkpoint stays loadable.
#[test]
fn bad_data_stops_with_a_clear_error_and_keeps_the_checkpoint() {
    struct Poisoned(Loader);
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
    let mut data = Poisoned(Loader::new(digits01(), 64, 0).unwrap());
    let mut t = VaeTrainer::new(small_mlp(7, None), VaeTrainingConfig::new(), &dev).unwrap();
    let err = quiet(10, 4, dir.path())
        .fit(&mut t, &mut data, &mut SeededRng::new(0))
        .unwrap_err();
    assert!(err.to_string().contains("non-finite"), "{err}");
    let store = CheckpointStore::new(dir.path().join("checkpoints"), 2);
    let (step, path) = store.latest().unwrap().unwrap();
    assert_eq!(step, 4);
    let mut fresh = VaeTrainer::new(small_mlp(8, None), VaeTrainingConfig::new(), &dev).unwrap();
    CheckpointStore::load(&path, &mut fresh).unwrap();
    assert_eq!(fresh.steps_done(), 4);

    // Data in [-1, 1] for a Bernoulli decoder: named, with the fix.
    let x = Tensor::<2>::ones([2, 64], &t.device()) * -1.0;
    let err = t
        .step(vec![Batch::new(x)], &mut SeededRng::new(0))
        .unwrap_err();
    // The hint names a call that applies to the data at hand.
    assert!(err.to_string().contains("[0, 1]"), "{err}");
    assert!(
        err.to_string()
            .contains("Digits::to_dataset_in(ValueRange::ZeroToOne)"),
        "{err}"
    );
    // The wrong width: a shape error.
    let x = Tensor::<2>::zeros([2, 63], &t.device());
    let err = t
        .step(vec![Batch::new(x)], &mut SeededRng::new(0))
        .unwrap_err();
    assert!(matches!(err, CoreError::Shape { .. }), "{err}");
}

/// A diverging run (an absurd learning rate) stops at the first non-finite
/// loss with [`CoreError::NonFinite`]; the checkpoint before it is kept.
#[test]
fn divergence_stops_at_the_first_nan_and_keeps_the_last_checkpoint() {
    let dev = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let mut data = Loader::new(digits01(), 64, 0).unwrap();
    let config =
        VaeTrainingConfig::new().with_optimizer(gen_core::optim::OptimConfig::new().with_lr(1e30));
    let mut t = VaeTrainer::new(small_mlp(9, None), config, &dev).unwrap();
    let err = quiet(20, 1, dir.path())
        .fit(&mut t, &mut data, &mut SeededRng::new(0))
        .unwrap_err();
    let CoreError::NonFinite { step, .. } = err else {
        panic!("expected NonFinite, got {err}");
    };
    assert!(checkpoint_is_step_and_loads(step, dir.path()));
}

/// The newest checkpoint is the step before the divergence and loads.
fn checkpoint_is_step_and_loads(step: u64, dir: &std::path::Path) -> bool {
    let store = CheckpointStore::new(dir.join("checkpoints"), 2);
    let (saved, path) = store.latest().unwrap().unwrap();
    let dev = Device::flex();
    let mut fresh = VaeTrainer::new(small_mlp(8, None), VaeTrainingConfig::new(), &dev).unwrap();
    CheckpointStore::load(&path, &mut fresh).unwrap();
    saved == step && fresh.steps_done() == step
}
