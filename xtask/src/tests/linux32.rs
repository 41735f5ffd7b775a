//! Debian 12's 32-bit kernel (`linux-image-686-pae`) under TCG to its busybox init, on `pc` and
//! `q35`: its bzImage, which has no 64-bit entry (pvhfw takes the boot protocol's 32-bit entry
//! from long mode), and the 32-bit PVH ELF inside it, each with a virtio-blk disk and a
//! virtio-net interface on bus 0. Such a kernel cannot use the 64-bit BARs it would assign
//! itself: pvhfw assigns them below 4 GiB (`pvhfw::pci`), and init reads the disk and finds
//! `eth0`.

use super::linux::{expect_eth0, expect_report, DISK_SIGNATURE};
use super::{Case, Verdict};
use crate::debian::{DebianKernel, HELLO_TEXT};
use crate::linux;
use crate::qemu::{Outcome, Version};
use crate::Result;
use std::path::Path;

/// Each form of the 32-bit kernel `k` on `pc` and `q35`.
pub(super) fn cases(v: Version, firmware: &Path, k: &DebianKernel) -> Result<Vec<Case>> {
    let disk = super::linux::test_disk()?;
    let mut cases = Vec::new();
    for machine in ["pc", "q35"] {
        for (form, kernel) in [("bz", &k.bzimage), ("vmlinux", &k.vmlinux)] {
            let name = format!("deb12-686-{form}-{machine}");
            let token = format!("pvhfw.token={}-{name}-{}", v.tag(), std::process::id());
            let k = DebianKernel { vmlinux: kernel.clone(), ..k.clone() };
            let drive = format!("file={},format=raw,if=none,id=d0,readonly=on", disk.display());
            let q = linux::boot(v, &name, machine, firmware, &k, &token)
                .args(&["-smp", "2", "-drive", &drive, "-device", "virtio-blk-pci,drive=d0"])
                .args(&["-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0"])
                .timeout(240);
            cases.push(Case { name, run: q.into(), check: Box::new(move |o| check(o, &token)) });
        }
    }
    Ok(cases)
}

/// Init ran with the command line, both CPUs and pvhfw's SMBIOS, read the disk, found the
/// interface, and powered the machine off.
fn check(o: &Outcome, token: &str) -> Verdict {
    let want =
        [("file", HELLO_TEXT), ("cpus", "0-1"), ("bios_vendor", "pvhfw"), ("disk", DISK_SIGNATURE), ("done", "yes")];
    expect_eth0(&expect_report(o, token, &want)?)?;
    if o.status != Some(0) {
        return Err(format!("QEMU status {:?}; init's poweroff -f should end it with 0", o.status));
    }
    Ok(())
}
