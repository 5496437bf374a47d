//! The GPT on real text, in seconds: the cache, causality, learning,
//! memorisation, exact resume, determinism and backend parity.

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};
use gen_ar::{
    DecodeConfig, Gpt, GptCache, GptConfig, GptTrainer, GptTrainingConfig, Tokenizer, generate,
    generate_text, validation_loss,
};
use gen_core::rng::with_seed;
use gen_core::{CheckpointStore, Progress, SeededRng, Trainer, TrainerConfig};
use gen_data::text::{TokenStream, TokenWindows, sonnets};

fn tiny(vocab: usize, block: usize, seed: u64, dev: &Device) -> Gpt {
    with_seed(seed, dev, || {
        GptConfig::new(vocab)
            .with_block_size(block)
            .with_n_layer(2)
            .with_n_head(4)
            .with_n_embd(64)
            .init(dev)
            .unwrap()
    })
}

fn ids(values: &[u32], dev: &Device) -> Tensor<2, Int> {
    let v: Vec<i64> = values.iter().map(|&i| i64::from(i)).collect();
    Tensor::from_data(TensorData::new(v, [1, values.len()]), dev)
}

fn host(t: Tensor<3>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec().unwrap()
}

fn quiet(steps: u64, every: u64, dir: &std::path::Path) -> Trainer {
    let config = TrainerConfig::new()
        .with_steps(steps)
        .with_checkpoint_every(every);
    Trainer::new(config, dir)
        .unwrap()
        .progress(Progress::Hidden)
}

#[test]
fn the_cache_gives_the_full_pass_logits_and_later_tokens_change_nothing_before() {
    let dev = Device::flex();
    let model = tiny(20, 16, 1, &dev);
    let seq: Vec<u32> = (0..12).map(|i| (i * 7 % 20) as u32).collect();
    let full = host(model.forward(ids(&seq, &dev)));
    // A prompt of 5, then one token at a time.
    let mut cache = GptCache::new();
    let mut cached = host(model.forward_cached(ids(&seq[..5], &dev), &mut cache));
    for i in 5..seq.len() {
        cached.extend(host(
            model.forward_cached(ids(&seq[i..=i], &dev), &mut cache),
        ));
    }
    let diff = full
        .iter()
        .zip(&cached)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    let scale = full.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    assert!(diff <= 1e-5 * scale.max(1.0), "{diff} (scale {scale})");

    // Changing token 8 leaves the logits of positions 0..8 alone.
    let mut other = seq.clone();
    other[8] = (other[8] + 1) % 20;
    let changed = host(model.forward(ids(&other, &dev)));
    let v = 20;
    assert_eq!(full[..8 * v], changed[..8 * v]);
    assert_ne!(full[8 * v..9 * v], changed[8 * v..9 * v]);
}

/// The unigram entropy of the ids, in nats: what a model that ignores the
/// context reaches at best.
fn unigram_entropy(tokens: &[u32], vocab: usize) -> f64 {
    let mut counts = vec![0usize; vocab];
    for &t in tokens {
        counts[t as usize] += 1;
    }
    let n = tokens.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.ln()
        })
        .sum()
}

#[test]
fn a_tiny_model_learns_the_sonnets_and_resumes_exactly() {
    let dev = Device::flex();
    let text = sonnets().text;
    let tokenizer = Tokenizer::chars_of(&text);
    let vocab = tokenizer.vocab_size();
    let stream = TokenStream::new("sonnets", tokenizer.encode(&text).unwrap(), vocab).unwrap();
    let (train, val) = stream.split(0.9).unwrap();
    let entropy = unigram_entropy(val.tokens(), vocab);
    let mut val_windows = TokenWindows::new(val, 32, 16, 99).unwrap();
    let config = GptTrainingConfig::nanogpt(300).with_optimizer(
        gen_ar::nanogpt_adamw().with_lr(3e-3).with_schedule(
            gen_core::optim::LrSchedule::WarmupCosine {
                warmup_steps: 20,
                total_steps: 300,
                min_lr: 3e-4,
            },
        ),
    );
    let new = |seed| {
        GptTrainer::new(
            tiny(vocab, 32, seed, &dev),
            tokenizer.clone(),
            config.clone(),
            &dev,
        )
        .unwrap()
    };
    let mut data = TokenWindows::new(train, 32, 16, 0).unwrap();
    let mut trainer = new(3);
    let before = validation_loss(trainer.model(), &mut val_windows, 4, &dev).unwrap();
    let dir = tempfile::tempdir().unwrap();
    quiet(300, 0, dir.path())
        .fit(&mut trainer, &mut data, &mut SeededRng::new(0))
        .unwrap();
    let after = validation_loss(&trainer.sampler(), &mut val_windows, 4, &dev).unwrap();
    eprintln!(
        "sonnets: validation loss {before:.3} -> {after:.3} nats/char (unigram entropy {entropy:.3})"
    );
    assert!(before > entropy, "{before} {entropy}");
    assert!(after < entropy - 0.1, "{after} vs unigram {entropy}");

    // 4 steps straight against 2 + checkpoint + 2 in a fresh process-like
    // restart (another initialisation): bit-identical.
    let straight = tempfile::tempdir().unwrap();
    let mut a = new(5);
    quiet(4, 0, straight.path())
        .fit(&mut a, &mut data, &mut SeededRng::new(0))
        .unwrap();
    let split = tempfile::tempdir().unwrap();
    quiet(2, 0, split.path())
        .fit(&mut new(5), &mut data, &mut SeededRng::new(0))
        .unwrap();
    let mut c = new(77);
    quiet(4, 0, split.path())
        .resume(true)
        .fit(&mut c, &mut data, &mut SeededRng::new(1))
        .unwrap();
    assert_eq!(c.steps_done(), 4);
    let probe = ids(&tokenizer.encode("Shall I compare").unwrap(), &dev);
    assert_eq!(
        a.model().valid().forward(probe.clone()).into_data(),
        c.model().valid().forward(probe).into_data()
    );
    // The checkpoint knows its model: rebuilt from the card alone.
    let (_, newest) = CheckpointStore::new(split.path().join("checkpoints"), 2)
        .latest()
        .unwrap()
        .unwrap();
    let reader = CheckpointStore::open(&newest).unwrap();
    let card = gen_core::card::ModelCard::read(&reader).unwrap();
    let saved = gen_ar::saved::load(&card, &reader, true, &dev).unwrap();
    assert_eq!(saved.tokenizer, tokenizer);
    assert_eq!(saved.model.config, a.model().config);
}

