//! Weights in and out of PyTorch: safetensors files and PyTorch `state_dict`
//! files, with the names and layouts a PyTorch user expects.
//!
//! Every model of the family implements [`TorchModule`]: one method that
//! names each of its tensors as the matching PyTorch module's `state_dict`
//! would (`net.0.weight`, `fc.bias`, ...). Around it:
//!
//! - [`save_safetensors`] writes the model in PyTorch's layout: Linear
//!   weights as `[out, in]`, norms' `weight`/`bias` (burn's `gamma`/`beta`),
//!   BatchNorm's `running_mean`/`running_var` and a `num_batches_tracked`
//!   counter, so that `model.load_state_dict(load_file(path))` works in
//!   PyTorch with `strict=True`. The file is written atomically: a failed
//!   save never destroys the file it replaces.
//! - [`load_safetensors`] and [`load_pytorch`] (a `torch.save(state_dict)`
//!   file, `.pt`/`.pth`) read such files back. Every expected tensor must be
//!   there with the right shape and nothing else may be; otherwise the error,
//!   [`InteropError::Mismatch`], lists the missing, unexpected and wrongly
//!   shaped tensors by their PyTorch names, and the model is not changed.
//! - [`torch_state`] is the list of names and PyTorch shapes a model reads
//!   and writes: its documentation in data.
//!
//! The conversion itself (transposing Linear weights, renaming norm
//! parameters) is burn-store's [`PyTorchToBurnAdapter`] and
//! [`BurnToPyTorchAdapter`]; this module adds the per-model names, the
//! checks and the error.
//!
//! ```
//! use burn::nn::{Linear, LinearConfig};
//! use burn::module::Module;
//! use burn::tensor::Device;
//! use gen_core::interop::{TorchModule, load_safetensors, save_safetensors, torch_state};
//!
//! // A model whose PyTorch twin is `nn.Sequential(nn.Linear(3, 2))`.
//! #[derive(Module, Debug)]
//! struct Tiny {
//!     fc: Linear,
//! }
//! impl TorchModule for Tiny {
//!     fn torch_key(&self, path: &str) -> String {
//!         path.replace("fc.", "0.")
//!     }
//! }
//!
//! let dev = Device::flex();
//! let tiny = Tiny { fc: LinearConfig::new(3, 2).init(&dev) };
//! let names: Vec<_> = torch_state(&tiny).into_iter().map(|t| (t.key, t.shape)).collect();
//! assert_eq!(names, [("0.weight".into(), vec![2, 3]), ("0.bias".into(), vec![2])]);
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("tiny.safetensors");
//! save_safetensors(&tiny, &path)?;
//! let back = load_safetensors(Tiny { fc: LinearConfig::new(3, 2).init(&dev) }, &path)?;
//! assert_eq!(back.fc.weight.val().into_data(), tiny.fc.weight.val().into_data());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::store::burn_pack::Tensor as PackTensor;
use burn::store::{
    BurnToPyTorchAdapter, ModuleSnapshot, ModuleStore, PyTorchToBurnAdapter, PytorchStore,
    SafetensorsStore, bridge,
};
use burn::tensor::DType;
use safetensors::Dtype;

use crate::checkpoint::write_atomic;

/// The suffix of the batch counter PyTorch keeps beside every BatchNorm's
/// running statistics; burn has no such tensor.
const BATCHES_TRACKED: &str = "num_batches_tracked";

/// How a model's tensors are named in PyTorch.
///
/// `path` is the tensor's path in the burn module (`layers.0.weight`), with
/// PyTorch's parameter names already applied: a norm's `gamma` and `beta`
/// arrive as `weight` and `bias`. The default keeps the path: a model with
/// no PyTorch twin is exported under its own field names, in PyTorch's
/// layouts.
pub trait TorchModule: Module {
    /// The PyTorch `state_dict` key of the tensor at `path`.
    fn torch_key(&self, path: &str) -> String {
        path.to_owned()
    }
}

