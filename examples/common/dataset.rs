//! One way to name an image dataset on every image example's command line:
//! `--dataset mnist | fashion-mnist | folder | celeba`, `--data DIR`,
//! `--size N`, `--color grey | rgb`, `--accept-modified`. Every
//! mistake is reported in command-line words, naming the flag to use.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use generative::core::{self as gcore, ValueRange};
use generative::data::{
    self as gdata, Binarize, CelebA, CelebASplit, Channels, Examples, IdxExamples, IdxImages,
    IdxKind, ImageFolder, Split, Transform, Verify, train_test_split,
};
use generative::eval::classifier::{MnistClassifier, MnistClassifierConfig};
use serde::Serialize;

/// The dataset flags, flattened into each example's arguments.
#[derive(clap::Args, Debug, Clone, Serialize)]
pub struct DataArgs {
    /// The dataset: mnist, fashion-mnist, folder (a folder of images, or of
    /// one sub-folder per class) or celeba (the CelebA layout).
    #[arg(long, default_value = "mnist")]
    pub dataset: String,
    /// Where it is (default: ../shared/data/mnist for MNIST; the Debian
    /// package's folder for Fashion-MNIST; required otherwise).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Train on N x N images: folders and CelebA are cropped to their
    /// centred square and resized, IDX images resized (default: the
    /// images' own size; 64 for CelebA).
    #[arg(long)]
    pub size: Option<u32>,
    /// grey or rgb (default: grey for the IDX sets, rgb for CelebA, and
    /// for a folder the colour of its first image).
    #[arg(long)]
    pub color: Option<String>,
    /// Accept IDX files whose sha256 is not the published one (a copy you
    /// changed on purpose).
    #[arg(long)]
    pub accept_modified: bool,
}

/// The datasets by their command-line names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetKind {
    Mnist,
    FashionMnist,
    Folder,
    Celeba,
}

impl DatasetKind {
    fn parse(name: &str) -> gcore::Result<Self> {
        Ok(match name {
            "mnist" => Self::Mnist,
            "fashion-mnist" | "fashion_mnist" => Self::FashionMnist,
            "folder" => Self::Folder,
            "celeba" => Self::Celeba,
            other => {
                return Err(gcore::Error::config(
                    "dataset",
                    format!(
                        "`{other}` is not a dataset: pass --dataset mnist, fashion-mnist, folder or celeba"
                    ),
                ));
            }
        })
    }

    /// Whether it is an IDX set (MNIST, Fashion-MNIST): 28x28 grey images
    /// read as they are.
    pub fn is_idx(self) -> bool {
        matches!(self, Self::Mnist | Self::FashionMnist)
    }

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mnist => "mnist",
            Self::FashionMnist => "fashion-mnist",
            Self::Folder => "folder",
            Self::Celeba => "celeba",
        }
    }
}

/// A dataset ready for the loader.
pub struct ImageData {
    /// Which one.
    pub kind: DatasetKind,
    /// Where it was read from.
    pub dir: PathBuf,
    /// The training examples.
    pub train: Arc<dyn Examples>,
    /// Held-out examples: the IDX test split, or a tenth of a folder.
    pub test: Arc<dyn Examples>,
    /// `[channels, height, width]` of one example.
    pub shape: [usize; 3],
    /// The number of classes when the examples are labelled.
    pub classes: Option<usize>,
}

impl ImageData {
    /// The values of one example.
    pub fn features(&self) -> usize {
        self.shape.iter().product()
    }

    /// The side of the (square) images.
    pub fn size(&self) -> usize {
        self.shape[1]
    }

    /// A line for the log: `fashion-mnist (60000 images 1x28x28, 10 classes)`.
    pub fn describe(&self) -> String {
        let [c, h, w] = self.shape;
        let classes = self
            .classes
            .map_or(String::new(), |k| format!(", {k} classes"));
        format!(
            "{} ({} images {c}x{h}x{w}{classes})",
            self.kind.name(),
            self.train.len()
        )
    }

