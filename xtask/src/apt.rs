//! The apt client: installing into the system (`apt-get install`, for QEMU and libvirt) and
//! fetching packages without installing them (`apt-get download` into `target/`, then
//! `dpkg-deb -x`).
//!
//! [`Apt`] keeps its source list, package lists and cache under `target/xtask/apt-NAME`: the
//! machine's own sources stay untouched, and Debian 13 or `bookworm-backports` are reachable from a
//! Debian 12 host.

use crate::cmd::Checked;
use crate::{work_dir, Result};
use anyhow::{anyhow, Context};
use std::path::{Path, PathBuf};
use std::process::Command;

/// `apt-get ARGS` on the system's own configuration, without questions.
pub fn system(args: &[&str]) -> Result<()> {
    Command::new("apt-get").args(args).env("DEBIAN_FRONTEND", "noninteractive").checked().context("are you root?")
}

/// apt-get with a private source list, package lists and cache under `target/xtask/apt-NAME`.
pub struct Apt {
    dir: PathBuf,
    options: Vec<String>,
}

impl Apt {
    /// The `main` component of each (archive, suite) pair, e.g. `("debian", "bookworm-backports")`,
    /// with fresh package lists.
    pub fn with_suites(name: &str, suites: &[(&str, String)]) -> Result<Apt> {
        Apt::with_suites_for(name, suites, None)
    }

    /// The same for packages of architecture `arch` (`i386`) when given, else the host's.
    pub fn with_suites_for(name: &str, suites: &[(&str, String)], arch: Option<&str>) -> Result<Apt> {
        let dir = work_dir().join(format!("apt-{name}"));
        for d in ["lists/partial", "cache/archives/partial", "debs"] {
            std::fs::create_dir_all(dir.join(d))?;
        }
        let key = "signed-by=/usr/share/keyrings/debian-archive-keyring.gpg";
        let sources: String = suites
            .iter()
            .map(|(archive, suite)| format!("deb [{key}] http://deb.debian.org/{archive} {suite} main\n"))
            .collect();
        std::fs::write(dir.join("sources.list"), sources)?;
        let d = dir.display();
        let options = [
            format!("Dir::Etc::SourceList={d}/sources.list"),
            "Dir::Etc::SourceParts=/nonexistent".into(),
            format!("Dir::State::Lists={d}/lists"),
            format!("Dir::Cache={d}/cache"),
            // Runs as root: keep apt from handing the download to its unprivileged user.
            "APT::Sandbox::User=root".into(),
        ]
        .into_iter()
        .chain(arch.into_iter().flat_map(|a| [format!("APT::Architecture={a}"), format!("APT::Architectures::={a}")]))
        .flat_map(|o| ["-o".to_string(), o])
        .collect();
        let apt = Apt { dir, options };
        apt.run("apt-get", &["-qq", "update"], &apt.dir)?;
        Ok(apt)
    }

    fn run(&self, tool: &str, args: &[&str], cwd: &Path) -> Result<String> {
        Command::new(tool).args(&self.options).args(args).current_dir(cwd).checked_stdout()
    }

    /// `apt-cache depends PKG`'s `Depends:` lines, as package names.
    pub fn depends(&self, pkg: &str) -> Result<Vec<String>> {
        let depends = self.run("apt-cache", &["depends", pkg], &self.dir)?;
        Ok(depends.lines().filter_map(|l| l.trim().strip_prefix("Depends: ")).map(str::to_string).collect())
    }

    /// Downloads `pkg` (once; `NAME/SUITE` picks the suite) and unpacks its files into `into`.
    pub fn unpack(&self, pkg: &str, into: &Path) -> Result<()> {
        let debs = self.dir.join("debs");
        let prefix = format!("{}_", pkg.split('/').next().unwrap_or(pkg));
        let deb = match find_file(&debs, &prefix) {
            Ok(deb) => deb,
            Err(_) => {
                self.run("apt-get", &["-qq", "download", pkg], &debs)?;
                find_file(&debs, &prefix)?
            }
        };
        Command::new("dpkg-deb").arg("-x").arg(&deb).arg(into).checked()
    }
}

/// The one file in `dir` whose name starts with `prefix`.
pub fn find_file(dir: &Path, prefix: &str) -> Result<PathBuf> {
    for e in std::fs::read_dir(dir)? {
        let path = e?.path();
        if path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(prefix)) {
            return Ok(path);
        }
    }
    Err(anyhow!("no {prefix}* in {}", dir.display()))
}