/// Renames an indexed field for [`TorchModule::torch_key`]: when `path`
/// starts with `field.<i>.`, the result starts with `to.<index(i)>.`
/// instead; any other path gives `None`. This is how a burn `Vec` of layers
/// maps onto the positions of those layers in a PyTorch `nn.Sequential`
/// that also holds activations.
///
/// ```
/// use gen_core::interop::renumber;
/// // Linear layers at every other position: nn.Sequential(Linear, ReLU, Linear).
/// assert_eq!(renumber("layers.1.weight", "layers", "net", |i| 2 * i).as_deref(), Some("net.2.weight"));
/// assert_eq!(renumber("head.weight", "layers", "net", |i| 2 * i), None);
/// ```
pub fn renumber(
    path: &str,
    field: &str,
    to: &str,
    index: impl Fn(usize) -> usize,
) -> Option<String> {
    let rest = path.strip_prefix(field)?.strip_prefix('.')?;
    let (i, tail) = rest.split_once('.')?;
    let i: usize = i.parse().ok()?;
    Some(format!("{to}.{}.{tail}", index(i)))
}

/// Renames a field for [`TorchModule::torch_key`]: when `path` is
/// `field.<rest>`, the result is `to.<rest>`; any other path gives `None`.
pub fn rename(path: &str, field: &str, to: &str) -> Option<String> {
    let rest = path.strip_prefix(field)?.strip_prefix('.')?;
    Some(format!("{to}.{rest}"))
}

/// One tensor of a model as PyTorch sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TorchTensor {
    /// The `state_dict` key.
    pub key: String,
    /// The path in the burn module (with PyTorch's parameter names).
    pub path: String,
    /// The shape in PyTorch's layout (`[out, in]` for a Linear weight).
    pub shape: Vec<usize>,
}

/// The tensors of `model` in PyTorch's names, layouts and module order
/// (without BatchNorm's `num_batches_tracked`, which burn does not keep).
pub fn torch_state<M: TorchModule>(model: &M) -> Vec<TorchTensor> {
    model
        .collect(None, Some(Box::new(BurnToPyTorchAdapter)), false)
        .into_iter()
        .map(|t| TorchTensor {
            key: model.torch_key(&t.name),
            shape: t.shape.to_vec(),
            path: t.name,
        })
        .collect()
}

/// A tensor whose shape differs between a file and the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrongShape {
    /// The `state_dict` key.
    pub key: String,
    /// The shape the model needs (PyTorch layout).
    pub expected: Vec<usize>,
    /// The shape in the file.
    pub found: Vec<usize>,
}

/// Why weights could not be exchanged with PyTorch.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InteropError {
    /// The file could not be read, or is not a safetensors / PyTorch file.
    #[error("{path}: cannot read weights: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },

    /// The file's tensors do not fit the model.
    #[error("{path} does not fit the model: {}", MismatchList { missing, unexpected, wrong_shape, other })]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// Keys the model needs that the file lacks.
        missing: Vec<String>,
        /// Keys in the file that the model has no place for.
        unexpected: Vec<String>,
        /// Keys whose shapes differ.
        wrong_shape: Vec<WrongShape>,
        /// Anything else burn reported while copying the tensors in
        /// (a dtype it cannot convert, for instance).
        other: Vec<String>,
    },

    /// Two of the model's tensors map to the same PyTorch key: a bug in
    /// the model's [`TorchModule::torch_key`].
    #[error("two tensors of the model are both named `{key}` in PyTorch: {first} and {second}")]
    DuplicateKey {
        /// The key.
        key: String,
        /// The first burn path.
        first: String,
        /// The second burn path.
        second: String,
    },

    /// A tensor of a dtype safetensors cannot store.
    #[error("tensor `{key}` has dtype {dtype:?}, which safetensors cannot store")]
    UnsupportedDtype {
        /// The `state_dict` key.
        key: String,
        /// Its dtype.
        dtype: DType,
    },

    /// The file could not be written.
    #[error(transparent)]
    Write(Box<crate::Error>),
}

/// Formats the three lists of [`InteropError::Mismatch`].
struct MismatchList<'a> {
    missing: &'a [String],
    unexpected: &'a [String],
    wrong_shape: &'a [WrongShape],
    other: &'a [String],
}

