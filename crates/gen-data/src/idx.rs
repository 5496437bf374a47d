//! The IDX format of MNIST and Fashion-MNIST (LeCun et al.): a big-endian
//! header, then the data.
//!
//! ```text
//! 0x00 0x00 <type> <rank>   magic: two zero bytes, the element type
//!                           (0x08 = unsigned byte), the number of dimensions
//! <rank> x u32 big-endian   the dimensions
//! prod(dimensions) bytes    the data, row-major
//! ```
//!
//! Everything is validated before anything large is allocated: the magic,
//! the rank, the declared size against the bytes actually present, and the
//! declared size against [`MAX_BYTES`]. Gzipped files are read through a
//! decoder that never buffers more than the header declares.

use std::io::Read;
use std::path::Path;

use flate2::read::GzDecoder;

use crate::error::{Error, Result};

/// The element type this reader supports: unsigned bytes.
pub const TYPE_U8: u8 = 0x08;

/// The largest data size accepted (4 GiB): a header that declares more is
/// rejected before any allocation.
pub const MAX_BYTES: u64 = 4 << 30;

/// An IDX array of unsigned bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxArray {
    /// The dimensions (e.g. `[60000, 28, 28]`).
    pub dims: Vec<usize>,
    /// The data, row-major.
    pub data: Vec<u8>,
}

fn bad(name: &str, reason: impl Into<String>) -> Error {
    Error::Format {
        path: name.into(),
        reason: reason.into(),
    }
}

/// Parses a header from its first bytes; returns the dimensions and the
/// declared data length.
fn parse_header(
    mut read: impl FnMut(&mut [u8]) -> std::io::Result<()>,
    name: &str,
    rank: usize,
) -> Result<(Vec<usize>, u64)> {
    // End of data is truncation; anything else is a corrupt (gzip) stream.
    let truncated = |what: &str, e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            bad(name, format!("truncated: the file ends inside the {what}"))
        } else {
            bad(name, format!("corrupt stream in the {what}: {e}"))
        }
    };
    let mut magic = [0u8; 4];
    read(&mut magic).map_err(|e| truncated("magic number", e))?;
    let found = u32::from_be_bytes(magic);
    let expected = (u32::from(TYPE_U8) << 8) | rank as u32;
    if found != expected {
        let what = if magic[0] != 0 || magic[1] != 0 {
            "not an IDX file".to_string()
        } else if magic[2] != TYPE_U8 {
            format!("element type {:#04x} is not unsigned byte (0x08)", magic[2])
        } else {
            format!("{} dimensions, expected {rank}", magic[3])
        };
        return Err(bad(
            name,
            format!("{what} (magic {found:#010x}, expected {expected:#010x})"),
        ));
    }
    let mut dims = Vec::with_capacity(rank);
    let mut total: u64 = 1;
    for _ in 0..rank {
        let mut b = [0u8; 4];
        read(&mut b).map_err(|e| truncated("header", e))?;
        let d = u32::from_be_bytes(b);
        total = total.saturating_mul(u64::from(d));
        dims.push(d as usize);
    }
    if let Some(k) = dims.iter().position(|&d| d == 0) {
        return Err(bad(
            name,
            format!("the header declares {dims:?}: dimension {k} is 0, so the file holds no data"),
        ));
    }
    if total > MAX_BYTES {
        return Err(bad(
            name,
            format!(
                "the header declares {dims:?} = {total} bytes, over the {MAX_BYTES}-byte limit"
            ),
        ));
    }
    Ok((dims, total))
}

/// Checks that the data present (`found` bytes, of a file or a stream)
/// is what the header declares.
fn check_length(name: &str, dims: &[usize], total: u64, found: usize, holder: &str) -> Result<()> {
    let found = found as u64;
    if found == total {
        return Ok(());
    }
    let problem = if found < total {
        "truncated"
    } else {
        "trailing data"
    };
    Err(bad(
        name,
        format!(
            "{problem}: the header declares {dims:?} = {total} bytes of data, the {holder} holds {found}"
        ),
    ))
}

/// Parses an in-memory IDX file of unsigned bytes with `rank` dimensions.
///
/// # Errors
/// [`Error::Format`] naming `name` for a wrong magic, element type or
/// rank, a truncated header, or a data length that differs from the
/// declared dimensions.
pub fn parse(bytes: &[u8], name: &str, rank: usize) -> Result<IdxArray> {
    let mut cursor = bytes;
    let (dims, total) = parse_header(|buf| cursor.read_exact(buf), name, rank)?;
    check_length(name, &dims, total, cursor.len(), "file")?;
    Ok(IdxArray {
        dims,
        data: cursor.to_vec(),
    })
}

