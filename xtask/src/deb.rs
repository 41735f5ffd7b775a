//! `cargo xtask deb`: `target/pvhfw_VERSION_all.deb`, built with `dpkg-deb` alone.
//!
//! It holds what `cargo xtask install --prefix /usr` installs, plus
//! `/usr/share/doc/pvhfw/copyright`. Reproducible: every file's time is the last commit's
//! (`SOURCE_DATE_EPOCH`, which `dpkg-deb` also uses for the archive's own members), modes are
//! fixed, owners are root (`--root-owner-group`) and `dpkg-deb` sorts the members; so one commit
//! gives the same bytes on any machine with Debian 12's `dpkg` and `xz`.

use crate::build::{self, Artifacts};
use crate::cmd::Checked;
use crate::{install, root, work_dir, Result};
use anyhow::Context;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

const MAINTAINER: &str = "pvhfw maintainers <maintainers@pvhfw.invalid>";

const COPYRIGHT: &str = "\
pvhfw: a firmware that boots Linux microVMs under QEMU straight into the kernel.

Copyright: the pvhfw contributors
License: Apache-2.0

The images also hold code from Rust's core library and the crates x86_64 and zerocopy, each
available under the Apache License, Version 2.0, among others.

On Debian systems, the full text of the Apache License, Version 2.0 can be found in
/usr/share/common-licenses/Apache-2.0.
";

/// Runs git in the workspace; its output, trimmed.
fn git(args: &[&str]) -> Result<String> {
    Ok(Command::new("git").current_dir(root()).args(args).checked_stdout()?.trim().to_string())
}

/// `SOURCE_DATE_EPOCH` if the caller set it, else the last commit's time.
pub fn source_date_epoch() -> Result<u64> {
    if let Ok(s) = std::env::var("SOURCE_DATE_EPOCH") {
        return s.trim().parse().with_context(|| format!("SOURCE_DATE_EPOCH={s} is not a number"));
    }
    let t = git(&["log", "-1", "--format=%ct", "HEAD"]).context("outside a git checkout set SOURCE_DATE_EPOCH")?;
    Ok(t.parse()?)
}

/// The package version: the workspace's, and for a commit that is not the release tag
/// `vX.Y.Z`, the commit's UTC date and time and short hash (`0.1.0+git20261203.062204.821ddbe`),
/// so that every commit's package sorts after its parent's.
pub fn version(epoch: u64) -> Result<String> {
    let base = install::VERSION;
    if git(&["describe", "--exact-match", "--tags", "HEAD"]).is_ok_and(|t| t == format!("v{base}")) {
        return Ok(base.to_string());
    }
    let hash = git(&["rev-parse", "--short=7", "HEAD"])?;
    let (y, mo, d, h, mi, s) = utc(epoch);
    Ok(format!("{base}+git{y:04}{mo:02}{d:02}.{h:02}{mi:02}{s:02}.{hash}"))
}

/// Year, month, day, hour, minute, second of a Unix time (UTC; the proleptic Gregorian
/// calendar, from days since 1970 by Hinnant's algorithm).
fn utc(epoch: u64) -> (u64, u64, u64, u64, u64, u64) {
    let (days, secs) = (epoch / 86_400, epoch % 86_400);
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d, secs / 3600, secs % 3600 / 60, secs % 60)
}

fn control(version: &str, installed_kib: u64) -> String {
    format!(
        "Package: pvhfw
Version: {version}
Architecture: all
Multi-Arch: foreign
Maintainer: {MAINTAINER}
Installed-Size: {installed_kib}
Recommends: qemu-system-x86
Section: misc
Priority: optional
Description: fast firmware that boots Linux microVMs straight into the kernel
 pvhfw is a small firmware for QEMU's pc, q35 and microvm machines. It boots
 the Linux kernel given with -kernel, a PVH vmlinux or a bzImage, from the
 reset vector without BIOS services, option ROMs or real mode:
 .
   qemu-system-x86_64 -bios pvhfw.bin -kernel vmlinux
 .
 It cannot boot from disks or the network. The package installs pvhfw.bin
 (and pvhfw.elf, the same firmware as a PVH ELF) into QEMU's data directory,
 and a firmware descriptor for management tools such as libvirt.
"
    )
}

/// Builds the package from `a` in the staging directory `stage` (emptied first) and writes it
/// into `out_dir`; returns its path.
pub fn package(a: &Artifacts, stage: &Path, out_dir: &Path) -> Result<PathBuf> {
    let epoch = source_date_epoch()?;
    let version = version(epoch)?;
    if git(&["status", "--porcelain", "--untracked-files=no"]).is_ok_and(|s| !s.is_empty()) {
        eprintln!("xtask: warning: uncommitted changes; the package is not exactly commit {version}'s");
    }
    let _ = std::fs::remove_dir_all(stage);
    std::fs::create_dir_all(stage)?;
    let mut files = install::install(a, Path::new(install::DEFAULT_PREFIX), Some(stage))?;
    let doc = stage.join("usr/share/doc/pvhfw");
    std::fs::create_dir_all(&doc)?;
    std::fs::write(doc.join("copyright"), COPYRIGHT)?;
    files.push(doc.join("copyright"));
    let kib: u64 =
        files.iter().map(|f| std::fs::metadata(f).map(|m| m.len().div_ceil(1024))).sum::<std::io::Result<_>>()?;
    let debian = stage.join("DEBIAN");
    std::fs::create_dir_all(&debian)?;
    std::fs::write(debian.join("control"), control(&version, kib))?;
    normalise(stage, SystemTime::UNIX_EPOCH + Duration::from_secs(epoch))?;
    std::fs::create_dir_all(out_dir)?;
    let deb = out_dir.join(format!("pvhfw_{version}_all.deb"));
    Command::new("dpkg-deb")
        .env("SOURCE_DATE_EPOCH", epoch.to_string())
        .args(["--root-owner-group", "-Zxz", "--build"])
        .arg(stage)
        .arg(&deb)
        .checked_stdout()?;
    Ok(deb)
}

/// Modes `0755` for directories, `0644` for files, and every time `mtime`, so that nothing of
/// the build machine (umask, clock) reaches the archive.
fn normalise(dir: &Path, mtime: SystemTime) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            normalise(&path, mtime)?;
        } else {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;
            std::fs::File::options().write(true).open(&path)?.set_modified(mtime)?;
        }
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    std::fs::File::open(dir)?.set_modified(mtime)?;
    Ok(())
}

/// `cargo xtask deb`.
pub fn run() -> Result<()> {
    let a = build::build()?;
    let deb = package(&a, &work_dir().join("deb-root"), &root().join("target"))?;
    print!("{}", build::sha256_lines(&[&a.firmware, &a.firmware_elf, &deb])?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(utc(951_782_400), (2000, 2, 29, 0, 0, 0));
        assert_eq!(utc(1_796_278_924), (2026, 12, 3, 6, 22, 4));
        assert_eq!(utc(4_107_542_399), (2100, 2, 28, 23, 59, 59));
    }

    #[test]
    fn control_fields() {
        let c = control("0.1.0", 240);
        assert!(c.contains("\nVersion: 0.1.0\n") && c.contains("\nInstalled-Size: 240\n"));
        // Continuation lines start with a space, paragraphs are " ."; the file ends in one newline.
        assert!(c.lines().skip_while(|l| !l.starts_with("Description:")).skip(1).all(|l| l.starts_with(' ')));
        assert!(c.ends_with(".\n") && !c.ends_with("\n\n"));
    }
}
