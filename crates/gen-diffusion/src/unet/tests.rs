//! The UNet's tests: shapes, gradients, the benchmark topology, configs.

use burn::store::ModuleSnapshot;
use burn::tensor::Distribution;

use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2dConfig;
use burn::tensor::{Device, Tensor};
use gen_core::error::Error as CoreError;
use gen_nn::SpatialAttention;

use super::*;
use crate::denoiser::Denoiser;
use crate::error::Error;

fn tiny(size: usize, mults: Vec<usize>) -> UNetConfig {
    UNetConfig::new(size)
        .with_base_channels(8)
        .with_groups(4)
        .with_num_heads(2)
        .with_channel_mults(mults)
}

#[test]
fn shapes_for_28_32_and_64() {
    let dev = Device::flex();
    for (size, channels, mults) in [
        (28, 1, vec![1, 2, 2]),
        (32, 3, vec![1, 2, 2, 2]),
        (64, 3, vec![1, 1, 2, 2]),
    ] {
        let cfg = tiny(size, mults)
            .with_image_channels(channels)
            .with_num_classes(Some(10));
        let net = cfg.init(&dev).unwrap();
        let f = channels * size * size;
        assert_eq!(net.features(), f);
        assert_eq!(net.example_shape(), [channels, size, size]);
        let x = Tensor::<2>::ones([2, f], &dev);
        let t = Tensor::<1>::from_floats([3.0, 700.0], &dev);
        let y = net.forward(x.clone(), t.clone(), Some(Tensor::from_ints([1, 10], &dev)));
        assert_eq!(y.dims(), [2, f], "size {size}");
        // The zero-initialised output conv: the untrained net predicts 0.
        assert_eq!(y.abs().max().into_scalar::<f64>(), 0.0);
    }
    // The presets validate.
    for size in [28, 32, 64] {
        UNetConfig::for_size(size, 1).validate().unwrap();
    }
}

/// Whether a gradient exists and is not all zeros.
fn reached<const D: usize>(g: Option<Tensor<D>>) -> bool {
    g.is_some_and(|g| g.abs().sum().into_scalar::<f64>() > 0.0)
}

#[test]
fn gradients_reach_every_level() {
    let dev = Device::flex().autodiff();
    for cfg in [
        tiny(28, vec![1, 2, 2]),
        tiny(28, vec![1, 2, 2])
            .with_layout(UNetLayout::Compact)
            .with_num_heads(1),
        tiny(32, vec![1, 2, 2, 2])
            .with_layout(UNetLayout::Compact)
            .with_num_heads(2),
    ] {
        let mut net = cfg.init(&dev).unwrap();
        // The zero-initialised output conv would stop every gradient
        // below it; give it random weights.
        let random = Conv2dConfig::new([8, 1], [3, 3])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init(&dev);
        match &mut net {
            UNet::Full(n) => n.ends.conv_out = random,
            UNet::Compact(n) => n.ends.conv_out = random,
        }
        let f = cfg.image_size * cfg.image_size;
        let x = Tensor::<2>::random([2, f], Distribution::Normal(0.0, 1.0), &dev);
        let t = Tensor::<1>::from_floats([10.0, 500.0], &dev);
        let loss = (net.forward(x, t, None) - 1.0).powi_scalar(2).mean();
        let grads = loss.backward();
        let layout = cfg.layout;
        let (ends, down, middle, up) = match &net {
            UNet::Full(n) => (&n.ends, &n.down, &n.middle, &n.up),
            UNet::Compact(n) => (&n.ends, &n.down, &n.middle, &n.up),
        };
        assert!(reached(ends.conv_out.weight.val().grad(&grads)));
        assert!(
            reached(ends.conv_in.weight.val().grad(&grads)),
            "{layout:?}"
        );
        for (i, level) in down.iter().chain(up).enumerate() {
            for block in &level.blocks {
                assert!(
                    reached(block.conv1.weight.val().grad(&grads)),
                    "{layout:?} {i}"
                );
                assert!(
                    reached(block.time.weight.val().grad(&grads)),
                    "{layout:?} {i}"
                );
            }
            if let Some(conv) = &level.resample {
                assert!(reached(conv.weight.val().grad(&grads)), "{layout:?} {i}");
            }
        }
        for block in middle {
            assert!(reached(block.conv2.weight.val().grad(&grads)), "{layout:?}");
        }
        let attention = middle[0].attention.as_ref().unwrap();
        assert!(reached(attention.qkv.weight.val().grad(&grads)));
        assert!(reached(attention.proj.weight.val().grad(&grads)));
    }
}

