//! Checkpoints and resume: N steps straight equal N/2, checkpoint, load into
//! a fresh model, N/2 more; damaged checkpoints are reported and kept;
//! a diverging run stops with the last good checkpoint intact.

mod common;

use std::fs;
use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};
use generative::core::{Batch, BatchSource, CheckpointStore, Error, SeededRng};
use generative::data::Toy2d;
use generative::gan::GanTrainingConfig;

const STEPS: u64 = 8;

fn fresh(seed: u64) -> common::Gan {
    common::toy_gan(seed, &Device::flex(), GanTrainingConfig::new())
}

fn loader() -> generative::data::Loader {
    common::toy_loader(Toy2d::SwissRoll, 256, 32, 11)
}

fn all_params(gan: &common::Gan) -> Vec<f32> {
    let mut p = common::params(gan.generator());
    p.extend(common::params(gan.discriminator()));
    p
}

/// Trains STEPS/2 steps into `dir`, leaving a checkpoint at STEPS/2.
fn half_run(dir: &Path) {
    let mut gan = fresh(5);
    common::trainer(STEPS / 2, 0, dir)
        .fit(&mut gan, &mut loader(), &mut SeededRng::new(1))
        .unwrap();
}

fn checkpoint_dir(dir: &Path) -> std::path::PathBuf {
    CheckpointStore::new(dir.join("checkpoints"), 2)
        .latest()
        .unwrap()
        .expect("a checkpoint")
        .1
}

#[test]
fn resumed_run_matches_straight_run_exactly() {
    let straight_dir = tempfile::tempdir().unwrap();
    let mut straight = fresh(5);
    common::trainer(STEPS, 0, straight_dir.path())
        .fit(&mut straight, &mut loader(), &mut SeededRng::new(1))
        .unwrap();

    let split_dir = tempfile::tempdir().unwrap();
    half_run(split_dir.path());
    // A model initialised from another seed, and another RNG: everything
    // must come from the checkpoint.
    let mut resumed = fresh(999);
    let outcome = common::trainer(STEPS, 0, split_dir.path())
        .resume(true)
        .fit(&mut resumed, &mut loader(), &mut SeededRng::new(12345))
        .unwrap();
    assert_eq!((outcome.start_step, outcome.final_step), (STEPS / 2, STEPS));
    assert_eq!(all_params(&resumed), all_params(&straight));

    let metrics = fs::read_to_string(outcome.metrics_path).unwrap();
    let steps: Vec<u64> = metrics
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["step"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(steps, (1..=STEPS).collect::<Vec<_>>());
}

#[test]
fn resuming_past_the_total_trains_nothing_and_keeps_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    half_run(dir.path());
    let before = checkpoint_dir(dir.path());
    let outcome = common::trainer(2, 0, dir.path())
        .resume(true)
        .fit(&mut fresh(5), &mut loader(), &mut SeededRng::new(1))
        .unwrap();
    assert_eq!((outcome.start_step, outcome.final_step), (4, 4));
    assert_eq!(outcome.checkpoint, before);
    assert!(outcome.last_metrics.is_none());
    assert_eq!(
        checkpoint_dir(dir.path()),
        before,
        "no checkpoint was added"
    );
}

#[test]
fn existing_checkpoints_are_not_overwritten_without_resume() {
    let dir = tempfile::tempdir().unwrap();
    half_run(dir.path());
    let before = fs::read(checkpoint_dir(dir.path()).join("state.json")).unwrap();
    let err = common::trainer(STEPS, 0, dir.path())
        .fit(&mut fresh(5), &mut loader(), &mut SeededRng::new(1))
        .unwrap_err();
    assert!(
        matches!(err, Error::WouldOverwrite { step: 4, .. }),
        "{err}"
    );
    assert_eq!(
        fs::read(checkpoint_dir(dir.path()).join("state.json")).unwrap(),
        before
    );
}

/// Damages a checkpoint file, resumes, and checks the error and that the
/// file is still there exactly as damaged.
fn resume_fails_on(damage: impl Fn(&Path), file: &str, expected: &str) {
    let dir = tempfile::tempdir().unwrap();
    half_run(dir.path());
    let path = checkpoint_dir(dir.path()).join(file);
    damage(&path);
    let damaged = fs::read(&path).ok();
    let err = common::trainer(STEPS, 0, dir.path())
        .resume(true)
        .fit(&mut fresh(5), &mut loader(), &mut SeededRng::new(1))
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Checkpoint { .. }), "{msg}");
    assert!(
        msg.contains(expected),
        "`{msg}` should mention `{expected}`"
    );
    assert_eq!(fs::read(&path).ok(), damaged, "the checkpoint was modified");
    assert_eq!(
        checkpoint_dir(dir.path()).file_name().unwrap(),
        "step-000000000004"
    );
}

