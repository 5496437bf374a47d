//! Image decoding as the image folders do it (PGM/PPM, PNG, JPEG, BMP, by
//! magic bytes, with size limits): any input must give an image or an
//! error, never a panic or an allocation past the limits.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = gen_data::folder::decode_bytes(data, std::path::Path::new("fuzz.pgm"));
});