    /// The classes, or an error naming the flag for a dataset without them.
    pub fn require_classes(&self, flag: &str) -> gcore::Result<usize> {
        self.classes.ok_or_else(|| {
            gcore::Error::config(
                "dataset",
                format!(
                    "{flag} needs labels, and this {} has none: use mnist, fashion-mnist or a \
                     folder of one sub-folder per class, or drop {flag}",
                    self.kind.name()
                ),
            )
        })
    }

    /// An error unless the images are square and `sizes` holds their side.
    pub fn require_size(&self, model: &str, sizes: &[usize]) -> gcore::Result<()> {
        let [_, h, w] = self.shape;
        if h == w && sizes.contains(&h) {
            return Ok(());
        }
        let list: Vec<String> = sizes.iter().map(ToString::to_string).collect();
        Err(gcore::Error::config(
            "size",
            format!(
                "the {model} is built for square images of {} pixels, these are {w}x{h}: pass --size {}",
                list.join(", "),
                sizes
                    .iter()
                    .copied()
                    .filter(|&s| s <= h.min(w))
                    .max()
                    .unwrap_or(sizes[0])
            ),
        ))
    }
}

impl DataArgs {
    /// Opens the dataset, values in `range` (binarised as asked).
    ///
    /// # Errors
    /// Every problem as a message that names the flag to use.
    pub fn load(&self, range: ValueRange, binarize: Binarize) -> gcore::Result<ImageData> {
        let kind = DatasetKind::parse(&self.dataset)?;
        let channels = match self.color.as_deref() {
            None => None,
            Some("grey" | "gray") => Some(Channels::Grey),
            Some("rgb") => Some(Channels::Rgb),
            Some(other) => {
                return Err(gcore::Error::config(
                    "color",
                    format!("`{other}` is not a colour mode: pass --color grey or rgb"),
                ));
            }
        };
        let dir = self.dir(kind)?;
        let base = Transform::new().range(range).binarize(binarize);
        let (train, test): (Arc<dyn Examples>, Arc<dyn Examples>) = match kind {
            DatasetKind::Mnist | DatasetKind::FashionMnist => {
                if channels == Some(Channels::Rgb) {
                    return Err(gcore::Error::config(
                        "color",
                        format!("{} is grey: drop --color rgb", kind.name()),
                    ));
                }
                let t = match self.size {
                    Some(s) => base.resize(s),
                    None => base,
                };
                let load = |split| self.idx(kind, &dir, split);
                (
                    Arc::new(IdxExamples::new(load(Split::Train)?, t.clone())),
                    Arc::new(IdxExamples::new(load(Split::Test)?, t)),
                )
            }
            DatasetKind::Folder => {
                let files = image_files(&dir);
                let sized = match self.size {
                    Some(s) => base.square(s),
                    None => {
                        same_sizes(&files)?;
                        base
                    }
                };
                let colour = match channels {
                    Some(c) => c,
                    None => first_colour(&files)?,
                };
                let all = ImageFolder::open(&dir, sized.channels(colour)).map_err(in_words)?;
                let (train, test) = train_test_split(all, 0.1, 0)?;
                (Arc::new(train), Arc::new(test))
            }
            DatasetKind::Celeba => {
                let t = base
                    .square(self.size.unwrap_or(64))
                    .channels(channels.unwrap_or(Channels::Rgb));
                let open = |split| {
                    CelebA::new()
                        .split(split)
                        .open(&dir, t.clone())
                        .map_err(in_words)
                };
                (
                    Arc::new(open(CelebASplit::Train)?),
                    Arc::new(open(CelebASplit::Test)?),
                )
            }
        };
        let shape: [usize; 3] = train.item_shape().try_into().map_err(|_| {
            gcore::Error::config(
                "dataset",
                "its examples are not images [channels, height, width]",
            )
        })?;
        let classes = (0..train.len())
            .map(|i| train.label(i))
            .collect::<Option<Vec<i64>>>()
            .and_then(|labels| labels.into_iter().max())
            .map(|max| max as usize + 1);
        Ok(ImageData {
            kind,
            dir,
            train,
            test,
            shape,
            classes,
        })
    }

