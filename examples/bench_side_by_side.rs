//! The PyTorch reference benchmarks of `../shared/bench/pytorch`, on burn:
//! the same four models at the same batch, thread count, warm-up and number
//! of timed steps, printing the same JSON line as those scripts (`impl` is
//! `burn-<backend>`), so that `make_report.py` puts both in one table.
//!
//! ```text
//! cargo run --release --example bench_side_by_side -- --model conv_vae --threads 1
//! cargo run --release --example bench_side_by_side -- --model ddpm_unet --mode sample --threads 2
//! benches/side_by_side.sh          # PyTorch and burn at 1 and 2 threads, one table
//! ```
//!
//! What each `--model` runs (batch 64, synthetic MNIST-shaped data: eight
//! batches drawn uniformly in `[-1, 1]`, cycled):
//!
//! - `mlp_gan`: gen-gan's [`MlpGanConfig`] defaults (G 64-256-512-784, D
//!   784-512-256-1, LeakyReLU 0.2) trained by [`GanTrainer`] (Adam 2e-4,
//!   betas 0.5/0.999, non-saturating BCE-with-logits; one D step on real
//!   and detached fake, one G step on the same fake batch): one step is one
//!   `TrainStep::step`, as in `bench_mlp_gan.py`.
//! - `dcgan`: gen-gan's [`DcganConfig`] defaults, which are exactly
//!   `bench_dcgan.py`'s 28x28 DCGAN, trained the same way; `--variant
//!   reference` / `reference-leaky-as-relu` runs the bench-local copy
//!   (`benches/reference/dcgan.rs`) with burn's `leaky_relu` or with
//!   `relu(x) (1 - a) + x a`, to measure that formulation.
//! - `conv_vae`: gen-vae's [`ConvVaeConfig`] defaults (exactly
//!   `bench_vae.py`'s conv VAE) trained by [`VaeTrainer`] (Adam 1e-3,
//!   Bernoulli ELBO summed over pixels, batch mean). The encoder reads the
//!   `[0, 1]` targets (PyTorch's reads `[-1, 1]`): the same arithmetic.
//! - `ddpm_unet`: gen-diffusion's [`UNet`] built from
//!   [`UNetConfig::compact`]`(28, 1)`, which is `bench_ddpm.py`'s UNet
//!   (same modules, 583,713 parameters, the same function given the same
//!   weights: `tests/unet_reference.rs`), epsilon-prediction MSE at
//!   uniform t of a 1000-step linear schedule, plain Adam 2e-4 (not
//!   `DiffusionTrainer`, which also clips and keeps an EMA copy).
//!   `--mode sample` times full 50-step DDIM runs (eta 0) after `--warmup`
//!   UNet evaluations, as the script does. The script's `--no-attn` has no
//!   counterpart (the compact UNet always has its middle attention).
//!
//! The thread count sizes the rayon pool that burn-flex (and
//! burn-ndarray's own loops) run on, and the benchmark runs on a thread of
//! that pool (`--on-caller`: on the main thread, with a global pool); ndarray's matrixmultiply has its own
//! threads, sized by `MATMUL_NUM_THREADS` (the shell script sets it). Peak
//! RSS is the kernel's high-water mark (`VmHWM`, what `ru_maxrss` reports);
//! "other procs busy" comes from `/proc/stat`, as in `common.py`.

use std::collections::BTreeMap;
use std::fs;
use std::process::ExitCode;
use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::activation::softplus;
use burn::tensor::{Device, Int, Tensor, TensorData};
use clap::{Parser, ValueEnum};
use generative::core::{self as gcore, Batch, SeededRng, TrainStep};
use generative::diffusion::{UNet, UNetConfig};
use generative::gan::{DcganConfig, GanTrainer, GanTrainingConfig, MlpGanConfig};
use generative::vae::{ConvVaeConfig, VaeTrainer, VaeTrainingConfig};
use serde_json::{Value, json};

#[path = "../benches/reference/dcgan.rs"]
mod dcgan;
use dcgan::{LATENT, RefDiscriminator, RefGenerator};