impl fmt::Display for MismatchList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if !self.missing.is_empty() {
            parts.push(format!(
                "{} missing ({})",
                self.missing.len(),
                self.missing.join(", ")
            ));
        }
        if !self.unexpected.is_empty() {
            parts.push(format!(
                "{} unexpected ({})",
                self.unexpected.len(),
                self.unexpected.join(", ")
            ));
        }
        if !self.wrong_shape.is_empty() {
            let shapes: Vec<_> = self
                .wrong_shape
                .iter()
                .map(|w| format!("{}: expected {:?}, found {:?}", w.key, w.expected, w.found))
                .collect();
            parts.push(format!(
                "{} wrongly shaped ({})",
                shapes.len(),
                shapes.join(", ")
            ));
        }
        if !self.other.is_empty() {
            parts.push(self.other.join("; "));
        }
        f.write_str(&parts.join("; "))
    }
}

/// The model's tensors by PyTorch key, checking that keys are unique.
fn key_table<M: TorchModule>(model: &M) -> Result<BTreeMap<String, TorchTensor>, InteropError> {
    let mut table: BTreeMap<String, TorchTensor> = BTreeMap::new();
    for t in torch_state(model) {
        if let Some(old) = table.get(&t.key) {
            return Err(InteropError::DuplicateKey {
                key: t.key.clone(),
                first: old.path.clone(),
                second: t.path,
            });
        }
        table.insert(t.key.clone(), t);
    }
    Ok(table)
}

/// Writes `model` as a safetensors file in PyTorch's names and layouts (see
/// the [module docs](self)). The file's metadata holds `format: pt`.
///
/// # Errors
/// [`InteropError::Write`] when the file cannot be written (an existing
/// file is then left as it was).
pub fn save_safetensors<M: TorchModule>(
    model: &M,
    path: impl AsRef<Path>,
) -> Result<(), InteropError> {
    save_safetensors_with_metadata(model, path, &BTreeMap::new())
}

/// [`save_safetensors`] with extra string metadata in the file's header
/// (a model config as JSON, say).
///
/// # Errors
/// As [`save_safetensors`].
pub fn save_safetensors_with_metadata<M: TorchModule>(
    model: &M,
    path: impl AsRef<Path>,
    metadata: &BTreeMap<String, String>,
) -> Result<(), InteropError> {
    let path = path.as_ref();
    let bytes = to_safetensors_bytes(model, metadata)?;
    write_atomic(path, &bytes).map_err(|e| InteropError::Write(Box::new(e)))
}

