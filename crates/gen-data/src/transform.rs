//! Image transforms: what happens to a decoded image before it becomes a
//! row of a batch.
//!
//! In order: centre crop, resize to a square, grey or RGB, scale to
//! `[0, 1]`, random horizontal flip, binarisation, and finally the output
//! range. Random steps draw from the per-example generator the loader
//! hands in, derived from `(seed, epoch, index)`: the same example gets the
//! same flip in the same epoch on every run, and a fresh one each epoch.

use image::imageops::FilterType;
use image::{DynamicImage, GenericImageView};

use gen_core::{SeededRng, ValueRange};

/// Colour handling.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Channels {
    /// One grey channel (luma).
    #[default]
    Grey,
    /// Three channels, RGB.
    Rgb,
}

impl Channels {
    /// The number of channels.
    pub fn count(self) -> usize {
        match self {
            Channels::Grey => 1,
            Channels::Rgb => 3,
        }
    }
}

/// Binarisation, for Bernoulli-likelihood models.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Binarize {
    /// Keep grey levels.
    #[default]
    Off,
    /// A pixel is 1 when its `[0, 1]` value is above the threshold.
    Threshold(f32),
    /// A pixel is 1 with probability equal to its `[0, 1]` value, sampled
    /// anew each epoch ("dynamic binarisation", Salakhutdinov & Murray 2008).
    Dynamic,
}

/// The transform applied to every image.
#[derive(Clone, Debug, PartialEq)]
pub struct Transform {
    /// Crop the largest centred square before resizing.
    pub center_crop: bool,
    /// Resize to `size x size` (after the crop); `None` keeps the size,
    /// which must then be the same for every image of a dataset.
    pub size: Option<u32>,
    /// Grey or RGB.
    pub channels: Channels,
    /// Flip horizontally with probability 1/2.
    pub random_hflip: bool,
    /// Binarisation of the `[0, 1]` values.
    pub binarize: Binarize,
    /// The output range.
    pub range: ValueRange,
}

impl Default for Transform {
    fn default() -> Self {
        Self {
            center_crop: false,
            size: None,
            channels: Channels::Grey,
            random_hflip: false,
            binarize: Binarize::Off,
            range: ValueRange::MinusOneToOne,
        }
    }
}

impl Transform {
    /// Grey images at their own size in `[-1, 1]`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Crops the centred square and resizes it to `size x size`.
    #[must_use]
    pub fn square(mut self, size: u32) -> Self {
        self.center_crop = true;
        self.size = Some(size);
        self
    }

    /// Resizes to `size x size` without cropping.
    #[must_use]
    pub fn resize(mut self, size: u32) -> Self {
        self.size = Some(size);
        self
    }

    /// Sets grey or RGB.
    #[must_use]
    pub fn channels(mut self, channels: Channels) -> Self {
        self.channels = channels;
        self
    }

    /// Turns random horizontal flips on.
    #[must_use]
    pub fn random_hflip(mut self) -> Self {
        self.random_hflip = true;
        self
    }

    /// Sets binarisation.
    #[must_use]
    pub fn binarize(mut self, binarize: Binarize) -> Self {
        self.binarize = binarize;
        self
    }

    /// Sets the output range.
    #[must_use]
    pub fn range(mut self, range: ValueRange) -> Self {
        self.range = range;
        self
    }

    /// The `[channels, height, width]` of an output for an input of
    /// `width x height`.
    pub fn output_shape(&self, width: u32, height: u32) -> [usize; 3] {
        let (w, h) = match (self.size, self.center_crop) {
            (Some(s), _) => (s, s),
            (None, true) => (width.min(height), width.min(height)),
            (None, false) => (width, height),
        };
        [self.channels.count(), h as usize, w as usize]
    }

    /// Applies the geometric and colour steps and writes the result into
    /// `out` (`[channels, height, width]`, row-major), then the random and
    /// range steps.
    ///
    /// # Panics
    /// If `out` is not `output_shape` long (a bug of the caller).
    pub fn apply(&self, image: &DynamicImage, rng: &mut SeededRng, out: &mut [f32]) {
        let mut image = std::borrow::Cow::Borrowed(image);
        if self.center_crop {
            let (w, h) = image.dimensions();
            let s = w.min(h);
            image = std::borrow::Cow::Owned(image.crop_imm((w - s) / 2, (h - s) / 2, s, s));
        }
        if let Some(size) = self.size
            && image.dimensions() != (size, size)
        {
            image = std::borrow::Cow::Owned(image.resize_exact(size, size, FilterType::Triangle));
        }
        let (w, h) = image.dimensions();
        let (w, h) = (w as usize, h as usize);
        let plane = w * h;
        assert_eq!(
            out.len(),
            self.channels.count() * plane,
            "output buffer size"
        );
        match self.channels {
            Channels::Grey => {
                let grey = image.to_luma8();
                for (o, p) in out.iter_mut().zip(grey.as_raw()) {
                    *o = f32::from(*p) / 255.0;
                }
            }
            Channels::Rgb => {
                let rgb = image.to_rgb8();
                for (i, px) in rgb.as_raw().chunks_exact(3).enumerate() {
                    for c in 0..3 {
                        out[c * plane + i] = f32::from(px[c]) / 255.0;
                    }
                }
            }
        }
        self.finish(out, w, rng);
    }

