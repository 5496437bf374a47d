//! Sampling a trained [`Denoiser`]: the loop from pure noise, with
//! classifier-free guidance (Ho & Salimans 2022) and optional snapshots of
//! the trajectory, and [`Diffusion`], which bundles a denoiser with its
//! schedule and a sampler and implements [`gen_core::Sample`].
//!
//! Guidance with scale `s` evaluates the model with the labels and with
//! the null class in one doubled batch and uses
//! `uncond + s * (cond - uncond)`: `s = 1` is the plain conditional model
//! (one evaluation), `s = 0` the unconditional one (one evaluation, null
//! class), `s > 1` sharpens the class.

use burn::tensor::{Device, Int, Tensor};
use serde::{Deserialize, Serialize};

use gen_core::{Error as CoreError, SeededRng};

use crate::ddim::Ddim;
use crate::ddpm::{Ddpm, DdpmVariance};
use crate::denoiser::Denoiser;
use crate::dpm_solver::DpmSolver;
use crate::error::Result;
use crate::euler::Euler;
use crate::sampler::{Prediction, SamplerStep};
use crate::schedule::{NoiseSchedule, Spacing};

/// The model's output at timestep `t` for the batch `x`, guided with
/// scale `scale` towards `labels` (see the [module docs](self)).
///
/// Without labels, or for an unconditional model, this is the plain
/// (unconditional) prediction and `scale` is not used.
///
/// # Shapes
/// `x`: `[B, F]`; `labels`: `[B]`, in `0..=num_classes`. The result has
/// the shape of `x`.
pub fn guided_output<M: Denoiser>(
    model: &M,
    x: Tensor<2>,
    t: f64,
    labels: Option<&Tensor<1, Int>>,
    scale: f64,
) -> Tensor<2> {
    let [b, _] = x.dims();
    let device = x.device();
    let ts = |n: usize| Tensor::<1>::full([n], t as f32, &device);
    let (Some(labels), Some(k)) = (labels, model.num_classes()) else {
        return model.forward(x, ts(b), None);
    };
    if scale == 1.0 {
        return model.forward(x, ts(b), Some(labels.clone()));
    }
    if scale == 0.0 {
        return model.forward(x, ts(b), None);
    }
    let null = Tensor::<1, Int>::full([b], k as i64, &device);
    let both = model.forward(
        Tensor::cat(vec![x.clone(), x], 0),
        ts(2 * b),
        Some(Tensor::cat(vec![labels.clone(), null], 0)),
    );
    let cond = both.clone().narrow(0, 0, b);
    let uncond = both.narrow(0, b, b);
    uncond.clone() + (cond - uncond) * scale
}

/// One recorded step of a sampling run.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// The step index.
    pub step: usize,
    /// The timestep the model was evaluated at.
    pub t: f64,
    /// The sample before the step (the sampler's own scaling).
    pub x_t: Tensor<2>,
    /// The model's estimate of the clean sample at this step.
    pub x0: Tensor<2>,
}

/// What [`sample_trajectory`] records.
#[derive(Clone, Debug)]
pub struct Trajectory {
    /// The schedule the model was trained with (to turn its output into an
    /// `x0` estimate).
    pub schedule: NoiseSchedule,
    /// The model's prediction type.
    pub prediction: Prediction,
    /// Record only the first this many examples of the batch, >= 1.
    pub examples: usize,
}

/// Checks the labels and the guidance scale and uploads the labels.
fn prepare<M: Denoiser>(
    model: &M,
    n: usize,
    labels: Option<&[usize]>,
    guidance: f64,
    device: &Device,
) -> Result<Option<Tensor<1, Int>>> {
    gen_core::error::ensure_nonzero("n", n)?;
    if !(guidance >= 0.0 && guidance.is_finite()) {
        return Err(CoreError::config(
            "guidance",
            format!("must be a finite scale >= 0, found {guidance}"),
        )
        .into());
    }
    // An unconditional model, a wrong count or an unknown class: the rule
    // every `Sample` applies.
    gen_core::labels::check(n, labels, model.num_classes()).map_err(CoreError::from)?;
    Ok(labels.map(|labels| gen_core::labels::upload(labels, device)))
}

/// Draws `n` samples (flat, `[n, F]`) from pure noise with `sampler`,
/// guided towards `labels` with scale `guidance` (1: plain conditional;
/// ignored without labels). `labels: None` for a conditional model samples
/// the unconditional (null-class) model. The sampler is reset first.
///
/// `model` must live on `device` (use the EMA copy, on the plain device).
///
/// # Errors
/// An invalid config for `n = 0` or a negative or non-finite `guidance`;
/// [`gen_core::Error::Unsupported`] for labels given to an unconditional
/// model; an invalid config for a wrong number of labels or an unknown
/// class; whatever the sampler's step returns.
pub fn sample<M: Denoiser>(
    model: &M,
    sampler: &mut dyn SamplerStep<2>,
    n: usize,
    labels: Option<&[usize]>,
    guidance: f64,
    rng: &mut SeededRng,
    device: &Device,
) -> Result<Tensor<2>> {
    Ok(run(model, sampler, n, labels, guidance, rng, device, None)?.0)
}

