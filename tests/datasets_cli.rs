//! The image examples on any dataset gen-data reads, end to end for a few
//! steps: generated image folders (grey and RGB, two sizes, with classes),
//! a generated IDX pair named as MNIST, and the CelebA fixture; the
//! mistakes a user makes exit with code 1 and a message naming the flag to
//! use; every run draws its curves.
//!
//! `cargo test` builds the examples first; this runs the ones it built.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn example(name: &str) -> PathBuf {
    common::example_binary(name)
}

fn run(name: &str, args: &[&str], out: &Path) -> Output {
    Command::new(example(name))
        .args(args)
        .args(["--device", "flex", "--out"])
        .arg(out)
        .env_remove("GEN_DEVICE")
        .output()
        .unwrap()
}

fn succeeds(name: &str, args: &[&str], out: &Path) -> String {
    let result = run(name, args, out);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success(), "{name} {args:?}: {stderr}");
    // The run drew its curves, and they decode.
    image::open(out.join("curves.png")).unwrap_or_else(|e| panic!("{name} {args:?}: {e}"));
    String::from_utf8_lossy(&result.stdout).into_owned() + &stderr
}

fn exited_0(result: Output) {
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success(), "{stderr}");
}

fn fails(name: &str, args: &[&str], expected: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let result = run(name, args, tmp.path());
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(1), "{name} {args:?}: {stderr}");
    assert!(
        !stderr.contains("panicked"),
        "{name} {args:?} panicked: {stderr}"
    );
    assert!(
        stderr.contains(expected),
        "{name} {args:?}: `{stderr}` should say `{expected}`"
    );
}

/// `root/<class>/<i>.png`: 2 classes of 12 images, `side` pixels, grey or RGB.
fn image_folder(root: &Path, side: u32, rgb: bool) -> String {
    image_folder_of(root, side, rgb, 12)
}

/// [`image_folder`] with `per_class` images in each class.
fn image_folder_of(root: &Path, side: u32, rgb: bool, per_class: u32) -> String {
    for class in ["cats", "dogs"] {
        fs::create_dir_all(root.join(class)).unwrap();
        for i in 0..per_class {
            let path = root.join(class).join(format!("{i}.png"));
            let shade = |x: u32, y: u32| ((x * 7 + y * 3 + i * 20) % 256) as u8;
            if rgb {
                image::RgbImage::from_fn(side, side, |x, y| {
                    image::Rgb([shade(x, y), 80, shade(y, x)])
                })
                .save(path)
                .unwrap();
            } else {
                image::GrayImage::from_fn(side, side, |x, y| image::Luma([shade(x, y)]))
                    .save(path)
                    .unwrap();
            }
        }
    }
    root.display().to_string()
}

/// The four MNIST-named IDX files, 24 train and 12 test 28x28 images.
fn idx_pair(root: &Path) -> String {
    fs::create_dir_all(root).unwrap();
    for (prefix, n) in [("train", 24usize), ("t10k", 12)] {
        let pixels: Vec<u8> = (0..n * 784).map(|i| (i * 13 % 256) as u8).collect();
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        let images = generative::data::idx::encode(&[n, 28, 28], &pixels);
        let labels = generative::data::idx::encode(&[n], &labels);
        fs::write(root.join(format!("{prefix}-images-idx3-ubyte")), images).unwrap();
        fs::write(root.join(format!("{prefix}-labels-idx1-ubyte")), labels).unwrap();
    }
    root.display().to_string()
}

