//! Training on remote devices, against gen-serve processes started here on
//! 127.0.0.1 (ports the system picks, killed at the end): the same losses
//! as local flex, data parallelism over two servers equal to one device on
//! the whole batch (for every family), and typed errors for a wrong token, a server that is
//! not there and a server killed mid-run (whose run then resumes).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use burn::tensor::Device;
use gen_core::remote::{self, RemoteError};
use gen_core::rng::with_seed;
use gen_core::{
    CheckpointStore, Error as CoreError, Progress, SeededRng, TrainStep, Trainer, TrainerConfig,
    ValueRange,
};
use gen_data::{Digits, Loader};
use gen_gan::{GanTrainer, GanTrainingConfig, MlpGanConfig};
use gen_vae::{MlpVaeConfig, VaeTrainer, VaeTrainingConfig};

const TOKEN: &str = "a test token";

/// A gen-serve process on 127.0.0.1, killed when dropped.
struct Server {
    child: Child,
    name: String,
}

impl Server {
    fn start(token: Option<&str>) -> Self {
        Self::with_args(
            token,
            &["--listen", "127.0.0.1:0"],
            "remote:ws://127.0.0.1:",
        )
    }

    /// An Iroh server without relays, dialled at a direct UDP port.
    fn iroh(token: Option<&str>) -> Self {
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
            .to_string();
        let args = [
            "--iroh",
            "--no-relays",
            "--iroh-port",
            &port,
            "--listen",
            "127.0.0.1:0",
        ];
        Self::with_args(token, &args, "remote:iroh:")
    }

    fn with_args(token: Option<&str>, args: &[&str], prefix: &str) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gen-serve"));
        cmd.args(args)
            .args(["--threads", "1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .env_remove(remote::TOKEN_ENV);
        match token {
            Some(t) => cmd.env(remote::TOKEN_ENV, t),
            None => cmd.arg("--allow-anyone"),
        };
        let mut child = cmd.spawn().expect("gen-serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("gen-serve prints its device name");
        assert!(line.starts_with(prefix), "{line}");
        Self {
            child,
            name: line.trim().to_string(),
        }
    }

    fn device(&self) -> Device {
        remote::connect(&self.name, Some(TOKEN)).expect("the server accepts the token")
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn quiet(steps: u64, every: u64, dir: &Path) -> Trainer {
    Trainer::new(
        TrainerConfig::new()
            .with_steps(steps)
            .with_checkpoint_every(every)
            .with_log_every(1),
        dir,
    )
    .unwrap()
    .progress(Progress::Hidden)
}

/// Every metric of every step, from a run's metrics.jsonl.
fn metrics(dir: &Path, name: &str) -> Vec<f64> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()[name]
                .as_f64()
                .unwrap()
        })
        .collect()
}

fn close(what: &str, a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len(), "{what}");
    let worst = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / (1.0 + x.abs()))
        .fold(0.0, f64::max);
    eprintln!("{what}: {} steps, largest difference {worst:.2e}", a.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + x.abs()),
            "{what}, step {i}: {x} vs {y}"
        );
    }
}

fn quickstart_gan(device: &Device) -> GanTrainer<gen_gan::MlpGenerator, gen_gan::MlpDiscriminator> {
    let local = Device::flex();
    let cfg = MlpGanConfig::new(64)
        .with_latent_dim(16)
        .with_generator_hidden(vec![64])
        .with_discriminator_hidden(vec![64]);
    let (g, d) = with_seed(1, &local, || {
        (
            cfg.init_generator(&local).unwrap(),
            cfg.init_discriminator(&local).unwrap(),
        )
    });
    GanTrainer::new(g, d, GanTrainingConfig::new(), device).unwrap()
}

fn digits(batch: usize) -> Loader {
    Loader::new(Digits::embedded().unwrap().to_dataset(), batch, 3).unwrap()
}

