//! Debian 12's `swtpm`, a software TPM 2.0 for QEMU's `-tpmdev emulator`: fetched with apt
//! into the work directory, and started with fresh state for each measured boot (the tests'
//! and the benchmark's).

use crate::debian::Release;
use crate::{work_dir, Result};
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// `swtpm`, unpacked once with the libraries it needs beyond the host's.
pub fn binary() -> Result<PathBuf> {
    let root = work_dir().join("swtpm/root");
    let bin = root.join("usr/bin/swtpm");
    if bin.exists() {
        return Ok(bin);
    }
    eprintln!("xtask: fetching Debian 12's swtpm");
    std::fs::create_dir_all(&root)?;
    let apt = Release::Bookworm.apt()?;
    for pkg in ["swtpm", "swtpm-libs", "libtpms0"] {
        apt.unpack(pkg, &root)?;
    }
    Ok(bin)
}

/// A running `swtpm` with fresh state in `dir`; stopped when dropped.
pub struct Swtpm {
    child: Child,
    pub socket: PathBuf,
}

impl Swtpm {
    pub fn start(bin: &Path, dir: &Path) -> Result<Swtpm> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir)?;
        let socket = dir.join("sock");
        let root = bin.parent().and_then(Path::parent).context("swtpm's tree")?;
        let libs = format!("{0}/lib/x86_64-linux-gnu:{0}/lib/x86_64-linux-gnu/swtpm", root.display());
        let child = Command::new(bin)
            .args(["socket", "--tpm2", "--tpmstate"])
            .arg(format!("dir={}", dir.display()))
            .arg("--ctrl")
            .arg(format!("type=unixio,path={}", socket.display()))
            .env("LD_LIBRARY_PATH", libs)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting swtpm")?;
        for _ in 0..200 {
            if socket.exists() {
                return Ok(Swtpm { child, socket });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        bail!("swtpm made no socket in {}", dir.display())
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
