//! Class labels, one way for every family: checked against the model's
//! classes, uploaded, one-hot encoded, and dropped to a null class.
//!
//! The rules:
//! - a conditional model with `k` classes takes labels in `0..k`, one per
//!   example; a label outside, or a count that differs, is a [`LabelError`];
//! - an unconditional model refuses labels when sampling
//!   ([`LabelError::Unexpected`]), and ignores the labels of a training
//!   batch (a labelled dataset can train an unconditional model);
//! - `labels = None` asks for samples of the whole data distribution; a
//!   conditional model marginalises over its classes: through its null
//!   class when it was trained with one (classifier-free guidance), else by
//!   drawing each example's class uniformly ([`for_sampling`]);
//! - the null class of a model with `k` classes is `k` ([`null_class`]).

use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::rng::SeededRng;

/// What is wrong with a set of labels.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LabelError {
    /// Labels were given to an unconditional model.
    #[error("labels were given to an unconditional model")]
    Unexpected,
    /// A conditional model's batch has no labels.
    #[error("this model is conditional on {classes} classes: its batches need labels")]
    Missing {
        /// The model's classes.
        classes: usize,
    },
    /// Not one label per example.
    #[error("{found} labels for {expected} examples: give one label per example")]
    Count {
        /// The number of examples.
        expected: usize,
        /// The number of labels.
        found: usize,
    },
    /// A label that is not one of the model's classes.
    #[error("label {label} is not a class in 0..{classes}")]
    OutOfRange {
        /// The label.
        label: i64,
        /// The model's classes.
        classes: usize,
    },
}

/// The null class of a model with `classes` classes (classifier-free
/// guidance): `classes` itself.
pub fn null_class(classes: usize) -> usize {
    classes
}

/// Checks labels given on the host for `n` examples against the model's
/// classes (`None`: unconditional). `labels = None` is always accepted.
///
/// # Errors
/// [`LabelError::Unexpected`], [`LabelError::Count`] or
/// [`LabelError::OutOfRange`].
pub fn check(n: usize, labels: Option<&[usize]>, classes: Option<usize>) -> Result<(), LabelError> {
    let Some(labels) = labels else {
        return Ok(());
    };
    let Some(k) = classes else {
        return Err(LabelError::Unexpected);
    };
    if labels.len() != n {
        return Err(LabelError::Count {
            expected: n,
            found: labels.len(),
        });
    }
    match labels.iter().find(|&&c| c >= k) {
        Some(&c) => Err(LabelError::OutOfRange {
            label: c as i64,
            classes: k,
        }),
        None => Ok(()),
    }
}

/// The labels to sample `n` examples with: `labels` checked, or for a
/// conditional model asked for `None`, one class per example drawn
/// uniformly from `rng` (an unconditional model keeps `None`).
///
/// # Errors
/// As [`check`].
///
/// ```
/// use gen_core::{SeededRng, labels::for_sampling};
/// let mut rng = SeededRng::new(0);
/// assert_eq!(for_sampling(2, Some(&[1, 0]), Some(3), &mut rng)?, Some(vec![1, 0]));
/// let drawn = for_sampling(100, None, Some(3), &mut rng)?.unwrap();
/// assert!(drawn.iter().all(|&c| c < 3));
/// assert_eq!(for_sampling(4, None, None, &mut rng)?, None);
/// assert!(for_sampling(1, Some(&[3]), Some(3), &mut rng).is_err());
/// # Ok::<(), gen_core::labels::LabelError>(())
/// ```
pub fn for_sampling(
    n: usize,
    labels: Option<&[usize]>,
    classes: Option<usize>,
    rng: &mut SeededRng,
) -> Result<Option<Vec<usize>>, LabelError> {
    check(n, labels, classes)?;
    Ok(match (labels, classes) {
        (Some(l), _) => Some(l.to_vec()),
        (None, Some(k)) => Some((0..n).map(|_| rng.below(k)).collect()),
        (None, None) => None,
    })
}