/// mimalloc keeps freed buffers for reuse; glibc's malloc hands the large
/// ones burn-flex allocates every step back to the kernel and faults them in
/// again (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Side of the images.
const SIDE: usize = 28;
/// Values per image.
const PIXELS: usize = SIDE * SIDE;
/// Batches of fake data cycled through, as `common.fake_mnist`.
const DATA_BATCHES: usize = 8;
/// Diffusion timesteps.
const T: usize = 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
enum Model {
    MlpGan,
    Dcgan,
    ConvVae,
    DdpmUnet,
    /// bench_gpt.py's character-level GPT.
    Gpt,
}

impl Model {
    /// The `bench` key of the PyTorch script.
    fn bench(self) -> &'static str {
        match self {
            Model::MlpGan => "mlp_gan",
            Model::Dcgan => "dcgan",
            Model::ConvVae => "conv_vae",
            Model::DdpmUnet => "ddpm_unet",
            Model::Gpt => "gpt_char",
        }
    }

    /// The script's default `(steps, warmup)`.
    fn defaults(self) -> (usize, usize) {
        match self {
            Model::MlpGan => (300, 20),
            Model::Dcgan => (40, 5),
            Model::ConvVae => (60, 5),
            Model::DdpmUnet => (10, 2),
            Model::Gpt => (100, 10),
        }
    }
}

/// Which implementation of the DCGAN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Variant {
    /// gen-gan's `DcganConfig` and `GanTrainer`.
    Project,
    /// `benches/reference/dcgan.rs` with burn's `leaky_relu`.
    Reference,
    /// The same with LeakyReLU as `relu(x) (1 - a) + x a`.
    ReferenceLeakyAsRelu,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    Train,
    Sample,
}

#[derive(Parser, Debug, Clone)]
#[command(about = "burn's side of the PyTorch CPU reference benchmarks")]
struct Args {
    /// Which reference model.
    #[arg(long, value_enum)]
    model: Model,
    /// `train` (every model) or `sample` (ddpm_unet: full DDIM runs).
    #[arg(long, value_enum, default_value_t = Mode::Train)]
    mode: Mode,
    /// Threads of rayon's global pool.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Timed iterations after warm-up (default: the script's).
    #[arg(long)]
    steps: Option<usize>,
    /// Warm-up iterations (default: the script's).
    #[arg(long)]
    warmup: Option<usize>,
    /// Batch size.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Seed of the weights, the data and the noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Device: flex, ndarray or wgpu (when compiled in), or a remote
    /// server's `remote:ws://host:port` (with the `remote` feature).
    #[arg(long, default_value = "flex")]
    device: String,
    /// mlp_gan and conv_vae: data-parallel over these devices, after
    /// `--device` (comma-separated; e.g. a second remote server).
    #[arg(long)]
    replicas: Option<String>,
    /// mlp_gan and conv_vae: read the previous step's losses before each
    /// step, as `gen_core::Trainer` does (the guard's one read per step:
    /// one round trip per step on a remote device).
    #[arg(long)]
    read_losses: bool,
    /// DDIM steps of one sampling run.
    #[arg(long, default_value_t = 50)]
    ddim_steps: usize,
    /// The script's UNet without its attention block: not available (the
    /// compact UNet always has it); an error.
    #[arg(long)]
    no_attn: bool,
    /// dcgan only: the project's model, or the bench-local copy (with
    /// either LeakyReLU formulation); `impl` gets a `/ref` suffix.
    #[arg(long, value_enum, default_value_t = Variant::Project)]
    variant: Variant,
    /// Run the benchmark on the main thread with a global pool of
    /// `--threads` workers (how a plain program runs burn), instead of on a
    /// thread of the pool: then every parallel operation is handed to a
    /// pool thread and back, even with one thread.
    #[arg(long)]
    on_caller: bool,
    /// Appended to `impl` (e.g. `+x86-v4` for a build with burn's x86-v4
    /// feature), so that make_report.py keeps such runs apart.
    #[arg(long, default_value = "")]
    impl_suffix: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = if args.on_caller {
        run(&args)
    } else {
        // The whole benchmark runs on a thread of the pool, so burn's
        // parallel loops start where they are called instead of waking a
        // pool thread for every operation (see `on_caller`).
        match rayon::ThreadPoolBuilder::new()
            .num_threads(args.threads.max(1))
            .build()
        {
            Ok(pool) => pool.install(|| run(&args)),
            Err(e) => Err(gcore::Error::Unsupported(format!("rayon pool: {e}"))),
        }
    };
    match result {
        Ok(record) => {
            println!("{record}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A value of `/proc/self/status` in MiB (`VmRSS`, `VmHWM`).
fn status_mib(key: &str) -> f64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// `(busy jiffies of the whole system, jiffies of this process)`, as
/// `common._cpu_snapshot`.
fn cpu_snapshot() -> (u64, u64) {
    let busy = fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            let v: Vec<u64> = s
                .lines()
                .next()?
                .split_whitespace()
                .skip(1)
                .filter_map(|x| x.parse().ok())
                .collect();
            (v.len() > 4).then(|| v.iter().sum::<u64>() - v[3] - v[4])
        })
        .unwrap_or(0);
    let own = fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1.to_string();
            let f: Vec<u64> = rest
                .split_whitespace()
                .map(|x| x.parse().unwrap_or(0))
                .collect();
            Some(f.get(11)? + f.get(12)?)
        })
        .unwrap_or(0);
    (busy, own)
}

