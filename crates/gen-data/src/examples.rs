//! [`Examples`]: the random-access view of a dataset that the
//! [`Loader`](crate::Loader) batches, and the datasets in memory that
//! implement it.

use std::sync::Arc;

use gen_core::SeededRng;
use image::{DynamicImage, GrayImage};

use crate::error::Result;
use crate::mnist::IdxImages;
use crate::transform::{Channels, Transform};

/// A dataset as the loader sees it: `len` examples of one shape, each
/// written on demand into a slice of the batch.
///
/// Implementations must be deterministic given `rng`: the loader hands each
/// example a generator derived from `(seed, epoch, index)`.
pub trait Examples: Send + Sync {
    /// The number of examples.
    fn len(&self) -> usize;

    /// Whether there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shape of one example, e.g. `[1, 28, 28]`.
    fn item_shape(&self) -> Vec<usize>;

    /// Writes example `index` (transformed) into `out`, which is
    /// `prod(item_shape)` long.
    ///
    /// # Errors
    /// When the example cannot be read (an unreadable image file...).
    fn fill(&self, index: usize, rng: &mut SeededRng, out: &mut [f32]) -> Result<()>;

    /// The class label of example `index`, if the dataset has labels.
    fn label(&self, _index: usize) -> Option<i64> {
        None
    }

    /// The number of binary attributes per example (CelebA: 40), 0 if none.
    fn num_attributes(&self) -> usize {
        0
    }

    /// The attributes of example `index` (0 or 1), `num_attributes` long.
    fn attributes(&self, _index: usize) -> Option<Vec<i64>> {
        None
    }

    /// The values per example.
    fn features(&self) -> usize {
        self.item_shape().iter().product()
    }
}

impl<E: Examples + ?Sized> Examples for Arc<E> {
    fn len(&self) -> usize {
        (**self).len()
    }
    fn item_shape(&self) -> Vec<usize> {
        (**self).item_shape()
    }
    fn fill(&self, index: usize, rng: &mut SeededRng, out: &mut [f32]) -> Result<()> {
        (**self).fill(index, rng, out)
    }
    fn label(&self, index: usize) -> Option<i64> {
        (**self).label(index)
    }
    fn num_attributes(&self) -> usize {
        (**self).num_attributes()
    }
    fn attributes(&self, index: usize) -> Option<Vec<i64>> {
        (**self).attributes(index)
    }
}

/// A subset of another dataset, by index (a train/test split).
#[derive(Clone, Debug)]
pub struct Subset<E> {
    inner: Arc<E>,
    indices: Vec<usize>,
}

impl<E: Examples> Subset<E> {
    /// The examples of `inner` at `indices`.
    pub fn new(inner: Arc<E>, indices: Vec<usize>) -> Self {
        Self { inner, indices }
    }

    /// The indices into the inner dataset.
    pub fn indices(&self) -> &[usize] {
        &self.indices
    }
}

/// Splits a dataset into `(train, test)` with a seeded permutation; the
/// test part holds `round(test_fraction * len)` examples.
///
/// # Errors
/// [`gen_core::Error::InvalidConfig`] when `test_fraction` is not in `[0, 1]`.
pub fn train_test_split<E: Examples>(
    dataset: E,
    test_fraction: f64,
    seed: u64,
) -> Result<(Subset<E>, Subset<E>)> {
    if !(0.0..=1.0).contains(&test_fraction) {
        return Err(gen_core::Error::config(
            "test_fraction",
            format!("must be in [0, 1], found {test_fraction}"),
        )
        .into());
    }
    let inner = Arc::new(dataset);
    let mut order = SeededRng::derived(seed, u64::MAX).permutation(inner.len());
    let n_test = (test_fraction * inner.len() as f64).round() as usize;
    let train = order.split_off(n_test);
    Ok((Subset::new(inner.clone(), train), Subset::new(inner, order)))
}