#[test]
fn gan_vae_and_diffusion_train_on_folders_of_two_sizes_grey_and_rgb() {
    let tmp = tempfile::tempdir().unwrap();
    let grey = image_folder(&tmp.path().join("grey28"), 28, false);
    let rgb = image_folder(&tmp.path().join("rgb32"), 32, true);
    fn folder(d: &str) -> impl Iterator<Item = &str> {
        ["--dataset", "folder", "--data", d].into_iter()
    }
    let out = |n: &str| tmp.path().join(n);

    let mut gan: Vec<&str> = folder(&rgb).collect();
    gan.extend([
        "--steps",
        "2",
        "--batch-size",
        "4",
        "--conditional",
        "--eval-samples",
        "0",
    ]);
    let log = succeeds("gan_mnist", &gan, &out("gan-rgb"));
    assert!(
        log.contains("folder (22 images 3x32x32, 2 classes)"),
        "{log}"
    );
    let grid = image::open(out("gan-rgb").join("samples-final.png")).unwrap();
    assert_eq!(
        grid.color(),
        image::ColorType::Rgb8,
        "an RGB dataset gives an RGB grid"
    );
    let mut gan: Vec<&str> = folder(&grey).collect();
    gan.extend(["--steps", "2", "--batch-size", "4", "--eval-samples", "0"]);
    succeeds("gan_mnist", &gan, &out("gan-grey"));

    let mut vae: Vec<&str> = folder(&grey).collect();
    vae.extend([
        "--model",
        "conv",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--conditional",
    ]);
    vae.extend(["--quality-samples", "0"]);
    let log = succeeds("vae_mnist", &vae, &out("vae-grey"));
    assert!(log.contains("nats per image"), "{log}");
    let mut vae: Vec<&str> = folder(&rgb).collect();
    vae.extend([
        "--model",
        "conv",
        "--size",
        "64",
        "--epochs",
        "1",
        "--batch-size",
        "8",
    ]);
    vae.extend(["--quality-samples", "0"]);
    succeeds("vae_mnist", &vae, &out("vae-rgb64"));

    let small_unet = [
        "--layout",
        "compact",
        "--channels",
        "8",
        "--batch-size",
        "4",
        "--steps",
        "2",
    ];
    let sampling = [
        "--samplers",
        "ddim2",
        "--eval-samples",
        "0",
        "--vlb-images",
        "0",
    ];
    let mut diffusion: Vec<&str> = folder(&rgb).collect();
    diffusion.extend(small_unet.iter().chain(&sampling).copied());
    diffusion.push("--conditional");
    succeeds("diffusion_mnist", &diffusion, &out("diffusion-rgb"));
    let mut diffusion: Vec<&str> = folder(&grey).collect();
    diffusion.extend(small_unet.iter().chain(&sampling).copied());
    succeeds("diffusion_mnist", &diffusion, &out("diffusion-grey"));
}

