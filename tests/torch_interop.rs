//! Our models compute what PyTorch's reference models compute, given their
//! weights: each test loads a `state_dict` written by PyTorch
//! (`tests/fixtures/torch/make_fixtures.py`, from the models of
//! `../shared/bench/pytorch`) and compares forward outputs and losses with
//! PyTorch's, then exports the model again and checks that the file holds
//! exactly PyTorch's tensors and that re-importing it changes nothing.
//!
//! Tolerance: the largest absolute difference over the largest absolute
//! expected value, at most 1e-5 (f32 on flex).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::store::{ModuleStore, SafetensorsStore, bridge};
use burn::tensor::{Device, Tensor, TensorData};
use generative::core::Backend;
use generative::core::interop::{
    InteropError, TorchModule, load_pytorch, load_safetensors, save_safetensors, torch_state,
};
use generative::diffusion::{Denoiser, MlpDenoiserConfig, UNetConfig};
use generative::gan::loss::GanLoss;
use generative::gan::{DcganConfig, Discriminator, Generator, MlpGanConfig};
use generative::vae::{ConvVaeConfig, Likelihood, MlpVaeConfig, Vae};

const TOLERANCE: f64 = 1e-5;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/torch")
        .join(name)
}

/// The tensors of a safetensors file, by name.
fn read(name: &str) -> BTreeMap<String, TensorData> {
    let mut store = SafetensorsStore::from_file(fixture(name));
    store
        .get_all_tensors()
        .unwrap()
        .iter()
        .map(|(k, t)| (k.clone(), bridge::to_data(t).unwrap()))
        .collect()
}

fn tensor<const D: usize>(io: &BTreeMap<String, TensorData>, key: &str, dev: &Device) -> Tensor<D> {
    Tensor::from_data(io[key].clone(), dev)
}

/// Largest |a - b| over the largest |b|.
fn relative_error<const D: usize>(ours: Tensor<D>, theirs: &TensorData) -> f64 {
    let a: Vec<f32> = ours.into_data().try_into_vec().unwrap();
    let b: Vec<f32> = theirs.clone().try_into_vec().unwrap();
    assert_eq!(a.len(), b.len(), "element counts differ");
    let diff = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs() as f64)
        .fold(0.0, f64::max);
    let scale = b.iter().map(|y| y.abs() as f64).fold(0.0, f64::max);
    assert!(scale > 0.0, "an all-zero reference proves nothing");
    diff / scale
}

fn assert_close<const D: usize>(what: &str, ours: Tensor<D>, theirs: &TensorData) {
    assert_within(what, ours, theirs, TOLERANCE);
}

fn assert_within<const D: usize>(what: &str, ours: Tensor<D>, theirs: &TensorData, tolerance: f64) {
    let err = relative_error(ours, theirs);
    println!("{what}: relative error {err:.3e}");
    assert!(err <= tolerance, "{what}: relative error {err:e}");
}

/// Exports `model`, checks the file against PyTorch's `state_dict` file
/// tensor by tensor (same keys, shapes and bytes; our file adds nothing but
/// the BatchNorm counters PyTorch also writes), and returns it re-imported.
fn export_matches_pytorch<M: TorchModule + Clone>(model: &M, fresh: M, torch_file: &str) -> M {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ours.safetensors");
    save_safetensors(model, &path).unwrap();
    // For the PyTorch side of the check (make_fixtures.py --check DIR).
    if let Some(dir) = std::env::var_os("TORCH_INTEROP_EXPORT_DIR") {
        save_safetensors(model, Path::new(&dir).join(torch_file)).unwrap();
    }
    let mut ours = SafetensorsStore::from_file(&path);
    let mut theirs = SafetensorsStore::from_file(fixture(torch_file));
    let ours_keys = ours.keys().unwrap();
    let mut theirs_keys = theirs.keys().unwrap();
    theirs_keys.sort();
    let mut sorted = ours_keys.clone();
    sorted.sort();
    assert_eq!(sorted, theirs_keys, "{torch_file}: the exported keys");
    for key in &theirs_keys {
        let a = bridge::to_data(ours.get_tensor(key).unwrap().unwrap()).unwrap();
        let b = bridge::to_data(theirs.get_tensor(key).unwrap().unwrap()).unwrap();
        if key.ends_with("num_batches_tracked") {
            // PyTorch counts batches; burn does not, and exports 0.
            assert_eq!(a.shape(), b.shape(), "{key}");
            continue;
        }
        assert_eq!(a.shape(), b.shape(), "{key}: shape");
        assert_eq!(a.as_bytes(), b.as_bytes(), "{key}: values");
    }
    load_safetensors(fresh, &path).unwrap()
}