#[test]
fn compact_is_the_benchmark_unet() {
    let dev = Device::flex();
    let cfg = UNetConfig::compact(28, 1);
    assert_eq!(
        (
            cfg.base_channels,
            &cfg.channel_mults,
            cfg.num_heads,
            cfg.groups
        ),
        (32, &vec![1, 2, 2], 1, 8)
    );
    let net = cfg.init(&dev).unwrap();
    // bench_ddpm.py's count (burn counts GroupNorm's gamma and beta,
    // as PyTorch does).
    assert_eq!(net.num_params(), 583_713);
    assert_eq!(net.layout(), UNetLayout::Compact);
    // The full layout's preset: the attention swap kept its count
    // (separate q, k, v, output linears and a 1x1 conv to q, k, v plus
    // a 1x1 output conv both have 4 (c^2 + c) parameters).
    let full = UNetConfig::for_size(28, 1).init(&dev).unwrap();
    assert_eq!(full.num_params(), 1_112_801);

    // The parameter paths, against the script's state_dict names.
    let UNet::Compact(inner) = &net else {
        panic!("a compact config builds a compact UNet")
    };
    let paths: Vec<(String, Vec<usize>)> = inner
        .collect(None, None, false)
        .into_iter()
        .map(|t| (t.name, t.shape.to_vec()))
        .collect();
    let count: usize = paths.iter().map(|(_, s)| s.iter().product::<usize>()).sum();
    assert_eq!(count, 583_713);
    let names: Vec<&str> = paths.iter().map(|(n, _)| n.as_str()).collect();
    for block in [
        "down.0.blocks.0",
        "down.1.blocks.0",
        "middle.0",
        "middle.1",
        "up.1.blocks.0",
        "up.2.blocks.0",
    ] {
        for part in [
            "norm1.gamma",
            "conv1.weight",
            "time.weight",
            "norm2.beta",
            "conv2.bias",
        ] {
            let path = format!("{block}.{part}");
            assert!(names.contains(&path.as_str()), "{path} in {names:?}");
        }
    }
    for path in [
        "ends.conv_in.weight",
        "ends.cond.linear1.weight",
        "ends.cond.linear2.bias",
        "down.0.resample.weight",
        "down.1.resample.weight",
        "down.1.blocks.0.skip.weight",
        "middle.0.attention.norm.gamma",
        "middle.0.attention.qkv.weight",
        "middle.0.attention.proj.bias",
        "up.0.resample.weight",
        "up.1.resample.weight",
        "up.1.blocks.0.skip.weight",
        "up.2.blocks.0.skip.weight",
        "ends.norm_out.gamma",
        "ends.conv_out.weight",
    ] {
        assert!(names.contains(&path), "{path} in {names:?}");
    }
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with("down.2") || n.starts_with("up.3"))
    );
    assert!(!names.contains(&"down.0.blocks.0.skip.weight"));
    assert!(!names.contains(&"up.2.resample.weight"));
    assert!(
        !names
            .iter()
            .any(|n| n.contains("attention") && !n.starts_with("middle.0"))
    );
    if std::env::var_os("UNET_PRINT_PATHS").is_some() {
        for (name, shape) in &paths {
            println!("{name} {shape:?}");
        }
    }
}

