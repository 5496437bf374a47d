//! Checkpoints: everything needed to continue a run, written atomically.
//!
//! A checkpoint is a directory `step-<12 digits>` under a run's
//! `checkpoints/` folder:
//!
//! ```text
//! checkpoints/step-000000000400/
//!     state.json        manifest: format, step, RNG state, run config, and
//!                       the byte length and CRC-32 of every part
//!     generator.bpk     one burnpack file per module (burn's record format)
//!     opt_generator.bpk one per optimizer state
//! ```
//!
//! It is first written as `step-<n>.tmp`, every file flushed to disk, and
//! then renamed: a crash mid-save leaves at most a `.tmp` folder, which is
//! ignored and later removed, and the previous checkpoint is never touched
//! before the new one is complete. A part whose length or checksum does not
//! match the manifest is reported as truncated or corrupt, never loaded.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::rng::SeededRng;
use crate::train::Stateful;

/// The manifest's format tag; bumped on incompatible changes.
///
/// Version 2 (the shared optimisation layer): every trained module is saved
/// under the names of its [`Parts`](crate::optim::Parts), with its update
/// count; version 1 checkpoints (one ad hoc layout per family) are refused
/// with an error that says so.
pub const FORMAT: &str = "gen-checkpoint/2";
const MANIFEST: &str = "state.json";
const PREFIX: &str = "step-";
const TMP_SUFFIX: &str = ".tmp";

/// One file of a checkpoint, as listed in its manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// The name the model gave the part (`generator`, `opt_generator`...).
    pub name: String,
    /// The file name inside the checkpoint directory.
    pub file: String,
    /// Its length in bytes.
    pub bytes: u64,
    /// Its CRC-32.
    pub crc32: u32,
}

/// The manifest of a checkpoint (`state.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// The number of steps completed when the checkpoint was taken.
    pub step: u64,
    /// The trainer's random generator, to continue its stream.
    pub rng: SeededRng,
    /// The run's configuration, as given to the trainer.
    pub run_config: serde_json::Value,
    /// The files that hold the model state.
    pub parts: Vec<Part>,
}

/// Writes the parts of a model's state into a checkpoint being built.
///
/// Handed to [`Stateful::save_state`].
#[derive(Debug)]
pub struct StateWriter {
    dir: PathBuf,
    parts: Vec<Part>,
}

impl StateWriter {
    fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            parts: Vec::new(),
        }
    }

    /// Saves a module's parameters (burn record, burnpack format).
    ///
    /// # Errors
    /// When the record cannot be serialised or written.
    pub fn module<M: Module>(&mut self, name: &str, module: &M) -> Result<()> {
        let bytes =
            module.clone().into_record().into_bytes().map_err(|e| {
                Error::checkpoint(&self.dir, format!("cannot serialise `{name}`: {e}"))
            })?;
        self.bytes(name, "bpk", &bytes)
    }

    /// Saves an optimizer's state (burn's optimizer record).
    ///
    /// # Errors
    /// When the record cannot be serialised or written.
    pub fn optimizer(&mut self, name: &str, optimizer: &ModuleOptimizer) -> Result<()> {
        let bytes = optimizer
            .into_bytes()
            .map_err(|e| Error::checkpoint(&self.dir, format!("cannot serialise `{name}`: {e}")))?;
        self.bytes(name, "bpk", &bytes)
    }

    /// Saves any serialisable value as JSON.
    ///
    /// # Errors
    /// When the value cannot be serialised or written.
    pub fn json<T: Serialize>(&mut self, name: &str, value: &T) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(value)
            .map_err(|e| Error::checkpoint(&self.dir, format!("cannot serialise `{name}`: {e}")))?;
        self.bytes(name, "json", &bytes)
    }

    /// Saves raw bytes as `<name>.<extension>`.
    ///
    /// # Errors
    /// When the name is not a plain file name, is used twice, or the file
    /// cannot be written.
    pub fn bytes(&mut self, name: &str, extension: &str, bytes: &[u8]) -> Result<()> {
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid || name == "state" {
            return Err(Error::checkpoint(
                &self.dir,
                format!("`{name}` is not a valid part name (use letters, digits, - and _)"),
            ));
        }
        if self.parts.iter().any(|p| p.name == name) {
            return Err(Error::checkpoint(
                &self.dir,
                format!("part `{name}` written twice"),
            ));
        }
        let file = format!("{name}.{extension}");
        write_synced(&self.dir.join(&file), bytes)?;
        self.parts.push(Part {
            name: name.to_string(),
            file,
            bytes: bytes.len() as u64,
            crc32: crc32fast::hash(bytes),
        });
        Ok(())
    }
}

