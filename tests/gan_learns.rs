//! The GANs learn: on the 8-Gaussians ring, the MMD between generated and
//! real points falls well below its value at initialisation, for every
//! objective and Lipschitz constraint; a conditional GAN puts the samples
//! of label k on Gaussian k.

mod common;

use burn::tensor::Device;
use generative::core::{Sample, SeededRng};
use generative::data::Toy2d;
use generative::eval::distance::mmd_rbf;
use generative::gan::{GanLoss, GanTrainingConfig, GradientPenaltyConfig, PenaltyDirection};

const BANDWIDTHS: [f64; 4] = [0.2, 0.5, 1.0, 2.0];

/// Trains `gan` for `steps` steps on the 8 Gaussians and returns the MMD^2
/// to held-out real points before and after (samples from
/// [`GanTrainer::sampler`], the EMA when enabled).
fn mmd_before_after(gan: &mut common::Gan, steps: u64) -> (f64, f64) {
    let dev = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let mut loader = common::toy_loader(Toy2d::EightGaussians, 2048, 128, 0);
    let real = Toy2d::EightGaussians
        .dataset(512, &mut SeededRng::new(99))
        .head(512, &dev);
    let mmd = |gan: &common::Gan| {
        let fake = gan
            .sampler()
            .sample(512, None, &mut SeededRng::new(7), &dev)
            .unwrap();
        mmd_rbf(fake, real.clone(), &BANDWIDTHS).unwrap()
    };
    let before = mmd(gan);
    common::trainer(steps, 0, dir.path())
        .fit(gan, &mut loader, &mut SeededRng::new(1))
        .unwrap();
    (before, mmd(gan))
}

fn learns(
    name: &str,
    training: GanTrainingConfig,
    spectral_norm: bool,
    steps: u64,
    ratio: f64,
) -> common::Gan {
    let cfg = common::toy_config().with_spectral_norm(spectral_norm);
    let mut gan = common::toy_gan_with(cfg, 0, &Device::flex(), training);
    let (before, after) = mmd_before_after(&mut gan, steps);
    eprintln!(
        "{name}: MMD^2 to the 8 Gaussians before {before:.4}, after {after:.4} ({:.3}x)",
        after / before
    );
    assert!(
        after < ratio * before,
        "{name}: MMD^2 before {before:.4}, after {after:.4}"
    );
    gan
}

fn fast() -> GanTrainingConfig {
    GanTrainingConfig::new().with_lr(1e-3)
}

#[test]
fn mlp_gan_learns_the_eight_gaussians() {
    let _ = learns("non-saturating", fast(), false, 1500, 0.2);
}

#[test]
fn minimax_learns() {
    let _ = learns(
        "minimax",
        fast().with_loss(GanLoss::Minimax),
        false,
        1000,
        0.3,
    );
}

#[test]
fn hinge_with_spectral_norm_learns() {
    let gan = learns(
        "hinge + spectral norm",
        fast().with_loss(GanLoss::Hinge),
        true,
        1000,
        0.3,
    );
    // After training, each layer's normalised weight still has top singular
    // value ~1 (checked by 500 power iterations in f64 on the host).
    let (layers, norms) = gan.discriminator().layers();
    assert_eq!(layers.len(), norms.len());
    for (i, (layer, sn)) in layers.iter().zip(norms).enumerate() {
        let w = sn.linear_weight(&burn::module::Module::valid(layer));
        let sigma = top_singular_value(w);
        eprintln!("layer {i}: sigma of the normalised weight {sigma:.5}");
        assert!((sigma - 1.0).abs() < 0.02, "layer {i}: {sigma}");
    }
}

