//! The language-model examples end to end on a small text: gpt_shakespeare
//! trains, validates, checkpoints and writes samples; generate reads the
//! run back and writes with the decoding flags; bad input is a clear error.

mod common;

use std::process::Output;

fn example(name: &str, args: &[&str]) -> Output {
    common::run_example(name, args)
}

#[test]
fn trains_on_a_text_file_and_generates_from_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("verse.txt");
    std::fs::write(&text, &generative::data::text::sonnets().text[..20_000]).unwrap();
    let out = dir.path().join("run");
    let (text_s, out_s) = (text.to_str().unwrap(), out.to_str().unwrap());
    let train = [
        "--data",
        text_s,
        "--out",
        out_s,
        "--steps",
        "30",
        "--eval-every",
        "15",
        "--eval-batches",
        "2",
        "--block",
        "16",
        "--batch",
        "4",
        "--layers",
        "1",
        "--width",
        "32",
        "--samples",
        "2",
        "--sample-tokens",
        "20",
        "--checkpoint-every",
        "15",
    ];
    let run = example("gpt_shakespeare", &train);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    let validation = std::fs::read_to_string(out.join("validation.jsonl")).unwrap();
    assert_eq!(validation.lines().count(), 2, "{validation}");
    assert!(validation.contains("bits_per_char"));
    let samples = std::fs::read_to_string(out.join("samples.txt")).unwrap();
    assert!(samples.contains("=== sample 2 ==="), "{samples}");

    // Resuming a finished run adds nothing and fails nothing.
    let mut resumed = train.to_vec();
    resumed.push("--resume");
    assert!(example("gpt_shakespeare", &resumed).status.success());

    // generate: the run's model and tokenizer, greedy is deterministic.
    let args = [
        "--run",
        out_s,
        "--prompt",
        "From",
        "--max-new-tokens",
        "15",
        "--temperature",
        "0",
    ];
    let a = example("generate", &args);
    let b = example("generate", &args);
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    let written = String::from_utf8_lossy(&a.stdout);
    assert!(written.starts_with("From"), "{written}");
    assert_eq!(a.stdout, b.stdout);
    let two = example(
        "generate",
        &[
            "--run",
            out_s,
            "--samples",
            "2",
            "--top-k",
            "3",
            "--max-new-tokens",
            "5",
        ],
    );
    assert!(String::from_utf8_lossy(&two.stdout).contains("=== sample 2 ==="));

    // A character the corpus never had, and a folder that is no run.
    let bad = example("generate", &["--run", out_s, "--prompt", "€"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not in the model's vocabulary"));
    let none = example("generate", &["--run", dir.path().to_str().unwrap()]);
    assert_eq!(none.status.code(), Some(1));
    assert!(!String::from_utf8_lossy(&none.stderr).contains("panicked"));
    // A corpus shorter than one window.
    std::fs::write(&text, "too short").unwrap();
    let short = example(
        "gpt_shakespeare",
        &[
            "--data",
            text_s,
            "--out",
            dir.path().join("x").to_str().unwrap(),
        ],
    );
    assert_eq!(short.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&short.stderr).contains("shorter than one window"));
}