/// Trains `steps` steps of the quickstart's GAN on `devices` into `dir`.
fn train_gan(devices: &[Device], steps: u64, dir: &Path) {
    let mut gan = quickstart_gan(&devices[0]);
    gan.replicate(devices).unwrap();
    quiet(steps, 0, dir)
        .fit(&mut gan, &mut digits(32), &mut SeededRng::new(4))
        .unwrap();
}

fn train_vae(devices: &[Device], steps: u64, dir: &Path) {
    vae_run(devices, steps, dir, false);
}

#[test]
fn a_remote_flex_device_trains_as_local_flex_does() {
    let server = Server::start(Some(TOKEN));
    let tmp = tempfile::tempdir().unwrap();
    let (here, there) = (tmp.path().join("local"), tmp.path().join("remote"));
    train_gan(&[Device::flex()], 6, &here);
    train_gan(&[server.device()], 6, &there);
    for name in ["loss_d", "loss_g", "d_real", "d_fake"] {
        close(name, &metrics(&here, name), &metrics(&there, name), 1e-5);
    }
}

#[test]
fn an_iroh_server_trains_as_local_flex_does() {
    let server = Server::iroh(Some(TOKEN));
    assert!(server.name.contains("@127.0.0.1:"), "{}", server.name);
    let tmp = tempfile::tempdir().unwrap();
    let (here, there) = (tmp.path().join("local"), tmp.path().join("iroh"));
    train_gan(&[Device::flex()], 3, &here);
    train_gan(&[server.device()], 3, &there);
    close(
        "loss_g",
        &metrics(&here, "loss_g"),
        &metrics(&there, "loss_g"),
        1e-5,
    );
    let err = remote::connect(&server.name, Some("wrong")).unwrap_err();
    assert!(
        matches!(err, CoreError::Remote(RemoteError::Unauthorized { .. })),
        "{err}"
    );
}

#[test]
fn data_parallel_over_two_servers_is_one_device_on_the_whole_batch() {
    let (a, b) = (Server::start(Some(TOKEN)), Server::start(Some(TOKEN)));
    let two = [a.device(), b.device()];
    let tmp = tempfile::tempdir().unwrap();
    let dir = |s: &str| tmp.path().join(s);
    train_vae(&[Device::flex()], 5, &dir("vae1"));
    train_vae(&two, 5, &dir("vae2"));
    for name in ["loss", "recon", "kl"] {
        close(
            name,
            &metrics(&dir("vae1"), name),
            &metrics(&dir("vae2"), name),
            1e-4,
        );
    }
    train_gan(&[Device::flex()], 5, &dir("gan1"));
    train_gan(&two, 5, &dir("gan2"));
    for name in ["loss_d", "loss_g"] {
        close(
            name,
            &metrics(&dir("gan1"), name),
            &metrics(&dir("gan2"), name),
            1e-4,
        );
    }
    // The second server does half of every step: without it, no step.
    let mut b = b;
    b.kill();
    let mut gan = quickstart_gan(&two[0]);
    gan.replicate(&two).unwrap();
    let err = quiet(5, 0, &dir("gan3"))
        .fit(&mut gan, &mut digits(32), &mut SeededRng::new(4))
        .unwrap_err();
    assert!(
        matches!(err, CoreError::Remote(RemoteError::Lost { .. })),
        "{err}"
    );
}

fn train_gpt(devices: &[Device], steps: u64, dir: &Path) {
    use gen_ar::{GptConfig, GptTrainer, GptTrainingConfig, Tokenizer};
    use gen_data::text::{TokenStream, TokenWindows, sonnets};
    let text = sonnets().text;
    let tokenizer = Tokenizer::chars_of(&text);
    let vocab = tokenizer.vocab_size();
    let stream = TokenStream::new("sonnets", tokenizer.encode(&text).unwrap(), vocab).unwrap();
    let local = Device::flex();
    let model = with_seed(3, &local, || {
        GptConfig::new(vocab)
            .with_block_size(16)
            .with_n_layer(1)
            .with_n_head(2)
            .with_n_embd(32)
            .init(&local)
            .unwrap()
    });
    let config = GptTrainingConfig::nanogpt(steps);
    let mut gpt = GptTrainer::new(model, tokenizer, config, &devices[0]).unwrap();
    gpt.replicate(devices).unwrap();
    quiet(steps, 0, dir)
        .fit(
            &mut gpt,
            &mut TokenWindows::new(stream, 16, 6, 0).unwrap(),
            &mut SeededRng::new(0),
        )
        .unwrap();
}