/// A training batch's labels for a model with `classes` classes: checked
/// and read to the host (one read). An unconditional model gets `None`
/// whatever the batch holds.
///
/// # Errors
/// [`LabelError::Missing`], [`LabelError::Count`] or
/// [`LabelError::OutOfRange`].
pub fn for_training(
    n: usize,
    labels: Option<&Tensor<1, Int>>,
    classes: Option<usize>,
) -> Result<Option<Vec<usize>>, LabelError> {
    let Some(k) = classes else {
        return Ok(None);
    };
    let labels = labels.ok_or(LabelError::Missing { classes: k })?;
    let values: Vec<i64> = labels
        .clone()
        .into_data()
        .convert::<i64>()
        .try_into_vec::<i64>()
        .unwrap_or_default();
    if values.len() != n {
        return Err(LabelError::Count {
            expected: n,
            found: values.len(),
        });
    }
    values
        .into_iter()
        .map(|c| {
            usize::try_from(c)
                .ok()
                .filter(|&c| c < k)
                .ok_or(LabelError::OutOfRange {
                    label: c,
                    classes: k,
                })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Labels as a `[n]` tensor on `device`.
pub fn upload(labels: &[usize], device: &Device) -> Tensor<1, Int> {
    let values: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
    Tensor::from_data(TensorData::new(values, [labels.len()]), device)
}

/// One-hot rows `[n, classes]` for labels in `0..classes` (values outside
/// are clamped: models never panic on labels).
pub fn one_hot(labels: Tensor<1, Int>, classes: usize) -> Tensor<2> {
    labels
        .clamp(0, classes as i64 - 1)
        .one_hot::<2>(classes)
        .float()
}

/// Each label replaced by the null class with probability `p` (label
/// dropout for classifier-free guidance, Ho & Salimans 2022): one uniform
/// draw per label from `rng`, whatever `p`, so that the random stream does
/// not depend on it.
pub fn drop_to_null(labels: &[usize], classes: usize, p: f64, rng: &mut SeededRng) -> Vec<usize> {
    let draws = rng.uniform_vec(labels.len(), 0.0, 1.0);
    labels
        .iter()
        .zip(draws)
        .map(|(&c, u)| {
            if f64::from(u) < p {
                null_class(classes)
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules() {
        assert_eq!(check(2, None, Some(3)), Ok(()));
        assert_eq!(check(2, None, None), Ok(()));
        assert_eq!(check(1, Some(&[0]), None), Err(LabelError::Unexpected));
        assert_eq!(
            check(2, Some(&[0]), Some(3)),
            Err(LabelError::Count {
                expected: 2,
                found: 1
            })
        );
        assert_eq!(
            check(1, Some(&[3]), Some(3)),
            Err(LabelError::OutOfRange {
                label: 3,
                classes: 3
            })
        );
        let dev = Device::flex();
        let t = upload(&[0, 2], &dev);
        assert_eq!(for_training(2, Some(&t), None), Ok(None));
        assert_eq!(for_training(2, Some(&t), Some(3)), Ok(Some(vec![0, 2])));
        assert_eq!(
            for_training(2, None, Some(3)),
            Err(LabelError::Missing { classes: 3 })
        );
        assert_eq!(
            for_training(2, Some(&t), Some(2)),
            Err(LabelError::OutOfRange {
                label: 2,
                classes: 2
            })
        );
        let bad = Tensor::<1, Int>::from_ints([-1, 0], &dev);
        assert!(matches!(
            for_training(2, Some(&bad), Some(2)),
            Err(LabelError::OutOfRange { label: -1, .. })
        ));
        let oh: Vec<f32> = one_hot(t, 3).into_data().try_into_vec().unwrap();
        assert_eq!(oh, vec![1., 0., 0., 0., 0., 1.]);
    }

    #[test]
    fn label_dropout_draws_once_per_label() {
        let mut a = SeededRng::new(1);
        let mut b = SeededRng::new(1);
        let labels = vec![0; 1000];
        let kept = drop_to_null(&labels, 10, 0.0, &mut a);
        let dropped = drop_to_null(&labels, 10, 1.0, &mut b);
        assert!(kept.iter().all(|&c| c == 0));
        assert!(dropped.iter().all(|&c| c == 10));
        assert_eq!(a, b);
        let some = drop_to_null(&labels, 10, 0.1, &mut a);
        let share = some.iter().filter(|&&c| c == 10).count() as f64 / 1000.0;
        assert!((share - 0.1).abs() < 0.04, "{share}");
    }
}
