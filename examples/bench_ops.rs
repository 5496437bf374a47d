//! Where the time of the reference benchmarks goes, operation by
//! operation: every layer of the four PyTorch reference models at its own
//! shape (batch 64), timed on burn forward only (inference, no autodiff)
//! and forward + backward (autodiff, `(y * g).sum().backward()` with a
//! fixed random `g`, parameter gradients included), plus the phases (forward, backward, Adam) of the
//! reference UNet's training step. `benches/ops_torch.py` times the same
//! list in PyTorch; both print one JSON line per operation with the same
//! keys, so the two can be joined by `name`.
//!
//! ```text
//! cargo run --release --example bench_ops -- --threads 1 > burn_ops.jsonl
//! python benches/ops_torch.py --threads 1 > torch_ops.jsonl
//! python benches/ops_table.py torch_ops.jsonl burn_ops.jsonl
//! ```

use std::process::ExitCode;
use std::time::Instant;

use burn::nn::conv::{Conv2dConfig, ConvTranspose2dConfig};
use burn::nn::{BatchNormConfig, GroupNormConfig, LayerNormConfig, LinearConfig, PaddingConfig2d};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::{leaky_relu, relu, softmax, tanh};
use burn::tensor::{Device, Distribution, Tensor};
use clap::Parser;
use generative::core::{self as gcore, Backend};
use generative::nn;
use serde_json::json;

#[path = "../benches/reference/ddpm_unet.rs"]
mod ddpm_unet;
use ddpm_unet::{Attn, EDIM, ReferenceUNet, ResBlock};