/// PyTorch's G(z), D(x) and, with `losses`, bench_*gan.py's two losses
/// (non-saturating BCE with logits) for a GAN whose weights came from the
/// fixtures; the outputs' keys are `fake<suffix>` and `d_real<suffix>`.
fn check_gan<G: Generator, D: Discriminator>(
    what: &str,
    (g, d): (&G, &D),
    io: &BTreeMap<String, TensorData>,
    suffix: &str,
    losses: bool,
    dev: &Device,
) {
    let z: Tensor<2> = tensor(io, "z", dev);
    let real: Tensor<4> = tensor(io, "real", dev);
    let fake = g.generate(z, None);
    assert_close(
        &format!("{what} G(z)"),
        fake.clone(),
        &io[&format!("fake{suffix}")],
    );
    let d_real = d.logits(real.flatten(1, 3), None);
    assert_close(
        &format!("{what} D(x)"),
        d_real.clone(),
        &io[&format!("d_real{suffix}")],
    );
    if !losses {
        return;
    }
    let d_fake = d.logits(fake, None);
    let loss = GanLoss::NonSaturating;
    assert_close(
        &format!("{what} D loss"),
        loss.discriminator(d_real, d_fake.clone()),
        &io["loss_d"],
    );
    assert_close(
        &format!("{what} G loss"),
        loss.generator(d_fake),
        &io["loss_g"],
    );
}

/// Exports both networks (checked against PyTorch's files by
/// [`export_matches_pytorch`]) and checks that the re-imported ones give
/// the same outputs.
fn gan_round_trip<G: Generator + TorchModule + Clone, D: Discriminator + TorchModule + Clone>(
    g: &G,
    d: &D,
    fresh: (G, D),
    files: [&str; 2],
    io: &BTreeMap<String, TensorData>,
    dev: &Device,
) {
    let z: Tensor<2> = tensor(io, "z", dev);
    let real: Tensor<2> = tensor::<4>(io, "real", dev).flatten(1, 3);
    let g2 = export_matches_pytorch(g, fresh.0, files[0]);
    let d2 = export_matches_pytorch(d, fresh.1, files[1]);
    assert_eq!(
        g2.generate(z.clone(), None).into_data(),
        g.generate(z, None).into_data()
    );
    assert_eq!(
        d2.logits(real.clone(), None).into_data(),
        d.logits(real, None).into_data()
    );
}

#[test]
fn mlp_gan_matches_pytorch() {
    let dev = Device::flex();
    let cfg = MlpGanConfig::new(784);
    let g = load(cfg.init_generator(&dev).unwrap(), "mlp_gan_g.safetensors");
    let d = load(
        cfg.init_discriminator(&dev).unwrap(),
        "mlp_gan_d.safetensors",
    );
    let io = read("mlp_gan.io.safetensors");
    check_gan("MLP GAN", (&g, &d), &io, "", true, &dev);
    let fresh = (
        cfg.init_generator(&dev).unwrap(),
        cfg.init_discriminator(&dev).unwrap(),
    );
    let files = ["mlp_gan_g.safetensors", "mlp_gan_d.safetensors"];
    gan_round_trip(&g, &d, fresh, files, &io, &dev);
}

