//! MNIST and Fashion-MNIST from their original IDX files, offline first.
//!
//! [`IdxImages::load`] reads the images and labels of one split from a
//! folder holding the original files (`train-images-idx3-ubyte.gz`, ...),
//! gzipped or not, checks them against the published sha256 checksums and
//! validates their structure. Nothing is downloaded here; with the
//! `download` feature, `gen_data::download` fetches missing files into a
//! cache folder first.
//!
//! - MNIST: Y. LeCun, C. Cortes, C. Burges, "The MNIST database of
//!   handwritten digits". 60,000 train + 10,000 test images, 28x28, grey.
//! - Fashion-MNIST: H. Xiao, K. Rasul, R. Vollgraf (2017), Zalando's article
//!   images, same layout; MIT licence.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::idx;

/// Which IDX dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IdxKind {
    /// Handwritten digits 0-9.
    Mnist,
    /// Zalando's article images in 10 classes.
    FashionMnist,
}

/// The train or the test split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    /// 60,000 images.
    Train,
    /// 10,000 images.
    Test,
}

/// How strictly files are checked against their published checksums.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Verify {
    /// A checksum mismatch is an error ([`Error::Checksum`]).
    #[default]
    Strict,
    /// Accept a modified copy; only the structure is validated.
    AcceptModified,
}

/// One of the four files of an IDX dataset, with its published checksums.
#[derive(Clone, Copy, Debug)]
pub struct IdxFile {
    /// The file name without `.gz`.
    pub name: &'static str,
    /// sha256 of the original gzipped file.
    pub gz_sha256: &'static str,
    /// sha256 of the uncompressed file, where published.
    pub raw_sha256: Option<&'static str>,
    /// Expected dimensions.
    pub dims: &'static [usize],
}

const MNIST: [IdxFile; 4] = [
    IdxFile {
        name: "train-images-idx3-ubyte",
        gz_sha256: "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        raw_sha256: Some("ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
        dims: &[60_000, 28, 28],
    },
    IdxFile {
        name: "train-labels-idx1-ubyte",
        gz_sha256: "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        raw_sha256: Some("65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
        dims: &[60_000],
    },
    IdxFile {
        name: "t10k-images-idx3-ubyte",
        gz_sha256: "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        raw_sha256: Some("0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
        dims: &[10_000, 28, 28],
    },
    IdxFile {
        name: "t10k-labels-idx1-ubyte",
        gz_sha256: "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        raw_sha256: Some("ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
        dims: &[10_000],
    },
];