#[derive(Parser, Debug)]
#[command(about = "per-operation timings of the reference models on burn")]
struct Args {
    /// Threads of the rayon pool the operations run on.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Backend: flex, ndarray or wgpu (when compiled in).
    #[arg(long, default_value = "flex")]
    device: String,
    /// Timed repetitions per operation (the median is reported).
    #[arg(long, default_value_t = 15)]
    reps: usize,
    /// Only operations whose name contains this.
    #[arg(long, default_value = "")]
    filter: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    // Run on a thread of the pool, as `bench_side_by_side` does, so that
    // burn's parallel loops start where they are called.
    let result = match rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.max(1))
        .build()
    {
        Ok(pool) => pool.install(|| run(&args)),
        Err(e) => Err(gcore::Error::Unsupported(format!("rayon pool: {e}"))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Median milliseconds of `reps` calls after two warm-up calls.
fn median_ms(reps: usize, device: &Device, f: &mut dyn FnMut()) -> f64 {
    for _ in 0..2 {
        f();
    }
    let _ = device.sync();
    let mut times: Vec<f64> = (0..reps.max(1))
        .map(|_| {
            let t0 = Instant::now();
            f();
            let _ = device.sync();
            t0.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// The timing context: devices, repetitions, filter, and where results go.
struct Ctx {
    dev: Device,
    ad: Device,
    reps: usize,
    filter: String,
    threads: usize,
    backend: Backend,
}

impl Ctx {
    /// `burn-flex`, or `burn-flex+gen-kernels` where the convolutions run
    /// gen-kernels' (the default on flex; `GEN_KERNELS=burn` turns it off).
    fn implementation(&self) -> String {
        let kernels = if generative::kernels::fast_path(&self.dev) {
            "+gen-kernels"
        } else {
            ""
        };
        format!("burn-{}{kernels}", self.backend)
    }

    fn wants(&self, name: &str) -> bool {
        name.contains(&self.filter)
    }

    fn emit(&self, name: &str, fwd: Option<f64>, fwd_bwd: Option<f64>) {
        let r = |x: Option<f64>| x.map(|v| (v * 1000.0).round() / 1000.0);
        println!(
            "{}",
            json!({
                "name": name,
                "impl": self.implementation(),
                "threads": self.threads,
                "fwd_ms": r(fwd),
                "fwd_bwd_ms": r(fwd_bwd),
            })
        );
    }

    fn rand<const D: usize>(&self, shape: [usize; D], device: &Device) -> Tensor<D> {
        Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
    }

    /// Times `op` forward on the plain device and forward + backward on
    /// the autodiff one; `build` makes the operation for a device.
    fn op<const D: usize, const E: usize, F>(
        &self,
        name: &str,
        shape: [usize; D],
        build: impl Fn(&Device) -> F,
    ) where
        F: Fn(Tensor<D>) -> Tensor<E>,
    {
        if !self.wants(name) {
            return;
        }
        let f = build(&self.dev);
        let x = self.rand(shape, &self.dev);
        let fwd = median_ms(self.reps, &self.dev, &mut || drop(f(x.clone())));
        let g = build(&self.ad);
        let xa = self.rand(shape, &self.ad).require_grad();
        // A dense upstream gradient, as in a model (the gradient of a bare
        // `sum()` is a broadcast, which takes slower strided paths).
        let seed = self.rand(g(xa.clone()).dims(), &self.ad);
        let fwd_bwd = median_ms(self.reps, &self.ad, &mut || {
            drop((g(xa.clone()) * seed.clone()).sum().backward());
        });
        self.emit(name, Some(fwd), Some(fwd_bwd));
    }
}

fn run(args: &Args) -> gcore::Result<()> {
    let backend: Backend = args.device.parse()?;
    let dev = backend.device()?;
    dev.seed(0);
    let cx = Ctx {
        ad: dev.clone().autodiff(),
        dev,
        reps: args.reps,
        filter: args.filter.clone(),
        threads: args.threads,
        backend,
    };
    let b = 64;

    // --- elementwise and norms ---
    cx.op("relu [64,64,14,14]", [b, 64, 14, 14], |_| relu);
    cx.op("leaky_relu [64,64,14,14]", [b, 64, 14, 14], |_| {
        |x| leaky_relu(x, 0.2)
    });
    cx.op("leaky_relu [64,512]", [b, 512], |_| |x| leaky_relu(x, 0.2));
    // The same functions written with other burn ops (candidate fixes on
    // our side; no PyTorch twin).
    cx.op(
        "alt: leaky_relu as relu(x)(1-a)+ax [64,64,14,14]",
        [b, 64, 14, 14],
        |_| |x: Tensor<4>| relu(x.clone()) * 0.8 + x * 0.2,
    );
    cx.op(
        "alt: silu as x/(1+exp(-x)) [64,32,28,28]",
        [b, 32, 28, 28],
        |_| |x: Tensor<4>| x.clone() / ((-x).exp() + 1.0),
    );
    cx.op("tanh [64,784]", [b, 784], |_| tanh);
    cx.op("silu [64,32,28,28]", [b, 32, 28, 28], |_| nn::silu);
    // The GPT of bench_gpt.py: batch 12, block 64, width 128 (MLP 512).
    cx.op("gelu [12,64,512]", [12, 64, 512], |_| nn::gelu);
    cx.op("layer_norm(128) [12,64,128]", [12, 64, 128], |d| {
        let m = LayerNormConfig::new(128).init(d);
        move |x| nn::layer_norm(&m, 1e-5, x)
    });
    cx.op("batch_norm(64) [64,64,14,14]", [b, 64, 14, 14], |d| {
        let m = BatchNormConfig::new(64).init(d);
        move |x| nn::batch_norm(&m, x)
    });
    cx.op("batch_norm(128) [64,128,7,7]", [b, 128, 7, 7], |d| {
        let m = BatchNormConfig::new(128).init(d);
        move |x| nn::batch_norm(&m, x)
    });
    cx.op("group_norm(8,32) [64,32,28,28]", [b, 32, 28, 28], |d| {
        let m = GroupNormConfig::new(8, 32).init(d);
        move |x| m.forward(x)
    });
    cx.op("group_norm(8,128) [64,128,14,14]", [b, 128, 14, 14], |d| {
        let m = GroupNormConfig::new(8, 128).init(d);
        move |x| m.forward(x)
    });

    // --- linear layers ---
    for (i, o) in [(64, 256), (256, 512), (512, 784), (784, 512), (512, 256)] {
        cx.op(&format!("linear {i}->{o} [64,{i}]"), [b, i], |d| {
            let m = LinearConfig::new(i, o).init(d);
            move |x| nn::linear(&m, x)
        });
    }
    // The GPT's (bench_gpt.py): 768 tokens of width 128.
    for (i, o) in [(128, 384), (128, 512), (512, 128)] {
        cx.op(&format!("linear {i}->{o} [12,64,{i}]"), [12, 64, i], |d| {
            let m = LinearConfig::new(i, o).init(d);
            move |x| nn::linear(&m, x)
        });
    }
    cx.op("linear 100->6272 [64,100]", [b, 100], |d| {
        let m = LinearConfig::new(100, 6272).init(d);
        move |x| nn::linear(&m, x)
    });
    cx.op("linear 6272->1 [64,6272]", [b, 6272], |d| {
        let m = LinearConfig::new(6272, 1).init(d);
        move |x| nn::linear(&m, x)
    });
    cx.op("linear 3136->16 [64,3136]", [b, 3136], |d| {
        let m = LinearConfig::new(3136, 16).init(d);
        move |x| nn::linear(&m, x)
    });

    // --- strided k4 convolutions (DCGAN D, VAE encoder) ---
    for (cin, cout, side) in [(1, 64, 28), (64, 128, 14), (1, 32, 28), (32, 64, 14)] {
        let name = format!("conv k4s2p1 {cin}->{cout} [64,{cin},{side},{side}]");
        cx.op(&name, [b, cin, side, side], |d| {
            let m = Conv2dConfig::new([cin, cout], [4, 4])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(d);
            move |x| nn::conv2d(&m, x)
        });
    }
    // --- transposed k4 convolutions (DCGAN G, VAE decoder) ---
    for (cin, cout, side) in [(128, 64, 7), (64, 1, 14), (64, 32, 7), (32, 1, 14)] {
        let name = format!("conv_t k4s2p1 {cin}->{cout} [64,{cin},{side},{side}]");
        cx.op(&name, [b, cin, side, side], |d| {
            let m = ConvTranspose2dConfig::new([cin, cout], [4, 4])
                .with_stride([2, 2])
                .with_padding([1, 1])
                .init(d);
            move |x| nn::conv_transpose2d(&m, x)
        });
    }
    // --- 3x3 convolutions (UNet) ---
    for (cin, cout, side, stride) in [
        (1, 32, 28, 1),
        (32, 32, 28, 1),
        (96, 32, 28, 1),
        (32, 32, 28, 2),
        (64, 64, 14, 1),
        (128, 64, 14, 1),
        (64, 64, 14, 2),
        (64, 64, 7, 1),
        (32, 1, 28, 1),
    ] {
        let name = format!("conv k3s{stride}p1 {cin}->{cout} [64,{cin},{side},{side}]");
        cx.op(&name, [b, cin, side, side], |d| {
            let m = Conv2dConfig::new([cin, cout], [3, 3])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(d);
            move |x| nn::conv2d(&m, x)
        });
    }
    cx.op("conv k1 32->64 [64,32,14,14]", [b, 32, 14, 14], |d| {
        let m = Conv2dConfig::new([32, 64], [1, 1]).init(d);
        move |x| nn::conv2d(&m, x)
    });

    // --- UNet pieces ---
    cx.op("softmax(q^T k) [64,49,49]", [b, 49, 64], |d| {
        let k = cx.rand([b, 64, 49], d);
        move |q: Tensor<3>| softmax(q.matmul(k.clone()), 2)
    });
    cx.op("attention block(64) [64,64,7,7]", [b, 64, 7, 7], |d| {
        let m = Attn::new(64, d);
        move |x| m.forward(x)
    });
    cx.op("nearest 2x [64,64,14,14]", [b, 64, 14, 14], |_| {
        |x: Tensor<4>| {
            burn::tensor::module::interpolate(
                x,
                burn::tensor::ops::InterpolateOptions::new(
                    burn::tensor::ops::InterpolateMode::Nearest,
                )
                .with_scale_factor([2.0, 2.0]),
            )
        }
    });
    cx.op("cat channels 64+32 [64,*,28,28]", [b, 64, 28, 28], |d| {
        let other = cx.rand([b, 32, 28, 28], d);
        move |x| Tensor::cat(vec![x, other.clone()], 1)
    });
    for (cin, cout, side) in [(32, 32, 28), (96, 32, 28), (128, 64, 14), (64, 64, 7)] {
        let name = format!("resblock {cin}->{cout} [64,{cin},{side},{side}]");
        cx.op(&name, [b, cin, side, side], |d| {
            let m = ResBlock::new(cin, cout, d);
            let e = cx.rand([b, EDIM], d);
            move |x| m.forward(x, e.clone())
        });
    }

    // --- the whole reference UNet: forward, and the training step's phases ---
    if cx.wants("unet") {
        let net = ReferenceUNet::new(true, &cx.dev);
        let x = cx.rand([b, 1, 28, 28], &cx.dev);
        let t = Tensor::<1>::full([b], 500.0, &cx.dev);
        let fwd = median_ms(cx.reps.min(7), &cx.dev, &mut || {
            drop(net.forward(x.clone(), t.clone()))
        });
        let mut net = ReferenceUNet::new(true, &cx.ad);
        let mut opt = AdamConfig::new().init();
        let xa = cx.rand([b, 1, 28, 28], &cx.ad);
        let ta = Tensor::<1>::full([b], 500.0, &cx.ad);
        let eps = cx.rand([b, 1, 28, 28], &cx.ad);
        let (mut tf, mut tb, mut to) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..cx.reps.min(7) + 2 {
            let t0 = Instant::now();
            let loss = (net.forward(xa.clone(), ta.clone()) - eps.clone())
                .powi_scalar(2)
                .mean();
            let t1 = Instant::now();
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            let t2 = Instant::now();
            net = opt.step(2e-4, net, grads);
            let _ = cx.ad.sync();
            let t3 = Instant::now();
            if i >= 2 {
                tf.push((t1 - t0).as_secs_f64() * 1e3);
                tb.push((t2 - t1).as_secs_f64() * 1e3);
                to.push((t3 - t2).as_secs_f64() * 1e3);
            }
        }
        let med = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        cx.emit("unet forward (inference)", Some(fwd), None);
        cx.emit("unet train: forward (autodiff)", Some(med(tf)), None);
        cx.emit("unet train: backward", Some(med(tb)), None);
        cx.emit("unet train: adam step", Some(med(to)), None);
    }
    Ok(())
}
