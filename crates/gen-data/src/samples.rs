//! Samples written by any program (PyTorch's included), read back to be
//! scored with the same metric as ours: a `.npy` array or a folder of PNG
//! files.
//!
//! - `.npy`: C order, `float32`/`float64` in the range the caller names
//!   (`[0, 1]` or `[-1, 1]`), or `uint8` (0..=255, any range); shape
//!   `[n, c, h, w]`, `[n, h, w]` (one channel) or `[n, c h w]` (flat rows).
//! - a folder: its `*.png` files in sorted name order, each `h x w`, grey
//!   (`c = 1`) or RGB (`c = 3`).
//!
//! Values come back as f32 in `[0, 1]`, `n` images of `c h w` each. A file
//! of another shape or type, a value outside the range (beyond rounding,
//! 1e-3) or not finite, an undecodable or wrongly sized PNG, or an empty
//! folder is a typed [`Error`] that names the file.
//!
//! ```
//! use gen_core::ValueRange;
//! use gen_data::samples::read_samples;
//! use npyz::WriterBuilder;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("samples.npy");
//! let values = vec![0.5f32; 2 * 4 * 4];
//! let mut w = npyz::WriteOptions::new().default_dtype().shape(&[2, 1, 4, 4])
//!     .writer(std::fs::File::create(&path).unwrap()).begin_nd().unwrap();
//! w.extend(values).unwrap();
//! w.finish().unwrap();
//! let (n, read) = read_samples(&path, [1, 4, 4], ValueRange::ZeroToOne).unwrap();
//! assert_eq!((n, read.len()), (2, 32));
//! ```

use std::fs;
use std::path::{Path, PathBuf};

use gen_core::ValueRange;

use crate::error::{Error, Result};
use crate::folder::decode_file;

/// Reads `n` sample images of `shape = [c, h, w]` from a `.npy` file or a
/// folder of PNGs (see the [module docs](self)) as `(n, values in [0, 1])`.
///
/// # Errors
/// See the [module docs](self).
pub fn read_samples(
    path: &Path,
    shape: [usize; 3],
    range: ValueRange,
) -> Result<(usize, Vec<f32>)> {
    let (n, values) = if path.is_dir() {
        read_png_folder(path, shape)?
    } else {
        read_npy(path, shape, range)?
    };
    if n == 0 {
        return Err(format(path, "holds no samples"));
    }
    Ok((n, values))
}

fn format(path: &Path, reason: impl Into<String>) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// The number of images in an array of `dims` holding images of `shape`.
fn count(path: &Path, dims: &[u64], [c, h, w]: [usize; 3]) -> Result<usize> {
    let d: Vec<usize> = dims.iter().map(|&x| x as usize).collect();
    let fits = match d.as_slice() {
        [_, dc, dh, dw] => [*dc, *dh, *dw] == [c, h, w],
        [_, dh, dw] => c == 1 && [*dh, *dw] == [h, w],
        [_, f] => *f == c * h * w,
        _ => false,
    };
    if !fits {
        return Err(format(
            path,
            format!(
                "shape {d:?} is not [n, {c}, {h}, {w}], [n, {h}, {w}] (one channel) or [n, {}]",
                c * h * w
            ),
        ));
    }
    Ok(d[0])
}

fn read_npy(path: &Path, shape: [usize; 3], range: ValueRange) -> Result<(usize, Vec<f32>)> {
    let file = fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let npy = npyz::NpyFile::new(std::io::BufReader::new(file))
        .map_err(|e| format(path, format!("not a .npy file: {e}")))?;
    if npy.order() != npyz::Order::C {
        return Err(format(path, "Fortran order; save the array in C order"));
    }
    let n = count(path, npy.shape(), shape)?;
    // `descr` is the header's Python literal, quoted: '<f4'.
    let descr = npy.dtype().descr().trim_matches('\'').to_string();
    let truncated = |e: std::io::Error| format(path, format!("reading its values: {e}"));
    let values: Vec<f32> = match descr.as_str() {
        "|u1" => {
            let bytes: Vec<u8> = npy.into_vec().map_err(truncated)?;
            return Ok((n, bytes.into_iter().map(|b| b as f32 / 255.0).collect()));
        }
        "<f4" => npy.into_vec().map_err(truncated)?,
        "<f8" => {
            let wide: Vec<f64> = npy.into_vec().map_err(truncated)?;
            wide.into_iter().map(|v| v as f32).collect()
        }
        other => {
            return Err(format(
                path,
                format!("dtype {other}: expected float32, float64 or uint8"),
            ));
        }
    };
    let (lo, hi) = match range {
        ValueRange::ZeroToOne => (0.0, 1.0),
        ValueRange::MinusOneToOne => (-1.0, 1.0),
    };
    const SLACK: f32 = 1e-3;
    if let Some((i, v)) = values
        .iter()
        .enumerate()
        .find(|(_, v)| !v.is_finite() || **v < lo - SLACK || **v > hi + SLACK)
    {
        return Err(format(
            path,
            format!(
                "value {v} at index {i} is outside [{lo}, {hi}]; say which range the samples use"
            ),
        ));
    }
    let unit = values
        .into_iter()
        .map(|v| ((v - lo) / (hi - lo)).clamp(0.0, 1.0))
        .collect();
    Ok((n, unit))
}

