//! Adversarial training: two models, two Adam optimizers, `n_critic`
//! discriminator updates per generator update.
//!
//! One [`TrainStep::step`] is, for each of the `n_critic` batches of real
//! data: draw z, generate a batch, update D on real vs generated (the
//! generated batch detached); then update G through the updated D, reusing
//! the last generated batch (as PyTorch's DCGAN example does).

use burn::config::Config;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor};
use gen_core::error::{ensure_nonzero, ensure_positive};
use gen_core::{
    Batch, Error as CoreError, Metrics, SeededRng, StateReader, StateWriter, Stateful, TrainStep,
};

use crate::error::Result;
use crate::loss::GanLoss;
use crate::{Discriminator, Generator};

/// Optimisation settings of a GAN.
#[derive(Config, Debug, PartialEq)]
pub struct GanTrainingConfig {
    /// Generator learning rate, > 0.
    #[config(default = 2e-4)]
    pub lr_generator: f64,
    /// Discriminator learning rate, > 0.
    #[config(default = 2e-4)]
    pub lr_discriminator: f64,
    /// Adam's beta1, in `[0, 1)`; 0.5 is the GAN default (Radford et al., 2016).
    #[config(default = 0.5)]
    pub beta1: f64,
    /// Adam's beta2, in `[0, 1)`.
    #[config(default = 0.999)]
    pub beta2: f64,
    /// Discriminator updates per generator update, >= 1.
    #[config(default = 1)]
    pub n_critic: usize,
    /// The objective.
    #[config(default = "GanLoss::NonSaturating")]
    pub loss: GanLoss,
}

impl GanTrainingConfig {
    /// Checks the ranges documented on each field.
    ///
    /// # Errors
    /// [`gen_core::Error::InvalidConfig`] naming the first wrong field.
    pub fn validate(&self) -> Result<()> {
        ensure_positive("lr_generator", self.lr_generator)?;
        ensure_positive("lr_discriminator", self.lr_discriminator)?;
        for (field, beta) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&beta) {
                return Err(
                    CoreError::config(field, format!("must be in [0, 1), found {beta}")).into(),
                );
            }
        }
        ensure_nonzero("n_critic", self.n_critic)?;
        Ok(())
    }

    fn adam(&self) -> ModuleOptimizer {
        AdamConfig::new()
            .with_beta_1(self.beta1 as f32)
            .with_beta_2(self.beta2 as f32)
            .init()
    }
}

/// A generator and a discriminator with their optimizers, ready to train.
#[derive(Clone)]
pub struct GanTrainer<G: Generator, D: Discriminator> {
    generator: G,
    discriminator: D,
    opt_generator: ModuleOptimizer,
    opt_discriminator: ModuleOptimizer,
    config: GanTrainingConfig,
    device: Device,
}

impl<G: Generator, D: Discriminator> std::fmt::Debug for GanTrainer<G, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GanTrainer")
            .field("config", &self.config)
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

impl<G: Generator, D: Discriminator> GanTrainer<G, D> {
    /// Forks both models onto the autodiff version of `device` (their
    /// weights are copied, and the copies are trainable there) and creates
    /// their optimizers.
    ///
    /// # Errors
    /// [`gen_core::Error::InvalidConfig`] for an invalid config.
    pub fn new(
        generator: G,
        discriminator: D,
        config: GanTrainingConfig,
        device: &Device,
    ) -> Result<Self> {
        config.validate()?;
        let device = device.clone().autodiff();
        Ok(Self {
            generator: generator.fork(&device).train(),
            discriminator: discriminator.fork(&device).train(),
            opt_generator: config.adam(),
            opt_discriminator: config.adam(),
            config,
            device,
        })
    }

    /// The generator (on the autodiff device; [`gen_core::Sample`] moves it
    /// to the device asked for).
    pub fn generator(&self) -> &G {
        &self.generator
    }

    /// The discriminator.
    pub fn discriminator(&self) -> &D {
        &self.discriminator
    }

    /// The optimisation settings.
    pub fn config(&self) -> &GanTrainingConfig {
        &self.config
    }

    /// Takes the trained models.
    pub fn into_models(self) -> (G, D) {
        (self.generator, self.discriminator)
    }
}

fn host(t: Tensor<1>) -> f64 {
    t.into_scalar::<f64>()
}

impl<G: Generator, D: Discriminator> TrainStep for GanTrainer<G, D> {
    fn batches_per_step(&self) -> usize {
        self.config.n_critic
    }

    fn device(&self) -> Device {
        self.device.clone()
    }

    fn step(&mut self, batches: Vec<Batch>, rng: &mut SeededRng) -> gen_core::Result<Metrics> {
        if batches.len() != self.config.n_critic {
            return Err(CoreError::Unsupported(format!(
                "a GAN step takes n_critic = {} batches, got {}",
                self.config.n_critic,
                batches.len()
            )));
        }
        let loss = self.config.loss;
        let latent = self.generator.latent_dim();
        let mut last_fake = None;
        let (mut loss_d, mut d_real, mut d_fake) = (0.0, 0.0, 0.0);
        for batch in batches {
            let real = batch.data;
            let n = real.dims()[0];
            let z = rng.normal([n, latent], &self.device);
            let fake = self.generator.generate(z);
            let real_logits = self.discriminator.logits(real);
            let fake_logits = self.discriminator.logits(fake.clone().detach());
            d_real = host(sigmoid(real_logits.clone()).mean());
            d_fake = host(sigmoid(fake_logits.clone()).mean());
            let objective = loss.discriminator(real_logits, fake_logits);
            loss_d = host(objective.clone());
            let grads = GradientsParams::from_grads(objective.backward(), &self.discriminator);
            self.discriminator = self.opt_discriminator.step(
                self.config.lr_discriminator,
                self.discriminator.clone(),
                grads,
            );
            last_fake = Some(fake);
        }
        let fake = last_fake.expect("n_critic >= 1");
        let objective = loss.generator(self.discriminator.logits(fake));
        let loss_g = host(objective.clone());
        let grads = GradientsParams::from_grads(objective.backward(), &self.generator);
        self.generator =
            self.opt_generator
                .step(self.config.lr_generator, self.generator.clone(), grads);
        Ok(Metrics::new()
            .with("loss_d", loss_d)
            .with("loss_g", loss_g)
            .with("d_real", d_real)
            .with("d_fake", d_fake))
    }
}

impl<G: Generator, D: Discriminator> Stateful for GanTrainer<G, D> {
    fn save_state(&self, out: &mut StateWriter) -> gen_core::Result<()> {
        out.module("generator", &self.generator)?;
        out.module("discriminator", &self.discriminator)?;
        out.optimizer("opt_generator", &self.opt_generator)?;
        out.optimizer("opt_discriminator", &self.opt_discriminator)
    }

    fn load_state(&mut self, input: &StateReader) -> gen_core::Result<()> {
        // Load everything first, so a damaged part leaves `self` unchanged.
        let generator = input.module("generator", self.generator.clone())?;
        let discriminator = input.module("discriminator", self.discriminator.clone())?;
        let opt_generator = input.optimizer("opt_generator", self.opt_generator.clone())?;
        let opt_discriminator =
            input.optimizer("opt_discriminator", self.opt_discriminator.clone())?;
        self.generator = generator;
        self.discriminator = discriminator;
        self.opt_generator = opt_generator;
        self.opt_discriminator = opt_discriminator;
        Ok(())
    }
}
