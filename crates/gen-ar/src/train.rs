//! Training a [`Gpt`]: next-token cross-entropy over gen-core's shared
//! optimisation layer (AdamW with decay on the weight matrices, warm-up
//! and cosine schedule, global gradient-norm clipping), as a
//! [`gen_core::TrainStep`] for gen-core's [`Trainer`](gen_core::Trainer).

use burn::config::Config;
use burn::module::Module;
use burn::tensor::Device;
use gen_core::optim::{
    Diverged, GradClip, Guarded, LrSchedule, OptimConfig, Optimized, OptimizerKind,
};
use gen_core::{
    Batch, BatchSource, Metrics, SeededRng, StateReader, StateWriter, Stateful, TrainStep,
};

use crate::model::{Gpt, next_token_loss};
use crate::saved::card;
use crate::tokenizer::Tokenizer;

/// nanoGPT's optimizer: AdamW at 1e-3 with betas (0.9, 0.99), epsilon
/// 1e-8 (PyTorch's), weight decay 0.1 on the weight matrices and
/// embeddings only, gradients clipped to a joint norm of 1; the rate
/// constant (see [`GptTrainingConfig::nanogpt`] for the schedule).
pub fn nanogpt_adamw() -> OptimConfig {
    OptimConfig::new()
        .with_lr(1e-3)
        .with_beta2(0.99)
        .with_epsilon(1e-8)
        .with_optimizer(OptimizerKind::AdamW {
            weight_decay: 0.1,
            matrices_only: true,
        })
        .with_grad_clip(Some(GradClip::GlobalNorm(1.0)))
}

/// Training settings of a [`Gpt`].
#[derive(Config, Debug, PartialEq)]
pub struct GptTrainingConfig {
    /// The optimizer ([`nanogpt_adamw`] by default).
    #[config(default = "nanogpt_adamw()")]
    pub optimizer: OptimConfig,
}

impl GptTrainingConfig {
    /// nanoGPT's recipe for a run of `total_steps` updates: [`nanogpt_adamw`]
    /// with 100 warm-up steps (fewer for a short run), then a cosine from
    /// 1e-3 to 1e-4 at the last step.
    pub fn nanogpt(total_steps: u64) -> Self {
        let warmup_steps = 100.min(total_steps.saturating_sub(1)).max(1);
        Self::new().with_optimizer(nanogpt_adamw().with_schedule(LrSchedule::WarmupCosine {
            warmup_steps,
            total_steps: total_steps.max(warmup_steps + 1),
            min_lr: 1e-4,
        }))
    }
}

/// A [`Gpt`] with its optimizer and tokenizer, ready to train.
#[derive(Clone, Debug)]
pub struct GptTrainer {
    model: Optimized<Gpt>,
    tokenizer: Tokenizer,
    config: GptTrainingConfig,
}

impl GptTrainer {
    /// Forks the model onto the autodiff version of `device`; `tokenizer`
    /// is saved with it.
    ///
    /// # Errors
    /// [`gen_core::Error::InvalidConfig`] for an invalid config or a
    /// tokenizer whose vocabulary is not the model's.
    pub fn new(
        model: Gpt,
        tokenizer: Tokenizer,
        config: GptTrainingConfig,
        device: &Device,
    ) -> gen_core::Result<Self> {
        if tokenizer.vocab_size() != model.config.vocab_size {
            return Err(gen_core::Error::config(
                "vocab_size",
                format!(
                    "the tokenizer has {} ids, the model {}",
                    tokenizer.vocab_size(),
                    model.config.vocab_size
                ),
            ));
        }
        Ok(Self {
            model: Optimized::new(model, config.optimizer.clone(), device)?,
            tokenizer,
            config,
        })
    }

    /// The model (on the autodiff device).
    pub fn model(&self) -> &Gpt {
        self.model.module()
    }

    /// The model to evaluate and sample from: the moving average when the
    /// optimizer keeps one, else the weights, without autodiff.
    pub fn sampler(&self) -> Gpt {
        self.model.sampler()
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The model with its optimizer.
    pub fn optimized(&self) -> &Optimized<Gpt> {
        &self.model
    }

    /// The training settings.
    pub fn config(&self) -> &GptTrainingConfig {
        &self.config
    }

    /// Steps taken so far (restored on resume).
    pub fn steps_done(&self) -> u64 {
        self.model.updates()
    }
}

impl TrainStep for GptTrainer {
    fn device(&self) -> Device {
        self.model.device().clone()
    }

    fn step(&mut self, batches: Vec<Batch>, _rng: &mut SeededRng) -> gen_core::Result<Metrics> {
        let batch = Batch::single(batches, "a GPT step")?;
        check_window(&batch.tokens()?.dims(), &self.model.module().config)?;
        let mut metrics = self.model.update_sharded(batch, |model, batch| {
            let loss = next_token_loss(model, batch.tokens()?.clone());
            Ok((loss.clone(), Metrics::new().with_tensor("loss", loss)))
        })?;
        // The rate of the update just made.
        metrics.push("lr", self.model.lr());
        Ok(metrics)
    }

    fn replicate(&mut self, devices: &[Device]) -> gen_core::Result<()> {
        self.model.replicate(devices)
    }

    fn settle(&mut self) -> std::result::Result<(), Diverged> {
        self.model.settle()
    }
}

impl Stateful for GptTrainer {
    fn save_state(&self, out: &mut StateWriter) -> gen_core::Result<()> {
        let card = card(self.model.module(), &self.tokenizer)?;
        self.model.save_with_card(out, Some(card))
    }

    fn load_state(&mut self, input: &StateReader) -> gen_core::Result<()> {
        self.model.load(input)
    }
}

/// A batch of windows `[b, t + 1]` with `1 <= t <= block_size`.
fn check_window(dims: &[usize; 2], config: &crate::GptConfig) -> gen_core::Result<()> {
    let [b, n] = *dims;
    if b == 0 || n < 2 || n > config.block_size + 1 {
        return Err(gen_core::Error::Shape {
            what: "GPT training batch",
            expected: format!("[batch >= 1, 2..={}] token windows", config.block_size + 1),
            found: dims.to_vec(),
        });
    }
    Ok(())
}

/// The mean next-token loss of `model` over the first `batches` batches of
/// `source`, in nats per token (on `model`'s device, without autodiff).
///
/// # Errors
/// When a batch cannot be read or is not a token batch.
pub fn validation_loss(
    model: &Gpt,
    source: &mut dyn BatchSource,
    batches: usize,
    device: &Device,
) -> gen_core::Result<f64> {
    gen_core::error::ensure_nonzero("batches", batches)?;
    let model = model.valid();
    let mut losses = Vec::with_capacity(batches);
    for i in 0..batches as u64 {
        let batch = source.batch(i, device)?;
        let tokens = batch.tokens()?.clone();
        check_window(&tokens.dims(), &model.config)?;
        losses.push(next_token_loss(&model, tokens));
    }
    let mean = burn::tensor::Tensor::cat(losses, 0).mean();
    Ok(mean.into_scalar::<f64>())
}