    /// The steps that work on `[0, 1]` values: flip, binarise, range.
    /// `out` holds `channels` planes of rows `width` wide.
    pub fn finish(&self, out: &mut [f32], width: usize, rng: &mut SeededRng) {
        if self.random_hflip && rng.below(2) == 1 {
            for row in out.chunks_exact_mut(width) {
                row.reverse();
            }
        }
        match self.binarize {
            Binarize::Off => {}
            Binarize::Threshold(t) => out
                .iter_mut()
                .for_each(|v| *v = f32::from(u8::from(*v > t))),
            Binarize::Dynamic => {
                let u = rng.uniform_vec(out.len(), 0.0, 1.0);
                out.iter_mut()
                    .zip(u)
                    .for_each(|(v, u)| *v = f32::from(u8::from(u < *v)));
            }
        }
        if self.range == ValueRange::MinusOneToOne {
            out.iter_mut().for_each(|v| *v = *v * 2.0 - 1.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, Luma, Rgb, RgbImage};

    #[test]
    fn crop_resize_and_range() {
        // 4x2 grey image: left half black, right half white.
        let img = GrayImage::from_fn(4, 2, |x, _| Luma([if x < 2 { 0 } else { 255 }]));
        let t = Transform::new().range(ValueRange::ZeroToOne);
        let mut out = vec![0.0; 8];
        t.apply(
            &DynamicImage::ImageLuma8(img.clone()),
            &mut SeededRng::new(0),
            &mut out,
        );
        assert_eq!(out, vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0]);
        // The centred 2x2 square is columns 1..3.
        let t = Transform::new().square(2);
        assert_eq!(t.output_shape(4, 2), [1, 2, 2]);
        let mut out = vec![0.0; 4];
        t.apply(
            &DynamicImage::ImageLuma8(img),
            &mut SeededRng::new(0),
            &mut out,
        );
        assert_eq!(out, vec![-1.0, 1.0, -1.0, 1.0]);
    }

    #[test]
    fn rgb_planes_and_flip() {
        let img = RgbImage::from_fn(2, 1, |x, _| {
            if x == 0 {
                Rgb([255, 0, 0])
            } else {
                Rgb([0, 0, 255])
            }
        });
        let t = Transform::new()
            .channels(Channels::Rgb)
            .range(ValueRange::ZeroToOne);
        let mut out = vec![0.0; 6];
        t.apply(
            &DynamicImage::ImageRgb8(img.clone()),
            &mut SeededRng::new(0),
            &mut out,
        );
        assert_eq!(out, vec![1.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
        // With random flips, some seeds flip and some do not.
        let t = t.random_hflip();
        let flipped: Vec<bool> = (0..20)
            .map(|s| {
                t.apply(
                    &DynamicImage::ImageRgb8(img.clone()),
                    &mut SeededRng::new(s),
                    &mut out,
                );
                out[0] == 0.0
            })
            .collect();
        assert!(flipped.contains(&true) && flipped.contains(&false));
    }

    #[test]
    fn binarisation() {
        let mut v = vec![0.2, 0.6, 0.5];
        Transform::new()
            .binarize(Binarize::Threshold(0.5))
            .range(ValueRange::ZeroToOne)
            .finish(&mut v, 3, &mut SeededRng::new(0));
        assert_eq!(v, vec![0.0, 1.0, 0.0]);
        // Dynamic: the mean of many draws of p is p.
        let t = Transform::new()
            .binarize(Binarize::Dynamic)
            .range(ValueRange::ZeroToOne);
        let mut v = vec![0.3f32; 20_000];
        t.finish(&mut v, 100, &mut SeededRng::new(1));
        assert!(v.iter().all(|&x| x == 0.0 || x == 1.0));
        let mean = v.iter().sum::<f32>() / v.len() as f32;
        assert!((mean - 0.3).abs() < 0.02, "{mean}");
    }
}