#[test]
fn an_idx_pair_and_the_celeba_layout_train() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = idx_pair(&tmp.path().join("idx"));
    // Not the published MNIST files: accepted when asked, scored by the
    // MNIST classifier (28x28 grey).
    let args = [
        "--data",
        &idx,
        "--accept-modified",
        "--steps",
        "2",
        "--batch-size",
        "4",
    ];
    let mut gan = args.to_vec();
    gan.extend(["--model", "mlp", "--eval-samples", "8"]);
    let log = succeeds("gan_mnist", &gan, &tmp.path().join("gan-idx"));
    assert!(log.contains("classifier-FID"), "{log}");
    let mut vae = vec![
        "--data",
        &idx,
        "--accept-modified",
        "--epochs",
        "1",
        "--batch-size",
        "4",
    ];
    vae.extend(["--quality-samples", "8"]);
    succeeds("vae_mnist", &vae, &tmp.path().join("vae-idx"));
    let mut diffusion = args.to_vec();
    diffusion.extend(["--layout", "compact", "--channels", "8"]);
    diffusion.extend(["--samplers", "ddim2", "--eval-samples", "8"]);
    diffusion.extend(["--vlb-images", "0"]);
    let log = succeeds(
        "diffusion_mnist",
        &diffusion,
        &tmp.path().join("diffusion-idx"),
    );
    assert!(log.contains("classifier-FID"), "{log}");

    // Another 28x28 grey labelled set scores with a classifier from a file
    // (here the embedded MNIST one, saved as train_classifier saves).
    let weights = tmp.path().join("classifier.bpk");
    generative::eval::classifier::MnistClassifier::pretrained(&burn::tensor::Device::flex())
        .unwrap()
        .save(&weights)
        .unwrap();
    let weights = weights.display().to_string();
    let fashion = [
        "--dataset",
        "fashion-mnist",
        "--data",
        &idx,
        "--accept-modified",
    ];
    let mut gan = fashion.to_vec();
    gan.extend(["--model", "mlp", "--steps", "2", "--batch-size", "4"]);
    gan.extend(["--eval-samples", "8", "--classifier", &weights]);
    let log = succeeds("gan_mnist", &gan, &tmp.path().join("gan-fashion"));
    assert!(log.contains("classifier-FID"), "{log}");
    // A labelled folder of 28x28 grey images scores its samples against its
    // own held-out images (8 of 80: more than precision/recall's k).
    let folder = image_folder_of(&tmp.path().join("grey28"), 28, false, 40);
    let vae = [
        "--dataset",
        "folder",
        "--data",
        &folder,
        "--epochs",
        "1",
        "--batch-size",
        "8",
    ];
    let mut vae = vae.to_vec();
    vae.extend(["--quality-samples", "8", "--classifier", &weights]);
    let log = succeeds("vae_mnist", &vae, &tmp.path().join("vae-folder-scored"));
    assert!(log.contains("classifier-FID"), "{log}");
    // train_classifier on that folder, and refused at another size.
    let classify = ["--dataset", "folder", "--data", &folder, "--epochs", "1"];
    let mut train = classify.to_vec();
    train.extend(["--batch-size", "8"]);
    exited_0(run(
        "train_classifier",
        &train,
        &tmp.path().join("folder.bpk"),
    ));
    assert!(tmp.path().join("folder.bpk").is_file());
    let mut wrong = classify.to_vec();
    wrong.extend(["--size", "32"]);
    fails("train_classifier", &wrong, "pass --size 28 --color grey");
    let mut gan = fashion.to_vec();
    gan.extend([
        "--model",
        "mlp",
        "--steps",
        "2",
        "--batch-size",
        "4",
        "--eval-samples",
        "8",
    ]);
    let log = succeeds("gan_mnist", &gan, &tmp.path().join("gan-fashion-unscored"));
    assert!(
        log.contains("no classifier fits --dataset fashion-mnist"),
        "{log}"
    );
    assert!(log.contains("--classifier FILE"), "{log}");

    // train_classifier on the pair saves weights the examples then read.
    let trained = tmp.path().join("trained.bpk");
    let mut train = args[..3].to_vec();
    train.extend(["--epochs", "1", "--batch-size", "8"]);
    exited_0(run("train_classifier", &train, &trained));
    let trained = trained.display().to_string();
    let mut gan = fashion.to_vec();
    gan.extend(["--model", "mlp", "--steps", "2", "--batch-size", "4"]);
    gan.extend(["--eval-samples", "8", "--classifier", &trained]);
    let log = succeeds("gan_mnist", &gan, &tmp.path().join("gan-trained"));
    assert!(log.contains("classifier-FID"), "{log}");

    // plot draws several runs on one chart.
    let chart = tmp.path().join("compare.svg");
    let result = Command::new(example("plot"))
        .arg(tmp.path().join("gan-idx"))
        .arg(tmp.path().join("gan-trained"))
        .args(["--metrics", "loss_d,loss_g", "--out"])
        .arg(&chart)
        .output()
        .unwrap();
    exited_0(result);
    let svg = fs::read_to_string(&chart).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("loss_d"),
        "{svg:.200}"
    );

    let celeba = tmp.path().join("celeba");
    generative::data::celeba::write_fixture(&celeba, 12, 3).unwrap();
    let celeba = celeba.display().to_string();
    let gan = [
        "--dataset",
        "celeba",
        "--data",
        &celeba,
        "--size",
        "32",
        "--steps",
        "2",
    ];
    let mut gan = gan.to_vec();
    gan.extend(["--batch-size", "2", "--eval-samples", "0"]);
    let log = succeeds("gan_mnist", &gan, &tmp.path().join("gan-celeba"));
    assert!(log.contains("3x32x32"), "{log}");
    let celeba_args = [
        "--dataset",
        "celeba",
        "--data",
        &celeba,
        "--batch-size",
        "2",
    ];
    let mut vae = celeba_args.to_vec();
    vae.extend(["--model", "conv", "--epochs", "1", "--quality-samples", "0"]);
    let log = succeeds("vae_mnist", &vae, &tmp.path().join("vae-celeba"));
    assert!(
        log.contains("3x64x64"),
        "the CelebA default is 64x64 RGB: {log}"
    );
    let mut diffusion = celeba_args.to_vec();
    diffusion.extend([
        "--size",
        "32",
        "--layout",
        "compact",
        "--channels",
        "8",
        "--steps",
        "2",
    ]);
    diffusion.extend([
        "--samplers",
        "ddim2",
        "--eval-samples",
        "0",
        "--vlb-images",
        "0",
    ]);
    succeeds(
        "diffusion_mnist",
        &diffusion,
        &tmp.path().join("diffusion-celeba"),
    );
}

