//! The `download` feature against an HTTP server this test starts on
//! 127.0.0.1: a good download, a connection cut midway, wrong bytes, a
//! missing file, and (when ../shared/data/mnist is present) real MNIST.
#![cfg(feature = "download")]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use gen_data::download::Downloader;
use gen_data::mnist::sha256_hex;
use gen_data::{Error, IdxImages, IdxKind, Split, Verify};

/// How the server answers for one path.
#[derive(Clone)]
enum Reply {
    Whole(Vec<u8>),
    /// Announces the whole length, sends half, closes.
    CutAtHalf(Vec<u8>),
}

/// A one-thread HTTP/1.1 server on 127.0.0.1 that answers `count`
/// connections, then stops. Returns its base URL and a request counter.
fn serve(files: HashMap<String, Reply>, count: usize) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(count) {
            let Ok(mut stream) = stream else { continue };
            stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            // Drain the headers.
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            seen.fetch_add(1, Ordering::SeqCst);
            let path = request
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .trim_start_matches('/');
            match files.get(path) {
                Some(Reply::Whole(body)) => {
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(head.as_bytes());
                    let _ = stream.write_all(body);
                }
                Some(Reply::CutAtHalf(body)) => {
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(head.as_bytes());
                    let _ = stream.write_all(&body[..body.len() / 2]);
                }
                None => {
                    let _ = stream.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                }
            }
            let _ = stream.flush();
        }
    });
    (url, hits)
}

/// A generated, gzipped IDX file of 250 images 28x28, standing in for
/// MNIST where ../shared/data is absent.
fn payload() -> Vec<u8> {
    use std::io::Write;
    let pixels: Vec<u8> = (0..250 * 784u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&gen_data::idx::encode(&[250, 28, 28], &pixels))
        .unwrap();
    gz.finish().unwrap()
}

fn leftovers(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn good_download_is_verified_and_cached() {
    let body = payload();
    let sha = sha256_hex(&body);
    let name = "images-idx3-ubyte.gz";
    let files = HashMap::from([(name.to_string(), Reply::Whole(body.clone()))]);
    let (url, hits) = serve(files, 4);
    let cache = tempfile::tempdir().unwrap();
    let dl = Downloader::new(url, cache.path()).progress(false);
    let path = dl.fetch(name, &sha).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), body);
    assert_eq!(
        gen_data::idx::read(&path, 3).unwrap().dims,
        vec![250, 28, 28]
    );
    // Already there with the right checksum: no second request.
    dl.fetch(name, &sha).unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert_eq!(leftovers(cache.path()), vec![name.to_string()]);
}

#[test]
fn connection_cut_midway_leaves_nothing() {
    let body = payload();
    let sha = sha256_hex(&body);
    let files = HashMap::from([("data.bin".to_string(), Reply::CutAtHalf(body))]);
    let (url, _) = serve(files, 4);
    let cache = tempfile::tempdir().unwrap();
    let err = Downloader::new(url, cache.path())
        .progress(false)
        .fetch("data.bin", &sha)
        .unwrap_err();
    assert!(matches!(err, Error::Download { .. }), "{err}");
    assert!(
        leftovers(cache.path()).is_empty(),
        "{:?}",
        leftovers(cache.path())
    );
}

#[test]
fn wrong_bytes_are_rejected_and_removed() {
    let body = payload();
    let files = HashMap::from([("data.bin".to_string(), Reply::Whole(body))]);
    let (url, _) = serve(files, 4);
    let cache = tempfile::tempdir().unwrap();
    let err = Downloader::new(url, cache.path())
        .progress(false)
        .fetch("data.bin", &"0".repeat(64))
        .unwrap_err();
    assert!(matches!(err, Error::Checksum { .. }), "{err}");
    assert!(leftovers(cache.path()).is_empty());
}

#[test]
fn missing_file_is_a_download_error() {
    let (url, _) = serve(HashMap::new(), 2);
    let cache = tempfile::tempdir().unwrap();
    let err = Downloader::new(url, cache.path())
        .progress(false)
        .fetch("nope.gz", &"0".repeat(64))
        .unwrap_err()
        .to_string();
    assert!(err.contains("nope.gz") && err.contains("404"), "{err}");
}

/// ../shared/data/mnist, from the workspace root, when present.
fn shared_mnist() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/mnist");
    dir.join("train-labels-idx1-ubyte.gz")
        .is_file()
        .then_some(dir)
}

#[test]
fn real_mnist_through_the_server_when_present() {
    let Some(dir) = shared_mnist() else {
        eprintln!("../shared/data/mnist not present: served MNIST not tested");
        return;
    };
    let files: HashMap<String, Reply> = IdxKind::Mnist
        .files()
        .iter()
        .map(|f| {
            let name = format!("{}.gz", f.name);
            (
                name.clone(),
                Reply::Whole(std::fs::read(dir.join(&name)).unwrap()),
            )
        })
        .collect();
    let (url, _) = serve(files, 8);
    let cache = tempfile::tempdir().unwrap();
    let got = Downloader::new(url, cache.path())
        .progress(false)
        .fetch_idx(IdxKind::Mnist)
        .unwrap();
    let test = IdxImages::load(IdxKind::Mnist, got, Split::Test, Verify::Strict).unwrap();
    assert_eq!(test.len(), 10_000);
}