/// A tensor ready for the safetensors writer.
struct Blob {
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl safetensors::View for &Blob {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

fn safetensors_dtype(key: &str, dtype: DType) -> Result<Dtype, InteropError> {
    Ok(match dtype {
        DType::F64 => Dtype::F64,
        DType::F32 => Dtype::F32,
        DType::F16 => Dtype::F16,
        DType::BF16 => Dtype::BF16,
        DType::I64 => Dtype::I64,
        DType::I32 => Dtype::I32,
        DType::I16 => Dtype::I16,
        DType::I8 => Dtype::I8,
        DType::U64 => Dtype::U64,
        DType::U32 => Dtype::U32,
        DType::U16 => Dtype::U16,
        DType::U8 => Dtype::U8,
        other => {
            return Err(InteropError::UnsupportedDtype {
                key: key.to_owned(),
                dtype: other,
            });
        }
    })
}

/// The safetensors file [`save_safetensors_with_metadata`] writes, in
/// memory.
///
/// # Errors
/// [`InteropError::DuplicateKey`] for a model whose names collide,
/// [`InteropError::UnsupportedDtype`] for a tensor safetensors cannot hold.
pub fn to_safetensors_bytes<M: TorchModule>(
    model: &M,
    metadata: &BTreeMap<String, String>,
) -> Result<Vec<u8>, InteropError> {
    // One traversal: the names are checked for collisions as the tensors
    // are read back.
    let mut paths: HashMap<String, String> = HashMap::new();
    let mut blobs = BTreeMap::new();
    for t in model.collect(None, Some(Box::new(BurnToPyTorchAdapter)), false) {
        let key = model.torch_key(&t.name);
        if let Some(first) = paths.insert(key.clone(), t.name.clone()) {
            return Err(InteropError::DuplicateKey {
                key,
                first,
                second: t.name,
            });
        }
        let data = bridge::to_data(&t).map_err(|e| InteropError::Read {
            path: PathBuf::from("<model>"),
            reason: format!("reading tensor `{}` back from the device: {e}", t.name),
        })?;
        let dtype = safetensors_dtype(&key, data.dtype())?;
        if let Some(prefix) = key.strip_suffix("running_var") {
            blobs.insert(
                format!("{prefix}{BATCHES_TRACKED}"),
                Blob {
                    dtype: Dtype::I64,
                    shape: Vec::new(),
                    bytes: 0i64.to_le_bytes().to_vec(),
                },
            );
        }
        blobs.insert(
            key,
            Blob {
                dtype,
                shape: data.shape().to_vec(),
                bytes: data.as_bytes().to_vec(),
            },
        );
    }
    let mut info: HashMap<String, String> = metadata.clone().into_iter().collect();
    info.insert("format".into(), "pt".into());
    safetensors::serialize(blobs.iter().map(|(k, b)| (k.as_str(), b)), Some(info)).map_err(|e| {
        InteropError::Read {
            path: PathBuf::from("<model>"),
            reason: format!("serialising: {e}"),
        }
    })
}

/// Loads a safetensors file written by [`save_safetensors`] or by
/// PyTorch (`safetensors.torch.save_file(model.state_dict(), path)`) into
/// `model`.
///
/// # Errors
/// [`InteropError::Read`] for a file that is absent, truncated or not
/// safetensors; [`InteropError::Mismatch`] when its tensors do not fit.
pub fn load_safetensors<M: TorchModule>(
    model: M,
    path: impl AsRef<Path>,
) -> Result<M, InteropError> {
    let path = path.as_ref();
    check_readable(path)?;
    let mut store = SafetensorsStore::from_file(path);
    let tensors = read_store(&mut store, path)?;
    apply(model, tensors, path)
}

/// [`load_safetensors`] from bytes in memory.
///
/// # Errors
/// As [`load_safetensors`].
pub fn load_safetensors_bytes<M: TorchModule>(model: M, bytes: Vec<u8>) -> Result<M, InteropError> {
    let path = Path::new("<bytes>");
    let mut store = SafetensorsStore::from_bytes(Some(bytes));
    let tensors = read_store(&mut store, path)?;
    apply(model, tensors, path)
}

/// Loads a PyTorch file (`torch.save(model.state_dict(), path)`) into
/// `model`. When the state dict sits under a key of a larger checkpoint
/// dict (`torch.save({"model": sd, "step": 3}, path)`), name it as
/// `top_level_key`.
///
/// # Errors
/// As [`load_safetensors`].
pub fn load_pytorch<M: TorchModule>(
    model: M,
    path: impl AsRef<Path>,
    top_level_key: Option<&str>,
) -> Result<M, InteropError> {
    let path = path.as_ref();
    check_readable(path)?;
    // Keys are taken as they are: burn's default renumbering of
    // `nn.Sequential` indices (0, 2, 4 -> 0, 1, 2) is the models' job here.
    let mut store = PytorchStore::from_file(path).map_indices_contiguous(false);
    if let Some(key) = top_level_key {
        store = store.with_top_level_key(key);
    }
    let tensors = read_store(&mut store, path)?;
    apply(model, tensors, path)
}

/// A readable error for a path that is not a readable file, before a
/// store reports it in its own words.
fn check_readable(path: &Path) -> Result<(), InteropError> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(InteropError::Read {
            path: path.to_owned(),
            reason: "not a file".into(),
        }),
        Err(e) => Err(InteropError::Read {
            path: path.to_owned(),
            reason: e.to_string(),
        }),
    }
}

/// Every tensor of a store, by key (loaded lazily).
fn read_store<S: ModuleStore>(
    store: &mut S,
    path: &Path,
) -> Result<BTreeMap<String, PackTensor>, InteropError>
where
    S::Error: fmt::Display,
{
    store
        .get_all_tensors()
        .cloned()
        .map_err(|e| InteropError::Read {
            path: path.to_owned(),
            reason: e.to_string(),
        })
}