fn read_png_folder(dir: &Path, [c, h, w]: [usize; 3]) -> Result<(usize, Vec<f32>)> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("png")))
        .collect();
    paths.sort();
    if !matches!(c, 1 | 3) {
        return Err(format(
            dir,
            format!("{c} channels: PNG samples are grey (1) or RGB (3)"),
        ));
    }
    let mut values = Vec::with_capacity(paths.len() * c * h * w);
    for path in &paths {
        let image = decode_file(path)?;
        if (image.width() as usize, image.height() as usize) != (w, h) {
            return Err(format(
                path,
                format!(
                    "{}x{} pixels, expected {w}x{h}",
                    image.width(),
                    image.height()
                ),
            ));
        }
        if c == 1 {
            values.extend(
                image
                    .to_luma8()
                    .into_raw()
                    .into_iter()
                    .map(|b| b as f32 / 255.0),
            );
        } else {
            let rgb = image.to_rgb8().into_raw();
            for ch in 0..3 {
                values.extend(rgb.iter().skip(ch).step_by(3).map(|&b| b as f32 / 255.0));
            }
        }
    }
    Ok((paths.len(), values))
}

#[cfg(test)]
mod tests {
    use super::*;
    use npyz::WriterBuilder;

    fn write<T: npyz::AutoSerialize + Copy>(path: &Path, dims: &[u64], values: Vec<T>) {
        let file = fs::File::create(path).unwrap();
        let mut w = npyz::WriteOptions::new()
            .default_dtype()
            .shape(dims)
            .writer(file)
            .begin_nd()
            .unwrap();
        w.extend(values).unwrap();
        w.finish().unwrap();
    }

    fn error(path: &Path, shape: [usize; 3], range: ValueRange) -> String {
        read_samples(path, shape, range).unwrap_err().to_string()
    }

    #[test]
    fn npy_arrays_of_every_accepted_shape_and_type_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npy");
        let v: Vec<f32> = (0..3 * 16).map(|i| i as f32 / 47.0).collect();
        for dims in [&[3u64, 1, 4, 4][..], &[3, 4, 4], &[3, 16]] {
            write(&p, dims, v.clone());
            let (n, got) = read_samples(&p, [1, 4, 4], ValueRange::ZeroToOne).unwrap();
            assert_eq!((n, got), (3, v.clone()));
        }
        // [-1, 1] samples come back in [0, 1].
        write(&p, &[1, 2], vec![-1.0f32, 1.0]);
        let (_, got) = read_samples(&p, [1, 1, 2], ValueRange::MinusOneToOne).unwrap();
        assert_eq!(got, vec![0.0, 1.0]);
        write(&p, &[1, 2], vec![0u8, 255]);
        let (_, got) = read_samples(&p, [1, 1, 2], ValueRange::MinusOneToOne).unwrap();
        assert_eq!(got, vec![0.0, 1.0]);
        write(&p, &[1, 2], vec![0.25f64, 0.5]);
        let (_, got) = read_samples(&p, [1, 1, 2], ValueRange::ZeroToOne).unwrap();
        assert_eq!(got, vec![0.25, 0.5]);
    }

    #[test]
    fn bad_arrays_are_typed_errors_that_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.npy");
        write(&p, &[2, 5], vec![0.5f32; 10]);
        let e = error(&p, [1, 2, 2], ValueRange::ZeroToOne);
        assert!(e.contains("bad.npy") && e.contains("shape [2, 5]"), "{e}");
        write(&p, &[1, 2], vec![0.5f32, -0.5]);
        let e = error(&p, [1, 1, 2], ValueRange::ZeroToOne);
        assert!(e.contains("-0.5") && e.contains("outside [0, 1]"), "{e}");
        write(&p, &[1, 2], vec![0.5f32, f32::NAN]);
        assert!(error(&p, [1, 1, 2], ValueRange::ZeroToOne).contains("NaN"));
        write(&p, &[1, 2], vec![1i32, 2]);
        assert!(error(&p, [1, 1, 2], ValueRange::ZeroToOne).contains("dtype <i4"));
        write(&p, &[0, 2], Vec::<f32>::new());
        assert!(error(&p, [1, 1, 2], ValueRange::ZeroToOne).contains("no samples"));
        // Truncated: the header promises more values than the file holds.
        write(&p, &[4, 16], vec![0.5f32; 64]);
        let bytes = fs::read(&p).unwrap();
        fs::write(&p, &bytes[..bytes.len() - 10]).unwrap();
        assert!(error(&p, [1, 4, 4], ValueRange::ZeroToOne).contains("reading its values"));
        fs::write(&p, b"not numpy").unwrap();
        assert!(error(&p, [1, 4, 4], ValueRange::ZeroToOne).contains("not a .npy file"));
        let e = error(
            &dir.path().join("absent.npy"),
            [1, 4, 4],
            ValueRange::ZeroToOne,
        );
        assert!(e.contains("absent.npy"), "{e}");
    }

    #[test]
    fn png_folders_read_in_name_order_and_check_their_size() {
        let dir = tempfile::tempdir().unwrap();
        for (name, v) in [("b.png", 255u8), ("a.png", 0)] {
            image::GrayImage::from_pixel(3, 2, image::Luma([v]))
                .save(dir.path().join(name))
                .unwrap();
        }
        fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        let (n, got) = read_samples(dir.path(), [1, 2, 3], ValueRange::ZeroToOne).unwrap();
        assert_eq!(n, 2);
        assert_eq!(got, [vec![0.0; 6], vec![1.0; 6]].concat());
        let (_, rgb) = read_samples(dir.path(), [3, 2, 3], ValueRange::ZeroToOne).unwrap();
        assert_eq!(rgb.len(), 2 * 18);
        let e = error(dir.path(), [1, 3, 3], ValueRange::ZeroToOne);
        assert!(e.contains("a.png") && e.contains("3x2 pixels"), "{e}");
        let empty = tempfile::tempdir().unwrap();
        assert!(error(empty.path(), [1, 2, 3], ValueRange::ZeroToOne).contains("no samples"));
    }
}
