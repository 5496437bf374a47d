//! The training driver every model crate reuses.
//!
//! [`Trainer::fit`] runs a [`TrainStep`] over a [`BatchSource`] for a number
//! of steps or epochs and takes care of what every run needs:
//!
//! - a progress bar on a terminal, plain log lines otherwise;
//! - metrics appended to `<out>/metrics.jsonl`, one JSON object per step,
//!   and drawn as `<out>/curves.png` and `curves.svg` at every checkpoint
//!   and at the end ([`curves`]);
//! - periodic, atomic checkpoints under `<out>/checkpoints/` (see
//!   [`checkpoint`](crate::checkpoint)) holding the model(s), optimizer
//!   state(s), step, RNG state and run config;
//! - resuming from the newest checkpoint, with the same data order and
//!   random stream as an uninterrupted run;
//! - one writer per output folder: a second process training into it gets
//!   [`Error::Busy`] at once (an advisory lock on `<out>/train.lock`, which
//!   the operating system releases when the holder exits or is killed);
//! - stopping with [`Error::NonFinite`] on a NaN or infinite metric, before
//!   any checkpoint of the diverged state is written.

use std::fs;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::config::Config;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::checkpoint::{CheckpointStore, write_atomic};
use crate::curves::{self, CurveOptions, MetricsLog};
use crate::error::{Error, Result};
use crate::optim::Diverged;
use crate::rng::SeededRng;
use crate::train::{BatchSource, Metrics, TrainStep};

/// How long to train and how often to log and save.
#[derive(Config, Debug, PartialEq)]
pub struct TrainerConfig {
    /// Total optimisation steps (a resumed run counts the steps already
    /// done). Exactly one of `steps` and `epochs` is non-zero.
    #[config(default = 0)]
    pub steps: u64,
    /// Total passes over the data, converted to steps with the source's
    /// batches per epoch. Exactly one of `steps` and `epochs` is non-zero.
    #[config(default = 0)]
    pub epochs: u64,
    /// Steps between checkpoints; 0 saves only at the end.
    #[config(default = 0)]
    pub checkpoint_every: u64,
    /// Steps between plain log lines (when not on a terminal), >= 1.
    #[config(default = 100)]
    pub log_every: u64,
    /// How many checkpoints to keep on disk, >= 1.
    #[config(default = 2)]
    pub keep_checkpoints: usize,
}

impl TrainerConfig {
    /// Checks the ranges documented on each field.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the first wrong field.
    pub fn validate(&self) -> Result<()> {
        match (self.steps, self.epochs) {
            (0, 0) => return Err(Error::config("steps", "or `epochs` must be at least 1")),
            (s, e) if s > 0 && e > 0 => {
                return Err(Error::config("steps", "and `epochs` cannot both be set"));
            }
            _ => {}
        }
        crate::error::ensure_nonzero("log_every", self.log_every as usize)?;
        crate::error::ensure_nonzero("keep_checkpoints", self.keep_checkpoints)
    }

    /// The total number of steps for a source and a model.
    pub fn total_steps(&self, batches_per_epoch: usize, batches_per_step: usize) -> u64 {
        if self.steps > 0 {
            self.steps
        } else {
            let per_epoch = batches_per_epoch.div_ceil(batches_per_step.max(1)).max(1);
            self.epochs * per_epoch as u64
        }
    }
}

/// How progress is shown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Progress {
    /// A bar when stderr is a terminal, plain lines otherwise.
    #[default]
    Auto,
    /// Plain lines on stderr every `log_every` steps.
    Plain,
    /// Nothing (tests, benches).
    Hidden,
}

/// What a call to [`Trainer::fit`] did.
#[derive(Clone, Debug)]
pub struct TrainOutcome {
    /// The step the run started from (0, or the resumed checkpoint's).
    pub start_step: u64,
    /// The steps completed at the end: the total, or the resumed
    /// checkpoint's step if that was already past it.
    pub final_step: u64,
    /// The metrics of the last step run, if any step ran.
    pub last_metrics: Option<Metrics>,
    /// The metrics file.
    pub metrics_path: PathBuf,
    /// The final checkpoint.
    pub checkpoint: PathBuf,
    /// Wall time of the loop, in seconds.
    pub seconds: f64,
}