#[test]
fn greedy_decoding_reproduces_a_memorised_string_on_both_cpu_backends() {
    let dev = Device::flex();
    let line = "the quick brown fox jumps over the lazy dog; ";
    let text = line.repeat(40);
    let tokenizer = Tokenizer::chars_of(&text);
    let vocab = tokenizer.vocab_size();
    let stream = TokenStream::new("fox", tokenizer.encode(&text).unwrap(), vocab).unwrap();
    let mut data = TokenWindows::new(stream, 24, 8, 0).unwrap();
    let config = GptTrainingConfig::new().with_optimizer(gen_ar::nanogpt_adamw().with_lr(3e-3));
    let mut trainer =
        GptTrainer::new(tiny(vocab, 24, 7, &dev), tokenizer.clone(), config, &dev).unwrap();
    let dir = tempfile::tempdir().unwrap();
    quiet(250, 0, dir.path())
        .fit(&mut trainer, &mut data, &mut SeededRng::new(0))
        .unwrap();
    let model = trainer.sampler();
    let greedy = DecodeConfig::new()
        .with_temperature(0.0)
        .with_max_new_tokens(60);
    let mut streamed = String::new();
    let out = generate_text(
        &model,
        &tokenizer,
        &["the quick"],
        &greedy,
        &mut SeededRng::new(0),
        &dev,
        |_, id| streamed.push_str(&tokenizer.decode(&[id])),
    )
    .unwrap();
    // 60 new characters: past the block of 24, so the window slid.
    let want: String = format!("the quick{}", &line.repeat(3)[9..])
        .chars()
        .take(69)
        .collect();
    assert_eq!(out[0], want);
    assert_eq!(format!("the quick{streamed}"), want);

    // The same on ndarray (weights moved, same host draws), and sampling
    // with a seed gives the same text twice.
    let nd = gen_core::device::device("ndarray").unwrap();
    let moved = model.clone().to_device(&nd);
    let on_nd = generate_text(
        &moved,
        &tokenizer,
        &["the quick"],
        &greedy,
        &mut SeededRng::new(0),
        &nd,
        |_, _| {},
    )
    .unwrap();
    assert_eq!(on_nd, out);
    let warm = DecodeConfig::new()
        .with_temperature(1.0)
        .with_top_k(Some(5))
        .with_max_new_tokens(40);
    let draw = |device: &Device, m: &Gpt| {
        generate_text(
            m,
            &tokenizer,
            &["the"; 3],
            &warm,
            &mut SeededRng::new(42),
            device,
            |_, _| {},
        )
        .unwrap()
    };
    assert_eq!(draw(&dev, &model), draw(&dev, &model));
    assert_eq!(draw(&dev, &model), draw(&nd, &moved));

    // Stops: a stop string ends each sequence where it appears.
    let stop = greedy.clone().with_stop_strings(vec!["fox".into()]);
    let out = generate_text(
        &model,
        &tokenizer,
        &["the quick"; 2],
        &stop,
        &mut SeededRng::new(0),
        &dev,
        |_, _| {},
    )
    .unwrap();
    assert_eq!(out, vec!["the quick brown fox".to_string(); 2]);
    // Bad prompts are typed errors.
    assert!(
        generate_text(
            &model,
            &tokenizer,
            &["the QUICK"],
            &greedy,
            &mut SeededRng::new(0),
            &dev,
            |_, _| {}
        )
        .is_err()
    );
    assert!(
        generate(
            &model,
            &[vec![0, 1], vec![2]],
            &greedy,
            None,
            &mut SeededRng::new(0),
            &dev,
            |_, _| {}
        )
        .is_err()
    );
}
