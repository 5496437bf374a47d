//! Same seed, same samples (flex); another seed, other samples.

mod common;

use burn::tensor::Device;
use generative::core::{Sample, SeededRng};
use generative::data::Toy2d;
use generative::gan::GanTrainingConfig;

fn run(seed: u64) -> Vec<f32> {
    let dev = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let mut gan = common::toy_gan(seed, &dev, GanTrainingConfig::new());
    let mut loader = common::toy_loader(Toy2d::TwoMoons, 512, 64, seed);
    common::trainer(20, 0, dir.path())
        .fit(&mut gan, &mut loader, &mut SeededRng::new(seed))
        .unwrap();
    let x = gan
        .generator()
        .sample(32, None, &mut SeededRng::new(seed), &dev)
        .unwrap();
    x.into_data().try_into_vec::<f32>().unwrap()
}

#[test]
fn same_seed_same_samples() {
    let a = run(3);
    assert_eq!(a, run(3));
    assert_ne!(a, run(4));
}
