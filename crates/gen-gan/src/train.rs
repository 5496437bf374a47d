//! Adversarial training: two models, two Adam optimizers, `n_critic`
//! discriminator updates per generator update.
//!
//! One [`TrainStep::step`] is, for each of the `n_critic` batches of real
//! data: draw z, generate a batch, update D on real vs generated (the
//! generated batch detached), with the finite-difference gradient penalty
//! added to D's loss when configured and D's weights clipped to
//! `[-clip, clip]` after its update when configured (WGAN, Arjovsky et al.,
//! 2017, Algorithm 1); then update G through the updated D, reusing the last
//! generated batch (as PyTorch's DCGAN example does); then, when
//! configured, move the exponential moving average of G's weights.
//!
//! A conditional pair (the generator's [`Generator::num_classes`] is
//! `Some(k)`) takes the labels of each batch: G generates for the batch's
//! labels, and D judges real and generated samples under them. Unlabelled
//! batches or labels outside `0..k` are typed errors.

use burn::config::Config;
use burn::module::{Module, ModuleMapper, Param};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor};
use gen_core::error::{ensure_nonzero, ensure_positive, ensure_unit_interval};
use gen_core::{
    Batch, Error as CoreError, Metrics, SeededRng, StateReader, StateWriter, Stateful, TrainStep,
};

use crate::conditional::checked_labels;
use crate::ema;
use crate::error::Result;
use crate::loss::GanLoss;
use crate::penalty::{GradientPenaltyConfig, gradient_penalty};
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
    /// Clip every trainable weight of D to `[-clip, clip]` after each of
    /// its updates (WGAN; 0.01 in the paper); `Some(c)` needs `c > 0`.
    #[config(default = "None")]
    pub clip: Option<f64>,
    /// Add the finite-difference gradient penalty to D's loss.
    #[config(default = "None")]
    pub gradient_penalty: Option<GradientPenaltyConfig>,
    /// Keep an exponential moving average of G's weights with this decay
    /// (e.g. 0.999), in `(0, 1)`; it is what [`GanTrainer::sampler`]
    /// returns, and it is saved in checkpoints. The decay of update `t`
    /// (from 0) is `min(decay, (1 + t) / (10 + t))`, so that early on the
    /// average forgets the random initialisation quickly (TensorFlow's
    /// `ExponentialMovingAverage` with `num_updates`).
    #[config(default = "None")]
    pub ema_decay: Option<f64>,
}