#[test]
fn truncated_checkpoint_is_reported_and_kept() {
    let truncate = |p: &Path| {
        let bytes = fs::read(p).unwrap();
        fs::write(p, &bytes[..bytes.len() / 2]).unwrap();
    };
    resume_fails_on(truncate, "generator.bpk", "truncated");
    resume_fails_on(truncate, "opt_discriminator.bpk", "truncated");
    resume_fails_on(truncate, "state.json", "unreadable manifest");
}

#[test]
fn corrupt_or_missing_checkpoint_is_reported_and_kept() {
    let flip = |p: &Path| {
        let mut bytes = fs::read(p).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        fs::write(p, bytes).unwrap();
    };
    resume_fails_on(flip, "discriminator.bpk", "corrupt");
    resume_fails_on(
        |p: &Path| fs::remove_file(p).unwrap(),
        "opt_generator.bpk",
        "No such file",
    );
}

/// Rewrites the manifest's JSON.
fn edit_manifest(path: &Path, edit: impl Fn(&mut serde_json::Value)) {
    let mut manifest: serde_json::Value = serde_json::from_slice(&fs::read(path).unwrap()).unwrap();
    edit(&mut manifest);
    fs::write(path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
}

#[test]
fn a_manifest_cannot_point_outside_its_folder() {
    // A part whose file climbs out of the checkpoint (here to the run's
    // config.json, which exists) is refused before anything is opened.
    for file in [
        "../../config.json",
        "/etc/hostname",
        "generator.bpk/../x.bpk",
        "other.bpk",
    ] {
        let escape = |p: &Path| {
            edit_manifest(p, |m| m["parts"][0]["file"] = file.into());
        };
        resume_fails_on(escape, "state.json", "plain `<name>.<extension>` file");
    }
    let twice = |p: &Path| {
        edit_manifest(p, |m| {
            let first = m["parts"][0].clone();
            m["parts"].as_array_mut().unwrap().push(first);
        });
    };
    resume_fails_on(twice, "state.json", "listed twice");
}

#[test]
fn a_manifest_must_agree_with_its_folder_step() {
    let far = |p: &Path| edit_manifest(p, |m| m["step"] = 99_999_999_999u64.into());
    resume_fails_on(far, "state.json", "the folder's name says 4");
}

#[test]
fn a_newer_folder_without_manifest_is_skipped_on_resume() {
    let dir = tempfile::tempdir().unwrap();
    half_run(dir.path());
    let complete = checkpoint_dir(dir.path());
    // A partial copy of a later checkpoint: the parts but no manifest.
    let partial = complete.with_file_name("step-000000000006");
    fs::create_dir(&partial).unwrap();
    for entry in fs::read_dir(&complete).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != "state.json" {
            fs::copy(entry.path(), partial.join(entry.file_name())).unwrap();
        }
    }
    let store = CheckpointStore::new(dir.path().join("checkpoints"), 2);
    assert_eq!(store.latest().unwrap().unwrap().1, complete);
    assert_eq!(store.incomplete().unwrap(), vec![(6, partial.clone())]);
    let outcome = common::trainer(STEPS, 0, dir.path())
        .resume(true)
        .fit(&mut fresh(5), &mut loader(), &mut SeededRng::new(1))
        .unwrap();
    assert_eq!((outcome.start_step, outcome.final_step), (4, STEPS));
    assert!(partial.is_dir(), "the partial folder is left for the user");
}

#[test]
fn a_second_writer_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    half_run(dir.path());
    // Another process's lock: a separate open of the lock file holds it.
    let held = fs::File::open(dir.path().join("train.lock")).unwrap();
    held.try_lock().unwrap();
    let err = common::trainer(STEPS, 0, dir.path())
        .resume(true)
        .fit(&mut fresh(5), &mut loader(), &mut SeededRng::new(1))
        .unwrap_err();
    assert!(matches!(err, Error::Busy { .. }), "{err}");
    assert!(
        err.to_string().contains("another training process"),
        "{err}"
    );
    assert_eq!(
        checkpoint_dir(dir.path()).file_name().unwrap(),
        "step-000000000004"
    );
    // Released (as when its holder exits or is killed): the run goes on.
    drop(held);
    let outcome = common::trainer(STEPS, 0, dir.path())
        .resume(true)
        .fit(&mut fresh(5), &mut loader(), &mut SeededRng::new(1))
        .unwrap();
    assert_eq!(outcome.final_step, STEPS);
}

