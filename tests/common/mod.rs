//! Helpers shared by the integration tests: one tiny GAN setup, used
//! identically on every backend.
#![allow(dead_code)] // each test file uses its own subset

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use generative::core::{Progress, SeededRng, Trainer, TrainerConfig, rng::with_seed};
use generative::data::{Loader, Toy2d};
use generative::gan::{
    GanTrainer, GanTrainingConfig, MlpDiscriminator, MlpGanConfig, MlpGenerator,
};

pub type Gan = GanTrainer<MlpGenerator, MlpDiscriminator>;

/// A small MLP GAN for 2-D data (linear output).
pub fn toy_config() -> MlpGanConfig {
    MlpGanConfig::new(2)
        .with_latent_dim(8)
        .with_generator_hidden(vec![64, 64])
        .with_discriminator_hidden(vec![64, 64])
        .with_tanh_output(false)
}

/// The GAN on `device`, its parameters initialised on flex from `seed` and
/// moved there, so every backend starts from the same weights.
pub fn toy_gan(seed: u64, device: &Device, training: GanTrainingConfig) -> Gan {
    toy_gan_with(toy_config(), seed, device, training)
}

/// As [`toy_gan`], with another MLP shape (conditional, spectral norm...).
pub fn toy_gan_with(
    cfg: MlpGanConfig,
    seed: u64,
    device: &Device,
    training: GanTrainingConfig,
) -> Gan {
    let flex = Device::flex();
    let (g, d) = with_seed(seed, &flex, || {
        (
            cfg.init_generator(&flex).unwrap(),
            cfg.init_discriminator(&flex).unwrap(),
        )
    });
    GanTrainer::new(g.to_device(device), d.to_device(device), training, device).unwrap()
}

/// A seeded loader over `n` points of a toy distribution.
pub fn toy_loader(toy: Toy2d, n: usize, batch: usize, seed: u64) -> Loader {
    let data = toy.dataset(n, &mut SeededRng::new(seed));
    Loader::new(data, batch, seed).unwrap()
}

/// A quiet trainer for `steps` steps into `dir`.
pub fn trainer(steps: u64, checkpoint_every: u64, dir: &std::path::Path) -> Trainer {
    Trainer::new(
        TrainerConfig::new()
            .with_steps(steps)
            .with_checkpoint_every(checkpoint_every),
        dir,
    )
    .unwrap()
    .progress(Progress::Hidden)
}

/// Every parameter of a module, flattened, in the module's visiting order
/// (its field order, the same for every instance of one type).
pub fn params<M: Module>(m: &M) -> Vec<f32> {
    let mut out = Vec::new();
    m.visit(&mut Collect(&mut out));
    out
}

struct Collect<'a>(&'a mut Vec<f32>);

impl burn::module::ModuleVisitor for Collect<'_> {
    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
        let v = param
            .val()
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap();
        self.0.extend(v);
    }
}

/// The largest absolute difference between two equally long vectors.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// The binary of example `name`, built by `cargo test` before the tests
/// (`target/<profile>/deps/<test>` -> `target/<profile>/examples/<name>`).
pub fn example_binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(std::path::Path::parent).unwrap();
    let bin = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} not built: run `cargo test` (it builds the examples)",
        bin.display()
    );
    bin
}

/// Runs example `name` with `args` (no `$GEN_DEVICE`: its flags decide).
pub fn run_example(name: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(example_binary(name))
        .args(args)
        .env_remove("GEN_DEVICE")
        .output()
        .unwrap()
}
