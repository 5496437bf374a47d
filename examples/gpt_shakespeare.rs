//! Trains a character-level (or byte-level) GPT on Shakespeare, or on any
//! text file or folder, reports the validation loss in nats per token and
//! bits per character, and writes samples.
//!
//! ```text
//! cargo run --release --example gpt_shakespeare
//! cargo run --release --example gpt_shakespeare -- --data ../shared/data/shakespeare --suffix _gut.txt --steps 2000
//! cargo run --release --example gpt_shakespeare -- --data my_texts/ --suffix .txt --tokenizer byte
//! ```
//!
//! The defaults are nanoGPT's small CPU recipe (block 64, batch 12, 4
//! layers, 4 heads, width 128, no dropout, AdamW 1e-3 with betas (0.9,
//! 0.99), weight decay 0.1 on the matrices, 100 warm-up steps then a
//! cosine to 1e-4, gradients clipped to norm 1): the first 90 % of the
//! characters train, the last 10 % validate (200 random windows, fixed).
//! Without `--data` and without `../shared/data/shakespeare`, it trains on
//! the sonnets embedded in gen-data.
//!
//! Writes under `--out`: `metrics.jsonl` (every step), `validation.jsonl`
//! (every `--eval-every` steps), `samples.txt`, `config.json`,
//! `checkpoints/` (`--resume` continues from the newest).

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use generative::ar::{
    DecodeConfig, GptConfig, GptTrainer, GptTrainingConfig, Tokenizer, generate_text,
    validation_loss,
};
use generative::core::{self as gcore, SeededRng, Trainer, TrainerConfig, rng::with_seed};
use generative::data::text::{TextCorpus, TokenStream, TokenWindows, sonnets};
use serde::Serialize;

/// mimalloc keeps freed buffers for reuse (glibc's malloc unmaps burn-flex's
/// large per-step buffers and faults them in again: 35 % of a step here).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Train a GPT on text and write samples.
#[derive(Parser, Debug, Serialize)]
#[command(version)]
struct Args {
    /// A text file, or a folder of text files (see --suffix); default:
    /// ../shared/data/shakespeare, else the embedded sonnets.
    #[arg(long)]
    data: Option<PathBuf>,
    /// In a folder, read the files whose names end with this.
    #[arg(long, default_value = "_gut.txt")]
    suffix: String,
    /// char (the corpus's characters), byte (256 byte values) or bpe (a
    /// byte-level BPE trained on the corpus; needs `--features bpe`).
    #[arg(long, default_value = "char")]
    tokenizer: String,
    /// The BPE's vocabulary size.
    #[arg(long, default_value_t = 512)]
    bpe_vocab: usize,
    /// Context length in tokens.
    #[arg(long, default_value_t = 64)]
    block: usize,
    /// Windows per step.
    #[arg(long, default_value_t = 12)]
    batch: usize,
    /// Transformer blocks.
    #[arg(long, default_value_t = 4)]
    layers: usize,
    /// Attention heads.
    #[arg(long, default_value_t = 4)]
    heads: usize,
    /// Width.
    #[arg(long, default_value_t = 128)]
    width: usize,
    /// Dropout.
    #[arg(long, default_value_t = 0.0)]
    dropout: f64,
    /// Training steps.
    #[arg(long, default_value_t = 2000)]
    steps: u64,
    /// Peak learning rate (after the warm-up).
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Validation every this many steps (and at the end).
    #[arg(long, default_value_t = 250)]
    eval_every: u64,
    /// Validation windows (of --batch each).
    #[arg(long, default_value_t = 200)]
    eval_batches: usize,
    /// Checkpoint every this many steps (0: at the end only).
    #[arg(long, default_value_t = 500)]
    checkpoint_every: u64,
    /// Samples written at the end, and their length in tokens.
    #[arg(long, default_value_t = 3)]
    samples: usize,
    /// Tokens per sample.
    #[arg(long, default_value_t = 500)]
    sample_tokens: usize,
    /// Sampling temperature.
    #[arg(long, default_value_t = 0.8)]
    temperature: f64,
    /// Seed of the initialisation and the data order.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output folder.
    #[arg(long, default_value = "out/gpt_shakespeare")]
    out: PathBuf,
    /// Continue from the newest checkpoint in --out.
    #[arg(long)]
    resume: bool,
    /// Backend: flex, ndarray, wgpu, cuda or remote:ws://host:port (default:
    /// $GEN_DEVICE, else flex).
    #[arg(long)]
    device: Option<String>,
    /// Data-parallel training over these devices, comma-separated
    /// (`remote:ws://a:3000,remote:ws://b:3000`): each batch is split
    /// across them and the gradients averaged on the first, which holds the
    /// weights. Replaces `--device`.
    #[arg(long)]
    devices: Option<String>,
}

/// One validation line.
#[derive(Serialize)]
struct Validation {
    step: u64,
    nats_per_token: f64,
    bits_per_char: f64,
}

fn main() -> ExitCode {
    common::exit(run(&Args::parse()))
}

