//! The same model code gives the same forward output and the same losses
//! after one training step on every compiled backend. The weights are
//! initialised once (on flex) and moved; all noise comes from the host RNG.
//!
//! The wgpu comparison runs with `--features wgpu` (in CI through Mesa's
//! software Vulkan driver, lavapipe).

mod common;

use burn::tensor::Device;
use generative::core::{Backend, BatchSource, Sample, SeededRng, TrainStep};
use generative::data::Toy2d;
use generative::gan::GanTrainingConfig;

/// What one backend computes: a forward pass, one step's losses, and a
/// forward pass after the step.
struct Run {
    forward: Vec<f32>,
    loss_d: f64,
    loss_g: f64,
    forward_after: Vec<f32>,
}

fn run(device: &Device) -> Run {
    let mut gan = common::toy_gan(21, device, GanTrainingConfig::new());
    let sample = |gan: &common::Gan| {
        gan.generator()
            .sample(16, None, &mut SeededRng::new(3), device)
            .unwrap()
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap()
    };
    let forward = sample(&gan);
    let batch = common::toy_loader(Toy2d::EightGaussians, 256, 32, 0)
        .batch(0, &gan.device())
        .unwrap();
    let metrics = gan.step(vec![batch], &mut SeededRng::new(4)).unwrap();
    Run {
        forward,
        loss_d: metrics.get("loss_d").unwrap(),
        loss_g: metrics.get("loss_g").unwrap(),
        forward_after: sample(&gan),
    }
}

fn compare(name: &str, other: &Device, tolerance: f32) {
    let reference = run(&Backend::Flex.device().unwrap());
    let got = run(other);
    let fwd = common::max_abs_diff(&reference.forward, &got.forward);
    let d = (reference.loss_d - got.loss_d).abs() as f32;
    let g = (reference.loss_g - got.loss_g).abs() as f32;
    let after = common::max_abs_diff(&reference.forward_after, &got.forward_after);
    eprintln!(
        "flex vs {name}: forward {fwd:.2e}, loss_d {d:.2e}, loss_g {g:.2e}, forward after one step {after:.2e}"
    );
    assert!(fwd <= tolerance, "forward differs by {fwd}");
    assert!(
        d <= tolerance && g <= tolerance,
        "losses differ by {d}, {g}"
    );
    // Adam's first step moves each weight by about +-lr whatever the size
    // of its gradient, so a gradient that is ~0 on one backend may move the
    // other way on another: allow a few learning rates of output change.
    assert!(after <= 1e-2, "forward after one step differs by {after}");
}

#[test]
fn flex_and_ndarray_agree() {
    compare("ndarray", &Backend::NdArray.device().unwrap(), 1e-5);
}

#[cfg(feature = "wgpu")]
#[test]
fn flex_and_wgpu_agree() {
    compare("wgpu", &Backend::Wgpu.device().unwrap(), 1e-4);
}