/// Clock ticks per second of `/proc`'s counters (`USER_HZ`, 100 on Linux).
const HZ: f64 = 100.0;

/// Warm-up, then `steps` timed calls; returns the seconds and the
/// contention record of `common.time_loop`.
fn time_loop(
    step: &mut dyn FnMut(usize) -> gcore::Result<()>,
    steps: usize,
    warmup: usize,
    device: &Device,
) -> gcore::Result<(f64, Value)> {
    for i in 0..warmup {
        step(i)?;
    }
    sync(device)?;
    let (b0, s0) = cpu_snapshot();
    let t0 = Instant::now();
    for i in 0..steps {
        step(i)?;
    }
    sync(device)?;
    let dt = t0.elapsed().as_secs_f64();
    let (b1, s1) = cpu_snapshot();
    let other = (b1.saturating_sub(b0) as f64 - s1.saturating_sub(s0) as f64) / HZ / dt;
    let own = s1.saturating_sub(s0) as f64 / HZ / dt;
    let round3 = |x: f64| (x * 1000.0).round() / 1000.0;
    Ok((
        dt,
        json!({"other_cpus": round3(other), "self_cpus": round3(own)}),
    ))
}

/// Waits for queued work (a no-op on the CPU backends, which are eager).
fn sync(device: &Device) -> gcore::Result<()> {
    device
        .sync()
        .map_err(|e| gcore::Error::Unsupported(format!("device sync failed: {e:?}")))
}

/// `common.fake_mnist`: batches uniform in `[-1, 1]`, flat `[batch, 784]`.
fn fake_mnist(batch: usize, rng: &mut SeededRng, device: &Device) -> Vec<Tensor<2>> {
    (0..DATA_BATCHES)
        .map(|_| rng.uniform([batch, PIXELS], -1.0, 1.0, device))
        .collect()
}

/// What a model set-up hands to the timing loop.
struct Prepared {
    step: Box<dyn FnMut(usize) -> gcore::Result<()>>,
    params: BTreeMap<&'static str, usize>,
    extra: Value,
    /// Images produced or consumed per timed step.
    images_per_step: usize,
}

