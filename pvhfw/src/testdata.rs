//! Fixtures captured by `cargo xtask capture --fixtures`, one set per QEMU (see `testdata/`):
//! the tests that use them run over every set in [`QEMUS`].

use crate::fw_cfg::fake::FakeFwCfg;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::string::String;
use std::vec::Vec;

/// The QEMUs the fixtures come from: Debian 12's 7.2 and 10.0 (`testdata/qemu-VERSION/`).
pub const QEMUS: [&str; 2] = ["qemu-7.2", "qemu-10.0"];

fn dir(qemu: &str, variant: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata").join(qemu).join(variant)
}

/// The files of `variant` captured from `qemu` (one of [`QEMUS`]), each at its full size (the
/// stored copies have their trailing zeros trimmed).
pub fn load(qemu: &str, variant: &str) -> BTreeMap<String, Vec<u8>> {
    let dir = dir(qemu, variant);
    let manifest = std::fs::read_to_string(dir.join("files.txt")).expect("fixture manifest");
    manifest
        .lines()
        .map(|line| {
            let (name, size) = line.rsplit_once(' ').expect("name size");
            let mut data = std::fs::read(dir.join(name.replace('/', "_"))).expect("fixture file");
            data.resize(size.parse().expect("size"), 0);
            (name.into(), data)
        })
        .collect()
}

/// A fake fw_cfg publishing the files of `variant` captured from `qemu`.
pub fn fw_cfg(qemu: &str, variant: &str) -> FakeFwCfg {
    let mut f = FakeFwCfg::default();
    for (name, data) in load(qemu, variant) {
        f.add_file(&name, &data);
    }
    f
}
