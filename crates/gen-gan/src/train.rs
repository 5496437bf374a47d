//! Adversarial training: two modules, each with gen-core's shared
//! optimisation layer ([`Optimized`]: burn's Adam, schedule, clipping, a
//! moving average, the non-finite guard), `n_critic` discriminator updates
//! per generator update.
//!
//! One [`TrainStep::step`] is, for each of the `n_critic` batches of real
//! data: draw z, generate a batch, update D on real vs generated (the
//! generated batch detached), with the finite-difference gradient penalty
//! added to D's loss when configured and D's weights clipped to
//! `[-clip, clip]` after its update when configured (WGAN, Arjovsky et al.,
//! 2017, Algorithm 1); then update G through the updated D, reusing the last
//! generated batch (as PyTorch's DCGAN example does). G's optimizer moves
//! its moving average when its config keeps one. If any of the step's
//! losses is not finite, both modules are put back as they were before the
//! step ([`gen_core::optim::settle`]).
//!
//! A conditional pair (the generator's [`Sample::num_classes`](gen_core::Sample::num_classes) is
//! `Some(k)`) takes the labels of each batch: G generates for the batch's
//! labels, and D judges real and generated samples under them. Unlabelled
//! batches or labels outside `0..k` are typed errors
//! ([`gen_core::labels::LabelError`]).

use burn::config::Config;
use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Int, Tensor};
use gen_core::card::MODEL_CARD;
use gen_core::error::{ensure_nonzero, ensure_positive};
use gen_core::optim::{self, Diverged, Guarded, OptimConfig, Optimized, Parts, Share};
use gen_core::{
    Batch, Error as CoreError, Metrics, SeededRng, StateReader, StateWriter, Stateful, TrainStep,
    labels,
};

use crate::error::Result;
use crate::loss::GanLoss;
use crate::penalty::{GradientPenaltyConfig, gradient_penalty};
use crate::{Discriminator, Generator};

/// The checkpoint parts of the generator.
pub const GENERATOR: Parts = Parts {
    model: "generator",
    optimizer: "opt_generator",
    ema: "generator_ema",
    progress: "generator_progress",
};

/// The checkpoint parts of the discriminator.
pub const DISCRIMINATOR: Parts = Parts {
    model: "discriminator",
    optimizer: "opt_discriminator",
    ema: "discriminator_ema",
    progress: "discriminator_progress",
};

/// Adam at 2e-4 with beta1 = 0.5, the GAN default (Radford et al., 2016).
fn gan_adam() -> OptimConfig {
    OptimConfig::new().with_lr(2e-4).with_beta1(0.5)
}

/// Optimisation settings of a GAN.
#[derive(Config, Debug, PartialEq)]
pub struct GanTrainingConfig {
    /// The generator's optimizer. A moving average of its weights
    /// (`ema`, e.g. decay 0.999 with warm-up) is what
    /// [`GanTrainer::sampler`] returns, and it is saved in checkpoints.
    #[config(default = "gan_adam()")]
    pub generator: OptimConfig,
    /// The discriminator's optimizer.
    #[config(default = "gan_adam()")]
    pub discriminator: OptimConfig,
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
}

impl GanTrainingConfig {
    /// Both learning rates set to `lr`.
    #[must_use]
    pub fn with_lr(mut self, lr: f64) -> Self {
        self.generator.lr = lr;
        self.discriminator.lr = lr;
        self
    }

    /// A moving average of the generator's weights with `decay` and
    /// warm-up (what [`GanTrainer::sampler`] then returns).
    #[must_use]
    pub fn with_ema(mut self, decay: f64) -> Self {
        self.generator = self.generator.with_ema_decay(decay);
        self
    }

    /// Checks the ranges documented on each field.
    ///
    /// # Errors
    /// [`gen_core::Error::InvalidConfig`] naming the first wrong field.
    pub fn validate(&self) -> Result<()> {
        self.generator.validate()?;
        self.discriminator.validate()?;
        ensure_nonzero("n_critic", self.n_critic)?;
        if let Some(c) = self.clip {
            ensure_positive("clip", c)?;
        }
        if let Some(gp) = &self.gradient_penalty {
            gp.validate()?;
        }
        Ok(())
    }
}

/// A generator and a discriminator with their optimizers, ready to train.
#[derive(Clone, Debug)]
pub struct GanTrainer<G: Generator, D: Discriminator> {
    generator: Optimized<G>,
    discriminator: Optimized<D>,
    config: GanTrainingConfig,
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
        Ok(Self {
            generator: Optimized::new(generator, config.generator.clone(), device)?
                .with_parts(GENERATOR),
            discriminator: Optimized::new(discriminator, config.discriminator.clone(), device)?
                .with_parts(DISCRIMINATOR),
            config,
        })
    }

    /// The generator (on the autodiff device; [`gen_core::Sample`] moves it
    /// to the device asked for).
    pub fn generator(&self) -> &G {
        self.generator.module()
    }

    /// The generator to sample from, without autodiff: the moving average
    /// of its weights when its optimizer keeps one, else the generator
    /// itself.
    pub fn sampler(&self) -> G {
        self.generator.sampler()
    }

    /// The moving average of the generator's weights, when kept.
    pub fn ema(&self) -> Option<&G> {
        self.generator.ema()
    }

    /// The discriminator.
    pub fn discriminator(&self) -> &D {
        self.discriminator.module()
    }

    /// The optimisation settings.
    pub fn config(&self) -> &GanTrainingConfig {
        &self.config
    }

    /// Generator updates so far (restored on resume).
    pub fn steps_done(&self) -> u64 {
        self.generator.updates()
    }

    /// Takes the trained models.
    pub fn into_models(self) -> (G, D) {
        (
            self.generator.into_module(),
            self.discriminator.into_module(),
        )
    }
}