/// Checks the file's tensors against the model's table, then copies them in.
fn apply<M: TorchModule>(
    mut model: M,
    tensors: BTreeMap<String, PackTensor>,
    path: &Path,
) -> Result<M, InteropError> {
    let table = key_table(&model)?;
    let mut missing = Vec::new();
    let mut wrong_shape = Vec::new();
    for (key, want) in &table {
        match tensors.get(key) {
            None => missing.push(key.clone()),
            Some(t) if t.shape.to_vec() != want.shape => wrong_shape.push(WrongShape {
                key: key.clone(),
                expected: want.shape.clone(),
                found: t.shape.to_vec(),
            }),
            Some(_) => {}
        }
    }
    let unexpected: Vec<String> = tensors
        .keys()
        .filter(|k| !table.contains_key(*k) && !is_batch_counter(k, &table))
        .cloned()
        .collect();
    let mismatch = |other: Vec<String>, missing, unexpected, wrong_shape| InteropError::Mismatch {
        path: path.to_owned(),
        missing,
        unexpected,
        wrong_shape,
        other,
    };
    if !(missing.is_empty() && unexpected.is_empty() && wrong_shape.is_empty()) {
        return Err(mismatch(Vec::new(), missing, unexpected, wrong_shape));
    }

    let renamed: Vec<PackTensor> = tensors
        .into_iter()
        .filter_map(|(key, mut t)| {
            let entry = table.get(&key)?;
            t.name = entry.path.clone();
            Some(t)
        })
        .collect();
    let result = model.apply(renamed, None, Some(Box::new(PyTorchToBurnAdapter)), false);
    let missing: Vec<String> = result.missing.iter().map(|(p, _)| p.clone()).collect();
    let other: Vec<String> = result.errors.iter().map(|e| e.to_string()).collect();
    if !(missing.is_empty() && other.is_empty() && result.unused.is_empty()) {
        return Err(mismatch(other, missing, result.unused.clone(), Vec::new()));
    }
    Ok(model)
}