#[test]
fn dcgan_matches_pytorch_in_eval_and_training_mode() {
    let dev = Device::flex();
    let cfg = DcganConfig::new();
    let files = ["dcgan_g.safetensors", "dcgan_d.safetensors"];
    let io = read("dcgan.io.safetensors");
    for (mode, dev) in [
        // Inference: BatchNorm uses the running statistics PyTorch saved.
        ("_eval", dev.clone()),
        // Training: on an autodiff device BatchNorm uses the batch's.
        ("_train", dev.clone().autodiff()),
    ] {
        let g = load(cfg.init_generator(&dev).unwrap(), files[0]);
        let d = load(cfg.init_discriminator(&dev).unwrap(), files[1]);
        // PyTorch computed the losses in training mode.
        let losses = mode == "_train";
        check_gan(&format!("DCGAN{mode}"), (&g, &d), &io, mode, losses, &dev);
        if mode == "_eval" {
            let fresh = (
                cfg.init_generator(&dev).unwrap(),
                cfg.init_discriminator(&dev).unwrap(),
            );
            gan_round_trip(&g, &d, fresh, files, &io, &dev);
        }
    }
}

#[test]
fn conv_vae_matches_pytorch_from_safetensors_and_from_a_pt_file() {
    let dev = Device::flex();
    let cfg = ConvVaeConfig::new().with_latent_dim(20);
    let io = read("conv_vae.io.safetensors");
    let x: Tensor<4> = tensor(&io, "x", &dev);
    let x: Tensor<2> = x.flatten(1, 3);
    let eps: Tensor<2> = tensor(&io, "eps", &dev);

    let from_st =
        load_safetensors(cfg.init(&dev).unwrap(), fixture("conv_vae.safetensors")).unwrap();
    let from_pt = load_pytorch(cfg.init(&dev).unwrap(), fixture("conv_vae.pt"), None).unwrap();
    for (source, vae) in [("safetensors", &from_st), ("torch.save", &from_pt)] {
        let q = vae.encode(x.clone(), None);
        assert_close(&format!("VAE mu ({source})"), q.mean.clone(), &io["mu"]);
        assert_close(
            &format!("VAE logvar ({source})"),
            q.log_variance.clone(),
            &io["logvar"],
        );
        let logits = vae.decode(q.rsample_with(eps.clone()), None);
        assert_close(
            &format!("VAE logits ({source})"),
            logits.clone(),
            &io["logits"],
        );
        // bench_vae.py's loss: summed BCE with logits plus KL, per example.
        let reconstruction = -vae.output().log_prob(logits, x.clone()).mean();
        let kl = q.kl_to_standard_normal().mean();
        assert_close(
            &format!("VAE reconstruction ({source})"),
            reconstruction.clone(),
            &io["reconstruction"],
        );
        assert_close(&format!("VAE KL ({source})"), kl.clone(), &io["kl"]);
        assert_close(
            &format!("VAE loss ({source})"),
            reconstruction + kl,
            &io["loss"],
        );
    }

    // A checkpoint dict: the state dict under "model", beside "step".
    let nested = load_pytorch(
        cfg.init(&dev).unwrap(),
        fixture("conv_vae_checkpoint.pt"),
        Some("model"),
    )
    .unwrap();
    assert_eq!(
        nested.encode(x.clone(), None).mean.into_data(),
        from_pt.encode(x.clone(), None).mean.into_data()
    );
    let err = load_pytorch(
        cfg.init(&dev).unwrap(),
        fixture("conv_vae_checkpoint.pt"),
        None,
    )
    .unwrap_err();
    // Without the key the names carry the dict's prefix, and the error
    // shows it.
    assert!(
        matches!(&err, InteropError::Mismatch { unexpected, .. }
            if unexpected.contains(&"model.mu.weight".to_string())),
        "{err}"
    );

    let back = export_matches_pytorch(&from_st, cfg.init(&dev).unwrap(), "conv_vae.safetensors");
    assert_eq!(
        back.encode(x.clone(), None).mean.into_data(),
        from_st.encode(x, None).mean.into_data()
    );
}