fn train_diffusion(devices: &[Device], steps: u64, dir: &Path) {
    use gen_diffusion::{DiffusionTrainer, DiffusionTrainingConfig, MlpDenoiserConfig};
    let local = Device::flex();
    let model = with_seed(4, &local, || {
        MlpDenoiserConfig::new(64)
            .with_hidden(64)
            .with_depth(2)
            .with_num_classes(Some(10))
            .init(&local)
            .unwrap()
    });
    let config = DiffusionTrainingConfig::new().with_p_uncond(0.2);
    let mut model = DiffusionTrainer::new(model, config, &devices[0]).unwrap();
    model.replicate(devices).unwrap();
    quiet(steps, 0, dir)
        .fit(&mut model, &mut digits(25), &mut SeededRng::new(8))
        .unwrap();
}

#[test]
fn data_parallel_gpt_and_diffusion_over_two_servers() {
    let (a, b) = (Server::start(Some(TOKEN)), Server::start(Some(TOKEN)));
    let two = [a.device(), b.device()];
    let tmp = tempfile::tempdir().unwrap();
    let dir = |s: &str| tmp.path().join(s);
    // The GPT's loss draws nothing: one device on the whole batch.
    train_gpt(&[Device::flex()], 4, &dir("gpt1"));
    train_gpt(&two, 4, &dir("gpt2"));
    close(
        "gpt loss",
        &metrics(&dir("gpt1"), "loss"),
        &metrics(&dir("gpt2"), "loss"),
        1e-4,
    );
    // Diffusion draws timesteps, then noise, per shard: the same shards on
    // one local device draw the same numbers.
    let flex = Device::flex();
    train_diffusion(&[flex.clone(), flex], 4, &dir("dm1"));
    train_diffusion(&two, 4, &dir("dm2"));
    for name in ["loss", "mse"] {
        close(
            name,
            &metrics(&dir("dm1"), name),
            &metrics(&dir("dm2"), name),
            1e-4,
        );
    }
}

/// The VAE of `train_vae`, trained to `steps` on `devices` in `dir`,
/// checkpointing every 3 steps, resuming if asked; its final metrics.
fn vae_run(devices: &[Device], steps: u64, dir: &Path, resume: bool) -> Vec<f64> {
    let local = Device::flex();
    let model = with_seed(2, &local, || {
        MlpVaeConfig::new(64)
            .with_latent_dim(4)
            .with_hidden(vec![32])
            .init(&local)
            .unwrap()
    });
    let mut vae = VaeTrainer::new(model, VaeTrainingConfig::new(), &devices[0]).unwrap();
    vae.replicate(devices).unwrap();
    let data = Digits::embedded()
        .unwrap()
        .to_dataset_in(ValueRange::ZeroToOne);
    quiet(steps, 3, dir)
        .resume(resume)
        .fit(
            &mut vae,
            &mut Loader::new(data, 30, 5).unwrap(),
            &mut SeededRng::new(6),
        )
        .unwrap();
    metrics(dir, "loss")
}

