//! Data loading throughput:
//!
//! - `decode/celeba_jpeg_64`: decoded images per second from a folder of
//!   178x218 JPEGs in the CelebA layout, centre-cropped and resized to 64x64
//!   RGB, through the loader's parallel decode (batch 64, no prefetch so the
//!   decode itself is measured). The folder (512 images) is generated in a
//!   temporary directory first.
//! - `decode/orl_pgm_64`: the same for the ORL faces (92x112 grey PGM), when
//!   ../shared/data/orl-faces is present.
//! - `mnist/load_train`: reading, checking (sha256) and decoding MNIST's
//!   training split, when ../shared/data/mnist is present.
//!
//! ```text
//! cargo bench --bench data
//! ```

use std::path::PathBuf;
use std::time::Duration;

use burn::tensor::Device;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use generative::core::BatchSource;
use generative::data::{
    CelebA, CelebASplit, Channels, Examples, IdxImages, IdxKind, ImageFolder, Loader, Split,
    Transform, Verify, celeba,
};

const BATCH: usize = 64;

fn shared(sub: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(sub);
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("{} not present: its benchmark is skipped", dir.display());
        None
    }
}

fn throughput<E: Examples + 'static>(c: &mut Criterion, name: &str, examples: E) {
    let device = Device::flex();
    let mut loader = Loader::new(examples, BATCH, 0).unwrap().without_prefetch();
    let per_epoch = loader.batches_per_epoch() as u64;
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.measurement_time(Duration::from_secs(10));
    let mut i = 0;
    group.bench_function(name, |b| {
        b.iter(|| {
            i = (i + 1) % per_epoch;
            loader.batch(i, &device).unwrap()
        })
    });
    group.finish();
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    celeba::write_fixture(dir.path(), 512, 40).unwrap();
    let transform = Transform::new()
        .square(64)
        .channels(Channels::Rgb)
        .random_hflip();
    let faces = CelebA::new()
        .split(CelebASplit::All)
        .open(dir.path(), transform)
        .unwrap();
    throughput(c, "celeba_jpeg_64", faces);

    if let Some(orl) = shared("orl-faces") {
        let faces = ImageFolder::open(orl, Transform::new().square(64)).unwrap();
        throughput(c, "orl_pgm_64", faces);
    }

    if let Some(mnist) = shared("mnist") {
        let mut group = c.benchmark_group("mnist");
        group.sample_size(10);
        group.bench_function("load_train", |b| {
            b.iter(|| {
                IdxImages::load(IdxKind::Mnist, &mnist, Split::Train, Verify::Strict).unwrap()
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
