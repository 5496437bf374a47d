//! Replays the corpus of malformed files (tests/corpus): every one gives a
//! typed error that names it, never a panic, and a folder holding one is
//! either refused or skipped-and-counted.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use gen_core::BatchSource;
use gen_data::{Error, ImageFolder, Loader, OnBadExample, Transform, folder, idx};

fn corpus(sub: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(sub);
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 10, "corpus {sub} is missing files");
    files
}

#[test]
fn every_bad_idx_file_is_a_format_error_naming_it() {
    for path in corpus("idx") {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        // `wrong-rank` is a good rank-1 file: bad only where 3 dimensions are expected.
        let ranks: &[usize] = if name.starts_with("wrong-rank") {
            &[3]
        } else {
            &[1, 3]
        };
        for &rank in ranks {
            match idx::read(&path, rank) {
                Err(Error::Format { path: p, reason }) => {
                    assert!(p.to_string_lossy().contains(&name), "{name}: {reason}");
                }
                other => panic!("{name} (rank {rank}): expected a format error, got {other:?}"),
            }
        }
    }
}

#[test]
fn every_bad_image_is_an_image_error_naming_it() {
    for path in corpus("image") {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let err = folder::decode_file(&path).expect_err(&name);
        assert!(matches!(err, Error::Image { .. }), "{name}: {err}");
        assert!(err.to_string().contains(&name), "{err}");
    }
}

#[test]
fn a_bad_image_in_a_folder_fails_or_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..6 {
        image::GrayImage::from_pixel(8, 8, image::Luma([i * 40]))
            .save(dir.path().join(format!("{i}.png")))
            .unwrap();
    }
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/image/png-cut.png"),
        dir.path().join("3.png"),
    )
    .unwrap();
    let dev = Device::flex();
    let ds = ImageFolder::open(dir.path(), Transform::new()).unwrap();
    let mut strict = Loader::new(ds.clone(), 6, 0).unwrap().sequential();
    let err = strict.batch(0, &dev).unwrap_err().to_string();
    assert!(err.contains("3.png"), "{err}");

    let mut lenient = Loader::new(ds, 3, 0)
        .unwrap()
        .sequential()
        .on_bad_example(OnBadExample::Skip);
    for i in 0..4 {
        assert_eq!(lenient.batch(i, &dev).unwrap().data.dims(), [3, 64]);
    }
    // Met in both epochs (and by the prefetch), 3.png is one unreadable example.
    assert_eq!(lenient.skipped(), 1, "3.png counts once");
}

#[test]
fn an_mnist_folder_with_a_zero_dimension_never_reaches_the_loader() {
    // Five images of 0x28 under MNIST's names: refused when the set is
    // loaded (the loader once panicked on examples of no values).
    use gen_data::mnist::{IdxImages, IdxKind, Split, Verify};
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("train-images-idx3-ubyte"),
        idx::encode(&[5, 0, 28], &[]),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("train-labels-idx1-ubyte"),
        idx::encode(&[5], &[1, 2, 3, 4, 5]),
    )
    .unwrap();
    match IdxImages::load(
        IdxKind::Mnist,
        dir.path(),
        Split::Train,
        Verify::AcceptModified,
    ) {
        Err(Error::Format { path, reason }) => {
            assert!(path.ends_with("train-images-idx3-ubyte"), "{path:?}");
            assert!(reason.contains("is 0"), "{reason}");
        }
        other => panic!("expected a format error, got {:?}", other.map(|_| ())),
    }
}
