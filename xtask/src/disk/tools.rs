//! The programs that build the test disks: `sfdisk` (package `fdisk`), `mke2fs` (`e2fsprogs`),
//! `mkfs.fat` (`dosfstools`), `mmd` and `mcopy` (`mtools`). A fresh Debian 12 has `e2fsprogs`
//! (priority required) and usually `fdisk` (important), but not `dosfstools` or `mtools`
//! (optional). Each program comes from the system when it has it; otherwise its package (and
//! the libraries it links that a minimal system may lack) is fetched with `apt-get download`
//! through the private bookworm configuration and extracted under `target/xtask/disk-tools/`,
//! so that the machine stays as it was.

use crate::debian::Release;
use crate::{work_dir, Result};
use anyhow::{bail, Context};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

/// Each program and the Debian 12 package that ships it.
const PROGRAMS: [(&str, &str); 5] =
    [("sfdisk", "fdisk"), ("mke2fs", "e2fsprogs"), ("mkfs.fat", "dosfstools"), ("mmd", "mtools"), ("mcopy", "mtools")];

/// Libraries a package's programs link that are not part of every Debian 12 system (the rest,
/// libc, libuuid, libblkid, libtinfo, come with its required packages).
fn libraries(package: &str) -> &'static [&'static str] {
    match package {
        "fdisk" => &["libfdisk1", "libsmartcols1", "libreadline8"],
        "e2fsprogs" => &["libext2fs2", "libe2p2", "libcom-err2", "libss2"],
        _ => &[],
    }
}

/// Where the programs were found.
#[derive(Clone, Debug)]
pub struct Tools {
    paths: Vec<(&'static str, PathBuf)>,
}

/// Found once per process: tests build disks from several threads.
static FOUND: Mutex<Option<Tools>> = Mutex::new(None);

impl Tools {
    /// The programs, fetching those the system lacks (once).
    pub fn get() -> Result<Tools> {
        let mut found = FOUND.lock().expect("no poisoning");
        if let Some(t) = &*found {
            return Ok(t.clone());
        }
        let mut paths = Vec::new();
        for (program, package) in PROGRAMS {
            let path = match on_system(program) {
                Some(p) => p,
                None => extracted(program, package)?,
            };
            paths.push((program, path));
        }
        let tools = Tools { paths };
        *found = Some(tools.clone());
        Ok(tools)
    }

    /// A command running `program`, with the extracted libraries ahead of the system's when
    /// it was extracted.
    pub fn command(&self, program: &str) -> Command {
        let path = self.paths.iter().find(|(p, _)| *p == program).map(|(_, path)| path.clone());
        let path = path.unwrap_or_else(|| panic!("{program} is not one of the disk tools"));
        let mut c = Command::new(&path);
        if path.starts_with(tree()) {
            c.env("LD_LIBRARY_PATH", library_path());
            // The package's own defaults, should the system have no /etc/mke2fs.conf.
            c.env("MKE2FS_CONFIG", tree().join("etc/mke2fs.conf"));
        }
        c
    }
}

/// `program` in `PATH` or the sbin directories (which a user's `PATH` may lack).
fn on_system(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path).chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from));
    dirs.map(|d| d.join(program)).find(|p| p.is_file())
}

/// The tree the packages are extracted into.
fn tree() -> PathBuf {
    work_dir().join("disk-tools")
}

fn library_path() -> String {
    let t = tree();
    [t.join("usr/lib/x86_64-linux-gnu"), t.join("lib/x86_64-linux-gnu")].map(|d| d.display().to_string()).join(":")
}

/// `program` from `package` extracted under [`tree`], fetching the package and its libraries
/// when it is not there yet.
fn extracted(program: &str, package: &str) -> Result<PathBuf> {
    if let Some(p) = in_tree(program) {
        return Ok(p);
    }
    eprintln!("xtask: fetching {package} for the test disks (the system has no {program})");
    let apt = Release::Bookworm.apt()?;
    for pkg in std::iter::once(package).chain(libraries(package).iter().copied()) {
        apt.unpack(pkg, &tree()).with_context(|| format!("fetching {pkg}"))?;
    }
    match in_tree(program) {
        Some(p) => Ok(p),
        None => bail!("{package} has no {program}"),
    }
}

fn in_tree(program: &str) -> Option<PathBuf> {
    let t = tree();
    ["usr/sbin", "sbin", "usr/bin", "bin"].iter().map(|d| t.join(d).join(program)).find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::Checked;

    /// The path a fresh machine takes: each package fetched and extracted, and its program
    /// run from the tree with the extracted libraries. Needs the network and apt (as root):
    /// `cargo test -p xtask -- --ignored extracted`.
    #[test]
    #[ignore]
    fn extracted_programs_run() {
        for (program, package) in PROGRAMS {
            let path = extracted(program, package).unwrap();
            let tools = Tools { paths: vec![(program, path)] };
            let arg = match program {
                "mke2fs" => "-V",
                "mkfs.fat" => "--help",
                _ => "--version",
            };
            tools.command(program).arg(arg).checked_stdout().unwrap();
        }
    }
}
