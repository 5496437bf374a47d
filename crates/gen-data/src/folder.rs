//! Images in files: a folder of images (flat, or one subfolder per class),
//! and the decoding every file-based dataset shares.
//!
//! Files are listed when the dataset is opened and decoded lazily, batch by
//! batch (in parallel, by the [`Loader`](crate::Loader)): a folder of
//! 200,000 images costs its list of paths in memory, not its pixels.
//!
//! Accepted formats: PNG, JPEG, PGM/PPM/PNM (binary and ASCII), BMP, found
//! by extension and checked against the file's magic bytes.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use gen_core::SeededRng;
use image::{DynamicImage, ImageReader, Limits};

use crate::error::{Error, Result};
use crate::examples::Examples;
use crate::transform::Transform;

/// The file extensions opened as images.
pub const EXTENSIONS: [&str; 7] = ["png", "jpg", "jpeg", "pgm", "ppm", "pnm", "bmp"];

/// The largest image side accepted (pixels).
pub const MAX_SIDE: u32 = 16_384;
/// The most memory one decoded image may take.
pub const MAX_ALLOC: u64 = 512 << 20;

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// Decodes an image from its bytes, with size limits, never panicking:
/// a decoder that panics on a malformed file is reported as an error.
///
/// # Errors
/// [`Error::Image`] naming `path`.
pub fn decode_bytes(bytes: &[u8], path: &Path) -> Result<DynamicImage> {
    let err = |reason: String| Error::Image {
        path: path.to_path_buf(),
        reason,
    };
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| err(e.to_string()))?;
    if reader.format().is_none() {
        return Err(err(
            "unknown format (magic bytes of no PNG, JPEG, PNM or BMP)".into(),
        ));
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || reader.decode())) {
        Ok(Ok(image)) => Ok(image),
        Ok(Err(e)) => Err(err(e.to_string())),
        Err(_) => Err(err("the decoder failed on malformed data".into())),
    }
}

/// Reads and decodes an image file.
///
/// # Errors
/// [`Error::Io`] when it cannot be read, [`Error::Image`] when it cannot
/// be decoded.
pub fn decode_file(path: &Path) -> Result<DynamicImage> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode_bytes(&bytes, path)
}

/// Image files with labels and optional binary attributes, decoded on
/// demand: the dataset behind [`ImageFolder`] and [`CelebA`](crate::CelebA).
#[derive(Clone, Debug)]
pub struct FileImages {
    pub(crate) paths: Vec<PathBuf>,
    pub(crate) labels: Option<Vec<i64>>,
    pub(crate) attributes: Option<(Vec<String>, Vec<u8>)>,
    pub(crate) class_names: Vec<String>,
    pub(crate) transform: Transform,
    pub(crate) shape: [usize; 3],
}

impl FileImages {
    /// Builds the dataset, decoding the first image to learn the shape
    /// (every image must give that shape after the transform: set a size
    /// when they differ).
    pub(crate) fn new(
        paths: Vec<PathBuf>,
        labels: Option<Vec<i64>>,
        attributes: Option<(Vec<String>, Vec<u8>)>,
        class_names: Vec<String>,
        transform: Transform,
    ) -> Result<Self> {
        let first = paths.first().ok_or_else(|| Error::Invalid {
            source_name: "image dataset".into(),
            reason: "no images".into(),
        })?;
        let image = decode_file(first)?;
        let shape = transform.output_shape(image.width(), image.height());
        Ok(Self {
            paths,
            labels,
            attributes,
            class_names,
            transform,
            shape,
        })
    }

    /// The image files, in dataset order.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// The class names, by label (folder names, or attribute values).
    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }

    /// The names of the binary attributes (CelebA's 40), if any.
    pub fn attribute_names(&self) -> &[String] {
        self.attributes
            .as_ref()
            .map_or(&[], |(names, _)| names.as_slice())
    }

    /// The transform.
    pub fn transform(&self) -> &Transform {
        &self.transform
    }
}

impl Examples for FileImages {
    fn len(&self) -> usize {
        self.paths.len()
    }

    fn item_shape(&self) -> Vec<usize> {
        self.shape.to_vec()
    }