/// [`sample`], also returning one [`Snapshot`] per step of the first
/// `trajectory.examples` examples (for a denoising strip).
///
/// # Errors
/// As [`sample`].
#[allow(clippy::too_many_arguments)]
pub fn sample_trajectory<M: Denoiser>(
    model: &M,
    sampler: &mut dyn SamplerStep<2>,
    n: usize,
    labels: Option<&[usize]>,
    guidance: f64,
    rng: &mut SeededRng,
    device: &Device,
    trajectory: &Trajectory,
) -> Result<(Tensor<2>, Vec<Snapshot>)> {
    gen_core::error::ensure_nonzero("examples", trajectory.examples)?;
    run(
        model,
        sampler,
        n,
        labels,
        guidance,
        rng,
        device,
        Some(trajectory),
    )
}

#[allow(clippy::too_many_arguments)]
fn run<M: Denoiser>(
    model: &M,
    sampler: &mut dyn SamplerStep<2>,
    n: usize,
    labels: Option<&[usize]>,
    guidance: f64,
    rng: &mut SeededRng,
    device: &Device,
    trajectory: Option<&Trajectory>,
) -> Result<(Tensor<2>, Vec<Snapshot>)> {
    let labels = prepare(model, n, labels, guidance, device)?;
    sampler.set_timesteps(sampler.num_steps())?;
    let mut x = sampler.initial_noise([n, model.features()], device, rng);
    let mut snapshots = Vec::new();
    for (i, t) in sampler.timesteps().into_iter().enumerate() {
        let input = sampler.scale_model_input(x.clone(), i)?;
        let out = guided_output(model, input.clone(), t, labels.as_ref(), guidance);
        if let Some(tr) = trajectory {
            let k = tr.examples.min(n);
            let tt = (t.round().max(0.0) as usize).min(tr.schedule.len() - 1);
            let ((cx, co), _) = tr.prediction.recover(tr.schedule.alpha_bar(Some(tt)));
            let x0 = input.narrow(0, 0, k) * cx + out.clone().narrow(0, 0, k) * co;
            snapshots.push(Snapshot {
                step: i,
                t,
                x_t: x.clone().narrow(0, 0, k),
                x0,
            });
        }
        x = sampler.step(out, i, x, rng)?;
    }
    Ok((x, snapshots))
}

/// A sampler by name, for configs and command lines.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SamplerKind {
    /// DDPM ancestral sampling with the fixed-small variance.
    Ddpm,
    /// DDIM with stochasticity `eta` (0: deterministic), on the trailing
    /// spacing with the default [`PrevTimestep::NextInList`](crate::PrevTimestep)
    /// (each step lands on the next timestep of the list). For diffusers'
    /// numbers exactly, build [`Ddim`] with
    /// [`PrevTimestep::FixedOffset`](crate::PrevTimestep) instead: the two
    /// differ only when the training length is not a multiple of the steps.
    Ddim {
        /// 0 for deterministic DDIM, 1 for DDPM-like noise.
        eta: f64,
    },
    /// DPM-Solver++(2M).
    DpmSolver,
    /// Euler (diffusers' `EulerDiscreteScheduler`).
    Euler,
}

/// The names of the command lines: `ddpm`, `ddim` (eta 0), `ddim:<eta>`,
/// `dpm_solver`, `euler`.
///
/// ```
/// use gen_diffusion::SamplerKind;
/// assert_eq!("ddim".parse::<SamplerKind>()?, SamplerKind::Ddim { eta: 0.0 });
/// assert_eq!("ddim:0.5".parse::<SamplerKind>()?, SamplerKind::Ddim { eta: 0.5 });
/// assert_eq!(SamplerKind::DpmSolver.to_string(), "dpm_solver");
/// assert!("plms".parse::<SamplerKind>().is_err());
/// # Ok::<(), gen_core::Error>(())
/// ```
impl std::str::FromStr for SamplerKind {
    type Err = CoreError;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let bad = || {
            CoreError::config(
                "sampler",
                format!("`{s}` is not one of ddpm, ddim, ddim:<eta>, dpm_solver, euler"),
            )
        };
        Ok(match s {
            "ddpm" => SamplerKind::Ddpm,
            "ddim" => SamplerKind::Ddim { eta: 0.0 },
            "dpm_solver" | "dpm" => SamplerKind::DpmSolver,
            "euler" => SamplerKind::Euler,
            other => match other.strip_prefix("ddim:").map(str::parse::<f64>) {
                Some(Ok(eta)) if eta.is_finite() && eta >= 0.0 => SamplerKind::Ddim { eta },
                _ => return Err(bad()),
            },
        })
    }
}