/// One shard of a step's last critic batch, kept for the generator's update.
struct LastShard<G> {
    weight: f64,
    generator: G,
    fake: Tensor<2>,
    labels: Option<Tensor<1, Int>>,
    loss_d: Tensor<1>,
    scores: (Tensor<1>, Tensor<1>),
    penalty: Option<Tensor<1>>,
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
        self.generator.device().clone()
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
        let latent = self.generator.module().latent_dim();
        let classes = self.generator.module().num_classes();
        let score = |t: Tensor<2>| {
            if loss.is_probabilistic() {
                sigmoid(t).mean()
            } else {
                t.mean()
            }
        };
        // Per shard of the last critic batch: the generator replica and
        // the fakes it made (the generator's update reuses them), and the
        // critic's figures (the losses stay on the device).
        let mut last: Vec<LastShard<G>> = Vec::new();
        let devices = self.generator.devices();
        for batch in batches {
            labels::for_training(batch.len(), batch.labels.as_ref(), classes)?;
            last.clear();
            let mut shares = Vec::new();
            for (weight, shard) in batch.split(&devices) {
                let device = shard.device();
                let real = shard.data;
                let n = real.dims()[0];
                let labels = classes.and(shard.labels);
                let generator = self.generator.replica(&device);
                let d = self.discriminator.replica(&device);
                let z = rng.normal([n, latent], &device);
                let fake = generator.generate(z, labels.clone());
                let real_logits = d.logits(real.clone(), labels.clone());
                let fake_logits = d.logits(fake.clone().detach(), labels.clone());
                let scores = (score(real_logits.clone()), score(fake_logits.clone()));
                let mut objective = loss.discriminator(real_logits, fake_logits);
                let mut penalty = None;
                if let Some(gp) = &self.config.gradient_penalty {
                    let p = gradient_penalty(&d, real, fake.clone(), labels.clone(), gp, rng);
                    objective = objective + p.clone() * gp.weight;
                    penalty = Some(p);
                }
                let loss_d = objective.clone();
                shares.push(Share {
                    weight,
                    module: d,
                    loss: objective,
                });
                last.push(LastShard {
                    weight,
                    generator,
                    fake,
                    labels,
                    loss_d,
                    scores,
                    penalty,
                });
            }
            self.discriminator.update_from(shares);
            if let Some(c) = self.config.clip {
                self.discriminator.map_module(|d| clip_weights(d, c));
            }
        }
        if last.is_empty() {
            return Err(CoreError::Unsupported("a GAN step needs a batch".into()));
        }
        let mut shares = Vec::new();
        let mut metrics = Vec::new();
        for shard in last {
            let d = self.discriminator.replica(&shard.fake.device());
            let objective = loss.generator(d.logits(shard.fake, shard.labels));
            let (d_real, d_fake) = shard.scores;
            let mut m = Metrics::new()
                .with_tensor("loss_d", shard.loss_d)
                .with_tensor("loss_g", objective.clone())
                .with_tensor("d_real", d_real)
                .with_tensor("d_fake", d_fake);
            if let Some(p) = shard.penalty {
                m.push_tensor("penalty", p);
            }
            metrics.push((shard.weight, m));
            shares.push(Share {
                weight: shard.weight,
                module: shard.generator,
                loss: objective,
            });
        }
        self.generator.update_from(shares);
        Ok(Metrics::weighted(metrics, self.generator.device()))
    }

    fn replicate(&mut self, devices: &[Device]) -> gen_core::Result<()> {
        self.generator.replicate(devices)?;
        self.discriminator.replicate(devices)
    }

    fn settle(&mut self) -> std::result::Result<(), Diverged> {
        optim::settle::<dyn Guarded>(&mut [&mut self.discriminator, &mut self.generator])
    }
}

impl<G: Generator, D: Discriminator> Stateful for GanTrainer<G, D> {
    fn save_state(&self, out: &mut StateWriter) -> gen_core::Result<()> {
        if let Some(card) = crate::saved::card(self.generator.module())? {
            out.json(MODEL_CARD, &card)?;
        }
        self.generator.save(out)?;
        self.discriminator.save(out)
    }

    fn load_state(&mut self, input: &StateReader) -> gen_core::Result<()> {
        // Both are read before either is replaced.
        let generator = self.generator.loaded(input)?;
        let discriminator = self.discriminator.loaded(input)?;
        self.generator = generator;
        self.discriminator = discriminator;
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
                GanTrainingConfig::new().with_generator(
                    gan_adam().with_ema(Some(gen_core::optim::EmaConfig::new(1.0))),
                ),
                "ema.decay",
            ),
            (
                GanTrainingConfig::new().with_discriminator(gan_adam().with_beta1(1.0)),
                "beta1",
            ),
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
        assert!(
            matches!(
                err,
                CoreError::Label(labels::LabelError::Missing { classes: 3 })
            ),
            "{err}"
        );
        let bad = labels::upload(&[0, 1, 3], &ad);
        let err = gan
            .step(vec![Batch::new(x.clone()).with_labels(bad)], &mut rng)
            .unwrap_err();
        assert!(
            matches!(
                err,
                CoreError::Label(labels::LabelError::OutOfRange {
                    label: 3,
                    classes: 3
                })
            ),
            "{err}"
        );
        let good = labels::upload(&[0, 1, 2], &ad);
        let m = gan
            .step(vec![Batch::new(x).with_labels(good)], &mut rng)
            .unwrap();
        assert!(m.get("loss_g").unwrap().is_finite());
    }
}
