//! Datasets in memory, and the seeded, parallel, prefetching loader that
//! turns any [`Examples`] into batches on a device.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use burn::tensor::{Device, Int, Tensor, TensorData};
use gen_core::{Batch, BatchSource, SeededRng, error::ensure_nonzero};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::examples::Examples;

/// Examples held in memory as flat `f32` rows, with optional labels.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorDataset {
    data: Vec<f32>,
    item_shape: Vec<usize>,
    labels: Option<Vec<i64>>,
}

impl TensorDataset {
    /// A dataset of `data.len() / prod(item_shape)` examples.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the data is not a whole number of items or
    /// the label count differs from the item count.
    pub fn new(
        data: Vec<f32>,
        item_shape: impl Into<Vec<usize>>,
        labels: Option<Vec<i64>>,
    ) -> Result<Self> {
        let item_shape = item_shape.into();
        let features: usize = item_shape.iter().product();
        let invalid = |reason: String| Error::Invalid {
            source_name: "dataset".into(),
            reason,
        };
        if features == 0 || !data.len().is_multiple_of(features) {
            return Err(invalid(format!(
                "{} values are not a whole number of {item_shape:?} items",
                data.len()
            )));
        }
        let n = data.len() / features;
        if let Some(l) = &labels
            && l.len() != n
        {
            return Err(invalid(format!("{n} items but {} labels", l.len())));
        }
        Ok(Self {
            data,
            item_shape,
            labels,
        })
    }

    /// All values, example after example.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// The labels, if any.
    pub fn labels(&self) -> Option<&[i64]> {
        self.labels.as_deref()
    }

    /// The first `n` examples (or all) as one tensor `[n, features]`.
    pub fn head(&self, n: usize, device: &Device) -> Tensor<2> {
        let n = n.min(self.len());
        let f = self.features();
        Tensor::from_data(TensorData::new(self.data[..n * f].to_vec(), [n, f]), device)
    }
}

impl Examples for TensorDataset {
    fn len(&self) -> usize {
        self.data.len() / self.features()
    }

    fn item_shape(&self) -> Vec<usize> {
        self.item_shape.clone()
    }

    fn features(&self) -> usize {
        self.item_shape.iter().product()
    }

    fn fill(&self, index: usize, _rng: &mut SeededRng, out: &mut [f32]) -> Result<()> {
        let f = out.len();
        out.copy_from_slice(&self.data[index * f..(index + 1) * f]);
        Ok(())
    }

    fn label(&self, index: usize) -> Option<i64> {
        self.labels.as_ref().map(|l| l[index])
    }
}

/// What the loader does with an example that cannot be read (a corrupt
/// image in a large folder).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnBadExample {
    /// Stop with the error, which names the file.
    #[default]
    Fail,
    /// Replace it by the next readable example of the epoch's order, count
    /// it ([`Loader::skipped`]) and report the first ten on stderr.
    Skip,
}

/// One batch assembled on the host: `n` rows of `data`, with `n` labels
/// and `n * k` attributes when present. Shared by the loader and burn's
/// batcher ([`crate::ExampleBatcher`]).
#[derive(Debug)]
pub(crate) struct HostBatch {
    pub(crate) data: Vec<f32>,
    pub(crate) labels: Option<Vec<i64>>,
    pub(crate) attributes: Option<Vec<i64>>,
    pub(crate) n: usize,
}

impl HostBatch {
    /// Uploads the batch to `device` as `[n, features]` (+ labels, attributes).
    pub(crate) fn into_batch(self, features: usize, device: &Device) -> Batch {
        let data = Tensor::from_data(TensorData::new(self.data, [self.n, features]), device);
        let mut batch = Batch::new(data);
        if let Some(l) = self.labels {
            batch = batch.with_labels(Tensor::<1, Int>::from_data(
                TensorData::new(l, [self.n]),
                device,
            ));
        }
        if let Some(a) = self.attributes {
            let k = a.len() / self.n;
            batch = batch.with_attributes(Tensor::<2, Int>::from_data(
                TensorData::new(a, [self.n, k]),
                device,
            ));
        }
        batch
    }
}

/// The unreadable examples found so far, shared with the prefetch thread.
///
/// Kept as a set of example indices: an example that fails again (in a
/// later epoch, a substitution or a rebuilt batch) is neither counted nor
/// reported twice.
#[derive(Debug, Default)]
struct Skips {
    examples: Mutex<BTreeSet<usize>>,
}

/// Everything one batch needs, cheap to clone into a prefetch thread.
struct Job<E> {
    examples: Arc<E>,
    order: Arc<Vec<usize>>,
    range: std::ops::Range<usize>,
    seed: u64,
    epoch: u64,
    policy: OnBadExample,
    skips: Arc<Skips>,
}

