//! burn's own data pieces over the family's datasets: any [`Examples`] is a
//! `burn::data::dataset::Dataset<Example>`, and [`ExampleBatcher`] is a
//! `burn::data::dataloader::Batcher` that makes a [`gen_core::Batch`], so
//! burn's `DataLoaderBuilder` (worker threads, shuffling) and `Learner`
//! can read MNIST, image folders and CelebA.
//!
//! The family's own [`Loader`](crate::Loader) stays the default for
//! training through [`gen_core::Trainer`]: its batches are a pure function
//! of `(seed, index)`, which is what exact resume needs, and burn's loader
//! is an iterator without that property.

use std::sync::Arc;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::{Dataset, DatasetError};
use burn::tensor::Device;
use gen_core::{Batch, SeededRng};

use crate::examples::Examples;
use crate::loader::HostBatch;

/// One example, as burn's `Dataset` yields it.
#[derive(Clone, Debug, PartialEq)]
pub struct Example {
    /// The values, `prod(shape)` long.
    pub data: Vec<f32>,
    /// The shape, e.g. `[1, 28, 28]`.
    pub shape: Vec<usize>,
    /// The class label, if any.
    pub label: Option<i64>,
    /// The binary attributes, if any.
    pub attributes: Option<Vec<i64>>,
}

/// Any [`Examples`] as a burn `Dataset`. Random transforms draw from a
/// generator derived from `(seed, index)` (burn's datasets know no epochs).
#[derive(Clone, Debug)]
pub struct BurnDataset<E> {
    examples: Arc<E>,
    seed: u64,
}

impl<E: Examples> BurnDataset<E> {
    /// Wraps `examples`.
    pub fn new(examples: E, seed: u64) -> Self {
        Self {
            examples: Arc::new(examples),
            seed,
        }
    }
}

impl<E: Examples> Dataset<Example> for BurnDataset<E> {
    fn get(&self, index: usize) -> Result<Example, DatasetError> {
        let mut data = vec![0.0; self.examples.features()];
        let mut rng = SeededRng::derived(self.seed, index as u64);
        self.examples
            .fill(index, &mut rng, &mut data)
            .map_err(DatasetError::new)?;
        Ok(Example {
            data,
            shape: self.examples.item_shape(),
            label: self.examples.label(index),
            attributes: self.examples.attributes(index),
        })
    }

    fn len(&self) -> usize {
        self.examples.len()
    }
}

/// Stacks [`Example`]s into a [`gen_core::Batch`] on a device.
#[derive(Clone, Copy, Debug, Default)]
pub struct ExampleBatcher;

impl Batcher<Example, Batch> for ExampleBatcher {
    fn batch(&self, items: Vec<Example>, device: &Device) -> Batch {
        let n = items.len();
        let features = items.first().map_or(0, |e| e.data.len());
        let labels: Option<Vec<i64>> = items.iter().map(|e| e.label).collect();
        let attributes: Option<Vec<Vec<i64>>> =
            items.iter().map(|e| e.attributes.clone()).collect();
        let attributes = attributes
            .filter(|a| a.first().is_some_and(|r| !r.is_empty()))
            .map(|a| a.concat());
        let data: Vec<f32> = items.into_iter().flat_map(|e| e.data).collect();
        HostBatch {
            data,
            labels,
            attributes,
            n,
        }
        .into_batch(features, device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Digits;
    use burn::data::dataloader::DataLoaderBuilder;

    #[test]
    fn digits_through_burns_data_loader() {
        let dataset = BurnDataset::new(Digits::embedded().unwrap().to_dataset(), 0);
        assert_eq!(dataset.len(), 1797);
        assert_eq!(dataset.get(0).unwrap().shape, vec![1, 8, 8]);
        let loader = DataLoaderBuilder::new(ExampleBatcher)
            .batch_size(32)
            .shuffle(1)
            .num_workers(2)
            .set_device(Device::flex())
            .build(dataset);
        let batches: Vec<Batch> = loader.iter().collect::<Result<_, _>>().unwrap();
        assert_eq!(batches.len(), 1797usize.div_ceil(32));
        assert_eq!(batches[0].data.dims(), [32, 64]);
        assert_eq!(batches[0].labels.as_ref().unwrap().dims(), [32]);
        assert!(batches[0].attributes.is_none());
    }
}