/// Whether `key` is PyTorch's BatchNorm counter beside one of the model's
/// running variances.
fn is_batch_counter(key: &str, table: &BTreeMap<String, TorchTensor>) -> bool {
    key.strip_suffix(BATCHES_TRACKED)
        .is_some_and(|prefix| table.contains_key(&format!("{prefix}running_var")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
    use burn::tensor::{Device, Tensor};

    /// `nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))` in PyTorch.
    #[derive(Module, Debug)]
    struct Net {
        fc: Linear,
        norm: BatchNorm,
    }

    impl TorchModule for Net {
        fn torch_key(&self, path: &str) -> String {
            path.replacen("fc.", "0.", 1).replacen("norm.", "1.", 1)
        }
    }

    fn net(dev: &Device) -> Net {
        Net {
            fc: LinearConfig::new(3, 4).init(dev),
            norm: BatchNormConfig::new(4).init(dev),
        }
    }

    fn forward(n: &Net, x: Tensor<2>) -> Vec<f32> {
        n.norm
            .forward(n.fc.forward(x))
            .into_data()
            .try_into_vec()
            .unwrap()
    }

    #[test]
    fn state_is_named_and_shaped_as_pytorch() {
        let dev = Device::flex();
        let keys: Vec<_> = torch_state(&net(&dev))
            .into_iter()
            .map(|t| (t.key, t.shape))
            .collect();
        assert_eq!(
            keys,
            [
                ("0.weight".to_string(), vec![4, 3]),
                ("0.bias".to_string(), vec![4]),
                ("1.weight".to_string(), vec![4]),
                ("1.bias".to_string(), vec![4]),
                ("1.running_mean".to_string(), vec![4]),
                ("1.running_var".to_string(), vec![4]),
            ]
        );
    }

    #[test]
    fn round_trip_keeps_outputs_and_writes_the_batch_counter() {
        let dev = Device::flex();
        let a = net(&dev);
        let bytes = to_safetensors_bytes(&a, &BTreeMap::new()).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut names = st.names();
        names.sort();
        assert_eq!(
            names,
            [
                "0.bias",
                "0.weight",
                "1.bias",
                "1.num_batches_tracked",
                "1.running_mean",
                "1.running_var",
                "1.weight"
            ]
        );
        assert_eq!(st.tensor("0.weight").unwrap().shape(), [4, 3]);
        let b = load_safetensors_bytes(net(&dev), bytes).unwrap();
        let x = Tensor::<2>::from_floats([[1.0, -2.0, 0.5], [0.0, 3.0, 1.0]], &dev);
        assert_eq!(forward(&a, x.clone()), forward(&b, x));
    }

    #[test]
    fn a_mismatch_lists_every_problem_by_pytorch_name() {
        let dev = Device::flex();
        // A file of a wider net, with one tensor renamed and one dropped.
        let wide = Net {
            fc: LinearConfig::new(5, 4).init(&dev),
            norm: BatchNormConfig::new(4).init(&dev),
        };
        let bytes = to_safetensors_bytes(&wide, &BTreeMap::new()).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let kept: Vec<(String, safetensors::tensor::TensorView)> = st
            .tensors()
            .into_iter()
            .filter(|(k, _)| k != "1.running_mean")
            .map(|(k, v)| (if k == "1.bias" { "1.shift".into() } else { k }, v))
            .collect();
        let edited = safetensors::serialize(kept, None).unwrap();
        let err = load_safetensors_bytes(net(&dev), edited).unwrap_err();
        let InteropError::Mismatch {
            missing,
            unexpected,
            wrong_shape,
            ..
        } = &err
        else {
            panic!("{err}");
        };
        assert_eq!(missing, &["1.bias", "1.running_mean"]);
        assert_eq!(unexpected, &["1.shift"]);
        assert_eq!(
            wrong_shape,
            &[WrongShape {
                key: "0.weight".into(),
                expected: vec![4, 3],
                found: vec![4, 5]
            }]
        );
        let msg = err.to_string();
        assert!(
            msg.contains("2 missing (1.bias, 1.running_mean)")
                && msg.contains("1 unexpected (1.shift)")
                && msg.contains("0.weight: expected [4, 3], found [4, 5]"),
            "{msg}"
        );
    }

    #[test]
    fn unreadable_files_are_read_errors_and_saves_are_atomic() {
        let dev = Device::flex();
        let dir = tempfile::tempdir().unwrap();
        let absent = dir.path().join("absent.safetensors");
        assert!(matches!(
            load_safetensors(net(&dev), &absent),
            Err(InteropError::Read { .. })
        ));
        let path = dir.path().join("net.safetensors");
        save_safetensors(&net(&dev), &path).unwrap();
        let full = std::fs::read(&path).unwrap();
        for cut in [0, 7, full.len() / 2, full.len() - 1] {
            std::fs::write(&path, &full[..cut]).unwrap();
            let err = load_safetensors(net(&dev), &path).unwrap_err();
            assert!(matches!(err, InteropError::Read { .. }), "cut {cut}: {err}");
        }
        assert!(matches!(
            load_pytorch(net(&dev), &path, None),
            Err(InteropError::Read { .. })
        ));
        // A save into a folder that does not exist fails and leaves no file.
        let nowhere = dir.path().join("no/such/dir/net.safetensors");
        assert!(matches!(
            save_safetensors(&net(&dev), &nowhere),
            Err(InteropError::Write(_))
        ));
    }

    #[test]
    fn colliding_names_are_reported() {
        #[derive(Module, Debug)]
        struct Clash {
            a: Linear,
            b: Linear,
        }
        impl TorchModule for Clash {
            fn torch_key(&self, path: &str) -> String {
                path.replacen("b.", "a.", 1)
            }
        }
        let dev = Device::flex();
        let c = Clash {
            a: LinearConfig::new(2, 2).init(&dev),
            b: LinearConfig::new(2, 2).init(&dev),
        };
        let err = to_safetensors_bytes(&c, &BTreeMap::new()).unwrap_err();
        assert!(matches!(err, InteropError::DuplicateKey { .. }), "{err}");
    }
}