impl<E: Examples> Job<E> {
    /// The generator of one example in one epoch.
    fn example_rng(&self, index: usize) -> SeededRng {
        let mixed = self.seed ^ (self.epoch.wrapping_add(1)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        SeededRng::derived(mixed, index as u64)
    }

    fn run(self) -> Result<HostBatch> {
        let features = self.examples.features();
        let n = self.range.len();
        let mut chosen: Vec<usize> = self.order[self.range.clone()].to_vec();
        let mut data = vec![0.0f32; n * features];
        let failures: Vec<(usize, Error)> = data
            .par_chunks_mut(features)
            .zip(chosen.par_iter())
            .enumerate()
            .filter_map(|(slot, (out, &i))| {
                let mut rng = self.example_rng(i);
                self.examples
                    .fill(i, &mut rng, out)
                    .err()
                    .map(|e| (slot, e))
            })
            .collect();
        for (slot, error) in failures {
            if self.policy == OnBadExample::Fail {
                return Err(error);
            }
            self.record(chosen[slot], &error);
            chosen[slot] = self.substitute(
                self.range.end + slot,
                &mut data[slot * features..(slot + 1) * features],
            )?;
        }
        let labels: Option<Vec<i64>> = chosen.iter().map(|&i| self.examples.label(i)).collect();
        let attributes = if self.examples.num_attributes() > 0 {
            let rows: Option<Vec<Vec<i64>>> = chosen
                .iter()
                .map(|&i| self.examples.attributes(i))
                .collect();
            rows.map(|r| r.concat())
        } else {
            None
        };
        Ok(HostBatch {
            data,
            labels,
            attributes,
            n,
        })
    }

    /// The first readable example at or after `start` in the epoch order.
    fn substitute(&self, start: usize, out: &mut [f32]) -> Result<usize> {
        let len = self.order.len();
        for k in 0..len {
            let i = self.order[(start + k) % len];
            let mut rng = self.example_rng(i);
            match self.examples.fill(i, &mut rng, out) {
                Ok(()) => return Ok(i),
                Err(e) => self.record(i, &e),
            }
        }
        Err(Error::Invalid {
            source_name: "dataset".into(),
            reason: "no example could be read".into(),
        })
    }

    /// Notes that example `index` cannot be read; reports the first ten
    /// distinct ones on stderr.
    fn record(&self, index: usize, error: &Error) {
        let mut seen = self
            .skips
            .examples
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if seen.insert(index) && seen.len() <= 10 {
            eprintln!("skipping unreadable example {index}: {error}");
        }
    }
}

/// Batches of any [`Examples`] in a seeded order, decoded in parallel, the
/// next batch prepared in the background while the current one trains.
///
/// Each epoch is a fresh permutation derived from `(seed, epoch)`, and
/// random transforms draw from `(seed, epoch, example)`: any batch can be
/// rebuilt from its index alone, so a resumed run sees the same data as an
/// uninterrupted one. The last partial batch of an epoch is dropped.
pub struct Loader<E = TensorDataset> {
    examples: Arc<E>,
    batch_size: usize,
    seed: u64,
    shuffle: bool,
    prefetch: bool,
    policy: OnBadExample,
    order: Option<(u64, Arc<Vec<usize>>)>,
    pending: Option<(u64, JoinHandle<Result<HostBatch>>)>,
    skips: Arc<Skips>,
}

impl<E> std::fmt::Debug for Loader<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loader")
            .field("batch_size", &self.batch_size)
            .field("seed", &self.seed)
            .field("shuffle", &self.shuffle)
            .field("prefetch", &self.prefetch)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<E: Examples + 'static> Loader<E> {
    /// A shuffling, prefetching loader that fails on unreadable examples.
    ///
    /// # Errors
    /// [`gen_core::Error::InvalidConfig`] for a zero batch size or one larger
    /// than the dataset; [`Error::Invalid`] for examples of no values.
    pub fn new(examples: E, batch_size: usize, seed: u64) -> Result<Self> {
        ensure_nonzero("batch_size", batch_size)?;
        if examples.features() == 0 {
            return Err(Error::Invalid {
                source_name: "dataset".into(),
                reason: format!(
                    "its examples have shape {:?}, which holds no values",
                    examples.item_shape()
                ),
            });
        }
        if batch_size > examples.len() {
            return Err(gen_core::Error::config(
                "batch_size",
                format!(
                    "{batch_size} is larger than the dataset ({} examples)",
                    examples.len()
                ),
            )
            .into());
        }
        Ok(Self {
            examples: Arc::new(examples),
            batch_size,
            seed,
            shuffle: true,
            prefetch: true,
            policy: OnBadExample::Fail,
            order: None,
            pending: None,
            skips: Arc::default(),
        })
    }