/// Runs training loops: progress, metrics, checkpoints, resume.
///
/// ```no_run
/// # use gen_core::{Trainer, TrainerConfig, TrainStep, BatchSource, rng::SeededRng};
/// # fn run(model: &mut dyn TrainStep, data: &mut dyn BatchSource) -> gen_core::Result<()> {
/// let trainer = Trainer::new(TrainerConfig::new().with_steps(1000), "out/run")?.resume(true);
/// let outcome = trainer.fit(model, data, &mut SeededRng::new(0))?;
/// println!("metrics in {}", outcome.metrics_path.display());
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Trainer {
    config: TrainerConfig,
    out_dir: PathBuf,
    progress: Progress,
    resume: bool,
    run_config: serde_json::Value,
    call_every: Option<u64>,
    curves: bool,
}

impl Trainer {
    /// A trainer writing into `out_dir`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for an invalid config.
    pub fn new(config: TrainerConfig, out_dir: impl Into<PathBuf>) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            config,
            out_dir: out_dir.into(),
            progress: Progress::Auto,
            resume: false,
            run_config: serde_json::Value::Null,
            call_every: None,
            curves: true,
        })
    }

    /// Sets how progress is shown.
    #[must_use]
    pub fn progress(mut self, progress: Progress) -> Self {
        self.progress = progress;
        self
    }

    /// Continue from the newest checkpoint in the output folder, if any.
    /// Without it, a folder that already holds checkpoints is an error
    /// ([`Error::WouldOverwrite`]), so an earlier run is never overwritten.
    #[must_use]
    pub fn resume(mut self, resume: bool) -> Self {
        self.resume = resume;
        self
    }

    /// The run's configuration (model, optimizer, data...), saved as
    /// `config.json` and inside every checkpoint.
    ///
    /// # Errors
    /// When the value cannot be serialised.
    pub fn with_run_config<T: Serialize>(mut self, config: &T) -> Result<Self> {
        self.run_config = serde_json::to_value(config)
            .map_err(|e| Error::config("run_config", format!("cannot be serialised: {e}")))?;
        Ok(self)
    }

    /// Calls the callback of [`fit_with`](Self::fit_with) every `steps`
    /// steps (and after the last one) with the number of steps done,
    /// instead of at the end of each epoch: the place for a validation
    /// loss measured every N steps.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for `steps = 0`.
    pub fn call_every(mut self, steps: u64) -> Result<Self> {
        crate::error::ensure_nonzero("call_every", steps as usize)?;
        self.call_every = Some(steps);
        Ok(self)
    }

    /// Whether to draw the metrics as `curves.png` and `curves.svg` in the
    /// output folder at every checkpoint and at the end (default: yes).
    #[must_use]
    pub fn curves(mut self, draw: bool) -> Self {
        self.curves = draw;
        self
    }

    /// The output folder.
    pub fn out_dir(&self) -> &Path {
        &self.out_dir
    }

    /// The checkpoints of this trainer's output folder.
    pub fn checkpoints(&self) -> CheckpointStore {
        CheckpointStore::new(
            self.out_dir.join("checkpoints"),
            self.config.keep_checkpoints,
        )
    }

    /// Trains `model` on `data` until the configured total, drawing
    /// randomness from `rng` (replaced by the checkpoint's on resume).
    ///
    /// # Errors
    /// [`Error::Io`] when the output folder is not writable,
    /// [`Error::WouldOverwrite`] when it holds checkpoints and resume is off,
    /// [`Error::Checkpoint`] when the checkpoint to resume from is damaged
    /// (it is left as it is), [`Error::NonFinite`] when a metric diverges,
    /// and whatever the model's step returns.
    pub fn fit(
        &self,
        model: &mut dyn TrainStep,
        data: &mut dyn BatchSource,
        rng: &mut SeededRng,
    ) -> Result<TrainOutcome> {
        self.fit_with(model, data, rng, |_, _| Ok(None))
    }

    /// [`fit`](Self::fit), calling `on_epoch(epoch, model)` each time a
    /// pass over the data completes (`epoch` counts from 1; with
    /// [`call_every`](Self::call_every), every N steps with the steps done
    /// instead), after that
    /// step's checkpoint if one was due: the place for a per-epoch
    /// evaluation or sample grid. A returned line is printed above the
    /// progress bar (or on stderr); an error stops the run.
    ///
    /// ```no_run
    /// # use gen_core::{Trainer, TrainerConfig, TrainStep, BatchSource, rng::SeededRng};
    /// # fn run<M: TrainStep>(model: &mut M, data: &mut dyn BatchSource) -> gen_core::Result<()> {
    /// let trainer = Trainer::new(TrainerConfig::new().with_epochs(10), "out/run")?;
    /// trainer.fit_with(model, data, &mut SeededRng::new(0), |epoch, _model| {
    ///     Ok(Some(format!("epoch {epoch} done")))
    /// })?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`fit`](Self::fit), and whatever `on_epoch` returns.
    pub fn fit_with<M: TrainStep + ?Sized>(
        &self,
        model: &mut M,
        data: &mut dyn BatchSource,
        rng: &mut SeededRng,
        on_epoch: impl FnMut(u64, &mut M) -> Result<Option<String>> + Send,
    ) -> Result<TrainOutcome> {
        // The loop runs on a thread of a rayon pool as large as the global
        // one: burn's CPU backends then start their parallel loops where
        // they are called instead of handing every operation to a pool
        // thread and waiting (15-25 % of a conv model's step at 1 thread,
        // docs/benchmarks.md).
        let threads = rayon::current_num_threads();
        // burn-remote panics when a server stops answering: with a remote
        // device connected, that panic is the typed `RemoteError::Lost`
        // (no checkpoint is written after it; see `remote`). Any other
        // panic is a bug and goes on unwinding.
        let run = std::panic::AssertUnwindSafe(|| {
            match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
                Ok(pool) => pool.install(|| self.run(model, data, rng, on_epoch)),
                Err(_) => self.run(model, data, rng, on_epoch),
            }
        });
        match std::panic::catch_unwind(run) {
            Ok(result) => result,
            Err(panic) if crate::remote::any_connected() => Err(crate::remote::RemoteError::Lost {
                reason: crate::remote::panic_message(panic.as_ref()),
            }
            .into()),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    fn run<M: TrainStep + ?Sized>(
        &self,
        model: &mut M,
        data: &mut dyn BatchSource,
        rng: &mut SeededRng,
        mut on_epoch: impl FnMut(u64, &mut M) -> Result<Option<String>>,
    ) -> Result<TrainOutcome> {
        let per_step = model.batches_per_step();
        crate::error::ensure_nonzero("batches_per_step", per_step)?;
        let per_epoch = data.batches_per_epoch();
        crate::error::ensure_nonzero("batches_per_epoch", per_epoch)?;
        let total = self.config.total_steps(per_epoch, per_step);

        fs::create_dir_all(&self.out_dir).map_err(|e| Error::io(&self.out_dir, e))?;
        let _lock = lock_folder(&self.out_dir)?;
        let store = self.checkpoints();
        let mut start = 0;
        let latest = store.latest()?;
        if self.progress != Progress::Hidden {
            let newest = latest.as_ref().map_or(0, |(step, _)| *step);
            for (_, dir) in store.incomplete()? {
                if self.resume && dir_is_newer(&dir, newest) {
                    eprintln!(
                        "ignoring {}: it holds no manifest (state.json), so it is not a complete checkpoint",
                        dir.display()
                    );
                }
            }
        }
        if let Some((step, dir)) = latest {
            if !self.resume {
                return Err(Error::WouldOverwrite {
                    path: self.out_dir.clone(),
                    step,
                });
            }
            let manifest = CheckpointStore::load(&dir, model)?;
            *rng = manifest.rng;
            start = manifest.step;
            if self.progress != Progress::Hidden {
                eprintln!("resuming from step {start} ({})", dir.display());
            }
        }
        let config_json = serde_json::to_vec_pretty(&self.run_config)
            .map_err(|e| Error::config("run_config", e.to_string()))?;
        write_atomic(&self.out_dir.join("config.json"), &config_json)?;
        let metrics_path = self.out_dir.join("metrics.jsonl");
        let metrics_file = open_metrics(&metrics_path, start)?;

        let device = model.device();
        let bar = self.bar(start, total);
        let clock = Instant::now();
        let mut log = Log {
            file: metrics_file,
            path: metrics_path.clone(),
            pending: Vec::new(),
            last: None,
        };
        let mut last_saved = None;
        let diverged = |step: u64, d: Diverged, bar: &ProgressBar| {
            bar.abandon();
            Error::NonFinite {
                step,
                metric: d.metric,
                value: d.value,
            }
        };
        for step in start..total {
            let first = step * per_step as u64;
            let batches = (0..per_step as u64)
                .map(|k| data.batch(first + k, &device))
                .collect::<Result<Vec<_>>>()?;
            // The previous step's losses are checked now, while the device
            // may still be busy with its update.
            if step > start
                && let Err(d) = model.settle()
            {
                log.discard_last();
                log.flush(self, &bar, total)?;
                return Err(diverged(step - 1, d, &bar));
            }
            if log.pending.len() as u64 >= self.config.log_every {
                log.flush(self, &bar, total)?;
            }
            let metrics = model.step(batches, rng)?;
            let done = step + 1;
            let epoch = (done * per_step as u64) as f64 / per_epoch as f64;
            log.pending.push(Line {
                step: done,
                epoch,
                elapsed: clock.elapsed().as_secs_f64(),
                metrics,
            });
            bar.set_position(done);
            let checkpoint_due = self.config.checkpoint_every > 0
                && done.is_multiple_of(self.config.checkpoint_every);
            let epochs_done = done * per_step as u64 / per_epoch as u64;
            let (epoch_ended, callback_arg) = match self.call_every {
                Some(n) => (done.is_multiple_of(n) || done == total, done),
                None => (
                    epochs_done > step * per_step as u64 / per_epoch as u64,
                    epochs_done,
                ),
            };
            if checkpoint_due || epoch_ended || done == total {
                if let Err(d) = model.settle() {
                    log.discard_last();
                    log.flush(self, &bar, total)?;
                    return Err(diverged(step, d, &bar));
                }
                log.flush(self, &bar, total)?;
            }
            if checkpoint_due {
                last_saved = Some((done, store.save(done, rng, &self.run_config, model)?));
                self.draw_curves(&metrics_path, &bar);
            }
            if epoch_ended && let Some(line) = on_epoch(callback_arg, model)? {
                if bar.is_hidden() {
                    if self.progress != Progress::Hidden {
                        eprintln!("{line}");
                    }
                } else {
                    bar.println(line);
                }
            }
        }
        log.flush(self, &bar, total)?;
        let drawn = last_saved.as_ref().is_some_and(|(step, _)| *step == total);
        let checkpoint = match (last_saved, store.latest()?) {
            (Some((step, dir)), _) if step == total => dir,
            // Resumed from a checkpoint that had already reached the total
            // (or gone past it): nothing ran, that checkpoint is the result.
            (None, Some((step, dir))) if step >= total => dir,
            _ => store.save(total, rng, &self.run_config, model)?,
        };
        if !drawn {
            self.draw_curves(&metrics_path, &bar);
        }
        bar.finish();
        Ok(TrainOutcome {
            start_step: start,
            final_step: total.max(start),
            last_metrics: log.last,
            metrics_path,
            checkpoint,
            seconds: clock.elapsed().as_secs_f64(),
        })
    }

    /// Draws the metrics so far as `curves.png` and `curves.svg`. A chart
    /// that cannot be drawn is reported, not fatal: the checkpoint is what
    /// matters, and it is already written.
    fn draw_curves(&self, metrics_path: &Path, bar: &ProgressBar) {
        if !self.curves {
            return;
        }
        let drawn = MetricsLog::read(metrics_path).and_then(|log| {
            let label = self.out_dir.display().to_string();
            let runs = [log.with_label(label)];
            let options = CurveOptions::default();
            curves::plot(&runs, &self.out_dir.join("curves.png"), &options)?;
            curves::plot(&runs, &self.out_dir.join("curves.svg"), &options)
        });
        if let Err(e) = drawn
            && self.progress != Progress::Hidden
        {
            let line = format!("cannot draw the training curves: {e}");
            if bar.is_hidden() {
                eprintln!("{line}");
            } else {
                bar.println(line);
            }
        }
    }

    fn bar(&self, start: u64, total: u64) -> ProgressBar {
        let on_terminal = std::io::stderr().is_terminal();
        if self.progress != Progress::Auto || !on_terminal {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(total).with_position(start);
        let style = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} ({per_sec}, eta {eta}) {msg}",
        )
        .expect("the progress template is valid");
        bar.set_style(style);
        bar
    }

    fn report(&self, bar: &ProgressBar, line: &Line, total: u64) {
        let text = line
            .metrics
            .iter()
            .map(|(n, v)| format!("{n} {v:.4}"))
            .collect::<Vec<_>>()
            .join("  ");
        if !bar.is_hidden() {
            bar.set_message(text);
        } else if self.progress != Progress::Hidden
            && (line.step.is_multiple_of(self.config.log_every) || line.step == total)
        {
            eprintln!(
                "step {}/{total}  epoch {:.2}  {text}",
                line.step, line.epoch
            );
        }
    }
}

