//! Writes text with a saved language model, printing it as it comes.
//!
//! ```text
//! cargo run --release --example generate -- --run out/gpt_shakespeare --prompt "ROMEO:" --samples 2
//! cargo run --release --example generate -- --run out/gpt_shakespeare --temperature 0.8 --top-k 20 --stop "\n\n"
//! cargo run --release --features bpe --example generate -- --gpt2 path/to/gpt2 --prompt "Hello, I'm a language model,"
//! ```
//!
//! `--run` is a run folder of `gpt_shakespeare` (its newest checkpoint) or
//! a checkpoint folder: the model card holds the model and its tokenizer.
//! `--gpt2` is a Hugging Face GPT-2 folder (`config.json`,
//! `model.safetensors`, and `tokenizer.json` for the BPE, which needs
//! `--features bpe`), e.g. GPT-2 small's files from the hub
//! (`openai-community/gpt2`) saved to disk beforehand: nothing is
//! downloaded here. `--ids` takes and prints token ids instead of text.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use generative::ar::{DecodeConfig, Gpt, Tokenizer, generate};
use generative::core::{self as gcore, SeededRng};
use generative::saved::{self, SavedModel};

/// Generate text with a saved GPT.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// A gpt_shakespeare run folder or checkpoint folder.
    #[arg(long, conflicts_with = "gpt2")]
    run: Option<PathBuf>,
    /// A Hugging Face GPT-2 folder (config.json, model.safetensors, tokenizer.json).
    #[arg(long)]
    gpt2: Option<PathBuf>,
    /// The text to continue (with --ids: space-separated token ids).
    #[arg(long, default_value = "\n")]
    prompt: String,
    /// Read the prompt and print the output as token ids.
    #[arg(long)]
    ids: bool,
    /// Continuations of the prompt, decoded together.
    #[arg(long, default_value_t = 1)]
    samples: usize,
    /// The most tokens to add.
    #[arg(long, default_value_t = 300)]
    max_new_tokens: usize,
    /// Sampling temperature (0: greedy).
    #[arg(long, default_value_t = 0.8)]
    temperature: f64,
    /// Sample among the k most likely tokens.
    #[arg(long)]
    top_k: Option<usize>,
    /// Nucleus sampling with this probability mass.
    #[arg(long)]
    top_p: Option<f64>,
    /// CTRL's repetition penalty (1: none).
    #[arg(long, default_value_t = 1.0)]
    repetition_penalty: f64,
    /// Stop a sample once it produces this text (may be repeated).
    #[arg(long)]
    stop: Vec<String>,
    /// Seed of the draws.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Use the raw weights, not the moving average, when the run kept one.
    #[arg(long)]
    no_ema: bool,
    /// Backend: flex, ndarray, wgpu, cuda or remote:ws://host:port (default:
    /// $GEN_DEVICE, else flex).
    #[arg(long)]
    device: Option<String>,
}

fn main() -> ExitCode {
    common::exit(run(&Args::parse()))
}

fn run(args: &Args) -> gcore::Result<()> {
    let device = common::device(args.device.as_deref())?;
    let (model, tokenizer): (Gpt, Option<Tokenizer>) = match (&args.run, &args.gpt2) {
        (Some(run), _) => match saved::open(run, !args.no_ema, &device)?.model {
            SavedModel::Ar(saved) => (saved.model, Some(saved.tokenizer)),
            _ => {
                return Err(gcore::Error::Unsupported(format!(
                    "{} holds no language model: sample it with the sample example",
                    run.display()
                )));
            }
        },
        (None, Some(dir)) => {
            let model = generative::ar::weights::load_hf(dir, &device)?;
            let tokenizer = if args.ids {
                None
            } else {
                Some(Tokenizer::from_tokenizer_json(&dir.join("tokenizer.json"))?)
            };
            (model, tokenizer)
        }
        (None, None) => {
            return Err(gcore::Error::config("run", "give --run DIR or --gpt2 DIR"));
        }
    };
    let prompt: Vec<u32> = if args.ids {
        args.prompt
            .split_whitespace()
            .map(|s| {
                s.parse()
                    .map_err(|_| gcore::Error::config("prompt", format!("`{s}` is not a token id")))
            })
            .collect::<gcore::Result<_>>()?
    } else {
        tokenizer
            .as_ref()
            .expect("a tokenizer without --ids")
            .encode(&args.prompt)?
    };
    let decode = DecodeConfig::new()
        .with_max_new_tokens(args.max_new_tokens)
        .with_temperature(args.temperature)
        .with_top_k(args.top_k)
        .with_top_p(args.top_p)
        .with_repetition_penalty(args.repetition_penalty)
        .with_stop_strings(args.stop.clone());
    let prompts = vec![prompt; args.samples.max(1)];
    let stream = args.samples == 1;
    let mut out = std::io::stdout();
    if stream && !args.ids {
        print!("{}", args.prompt);
    }
    // Streamed text: the decoding of all new ids so far, printed as it
    // grows (a byte or BPE token may be part of a character).
    let (mut new_ids, mut printed) = (Vec::new(), 0usize);
    let results = generate(
        &model,
        &prompts,
        &decode,
        tokenizer.as_ref(),
        &mut SeededRng::new(args.seed),
        &device,
        |_, id| {
            if stream {
                match &tokenizer {
                    Some(t) if !args.ids => {
                        new_ids.push(id);
                        let text = t.decode(&new_ids);
                        let text = text.trim_end_matches('\u{fffd}');
                        if text.len() > printed {
                            print!("{}", &text[printed..]);
                            printed = text.len();
                        }
                    }
                    _ => print!("{id} "),
                }
                let _ = out.flush();
            }
        },
    )?;
    if stream {
        println!();
        return Ok(());
    }
    for (i, ids) in results.iter().enumerate() {
        println!("=== sample {} ===", i + 1);
        match &tokenizer {
            Some(t) if !args.ids => println!("{}", t.decode(ids)),
            _ => println!("{ids:?}"),
        }
    }
    Ok(())
}
