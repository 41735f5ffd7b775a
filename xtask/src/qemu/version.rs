//! The QEMUs the tests and the benchmark run on, side by side: Debian 12's own 7.2 (installed
//! through apt) and 10.0 from `bookworm-backports`, extracted under `target/xtask/qemu-10.0/`
//! without touching the system's QEMU. Each comes with its own data files and its own reference
//! firmware (qboot, SeaBIOS): a figure or a comparison always uses one QEMU tree.

use crate::apt::{self, Apt};
use crate::{work_dir, Result};
use anyhow::{bail, Context};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The system QEMU's binary.
const SYSTEM_QEMU: &str = "qemu-system-x86_64";

/// Where Debian's packages put the system QEMU's reference firmware (`seabios`,
/// `qemu-system-data`).
const SYSTEM_FIRMWARE_DIRS: [&str; 2] = ["/usr/share/seabios", "/usr/share/qemu"];

/// The packages QEMU 10.0 is extracted from, all from `bookworm-backports`. Its binary links
/// only libraries Debian 12 has (a subset of what the system QEMU 7.2 depends on).
const BACKPORTS_PACKAGES: [&str; 4] = ["qemu-system-x86", "qemu-system-data", "qemu-system-common", "seabios"];

/// The reference firmware images every QEMU tree has: qboot, SeaBIOS for pc and q35, SeaBIOS
/// for microvm.
pub const QBOOT: &str = "qboot.rom";
pub const SEABIOS: &str = "bios-256k.bin";
pub const SEABIOS_MICROVM: &str = "bios-microvm.bin";
const REFERENCE_IMAGES: [&str; 3] = [QBOOT, SEABIOS, SEABIOS_MICROVM];

/// A QEMU the host tool runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// Debian 12's `qemu-system-x86`, installed through apt.
    V7_2,
    /// `bookworm-backports`' 10.0, extracted under `target/xtask/qemu-10.0/`.
    V10_0,
}

impl Version {
    pub const ALL: [Version; 2] = [Version::V7_2, Version::V10_0];

