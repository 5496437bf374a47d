//! The CelebA list files from outside: any `list_attr_celeba.txt` and
//! `list_eval_partition.txt` must open or give a typed error naming the
//! file and line, never a panic.
//!
//! The input is `attributes 0xff partition`; the image folder holds one
//! valid JPEG per row of the fixture (`000001.jpg`, `000002.jpg`).
#![no_main]

use gen_data::celeba::{CelebA, CelebASplit};
use gen_data::Transform;
use generative_fuzz::{scratch, split};
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

fuzz_target!(|data: &[u8]| {
    let (attributes, partition) = split(data);
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    let root = ROOT.get_or_init(|| {
        let root = scratch("celeba");
        gen_data::celeba::write_fixture(&root, 2, 2).unwrap();
        root
    });
    std::fs::write(root.join("list_attr_celeba.txt"), attributes).unwrap();
    std::fs::write(root.join("list_eval_partition.txt"), partition).unwrap();
    let transform = Transform::default();
    for split in [CelebASplit::All, CelebASplit::Train, CelebASplit::Test] {
        let _ = CelebA::new().split(split).open(root, transform.clone());
        let _ = CelebA::new()
            .split(split)
            .label_attribute("Attr_0")
            .open(root, transform.clone());
    }
});
