//! Downloading MNIST and Fashion-MNIST into a cache folder (the `download`
//! feature; nothing here is compiled without it).
//!
//! Only files that are missing (or fail their checksum) are fetched. Each
//! is streamed into `<name>.part` in the cache folder while its sha256 is
//! computed, flushed to disk, checked against the published checksum and
//! only then renamed to its final name: an interrupted or corrupted
//! download never leaves a file under the real name, and a `.part` file is
//! removed on every error.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::mnist::{IdxKind, hex, sha256_hex};

/// The public mirror each dataset is fetched from by default.
pub fn default_base_url(kind: IdxKind) -> &'static str {
    match kind {
        IdxKind::Mnist => "https://ossci-datasets.s3.amazonaws.com/mnist/",
        IdxKind::FashionMnist => "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    }
}

/// Where and how to download.
#[derive(Clone, Debug)]
pub struct Downloader {
    base_url: String,
    cache_dir: PathBuf,
    progress: bool,
    timeout: Duration,
}

impl Downloader {
    /// Downloads from `base_url` (ending in `/`, or one is added) into
    /// `cache_dir`.
    pub fn new(base_url: impl Into<String>, cache_dir: impl Into<PathBuf>) -> Self {
        let mut base_url = base_url.into();
        if !base_url.ends_with('/') {
            base_url.push('/');
        }
        Self {
            base_url,
            cache_dir: cache_dir.into(),
            progress: true,
            timeout: Duration::from_secs(300),
        }
    }

    /// Shows (or hides) a progress bar per file.
    #[must_use]
    pub fn progress(mut self, progress: bool) -> Self {
        self.progress = progress;
        self
    }

    /// The time allowed for one file.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Makes sure the four files of `kind` are in the cache folder with
    /// their published checksums, downloading the ones that are not, and
    /// returns the folder (ready for [`IdxImages::load`](crate::IdxImages::load)).
    ///
    /// # Errors
    /// [`Error::Download`] when a request fails or is cut short,
    /// [`Error::Checksum`] when the bytes received are not the published
    /// ones, [`Error::Io`] when the cache is not writable.
    pub fn fetch_idx(&self, kind: IdxKind) -> Result<PathBuf> {
        for file in kind.files() {
            let name = format!("{}.gz", file.name);
            self.fetch(&name, file.gz_sha256)?;
        }
        Ok(self.cache_dir.clone())
    }

    /// Downloads `<base_url><name>` to `<cache_dir>/<name>` unless a file
    /// with the expected sha256 is already there; returns its path.
    ///
    /// # Errors
    /// As [`fetch_idx`](Self::fetch_idx).
    pub fn fetch(&self, name: &str, sha256: &str) -> Result<PathBuf> {
        let dest = self.cache_dir.join(name);
        if let Ok(bytes) = fs::read(&dest)
            && sha256_hex(&bytes) == sha256
        {
            return Ok(dest);
        }
        fs::create_dir_all(&self.cache_dir).map_err(|e| Error::io(&self.cache_dir, e))?;
        let part = self.cache_dir.join(format!("{name}.part"));
        let url = format!("{}{name}", self.base_url);
        let result = self.stream(&url, &part, sha256);
        match result {
            Ok(()) => {
                fs::rename(&part, &dest).map_err(|e| Error::io(&dest, e))?;
                Ok(dest)
            }
            Err(e) => {
                let _ = fs::remove_file(&part);
                Err(e)
            }
        }
    }

    /// Streams `url` into `part`, hashing as it goes, and checks the hash.
    fn stream(&self, url: &str, part: &Path, sha256: &str) -> Result<()> {
        let fail = |reason: String| Error::Download {
            url: url.to_string(),
            reason,
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(self.timeout))
            .build()
            .into();
        let mut response = agent.get(url).call().map_err(|e| fail(e.to_string()))?;
        let expected_len = response.body().content_length();
        let bar = if self.progress {
            let bar = ProgressBar::new(expected_len.unwrap_or(0));
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec})",
                )
                .expect("valid template"),
            );
            bar.set_message(url.rsplit('/').next().unwrap_or(url).to_string());
            bar
        } else {
            ProgressBar::hidden()
        };
        let mut reader = response.body_mut().as_reader();
        let mut file = File::create(part).map_err(|e| Error::io(part, e))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut received: u64 = 0;
        loop {
            let n = reader
                .read(&mut buf)
                .map_err(|e| fail(format!("connection lost after {received} bytes: {e}")))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            file.write_all(&buf[..n]).map_err(|e| Error::io(part, e))?;
            received += n as u64;
            bar.set_position(received);
        }
        bar.finish_and_clear();
        if let Some(len) = expected_len
            && received != len
        {
            return Err(fail(format!("received {received} of {len} bytes")));
        }
        file.sync_all().map_err(|e| Error::io(part, e))?;
        let found = hex(&hasher.finalize());
        if found != sha256 {
            return Err(Error::Checksum {
                path: url.into(),
                expected: sha256.to_string(),
                found,
            });
        }
        Ok(())
    }
}