impl GanTrainingConfig {
    /// Checks the ranges documented on each field.
    ///
    /// # Errors
    /// [`gen_core::Error::InvalidConfig`] naming the first wrong field.
    pub fn validate(&self) -> Result<()> {
        ensure_positive("lr_generator", self.lr_generator)?;
        ensure_positive("lr_discriminator", self.lr_discriminator)?;
        ensure_unit_interval("beta1", self.beta1)?;
        ensure_unit_interval("beta2", self.beta2)?;
        ensure_nonzero("n_critic", self.n_critic)?;
        if let Some(c) = self.clip {
            ensure_positive("clip", c)?;
        }
        if let Some(gp) = &self.gradient_penalty {
            gp.validate()?;
        }
        if let Some(decay) = self.ema_decay
            && !(decay > 0.0 && decay < 1.0)
        {
            return Err(CoreError::config(
                "ema_decay",
                format!("must be in (0, 1), found {decay}"),
            )
            .into());
        }
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
    /// The moving average of G's weights (without autodiff), when enabled.
    ema: Option<G>,
    /// EMA updates done so far (for the warm-up of the decay).
    ema_updates: u64,
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
        if generator.num_classes() != discriminator.num_classes() {
            return Err(CoreError::config(
                "num_classes",
                format!(
                    "the generator is conditional on {:?} classes, the discriminator on {:?}",
                    generator.num_classes(),
                    discriminator.num_classes()
                ),
            )
            .into());
        }
        let device = device.clone().autodiff();
        let generator = generator.fork(&device).train();
        Ok(Self {
            ema: config.ema_decay.map(|_| ema::init(&generator)),
            ema_updates: 0,
            generator,
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

    /// The generator to sample from: the moving average of its weights
    /// when `ema_decay` is set, else the generator itself.
    pub fn sampler(&self) -> &G {
        self.ema.as_ref().unwrap_or(&self.generator)
    }

    /// The moving average of the generator's weights, when enabled.
    pub fn ema(&self) -> Option<&G> {
        self.ema.as_ref()
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

/// Clamps every trainable float parameter to `[-c, c]` (buffers such as
/// running statistics and spectral-norm vectors are not trainable and are
/// left alone).
struct Clip(f64);

impl ModuleMapper for Clip {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let c = self.0;
        param.map(|t| {
            if t.is_require_grad() {
                Tensor::from_inner(t.inner().clamp(-c, c)).require_grad()
            } else {
                t
            }
        })
    }
}

/// WGAN's weight clipping: every trainable parameter of `module` clamped to
/// `[-clip, clip]`.
pub fn clip_weights<M: Module>(module: M, clip: f64) -> M {
    module.map(&mut Clip(clip))
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
        let classes = self.generator.num_classes();
        let mut last = None;
        let (mut loss_d, mut d_real, mut d_fake, mut penalty) = (0.0, 0.0, 0.0, 0.0);
        let score = |t: Tensor<2>| {
            if loss.is_probabilistic() {
                host(sigmoid(t).mean())
            } else {
                host(t.mean())
            }
        };
        for batch in batches {
            let real = batch.data;
            let n = real.dims()[0];
            let labels = match classes {
                Some(k) => {
                    let labels = batch.labels.ok_or_else(|| {
                        CoreError::Unsupported(format!(
                            "this GAN is conditional on {k} classes: its batches need labels"
                        ))
                    })?;
                    checked_labels(&labels, k)?;
                    Some(labels)
                }
                None => None,
            };
            let z = rng.normal([n, latent], &self.device);
            let fake = self.generator.generate(z, labels.clone());
            let real_logits = self.discriminator.logits(real.clone(), labels.clone());
            let fake_logits = self
                .discriminator
                .logits(fake.clone().detach(), labels.clone());
            d_real = score(real_logits.clone());
            d_fake = score(fake_logits.clone());
            let mut objective = loss.discriminator(real_logits, fake_logits);
            if let Some(gp) = &self.config.gradient_penalty {
                let p = gradient_penalty(
                    &self.discriminator,
                    real,
                    fake.clone(),
                    labels.clone(),
                    gp,
                    rng,
                );
                penalty = host(p.clone());
                objective = objective + p * gp.weight;
            }
            loss_d = host(objective.clone());
            let grads = GradientsParams::from_grads(objective.backward(), &self.discriminator);
            self.discriminator = self.opt_discriminator.step(
                self.config.lr_discriminator,
                self.discriminator.clone(),
                grads,
            );
            if let Some(c) = self.config.clip {
                self.discriminator = clip_weights(self.discriminator.clone(), c);
            }
            last = Some((fake, labels));
        }
        let Some((fake, labels)) = last else {
            return Err(CoreError::Unsupported("a GAN step needs a batch".into()));
        };
        let objective = loss.generator(self.discriminator.logits(fake, labels));
        let loss_g = host(objective.clone());
        let grads = GradientsParams::from_grads(objective.backward(), &self.generator);
        self.generator =
            self.opt_generator
                .step(self.config.lr_generator, self.generator.clone(), grads);
        if let (Some(avg), Some(decay)) = (self.ema.take(), self.config.ema_decay) {
            let t = self.ema_updates as f64;
            let decay = decay.min((1.0 + t) / (10.0 + t));
            self.ema = Some(ema::update(avg, &self.generator, decay));
            self.ema_updates += 1;
        }
        let mut metrics = Metrics::new()
            .with("loss_d", loss_d)
            .with("loss_g", loss_g)
            .with("d_real", d_real)
            .with("d_fake", d_fake);
        if self.config.gradient_penalty.is_some() {
            metrics.push("penalty", penalty);
        }
        Ok(metrics)
    }
}

impl<G: Generator, D: Discriminator> Stateful for GanTrainer<G, D> {
    fn save_state(&self, out: &mut StateWriter) -> gen_core::Result<()> {
        // burn's running states (BatchNorm statistics, spectral-norm
        // vectors) apply their last update lazily, at the next read; saving
        // reads them without doing so. `valid()` applies pending updates to
        // the shared state, so the checkpoint holds the newest values.
        let _ = self.generator.valid();
        let _ = self.discriminator.valid();
        out.module("generator", &self.generator)?;
        out.module("discriminator", &self.discriminator)?;
        if let Some(avg) = &self.ema {
            out.module("generator_ema", avg)?;
            out.json("ema_updates", &self.ema_updates)?;
        }
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
        let (ema, ema_updates) = match &self.ema {
            Some(avg) => (
                Some(input.module("generator_ema", avg.clone())?),
                input.json::<u64>("ema_updates")?,
            ),
            None => (None, 0),
        };
        self.ema = ema;
        self.ema_updates = ema_updates;
        self.generator = generator;
        self.discriminator = discriminator;
        self.opt_generator = opt_generator;
        self.opt_discriminator = opt_discriminator;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MlpGanConfig;

    #[test]
    fn invalid_configs_are_typed_errors() {
        let cases = [
            (GanTrainingConfig::new().with_n_critic(0), "n_critic"),
            (GanTrainingConfig::new().with_clip(Some(0.0)), "clip"),
            (GanTrainingConfig::new().with_clip(Some(-0.01)), "clip"),
            (
                GanTrainingConfig::new().with_ema_decay(Some(1.0)),
                "ema_decay",
            ),
            (GanTrainingConfig::new().with_beta1(1.0), "beta1"),
            (
                GanTrainingConfig::new()
                    .with_gradient_penalty(Some(GradientPenaltyConfig::new().with_step(0.0))),
                "gradient_penalty.step",
            ),
        ];
        for (cfg, field) in cases {
            match cfg.validate() {
                Err(crate::Error::Core(CoreError::InvalidConfig { field: f, .. })) => {
                    assert_eq!(f, field)
                }
                other => panic!("{field}: {other:?}"),
            }
        }
    }

    #[test]
    fn conditional_pairs_need_labels_in_range() {
        let dev = Device::flex();
        let cfg = MlpGanConfig::new(2)
            .with_latent_dim(2)
            .with_generator_hidden(vec![4])
            .with_discriminator_hidden(vec![4])
            .with_num_classes(Some(3));
        let (g, d) = (
            cfg.init_generator(&dev).unwrap(),
            cfg.init_discriminator(&dev).unwrap(),
        );
        // G conditional, D not: refused.
        let plain = cfg
            .clone()
            .with_num_classes(None)
            .init_discriminator(&dev)
            .unwrap();
        assert!(GanTrainer::new(g.clone(), plain, GanTrainingConfig::new(), &dev).is_err());
        let mut gan = GanTrainer::new(g, d, GanTrainingConfig::new(), &dev).unwrap();
        let mut rng = SeededRng::new(0);
        let ad = gan.device();
        let x = rng.normal([3, 2], &ad);
        let err = gan.step(vec![Batch::new(x.clone())], &mut rng).unwrap_err();
        assert!(matches!(err, CoreError::Unsupported(_)), "{err}");
        let bad = crate::conditional::labels_tensor(&[0, 1, 3], &ad);
        let err = gan
            .step(vec![Batch::new(x.clone()).with_labels(bad)], &mut rng)
            .unwrap_err();
        assert!(
            matches!(
                err,
                CoreError::InvalidConfig {
                    field: "labels",
                    ..
                }
            ),
            "{err}"
        );
        let good = crate::conditional::labels_tensor(&[0, 1, 2], &ad);
        let m = gan
            .step(vec![Batch::new(x).with_labels(good)], &mut rng)
            .unwrap();
        assert!(m.get("loss_g").unwrap().is_finite());
    }
}
