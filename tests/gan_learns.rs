//! The MLP GAN learns: on the 8-Gaussians ring, the MMD between generated
//! and real points falls well below its value at initialisation.

mod common;

use burn::tensor::Device;
use generative::core::{Sample, SeededRng, distance::mmd_rbf};
use generative::data::Toy2d;
use generative::gan::GanTrainingConfig;

#[test]
fn mlp_gan_learns_the_eight_gaussians() {
    let dev = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let training = GanTrainingConfig::new()
        .with_lr_generator(1e-3)
        .with_lr_discriminator(1e-3);
    let mut gan = common::toy_gan(0, &dev, training);
    let mut loader = common::toy_loader(Toy2d::EightGaussians, 2048, 128, 0);
    let real = Toy2d::EightGaussians
        .dataset(512, &mut SeededRng::new(99))
        .head(512, &dev);
    let bandwidths = [0.2, 0.5, 1.0, 2.0];
    let mmd = |gan: &common::Gan| {
        let fake = gan
            .generator()
            .sample(512, None, &mut SeededRng::new(7), &dev)
            .unwrap();
        mmd_rbf(fake, real.clone(), &bandwidths).unwrap()
    };

    let before = mmd(&gan);
    common::trainer(1500, 0, dir.path())
        .fit(&mut gan, &mut loader, &mut SeededRng::new(1))
        .unwrap();
    let after = mmd(&gan);
    eprintln!("MMD^2 to the 8 Gaussians: before {before:.4}, after {after:.4}");
    assert!(
        after < 0.2 * before,
        "MMD^2 before {before:.4}, after {after:.4}"
    );
}