/// Reads the parts of a model's state from a verified checkpoint.
///
/// Handed to [`Stateful::load_state`].
#[derive(Debug)]
pub struct StateReader {
    dir: PathBuf,
    manifest: Manifest,
}

impl StateReader {
    /// The checkpoint's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The checkpoint's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the checkpoint has a part of this name.
    pub fn has(&self, name: &str) -> bool {
        self.manifest.parts.iter().any(|p| p.name == name)
    }

    /// Reads a part's bytes, checking its length and checksum.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] when the part is not listed, missing, truncated
    /// or corrupt.
    pub fn bytes(&self, name: &str) -> Result<Vec<u8>> {
        let part = self
            .manifest
            .parts
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| Error::checkpoint(&self.dir, format!("has no part `{name}`")))?;
        let path = self.dir.join(&part.file);
        let bytes = fs::read(&path).map_err(|e| Error::checkpoint(&path, e.to_string()))?;
        if bytes.len() as u64 != part.bytes {
            return Err(Error::checkpoint(
                &path,
                format!(
                    "truncated or altered: {} bytes, the manifest says {}",
                    bytes.len(),
                    part.bytes
                ),
            ));
        }
        if crc32fast::hash(&bytes) != part.crc32 {
            return Err(Error::checkpoint(
                &path,
                "corrupt: its CRC-32 does not match the manifest",
            ));
        }
        Ok(bytes)
    }

    /// Loads a module's parameters into `module` and returns it.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] when the part is unreadable or does not fit the
    /// module (missing parameters, wrong shapes).
    pub fn module<M: Module>(&self, name: &str, module: M) -> Result<M> {
        let bytes = self.bytes(name)?;
        let path = self.dir.join(format!("{name}.bpk"));
        let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes))
            .map_err(|e| Error::checkpoint(&path, format!("not a module record: {e}")))?;
        module
            .try_load_record(record)
            .map_err(|e| Error::checkpoint(&path, format!("does not fit the model: {e}")))
    }

    /// Loads an optimizer's state into `optimizer` and returns it.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] when the part is unreadable.
    pub fn optimizer(&self, name: &str, optimizer: ModuleOptimizer) -> Result<ModuleOptimizer> {
        let bytes = self.bytes(name)?;
        let path = self.dir.join(format!("{name}.bpk"));
        optimizer
            .from_bytes(Bytes::from_bytes_vec(bytes))
            .map_err(|e| Error::checkpoint(&path, format!("not an optimizer record: {e}")))
    }

    /// Reads a JSON part.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] when the part is unreadable or not the expected
    /// JSON.
    pub fn json<T: DeserializeOwned>(&self, name: &str) -> Result<T> {
        let bytes = self.bytes(name)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::checkpoint(self.dir.join(format!("{name}.json")), e.to_string()))
    }
}

/// The checkpoints of one run: saving, listing, pruning and loading.
#[derive(Clone, Debug)]
pub struct CheckpointStore {
    root: PathBuf,
    keep: usize,
}

impl CheckpointStore {
    /// The checkpoints under `root`, keeping the newest `keep` (at least 1).
    pub fn new(root: impl Into<PathBuf>, keep: usize) -> Self {
        Self {
            root: root.into(),
            keep: keep.max(1),
        }
    }

