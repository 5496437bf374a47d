//! The CelebA layout (Liu et al., "Deep Learning Face Attributes in the
//! Wild", ICCV 2015), read from a local copy:
//!
//! ```text
//! <root>/img_align_celeba/000001.jpg ...
//! <root>/list_attr_celeba.txt        count, then 40 attribute names, then
//!                                    one row per image: file name and 40
//!                                    values in {-1, 1}
//! <root>/list_eval_partition.txt     one row per image: file name and
//!                                    0 (train), 1 (valid) or 2 (test)
//! ```
//!
//! Attributes become 0/1 and travel with each batch
//! ([`gen_core::Batch::attributes`]); one of them can also serve as the
//! class label of a conditional model ([`CelebA::label_attribute`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::folder::FileImages;
use crate::transform::Transform;

/// A partition of CelebA.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CelebASplit {
    /// Partition 0 (162,770 images in the full set).
    #[default]
    Train,
    /// Partition 1.
    Valid,
    /// Partition 2.
    Test,
    /// Every image listed in the attribute file.
    All,
}

/// Options for opening a CelebA folder.
#[derive(Clone, Debug, Default)]
pub struct CelebA {
    split: CelebASplit,
    label: Option<String>,
}

impl CelebA {
    /// The train split, without a class label.
    pub fn new() -> Self {
        Self::default()
    }

    /// Chooses the split.
    #[must_use]
    pub fn split(mut self, split: CelebASplit) -> Self {
        self.split = split;
        self
    }

    /// Uses one attribute (e.g. `Smiling`) as the class label (0 or 1).
    #[must_use]
    pub fn label_attribute(mut self, name: impl Into<String>) -> Self {
        self.label = Some(name.into());
        self
    }

    /// Opens the folder `root` in the CelebA layout.
    ///
    /// # Errors
    /// [`Error::Missing`] for a missing image folder or list file,
    /// [`Error::Parse`] for a malformed row (naming file and line),
    /// [`Error::Invalid`] for counts that disagree or an unknown label
    /// attribute, and the image errors of the first image.
    pub fn open(&self, root: impl AsRef<Path>, transform: Transform) -> Result<FileImages> {
        let root = root.as_ref();
        let images = root.join("img_align_celeba");
        if !images.is_dir() {
            return Err(missing(&images));
        }
        let attr_path = root.join("list_attr_celeba.txt");
        let (names, rows) = parse_attributes(&read_text(&attr_path)?, &attr_path)?;
        let partition = if self.split == CelebASplit::All {
            None
        } else {
            let path = root.join("list_eval_partition.txt");
            Some(parse_partition(&read_text(&path)?, &path)?)
        };
        let wanted = match self.split {
            CelebASplit::Train => 0,
            CelebASplit::Valid => 1,
            CelebASplit::Test => 2,
            CelebASplit::All => u8::MAX,
        };
        let label_column = match &self.label {
            None => None,
            Some(label) => {
                Some(
                    names
                        .iter()
                        .position(|n| n == label)
                        .ok_or_else(|| Error::Invalid {
                            source_name: attr_path.display().to_string(),
                            reason: format!(
                                "no attribute `{label}` (it has: {})",
                                names.join(", ")
                            ),
                        })?,
                )
            }
        };
        let mut paths = Vec::new();
        let mut values = Vec::new();
        let mut labels = Vec::new();
        for (file, row) in rows {
            if let Some(partition) = &partition {
                match partition.get(&file) {
                    Some(&p) if p == wanted => {}
                    Some(_) => continue,
                    None => {
                        return Err(Error::Invalid {
                            source_name: root.join("list_eval_partition.txt").display().to_string(),
                            reason: format!(
                                "`{file}` is in the attribute list but has no partition"
                            ),
                        });
                    }
                }
            }
            if let Some(c) = label_column {
                labels.push(i64::from(row[c]));
            }
            values.extend_from_slice(&row);
            paths.push(images.join(&file));
        }
        let class_names = match &self.label {
            Some(l) => vec![format!("not {l}"), l.clone()],
            None => Vec::new(),
        };
        let labels = label_column.map(|_| labels);
        FileImages::new(paths, labels, Some((names, values)), class_names, transform)
    }
}

fn missing(path: &Path) -> Error {
    Error::Missing {
        path: path.to_path_buf(),
        hint: "a CelebA folder holds img_align_celeba/, list_attr_celeba.txt and \
               list_eval_partition.txt"
            .into(),
    }
}

fn read_text(path: &Path) -> Result<String> {
    if !path.is_file() {
        return Err(missing(path));
    }
    std::fs::read_to_string(path).map_err(|e| Error::io(path, e))
}

type Rows = Vec<(String, Vec<u8>)>;

/// Parses `list_attr_celeba.txt`: the names and, per file, 0/1 values.
fn parse_attributes(text: &str, path: &Path) -> Result<(Vec<String>, Rows)> {
    let err = |line: usize, reason: String| Error::Parse {
        source_name: path.display().to_string(),
        line,
        reason,
    };
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, count) = lines.next().ok_or_else(|| err(1, "empty file".into()))?;
    let count: usize = count.trim().parse().map_err(|_| {
        err(
            1,
            format!("the first line should be the image count, found `{count}`"),
        )
    })?;
    let (_, header) = lines
        .next()
        .ok_or_else(|| err(2, "no attribute names".into()))?;
    let names: Vec<String> = header.split_whitespace().map(str::to_string).collect();
    let mut rows = Vec::with_capacity(count.min(1 << 20));
    for (i, line) in lines {
        let mut fields = line.split_whitespace();
        let file = fields.next().expect("non-empty line").to_string();
        let values = fields
            .map(|f| match f {
                "1" => Ok(1u8),
                "-1" | "0" => Ok(0u8),
                other => Err(err(i + 1, format!("`{other}` is not -1, 0 or 1"))),
            })
            .collect::<Result<Vec<u8>>>()?;
        if values.len() != names.len() {
            return Err(err(
                i + 1,
                format!("{} values for {} attributes", values.len(), names.len()),
            ));
        }
        rows.push((file, values));
    }
    if rows.len() != count {
        return Err(Error::Invalid {
            source_name: path.display().to_string(),
            reason: format!("declares {count} images but lists {}", rows.len()),
        });
    }
    Ok((names, rows))
}