/// Decodes an IDX file held in memory, gzipped or not.
///
/// A gzip stream is decoded without ever buffering more than the header
/// declares (plus one byte, to detect trailing data).
///
/// # Errors
/// [`Error::Format`] as for [`parse`], and for a corrupt gzip stream.
pub fn decode(bytes: &[u8], gzipped: bool, name: &str, rank: usize) -> Result<IdxArray> {
    if !gzipped {
        return parse(bytes, name, rank);
    }
    let mut reader = GzDecoder::new(bytes);
    let (dims, total) = parse_header(|buf| reader.read_exact(buf), name, rank)?;
    let mut data = Vec::with_capacity(total.min(64 << 20) as usize);
    reader
        .take(total + 1)
        .read_to_end(&mut data)
        .map_err(|e| bad(name, format!("corrupt gzip stream: {e}")))?;
    check_length(name, &dims, total, data.len(), "stream")?;
    Ok(IdxArray { dims, data })
}

/// Whether a path names a gzipped file (by its `.gz` extension).
pub fn is_gzipped(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
}

/// Reads an IDX file, raw or gzipped (by its `.gz` extension).
///
/// # Errors
/// [`Error::Io`] when the file cannot be read, [`Error::Format`] as for
/// [`decode`].
pub fn read(path: &Path, rank: usize) -> Result<IdxArray> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode(&bytes, is_gzipped(path), &path.display().to_string(), rank)
}

/// Writes an IDX file of unsigned bytes (for tests and tools).
pub fn encode(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, TYPE_U8, dims.len() as u8];
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(r: Result<IdxArray>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn round_trip() {
        let bytes = encode(&[2, 3], &[1, 2, 3, 4, 5, 6]);
        let a = parse(&bytes, "t", 2).unwrap();
        assert_eq!(a.dims, vec![2, 3]);
        assert_eq!(a.data, vec![1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn every_defect_is_named() {
        let good = encode(&[2, 2], &[0; 4]);
        assert!(msg(parse(&good[..2], "t", 2)).contains("ends inside the magic"));
        assert!(msg(parse(&good[..9], "t", 2)).contains("ends inside the header"));
        assert!(msg(parse(&good[..13], "t", 2)).contains("truncated"));
        let mut long = good.clone();
        long.push(0);
        assert!(msg(parse(&long, "t", 2)).contains("trailing data"));
        assert!(msg(parse(b"PK\x03\x04rest", "t", 2)).contains("not an IDX file"));
        let mut float = good.clone();
        float[2] = 0x0d;
        assert!(msg(parse(&float, "t", 2)).contains("element type 0x0d"));
        assert!(msg(parse(&good, "t", 3)).contains("2 dimensions, expected 3"));
    }

    #[test]
    fn a_zero_dimension_is_rejected() {
        // Five images of 0x28 once reached the loader, which panicked.
        for dims in [[5, 0, 28], [5, 28, 0], [0, 28, 28]] {
            let e = msg(parse(&encode(&dims, &[]), "t", 3));
            assert!(e.contains("is 0") && e.contains("no data"), "{dims:?}: {e}");
        }
    }

    #[test]
    fn huge_declared_sizes_are_rejected_before_allocating() {
        let bytes = encode(&[u32::MAX as usize, 28, 28], &[]);
        let e = msg(parse(&bytes, "t", 3));
        assert!(e.contains("limit"), "{e}");
        // The declared size is checked against the file before reading.
        let bytes = encode(&[100_000, 28, 28], &[0; 10]);
        assert!(msg(parse(&bytes, "t", 3)).contains("truncated"));
    }

    #[test]
    fn gz_and_raw_files() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let bytes = encode(&[3], &[7, 8, 9]);
        let raw = dir.path().join("a-idx1-ubyte");
        std::fs::write(&raw, &bytes).unwrap();
        assert_eq!(read(&raw, 1).unwrap().data, vec![7, 8, 9]);
        let gz = dir.path().join("a-idx1-ubyte.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&bytes).unwrap();
        std::fs::write(&gz, enc.finish().unwrap()).unwrap();
        assert_eq!(read(&gz, 1).unwrap().data, vec![7, 8, 9]);
        // Raw bytes named .gz are a corrupt stream, not a truncated file.
        let not_gz = dir.path().join("plain.gz");
        std::fs::write(&not_gz, &bytes).unwrap();
        assert!(msg(read(&not_gz, 1)).contains("corrupt stream"));
        // A truncated gzip stream.
        let gz_bytes = std::fs::read(&gz).unwrap();
        std::fs::write(&gz, &gz_bytes[..gz_bytes.len() - 12]).unwrap();
        assert!(read(&gz, 1).is_err());
        std::fs::write(&raw, &bytes[..bytes.len() - 1]).unwrap();
        assert!(msg(read(&raw, 1)).contains("truncated"));
        assert!(matches!(
            read(&dir.path().join("missing"), 1),
            Err(Error::Io { .. })
        ));
    }
}