/// Whether a step folder's step is past `step`.
fn dir_is_newer(dir: &Path, step: u64) -> bool {
    CheckpointStore::step_of_dir(dir).is_some_and(|s| s > step)
}

/// Takes the output folder's lock, held until the returned file is dropped.
///
/// # Errors
/// [`Error::Busy`] when another process holds it; [`Error::Io`] when the
/// lock file cannot be created. On a file system without locks the run
/// goes on unlocked.
fn lock_folder(dir: &Path) -> Result<fs::File> {
    let path = dir.join("train.lock");
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(Error::Busy {
            path: dir.to_path_buf(),
            lock: path,
        }),
        Err(fs::TryLockError::Error(e)) if e.kind() == std::io::ErrorKind::Unsupported => Ok(file),
        Err(fs::TryLockError::Error(e)) => Err(Error::io(&path, e)),
    }
}

/// One step's line of `metrics.jsonl`, before it is written.
struct Line {
    /// Steps completed.
    step: u64,
    epoch: f64,
    elapsed: f64,
    metrics: Metrics,
}

/// The metrics file and the lines not written yet: their values may still
/// be on the device, and their steps not yet checked by `settle`.
struct Log {
    file: std::io::BufWriter<fs::File>,
    path: PathBuf,
    pending: Vec<Line>,
    last: Option<Metrics>,
}