    /// Turns shuffling off (batches in dataset order).
    #[must_use]
    pub fn sequential(mut self) -> Self {
        self.shuffle = false;
        self
    }

    /// Turns background prefetching off.
    #[must_use]
    pub fn without_prefetch(mut self) -> Self {
        self.prefetch = false;
        self
    }

    /// Sets the policy for unreadable examples.
    #[must_use]
    pub fn on_bad_example(mut self, policy: OnBadExample) -> Self {
        self.policy = policy;
        self
    }

    /// The dataset.
    pub fn dataset(&self) -> &E {
        &self.examples
    }

    /// The batch size.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// How many distinct unreadable examples were found and skipped so far
    /// (with [`OnBadExample::Skip`]); an example that fails again in a later
    /// batch or epoch counts once.
    pub fn skipped(&self) -> usize {
        self.skips
            .examples
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    fn order(&mut self, epoch: u64) -> Arc<Vec<usize>> {
        match &self.order {
            Some((e, order)) if *e == epoch => order.clone(),
            _ => {
                let n = self.examples.len();
                let order = Arc::new(if self.shuffle {
                    SeededRng::derived(self.seed, epoch).permutation(n)
                } else {
                    (0..n).collect()
                });
                self.order = Some((epoch, order.clone()));
                order
            }
        }
    }

    fn job(&mut self, index: u64) -> Job<E> {
        let per_epoch = (self.examples.len() / self.batch_size) as u64;
        let (epoch, within) = (index / per_epoch, (index % per_epoch) as usize);
        Job {
            examples: self.examples.clone(),
            order: self.order(epoch),
            range: within * self.batch_size..(within + 1) * self.batch_size,
            seed: self.seed,
            epoch,
            policy: self.policy,
            skips: self.skips.clone(),
        }
    }

    /// The example indices of batch `index` (before any substitution of
    /// unreadable examples).
    pub fn indices(&mut self, index: u64) -> Vec<usize> {
        let job = self.job(index);
        job.order[job.range].to_vec()
    }

    fn host_batch(&mut self, index: u64) -> Result<HostBatch> {
        match self.pending.take() {
            Some((i, handle)) if i == index => handle.join().unwrap_or_else(|_| {
                Err(Error::Invalid {
                    source_name: "loader".into(),
                    reason: "the prefetch thread panicked".into(),
                })
            }),
            _ => self.job(index).run(),
        }
    }
}

impl<E: Examples + 'static> BatchSource for Loader<E> {
    fn batches_per_epoch(&self) -> usize {
        self.examples.len() / self.batch_size
    }

    fn batch(&mut self, index: u64, device: &Device) -> gen_core::Result<Batch> {
        let host = self.host_batch(index)?;
        if self.prefetch {
            let job = self.job(index + 1);
            self.pending = Some((index + 1, std::thread::spawn(move || job.run())));
        }
        Ok(host.into_batch(self.examples.features(), device))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(n: usize) -> TensorDataset {
        let labels = (0..n as i64).collect();
        TensorDataset::new((0..n).map(|i| i as f32).collect(), [1], Some(labels)).unwrap()
    }

    #[test]
    fn each_epoch_is_a_permutation_and_batches_are_reproducible() {
        let mut loader = Loader::new(numbers(10), 3, 7).unwrap();
        assert_eq!(loader.batches_per_epoch(), 3);
        let mut seen: Vec<usize> = (0..3).flat_map(|i| loader.indices(i)).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 9, "no example twice within an epoch");
        let epoch1 = loader.indices(3);
        assert_ne!(epoch1, loader.indices(4));
        // Random access: a fresh loader gives the same batch 3 without 0..2.
        let mut fresh = Loader::new(numbers(10), 3, 7).unwrap();
        assert_eq!(fresh.indices(3), epoch1);
        // Labels follow their examples, with and without prefetch, in any order.
        let dev = Device::flex();
        for i in [5u64, 6, 2, 3] {
            let b = fresh.batch(i, &dev).unwrap();
            let x: Vec<f32> = b.data.into_data().try_into_vec().unwrap();
            let l: Vec<i64> = b
                .labels
                .unwrap()
                .into_data()
                .convert::<i64>()
                .try_into_vec()
                .unwrap();
            assert_eq!(x, l.iter().map(|&v| v as f32).collect::<Vec<_>>());
            let expected: Vec<f32> = fresh.indices(i).iter().map(|&v| v as f32).collect();
            assert_eq!(x, expected);
        }
    }