/// A source that turns to NaN from batch `from` on.
struct Poisoned {
    inner: generative::data::Loader,
    from: u64,
}

impl BatchSource for Poisoned {
    fn batches_per_epoch(&self) -> usize {
        self.inner.batches_per_epoch()
    }

    fn batch(&mut self, index: u64, device: &Device) -> generative::core::Result<Batch> {
        let mut batch = self.inner.batch(index, device)?;
        if index >= self.from {
            let dims = batch.data.dims();
            batch.data = Tensor::from_data(
                TensorData::new(vec![f32::NAN; dims[0] * dims[1]], dims),
                device,
            );
        }
        Ok(batch)
    }
}

#[test]
fn nan_stops_training_and_keeps_the_last_good_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let mut data = Poisoned {
        inner: loader(),
        from: 5,
    };
    let mut diverged = fresh(5);
    let err = common::trainer(10, 2, dir.path())
        .fit(&mut diverged, &mut data, &mut SeededRng::new(1))
        .unwrap_err();
    assert!(matches!(err, Error::NonFinite { step: 5, .. }), "{err}");
    assert!(err.to_string().contains("last good checkpoint is kept"));
    let latest = checkpoint_dir(dir.path());
    assert!(latest.ends_with("step-000000000004"), "{latest:?}");
    // It loads.
    let mut gan = fresh(5);
    CheckpointStore::load(&latest, &mut gan).unwrap();
    // The NaN step changed nothing: both models in memory are those of a
    // straight run of 5 steps (the discriminator's update of step 5 was
    // undone with the generator's).
    let mut straight = fresh(5);
    let other = tempfile::tempdir().unwrap();
    common::trainer(5, 0, other.path())
        .fit(&mut straight, &mut loader(), &mut SeededRng::new(1))
        .unwrap();
    assert_eq!(all_params(&diverged), all_params(&straight));
    assert_eq!(diverged.steps_done(), 5);
}

/// A conditional, spectrally normalised GAN with a penalty and an EMA of G:
/// the EMA weights and the spectral-norm vectors are part of the checkpoint,
/// so a resumed run ends exactly where a straight run does.
#[test]
fn resume_restores_the_ema_and_spectral_state() {
    use generative::gan::GradientPenaltyConfig;
    let training = || {
        GanTrainingConfig::new()
            .with_ema(0.9)
            .with_gradient_penalty(Some(GradientPenaltyConfig::new()))
    };
    let cfg = || {
        common::toy_config()
            .with_num_classes(Some(8))
            .with_spectral_norm(true)
    };
    let gan = |seed| common::toy_gan_with(cfg(), seed, &Device::flex(), training());
    let all = |g: &common::Gan| {
        let mut p = all_params(g);
        p.extend(common::params(&g.sampler()));
        p
    };
    let straight_dir = tempfile::tempdir().unwrap();
    let mut straight = gan(5);
    common::trainer(STEPS, 0, straight_dir.path())
        .fit(&mut straight, &mut loader(), &mut SeededRng::new(1))
        .unwrap();
    let split_dir = tempfile::tempdir().unwrap();
    common::trainer(STEPS / 2, 0, split_dir.path())
        .fit(&mut gan(5), &mut loader(), &mut SeededRng::new(1))
        .unwrap();
    let ckpt = checkpoint_dir(split_dir.path());
    assert!(ckpt.join("generator_ema.bpk").exists());
    assert!(ckpt.join("generator_progress.json").exists());
    let mut resumed = gan(999);
    common::trainer(STEPS, 0, split_dir.path())
        .resume(true)
        .fit(&mut resumed, &mut loader(), &mut SeededRng::new(12345))
        .unwrap();
    let (a, b) = (all(&resumed), all(&straight));
    assert_eq!(a.len(), b.len());
    let first = a.iter().zip(&b).position(|(x, y)| x != y);
    assert_eq!(first, None, "first differing value at {first:?}");
    assert!(
        common::params(&straight.sampler()) != common::params(straight.generator()),
        "the EMA differs from the generator"
    );
}