/// The largest singular value of a matrix, by power iteration on `W^T W`
/// in f64.
fn top_singular_value(w: burn::tensor::Tensor<2>) -> f64 {
    let [r, c] = w.dims();
    let m: Vec<f64> = w
        .into_data()
        .convert::<f64>()
        .try_into_vec::<f64>()
        .unwrap();
    let mut v = vec![1.0 / (c as f64).sqrt(); c];
    let mut sigma = 0.0;
    for _ in 0..500 {
        let u: Vec<f64> = (0..r)
            .map(|i| (0..c).map(|j| m[i * c + j] * v[j]).sum())
            .collect();
        let mut next: Vec<f64> = (0..c)
            .map(|j| (0..r).map(|i| m[i * c + j] * u[i]).sum())
            .collect();
        let norm = next.iter().map(|x| x * x).sum::<f64>().sqrt();
        next.iter_mut().for_each(|x| *x /= norm);
        sigma = norm.sqrt();
        v = next;
    }
    sigma
}

#[test]
fn least_squares_learns() {
    let _ = learns(
        "least squares",
        fast().with_loss(GanLoss::LeastSquares),
        false,
        1000,
        0.3,
    );
}

#[test]
fn wgan_with_clipping_learns() {
    let training = fast()
        .with_loss(GanLoss::Wasserstein)
        .with_clip(Some(0.1))
        .with_n_critic(5);
    let gan = learns("Wasserstein + clipping", training, false, 600, 0.3);
    let largest = common::params(gan.discriminator())
        .into_iter()
        .fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(
        largest <= 0.1 + 1e-6,
        "a critic weight escaped the clip: {largest}"
    );
}

#[test]
fn wgan_with_finite_difference_penalty_learns() {
    let training = fast()
        .with_loss(GanLoss::Wasserstein)
        .with_gradient_penalty(Some(GradientPenaltyConfig::new()))
        .with_n_critic(5);
    let _ = learns(
        "Wasserstein + FD gradient penalty",
        training,
        false,
        600,
        0.3,
    );
}

#[test]
fn wgan_with_random_direction_penalty_and_ema_learns() {
    let training = fast()
        .with_loss(GanLoss::Wasserstein)
        .with_gradient_penalty(Some(
            GradientPenaltyConfig::new().with_direction(PenaltyDirection::Random),
        ))
        .with_n_critic(5)
        .with_ema(0.99);
    let _ = learns(
        "Wasserstein + random-direction penalty + EMA",
        training,
        false,
        600,
        0.3,
    );
}

#[test]
fn conditional_gan_puts_label_k_on_gaussian_k() {
    let dev = Device::flex();
    let cfg = common::toy_config().with_num_classes(Some(8));
    let mut gan = common::toy_gan_with(cfg, 0, &dev, fast());
    let (before, after) = mode_share_before_after(&mut gan, 800);
    eprintln!(
        "conditional: share of samples within 0.5 of their label's centre: before {before:.3}, after {after:.3}"
    );
    assert!(after > 0.9, "share on the requested mode: {after:.3}");
}

/// The share of samples, 64 per label, within 0.5 of their label's
/// centre `2 (cos k pi/4, sin k pi/4)`, before and after training.
fn mode_share_before_after(gan: &mut common::Gan, steps: u64) -> (f64, f64) {
    let dev = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let mut loader = common::toy_loader(Toy2d::EightGaussians, 2048, 128, 0);
    let share = |gan: &common::Gan| {
        let labels: Vec<usize> = (0..8).flat_map(|k| [k; 64]).collect();
        let x: Vec<f32> = gan
            .sampler()
            .sample(labels.len(), Some(&labels), &mut SeededRng::new(7), &dev)
            .unwrap()
            .into_data()
            .try_into_vec()
            .unwrap();
        let hits = labels
            .iter()
            .enumerate()
            .filter(|&(i, &k)| {
                let a = k as f32 * std::f32::consts::PI / 4.0;
                let (dx, dy) = (x[2 * i] - 2.0 * a.cos(), x[2 * i + 1] - 2.0 * a.sin());
                (dx * dx + dy * dy).sqrt() < 0.5
            })
            .count();
        hits as f64 / labels.len() as f64
    };
    let before = share(gan);
    common::trainer(steps, 0, dir.path())
        .fit(gan, &mut loader, &mut SeededRng::new(1))
        .unwrap();
    (before, share(gan))
}