    /// The folder that holds the checkpoints.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Complete checkpoints, oldest first, as `(step, directory)`.
    ///
    /// # Errors
    /// When the folder exists but cannot be listed.
    pub fn list(&self) -> Result<Vec<(u64, PathBuf)>> {
        let entries = match fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&self.root, e)),
        };
        let mut found = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&self.root, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(step) = name
                .strip_prefix(PREFIX)
                .and_then(|s| s.parse::<u64>().ok())
            {
                found.push((step, entry.path()));
            }
        }
        found.sort();
        Ok(found)
    }

    /// The newest complete checkpoint.
    ///
    /// # Errors
    /// When the folder cannot be listed.
    pub fn latest(&self) -> Result<Option<(u64, PathBuf)>> {
        Ok(self.list()?.pop())
    }

    /// Writes a checkpoint of `state` at `step`, atomically, then prunes
    /// older checkpoints beyond the number to keep. Returns its directory.
    ///
    /// # Errors
    /// When a file cannot be written; the previous checkpoints are then
    /// untouched.
    pub fn save<S: Stateful + ?Sized>(
        &self,
        step: u64,
        rng: &SeededRng,
        run_config: &serde_json::Value,
        state: &S,
    ) -> Result<PathBuf> {
        fs::create_dir_all(&self.root).map_err(|e| Error::io(&self.root, e))?;
        let name = format!("{PREFIX}{step:012}");
        let tmp = self.root.join(format!("{name}{TMP_SUFFIX}"));
        let dir = self.root.join(&name);
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        }
        fs::create_dir(&tmp).map_err(|e| Error::io(&tmp, e))?;

        let mut writer = StateWriter::new(tmp.clone());
        state.save_state(&mut writer)?;
        let manifest = Manifest {
            format: FORMAT.to_string(),
            step,
            rng: rng.clone(),
            run_config: run_config.clone(),
            parts: writer.parts,
        };
        let json = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| Error::checkpoint(&tmp, e.to_string()))?;
        write_synced(&tmp.join(MANIFEST), &json)?;
        sync_dir(&tmp)?;

        if dir.exists() {
            // A stale checkpoint at the same step (an earlier run that went
            // further was resumed from an older point): replace it.
            fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        }
        fs::rename(&tmp, &dir).map_err(|e| Error::io(&dir, e))?;
        sync_dir(&self.root)?;
        self.prune(step)?;
        Ok(dir)
    }

    fn prune(&self, just_written: u64) -> Result<()> {
        let all = self.list()?;
        let excess = all.len().saturating_sub(self.keep);
        for (step, dir) in all.into_iter().take(excess) {
            if step != just_written {
                fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            }
        }
        // Leftovers of saves that crashed.
        if let Ok(entries) = fs::read_dir(&self.root) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.starts_with(PREFIX) && name.ends_with(TMP_SUFFIX) {
                    let _ = fs::remove_dir_all(entry.path());
                }
            }
        }
        Ok(())
    }

    /// Opens and verifies the manifest of the checkpoint in `dir`.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] when the manifest is missing, not JSON, or of
    /// another format.
    pub fn open(dir: &Path) -> Result<StateReader> {
        let path = dir.join(MANIFEST);
        let bytes = fs::read(&path).map_err(|e| Error::checkpoint(&path, e.to_string()))?;
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::checkpoint(&path, format!("unreadable manifest: {e}")))?;
        // The format first: another version's manifest may not parse.
        let format = value.get("format").and_then(|f| f.as_str()).unwrap_or("");
        if format == "gen-checkpoint/1" {
            return Err(Error::checkpoint(
                &path,
                format!(
                    "format `gen-checkpoint/1` was written by an earlier version of this library, \
                     whose parts are laid out differently; it cannot be resumed or loaded by this \
                     one (`{FORMAT}`): train again, or use the version that wrote it"
                ),
            ));
        }
        if format != FORMAT {
            return Err(Error::checkpoint(
                &path,
                format!("format `{format}`, expected `{FORMAT}`"),
            ));
        }
        let manifest: Manifest = serde_json::from_value(value)
            .map_err(|e| Error::checkpoint(&path, format!("unreadable manifest: {e}")))?;
        Ok(StateReader {
            dir: dir.to_path_buf(),
            manifest,
        })
    }

    /// Loads the checkpoint in `dir` into `state` and returns its manifest.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] when any part is missing, truncated or corrupt;
    /// nothing on disk is changed.
    pub fn load<S: Stateful + ?Sized>(dir: &Path, state: &mut S) -> Result<Manifest> {
        let reader = Self::open(dir)?;
        state.load_state(&reader)?;
        Ok(reader.manifest)
    }
}

/// Writes a file and flushes it to disk.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = fs::File::create(path).map_err(|e| Error::io(path, e))?;
    f.write_all(bytes).map_err(|e| Error::io(path, e))?;
    f.sync_all().map_err(|e| Error::io(path, e))
}

/// Writes a file atomically: a temporary file in the same folder, flushed,
/// then renamed over the target.
///
/// # Errors
/// When the folder is not writable.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(TMP_SUFFIX);
    let tmp = PathBuf::from(tmp);
    write_synced(&tmp, bytes)?;
    fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

fn sync_dir(dir: &Path) -> Result<()> {
    // Directory fsync makes the rename durable on Linux; elsewhere opening a
    // directory may fail, which is harmless.
    if let Ok(f) = fs::File::open(dir) {
        let _ = f.sync_all();
    }
    Ok(())
}