#[test]
fn compact_unet_matches_bench_ddpm() {
    let dev = Device::flex();
    let cfg = UNetConfig::compact(28, 1);
    let net = load_safetensors(cfg.init(&dev).unwrap(), fixture("ddpm_unet.safetensors")).unwrap();
    let io = read("ddpm_unet.io.safetensors");
    let x: Tensor<4> = tensor(&io, "x", &dev);
    let t: Tensor<1> = tensor(&io, "t", &dev);
    let out = net.forward_images(x.clone(), t.clone(), None);
    assert_close("UNet eps(x_t, t)", out.clone(), &io["out"]);

    let back = export_matches_pytorch(&net, cfg.init(&dev).unwrap(), "ddpm_unet.safetensors");
    assert_eq!(back.forward_images(x, t, None).into_data(), out.into_data());
}

#[test]
fn a_file_of_another_architecture_is_a_typed_error_naming_the_tensors() {
    let dev = Device::flex();
    // The conv VAE's file into a VAE with latent 16 instead of 20.
    let err = load_safetensors(
        ConvVaeConfig::new().init(&dev).unwrap(),
        fixture("conv_vae.safetensors"),
    )
    .unwrap_err();
    let InteropError::Mismatch {
        missing,
        unexpected,
        wrong_shape,
        ..
    } = &err
    else {
        panic!("{err}")
    };
    assert!(missing.is_empty() && unexpected.is_empty(), "{err}");
    let keys: Vec<&str> = wrong_shape.iter().map(|w| w.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "fc.weight",
            "logvar.bias",
            "logvar.weight",
            "mu.bias",
            "mu.weight"
        ],
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("mu.weight: expected [16, 3136], found [20, 3136]"),
        "{err}"
    );

    // The MLP generator's file into the DCGAN generator: nothing fits.
    let err = load_safetensors(
        DcganConfig::new().init_generator(&dev).unwrap(),
        fixture("mlp_gan_g.safetensors"),
    )
    .unwrap_err();
    let InteropError::Mismatch {
        missing,
        unexpected,
        ..
    } = &err
    else {
        panic!("{err}")
    };
    assert!(missing.contains(&"fc.weight".to_string()), "{err}");
    assert!(unexpected.contains(&"net.2.weight".to_string()), "{err}");
    assert!(err.to_string().contains("unexpected (net.2.bias"), "{err}");

    // A labelled-conditional generator has a wider first layer.
    let err = load_safetensors(
        MlpGanConfig::new(784)
            .with_num_classes(Some(10))
            .init_generator(&dev)
            .unwrap(),
        fixture("mlp_gan_g.safetensors"),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("net.0.weight: expected [256, 74], found [256, 64]"),
        "{err}"
    );
}

#[test]
fn the_documented_names_are_the_ones_used() {
    // docs/interop.md lists these; a rename in a model must update both.
    let dev = Device::flex();
    let keys = |state: Vec<generative::core::interop::TorchTensor>| -> Vec<String> {
        state.into_iter().map(|t| t.key).collect()
    };
    let g = DcganConfig::new().init_generator(&dev).unwrap();
    assert_eq!(
        keys(torch_state(&g)),
        [
            "fc.weight",
            "fc.bias",
            "net.0.weight",
            "net.0.bias",
            "net.1.weight",
            "net.1.bias",
            "net.1.running_mean",
            "net.1.running_var",
            "net.3.weight",
            "net.3.bias"
        ]
    );
    // Spectral norm: no BatchNorm, convs at even positions, the head after the Flatten.
    let d = DcganConfig::new()
        .with_spectral_norm(true)
        .init_discriminator(&dev)
        .unwrap();
    let names = keys(torch_state(&d));
    for key in [
        "net.0.weight",
        "net.2.weight",
        "net.5.weight",
        "spectral.0.u",
    ] {
        assert!(names.iter().any(|k| k == key), "{key} in {names:?}");
    }
}

/// Adds 0.01 to every float tensor: trained-looking weights for models whose
/// fresh init is partly zero (the UNet's output conv).
struct Shift;

impl burn::module::ModuleMapper for Shift {
    fn map_float<const D: usize>(
        &mut self,
        param: burn::module::Param<Tensor<D>>,
    ) -> burn::module::Param<Tensor<D>> {
        param.map(|t| t + 0.01)
    }
}

