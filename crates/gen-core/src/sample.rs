//! The sampling trait: every generative model can draw samples.

use burn::tensor::{Device, Tensor};

use crate::error::Result;
use crate::rng::SeededRng;

/// A model that draws samples of rank `D` (2 for vectors `[n, features]`,
/// 4 for images `[n, channels, height, width]`).
///
/// All randomness comes from `rng`, so the same generator state gives the
/// same samples on every backend. Conditional models take one label per
/// sample; unconditional ones accept only `None`.
pub trait Sample<const D: usize> {
    /// Draws `n` samples on `device`.
    ///
    /// # Errors
    /// [`Error::Unsupported`](crate::Error::Unsupported) when labels are given
    /// to an unconditional model (or omitted for a conditional one), and
    /// [`Error::InvalidConfig`](crate::Error::InvalidConfig) when the labels
    /// do not number `n` or are out of range.
    fn sample(
        &self,
        n: usize,
        labels: Option<&[usize]>,
        rng: &mut SeededRng,
        device: &Device,
    ) -> Result<Tensor<D>>;

    /// The number of classes a conditional model accepts; `None` for an
    /// unconditional model.
    fn num_classes(&self) -> Option<usize> {
        None
    }
}

/// Checks the labels given to [`Sample::sample`] against the model's
/// classes: the rule every implementation applies.
pub fn check_labels(n: usize, labels: Option<&[usize]>, num_classes: Option<usize>) -> Result<()> {
    use crate::Error;
    match (labels, num_classes) {
        (None, None) => Ok(()),
        (Some(_), None) => Err(Error::Unsupported(
            "labels were given to an unconditional model".into(),
        )),
        (None, Some(k)) => Err(Error::Unsupported(format!(
            "this model is conditional on {k} classes: give one label per sample"
        ))),
        (Some(l), Some(k)) => {
            if l.len() != n {
                return Err(Error::config(
                    "labels",
                    format!(
                        "needs one label per sample: {n} samples, {} labels",
                        l.len()
                    ),
                ));
            }
            match l.iter().find(|&&c| c >= k) {
                Some(c) => Err(Error::config(
                    "labels",
                    format!("{c} is not a class in 0..{k}"),
                )),
                None => Ok(()),
            }
        }
    }
}