    /// The train and test splits of a labelled set of 28x28 grey images as
    /// raw 0-255 pixels: an IDX dataset as it is, or a folder (of one
    /// sub-folder per class, at most 10) or CelebA read once through
    /// [`load`](Self::load) and quantised to bytes (for `train_classifier`).
    ///
    /// # Errors
    /// As [`load`](Self::load); images that are not 28x28 grey or not
    /// labelled, with the flag to use.
    pub fn labelled_28x28(
        &self,
        tool: &str,
        device: &burn::tensor::Device,
    ) -> gcore::Result<(DatasetKind, IdxImages, IdxImages)> {
        if DatasetKind::parse(&self.dataset)?.is_idx() {
            let (kind, train) = self.idx_images(Split::Train, tool)?;
            return Ok((kind, train, self.idx_images(Split::Test, tool)?.1));
        }
        let data = self.load(ValueRange::ZeroToOne, Binarize::Off)?;
        let classes = data.require_classes(tool)?;
        if data.shape != [1, 28, 28] {
            let [c, h, w] = data.shape;
            return Err(gcore::Error::config(
                "size",
                format!(
                    "{tool} reads 28x28 grey images, these are {c}x{h}x{w}: pass --size 28 --color grey"
                ),
            ));
        }
        if classes > 10 {
            return Err(gcore::Error::config(
                "dataset",
                format!(
                    "{tool}'s classifier has 10 outputs, this {} has {classes} classes",
                    data.kind.name()
                ),
            ));
        }
        let bytes = |examples: Arc<dyn Examples>| -> gcore::Result<IdxImages> {
            let (images, labels) = first_images(examples, usize::MAX, device)?;
            let values: Vec<f32> = images
                .into_data()
                .convert::<f32>()
                .try_into_vec()
                .map_err(|e| gcore::Error::Data(format!("{e:?}")))?;
            Ok(IdxImages {
                pixels: values
                    .iter()
                    .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
                    .collect(),
                labels: labels.iter().map(|&l| l as u8).collect(),
                rows: 28,
                cols: 28,
            })
        };
        Ok((
            data.kind,
            bytes(data.train.clone())?,
            bytes(data.test.clone())?,
        ))
    }

    /// A split of an IDX dataset (MNIST or Fashion-MNIST) as its raw
    /// images, for tools built for 28x28 grey images.
    ///
    /// # Errors
    /// Another dataset, with the flag to use; the IDX errors in words.
    pub fn idx_images(&self, split: Split, tool: &str) -> gcore::Result<(DatasetKind, IdxImages)> {
        let kind = DatasetKind::parse(&self.dataset)?;
        if !kind.is_idx() {
            return Err(gcore::Error::config(
                "dataset",
                format!("{tool} reads 28x28 grey IDX sets: pass --dataset mnist or fashion-mnist"),
            ));
        }
        if self.size.is_some_and(|s| s != 28) || self.color.as_deref().is_some_and(|c| c == "rgb") {
            return Err(gcore::Error::config(
                "size",
                format!("{tool} reads the 28x28 grey images as they are: drop --size and --color"),
            ));
        }
        Ok((kind, self.idx(kind, &self.dir(kind)?, split)?))
    }

    /// `--data`, or where the dataset is by default (MNIST in
    /// ../shared/data, Fashion-MNIST where Debian's package puts it).
    fn dir(&self, kind: DatasetKind) -> gcore::Result<PathBuf> {
        match (&self.data, kind) {
            (Some(dir), _) => Ok(dir.clone()),
            (None, DatasetKind::Mnist) => Ok(PathBuf::from("../shared/data/mnist")),
            (None, DatasetKind::FashionMnist) => Ok(PathBuf::from(FASHION_MNIST_DEBIAN)),
            (None, _) => Err(gcore::Error::config(
                "data",
                format!("--dataset {} needs --data <its folder>", kind.name()),
            )),
        }
    }

    /// How strictly IDX files are checked (`--accept-modified`).
    pub fn verify(&self) -> Verify {
        if self.accept_modified {
            Verify::AcceptModified
        } else {
            Verify::Strict
        }
    }