/// Saves `model` (shifted), loads the file into `fresh` and checks that `f`
/// gives the same values for both.
fn round_trip<M: TorchModule, const D: usize>(
    what: &str,
    model: M,
    fresh: M,
    f: impl Fn(&M) -> Tensor<D>,
) {
    let model = model.map(&mut Shift);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    save_safetensors(&model, &path).unwrap();
    let before = f(&fresh).into_data();
    let back = load_safetensors(fresh, &path).unwrap_or_else(|e| panic!("{what}: {e}"));
    let want = f(&model).into_data();
    assert_ne!(
        before, want,
        "{what}: the fresh model already gave these outputs"
    );
    assert_eq!(f(&back).into_data(), want, "{what}");
}

#[test]
fn every_model_round_trips_through_safetensors() {
    let dev = Device::flex();
    let z = |n: usize| Tensor::<2>::random([2, n], burn::tensor::Distribution::Default, &dev);
    let labels = || Some(Tensor::<1, burn::tensor::Int>::from_ints([1, 3], &dev));

    for cfg in [
        MlpGanConfig::new(784),
        MlpGanConfig::new(784).with_num_classes(Some(10)),
        MlpGanConfig::new(784)
            .with_num_classes(Some(10))
            .with_spectral_norm(true),
    ] {
        let what = format!("MLP GAN {cfg:?}");
        let x = z(784);
        round_trip(
            &what,
            cfg.init_generator(&dev).unwrap(),
            cfg.init_generator(&dev).unwrap(),
            |g| g.forward(z(64).zeros_like() + 0.5, labels()),
        );
        round_trip(
            &what,
            cfg.init_discriminator(&dev).unwrap(),
            cfg.init_discriminator(&dev).unwrap(),
            |d| d.forward(x.clone(), labels()),
        );
    }
    for cfg in [
        DcganConfig::new(),
        DcganConfig::new()
            .with_num_classes(Some(10))
            .with_spectral_norm(true),
        DcganConfig::new().with_discriminator_batch_norm(false),
        DcganConfig::faces64(),
    ] {
        let what = format!("DCGAN {cfg:?}");
        let x = z(cfg.features());
        let y = || {
            cfg.num_classes
                .map(|_| Tensor::<1, burn::tensor::Int>::from_ints([1, 3], &dev))
        };
        let zz = z(cfg.latent_dim);
        round_trip(
            &what,
            cfg.init_generator(&dev).unwrap(),
            cfg.init_generator(&dev).unwrap(),
            |g| g.forward(zz.clone(), y()),
        );
        round_trip(
            &what,
            cfg.init_discriminator(&dev).unwrap(),
            cfg.init_discriminator(&dev).unwrap(),
            |d| d.forward(x.clone(), y()),
        );
    }
    for cfg in [
        MlpVaeConfig::mnist(),
        MlpVaeConfig::mnist().with_likelihood(Likelihood::GaussianLearned),
    ] {
        let x = z(784);
        round_trip(
            &format!("{cfg:?}"),
            cfg.init(&dev).unwrap(),
            cfg.init(&dev).unwrap(),
            |v| v.decode(v.encode(x.clone(), None).mean, None),
        );
    }
    for cfg in [ConvVaeConfig::new(), ConvVaeConfig::faces(3)] {
        let x = z(cfg.channels * cfg.image_size * cfg.image_size);
        round_trip(
            &format!("{cfg:?}"),
            cfg.init(&dev).unwrap(),
            cfg.init(&dev).unwrap(),
            |v| v.decode(v.encode(x.clone(), None).mean, None),
        );
    }
    let t = Tensor::<1>::from_floats([3.0, 700.0], &dev);
    for cfg in [
        UNetConfig::for_size(28, 1)
            .with_base_channels(8)
            .with_num_classes(Some(10)),
        UNetConfig::compact(32, 3).with_channel_mults(vec![1, 2, 2, 2]),
    ] {
        let x = z(cfg.image_channels * cfg.image_size * cfg.image_size);
        round_trip(
            &format!("{cfg:?}"),
            cfg.init(&dev).unwrap(),
            cfg.init(&dev).unwrap(),
            |u| {
                Denoiser::forward(
                    u,
                    x.clone(),
                    t.clone(),
                    cfg.num_classes.map(|_| Tensor::from_ints([1, 10], &dev)),
                )
            },
        );
    }
    let cfg = MlpDenoiserConfig::new(2).with_num_classes(Some(3));
    let x = z(2);
    round_trip(
        "MlpDenoiser",
        cfg.init(&dev).unwrap(),
        cfg.init(&dev).unwrap(),
        |m| m.forward(x.clone(), t.clone(), Some(Tensor::from_ints([0, 3], &dev))),
    );
}