impl Log {
    /// Drops the newest line (its step was undone).
    fn discard_last(&mut self) {
        self.pending.pop();
    }

    /// Reads the pending values in one go, stops on a non-finite one, and
    /// writes and reports the lines.
    fn flush(&mut self, trainer: &Trainer, bar: &ProgressBar, total: u64) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut lines = std::mem::take(&mut self.pending);
        let mut all: Vec<Metrics> = lines
            .iter_mut()
            .map(|l| std::mem::take(&mut l.metrics))
            .collect();
        Metrics::resolve_all(&mut all);
        for (line, metrics) in lines.iter_mut().zip(all) {
            line.metrics = metrics;
        }
        for line in &lines {
            if let Some((name, value)) = line.metrics.first_non_finite() {
                bar.abandon();
                let _ = self.file.flush();
                return Err(Error::NonFinite {
                    step: line.step - 1,
                    metric: name.to_string(),
                    value,
                });
            }
            let text = metrics_line(line.step, line.epoch, line.elapsed, &line.metrics);
            writeln!(self.file, "{text}").map_err(|e| Error::io(&self.path, e))?;
            trainer.report(bar, line, total);
        }
        self.file.flush().map_err(|e| Error::io(&self.path, e))?;
        self.last = lines.pop().map(|l| l.metrics);
        Ok(())
    }
}

