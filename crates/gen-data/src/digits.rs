//! The UCI 8x8 handwritten digits, embedded in the crate.
//!
//! 1,797 grey 8x8 images with integer pixels 0..16 and labels 0-9: the test
//! set of the UCI "Optical Recognition of Handwritten Digits" dataset
//! (E. Alpaydin, C. Kaynak, 1998; CC BY 4.0), as packaged by scikit-learn
//! (BSD-3-Clause). Credit and licence: `data/uci-digits/` in this crate.
//! It is always there, offline: the quickstart's dataset and the default of
//! every test that wants real images.

use std::io::Read;

use flate2::read::GzDecoder;

use gen_core::ValueRange;

use crate::error::{Error, Result};
use crate::loader::TensorDataset;

/// The gzipped CSV, as vendored.
const EMBEDDED: &[u8] = include_bytes!("../data/uci-digits/digits.csv.gz");

/// Image side in pixels.
pub const SIDE: usize = 8;
/// Pixels per image.
pub const PIXELS: usize = SIDE * SIDE;
/// The largest pixel value.
pub const MAX_VALUE: u8 = 16;
/// The number of images.
pub const LEN: usize = 1797;

/// The digits: images as bytes 0..=16, row-major, and labels 0-9.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digits {
    /// `LEN * PIXELS` pixel values in `0..=16`.
    pub pixels: Vec<u8>,
    /// `LEN` labels in `0..=9`.
    pub labels: Vec<u8>,
}

impl Digits {
    /// Decodes the embedded copy.
    ///
    /// # Errors
    /// Only if the embedded file were damaged (checked by the tests).
    pub fn embedded() -> Result<Self> {
        let mut text = String::new();
        GzDecoder::new(EMBEDDED)
            .read_to_string(&mut text)
            .map_err(|e| Error::Invalid {
                source_name: "embedded digits.csv.gz".into(),
                reason: e.to_string(),
            })?;
        let digits = Self::parse_csv(&text, "embedded digits.csv.gz")?;
        if digits.len() != LEN {
            return Err(Error::Invalid {
                source_name: "embedded digits.csv.gz".into(),
                reason: format!("{} rows, expected {LEN}", digits.len()),
            });
        }
        Ok(digits)
    }

    /// Parses the CSV layout: 64 pixels 0..16 then a label 0-9 per line.
    ///
    /// # Errors
    /// [`Error::Parse`] naming the line of the first malformed row.
    pub fn parse_csv(text: &str, source_name: &str) -> Result<Self> {
        let mut pixels = Vec::new();
        let mut labels = Vec::new();
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let err = |reason: String| Error::Parse {
                source_name: source_name.to_string(),
                line: i + 1,
                reason,
            };
            let fields: Vec<&str> = line.split(',').collect();
            if fields.len() != PIXELS + 1 {
                return Err(err(format!(
                    "{} fields, expected {}",
                    fields.len(),
                    PIXELS + 1
                )));
            }
            for (j, f) in fields.iter().enumerate() {
                // scikit-learn writes the values as integers, possibly as "3.0".
                let v: f64 = f
                    .trim()
                    .parse()
                    .map_err(|_| err(format!("field {} is not a number: `{f}`", j + 1)))?;
                let (max, what) = if j < PIXELS {
                    (f64::from(MAX_VALUE), "pixel")
                } else {
                    (9.0, "label")
                };
                if v.fract() != 0.0 || !(0.0..=max).contains(&v) {
                    return Err(err(format!("{what} {v} is not an integer in 0..={max}")));
                }
                if j < PIXELS {
                    pixels.push(v as u8);
                } else {
                    labels.push(v as u8);
                }
            }
        }
        Ok(Self { pixels, labels })
    }

    /// The number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The images as a dataset of `[1, 8, 8]` examples scaled to `[-1, 1]`
    /// (the range of a tanh generator), with their labels.
    pub fn to_dataset(&self) -> TensorDataset {
        self.to_dataset_in(ValueRange::MinusOneToOne)
    }

    /// The images as a dataset of `[1, 8, 8]` examples in `range`, with
    /// their labels: [`ValueRange::ZeroToOne`] for a Bernoulli decoder (the
    /// default VAE).
    ///
    /// ```
    /// use gen_core::ValueRange;
    /// use gen_data::{Digits, Examples};
    /// let digits = Digits::embedded()?.to_dataset_in(ValueRange::ZeroToOne);
    /// assert!(digits.data().iter().all(|v| (0.0..=1.0).contains(v)));
    /// assert_eq!(digits.item_shape(), [1, 8, 8]);
    /// # Ok::<(), gen_data::Error>(())
    /// ```
    pub fn to_dataset_in(&self, range: ValueRange) -> TensorDataset {
        let (scale, shift) = match range {
            ValueRange::MinusOneToOne => (2.0 / f32::from(MAX_VALUE), 1.0),
            ValueRange::ZeroToOne => (1.0 / f32::from(MAX_VALUE), 0.0),
        };
        let data = self
            .pixels
            .iter()
            .map(|&p| f32::from(p) * scale - shift)
            .collect();
        let labels = self.labels.iter().map(|&l| i64::from(l)).collect();
        TensorDataset::new(data, [1, SIDE, SIDE], Some(labels))
            .expect("the embedded digits have consistent sizes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::examples::Examples;

    #[test]
    fn embedded_digits_have_the_published_counts() {
        let d = Digits::embedded().unwrap();
        assert_eq!(d.len(), LEN);
        assert_eq!(d.pixels.len(), LEN * PIXELS);
        let mut hist = [0usize; 10];
        for &l in &d.labels {
            hist[l as usize] += 1;
        }
        // The class counts documented in digits.rst's source (UCI test set).
        assert_eq!(hist, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
        assert_eq!(*d.pixels.iter().max().unwrap(), MAX_VALUE);
    }

    #[test]
    fn malformed_rows_name_their_line() {
        let row = |last: &str| format!("{}{last}\n", "0,".repeat(PIXELS));
        let ok = row("3");
        assert_eq!(Digits::parse_csv(&ok, "t").unwrap().labels, vec![3]);
        let bad_label = format!("{ok}{}", row("12"));
        let e = Digits::parse_csv(&bad_label, "t").unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("label 12"), "{e}");
        let e = Digits::parse_csv("1,2,3\n", "t").unwrap_err().to_string();
        assert!(e.contains("3 fields"), "{e}");
        let e = Digits::parse_csv(&row("x"), "t").unwrap_err().to_string();
        assert!(e.contains("not a number"), "{e}");
    }

    #[test]
    fn dataset_is_scaled_to_minus_one_one() {
        let ds = Digits::embedded().unwrap().to_dataset();
        assert_eq!(ds.len(), LEN);
        assert_eq!(ds.features(), PIXELS);
        let (lo, hi) = ds
            .data()
            .iter()
            .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        assert_eq!((lo, hi), (-1.0, 1.0));
    }
}
