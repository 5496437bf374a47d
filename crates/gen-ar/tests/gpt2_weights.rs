//! GPT-2-format weights against PyTorch's own logits: a small random
//! `GPT2LMHeadModel` made by `tests/fixtures/gpt2/make_gpt2_fixtures.py`
//! (transformers, no hub download), read from its `save_pretrained`
//! folder and from nanoGPT's `state_dict`, must give the logits that
//! transformers computed for fixed ids, to 1e-5 relative; and our export
//! reads back identically.

use std::path::{Path, PathBuf};

use burn::store::{ModuleStore, SafetensorsStore, bridge};
use burn::tensor::{Device, Int, Tensor, TensorData};
use gen_ar::weights::{Layout, load, load_hf, save_hf, save_nanogpt};
use gen_ar::{ArError, Gpt};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/gpt2")
}

/// The fixed ids `[2, 12]` and transformers' logits `[2, 12, vocab]`.
fn io(device: &Device) -> (Tensor<2, Int>, Vec<f32>, Vec<usize>) {
    let mut store = SafetensorsStore::from_file(fixtures().join("io.safetensors"));
    let all = store.get_all_tensors().unwrap().clone();
    let ids = bridge::into_data(all["ids"].clone())
        .unwrap()
        .convert::<i64>();
    let logits = bridge::into_data(all["logits"].clone()).unwrap();
    let shape = logits.shape().to_vec();
    let ids = Tensor::from_data(
        TensorData::new(ids.try_into_vec::<i64>().unwrap(), [2, 12]),
        device,
    );
    (ids, logits.convert::<f32>().try_into_vec().unwrap(), shape)
}

/// max |ours - transformers| / max |transformers|.
fn relative_error(model: &Gpt, device: &Device) -> f64 {
    let (ids, want, shape) = io(device);
    let got: Vec<f32> = model
        .forward(ids)
        .into_data()
        .convert::<f32>()
        .try_into_vec()
        .unwrap();
    assert_eq!(got.len(), shape.iter().product::<usize>());
    let scale = want.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let diff = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    f64::from(diff / scale)
}

#[test]
fn hugging_face_and_nanogpt_weights_give_pytorchs_logits() {
    let dev = Device::flex();
    let hf = load_hf(&fixtures().join("hf"), &dev).unwrap();
    assert_eq!(
        (
            hf.config.vocab_size,
            hf.config.block_size,
            hf.config.n_layer,
            hf.config.n_embd
        ),
        (67, 32, 2, 48)
    );
    let e = relative_error(&hf, &dev);
    eprintln!("GPT-2 (Hugging Face folder): max relative difference {e:.2e}");
    assert!(e < 1e-5, "{e}");

    let nano = load(
        hf.config.init(&dev).unwrap(),
        &fixtures().join("nanogpt.pt"),
        Layout::NanoGpt,
        None,
    )
    .unwrap();
    let e = relative_error(&nano, &dev);
    eprintln!("GPT-2 (nanoGPT state_dict): max relative difference {e:.2e}");
    assert!(e < 1e-5, "{e}");

    // Our export is a folder transformers reads; it reads back exactly.
    let dir = tempfile::tempdir().unwrap();
    save_hf(&hf, dir.path()).unwrap();
    let again = load_hf(dir.path(), &dev).unwrap();
    let (ids, _, _) = io(&dev);
    assert_eq!(
        hf.forward(ids.clone()).into_data(),
        again.forward(ids.clone()).into_data()
    );

    // And as nanoGPT's state_dict: its names and layouts, the tied head
    // under both names, read back exactly.
    let file = dir.path().join("nanogpt.safetensors");
    save_nanogpt(&hf, &file).unwrap();
    let mut store = SafetensorsStore::from_file(&file);
    let names = store.get_all_tensors().unwrap().clone();
    assert!(names.contains_key("lm_head.weight") && names.contains_key("transformer.wte.weight"));
    let c_attn = bridge::into_data(names["transformer.h.0.attn.c_attn.weight"].clone()).unwrap();
    assert_eq!(
        c_attn.shape().to_vec(),
        [3 * 48, 48],
        "nn.Linear's [out, in]"
    );
    let back = load(hf.config.init(&dev).unwrap(), &file, Layout::NanoGpt, None).unwrap();
    assert_eq!(
        hf.forward(ids.clone()).into_data(),
        back.forward(ids).into_data()
    );
}

#[test]
fn weights_that_do_not_fit_are_listed_and_bad_files_are_errors() {
    let dev = Device::flex();
    let hf = load_hf(&fixtures().join("hf"), &dev).unwrap();
    // One more layer than the file has.
    let bigger = hf.config.clone().with_n_layer(3).init(&dev).unwrap();
    let err = load(
        bigger,
        &fixtures().join("hf/model.safetensors"),
        Layout::HuggingFace,
        None,
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ArError::Weights { .. }), "{text}");
    assert!(text.contains("missing `h.2.attn.c_attn.weight`"), "{text}");
    // A wider model: wrong shapes, by name.
    let wider = hf.config.clone().with_n_embd(64).init(&dev).unwrap();
    let text = load(
        wider,
        &fixtures().join("hf/model.safetensors"),
        Layout::HuggingFace,
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(
        text.contains("`wte.weight`: the model needs [67, 64], the file has [67, 48]"),
        "{text}"
    );
    // Not a file, not safetensors, no config.
    let dir = tempfile::tempdir().unwrap();
    assert!(load_hf(dir.path(), &dev).is_err());
    std::fs::write(
        dir.path().join("junk.safetensors"),
        b"not a safetensors file",
    )
    .unwrap();
    let model = hf.config.init(&dev).unwrap();
    assert!(
        load(
            model,
            &dir.path().join("junk.safetensors"),
            Layout::HuggingFace,
            None
        )
        .is_err()
    );
}

/// With `GPT2_EXPORT_DIR` set, writes the fixture model through
/// [`save_hf`] there and through [`save_nanogpt`] as
/// `nanogpt.safetensors` in it, for `make_gpt2_fixtures.py --check DIR`
/// (and `--check-nanogpt DIR/nanogpt.safetensors NANOGPT_MODEL_PY`).
#[test]
fn export_for_transformers_when_asked() {
    if let Some(dir) = std::env::var_os("GPT2_EXPORT_DIR") {
        let dev = Device::flex();
        let model = load_hf(&fixtures().join("hf"), &dev).unwrap();
        save_hf(&model, Path::new(&dir)).unwrap();
        save_nanogpt(&model, &Path::new(&dir).join("nanogpt.safetensors")).unwrap();
    }
}
