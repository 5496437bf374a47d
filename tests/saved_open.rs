//! `generative::saved::open` rebuilds a trained model of every image family
//! from its checkpoint alone (the model card), with the moving average of
//! its weights when the run kept one and it is asked for, and samples it.

use std::path::Path;

use burn::tensor::{Device, Tensor};
use generative::core::optim::{EmaConfig, OptimConfig};
use generative::core::{Progress, SeededRng, TrainStep, Trainer, TrainerConfig, ValueRange};
use generative::data::{Digits, Loader};
use generative::diffusion::{DiffusionTrainer, DiffusionTrainingConfig, MlpDenoiserConfig};
use generative::gan::{GanTrainer, GanTrainingConfig, MlpGanConfig};
use generative::saved::{SampleOptions, SavedModel, open};
use generative::vae::{MlpVaeConfig, VaeTrainer, VaeTrainingConfig};

fn ema() -> OptimConfig {
    OptimConfig::new().with_ema(Some(EmaConfig::new(0.9)))
}

/// Six steps of batch 32 on the embedded digits in `range`, into `dir`.
fn fit(model: &mut impl TrainStep, range: ValueRange, dir: &Path) {
    let data = Digits::embedded().unwrap().to_dataset_in(range);
    let mut loader = Loader::new(data, 32, 0).unwrap();
    Trainer::new(TrainerConfig::new().with_steps(6), dir)
        .unwrap()
        .progress(Progress::Hidden)
        .fit(model, &mut loader, &mut SeededRng::new(0))
        .unwrap();
}

/// Opens `dir` with and without the average: both sample `[4, 64]`
/// finite images, and they differ (the average is not the weights).
fn check(dir: &Path, dev: &Device, family: &str) {
    let draw = |ema: bool| -> Vec<f32> {
        let saved = open(dir, ema, dev).unwrap();
        assert_eq!(saved.ema, ema, "{family}: ema flag");
        assert_eq!(saved.step, 6, "{family}");
        assert_eq!(saved.card.family, family);
        let sampler = saved.sampler(&SampleOptions::default()).unwrap();
        assert_eq!(
            sampler.example_shape().iter().product::<usize>(),
            64,
            "{family}"
        );
        let x: Tensor<2> = sampler
            .sample(4, None, &mut SeededRng::new(3), dev)
            .unwrap();
        assert_eq!(x.dims(), [4, 64], "{family}");
        let v = x.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
        assert!(v.iter().all(|x| x.is_finite()), "{family}");
        v
    };
    let (averaged, plain) = (draw(true), draw(false));
    assert_ne!(averaged, plain, "{family}: the average was not used");
}

#[test]
fn every_image_family_reopens_with_or_without_its_average() {
    let dev = Device::flex();
    let tmp = tempfile::tempdir().unwrap();

    let vae = MlpVaeConfig::new(64)
        .with_latent_dim(4)
        .with_hidden(vec![32])
        .with_example_shape(Some([1, 8, 8]))
        .init(&dev)
        .unwrap();
    let mut config = VaeTrainingConfig::new();
    config.optimizer = ema();
    let mut vae = VaeTrainer::new(vae, config, &dev).unwrap();
    fit(&mut vae, ValueRange::ZeroToOne, &tmp.path().join("vae"));
    check(&tmp.path().join("vae"), &dev, generative::vae::FAMILY);

    let gan = MlpGanConfig::new(64)
        .with_latent_dim(8)
        .with_generator_hidden(vec![32])
        .with_discriminator_hidden(vec![32]);
    let mut config = GanTrainingConfig::new();
    config.generator = ema();
    let (g, d) = (
        gan.init_generator(&dev).unwrap(),
        gan.init_discriminator(&dev).unwrap(),
    );
    let mut gan = GanTrainer::new(g, d, config, &dev).unwrap();
    fit(&mut gan, ValueRange::MinusOneToOne, &tmp.path().join("gan"));
    check(&tmp.path().join("gan"), &dev, generative::gan::FAMILY);
    let saved = open(&tmp.path().join("gan"), true, &dev).unwrap();
    assert!(matches!(saved.model, SavedModel::Gan(_)));
    assert!(saved.discriminator(&dev).is_ok());

    let denoiser = MlpDenoiserConfig::new(64)
        .with_hidden(32)
        .init(&dev)
        .unwrap();
    let mut config = DiffusionTrainingConfig::new().with_train_steps(50);
    config.optimizer = ema();
    let mut diffusion = DiffusionTrainer::new(denoiser, config, &dev).unwrap();
    fit(
        &mut diffusion,
        ValueRange::MinusOneToOne,
        &tmp.path().join("diffusion"),
    );
    check(
        &tmp.path().join("diffusion"),
        &dev,
        generative::diffusion::FAMILY,
    );
}