    fn fill(&self, index: usize, rng: &mut SeededRng, out: &mut [f32]) -> Result<()> {
        let path = &self.paths[index];
        let image = decode_file(path)?;
        let got = self.transform.output_shape(image.width(), image.height());
        if got != self.shape {
            return Err(Error::Image {
                path: path.clone(),
                reason: format!(
                    "gives {got:?} after the transform, the dataset's shape is {:?}; \
                     resize to a fixed size (Transform::square)",
                    self.shape
                ),
            });
        }
        self.transform.apply(&image, rng, out);
        Ok(())
    }

    fn label(&self, index: usize) -> Option<i64> {
        self.labels.as_ref().map(|l| l[index])
    }

    fn num_attributes(&self) -> usize {
        self.attributes.as_ref().map_or(0, |(names, _)| names.len())
    }

    fn attributes(&self, index: usize) -> Option<Vec<i64>> {
        self.attributes.as_ref().map(|(names, a)| {
            let k = names.len();
            a[index * k..(index + 1) * k]
                .iter()
                .map(|&v| i64::from(v))
                .collect()
        })
    }
}

/// A folder of images: flat (unlabelled), or one subfolder per class
/// (labelled by the subfolders' sorted names, like torchvision's
/// `ImageFolder`).
#[derive(Debug)]
pub struct ImageFolder;

impl ImageFolder {
    /// Lists the images under `root` and returns them as a dataset.
    ///
    /// When `root` has subfolders that contain images, each such subfolder
    /// is a class and images directly in `root` are ignored; otherwise the
    /// images in `root` form an unlabelled dataset. Files are sorted, so
    /// the order (and the labels) are the same on every machine.
    ///
    /// # Errors
    /// [`Error::Missing`] when `root` does not exist, [`Error::Invalid`]
    /// when it holds no image, [`Error::Io`] when it cannot be listed,
    /// [`Error::Image`] when the first image cannot be decoded.
    pub fn open(root: impl AsRef<Path>, transform: Transform) -> Result<FileImages> {
        let root = root.as_ref();
        if !root.is_dir() {
            return Err(Error::Missing {
                path: root.to_path_buf(),
                hint: "give a folder of images, or of one subfolder of images per class".into(),
            });
        }
        let mut classes = Vec::new();
        for entry in list(root)? {
            if entry.is_dir() {
                let images: Vec<PathBuf> =
                    list(&entry)?.into_iter().filter(|p| is_image(p)).collect();
                if !images.is_empty() {
                    let name = entry.file_name().map(|n| n.to_string_lossy().into_owned());
                    classes.push((name.unwrap_or_default(), images));
                }
            }
        }
        if classes.is_empty() {
            let images: Vec<PathBuf> = list(root)?.into_iter().filter(|p| is_image(p)).collect();
            if images.is_empty() {
                return Err(Error::Invalid {
                    source_name: root.display().to_string(),
                    reason: format!("no images (accepted extensions: {})", EXTENSIONS.join(", ")),
                });
            }
            return FileImages::new(images, None, None, Vec::new(), transform);
        }
        let mut paths = Vec::new();
        let mut labels = Vec::new();
        let mut names = Vec::new();
        for (label, (name, images)) in classes.into_iter().enumerate() {
            labels.extend(std::iter::repeat_n(label as i64, images.len()));
            paths.extend(images);
            names.push(name);
        }
        FileImages::new(paths, Some(labels), None, names, transform)
    }
}

/// The entries of a folder, sorted in natural order (`s2` before `s10`).
fn list(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut entries = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .map(|e| e.map(|e| e.path()).map_err(|e| Error::io(dir, e)))
        .collect::<Result<Vec<_>>>()?;
    entries.sort_by(|a, b| natural_cmp(&a.to_string_lossy(), &b.to_string_lossy()));
    Ok(entries)
}