fn run(args: &Args) -> gcore::Result<Value> {
    if args.threads == 0 || args.batch == 0 {
        return Err(gcore::Error::config(
            "threads",
            "threads and batch must be >= 1",
        ));
    }
    if args.on_caller {
        rayon::ThreadPoolBuilder::new()
            .num_threads(args.threads)
            .build_global()
            .map_err(|e| gcore::Error::Unsupported(format!("rayon pool: {e}")))?;
    }
    let device = gcore::device::device(&args.device)?;
    let backend = match args.device.parse::<gcore::Backend>() {
        Ok(b) => b.to_string(),
        Err(_) => "remote".to_string(),
    };
    let mut devices = vec![device.clone()];
    if let Some(list) = &args.replicas {
        if !matches!(args.model, Model::MlpGan | Model::ConvVae) {
            return Err(gcore::Error::Unsupported(
                "--replicas is for mlp_gan and conv_vae".into(),
            ));
        }
        devices.extend(gcore::device::devices(list)?);
    }
    let backend = match devices.len() {
        1 => backend,
        n => format!("{backend}x{n}"),
    };
    device.seed(args.seed);
    let (default_steps, default_warmup) = args.model.defaults();
    let steps = args.steps.unwrap_or(default_steps).max(1);
    let mut warmup = args.warmup.unwrap_or(default_warmup);
    // As the script: the harness default batch is for images; nanoGPT's
    // CPU run uses 12 sequences.
    let mut args = args.clone();
    if args.model == Model::Gpt && args.batch == 64 {
        args.batch = 12;
    }
    let args = &args;
    if args.mode == Mode::Sample && !matches!(args.model, Model::DdpmUnet | Model::Gpt) {
        return Err(gcore::Error::Unsupported(format!(
            "--mode sample exists for ddpm_unet only (the PyTorch scripts time training \
             for {}); the criterion benches time every model's sampling",
            args.model.bench()
        )));
    }
    let mut prepared = match args.model {
        Model::MlpGan => gan(
            MlpGanConfig::new(PIXELS).init_generator(&device)?,
            MlpGanConfig::new(PIXELS).init_discriminator(&device)?,
            args,
            &devices,
        )?,
        Model::Dcgan => match args.variant {
            Variant::Project => gan(
                DcganConfig::new().init_generator(&device)?,
                DcganConfig::new().init_discriminator(&device)?,
                args,
                &devices,
            )?,
            Variant::Reference => dcgan_reference(args, false, &device),
            Variant::ReferenceLeakyAsRelu => dcgan_reference(args, true, &device),
        },
        Model::ConvVae => vae(args, &devices)?,
        Model::Gpt => gpt(args, args.mode, &device)?,
        Model::DdpmUnet => match args.mode {
            Mode::Train => ddpm_train(args, &device)?,
            Mode::Sample => {
                // The script's warm-up is `max(1, warmup)` UNet evaluations.
                warmup = warmup.max(1);
                ddpm_sample(args, warmup, &device)?
            }
        },
    };
    let rss_before = status_mib("VmRSS:");
    let (mut seconds, contention) = time_loop(prepared.step.as_mut(), steps, warmup, &device)?;
    if args.model == Model::Gpt && args.mode == Mode::Sample {
        // As the script: steps_per_s counts generated tokens per sequence.
        seconds /= GPT_NEW_TOKENS as f64;
    }
    let sps = steps as f64 / seconds;
    let round = |x: f64, digits: i32| {
        let f = 10f64.powi(digits);
        (x * f).round() / f
    };
    let mode = match args.mode {
        Mode::Train => "train",
        Mode::Sample => "sample",
    };
    if args.mode == Mode::Sample && args.model == Model::DdpmUnet {
        // The script's extra figures of a sampling run.
        let n = args.ddim_steps.max(1) as f64;
        prepared.extra = extend(
            prepared.extra,
            json!({
                "ddim_steps_per_s": round(steps as f64 * n / seconds, 3),
                "sec_per_64_images": round(seconds / steps as f64 * 64.0 / args.batch as f64, 3),
            }),
        );
    }
    let record = json!({
        "bench": args.model.bench(),
        "impl": format!("burn-{backend}{}{}", match (args.model, args.variant) {
            (Model::Dcgan, Variant::Reference) => "/ref",
            (Model::Dcgan, Variant::ReferenceLeakyAsRelu) => "/ref+leaky-as-relu",
            _ => "",
        }, args.impl_suffix),
        "mode": mode,
        "threads": args.threads,
        "batch": args.batch,
        "steps": steps,
        "warmup": warmup,
        "seconds": round(seconds, 4),
        "steps_per_s": round(sps, 4),
        "images_per_s": round(sps * prepared.images_per_step as f64, 2),
        "ms_per_step": round(1000.0 * seconds / steps as f64, 3),
        "peak_rss_mib": round(status_mib("VmHWM:"), 1),
        "rss_before_mib": round(rss_before, 1),
        "param_count": prepared.params.values().sum::<usize>(),
        "params": prepared.params,
        "torch": Value::Null,
        "contention": contention,
        "extra": extend(prepared.extra, json!({"burn": "0.22.1"})),
    });
    eprintln!(
        "# {}/{mode} threads={} on {backend}: {:.3} steps/s, {:.1} img/s, {:.2} ms/step, \
         peak RSS {:.0} MiB, other procs busy {} CPUs",
        args.model.bench(),
        args.threads,
        sps,
        sps * prepared.images_per_step as f64,
        1000.0 * seconds / steps as f64,
        status_mib("VmHWM:"),
        record["contention"]["other_cpus"]
    );
    Ok(record)
}

