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
/// A checkpoint being deleted: renamed first, so that a crash mid-delete
/// never leaves a half-removed folder under a checkpoint's name.
const TRASH_SUFFIX: &str = ".trash";

/// Whether `name` is a valid part name: letters, digits, `-` and `_`.
fn valid_part_name(name: &str) -> bool {
    !name.is_empty()
        && name != "state"
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Whether `file` is the file name a writer gives part `name`:
/// `<name>.<extension>`, a plain name inside the checkpoint's folder.
fn valid_part_file(name: &str, file: &str) -> bool {
    file.strip_prefix(name)
        .and_then(|rest| rest.strip_prefix('.'))
        .is_some_and(|ext| !ext.is_empty() && ext.chars().all(|c| c.is_ascii_alphanumeric()))
}

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
        if !valid_part_name(name) || !valid_part_file(name, &format!("{name}.{extension}")) {
            return Err(Error::checkpoint(
                &self.dir,
                format!(
                    "`{name}.{extension}` is not a valid part (a name of letters, digits, - and _; \
                     an extension of letters and digits)"
                ),
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

    /// The step in a checkpoint folder's name (`step-000000000400` is 400).
    pub fn step_of_dir(dir: &Path) -> Option<u64> {
        dir.file_name().and_then(|n| n.to_str()).and_then(step_of)
    }

    /// Complete checkpoints, oldest first, as `(step, directory)`: the
    /// `step-<n>` folders that hold a manifest. A folder without one (a
    /// partial copy, a disk that filled up) is not a checkpoint; see
    /// [`incomplete`](Self::incomplete).
    ///
    /// # Errors
    /// When the folder exists but cannot be listed.
    pub fn list(&self) -> Result<Vec<(u64, PathBuf)>> {
        let mut all = self.step_folders()?;
        all.retain(|(_, dir)| dir.join(MANIFEST).is_file());
        Ok(all)
    }

    /// The `step-<n>` folders that hold no manifest, oldest first: ignored
    /// by [`list`](Self::list), [`latest`](Self::latest) and resume, and
    /// never deleted except by a new checkpoint of the same step.
    ///
    /// # Errors
    /// When the folder exists but cannot be listed.
    pub fn incomplete(&self) -> Result<Vec<(u64, PathBuf)>> {
        let mut all = self.step_folders()?;
        all.retain(|(_, dir)| !dir.join(MANIFEST).is_file());
        Ok(all)
    }

    fn step_folders(&self) -> Result<Vec<(u64, PathBuf)>> {
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
            if let Some(step) = step_of(name)
                && entry.path().is_dir()
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
            remove_checkpoint(&dir)?;
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
                remove_checkpoint(&dir)?;
            }
        }
        // Leftovers of saves and deletions that crashed.
        if let Ok(entries) = fs::read_dir(&self.root) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.starts_with(PREFIX)
                    && (name.ends_with(TMP_SUFFIX) || name.ends_with(TRASH_SUFFIX))
                {
                    let _ = fs::remove_dir_all(entry.path());
                }
            }
        }
        Ok(())
    }

    /// Opens and verifies the manifest of the checkpoint in `dir`.
    ///
    /// The manifest is outside input: its part files must be plain names
    /// inside `dir` (`<part>.<extension>`, so none can point elsewhere on
    /// the machine), and when `dir` is named `step-<n>` its step must be
    /// `n`.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] when the manifest is missing, not JSON, of
    /// another format, names a part file outside the folder or twice, or
    /// disagrees with the folder's step.
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
        for (k, part) in manifest.parts.iter().enumerate() {
            if !valid_part_name(&part.name) || !valid_part_file(&part.name, &part.file) {
                return Err(Error::checkpoint(
                    &path,
                    format!(
                        "part `{}` has file {:?}: a part is a plain `<name>.<extension>` file \
                         inside the checkpoint's folder",
                        part.name.escape_debug(),
                        part.file
                    ),
                ));
            }
            if manifest.parts[..k].iter().any(|p| p.name == part.name) {
                return Err(Error::checkpoint(
                    &path,
                    format!("part `{}` is listed twice", part.name),
                ));
            }
        }
        if let Some(step) = Self::step_of_dir(dir)
            && step != manifest.step
        {
            return Err(Error::checkpoint(
                &path,
                format!(
                    "the manifest says step {}, the folder's name says {step}: \
                     the folder was renamed or the manifest edited",
                    manifest.step
                ),
            ));
        }
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

/// The step of a checkpoint folder's name, `step-<n>` (`n` all digits).
fn step_of(name: &str) -> Option<u64> {
    name.strip_prefix(PREFIX)
        .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|digits| digits.parse().ok())
}

/// Deletes a checkpoint folder: renamed out of the way first (atomic), then
/// removed, so that a crash never leaves part of it under its name.
fn remove_checkpoint(dir: &Path) -> Result<()> {
    let mut trash = dir.as_os_str().to_owned();
    trash.push(TRASH_SUFFIX);
    let trash = PathBuf::from(trash);
    if trash.exists() {
        fs::remove_dir_all(&trash).map_err(|e| Error::io(&trash, e))?;
    }
    fs::rename(dir, &trash).map_err(|e| Error::io(dir, e))?;
    fs::remove_dir_all(&trash).map_err(|e| Error::io(&trash, e))
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
