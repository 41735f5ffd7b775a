//! Xen 4.17 from Debian's `xen-hypervisor-4.17-amd64`, booted by pvhfw as a multiboot kernel
//! (`-kernel xen -initrd "vmlinuz args,initrd"`) with Debian's kernel and initramfs as its
//! modules, under TCG, until Xen has built dom0: its memory layout and vCPU count are printed.
//! Dom0 itself does not run under TCG whatever the firmware, so the check stops there. Xen is
//! given no `no-real-mode`: its real-mode start asks the BIOS for the memory map, disks and
//! video, finds every service failing (pvhfw's vectors, `boot::multiboot`) and takes the
//! multiboot information instead.

use super::{Case, Verdict};
use crate::apt::find_file;
use crate::debian::{DebianKernel, Release};
use crate::qemu::{Outcome, Qemu, Version};
use crate::{work_dir, Result};
use anyhow::Context;
use std::io::Read;
use std::path::{Path, PathBuf};

const PACKAGE: &str = "xen-hypervisor-4.17-amd64";
/// What Xen prints once dom0 is built, last of the lines checked.
const DOM0_BUILT: &str = "(XEN) Dom0 has maximum 2 VCPUs";

/// Xen's multiboot ELF (QEMU takes no gzip), fetched and unpacked once.
fn xen() -> Result<PathBuf> {
    let dir = work_dir().join("xen");
    let elf = dir.join("xen-4.17.elf");
    if elf.exists() {
        return Ok(elf);
    }
    eprintln!("xtask: fetching Debian 12's {PACKAGE}");
    let tree = dir.join("tree");
    let _ = std::fs::remove_dir_all(&tree);
    std::fs::create_dir_all(&tree)?;
    Release::Bookworm.apt()?.unpack(PACKAGE, &tree)?;
    let gz = std::fs::read(find_file(&tree.join("boot"), "xen-4.17-amd64.gz")?)?;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut out).context("decompressing Xen")?;
    std::fs::write(&elf, out)?;
    let _ = std::fs::remove_dir_all(&tree);
    Ok(elf)
}

/// Xen on `pc` and `q35`.
pub(super) fn cases(v: Version, firmware: &Path, k: &DebianKernel) -> Result<Vec<Case>> {
    let xen = xen()?;
    let modules = format!("{} console=hvc0,{}", k.bzimage.display(), k.initrd.display());
    let mut cases = Vec::new();
    for machine in ["pc", "q35"] {
        let name = format!("xen-{machine}-dom0");
        let q = Qemu::new(v, &name, machine, firmware)
            .args(&["-accel", "tcg", "-cpu", "max", "-m", "1G", "-smp", "2"])
            .arg_path("-kernel", &xen)
            .args(&["-append", "console=com1 com1=115200,8n1 dom0_mem=512M", "-initrd", &modules])
            .timeout(240)
            .until(DOM0_BUILT);
        cases.push(Case { name, run: q.into(), check: Box::new(check) });
    }
    Ok(cases)
}

/// Xen took its memory map from the multiboot information (1 GiB of RAM, less the firmware's
/// and the legacy hole's), found its modules and built dom0 from them.
fn check(o: &Outcome) -> Verdict {
    let has = |text: &str| o.serial.contains(text);
    for line in ["(XEN) Multiboot-e820 RAM map:", "(XEN) Bootloader: qemu", "VIRTUAL MEMORY ARRANGEMENT", DOM0_BUILT] {
        if !has(line) {
            return Err(format!("Xen did not print {line:?}"));
        }
    }
    let ram =
        o.serial.lines().find_map(|l| l.strip_prefix("(XEN) System RAM: ")?.split("MB").next()?.parse::<u64>().ok());
    match ram {
        Some(mb) if (1000..=1024).contains(&mb) => Ok(()),
        _ => Err(format!("Xen's System RAM line: {ram:?} MB for -m 1G")),
    }
}