/// Compares strings with runs of digits compared as numbers.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return std::cmp::Ordering::Equal,
            (None, _) => return std::cmp::Ordering::Less,
            (_, None) => return std::cmp::Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let da = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let db = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let (na, nb) = (trim_zeros(&a[..da]), trim_zeros(&b[..db]));
                let ord = na.len().cmp(&nb.len()).then(na.cmp(nb));
                if ord != std::cmp::Ordering::Equal {
                    return ord;
                }
                (a, b) = (&a[da..], &b[db..]);
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                (a, b) = (&a[1..], &b[1..]);
            }
        }
    }
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let start = d.iter().position(|&c| c != b'0').unwrap_or(d.len());
    &d[start..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, Luma};

    fn write_png(path: &Path, w: u32, h: u32, v: u8) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        GrayImage::from_pixel(w, h, Luma([v])).save(path).unwrap();
    }

    #[test]
    fn natural_order() {
        let mut v = vec!["s10", "s2", "s1", "a", "s02x"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, vec!["a", "s1", "s2", "s02x", "s10"]);
    }

    #[test]
    fn flat_and_class_folders() {
        let dir = tempfile::tempdir().unwrap();
        write_png(&dir.path().join("flat/b.png"), 3, 2, 10);
        write_png(&dir.path().join("flat/a.png"), 3, 2, 20);
        std::fs::write(dir.path().join("flat/notes.txt"), "x").unwrap();
        let flat = ImageFolder::open(dir.path().join("flat"), Transform::new()).unwrap();
        assert_eq!(flat.len(), 2);
        assert_eq!(flat.item_shape(), vec![1, 2, 3]);
        assert_eq!(flat.label(0), None);

        write_png(&dir.path().join("cls/dog/1.png"), 4, 4, 0);
        write_png(&dir.path().join("cls/cat/1.png"), 4, 4, 0);
        write_png(&dir.path().join("cls/cat/2.png"), 4, 4, 0);
        let cls = ImageFolder::open(dir.path().join("cls"), Transform::new()).unwrap();
        assert_eq!(cls.class_names(), &["cat".to_string(), "dog".to_string()]);
        assert_eq!((cls.label(0), cls.label(2)), (Some(0), Some(1)));
    }

    #[test]
    fn bad_folders_and_files_are_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = ImageFolder::open(dir.path().join("nope"), Transform::new());
        assert!(matches!(missing, Err(Error::Missing { .. })));
        let empty = ImageFolder::open(dir.path(), Transform::new())
            .unwrap_err()
            .to_string();
        assert!(empty.contains("no images"), "{empty}");
        std::fs::write(dir.path().join("bad.png"), b"\x89PNG\r\n\x1a\nbroken").unwrap();
        let bad = ImageFolder::open(dir.path(), Transform::new())
            .unwrap_err()
            .to_string();
        assert!(
            bad.contains("bad.png") && bad.contains("cannot decode"),
            "{bad}"
        );
        let garbage = decode_bytes(b"hello", Path::new("x.png"))
            .unwrap_err()
            .to_string();
        assert!(garbage.contains("unknown format"), "{garbage}");
    }

    #[test]
    fn every_format_decodes_to_the_same_pixels() {
        let dir = tempfile::tempdir().unwrap();
        let img = GrayImage::from_fn(5, 4, |x, y| Luma([(x * 40 + y * 10) as u8]));
        let mut decoded = Vec::new();
        for ext in ["png", "pgm", "bmp", "ppm"] {
            let path = dir.path().join(format!("img.{ext}"));
            if ext == "ppm" {
                DynamicImage::ImageLuma8(img.clone())
                    .to_rgb8()
                    .save(&path)
                    .unwrap();
            } else {
                img.save(&path).unwrap();
            }
            decoded.push(decode_file(&path).unwrap().to_luma8());
        }
        assert!(decoded.iter().all(|d| d == &img), "lossless formats differ");
        let jpeg = dir.path().join("img.jpg");
        img.save(&jpeg).unwrap();
        let back = decode_file(&jpeg).unwrap().to_luma8();
        assert_eq!(back.dimensions(), (5, 4));
        assert!(
            back.pixels()
                .zip(img.pixels())
                .all(|(a, b)| a[0].abs_diff(b[0]) < 24)
        );
    }

    #[test]
    fn mixed_sizes_need_a_resize() {
        let dir = tempfile::tempdir().unwrap();
        write_png(&dir.path().join("a.png"), 4, 4, 0);
        write_png(&dir.path().join("b.png"), 6, 5, 255);
        let ds = ImageFolder::open(dir.path(), Transform::new()).unwrap();
        let mut out = vec![0.0; 16];
        let err = ds
            .fill(1, &mut SeededRng::new(0), &mut out)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("b.png") && err.contains("Transform::square"),
            "{err}"
        );
        let ds = ImageFolder::open(dir.path(), Transform::new().square(4)).unwrap();
        ds.fill(1, &mut SeededRng::new(0), &mut out).unwrap();
        assert!(out.iter().all(|&v| v == 1.0));
    }
}
