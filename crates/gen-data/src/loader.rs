//! In-memory datasets and a seeded, random-access batch loader.

use burn::tensor::{Device, Int, Tensor, TensorData};
use gen_core::{Batch, BatchSource, SeededRng, error::ensure_nonzero};

use crate::error::{Error, Result};

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

    /// The number of examples.
    pub fn len(&self) -> usize {
        self.data.len() / self.features()
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Values per example.
    pub fn features(&self) -> usize {
        self.item_shape.iter().product()
    }

    /// The shape of one example (e.g. `[1, 8, 8]`).
    pub fn item_shape(&self) -> &[usize] {
        &self.item_shape
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

    /// Gathers the examples at `indices` into a batch on `device`.
    pub fn gather(&self, indices: &[usize], device: &Device) -> Batch {
        let f = self.features();
        let mut values = Vec::with_capacity(indices.len() * f);
        for &i in indices {
            values.extend_from_slice(&self.data[i * f..(i + 1) * f]);
        }
        let data = Tensor::from_data(TensorData::new(values, [indices.len(), f]), device);
        let labels = self.labels.as_ref().map(|l| {
            let picked: Vec<i64> = indices.iter().map(|&i| l[i]).collect();
            Tensor::<1, Int>::from_data(TensorData::new(picked, [indices.len()]), device)
        });
        Batch { data, labels }
    }
}

/// Batches of a [`TensorDataset`] in a seeded order: each epoch is a fresh
/// permutation derived from `(seed, epoch)`, so any batch can be rebuilt
/// from its index alone and a resumed run sees the same data as an
/// uninterrupted one. The last partial batch of an epoch is dropped.
#[derive(Clone, Debug)]
pub struct Loader {
    dataset: TensorDataset,
    batch_size: usize,
    seed: u64,
    shuffle: bool,
    order: Option<(u64, Vec<usize>)>,
}

impl Loader {
    /// A shuffling loader.
    ///
    /// # Errors
    /// [`gen_core::Error::InvalidConfig`] for a zero batch size or one larger
    /// than the dataset.
    pub fn new(dataset: TensorDataset, batch_size: usize, seed: u64) -> Result<Self> {
        ensure_nonzero("batch_size", batch_size)?;
        if batch_size > dataset.len() {
            return Err(gen_core::Error::config(
                "batch_size",
                format!(
                    "{batch_size} is larger than the dataset ({} examples)",
                    dataset.len()
                ),
            )
            .into());
        }
        Ok(Self {
            dataset,
            batch_size,
            seed,
            shuffle: true,
            order: None,
        })
    }

    /// Turns shuffling off (batches in dataset order).
    #[must_use]
    pub fn sequential(mut self) -> Self {
        self.shuffle = false;
        self
    }

    /// The dataset.
    pub fn dataset(&self) -> &TensorDataset {
        &self.dataset
    }

    /// The batch size.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// The example indices of batch `index`.
    pub fn indices(&mut self, index: u64) -> &[usize] {
        let per_epoch = self.batches_per_epoch() as u64;
        let (epoch, within) = (index / per_epoch, (index % per_epoch) as usize);
        if self.order.as_ref().is_none_or(|(e, _)| *e != epoch) {
            let n = self.dataset.len();
            let order = if self.shuffle {
                SeededRng::derived(self.seed, epoch).permutation(n)
            } else {
                (0..n).collect()
            };
            self.order = Some((epoch, order));
        }
        let order = &self.order.as_ref().expect("set above").1;
        &order[within * self.batch_size..(within + 1) * self.batch_size]
    }
}

impl BatchSource for Loader {
    fn batches_per_epoch(&self) -> usize {
        self.dataset.len() / self.batch_size
    }

    fn batch(&mut self, index: u64, device: &Device) -> gen_core::Result<Batch> {
        let indices = self.indices(index).to_vec();
        Ok(self.dataset.gather(&indices, device))
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
        let mut seen: Vec<usize> = (0..3).flat_map(|i| loader.indices(i).to_vec()).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 9, "no example twice within an epoch");
        let epoch1: Vec<usize> = loader.indices(3).to_vec();
        let again = loader.indices(4).to_vec();
        assert_ne!(epoch1, again);
        // Random access: a fresh loader gives the same batch 3 without 0..2.
        let mut fresh = Loader::new(numbers(10), 3, 7).unwrap();
        assert_eq!(fresh.indices(3), epoch1.as_slice());
        // Labels follow their examples.
        let dev = Device::flex();
        let b = fresh.batch(5, &dev).unwrap();
        let x: Vec<f32> = b.data.into_data().try_into_vec().unwrap();
        let l: Vec<i64> = b
            .labels
            .unwrap()
            .into_data()
            .convert::<i64>()
            .try_into_vec()
            .unwrap();
        assert_eq!(x, l.iter().map(|&v| v as f32).collect::<Vec<_>>());
    }

    #[test]
    fn sequential_order() {
        let mut loader = Loader::new(numbers(6), 2, 0).unwrap().sequential();
        assert_eq!(loader.indices(1), &[2, 3]);
        assert_eq!(loader.indices(3), &[0, 1]);
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
}