    fn idx(&self, kind: DatasetKind, dir: &Path, split: Split) -> gcore::Result<IdxImages> {
        let idx_kind = if kind == DatasetKind::Mnist {
            IdxKind::Mnist
        } else {
            IdxKind::FashionMnist
        };
        IdxImages::load(idx_kind, dir, split, self.verify()).map_err(|e| match e {
            gdata::Error::Checksum { path, .. } => {
                let other = if kind == DatasetKind::Mnist {
                    "if these are Fashion-MNIST files, pass --dataset fashion-mnist; "
                } else {
                    "if these are MNIST files, pass --dataset mnist; "
                };
                gcore::Error::config(
                    "dataset",
                    format!(
                        "{} is not the published {} file ({other}if it is a copy you changed on \
                         purpose, pass --accept-modified)",
                        path.display(),
                        kind.name()
                    ),
                )
            }
            gdata::Error::Missing { path, .. } => gcore::Error::config(
                "data",
                format!(
                    "{} is not there: pass --data <the folder with the four {} IDX files> \
                     (gzipped or not)",
                    path.display(),
                    kind.name()
                ),
            ),
            other => other.into(),
        })
    }
}

/// Where the Debian package `dataset-fashion-mnist` puts the files.
const FASHION_MNIST_DEBIAN: &str = "/usr/share/datasets/fashion-mnist";

/// gen-data's folder errors in command-line words.
fn in_words(e: gdata::Error) -> gcore::Error {
    match e {
        gdata::Error::Missing { path, .. } => gcore::Error::config(
            "data",
            format!(
                "{} is not there: pass --data <a folder of images, or of one sub-folder per class>",
                path.display()
            ),
        ),
        gdata::Error::Invalid {
            source_name,
            reason,
        } if reason.starts_with("no images") => gcore::Error::config(
            "data",
            format!("{source_name} holds {reason}: pass --data <a folder of images>"),
        ),
        other => other.into(),
    }
}

