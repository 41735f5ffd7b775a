//! Fixtures captured from QEMU 7.2 by `cargo xtask capture --fixtures` (see `testdata/`).

use crate::fw_cfg::fake::FakeFwCfg;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::string::String;
use std::vec::Vec;

fn dir(variant: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata").join(variant)
}

/// The captured files of `variant`, each at its full size (the stored copies have their
/// trailing zeros trimmed).
pub fn load(variant: &str) -> BTreeMap<String, Vec<u8>> {
    let manifest = std::fs::read_to_string(dir(variant).join("files.txt")).expect("fixture manifest");
    manifest
        .lines()
        .map(|line| {
            let (name, size) = line.rsplit_once(' ').expect("name size");
            let mut data = std::fs::read(dir(variant).join(name.replace('/', "_"))).expect("fixture file");
            data.resize(size.parse().expect("size"), 0);
            (name.into(), data)
        })
        .collect()
}

/// A fake fw_cfg publishing the captured files of `variant`.
pub fn fw_cfg(variant: &str) -> FakeFwCfg {
    let mut f = FakeFwCfg::default();
    for (name, data) in load(variant) {
        f.add_file(&name, &data);
    }
    f
}
