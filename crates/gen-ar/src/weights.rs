//! GPT-2-format weights in and out.
//!
//! - Hugging Face's `GPT2LMHeadModel` folder (`config.json` and
//!   `model.safetensors`, what `save_pretrained` writes and the hub
//!   serves): [`load_hf`], [`save_hf`]. Its `Conv1D` layers store weights
//!   as `[in, out]`, which is burn's `Linear` layout: they are copied as
//!   they are. Names may carry the `transformer.` prefix or not (the hub's
//!   GPT-2 files do not); the attention-mask buffers `attn.bias` and
//!   `attn.masked_bias` are ignored, and a tied head has no `lm_head`.
//! - nanoGPT's `state_dict` (`torch.save`, optionally under a key of a
//!   checkpoint dict such as `ckpt.pt`'s `model`, or safetensors): the same
//!   names, with `nn.Linear` weights `[out, in]`, transposed on the way in;
//!   a tied `lm_head.weight` is the token embedding and is checked to be.
//!   [`save_nanogpt`] writes this form (as safetensors).
//!
//! Loading is all or nothing: every tensor the model needs must be there
//! with its shape, and no other tensor may be, or nothing is copied and the
//! error lists every problem by name.

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::{Module, ModuleMapper, Param};
use burn::store::{ModuleStore, PytorchStore, SafetensorsStore, bridge};
use burn::tensor::{Device, Tensor, TensorData};
use serde::Deserialize;

use crate::config::{Gelu, GptConfig};
use crate::error::{ArError, Result};
use crate::model::Gpt;

/// A file's tensors by name: shape and `f32` values.
type Tensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// Which convention a file follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Hugging Face: `Conv1D` weights `[in, out]`.
    HuggingFace,
    /// nanoGPT: `nn.Linear` weights `[out, in]`.
    NanoGpt,
}

/// The fields of a Hugging Face GPT-2 `config.json` that shape the model.
#[derive(Deserialize)]
struct HfConfig {
    vocab_size: usize,
    n_positions: usize,
    n_embd: usize,
    n_layer: usize,
    n_head: usize,
    #[serde(default = "epsilon")]
    layer_norm_epsilon: f64,
    #[serde(default)]
    activation_function: Option<String>,
    #[serde(default = "tied")]
    tie_word_embeddings: bool,
}

fn epsilon() -> f64 {
    1e-5
}

fn tied() -> bool {
    true
}