    #[test]
    fn sequential_order() {
        let mut loader = Loader::new(numbers(6), 2, 0).unwrap().sequential();
        assert_eq!(loader.indices(1), vec![2, 3]);
        assert_eq!(loader.indices(3), vec![0, 1]);
    }

    #[test]
    fn invalid_batch_sizes_are_typed_errors() {
        let e = Loader::new(numbers(4), 0, 0).unwrap_err().to_string();
        assert!(e.contains("batch_size") && e.contains("at least 1"), "{e}");
        let e = Loader::new(numbers(4), 5, 0).unwrap_err().to_string();
        assert!(e.contains("larger than the dataset"), "{e}");
        assert!(TensorDataset::new(vec![0.0; 5], [2], None).is_err());
        assert!(TensorDataset::new(vec![0.0; 4], [2], Some(vec![1])).is_err());
    }

    /// Five examples of shape `[0, 28]`.
    struct Hollow;
    impl Examples for Hollow {
        fn len(&self) -> usize {
            5
        }
        fn item_shape(&self) -> Vec<usize> {
            vec![0, 28]
        }
        fn fill(&self, _: usize, _: &mut SeededRng, _: &mut [f32]) -> Result<()> {
            Ok(())
        }
    }

    #[test]
    fn examples_of_no_values_are_refused() {
        // A batch of them once panicked (`chunk_size must not be zero`).
        match Loader::new(Hollow, 2, 0) {
            Err(Error::Invalid { reason, .. }) => {
                assert!(reason.contains("holds no values"), "{reason}");
            }
            Err(other) => panic!("expected Error::Invalid, got {other}"),
            Ok(_) => panic!("a loader of empty examples was built"),
        }
    }

    /// Examples 3 and 4 cannot be read.
    struct Flaky;
    impl Examples for Flaky {
        fn len(&self) -> usize {
            8
        }
        fn item_shape(&self) -> Vec<usize> {
            vec![1]
        }
        fn fill(&self, index: usize, _: &mut SeededRng, out: &mut [f32]) -> Result<()> {
            if index == 3 || index == 4 {
                return Err(Error::Image {
                    path: format!("img{index}.png").into(),
                    reason: "corrupt".into(),
                });
            }
            out[0] = index as f32;
            Ok(())
        }
    }

    #[test]
    fn bad_examples_fail_or_are_skipped_and_counted() {
        let dev = Device::flex();
        let mut strict = Loader::new(Flaky, 8, 0).unwrap().sequential();
        let e = strict.batch(0, &dev).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("img3.png") || text.contains("img4.png"),
            "{text}"
        );
        // The image error keeps its type through gen-core's error.
        assert!(
            matches!(e.downcast_ref::<Error>(), Some(Error::Image { .. })),
            "{e:?}"
        );

        let mut lenient = Loader::new(Flaky, 4, 0)
            .unwrap()
            .sequential()
            .without_prefetch()
            .on_bad_example(OnBadExample::Skip);
        let x: Vec<f32> = lenient
            .batch(0, &dev)
            .unwrap()
            .data
            .into_data()
            .try_into_vec()
            .unwrap();
        assert_eq!(x.len(), 4);
        assert!(!x.contains(&3.0) && !x.contains(&4.0), "{x:?}");
        // Batch 0 holds the bad example 3; batch 1 holds 4: each counts once,
        // however often it is met again (prefetch, later epochs).
        assert_eq!(lenient.skipped(), 1);
        for i in 1..6 {
            lenient.batch(i, &dev).unwrap();
        }
        assert_eq!(lenient.skipped(), 2);
    }

    /// One bad image among three, batches of two: counted once.
    struct OneBad;
    impl Examples for OneBad {
        fn len(&self) -> usize {
            3
        }
        fn item_shape(&self) -> Vec<usize> {
            vec![1]
        }
        fn fill(&self, index: usize, _: &mut SeededRng, out: &mut [f32]) -> Result<()> {
            if index == 1 {
                return Err(Error::Image {
                    path: "bad.png".into(),
                    reason: "corrupt".into(),
                });
            }
            out[0] = index as f32;
            Ok(())
        }
    }

    #[test]
    fn a_bad_example_counts_once() {
        let dev = Device::flex();
        let mut loader = Loader::new(OneBad, 2, 3)
            .unwrap()
            .on_bad_example(OnBadExample::Skip);
        for i in 0..6 {
            loader.batch(i, &dev).unwrap();
        }
        assert_eq!(loader.skipped(), 1);
    }
}
