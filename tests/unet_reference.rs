//! gen-diffusion's compact `UNet` computes the function of `bench_ddpm.py`'s
//! UNet: given the weights of the layer-for-layer burn copy of the script
//! (`benches/reference/ddpm_unet.rs`, whose names are the script's but for
//! `temb1`/`temb2` and `out_norm`/`out_conv`), renamed to the UNet's
//! parameter paths, both give the same output.

#[path = "../benches/reference/ddpm_unet.rs"]
#[allow(dead_code)]
mod ddpm_unet;

use burn::module::Module;
use burn::store::ModuleSnapshot;
use burn::tensor::{Device, Distribution, Tensor};
use ddpm_unet::ReferenceUNet;
use generative::diffusion::UNetConfig;

/// The UNet's path of a parameter of the reference copy.
fn our_path(reference: &str) -> String {
    const MODULES: [(&str, &str); 16] = [
        ("temb1.", "ends.cond.linear1."),
        ("temb2.", "ends.cond.linear2."),
        ("conv_in.", "ends.conv_in."),
        ("d1.", "down.0.blocks.0."),
        ("ds1.", "down.0.resample."),
        ("d2.", "down.1.blocks.0."),
        ("ds2.", "down.1.resample."),
        ("m1.", "middle.0."),
        ("attn.", "middle.0.attention."),
        ("m2.", "middle.1."),
        ("us2.conv.", "up.0.resample."),
        ("u2.", "up.1.blocks.0."),
        ("us1.conv.", "up.1.resample."),
        ("u1.", "up.2.blocks.0."),
        ("out_norm.", "ends.norm_out."),
        ("out_conv.", "ends.conv_out."),
    ];
    let (prefix, ours) = MODULES
        .iter()
        .find(|(p, _)| reference.starts_with(p))
        .unwrap_or_else(|| panic!("no mapping for {reference}"));
    let rest = &reference[prefix.len()..];
    let rest = match rest.split_once('.') {
        Some((layer, leaf)) => {
            let layer = match layer {
                "n1" => "norm1",
                "c1" => "conv1",
                "t" => "time",
                "n2" => "norm2",
                "c2" => "conv2",
                "n" => "norm",
                other => other,
            };
            format!("{layer}.{leaf}")
        }
        None => rest.to_string(),
    };
    // The UNet is an enum of the two layouts: its paths start with the
    // variant's name.
    format!("Compact.{ours}{rest}")
}

#[test]
fn compact_unet_equals_the_reference_given_its_weights() {
    let device = Device::flex();
    device.seed(5);
    let reference = ReferenceUNet::new(true, &device);
    let mut ours = UNetConfig::compact(28, 1).init(&device).unwrap();
    assert_eq!(ours.num_params(), reference.num_params());

    let tensors: Vec<_> = reference
        .collect(None, None, false)
        .into_iter()
        .map(|mut t| {
            t.name = our_path(&t.name);
            t
        })
        .collect();
    let n = tensors.len();
    let result = ours.apply(tensors, None, None, false);
    assert!(
        result.missing.is_empty() && result.unused.is_empty() && result.errors.is_empty(),
        "{result:?}"
    );
    assert_eq!(result.applied.len(), n);

    let x = Tensor::<4>::random([3, 1, 28, 28], Distribution::Normal(0.0, 1.0), &device);
    let t = Tensor::<1>::from_floats([0.0, 417.0, 999.0], &device);
    let want = reference.forward(x.clone(), t.clone());
    let got = ours.forward_images(x, t, None);
    let scale = want.clone().abs().max().into_scalar::<f64>();
    let diff = (got - want).abs().max().into_scalar::<f64>();
    assert!(scale > 0.1, "the reference output is not trivial: {scale}");
    assert!(
        diff < 1e-4 * scale,
        "max |ours - reference| = {diff} (max |reference| {scale})"
    );
}