/// `model` with the weights of a fixture file.
fn load<M: TorchModule>(model: M, file: &str) -> M {
    load_safetensors(model, fixture(file)).unwrap()
}

/// The four models' forward outputs against PyTorch's on `dev` (inference
/// mode: the DCGAN's BatchNorm uses its running statistics).
fn forward_checks(dev: &Device, tolerance: f64) {
    let backend = format!("{dev:?}");
    let image = |io: &BTreeMap<String, TensorData>, key: &str| -> Tensor<2> {
        tensor::<4>(io, key, dev).flatten(1, 3)
    };

    let io = read("mlp_gan.io.safetensors");
    let cfg = MlpGanConfig::new(784);
    let g = load(cfg.init_generator(dev).unwrap(), "mlp_gan_g.safetensors");
    let d = load(
        cfg.init_discriminator(dev).unwrap(),
        "mlp_gan_d.safetensors",
    );
    let what = format!("MLP G(z) on {backend}");
    assert_within(
        &what,
        g.forward(tensor(&io, "z", dev), None),
        &io["fake"],
        tolerance,
    );
    let what = format!("MLP D(x) on {backend}");
    assert_within(
        &what,
        d.forward(image(&io, "real"), None),
        &io["d_real"],
        tolerance,
    );

    let io = read("dcgan.io.safetensors");
    let cfg = DcganConfig::new();
    let g = load(cfg.init_generator(dev).unwrap(), "dcgan_g.safetensors");
    let d = load(cfg.init_discriminator(dev).unwrap(), "dcgan_d.safetensors");
    let what = format!("DCGAN G(z) on {backend}");
    assert_within(
        &what,
        g.forward(tensor(&io, "z", dev), None),
        &io["fake_eval"],
        tolerance,
    );
    let what = format!("DCGAN D(x) on {backend}");
    assert_within(
        &what,
        d.forward(image(&io, "real"), None),
        &io["d_real_eval"],
        tolerance,
    );

    let io = read("conv_vae.io.safetensors");
    let vae = load(
        ConvVaeConfig::new().with_latent_dim(20).init(dev).unwrap(),
        "conv_vae.safetensors",
    );
    let q = vae.encode(image(&io, "x"), None);
    let logits = vae.decode(q.rsample_with(tensor(&io, "eps", dev)), None);
    assert_within(
        &format!("VAE logits on {backend}"),
        logits,
        &io["logits"],
        tolerance,
    );

    let io = read("ddpm_unet.io.safetensors");
    let net = load(
        UNetConfig::compact(28, 1).init(dev).unwrap(),
        "ddpm_unet.safetensors",
    );
    let out = net.forward_images(tensor(&io, "x", dev), tensor(&io, "t", dev), None);
    assert_within(&format!("UNet on {backend}"), out, &io["out"], tolerance);
}

#[test]
fn ndarray_matches_pytorch() {
    forward_checks(&Backend::NdArray.device().unwrap(), TOLERANCE);
}

/// On lavapipe in CI (`--features wgpu`); GPU kernels reorder sums, hence
/// the looser bound.
#[cfg(feature = "wgpu")]
#[test]
fn wgpu_matches_pytorch() {
    forward_checks(&Backend::Wgpu.device().unwrap(), 1e-4);
}
