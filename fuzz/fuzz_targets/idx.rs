//! The IDX parser, raw and gzipped, at every rank it is used with: any
//! input must give a value or an error, never a panic or a huge allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for rank in [1, 3] {
        let _ = gen_data::idx::parse(data, "fuzz", rank);
        let _ = gen_data::idx::decode(data, true, "fuzz", rank);
    }
});
