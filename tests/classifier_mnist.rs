//! The pretrained MNIST classifier of the sample-quality metrics against the
//! real MNIST test set at ../shared/data/mnist, when present (it is not on a
//! user's machine, and the tests then say so and pass). The tests that need
//! no data are in gen-core (`classifier.rs`, `classifier/quality.rs`).

use std::path::PathBuf;

use burn::tensor::{Device, Tensor, TensorData};
use generative::data::{IdxImages, IdxKind, Split, Verify};
use generative::eval::classifier::{ImageQuality, MnistClassifier, QualityConfig};

fn mnist() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("{} not present: skipped", dir.display());
        None
    }
}

fn images(set: &IdxImages, range: std::ops::Range<usize>, device: &Device) -> Tensor<4> {
    blurred(set, range, 0, device)
}

/// The images in `[0, 1]`, each averaged over `(2 r + 1)^2` neighbourhoods
/// (zero padding; `r = 0` leaves them as they are).
fn blurred(set: &IdxImages, range: std::ops::Range<usize>, r: isize, device: &Device) -> Tensor<4> {
    let n = range.len();
    let side = (2 * r + 1) as f32;
    let mut px = Vec::with_capacity(n * 784);
    for i in range {
        let img = set.image(i);
        for y in 0..28isize {
            for x in 0..28isize {
                let mut sum = 0.0;
                for sy in (y - r).max(0)..=(y + r).min(27) {
                    for sx in (x - r).max(0)..=(x + r).min(27) {
                        sum += f32::from(img[(sy * 28 + sx) as usize]);
                    }
                }
                px.push(sum / 255.0 / (side * side));
            }
        }
    }
    Tensor::from_data(TensorData::new(px, [n, 1, 28, 28]), device)
}

#[test]
fn pretrained_classifier_reaches_99_percent_on_the_test_set() {
    let Some(dir) = mnist() else { return };
    let test = IdxImages::load(IdxKind::Mnist, &dir, Split::Test, Verify::Strict).unwrap();
    let device = Device::flex();
    let net = MnistClassifier::pretrained(&device).unwrap();
    let mut correct = 0;
    for start in (0..test.len()).step_by(1000) {
        let end = (start + 1000).min(test.len());
        let pred = net
            .logits(images(&test, start..end, &device))
            .unwrap()
            .argmax(1);
        let pred: Vec<i64> = pred.into_data().convert::<i64>().try_into_vec().unwrap();
        correct += pred
            .iter()
            .zip(&test.labels[start..end])
            .filter(|(p, l)| **p == i64::from(**l))
            .count();
    }
    let accuracy = correct as f64 / test.len() as f64;
    eprintln!(
        "pretrained classifier: test accuracy {:.2}%",
        100.0 * accuracy
    );
    assert!(accuracy >= 0.99, "test accuracy {accuracy}");
}

#[test]
fn real_digits_score_as_real_and_blur_is_worse() {
    let Some(dir) = mnist() else { return };
    let test = IdxImages::load(IdxKind::Mnist, &dir, Split::Test, Verify::Strict).unwrap();
    let device = Device::flex();
    let quality = ImageQuality::pretrained(
        QualityConfig::new()
            .with_kid_subsets(5)
            .with_kid_subset_size(200)
            .with_pr_samples(300),
        &device,
    )
    .unwrap();
    let reference = quality.embed(images(&test, 0..1000, &device)).unwrap();
    let same = quality
        .evaluate(images(&test, 1000..2000, &device), &reference)
        .unwrap();
    let blur = quality
        .evaluate(blurred(&test, 1000..2000, 1, &device), &reference)
        .unwrap();
    assert!(same.classifier_score > 8.0, "{same:?}");
    assert_eq!(same.coverage.classes_covered, 10);
    assert!(same.precision > 0.6 && same.recall > 0.6, "{same:?}");
    assert!(same.density > 0.7 && same.knn_coverage > 0.7, "{same:?}");
    assert!(blur.recall < same.recall && blur.knn_coverage < same.knn_coverage);
    assert!(blur.fid > 3.0 * same.fid, "{} vs {}", blur.fid, same.fid);
    assert!(blur.kid_mean > same.kid_mean, "{blur:?}");
}