const FASHION: [IdxFile; 4] = [
    IdxFile {
        name: "train-images-idx3-ubyte",
        gz_sha256: "08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc",
        raw_sha256: Some("c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
        dims: &[60_000, 28, 28],
    },
    IdxFile {
        name: "train-labels-idx1-ubyte",
        gz_sha256: "b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc",
        raw_sha256: Some("bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
        dims: &[60_000],
    },
    IdxFile {
        name: "t10k-images-idx3-ubyte",
        gz_sha256: "78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229",
        raw_sha256: Some("5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
        dims: &[10_000, 28, 28],
    },
    IdxFile {
        name: "t10k-labels-idx1-ubyte",
        gz_sha256: "42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf",
        raw_sha256: Some("0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
        dims: &[10_000],
    },
];

impl IdxKind {
    /// The four files: train images, train labels, test images, test labels.
    pub fn files(self) -> &'static [IdxFile; 4] {
        match self {
            IdxKind::Mnist => &MNIST,
            IdxKind::FashionMnist => &FASHION,
        }
    }

    /// The images and labels files of a split.
    pub fn split_files(self, split: Split) -> (&'static IdxFile, &'static IdxFile) {
        let f = self.files();
        match split {
            Split::Train => (&f[0], &f[1]),
            Split::Test => (&f[2], &f[3]),
        }
    }

    /// A short name (`mnist`, `fashion-mnist`).
    pub fn name(self) -> &'static str {
        match self {
            IdxKind::Mnist => "mnist",
            IdxKind::FashionMnist => "fashion-mnist",
        }
    }

    /// The class names, by label.
    pub fn class_names(self) -> [&'static str; 10] {
        match self {
            IdxKind::Mnist => ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
            IdxKind::FashionMnist => [
                "T-shirt/top",
                "Trouser",
                "Pullover",
                "Dress",
                "Coat",
                "Sandal",
                "Shirt",
                "Sneaker",
                "Bag",
                "Ankle boot",
            ],
        }
    }
}

/// The hex sha256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lower-case hex of a digest.
pub(crate) fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Finds `<name>.gz` or `<name>` in `dir`.
///
/// # Errors
/// [`Error::Missing`] when neither is there.
pub fn locate(dir: &Path, file: &IdxFile) -> Result<PathBuf> {
    let gz = dir.join(format!("{}.gz", file.name));
    let raw = dir.join(file.name);
    if gz.is_file() {
        Ok(gz)
    } else if raw.is_file() {
        Ok(raw)
    } else {
        Err(Error::Missing {
            path: gz,
            hint: format!(
                "put the original `{}.gz` (or the uncompressed file) in {}, or turn on the \
                 `download` feature and use gen_data::download",
                file.name,
                dir.display()
            ),
        })
    }
}

/// Reads one IDX file, checking its checksum (unless told not to) and its
/// dimensions.
///
/// # Errors
/// [`Error::Missing`], [`Error::Io`], [`Error::Checksum`],
/// [`Error::Format`].
pub fn read_checked(dir: &Path, file: &IdxFile, verify: Verify) -> Result<idx::IdxArray> {
    read_located(dir, file, verify).map(|(_, array)| array)
}

/// [`read_checked`], also returning the file it read.
fn read_located(dir: &Path, file: &IdxFile, verify: Verify) -> Result<(PathBuf, idx::IdxArray)> {
    let path = locate(dir, file)?;
    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let gzipped = idx::is_gzipped(&path);
    let array = idx::decode(
        &bytes,
        gzipped,
        &path.display().to_string(),
        file.dims.len(),
    )?;
    if verify == Verify::Strict {
        let found = sha256_hex(&bytes);
        let published = if gzipped {
            found == file.gz_sha256
        } else {
            file.raw_sha256.is_none_or(|raw| found == raw)
        };
        // A gzip file compressed again (a distribution's package) holds
        // the published bytes when its content has the published
        // uncompressed checksum.
        let repacked = gzipped
            && file
                .raw_sha256
                .is_some_and(|raw| sha256_hex(&idx::encode(&array.dims, &array.data)) == raw);
        if !published && !repacked {
            return Err(Error::Checksum {
                path,
                expected: if gzipped {
                    file.gz_sha256
                } else {
                    file.raw_sha256.unwrap_or("")
                }
                .to_string(),
                found,
            });
        }
    }
    if verify == Verify::Strict && array.dims[1..] != file.dims[1..] {
        return Err(Error::Format {
            path,
            reason: format!("dimensions {:?}, expected {:?}", array.dims, file.dims),
        });
    }
    Ok((path, array))
}

/// One split of an IDX dataset, in memory as bytes (60,000 MNIST images
/// take 47 MB).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxImages {
    /// `len * rows * cols` pixels, 0-255.
    pub pixels: Vec<u8>,
    /// `len` labels, 0-9.
    pub labels: Vec<u8>,
    /// Image height.
    pub rows: usize,
    /// Image width.
    pub cols: usize,
}

impl IdxImages {
    /// Loads a split of `kind` from the folder `dir`.
    ///
    /// # Errors
    /// [`Error::Missing`] for a file that is not there (naming where it was
    /// looked for), [`Error::Checksum`] for a modified file under
    /// [`Verify::Strict`], [`Error::Format`] for a malformed one, or image
    /// and label counts that disagree, or a label over 9.
    pub fn load(
        kind: IdxKind,
        dir: impl AsRef<Path>,
        split: Split,
        verify: Verify,
    ) -> Result<Self> {
        let dir = dir.as_ref();
        let (images_file, labels_file) = kind.split_files(split);
        let images = read_checked(dir, images_file, verify)?;
        let (labels_path, labels) = read_located(dir, labels_file, verify)?;
        if images.dims[0] != labels.dims[0] {
            return Err(Error::Format {
                path: labels_path,
                reason: format!(
                    "{} labels for {} images in {}",
                    labels.dims[0], images.dims[0], images_file.name
                ),
            });
        }
        if let Some(pos) = labels.data.iter().position(|&l| l > 9) {
            return Err(Error::Format {
                path: labels_path,
                reason: format!(
                    "label {} at index {pos} is not a class 0-9",
                    labels.data[pos]
                ),
            });
        }
        Ok(Self {
            pixels: images.data,
            labels: labels.data,
            rows: images.dims[1],
            cols: images.dims[2],
        })
    }

    /// The number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.rows * self.cols;
        &self.pixels[i * n..(i + 1) * n]
    }

    /// The count of each label 0-9.
    pub fn label_histogram(&self) -> [usize; 10] {
        let mut h = [0; 10];
        for &l in &self.labels {
            h[l as usize] += 1;
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idx::encode;

    #[test]
    fn a_recompressed_copy_of_the_published_bytes_is_accepted() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let raw = encode(&[3], &[1, 2, 3]);
        let file = IdxFile {
            name: "labels",
            gz_sha256: "the hash of the publisher's own gzip file",
            raw_sha256: Some(Box::leak(sha256_hex(&raw).into_boxed_str())),
            dims: &[3],
        };
        // Compressed again (as Debian's dataset-fashion-mnist package is):
        // another gzip file, the same content.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&raw).unwrap();
        std::fs::write(dir.path().join("labels.gz"), gz.finish().unwrap()).unwrap();
        assert_eq!(
            read_checked(dir.path(), &file, Verify::Strict)
                .unwrap()
                .data,
            [1, 2, 3]
        );
        // Other content is still refused.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&encode(&[3], &[1, 2, 4])).unwrap();
        std::fs::write(dir.path().join("labels.gz"), gz.finish().unwrap()).unwrap();
        let e = read_checked(dir.path(), &file, Verify::Strict).unwrap_err();
        assert!(matches!(e, Error::Checksum { .. }), "{e}");
    }

    /// Writes a tiny test split (`n` 28x28 images, `m` labels) under MNIST's names.
    fn write_split(dir: &Path, n: usize, m: usize, bad_label: bool) {
        let images = encode(&[n, 28, 28], &vec![7; n * 784]);
        let mut labels: Vec<u8> = (0..m).map(|i| (i % 10) as u8).collect();
        if bad_label {
            labels[0] = 12;
        }
        std::fs::write(dir.join("t10k-images-idx3-ubyte"), images).unwrap();
        std::fs::write(dir.join("t10k-labels-idx1-ubyte"), encode(&[m], &labels)).unwrap();
    }

    fn load(dir: &Path, verify: Verify) -> Result<IdxImages> {
        IdxImages::load(IdxKind::Mnist, dir, Split::Test, verify)
    }

    #[test]
    fn modified_copies_need_accept_modified() {
        let dir = tempfile::tempdir().unwrap();
        write_split(dir.path(), 3, 3, false);
        let e = load(dir.path(), Verify::Strict).unwrap_err();
        assert!(matches!(e, Error::Checksum { .. }), "{e}");
        let ok = load(dir.path(), Verify::AcceptModified).unwrap();
        assert_eq!((ok.len(), ok.rows, ok.cols), (3, 28, 28));
        assert_eq!(ok.image(2), &[7; 784][..]);
        assert_eq!(ok.label_histogram()[..3], [1, 1, 1]);
    }

    #[test]
    fn count_mismatch_bad_labels_and_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        write_split(dir.path(), 3, 4, false);
        let e = load(dir.path(), Verify::AcceptModified)
            .unwrap_err()
            .to_string();
        assert!(e.contains("4 labels for 3 images"), "{e}");
        write_split(dir.path(), 3, 3, true);
        let e = load(dir.path(), Verify::AcceptModified)
            .unwrap_err()
            .to_string();
        assert!(e.contains("label 12"), "{e}");
        std::fs::remove_file(dir.path().join("t10k-labels-idx1-ubyte")).unwrap();
        let e = load(dir.path(), Verify::AcceptModified).unwrap_err();
        assert!(matches!(e, Error::Missing { .. }), "{e}");
        assert!(e.to_string().contains("t10k-labels-idx1-ubyte.gz"));
    }

    #[test]
    fn sha256_of_known_bytes() {
        // FIPS 180-2 test vector.
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