fn corpus(args: &Args) -> gcore::Result<(TextCorpus, String)> {
    let default = Path::new("../shared/data/shakespeare");
    Ok(match &args.data {
        Some(path) => (TextCorpus::read(path, &args.suffix)?, common::display(path)),
        None if default.exists() => (
            TextCorpus::read(default, &args.suffix)?,
            common::display(default),
        ),
        None => (
            sonnets(),
            "the embedded sonnets (../shared/data/shakespeare is absent)".into(),
        ),
    })
}

fn run(args: &Args) -> gcore::Result<()> {
    let (device, devices) =
        common::training_devices(args.device.as_deref(), args.devices.as_deref())?;
    let (corpus, name) = corpus(args)?;
    let tokenizer = match args.tokenizer.as_str() {
        "char" => Tokenizer::chars_of(&corpus.text),
        "byte" => Tokenizer::Byte,
        "bpe" => Tokenizer::train_bpe(&corpus.text, args.bpe_vocab)?,
        other => {
            return Err(gcore::Error::config(
                "tokenizer",
                format!("`{other}` is not one of char, byte, bpe"),
            ));
        }
    };
    let ids = tokenizer.encode(&corpus.text)?;
    let chars_per_token = corpus.text.chars().count() as f64 / ids.len() as f64;
    let stream = TokenStream::new(&name, ids, tokenizer.vocab_size())?;
    let (train, val) = stream.split(0.9)?;
    eprintln!(
        "{name}: {} tokens ({} train, {} validation), vocabulary {}",
        stream.len(),
        train.len(),
        val.len(),
        tokenizer.vocab_size()
    );
    let mut data = TokenWindows::new(train, args.block, args.batch, args.seed)?;
    let mut validation = TokenWindows::new(val, args.block, args.batch, 999)?;
    let config = GptConfig::new(tokenizer.vocab_size())
        .with_block_size(args.block)
        .with_n_layer(args.layers)
        .with_n_head(args.heads)
        .with_n_embd(args.width)
        .with_dropout(args.dropout);
    let model = with_seed(args.seed, &device, || config.init(&device))?;
    let mut training = GptTrainingConfig::nanogpt(args.steps);
    training.optimizer.lr = args.lr;
    if let gcore::optim::LrSchedule::WarmupCosine { min_lr, .. } = &mut training.optimizer.schedule
    {
        *min_lr = args.lr / 10.0;
    }
    eprintln!(
        "model: {} parameters; {} steps of {} x {} tokens",
        config.num_params(),
        args.steps,
        args.batch,
        args.block + 1
    );
    let mut gpt = GptTrainer::new(model, tokenizer.clone(), training.clone(), &device)?;
    generative::core::TrainStep::replicate(&mut gpt, &devices)?;
    std::fs::create_dir_all(&args.out).map_err(|e| gcore::Error::io(&args.out, e))?;
    let log_path = args.out.join("validation.jsonl");
    let mut log = if args.resume {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
    } else {
        std::fs::File::create(&log_path)
    }
    .map_err(|e| gcore::Error::io(&log_path, e))?;
    let (eval_batches, device_ref) = (args.eval_batches, &device);
    let outcome = Trainer::new(
        TrainerConfig::new()
            .with_steps(args.steps)
            .with_checkpoint_every(args.checkpoint_every)
            .with_log_every(100),
        &args.out,
    )?
    .resume(args.resume)
    .call_every(args.eval_every)?
    .with_run_config(&serde_json::json!({
        "args": args, "model": config, "training": training,
    }))?
    .fit_with(
        &mut gpt,
        &mut data,
        &mut SeededRng::new(args.seed),
        |step, gpt| {
            let nats = validation_loss(&gpt.sampler(), &mut validation, eval_batches, device_ref)?;
            let line = Validation {
                step,
                nats_per_token: nats,
                bits_per_char: nats / std::f64::consts::LN_2 / chars_per_token,
            };
            let json = serde_json::to_string(&line).expect("a line serialises");
            writeln!(log, "{json}").map_err(|e| gcore::Error::io(&log_path, e))?;
            Ok(Some(format!(
                "step {step}: validation {:.4} nats/token, {:.3} bits/char",
                line.nats_per_token, line.bits_per_char
            )))
        },
    )?;
    let decode = DecodeConfig::new()
        .with_max_new_tokens(args.sample_tokens)
        .with_temperature(args.temperature);
    // Each sample starts at a new line (or a space, for a vocabulary without one).
    let start = if tokenizer.encode("\n").is_ok() {
        "\n"
    } else {
        " "
    };
    let prompts = vec![start; args.samples];
    let texts = generate_text(
        &gpt.sampler(),
        &tokenizer,
        &prompts,
        &decode,
        &mut SeededRng::new(args.seed + 1),
        &device,
        |_, _| {},
    )?;
    let samples = args.out.join("samples.txt");
    let body = texts
        .iter()
        .enumerate()
        .map(|(i, t)| format!("=== sample {} ===\n{}\n", i + 1, t.trim_start()))
        .collect::<String>();
    std::fs::write(&samples, body).map_err(|e| gcore::Error::io(&samples, e))?;
    println!(
        "trained steps {}..{} in {:.1} s",
        outcome.start_step, outcome.final_step, outcome.seconds
    );
    println!("validation: {}", common::display(&log_path));
    println!("samples:    {}", common::display(&samples));
    println!("checkpoint: {}", common::display(&outcome.checkpoint));
    Ok(())
}
