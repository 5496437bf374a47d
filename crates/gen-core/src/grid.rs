//! Image grids: any batch of grey or RGB images as one PNG.

use std::path::Path;

use burn::tensor::Tensor;
use image::{DynamicImage, GrayImage, RgbImage};

use crate::error::{Error, Result};

/// The value range of the pixels handed to the grid writer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ValueRange {
    /// Pixels in `[-1, 1]` (tanh outputs, the usual GAN and diffusion range).
    #[default]
    MinusOneToOne,
    /// Pixels in `[0, 1]` (sigmoid outputs, Bernoulli means).
    ZeroToOne,
}

impl ValueRange {
    fn to_u8(self, v: f32) -> u8 {
        let unit = match self {
            ValueRange::MinusOneToOne => (v + 1.0) * 0.5,
            ValueRange::ZeroToOne => v,
        };
        // NaN maps to 0 (black), values outside the range are clipped.
        (unit.clamp(0.0, 1.0) * 255.0).round() as u8
    }
}

/// Layout of a grid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GridOptions {
    /// Images per row; `None` picks `ceil(sqrt(n))`.
    pub columns: Option<usize>,
    /// Pixels of border between and around the images (before scaling).
    pub padding: usize,
    /// The grey level of the border.
    pub pad_value: u8,
    /// The value range of the input.
    pub range: ValueRange,
    /// Integer upscaling factor (nearest neighbour), >= 1: 8x8 digits are
    /// unreadable at their own size.
    pub scale: usize,
}

impl Default for GridOptions {
    fn default() -> Self {
        Self {
            columns: None,
            padding: 2,
            pad_value: 0,
            range: ValueRange::MinusOneToOne,
            scale: 1,
        }
    }
}

impl GridOptions {
    /// Sets the number of columns.
    #[must_use]
    pub fn columns(mut self, columns: usize) -> Self {
        self.columns = Some(columns);
        self
    }

    /// Sets the value range.
    #[must_use]
    pub fn range(mut self, range: ValueRange) -> Self {
        self.range = range;
        self
    }

    /// Sets the upscaling factor.
    #[must_use]
    pub fn scale(mut self, scale: usize) -> Self {
        self.scale = scale;
        self
    }

    /// Sets the padding.
    #[must_use]
    pub fn padding(mut self, padding: usize) -> Self {
        self.padding = padding;
        self
    }
}

/// Lays out a batch `[n, c, h, w]` (`c` = 1 or 3, row-major `f32`) as one
/// image: grey for one channel, RGB for three.
///
/// # Errors
/// [`Error::Shape`] for an empty batch or a channel count other than 1 or
/// 3, [`Error::InvalidConfig`] for a zero scale or column count.
pub fn grid_from_slice(
    values: &[f32],
    shape: [usize; 4],
    options: &GridOptions,
) -> Result<DynamicImage> {
    let [n, c, h, w] = shape;
    if n == 0 || h == 0 || w == 0 || !(c == 1 || c == 3) || values.len() != n * c * h * w {
        return Err(Error::Shape {
            what: "image grid",
            expected: "a non-empty [n, 1 or 3, h, w] batch".into(),
            found: shape.to_vec(),
        });
    }
    crate::error::ensure_nonzero("scale", options.scale)?;
    let cols = options
        .columns
        .unwrap_or_else(|| (n as f64).sqrt().ceil() as usize);
    crate::error::ensure_nonzero("columns", cols)?;
    let cols = cols.min(n);
    let rows = n.div_ceil(cols);
    let p = options.padding;
    let s = options.scale;
    let width = (cols * (w + p) + p) * s;
    let height = (rows * (h + p) + p) * s;

    let mut rgb = vec![options.pad_value; width * height * c];
    for i in 0..n {
        let (row, col) = (i / cols, i % cols);
        let (top, left) = (p + row * (h + p), p + col * (w + p));
        for y in 0..h {
            for x in 0..w {
                for ch in 0..c {
                    let v = options.range.to_u8(values[((i * c + ch) * h + y) * w + x]);
                    for dy in 0..s {
                        let py = (top + y) * s + dy;
                        for dx in 0..s {
                            let px = (left + x) * s + dx;
                            rgb[(py * width + px) * c + ch] = v;
                        }
                    }
                }
            }
        }
    }
    let (width, height) = (width as u32, height as u32);
    Ok(if c == 1 {
        DynamicImage::ImageLuma8(GrayImage::from_raw(width, height, rgb).expect("sized above"))
    } else {
        DynamicImage::ImageRgb8(RgbImage::from_raw(width, height, rgb).expect("sized above"))
    })
}