/// Parses `list_eval_partition.txt`.
fn parse_partition(text: &str, path: &Path) -> Result<HashMap<String, u8>> {
    let mut map = HashMap::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let partition = match fields.as_slice() {
            [_, p] => p.parse::<u8>().ok().filter(|p| *p <= 2),
            _ => None,
        };
        let Some(partition) = partition else {
            return Err(Error::Parse {
                source_name: path.display().to_string(),
                line: i + 1,
                reason: format!("expected `<file> <0|1|2>`, found `{line}`"),
            });
        };
        map.insert(fields[0].to_string(), partition);
    }
    Ok(map)
}

/// Writes a small CelebA-layout folder of `n` solid-colour JPEGs with
/// `attributes` attribute columns, for tests and examples: image `i` has
/// attribute `j` set when bit `j` of `i` is, and partition `i % 3`.
///
/// # Errors
/// When the folder cannot be written.
pub fn write_fixture(root: &Path, n: usize, attributes: usize) -> Result<PathBuf> {
    let images = root.join("img_align_celeba");
    std::fs::create_dir_all(&images).map_err(|e| Error::io(&images, e))?;
    let names: Vec<String> = (0..attributes).map(|j| format!("Attr_{j}")).collect();
    let mut attr = format!("{n}\n{}\n", names.join(" "));
    let mut part = String::new();
    for i in 0..n {
        let file = format!("{:06}.jpg", i + 1);
        let shade = (i * 40 % 256) as u8;
        let image = image::RgbImage::from_pixel(178, 218, image::Rgb([shade, 255 - shade, 128]));
        let path = images.join(&file);
        image.save(&path).map_err(|e| Error::Image {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let values: Vec<&str> = (0..attributes)
            .map(|j| if i >> j & 1 == 1 { " 1" } else { "-1" })
            .collect();
        attr.push_str(&format!("{file} {}\n", values.join(" ")));
        part.push_str(&format!("{file} {}\n", i % 3));
    }
    let write = |name: &str, text: &str| {
        let p = root.join(name);
        std::fs::write(&p, text).map_err(|e| Error::io(&p, e))
    };
    write("list_attr_celeba.txt", &attr)?;
    write("list_eval_partition.txt", &part)?;
    Ok(root.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::examples::Examples;
    use crate::transform::Channels;

    #[test]
    fn generated_layout_loads_with_splits_attributes_and_labels() {
        let dir = tempfile::tempdir().unwrap();
        write_fixture(dir.path(), 9, 3).unwrap();
        let t = Transform::new().square(16).channels(Channels::Rgb);
        let all = CelebA::new()
            .split(CelebASplit::All)
            .open(dir.path(), t.clone())
            .unwrap();
        assert_eq!(all.len(), 9);
        assert_eq!(all.item_shape(), vec![3, 16, 16]);
        assert_eq!(all.attribute_names().len(), 3);
        assert_eq!(all.attributes(5), Some(vec![1, 0, 1]));
        let train = CelebA::new()
            .label_attribute("Attr_0")
            .open(dir.path(), t.clone())
            .unwrap();
        assert_eq!(train.len(), 3); // images 1, 4, 7 have partition 0
        assert_eq!(train.paths()[1].file_name().unwrap(), "000004.jpg");
        assert_eq!(train.label(1), Some(1)); // i = 3: bit 0 set
        assert_eq!(
            train.class_names(),
            &["not Attr_0".to_string(), "Attr_0".to_string()]
        );
        let mut out = vec![0.0; 3 * 16 * 16];
        train
            .fill(0, &mut gen_core::SeededRng::new(0), &mut out)
            .unwrap();
    }

    #[test]
    fn damaged_layouts_are_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        let open = |c: CelebA| {
            c.open(dir.path(), Transform::new().square(8))
                .unwrap_err()
                .to_string()
        };
        assert!(open(CelebA::new()).contains("img_align_celeba"));
        write_fixture(dir.path(), 4, 2).unwrap();
        assert!(open(CelebA::new().label_attribute("Smiling")).contains("no attribute `Smiling`"));
        let attr = dir.path().join("list_attr_celeba.txt");
        let text = std::fs::read_to_string(&attr).unwrap();
        let bad_row: String = text
            .lines()
            .enumerate()
            .map(|(i, l)| {
                if i == 3 {
                    "000002.jpg 7 -1\n".to_string()
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        std::fs::write(&attr, bad_row).unwrap();
        let e = open(CelebA::new());
        assert!(e.contains("line 4") && e.contains("`7`"), "{e}");
        std::fs::write(&attr, text.replacen("4\n", "5\n", 1)).unwrap();
        assert!(open(CelebA::new()).contains("declares 5 images but lists 4"));
        std::fs::remove_file(&attr).unwrap();
        assert!(open(CelebA::new()).contains("list_attr_celeba.txt: not found"));
        std::fs::write(&attr, text).unwrap();
        std::fs::remove_file(dir.path().join("list_eval_partition.txt")).unwrap();
        assert!(open(CelebA::new()).contains("list_eval_partition.txt: not found"));
        assert!(
            CelebA::new()
                .split(CelebASplit::All)
                .open(dir.path(), Transform::new().square(8))
                .is_ok()
        );
    }
}