impl std::fmt::Display for SamplerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SamplerKind::Ddpm => f.write_str("ddpm"),
            SamplerKind::Ddim { eta } if *eta == 0.0 => f.write_str("ddim"),
            SamplerKind::Ddim { eta } => write!(f, "ddim:{eta}"),
            SamplerKind::DpmSolver => f.write_str("dpm_solver"),
            SamplerKind::Euler => f.write_str("euler"),
        }
    }
}

impl SamplerKind {
    /// Builds the sampler with `steps` steps: trailing spacing for DDPM and
    /// DDIM (so that the first step is at `T - 1`, Lin et al. 2023),
    /// linspace for DPM-Solver++ and Euler (diffusers' defaults).
    ///
    /// # Errors
    /// As the sampler's constructor.
    pub fn build(
        self,
        schedule: &NoiseSchedule,
        steps: usize,
        prediction: Prediction,
    ) -> Result<Box<dyn SamplerStep<2> + Send>> {
        let s = schedule.clone();
        Ok(match self {
            SamplerKind::Ddpm => Box::new(Ddpm::new(
                s,
                steps,
                Spacing::Trailing,
                DdpmVariance::FixedSmall,
                prediction,
            )?),
            SamplerKind::Ddim { eta } => {
                Box::new(Ddim::new(s, steps, Spacing::Trailing, eta, prediction)?)
            }
            SamplerKind::DpmSolver => {
                Box::new(DpmSolver::new(s, steps, Spacing::Linspace, prediction)?)
            }
            SamplerKind::Euler => Box::new(Euler::new(s, steps, Spacing::Linspace, prediction)?),
        })
    }
}

/// A trained denoiser with everything needed to sample from it: its
/// schedule and prediction type, a sampler and a guidance scale.
///
/// ```
/// use burn::tensor::Device;
/// use gen_core::{Sample, SeededRng};
/// use gen_diffusion::{Diffusion, MlpDenoiserConfig, NoiseSchedule, BetaSchedule, Prediction, SamplerKind};
///
/// # fn main() -> Result<(), gen_diffusion::Error> {
/// let dev = Device::flex();
/// let net = MlpDenoiserConfig::new(2).with_hidden(16).init(&dev)?;
/// let schedule = NoiseSchedule::new(BetaSchedule::LINEAR, 1000)?;
/// let model = Diffusion::new(net, schedule, Prediction::Epsilon, SamplerKind::DpmSolver, 10)?;
/// let x = model.sample(4, None, &mut SeededRng::new(0), &dev)?;
/// assert_eq!(x.dims(), [4, 2]);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Diffusion<M: Denoiser> {
    /// The denoiser (usually the EMA weights).
    pub denoiser: M,
    /// The schedule it was trained with.
    pub schedule: NoiseSchedule,
    /// Its prediction type.
    pub prediction: Prediction,
    /// The sampler.
    pub sampler: SamplerKind,
    /// Sampling steps.
    pub steps: usize,
    /// The classifier-free guidance scale used with labels (1: none).
    pub guidance: f64,
}

impl<M: Denoiser> Diffusion<M> {
    /// A sampling setup without guidance (`guidance = 1`).
    ///
    /// # Errors
    /// As [`SamplerKind::build`] (checked once here).
    pub fn new(
        denoiser: M,
        schedule: NoiseSchedule,
        prediction: Prediction,
        sampler: SamplerKind,
        steps: usize,
    ) -> Result<Self> {
        sampler.build(&schedule, steps, prediction)?;
        Ok(Self {
            denoiser,
            schedule,
            prediction,
            sampler,
            steps,
            guidance: 1.0,
        })
    }

    /// Sets the guidance scale.
    #[must_use]
    pub fn with_guidance(mut self, guidance: f64) -> Self {
        self.guidance = guidance;
        self
    }
}

impl<M: Denoiser> Diffusion<M> {
    /// `n` samples: the sampler built afresh, the denoiser moved to
    /// `device`, then [`sample()`]. `labels = None` for a conditional model
    /// samples its null class: the unconditional model that classifier-free
    /// guidance trained alongside. This is its [`gen_core::Sample`].
    ///
    /// # Errors
    /// As [`sample()`].
    pub fn draw(
        &self,
        n: usize,
        labels: Option<&[usize]>,
        rng: &mut SeededRng,
        device: &Device,
    ) -> gen_core::Result<Tensor<2>> {
        let mut sampler = self
            .sampler
            .build(&self.schedule, self.steps, self.prediction)?;
        let model = self.denoiser.clone().to_device(device);
        let guidance = self.guidance;
        Ok(sample(
            &model,
            sampler.as_mut(),
            n,
            labels,
            guidance,
            rng,
            device,
        )?)
    }
}

gen_core::impl_sample!([M: Denoiser] Diffusion<M>, |d| {
    example_shape: d.denoiser.example_shape(),
    num_classes: d.denoiser.num_classes(),
    sample: Diffusion::draw,
});
