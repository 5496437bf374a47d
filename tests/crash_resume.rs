//! Crash safety, tested by crashing: the quickstart is killed with SIGKILL
//! at random moments (while it starts, trains, and inside checkpoint
//! writes) 30 times in a row, resumed each time. After every kill, every
//! complete checkpoint on disk opens, each part matches its length and
//! CRC, and its weights and random state equal, bit for bit, those of the
//! uninterrupted run's checkpoint of the same step; the newest one never
//! goes back, and each run resumed from the newest complete one. The run
//! finished after the kills ends with weights identical, bit for bit, to
//! the uninterrupted run's (flex).
//!
//! (The files themselves differ between processes: burn names each
//! parameter by a random id. Weights are compared by value.)
//!
//! `cargo test` builds the examples first; this runs the quickstart it built.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use burn::tensor::Device;
use generative::core::{CheckpointStore, SeededRng};
use generative::data::digits;
use generative::gan::MlpGanConfig;

// Far enough that 30 short runs never finish it (they reach 100-150; at
// 200 one run in a few did, and the test stopped there).
const STEPS: u64 = 300;
const KILLS: usize = 30;

fn quickstart() -> PathBuf {
    common::example_binary("quickstart")
}

fn command(out: &Path, steps: u64, keep: usize) -> Command {
    let mut cmd = Command::new(quickstart());
    cmd.args(["--device", "flex", "--checkpoint-every", "1", "--resume"])
        .args([
            "--steps",
            &steps.to_string(),
            "--keep-checkpoints",
            &keep.to_string(),
        ])
        .arg("--out")
        .arg(out)
        .env_remove("GEN_DEVICE")
        .env("RAYON_NUM_THREADS", "2")
        .stdout(Stdio::null());
    cmd
}

/// Runs to the end; returns its wall time.
fn run_to_end(out: &Path, steps: u64, keep: usize) -> Duration {
    let clock = Instant::now();
    let result = command(out, steps, keep)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    clock.elapsed()
}

/// A checkpoint's content that does not depend on the process: the bits of
/// every weight of both networks, and the random generator.
type State = (Vec<u32>, SeededRng);

/// Each complete checkpoint's step and [`State`], with every part verified
/// against its length and CRC.
fn verified(out: &Path) -> BTreeMap<u64, State> {
    // The quickstart's networks.
    let config = MlpGanConfig::new(digits::PIXELS)
        .with_latent_dim(32)
        .with_generator_hidden(vec![128, 256])
        .with_discriminator_hidden(vec![256, 128]);
    let device = Device::flex();
    let store = CheckpointStore::new(out.join("checkpoints"), 2);
    let mut found = BTreeMap::new();
    for (step, dir) in store.list().unwrap() {
        let reader = CheckpointStore::open(&dir)
            .unwrap_or_else(|e| panic!("a complete checkpoint does not open: {e}"));
        for part in &reader.manifest().parts {
            reader
                .bytes(&part.name)
                .unwrap_or_else(|e| panic!("a complete checkpoint is damaged: {e}"));
        }
        let g = reader
            .module("generator", config.init_generator(&device).unwrap())
            .unwrap();
        let d = reader
            .module("discriminator", config.init_discriminator(&device).unwrap())
            .unwrap();
        let mut bits: Vec<u32> = common::params(&g).iter().map(|v| v.to_bits()).collect();
        bits.extend(common::params(&d).iter().map(|v| v.to_bits()));
        found.insert(step, (bits, reader.manifest().rng.clone()));
    }
    found
}

#[test]
fn killed_thirty_times_it_resumes_and_ends_bit_identical() {
    let tmp = tempfile::tempdir().unwrap();
    // The uninterrupted run, keeping every checkpoint to compare with.
    let reference = tmp.path().join("reference");
    let wall = run_to_end(&reference, STEPS, usize::MAX);
    let expected = verified(&reference);
    assert_eq!(expected.len() as u64, STEPS);
    let startup = run_to_end(&tmp.path().join("one-step"), 1, 2);
    let per_step = wall.saturating_sub(startup).as_secs_f64() / STEPS as f64;
    // Kills from mid-start-up to a few steps in: each run gets a little
    // further on average, and most kills land inside a checkpoint write.
    let (low, high) = (
        startup.as_secs_f64() * 0.5,
        startup.as_secs_f64() + 6.0 * per_step,
    );

    let out = tmp.path().join("crashed");
    let mut rng = SeededRng::new(2024);
    let (mut newest, mut inside_writes, mut resumes) = (0u64, 0usize, 0usize);
    let mut writes_seen = std::collections::BTreeSet::new();
    for kill in 0..KILLS {
        let delay = low + (high - low) * rng.uniform_vec(1, 0.0, 1.0)[0] as f64;
        let log = fs::File::create(tmp.path().join("child.log")).unwrap();
        let mut child = command(&out, STEPS, 2).stderr(log).spawn().unwrap();
        std::thread::sleep(Duration::from_secs_f64(delay));
        if let Some(status) = child.try_wait().unwrap() {
            let log = fs::read_to_string(tmp.path().join("child.log")).unwrap();
            panic!("run {kill} ended ({status}) before its kill at {delay:.3} s: {log}");
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // It resumed from the newest complete checkpoint (when it got that
        // far before the kill).
        let log = fs::read_to_string(tmp.path().join("child.log")).unwrap();
        if let Some(line) = log.lines().find(|l| l.starts_with("resuming from step ")) {
            let from: u64 = line["resuming from step ".len()..]
                .split(' ')
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("kill {kill}: `{line}`"));
            assert_eq!(
                from, newest,
                "kill {kill}: resumed from an older checkpoint"
            );
            resumes += 1;
        }

        // A write cut by this kill leaves a folder not seen before.
        let on_disk = fs::read_dir(out.join("checkpoints"))
            .into_iter()
            .flatten()
            .flatten();
        let cut: Vec<_> = on_disk
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".tmp"))
            .collect();
        if cut
            .into_iter()
            .filter(|name| writes_seen.insert(name.clone()))
            .count()
            > 0
        {
            inside_writes += 1;
        }
        let found = verified(&out);
        for (step, state) in &found {
            assert!(
                Some(state) == expected.get(step),
                "kill {kill}: the checkpoint of step {step} differs from the uninterrupted run's"
            );
        }
        let latest = found.keys().next_back().copied().unwrap_or(0);
        assert!(
            latest >= newest,
            "kill {kill}: the newest checkpoint went from {newest} to {latest}"
        );
        newest = latest;
    }
    assert!(
        newest < STEPS,
        "the run finished within the kills: raise STEPS"
    );
    eprintln!(
        "{KILLS} kills, {inside_writes} inside a checkpoint write, {resumes} resumes checked, \
         reached step {newest} of {STEPS} (start-up {:.2} s, {:.1} ms a step)",
        startup.as_secs_f64(),
        per_step * 1e3
    );
    assert!(
        inside_writes > 0,
        "no kill landed inside a checkpoint write"
    );
    assert!(resumes > 0, "no run got as far as resuming before its kill");

    run_to_end(&out, STEPS, 2);
    let finished = verified(&out);
    let (step, state) = finished.iter().next_back().unwrap();
    assert_eq!(*step, STEPS);
    assert!(
        Some(state) == expected.get(&STEPS),
        "the final weights differ from the uninterrupted run's"
    );
}