fn weights_error(path: &Path, reason: impl Into<String>) -> ArError {
    ArError::Weights {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// The model of a Hugging Face GPT-2 folder, on `device`.
///
/// # Errors
/// [`ArError::Weights`] for a missing or unreadable `config.json` or
/// `model.safetensors`, or weights that do not fit the config.
pub fn load_hf(dir: &Path, device: &Device) -> Result<Gpt> {
    let config_path = dir.join("config.json");
    let text = std::fs::read_to_string(&config_path)
        .map_err(|e| weights_error(&config_path, e.to_string()))?;
    let hf: HfConfig = serde_json::from_str(&text)
        .map_err(|e| weights_error(&config_path, format!("not a GPT-2 config: {e}")))?;
    let gelu = match hf.activation_function.as_deref() {
        None | Some("gelu_new" | "gelu_pytorch_tanh" | "gelu_fast") => Gelu::Tanh,
        Some("gelu") => Gelu::Exact,
        Some(other) => {
            return Err(weights_error(
                &config_path,
                format!("activation `{other}` is not a GELU this model has"),
            ));
        }
    };
    let config = GptConfig::new(hf.vocab_size)
        .with_block_size(hf.n_positions)
        .with_n_layer(hf.n_layer)
        .with_n_head(hf.n_head)
        .with_n_embd(hf.n_embd)
        .with_layer_norm_epsilon(hf.layer_norm_epsilon)
        .with_tie_weights(hf.tie_word_embeddings)
        .with_gelu(gelu);
    let model = config.init(device)?;
    let file = dir.join("model.safetensors");
    load(model, &file, Layout::HuggingFace, None)
}

/// Loads the weights of `file` (safetensors, or a PyTorch file when its
/// name ends in `.pt`, `.pth` or `.bin`, then optionally under
/// `top_level_key`) into `model`.
///
/// # Errors
/// [`ArError::Weights`] for a file that cannot be read or whose tensors do
/// not fit the model.
pub fn load(model: Gpt, file: &Path, layout: Layout, top_level_key: Option<&str>) -> Result<Gpt> {
    let tensors = read(file, top_level_key)?;
    let device = model.devices().first().cloned().unwrap_or_default();
    let mut assign = Assign {
        path: Vec::new(),
        tensors: tensors
            .into_iter()
            .map(|(k, v)| (k.strip_prefix("transformer.").unwrap_or(&k).to_owned(), v))
            .collect(),
        layout,
        used: Vec::new(),
        problems: Vec::new(),
        device,
    };
    // A first pass checks everything; the model is only replaced when
    // nothing is wrong.
    let loaded = model.map(&mut assign);
    let tied = loaded.config.tie_weights;
    let unexpected: Vec<String> = assign
        .tensors
        .keys()
        .filter(|k| !assign.used.contains(k) && !ignored(k, tied))
        .cloned()
        .collect();
    let mut problems = assign.problems;
    problems.extend(unexpected.into_iter().map(|k| format!("unexpected `{k}`")));
    if tied && let Some((shape, values)) = assign.tensors.get("lm_head.weight") {
        let wte = loaded.wte.weight.val().into_data().convert::<f32>();
        let wte: Vec<f32> = wte.try_into_vec().unwrap_or_default();
        if *shape != [loaded.config.vocab_size, loaded.config.n_embd] || *values != wte {
            problems.push(
                "`lm_head.weight` is not the token embedding, but the model ties them".into(),
            );
        }
    }
    if problems.is_empty() {
        Ok(loaded)
    } else {
        Err(weights_error(file, problems.join("; ")))
    }
}

/// Tensors a file may hold that the model has no place for.
fn ignored(key: &str, tied: bool) -> bool {
    key.ends_with(".attn.bias")
        || key.ends_with(".attn.masked_bias")
        || (tied && key == "lm_head.weight")
}

/// Every tensor of a file as `f32` values with its shape.
fn read(file: &Path, top_level_key: Option<&str>) -> Result<Tensors> {
    let err = |e: String| weights_error(file, e);
    if !file.is_file() {
        return Err(err("not found (or not a file)".into()));
    }
    let pytorch = file
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e, "pt" | "pth" | "bin"));
    let all = if pytorch {
        let mut store = PytorchStore::from_file(file).map_indices_contiguous(false);
        if let Some(key) = top_level_key {
            store = store.with_top_level_key(key);
        }
        store
            .get_all_tensors()
            .cloned()
            .map_err(|e| err(e.to_string()))?
    } else {
        let mut store = SafetensorsStore::from_file(file);
        store
            .get_all_tensors()
            .cloned()
            .map_err(|e| err(e.to_string()))?
    };
    all.into_iter()
        .map(|(name, t)| {
            let data = bridge::into_data(t).map_err(|e| err(format!("{name}: {e}")))?;
            let shape = data.shape().to_vec();
            let values = data
                .convert::<f32>()
                .try_into_vec::<f32>()
                .map_err(|e| err(format!("{name}: {e:?}")))?;
            Ok((name, (shape, values)))
        })
        .collect()
}

/// The file's name of the tensor at our `path` (norms' `gamma`/`beta` are
/// PyTorch's `weight`/`bias`).
fn file_key(path: &str) -> String {
    match path.rsplit_once('.') {
        Some((module, "gamma")) => format!("{module}.weight"),
        Some((module, "beta")) => format!("{module}.bias"),
        _ => path.to_owned(),
    }
}

/// Whether the file holds this weight transposed relative to burn.
fn transposed(key: &str, layout: Layout) -> bool {
    let linear = key.ends_with("c_attn.weight")
        || key.ends_with("c_proj.weight")
        || key.ends_with("c_fc.weight");
    key == "lm_head.weight" || (linear && layout == Layout::NanoGpt)
}

fn transpose(rows: usize, cols: usize, values: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = values[r * cols + c];
        }
    }
    out
}

/// Replaces every float parameter by the file's tensor of its name.
struct Assign {
    path: Vec<String>,
    tensors: Tensors,
    layout: Layout,
    used: Vec<String>,
    problems: Vec<String>,
    device: Device,
}

impl ModuleMapper for Assign {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_owned());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let key = file_key(&self.path.join("."));
        let want = param.val().dims().to_vec();
        let Some((shape, values)) = self.tensors.get(&key) else {
            self.problems.push(format!("missing `{key}` {want:?}"));
            return param;
        };
        self.used.push(key.clone());
        let (shape, values) = if transposed(&key, self.layout) && shape.len() == 2 {
            (
                vec![shape[1], shape[0]],
                transpose(shape[0], shape[1], values),
            )
        } else {
            (shape.clone(), values.clone())
        };
        if shape != want {
            self.problems.push(format!(
                "`{key}`: the model needs {want:?}, the file has {shape:?}"
            ));
            return param;
        }
        let device = self.device.clone();
        param.map(|_| Tensor::from_data(TensorData::new(values, shape), &device))
    }
}

