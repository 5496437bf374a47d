//! The real datasets at ../shared/data, when present (they are not on a
//! user's machine, and these tests then say so and pass): MNIST's counts,
//! label histograms and checksums against ../shared/data/README.md, and the
//! ORL faces through the image-folder code.

use std::path::PathBuf;

use burn::tensor::Device;
use gen_core::BatchSource;
use gen_data::{
    Examples, IdxExamples, IdxImages, IdxKind, ImageFolder, Loader, Split, Transform, Verify,
};

fn shared(sub: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(sub);
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("{} not present: skipped", dir.display());
        None
    }
}

#[test]
fn mnist_counts_histograms_and_checksums() {
    let Some(dir) = shared("mnist") else { return };
    let train = IdxImages::load(IdxKind::Mnist, &dir, Split::Train, Verify::Strict).unwrap();
    let test = IdxImages::load(IdxKind::Mnist, &dir, Split::Test, Verify::Strict).unwrap();
    assert_eq!((train.len(), test.len()), (60_000, 10_000));
    assert_eq!((train.rows, train.cols), (28, 28));
    assert_eq!(
        train.label_histogram(),
        [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
    assert_eq!(
        test.label_histogram(),
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
    // The published checksums are the ones in the code (Verify::Strict
    // passed above); a modified copy is refused unless accepted.
    let copy = tempfile::tempdir().unwrap();
    for f in IdxKind::Mnist.files() {
        let name = format!("{}.gz", f.name);
        std::fs::copy(dir.join(&name), copy.path().join(&name)).unwrap();
    }
    let labels = copy.path().join("t10k-labels-idx1-ubyte.gz");
    let raw = gen_data::idx::read(&labels, 1).unwrap();
    let mut modified = raw.data.clone();
    modified[0] = (modified[0] + 1) % 10;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &gen_data::idx::encode(&raw.dims, &modified)).unwrap();
    std::fs::write(&labels, gz.finish().unwrap()).unwrap();
    let err =
        IdxImages::load(IdxKind::Mnist, copy.path(), Split::Test, Verify::Strict).unwrap_err();
    assert!(err.to_string().contains("is not the published"), "{err}");
    let accepted = IdxImages::load(
        IdxKind::Mnist,
        copy.path(),
        Split::Test,
        Verify::AcceptModified,
    )
    .unwrap();
    assert_eq!(accepted.labels[0], modified[0]);
}

#[test]
fn mnist_batches_on_a_device() {
    let Some(dir) = shared("mnist") else { return };
    let test = IdxImages::load(IdxKind::Mnist, &dir, Split::Test, Verify::Strict).unwrap();
    let examples = IdxExamples::new(test, Transform::new().resize(32));
    assert_eq!(examples.item_shape(), vec![1, 32, 32]);
    let mut loader = Loader::new(examples, 100, 0).unwrap();
    assert_eq!(loader.batches_per_epoch(), 100);
    let batch = loader.batch(0, &Device::flex()).unwrap();
    assert_eq!(batch.data.dims(), [100, 32 * 32]);
    assert_eq!(batch.labels.unwrap().dims(), [100]);
}

#[test]
fn orl_faces_load_as_a_class_folder() {
    let Some(dir) = shared("orl-faces") else {
        return;
    };
    let faces = ImageFolder::open(&dir, Transform::new()).unwrap();
    assert_eq!(faces.len(), 400);
    assert_eq!(faces.class_names().len(), 40);
    assert_eq!(faces.class_names()[..3], ["s1", "s2", "s3"]);
    assert_eq!(faces.item_shape(), vec![1, 112, 92]);
    let square = ImageFolder::open(&dir, Transform::new().square(64).random_hflip()).unwrap();
    let mut loader = Loader::new(square, 40, 1).unwrap();
    let batch = loader.batch(0, &Device::flex()).unwrap();
    assert_eq!(batch.data.dims(), [40, 64 * 64]);
    let labels: Vec<i64> = batch
        .labels
        .unwrap()
        .into_data()
        .convert::<i64>()
        .try_into_vec()
        .unwrap();
    assert!(labels.iter().all(|&l| (0..40).contains(&l)));
}