/// Lays out a batch of images `[n, c, h, w]` from any device as one image.
///
/// # Errors
/// As [`grid_from_slice`].
pub fn grid_image(images: Tensor<4>, options: &GridOptions) -> Result<DynamicImage> {
    let shape: [usize; 4] = images.dims();
    let values = images
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| Error::Unsupported(format!("cannot read the image tensor: {e:?}")))?;
    grid_from_slice(&values, shape, options)
}

/// Writes a batch of images `[n, c, h, w]` as a PNG grid at `path`
/// (creating its folder).
///
/// # Errors
/// As [`grid_from_slice`], plus [`Error::Io`] / [`Error::Image`] when the
/// file cannot be written.
pub fn save_grid(images: Tensor<4>, path: impl AsRef<Path>, options: &GridOptions) -> Result<()> {
    let path = path.as_ref();
    let image = grid_image(images, options)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    image
        .save_with_format(path, image::ImageFormat::Png)
        .map_err(|source| match source {
            image::ImageError::IoError(e) => Error::io(path, e),
            source => Error::Image {
                path: path.to_path_buf(),
                source,
            },
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_of_an_incomplete_grid() {
        // 5 grey 2x3 images, 3 columns, padding 1, scale 2.
        let values: Vec<f32> = (0..5 * 6)
            .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        let opts = GridOptions::default().columns(3).padding(1).scale(2);
        let img = grid_from_slice(&values, [5, 1, 2, 3], &opts).unwrap();
        assert_eq!(
            (img.width(), img.height()),
            ((3 * 4 + 1) * 2, (2 * 3 + 1) * 2)
        );
        let g = img.to_luma8();
        // First pixel of the first image (value 1.0 -> 255) at (1,1)*2.
        assert_eq!(g.get_pixel(2, 2)[0], 255);
        assert_eq!(g.get_pixel(3, 3)[0], 255);
        // Its second pixel is -1.0 -> 0; the border is pad_value 0 too.
        assert_eq!(g.get_pixel(4, 2)[0], 0);
        // The empty sixth cell stays padding.
        assert_eq!(g.get_pixel(2 * (1 + 2 * 4), 2 * (1 + 3))[0], 0);
    }

    #[test]
    fn rgb_and_zero_to_one() {
        let values = [0.0, 0.5, 1.0]; // one 1x1 RGB image
        let opts = GridOptions::default()
            .padding(0)
            .range(ValueRange::ZeroToOne);
        let img = grid_from_slice(&values, [1, 3, 1, 1], &opts)
            .unwrap()
            .to_rgb8();
        assert_eq!(img.get_pixel(0, 0).0, [0, 128, 255]);
    }

    #[test]
    fn bad_shapes_and_options_are_errors() {
        let o = GridOptions::default();
        assert!(matches!(
            grid_from_slice(&[], [0, 1, 2, 2], &o),
            Err(Error::Shape { .. })
        ));
        assert!(matches!(
            grid_from_slice(&[0.0; 8], [1, 2, 2, 2], &o),
            Err(Error::Shape { .. })
        ));
        assert!(matches!(
            grid_from_slice(&[0.0; 4], [1, 1, 2, 2], &o.clone().scale(0)),
            Err(Error::InvalidConfig { .. })
        ));
    }

    #[test]
    fn unwritable_path_is_an_io_error() {
        let t = Tensor::<4>::zeros([1, 1, 2, 2], &burn::tensor::Device::flex());
        let err = save_grid(t, "/proc/definitely/not/here.png", &GridOptions::default());
        assert!(matches!(err, Err(Error::Io { .. })), "{err:?}");
    }
}