impl<E: Examples> Examples for Subset<E> {
    fn len(&self) -> usize {
        self.indices.len()
    }
    fn item_shape(&self) -> Vec<usize> {
        self.inner.item_shape()
    }
    fn fill(&self, index: usize, rng: &mut SeededRng, out: &mut [f32]) -> Result<()> {
        self.inner.fill(self.indices[index], rng, out)
    }
    fn label(&self, index: usize) -> Option<i64> {
        self.inner.label(self.indices[index])
    }
    fn num_attributes(&self) -> usize {
        self.inner.num_attributes()
    }
    fn attributes(&self, index: usize) -> Option<Vec<i64>> {
        self.inner.attributes(self.indices[index])
    }
}

/// MNIST or Fashion-MNIST images with a transform (resize, binarise,
/// range...).
#[derive(Clone, Debug)]
pub struct IdxExamples {
    images: IdxImages,
    transform: Transform,
}

impl IdxExamples {
    /// The images of a split, transformed by `transform` (grey only: an
    /// RGB transform is turned into grey).
    pub fn new(images: IdxImages, transform: Transform) -> Self {
        Self {
            images,
            transform: transform.channels(Channels::Grey),
        }
    }

    /// The images.
    pub fn images(&self) -> &IdxImages {
        &self.images
    }
}

impl Examples for IdxExamples {
    fn len(&self) -> usize {
        self.images.len()
    }

    fn item_shape(&self) -> Vec<usize> {
        let (w, h) = (self.images.cols as u32, self.images.rows as u32);
        self.transform.output_shape(w, h).to_vec()
    }

    fn fill(&self, index: usize, rng: &mut SeededRng, out: &mut [f32]) -> Result<()> {
        let pixels = self.images.image(index);
        let t = &self.transform;
        if t.size.is_none() && !t.center_crop {
            // Fast path: no geometry, straight to [0, 1].
            for (o, &p) in out.iter_mut().zip(pixels) {
                *o = f32::from(p) / 255.0;
            }
            t.finish(out, self.images.cols, rng);
        } else {
            let image = GrayImage::from_raw(
                self.images.cols as u32,
                self.images.rows as u32,
                pixels.to_vec(),
            )
            .expect("sizes checked at load");
            t.apply(&DynamicImage::ImageLuma8(image), rng, out);
        }
        Ok(())
    }

    fn label(&self, index: usize) -> Option<i64> {
        Some(i64::from(self.images.labels[index]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TensorDataset;

    #[test]
    fn split_is_a_seeded_partition() {
        let ds = TensorDataset::new((0..100).map(|i| i as f32).collect(), [1], None).unwrap();
        let (train, test) = train_test_split(ds.clone(), 0.2, 5).unwrap();
        assert_eq!((train.len(), test.len()), (80, 20));
        let mut all: Vec<usize> = train
            .indices()
            .iter()
            .chain(test.indices())
            .copied()
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
        let (_, again) = train_test_split(ds.clone(), 0.2, 5).unwrap();
        assert_eq!(again.indices(), test.indices());
        assert!(train_test_split(ds, 1.5, 0).is_err());
    }

    #[test]
    fn idx_examples_scale_and_resize() {
        let images = IdxImages {
            pixels: vec![0, 255, 255, 0],
            labels: vec![7],
            rows: 2,
            cols: 2,
        };
        let plain = IdxExamples::new(images.clone(), Transform::new());
        let mut out = vec![0.0; 4];
        plain.fill(0, &mut SeededRng::new(0), &mut out).unwrap();
        assert_eq!(out, vec![-1.0, 1.0, 1.0, -1.0]);
        assert_eq!(plain.label(0), Some(7));
        let big = IdxExamples::new(images, Transform::new().resize(4));
        assert_eq!(big.item_shape(), vec![1, 4, 4]);
        let mut out = vec![0.0; 16];
        big.fill(0, &mut SeededRng::new(0), &mut out).unwrap();
        assert!(out.iter().all(|v| (-1.0..=1.0).contains(v)));
    }
}