#[test]
fn compact_shapes_for_28_and_32() {
    let dev = Device::flex();
    for (size, channels, mults) in [(28, 1, vec![1, 2, 2]), (32, 3, vec![1, 2, 2, 2])] {
        let cfg = UNetConfig::compact(size, channels);
        assert_eq!(cfg.channel_mults, mults);
        let net = cfg.init(&dev).unwrap();
        let UNet::Compact(inner) = &net else {
            panic!("a compact config builds a compact UNet")
        };
        assert_eq!(inner.down.len(), mults.len() - 1);
        assert_eq!(inner.up.len(), mults.len());
        assert!(inner.up[0].blocks.is_empty());
        let f = channels * size * size;
        let x = Tensor::<2>::ones([2, f], &dev);
        let t = Tensor::<1>::from_floats([3.0, 700.0], &dev);
        let y = net.forward(x, t, None);
        assert_eq!(y.dims(), [2, f], "size {size}");
        assert_eq!(y.abs().max().into_scalar::<f64>(), 0.0);
    }
}

#[test]
fn compact_needs_one_block_and_two_levels() {
    let compact = |mults: Vec<usize>| {
        tiny(28, mults)
            .with_layout(UNetLayout::Compact)
            .with_num_heads(1)
    };
    for (cfg, field) in [
        (compact(vec![1, 2, 2]).with_res_blocks(2), "res_blocks"),
        (compact(vec![1]), "channel_mults"),
    ] {
        let err = cfg.init(&Device::flex()).unwrap_err();
        assert!(
            matches!(&err, Error::Core(CoreError::InvalidConfig { field: f, .. }) if *f == field),
            "{field}: {err}"
        );
    }
    // Heads must divide the middle's width only: 16 channels there.
    compact(vec![1, 2]).with_num_heads(16).validate().unwrap();
    assert!(compact(vec![1, 2]).with_num_heads(3).validate().is_err());
}

#[test]
fn the_layout_reads_from_json_and_defaults_to_full() {
    let cfg = UNetConfig::compact(28, 1);
    let json = serde_json::to_value(&cfg).unwrap();
    assert_eq!(json["layout"], "compact");
    let back: UNetConfig = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(back, cfg);
    // A run config written before the field existed.
    let mut old = serde_json::to_value(UNetConfig::for_size(28, 1)).unwrap();
    old.as_object_mut().unwrap().remove("layout");
    let back: UNetConfig = serde_json::from_value(old).unwrap();
    assert_eq!(back, UNetConfig::for_size(28, 1));
    assert_eq!(back.layout, UNetLayout::Full);
    let mut bad = json;
    bad["layout"] = "wide".into();
    let err = serde_json::from_value::<UNetConfig>(bad).unwrap_err();
    assert!(err.to_string().contains("wide"), "{err}");
}

/// The attention written out with loops in `f64` from the module's
/// weights: `x + proj(o)`, `o` per head from `softmax(q^T k / sqrt(d))`.
#[allow(clippy::needless_range_loop)] // index loops read as the formula
fn attention_by_hand(att: &SpatialAttention, x: &Tensor<4>, heads: usize) -> Vec<f64> {
    let [b, c, h, w] = x.dims();
    let n = h * w;
    let d = c / heads;
    let host = |t: Tensor<4>| -> Vec<f64> {
        t.into_data()
            .convert::<f64>()
            .try_into_vec::<f64>()
            .unwrap()
    };
    let host1 = |t: Tensor<1>| -> Vec<f64> {
        t.into_data()
            .convert::<f64>()
            .try_into_vec::<f64>()
            .unwrap()
    };
    let xs = host(x.clone());
    let xn = host(att.norm.forward(x.clone()));
    let wqkv = host(att.qkv.weight.val()); // [3c, c, 1, 1]
    let bqkv = host1(att.qkv.bias.as_ref().unwrap().val());
    let wp = host(att.proj.weight.val()); // [c, c, 1, 1]
    let bp = host1(att.proj.bias.as_ref().unwrap().val());
    let mut out = vec![0.0; b * c * n];
    for bi in 0..b {
        // qkv[o][p] for o in 0..3c.
        let qkv: Vec<Vec<f64>> = (0..3 * c)
            .map(|o| {
                (0..n)
                    .map(|p| {
                        bqkv[o]
                            + (0..c)
                                .map(|i| wqkv[o * c + i] * xn[(bi * c + i) * n + p])
                                .sum::<f64>()
                    })
                    .collect()
            })
            .collect();
        let mut o = vec![vec![0.0; n]; c];
        for head in 0..heads {
            let chans = head * d..(head + 1) * d;
            for i in 0..n {
                let scores: Vec<f64> = (0..n)
                    .map(|j| {
                        chans
                            .clone()
                            .map(|ch| qkv[ch][i] * qkv[c + ch][j])
                            .sum::<f64>()
                            / (d as f64).sqrt()
                    })
                    .collect();
                let max = scores.iter().cloned().fold(f64::MIN, f64::max);
                let e: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let z: f64 = e.iter().sum();
                for ch in chans.clone() {
                    o[ch][i] = (0..n).map(|j| e[j] / z * qkv[2 * c + ch][j]).sum();
                }
            }
        }
        for co in 0..c {
            for p in 0..n {
                let idx = (bi * c + co) * n + p;
                out[idx] =
                    xs[idx] + bp[co] + (0..c).map(|ch| wp[co * c + ch] * o[ch][p]).sum::<f64>();
            }
        }
    }
    out
}