fn metrics_line(step: u64, epoch: f64, elapsed: f64, metrics: &Metrics) -> String {
    let mut map = serde_json::Map::new();
    map.insert("step".into(), step.into());
    map.insert("epoch".into(), round(epoch).into());
    map.insert("elapsed_s".into(), round(elapsed).into());
    for (name, value) in metrics.iter() {
        map.insert(name.into(), value.into());
    }
    serde_json::Value::Object(map).to_string()
}

fn round(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

/// Opens the metrics file for appending, first dropping lines past `start`
/// (written by a run that stopped after its last checkpoint).
fn open_metrics(path: &Path, start: u64) -> Result<std::io::BufWriter<fs::File>> {
    if start > 0
        && let Ok(text) = fs::read_to_string(path)
    {
        let kept: String = text
            .lines()
            .filter(|line| {
                serde_json::from_str::<serde_json::Value>(line)
                    .ok()
                    .and_then(|v| v.get("step").and_then(|s| s.as_u64()))
                    .is_some_and(|s| s <= start)
            })
            .map(|l| format!("{l}\n"))
            .collect();
        write_atomic(path, kept.as_bytes())?;
    } else if start == 0 {
        fs::write(path, b"").map_err(|e| Error::io(path, e))?;
    }
    let file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    Ok(std::io::BufWriter::new(file))
}