/// The trainer's updates so far checked, as `Trainer` does before each
/// step (one read of the last step's losses).
fn settled(trainer: &mut dyn TrainStep, step: usize) -> gcore::Result<()> {
    trainer.settle().map_err(|d| gcore::Error::NonFinite {
        step: step as u64,
        metric: d.metric,
        value: d.value,
    })
}

/// `a` with the keys of `b` added.
fn extend(mut a: Value, b: Value) -> Value {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}

/// One `GanTrainer` step per iteration (a D and a G update).
/// `devices`: the first holds the weights, the others are data-parallel
/// replicas.
fn gan<G, D>(g: G, d: D, args: &Args, devices: &[Device]) -> gcore::Result<Prepared>
where
    G: generative::gan::Generator + 'static,
    D: generative::gan::Discriminator + 'static,
{
    let params = BTreeMap::from([("G", g.num_params()), ("D", d.num_params())]);
    let mut trainer = GanTrainer::new(g, d, GanTrainingConfig::new(), &devices[0])?;
    trainer.replicate(devices)?;
    let ad = trainer.device();
    let mut rng = SeededRng::new(args.seed);
    let data = fake_mnist(args.batch, &mut SeededRng::new(1234), &ad);
    let read = args.read_losses;
    Ok(Prepared {
        step: Box::new(move |i| {
            if read {
                settled(&mut trainer, i)?;
            }
            let real = data[i % DATA_BATCHES].clone();
            trainer.step(vec![Batch::new(real)], &mut rng).map(drop)
        }),
        params,
        extra: json!({}),
        images_per_step: args.batch,
    })
}

/// The GAN iteration of `bench_dcgan.py` on the bench-local DCGAN: a D
/// step on real and detached fake (BCE-with-logits written as softplus),
/// then a G step through the updated D on the same fake batch; Adam(2e-4,
/// betas 0.5/0.999) for both.
fn dcgan_reference(args: &Args, leaky_as_relu: bool, device: &Device) -> Prepared {
    let ad = device.clone().autodiff();
    let mut g = RefGenerator::new(&ad);
    let mut d = RefDiscriminator::new(leaky_as_relu, &ad);
    let params = BTreeMap::from([("G", g.num_params()), ("D", d.num_params())]);
    let adam = || AdamConfig::new().with_beta_1(0.5).with_beta_2(0.999).init();
    let (mut opt_g, mut opt_d): (ModuleOptimizer, ModuleOptimizer) = (adam(), adam());
    let b = args.batch;
    let mut rng = SeededRng::new(args.seed);
    let data: Vec<Tensor<4>> = fake_mnist(b, &mut SeededRng::new(1234), &ad)
        .into_iter()
        .map(|x| x.reshape([b, 1, SIDE, SIDE]))
        .collect();
    Prepared {
        step: Box::new(move |i| {
            let real = data[i % DATA_BATCHES].clone();
            let fake = g.forward(rng.normal([b, LATENT], &ad));
            let loss_d = softplus(-d.forward(real), 1.0).mean()
                + softplus(d.forward(fake.clone().detach()), 1.0).mean();
            let grads = GradientsParams::from_grads(loss_d.backward(), &d);
            d = opt_d.step(2e-4, d.clone(), grads);
            let loss_g = softplus(-d.forward(fake), 1.0).mean();
            let grads = GradientsParams::from_grads(loss_g.backward(), &g);
            g = opt_g.step(2e-4, g.clone(), grads);
            Ok(())
        }),
        params,
        extra: json!({"leaky_as_relu": leaky_as_relu}),
        images_per_step: b,
    }
}