#[test]
fn mistakes_name_the_flag_to_use() {
    let tmp = tempfile::tempdir().unwrap();
    fails(
        "gan_mnist",
        &["--dataset", "cifar"],
        "pass --dataset mnist, fashion-mnist, folder or celeba",
    );
    let empty = tmp.path().join("empty");
    fs::create_dir_all(&empty).unwrap();
    let empty = empty.display().to_string();
    fails(
        "vae_mnist",
        &["--dataset", "folder", "--data", &empty],
        "pass --data <a folder of images>",
    );
    let mixed = tmp.path().join("mixed");
    fs::create_dir_all(&mixed).unwrap();
    image::GrayImage::new(28, 28)
        .save(mixed.join("a.png"))
        .unwrap();
    image::GrayImage::new(30, 40)
        .save(mixed.join("b.png"))
        .unwrap();
    let mixed = mixed.display().to_string();
    fails(
        "diffusion_mnist",
        &["--dataset", "folder", "--data", &mixed],
        "pass --size N",
    );
    fails(
        "gan_mnist",
        &[
            "--dataset",
            "folder",
            "--data",
            &mixed,
            "--size",
            "28",
            "--conditional",
        ],
        "drop --conditional",
    );
    let idx = idx_pair(&tmp.path().join("idx"));
    fails("gan_mnist", &["--data", &idx], "pass --accept-modified");
    // Files that are neither set's: the message names both ways out.
    fails(
        "vae_mnist",
        &["--data", &idx],
        "pass --dataset fashion-mnist",
    );
    fails(
        "gan_mnist",
        &["--dataset", "fashion-mnist", "--data", &idx],
        "pass --accept-modified",
    );
    fails(
        "train_classifier",
        &["--size", "32"],
        "drop --size and --color",
    );
    let not_weights = tmp.path().join("notes.txt");
    fs::write(&not_weights, "not weights").unwrap();
    let not_weights = not_weights.display().to_string();
    let scored = [
        "--data",
        &idx,
        "--accept-modified",
        "--model",
        "mlp",
        "--steps",
        "1",
    ];
    let mut bad = scored.to_vec();
    bad.extend(["--batch-size", "4", "--classifier", &not_weights]);
    fails(
        "gan_mnist",
        &bad,
        "is not a classifier saved by train_classifier",
    );
    fails(
        "gan_mnist",
        &["--data", &tmp.path().join("none").display().to_string()],
        "pass --data <the folder",
    );
    fails(
        "gan_mnist",
        &["--data", &idx, "--accept-modified", "--color", "rgb"],
        "drop --color rgb",
    );
    fails(
        "gan_mnist",
        &["--data", &idx, "--accept-modified", "--size", "40"],
        "pass --size 32",
    );
}