/// The image files of a folder (flat, or one level of class folders).
fn image_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![(dir.to_path_buf(), 0)];
    while let Some((d, depth)) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() && depth == 0 {
                dirs.push((path, 1));
            } else if image::ImageFormat::from_path(&path).is_ok() {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// An error naming `--size` when the images of `dir` differ in size.
fn same_sizes(files: &[PathBuf]) -> gcore::Result<()> {
    let mut first: Option<(PathBuf, (u32, u32))> = None;
    for path in files {
        let Ok(size) = image::image_dimensions(path) else {
            continue;
        };
        match &first {
            None => first = Some((path.clone(), size)),
            Some((p, s)) if *s != size => {
                return Err(gcore::Error::config(
                    "size",
                    format!(
                        "the images differ in size ({} is {}x{}, {} is {}x{}): pass --size N to \
                         crop and resize them all to N x N",
                        p.display(),
                        s.0,
                        s.1,
                        path.display(),
                        size.0,
                        size.1
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// RGB when the folder's first image has colour, else grey.
fn first_colour(files: &[PathBuf]) -> gcore::Result<Channels> {
    let Some(first) = files.first() else {
        return Ok(Channels::Grey); // the folder reader reports it
    };
    let image = gdata::folder::decode_file(first)?;
    Ok(if image.color().has_color() {
        Channels::Rgb
    } else {
        Channels::Grey
    })
}

/// The classifier that scores samples of a dataset: the one saved at
/// `path` (by `train_classifier`), else the embedded MNIST one for MNIST.
/// `Ok(None)` when none fits, after saying so on stderr.
///
/// # Errors
/// Images the classifier cannot read (it reads 28x28 grey), or a file that
/// is not its weights.
pub fn classifier(
    kind: DatasetKind,
    shape: [usize; 3],
    path: Option<&Path>,
    device: &burn::tensor::Device,
) -> gcore::Result<Option<MnistClassifier>> {
    let [c, h, w] = shape;
    if shape != [1, 28, 28] && path.is_none() {
        eprintln!(
            "no classifier fits {c}x{h}x{w} images: the classifiers read 28x28 grey ones \
             (samples are written, not scored)"
        );
        return Ok(None);
    }
    if let Some(path) = path {
        if shape != [1, 28, 28] {
            return Err(gcore::Error::config(
                "classifier",
                format!(
                    "the classifier reads 28x28 grey images, these are {c}x{h}x{w}: drop --classifier"
                ),
            ));
        }
        let bytes = std::fs::read(path).map_err(|e| gcore::Error::io(path, e))?;
        let loaded = MnistClassifierConfig::new()
            .init(device)?
            .load_bytes(bytes)
            .map_err(|e| {
                gcore::Error::config(
                    "classifier",
                    format!(
                        "{} is not a classifier saved by train_classifier: {e}",
                        path.display()
                    ),
                )
            })?;
        return Ok(Some(loaded));
    }
    if kind == DatasetKind::Mnist {
        return Ok(Some(MnistClassifier::pretrained(device)?));
    }
    eprintln!(
        "no classifier fits --dataset {}: the embedded one knows MNIST; for a 28x28 grey labelled \
         set, train one with `train_classifier --dataset {0}` and pass --classifier FILE \
         (samples are written, not scored)",
        kind.name()
    );
    Ok(None)
}

/// [`classifier`] for tools that score 28x28 grey IDX sets and cannot go
/// on without one.
///
/// # Errors
/// As [`classifier`], and a dataset other than MNIST without `--classifier`.
pub fn required_classifier(
    kind: DatasetKind,
    path: Option<&Path>,
    device: &burn::tensor::Device,
) -> gcore::Result<MnistClassifier> {
    classifier(kind, [1, 28, 28], path, device)?.ok_or_else(|| {
        gcore::Error::config(
            "classifier",
            format!("--dataset {} needs --classifier FILE", kind.name()),
        )
    })
}

/// A test split of an IDX dataset as `[n, 1, 28, 28]` in `[0, 1]` (the
/// reference images of the sample-quality scores).
///
/// # Errors
/// As [`DataArgs::idx_images`].
pub fn idx_test_images(
    args: &DataArgs,
    device: &burn::tensor::Device,
) -> gcore::Result<burn::tensor::Tensor<4>> {
    let (_, test) = args.idx_images(Split::Test, "scoring")?;
    let grey = IdxExamples::new(test, Transform::new().range(ValueRange::ZeroToOne));
    Ok(first_images(Arc::new(grey), usize::MAX, device)?.0)
}

/// The first `n` examples (all of them when there are fewer) as
/// `[n, c, h, w]` images on `device`, in order, with their labels (empty
/// for an unlabelled set).
///
/// # Errors
/// An example that cannot be read, or examples that are not images.
pub fn first_images(
    examples: Arc<dyn Examples>,
    n: usize,
    device: &burn::tensor::Device,
) -> gcore::Result<(burn::tensor::Tensor<4>, Vec<i64>)> {
    use generative::core::BatchSource;
    let n = n.min(examples.len());
    let [c, h, w]: [usize; 3] = examples.item_shape().try_into().map_err(|_| {
        gcore::Error::config(
            "dataset",
            "its examples are not images [channels, height, width]",
        )
    })?;
    // A batch size that divides n: the loader drops an epoch's last
    // partial batch.
    let batch = (1..=n.min(500))
        .rev()
        .find(|b| n.is_multiple_of(*b))
        .unwrap_or(1);
    let first = generative::data::Subset::new(Arc::new(examples), (0..n).collect());
    let mut loader = generative::data::Loader::new(first, batch, 0)?.sequential();
    let (mut parts, mut labels) = (Vec::new(), Vec::new());
    for i in 0..loader.batches_per_epoch() as u64 {
        let b = loader.batch(i, device)?;
        if let Some(l) = b.labels {
            labels.extend(
                l.into_data()
                    .convert::<i64>()
                    .try_into_vec::<i64>()
                    .unwrap_or_default(),
            );
        }
        parts.push(b.data);
    }
    Ok((
        burn::tensor::Tensor::cat(parts, 0).reshape([n, c, h, w]),
        labels,
    ))
}
