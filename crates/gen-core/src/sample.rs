//! The sampling trait: every generative model of continuous data can draw
//! samples.
//!
//! Why one rank: every model of the workspace hands data around flat, as
//! [`Batch`](crate::Batch) does (`[n, features]`), and says the shape of
//! one example ([`Sample::example_shape`]); a consumer that wants images
//! reshapes with [`Sample::sample_images`]. A rank parameter would only
//! make `&dyn Sample` impossible to hold for models of different ranks.
//! Token models (the autoregressive family) generate integer sequences
//! and have their own decoding API.

use burn::tensor::{Device, Tensor};

use crate::error::{Error, Result};
use crate::rng::SeededRng;

/// A model that draws samples, flat: `[n, features]`, where one example
/// has the shape [`example_shape`](Self::example_shape).
///
/// All randomness comes from `rng`, so the same generator state gives the
/// same samples on every backend.
///
/// Labels follow gen-core's [`labels`](crate::labels) rules: a
/// conditional model takes one label per sample in `0..num_classes`; an
/// unconditional one refuses labels; `labels = None` asks for samples of
/// the whole data distribution (a conditional model marginalises over its
/// classes: by its null class when it has one, else by drawing each
/// sample's class uniformly from `rng`).
pub trait Sample {
    /// The shape of one example: `[features]` for vectors,
    /// `[channels, height, width]` for images.
    fn example_shape(&self) -> Vec<usize>;

    /// The number of classes a conditional model accepts; `None` for an
    /// unconditional model.
    fn num_classes(&self) -> Option<usize> {
        None
    }

    /// Draws `n` samples on `device`, flat: `[n, features]`.
    ///
    /// # Errors
    /// [`Error::Label`] for labels that break the rules above.
    fn sample(
        &self,
        n: usize,
        labels: Option<&[usize]>,
        rng: &mut SeededRng,
        device: &Device,
    ) -> Result<Tensor<2>>;

    /// The number of values of one example (the product of
    /// [`example_shape`](Self::example_shape)).
    fn features(&self) -> usize {
        self.example_shape().iter().product()
    }

    /// [`sample`](Self::sample) reshaped to images `[n, c, h, w]`.
    ///
    /// # Errors
    /// As [`sample`](Self::sample), and [`Error::Shape`] for a model whose
    /// examples are not images.
    fn sample_images(
        &self,
        n: usize,
        labels: Option<&[usize]>,
        rng: &mut SeededRng,
        device: &Device,
    ) -> Result<Tensor<4>> {
        let shape = self.example_shape();
        let [c, h, w] = shape[..] else {
            return Err(Error::Shape {
                what: "samples as images",
                expected: "examples of shape [channels, height, width]".into(),
                found: shape,
            });
        };
        Ok(self.sample(n, labels, rng, device)?.reshape([n, c, h, w]))
    }
}

/// Implements [`Sample`] for a model from three expressions over `$m`
/// (the model): the shape of one example, the number of classes, and a
/// function `(model, n, labels, rng, device) -> Result<Tensor<2>>` that
/// draws. Generic models put their parameters in brackets first.
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use gen_core::{Result, Sample, SeededRng};
///
/// struct Noise(usize);
/// fn draw(m: &Noise, n: usize, _: Option<&[usize]>, rng: &mut SeededRng, d: &Device) -> Result<Tensor<2>> {
///     Ok(rng.normal([n, m.0], d))
/// }
/// gen_core::impl_sample!(Noise, |m| { example_shape: vec![m.0], num_classes: None, sample: draw });
/// let x = Noise(3).sample(2, None, &mut SeededRng::new(0), &Device::flex())?;
/// assert_eq!(x.dims(), [2, 3]);
/// # Ok::<(), gen_core::Error>(())
/// ```
#[macro_export]
macro_rules! impl_sample {
    ([$($generics:tt)*] $ty:ty, |$m:ident| {
        example_shape: $shape:expr,
        num_classes: $classes:expr,
        sample: $sample:expr $(,)?
    }) => {
        impl<$($generics)*> $crate::Sample for $ty {
            fn example_shape(&self) -> ::std::vec::Vec<usize> {
                let $m = self;
                $shape
            }

            fn num_classes(&self) -> ::std::option::Option<usize> {
                let $m = self;
                $classes
            }

            fn sample(
                &self,
                n: usize,
                labels: ::std::option::Option<&[usize]>,
                rng: &mut $crate::SeededRng,
                device: &$crate::burn::tensor::Device,
            ) -> $crate::Result<$crate::burn::tensor::Tensor<2>> {
                ($sample)(self, n, labels, rng, device)
            }
        }
    };
    ($ty:ty, |$m:ident| { $($body:tt)* }) => {
        $crate::impl_sample!([] $ty, |$m| { $($body)* });
    };
}
