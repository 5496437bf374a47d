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

/// The GPT on `device` (weights made on flex and moved): its logits for
/// fixed ids, the loss of one training step, and a greedy continuation.
fn gpt_run(device: &Device) -> (Vec<f32>, f64, Vec<u32>) {
    use burn::module::Module;
    use burn::tensor::{Int, Tensor, TensorData};
    use generative::ar::{
        DecodeConfig, GptConfig, GptTrainer, GptTrainingConfig, Tokenizer, generate,
    };
    use generative::core::Batch;
    let flex = Backend::Flex.device().unwrap();
    let model = generative::core::rng::with_seed(8, &flex, || {
        GptConfig::new(11)
            .with_block_size(8)
            .with_n_layer(2)
            .with_n_embd(16)
            .init(&flex)
            .unwrap()
    })
    .to_device(device);
    let ids: Vec<i64> = (0..18).map(|i| (i * 5 % 11) as i64).collect();
    let tokens = Tensor::<2, Int>::from_data(TensorData::new(ids, [2, 9]), device);
    let logits: Vec<f32> = model
        .forward(tokens.clone().narrow(1, 0, 8))
        .into_data()
        .convert::<f32>()
        .try_into_vec()
        .unwrap();
    let greedy = DecodeConfig::new()
        .with_temperature(0.0)
        .with_max_new_tokens(12);
    let text = generate(
        &model,
        &[vec![1, 2]],
        &greedy,
        None,
        &mut SeededRng::new(0),
        device,
        |_, _| {},
    )
    .unwrap()
    .remove(0);
    let tokenizer = Tokenizer::Char {
        vocab: "abcdefghijk".chars().collect(),
    };
    let mut trainer = GptTrainer::new(model, tokenizer, GptTrainingConfig::new(), device).unwrap();
    let ad = trainer.device();
    let metrics = trainer
        .step(
            vec![Batch::of_tokens(tokens.to_device(&ad))],
            &mut SeededRng::new(0),
        )
        .unwrap();
    (logits, metrics.get("loss").unwrap(), text)
}

fn compare_gpt(name: &str, other: &Device, tolerance: f32) {
    let (logits, loss, text) = gpt_run(&Backend::Flex.device().unwrap());
    let (o_logits, o_loss, o_text) = gpt_run(other);
    let d = common::max_abs_diff(&logits, &o_logits);
    let l = (loss - o_loss).abs() as f32;
    eprintln!("GPT flex vs {name}: logits {d:.2e}, loss {l:.2e}");
    assert!(d <= tolerance && l <= tolerance, "{d} {l}");
    assert_eq!(text, o_text, "greedy text");
}

#[test]
fn the_gpt_agrees_on_flex_and_ndarray() {
    compare_gpt("ndarray", &Backend::NdArray.device().unwrap(), 1e-5);
}

#[cfg(feature = "wgpu")]
#[test]
fn the_gpt_agrees_on_flex_and_wgpu() {
    compare_gpt("wgpu", &Backend::Wgpu.device().unwrap(), 1e-4);
}