#[test]
fn data_parallel_runs_repeat_and_resume_bit_for_bit() {
    let (a, b) = (Server::start(Some(TOKEN)), Server::start(Some(TOKEN)));
    let two = [a.device(), b.device()];
    let tmp = tempfile::tempdir().unwrap();
    let dir = |s: &str| tmp.path().join(s);
    let first = vae_run(&two, 6, &dir("first"), false);
    let again = vae_run(&two, 6, &dir("again"), false);
    assert_eq!(first, again);
    // 3 steps and a checkpoint, then a resume to 6: the same 6 losses.
    vae_run(&two, 3, &dir("cut"), false);
    let resumed = vae_run(&two, 6, &dir("cut"), true);
    assert_eq!(resumed, first);
}

#[test]
fn a_wrong_token_or_no_server_is_a_typed_error() {
    let server = Server::start(Some(TOKEN));
    for token in [Some("not the token"), None] {
        let err = remote::connect(&server.name, token).unwrap_err();
        assert!(
            matches!(err, CoreError::Remote(RemoteError::Unauthorized { .. })),
            "{err}"
        );
        assert!(err.to_string().contains(remote::TOKEN_ENV), "{err}");
    }
    let err = remote::connect(&format!("{}#3", server.name), Some(TOKEN)).unwrap_err();
    assert!(
        matches!(
            err,
            CoreError::Remote(RemoteError::NoSuchDevice {
                index: 3,
                count: 1,
                ..
            })
        ),
        "{err}"
    );
    // A port nobody listens on (taken from the system, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = remote::connect(&format!("remote:ws://127.0.0.1:{port}"), None).unwrap_err();
    assert!(
        matches!(err, CoreError::Remote(RemoteError::Unreachable { .. })),
        "{err}"
    );
}

#[test]
fn a_server_killed_mid_run_is_a_typed_error_and_the_run_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let mut server = Server::start(Some(TOKEN));
    let device = server.device();
    let watched = out.clone();
    // Kill the server once the first checkpoint is on disk.
    let killer = std::thread::spawn(move || {
        let store = CheckpointStore::new(watched.join("checkpoints"), 2);
        for _ in 0..6000 {
            if store.latest().ok().flatten().is_some() {
                server.kill();
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        false
    });
    let mut gan = quickstart_gan(&device);
    let err = quiet(100_000, 20, &out)
        .fit(&mut gan, &mut digits(32), &mut SeededRng::new(4))
        .unwrap_err();
    assert!(killer.join().unwrap(), "no checkpoint was written");
    assert!(
        matches!(err, CoreError::Remote(RemoteError::Lost { .. })),
        "{err}"
    );
    let store = CheckpointStore::new(out.join("checkpoints"), 2);
    let (newest, dir) = store.latest().unwrap().expect("the checkpoint survives");
    assert!(
        newest >= 20 && newest % 20 == 0,
        "{newest} at {}",
        dir.display()
    );
    CheckpointStore::open(&dir).expect("and reads back whole");

    // A new server (a new port), and the run goes on from that checkpoint.
    let again = Server::start(Some(TOKEN));
    let mut gan = quickstart_gan(&again.device());
    let outcome = quiet(newest + 3, 20, &out)
        .resume(true)
        .fit(&mut gan, &mut digits(32), &mut SeededRng::new(4))
        .unwrap();
    assert_eq!(outcome.start_step, newest);
    assert_eq!(outcome.final_step, newest + 3);
}

#[test]
fn a_server_without_a_token_refuses_to_start_unless_told() {
    let out = Command::new(env!("CARGO_BIN_EXE_gen-serve"))
        .args(["--listen", "127.0.0.1:0"])
        .env_remove(remote::TOKEN_ENV)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(remote::TOKEN_ENV) && stderr.contains("--allow-anyone"),
        "{stderr}"
    );
    // --allow-anyone: a client without a token is served.
    let open = Server::start(None);
    let device = remote::connect(&open.name, None).unwrap();
    let x = burn::tensor::Tensor::<1>::from_floats([1.0, 2.0], &device) * 3.0;
    assert_eq!(x.into_data().try_to_vec::<f32>().unwrap(), [3.0, 6.0]);
}