/// Writes `model` as a Hugging Face GPT-2 folder (`config.json`,
/// `model.safetensors`) that `GPT2LMHeadModel.from_pretrained(dir)` reads.
///
/// # Errors
/// [`ArError::Weights`] when the folder cannot be written.
pub fn save_hf(model: &Gpt, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| weights_error(dir, e.to_string()))?;
    let c = &model.config;
    let config = serde_json::json!({
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": c.vocab_size,
        "n_positions": c.block_size,
        "n_embd": c.n_embd,
        "n_layer": c.n_layer,
        "n_head": c.n_head,
        "layer_norm_epsilon": c.layer_norm_epsilon,
        "activation_function": match c.gelu { Gelu::Tanh => "gelu_new", Gelu::Exact => "gelu" },
        "tie_word_embeddings": c.tie_weights,
        "resid_pdrop": c.dropout, "embd_pdrop": c.dropout, "attn_pdrop": c.dropout,
    });
    let config_path = dir.join("config.json");
    let text = serde_json::to_vec_pretty(&config).expect("a config serialises");
    std::fs::write(&config_path, text).map_err(|e| weights_error(&config_path, e.to_string()))?;
    write_safetensors(model, Layout::HuggingFace, &dir.join("model.safetensors"))
}

/// Writes `model` as nanoGPT's `state_dict` in a safetensors file: nanoGPT's
/// names (`transformer.` before all but the head), `nn.Linear` weights
/// `[out, in]`, and `lm_head.weight` present even when tied (nanoGPT's
/// `state_dict` lists the shared tensor under both names), so that
/// `GPT(config).load_state_dict(safetensors.torch.load_file(file))` takes it
/// with `strict=True` (nanoGPT with `bias=True`, its default). [`load`]
/// with [`Layout::NanoGpt`] reads it back.
///
/// # Errors
/// [`ArError::Weights`] when the file cannot be written.
pub fn save_nanogpt(model: &Gpt, file: &Path) -> Result<()> {
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| weights_error(dir, e.to_string()))?;
    }
    write_safetensors(model, Layout::NanoGpt, file)
}

/// Every float parameter of `model` in `layout`'s names and shapes, as one
/// safetensors file (PyTorch's `format: pt` metadata).
fn write_safetensors(model: &Gpt, layout: Layout, file: &Path) -> Result<()> {
    let mut collect = Collect {
        path: Vec::new(),
        out: Vec::new(),
        layout,
    };
    model.visit(&mut collect);
    let mut views: Vec<(String, Vec<usize>, Vec<u8>)> = collect.out;
    if layout == Layout::NanoGpt && model.config.tie_weights {
        let wte = views
            .iter()
            .find(|(name, _, _)| name == "transformer.wte.weight")
            .cloned()
            .map(|(_, shape, bytes)| ("lm_head.weight".to_owned(), shape, bytes));
        views.extend(wte);
    }
    let tensors = views
        .iter()
        .map(|(name, shape, bytes)| {
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes)
                .map(|v| (name.clone(), v))
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| weights_error(file, e.to_string()))?;
    let metadata = Some(std::collections::HashMap::from([(
        "format".to_string(),
        "pt".to_string(),
    )]));
    safetensors::serialize_to_file(tensors, metadata, file)
        .map_err(|e| weights_error(file, e.to_string()))
}

/// Every float parameter under its file name and layout, as bytes.
struct Collect {
    path: Vec<String>,
    out: Vec<(String, Vec<usize>, Vec<u8>)>,
    layout: Layout,
}

impl burn::module::ModuleVisitor for Collect {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_owned());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let key = file_key(&self.path.join("."));
        let value = param.val();
        let mut shape = value.dims().to_vec();
        let mut values: Vec<f32> = value
            .into_data()
            .convert::<f32>()
            .try_into_vec()
            .unwrap_or_default();
        if transposed(&key, self.layout) && shape.len() == 2 {
            values = transpose(shape[0], shape[1], &values);
            shape.swap(0, 1);
        }
        let name = if key.starts_with("lm_head") {
            key
        } else {
            format!("transformer.{key}")
        };
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.out.push((name, shape, bytes));
    }
}