#[test]
fn attention_heads_split_q_k_v_channels() {
    let dev = Device::flex();
    let (c, heads) = (4, 1);
    let one = SpatialAttention::new(c, 2, heads, &dev);
    let x = Tensor::<4>::random([2, c, 2, 3], Distribution::Normal(0.0, 1.0), &dev);
    let y1: Vec<f64> = one
        .forward(x.clone())
        .into_data()
        .convert::<f64>()
        .try_into_vec()
        .unwrap();
    let want1 = attention_by_hand(&one, &x, 1);
    for (a, b) in y1.iter().zip(&want1) {
        assert!((a - b).abs() < 1e-5, "{y1:?} vs {want1:?}");
    }
    // The same weights split into two heads of 2 channels.
    let two = SpatialAttention {
        heads: 2,
        ..one.clone()
    };
    let y2: Vec<f64> = two
        .forward(x.clone())
        .into_data()
        .convert::<f64>()
        .try_into_vec()
        .unwrap();
    let want2 = attention_by_hand(&two, &x, 2);
    for (a, b) in y2.iter().zip(&want2) {
        assert!((a - b).abs() < 1e-5, "{y2:?} vs {want2:?}");
    }
    let diff: f64 = y1.iter().zip(&y2).map(|(a, b)| (a - b).abs()).sum();
    assert!(diff > 1e-3, "{diff}");
}

#[test]
fn bad_sizes_and_widths_are_typed_errors() {
    let dev = Device::flex();
    // 28 cannot be halved 3 times.
    let err = tiny(28, vec![1, 2, 2, 2]).init(&dev).unwrap_err();
    assert!(
        matches!(
            err,
            Error::ImageSize {
                size: 28,
                downsamples: 3,
                divisor: 8
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("not divisible by 2^3 = 8"));
    assert!(matches!(
        tiny(30, vec![1, 2, 2]).validate(),
        Err(Error::ImageSize { .. })
    ));
    assert!(matches!(
        tiny(2, vec![1, 1, 1, 1]).validate(),
        Err(Error::ImageSize { .. })
    ));
    for (cfg, field) in [
        (tiny(28, vec![]), "channel_mults"),
        (tiny(28, vec![1, 0, 2]), "channel_mults"),
        (tiny(28, vec![1, 2, 2]).with_groups(3), "groups"),
        (tiny(28, vec![1, 2, 2]).with_num_heads(3), "num_heads"),
        (tiny(28, vec![1, 2, 2]).with_res_blocks(0), "res_blocks"),
        (tiny(0, vec![1]), "image_size"),
        (tiny(28, vec![1]).with_num_classes(Some(0)), "num_classes"),
    ] {
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains(field), "{field}: {err}");
    }
}