    /// `7.2`, `10.0`.
    pub fn number(self) -> &'static str {
        match self {
            Version::V7_2 => "7.2",
            Version::V10_0 => "10.0",
        }
    }

    /// Where it comes from, for reports.
    pub fn origin(self) -> &'static str {
        match self {
            Version::V7_2 => "Debian 12's `qemu-system-x86`",
            Version::V10_0 => "bookworm-backports' `qemu-system-x86`, as Debian 13 ships it",
        }
    }

    /// `qemu-7.2`, `qemu-10.0`: what test names, log folders and fixture folders carry.
    pub fn tag(self) -> String {
        format!("qemu-{}", self.number())
    }

    /// `--qemu 7.2|10`: the version as given on the command line (`7`, `7.2`, `10`, `10.0`).
    pub fn parse(s: &str) -> std::result::Result<Version, String> {
        match s.trim_start_matches("qemu-") {
            "7" | "7.2" => Ok(Version::V7_2),
            "10" | "10.0" => Ok(Version::V10_0),
            _ => Err(format!("unknown QEMU version {s:?}: 7.2 or 10")),
        }
    }

    /// The extracted tree of an apt-less QEMU.
    fn tree(self) -> Option<PathBuf> {
        match self {
            Version::V7_2 => None,
            Version::V10_0 => Some(work_dir().join(self.tag()).join("root")),
        }
    }

    /// The `qemu-system-x86_64` binary.
    pub fn binary(self) -> PathBuf {
        match self.tree() {
            None => PathBuf::from(SYSTEM_QEMU),
            Some(t) => t.join("usr/bin").join(SYSTEM_QEMU),
        }
    }

    /// The environment the binary needs: its module directory, and its own libraries first.
    pub fn env(self) -> Vec<(&'static str, OsString)> {
        match self.tree() {
            None => Vec::new(),
            Some(t) => {
                let lib = t.join("usr/lib/x86_64-linux-gnu");
                vec![("QEMU_MODULE_DIR", lib.join("qemu").into()), ("LD_LIBRARY_PATH", lib.into())]
            }
        }
    }

    /// `-L` arguments: the tree's own data files (option ROMs such as `pvh.bin`, SeaBIOS) ahead
    /// of the system's, which QEMU still searches last (iPXE's ROMs for virtio-net come from
    /// there).
    pub fn data_args(self) -> Vec<String> {
        self.data_dirs().iter().flat_map(|d| ["-L".to_string(), d.display().to_string()]).collect()
    }

    fn data_dirs(self) -> Vec<PathBuf> {
        match self.tree() {
            None => Vec::new(),
            Some(t) => vec![t.join("usr/share/qemu"), t.join("usr/share/seabios")],
        }
    }

    /// Where this QEMU's reference firmware lives: the system's directories for 7.2, the
    /// extracted tree's for 10.0 (never the other QEMU's).
    fn firmware_dirs(self) -> Vec<PathBuf> {
        match self.tree() {
            None => SYSTEM_FIRMWARE_DIRS.iter().map(PathBuf::from).collect(),
            Some(_) => self.data_dirs().into_iter().rev().collect(),
        }
    }

    /// The path of this QEMU's reference firmware image: [`QBOOT`], [`SEABIOS`] or
    /// [`SEABIOS_MICROVM`].
    pub fn firmware(self, image: &str) -> Result<PathBuf> {
        let dirs = self.firmware_dirs();
        dirs.iter()
            .map(|d| d.join(image))
            .find(|p| p.exists())
            .with_context(|| format!("{image} of QEMU {} not found in {dirs:?}; is it installed?", self.number()))
    }

    /// A command running this QEMU: the binary, its environment and its `-L` arguments.
    pub fn command(self) -> Command {
        let mut c = Command::new(self.binary());
        c.envs(self.env()).args(self.data_args());
        c
    }

    /// The command line as the logs show it, with the environment in front.
    pub fn command_line(self, args: &[String]) -> String {
        let env: String = self.env().iter().map(|(k, v)| format!("{k}={} ", v.to_string_lossy())).collect();
        let mut all = self.data_args();
        all.extend_from_slice(args);
        format!("{env}{} {}", self.binary().display(), all.join(" "))
    }

    /// `QEMU emulator version ...`, the first line of `--version`.
    pub fn version_line(self) -> String {
        let out = self.command().arg("--version").output().map(|o| o.stdout).unwrap_or_default();
        String::from_utf8_lossy(&out).lines().next().unwrap_or("").to_string()
    }

    fn runs(self) -> bool {
        self.command().arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
    }

    /// Installs this QEMU with its reference firmware when it is missing: 7.2 through apt, 10.0
    /// by downloading `bookworm-backports`' packages with a private apt configuration and
    /// extracting them (the system QEMU comes first: it brings every library 10.0 links).
    pub fn ensure_installed(self) -> Result<()> {
        let complete = |v: Version| v.runs() && REFERENCE_IMAGES.iter().all(|i| v.firmware(i).is_ok());
        if complete(self) {
            return Ok(());
        }
        if self != Version::V7_2 {
            Version::V7_2.ensure_installed()?;
        }
        match self.tree() {
            None => {
                eprintln!("xtask: installing QEMU through apt");
                apt::system(&["update", "-qq"])?;
                apt::system(&["install", "-y", "-qq", "qemu-system-x86", "qemu-system-data", "seabios"])?;
            }
            Some(tree) => {
                eprintln!("xtask: fetching QEMU {} from bookworm-backports into {}", self.number(), tree.display());
                let _ = std::fs::remove_dir_all(&tree);
                std::fs::create_dir_all(&tree)?;
                let apt = Apt::with_suites("bookworm-backports", &[("debian", "bookworm-backports".into())])?;
                for pkg in BACKPORTS_PACKAGES {
                    apt.unpack(&format!("{pkg}/bookworm-backports"), &tree)?;
                }
                check_libraries(&self.binary(), &tree)?;
            }
        }
        if !complete(self) {
            bail!("QEMU {} does not run after its installation", self.number());
        }
        Ok(())
    }
}

/// Fails, naming them, if the extracted binary needs libraries this machine lacks.
fn check_libraries(binary: &Path, tree: &Path) -> Result<()> {
    let out = Command::new("ldd").arg(binary).env("LD_LIBRARY_PATH", tree.join("usr/lib/x86_64-linux-gnu")).output()?;
    let missing: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("not found"))
        .map(|l| l.split_whitespace().next().unwrap_or(l).to_string())
        .collect();
    if !missing.is_empty() {
        bail!("{} needs libraries this machine lacks: {}", binary.display(), missing.join(", "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_tag() {
        assert_eq!(Version::parse("7.2"), Ok(Version::V7_2));
        assert_eq!(Version::parse("10"), Ok(Version::V10_0));
        assert_eq!(Version::parse("10.0"), Ok(Version::V10_0));
        assert_eq!(Version::parse("qemu-10.0"), Ok(Version::V10_0));
        assert!(Version::parse("9.2").is_err());
        assert_eq!(Version::V7_2.tag(), "qemu-7.2");
        assert_eq!(Version::V10_0.tag(), "qemu-10.0");
    }

    /// The system QEMU runs as it is; the extracted one with its own data and modules, and its
    /// reference firmware from its own tree.
    #[test]
    fn extracted_qemu_uses_its_own_tree() {
        assert!(Version::V7_2.data_args().is_empty() && Version::V7_2.env().is_empty());
        let tree = work_dir().join("qemu-10.0/root");
        let args = Version::V10_0.data_args();
        assert_eq!(args[0], "-L");
        assert_eq!(args[1], tree.join("usr/share/qemu").display().to_string());
        assert_eq!(args[3], tree.join("usr/share/seabios").display().to_string());
        assert!(Version::V10_0.firmware_dirs().iter().all(|d| d.starts_with(&tree)));
        assert!(Version::V10_0.env().iter().any(|(k, _)| *k == "QEMU_MODULE_DIR"));
    }
}