/// One `VaeTrainer` step per iteration.
/// `devices` as in [`gan`].
fn vae(args: &Args, devices: &[Device]) -> gcore::Result<Prepared> {
    let model = ConvVaeConfig::new().init(&devices[0])?;
    let params = BTreeMap::from([("vae", model.num_params())]);
    let mut trainer = VaeTrainer::new(model, VaeTrainingConfig::new(), &devices[0])?;
    trainer.replicate(devices)?;
    let ad = trainer.device();
    let mut rng = SeededRng::new(args.seed);
    // The Bernoulli targets (x + 1) / 2 of the script, in [0, 1].
    let data: Vec<Tensor<2>> = fake_mnist(args.batch, &mut SeededRng::new(1234), &ad)
        .into_iter()
        .map(|x| (x + 1.0) / 2.0)
        .collect();
    let read = args.read_losses;
    Ok(Prepared {
        step: Box::new(move |i| {
            if read {
                settled(&mut trainer, i)?;
            }
            let x = data[i % DATA_BATCHES].clone();
            trainer.step(vec![Batch::new(x)], &mut rng).map(drop)
        }),
        params,
        extra: json!({}),
        images_per_step: args.batch,
    })
}

/// Tokens generated per sequence in one timed sampling iteration (the
/// script's `--new-tokens` within the block of 64).
const GPT_NEW_TOKENS: usize = 63;

/// bench_gpt.py's model and recipe: vocab 65, block 64, 4 layers, 4 heads,
/// width 128, tied head; training steps of nanoGPT's AdamW on 8 cycled
/// batches of random ids, or KV-cached generation of 63 tokens from one.
fn gpt(args: &Args, mode: Mode, device: &Device) -> gcore::Result<Prepared> {
    use generative::ar::{
        DecodeConfig, GptConfig, GptTrainer, GptTrainingConfig, Tokenizer, generate,
    };
    let (vocab, block) = (65usize, 64usize);
    let model = GptConfig::new(vocab).init(device)?;
    let params = BTreeMap::from([("gpt", model.num_params())]);
    let b = args.batch;
    let mut rng = SeededRng::new(1234);
    let extra = json!({"mode": format!("{mode:?}").to_lowercase(), "block": block, "n_layer": 4,
                       "n_head": 4, "n_embd": 128, "vocab": vocab});
    Ok(match mode {
        Mode::Train => {
            let tokenizer = Tokenizer::Char {
                vocab: (0..vocab as u32)
                    .filter_map(|i| char::from_u32(0x100 + i))
                    .collect(),
            };
            let mut trainer = GptTrainer::new(model, tokenizer, GptTrainingConfig::new(), device)?;
            let ad = trainer.device();
            let data: Vec<Tensor<2, Int>> = (0..DATA_BATCHES)
                .map(|_| {
                    let ids: Vec<i64> = (0..b * (block + 1))
                        .map(|_| rng.below(vocab) as i64)
                        .collect();
                    Tensor::from_data(TensorData::new(ids, [b, block + 1]), &ad)
                })
                .collect();
            Prepared {
                step: Box::new(move |i| {
                    let batch = Batch::of_tokens(data[i % DATA_BATCHES].clone());
                    trainer.step(vec![batch], &mut rng).map(drop)?;
                    // The loss is checked before the next step, as Trainer does.
                    trainer.settle().map_err(|d| gcore::Error::NonFinite {
                        step: i as u64,
                        metric: d.metric,
                        value: d.value,
                    })
                }),
                params,
                extra,
                images_per_step: b * block,
            }
        }
        Mode::Sample => {
            let decode = DecodeConfig::new().with_max_new_tokens(GPT_NEW_TOKENS);
            let device = device.clone();
            Prepared {
                step: Box::new(move |_| {
                    let prompts = vec![vec![0u32]; b];
                    generate(
                        &model,
                        &prompts,
                        &decode,
                        None,
                        &mut rng,
                        &device,
                        |_, _| {},
                    )?;
                    Ok(())
                }),
                params,
                extra,
                images_per_step: b,
            }
        }
    })
}

/// `alpha_bar` of the linear schedule `1e-4..0.02` over [`T`] steps.
fn alpha_bars() -> Vec<f64> {
    let mut acc = 1.0;
    (0..T)
        .map(|i| {
            let beta = 1e-4 + (0.02 - 1e-4) * i as f64 / (T - 1) as f64;
            acc *= 1.0 - beta;
            acc
        })
        .collect()
}

/// A `[n, 1, 1, 1]` tensor of per-example coefficients.
fn per_example(values: Vec<f32>, device: &Device) -> Tensor<4> {
    let n = values.len();
    Tensor::from_data(TensorData::new(values, [n, 1, 1, 1]), device)
}

/// `bench_ddpm.py`'s UNet: gen-diffusion's compact layout.
fn ddpm_unet(args: &Args, device: &Device) -> gcore::Result<UNet> {
    if args.no_attn {
        return Err(gcore::Error::Unsupported(
            "--no-attn: gen-diffusion's compact UNet always has its middle attention".into(),
        ));
    }
    Ok(UNetConfig::compact(SIDE, 1).init(device)?)
}

/// `bench_ddpm.py --mode train`: noise a batch at uniform t, predict the
/// noise, MSE, one Adam step.
fn ddpm_train(args: &Args, device: &Device) -> gcore::Result<Prepared> {
    let ad = device.clone().autodiff();
    let mut model = ddpm_unet(args, &ad)?;
    let params = BTreeMap::from([("unet", model.num_params())]);
    let mut opt: ModuleOptimizer = AdamConfig::new().init();
    let acp = alpha_bars();
    let b = args.batch;
    let mut rng = SeededRng::new(args.seed);
    let data: Vec<Tensor<4>> = fake_mnist(b, &mut SeededRng::new(1234), &ad)
        .into_iter()
        .map(|x| x.reshape([b, 1, SIDE, SIDE]))
        .collect();
    Ok(Prepared {
        step: Box::new(move |i| {
            let x0 = data[i % DATA_BATCHES].clone();
            let ts: Vec<usize> = (0..b).map(|_| rng.below(T)).collect();
            let eps: Tensor<4> = rng.normal([b, 1, SIDE, SIDE], &ad);
            let sa = per_example(ts.iter().map(|&t| acp[t].sqrt() as f32).collect(), &ad);
            let sb = per_example(
                ts.iter().map(|&t| (1.0 - acp[t]).sqrt() as f32).collect(),
                &ad,
            );
            let xt = x0 * sa + eps.clone() * sb;
            let t = Tensor::<1>::from_data(
                TensorData::new(ts.iter().map(|&t| t as f32).collect(), [b]),
                &ad,
            );
            let loss = (model.forward_images(xt, t, None) - eps)
                .powi_scalar(2)
                .mean();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = opt.step(2e-4, model.clone(), grads);
            Ok(())
        }),
        params,
        extra: json!({"attn": true}),
        images_per_step: b,
    })
}

/// `bench_ddpm.py --mode sample`: one iteration is a full deterministic
/// DDIM run (eta 0) of `--ddim-steps` evaluations at
/// `round(linspace(999, 0, n))`.
fn ddpm_sample(args: &Args, warmup: usize, device: &Device) -> gcore::Result<Prepared> {
    let model = ddpm_unet(args, device)?;
    let params = BTreeMap::from([("unet", model.num_params())]);
    let acp = alpha_bars();
    let n = args.ddim_steps.max(1);
    let ts: Vec<usize> = (0..n)
        .map(|i| {
            let t = if n == 1 {
                (T - 1) as f64
            } else {
                (T - 1) as f64 * (1.0 - i as f64 / (n - 1) as f64)
            };
            t.round() as usize
        })
        .collect();
    let b = args.batch;
    let mut rng = SeededRng::new(args.seed);
    let device = device.clone();
    // A run of `limit` steps: the warm-up uses `warmup` evaluations, every
    // timed iteration the full run.
    let mut calls = 0usize;
    Ok(Prepared {
        step: Box::new(move |_| {
            let limit = if calls < warmup { 1 } else { n };
            calls += 1;
            let mut x: Tensor<4> = rng.normal([b, 1, SIDE, SIDE], &device);
            for (i, &t) in ts.iter().enumerate().take(limit) {
                let a_t = acp[t];
                let a_prev = ts.get(i + 1).map_or(1.0, |&p| acp[p]);
                let eps =
                    model.forward_images(x.clone(), Tensor::full([b], t as f32, &device), None);
                let x0 = (x - eps.clone() * (1.0 - a_t).sqrt()) / a_t.sqrt();
                x = x0 * a_prev.sqrt() + eps * (1.0 - a_prev).sqrt();
            }
            let _ = x.clamp(-1.0, 1.0).into_data();
            Ok(())
        }),
        params,
        extra: json!({
            "attn": true,
            "ddim_steps": n,
        }),
        images_per_step: b,
    })
}
