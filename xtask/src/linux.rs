//! The QEMU boot recipes for Debian's kernels ([`crate::debian`]): through `pvhfw.bin` from the
//! reset vector, and chained through `pvhfw.elf` behind QEMU's own firmware.

use crate::debian::DebianKernel;
use crate::qemu::{self, Qemu, Version};
use crate::Result;
use std::path::Path;

/// QEMU `v` for a Debian boot on `machine` (TCG: the software KVM here cannot run full Linux).
/// Single-threaded TCG: with a thread per vCPU, two such boots on two host cores starved vCPUs
/// into rare soft lockups (a test run hung once in this way); one thread is also faster here.
pub fn boot(v: Version, name: &str, machine: &str, firmware: &Path, kernel: &DebianKernel, append: &str) -> Qemu {
    let (q, cmdline) = linux_under_tcg(v, name, machine, firmware, append);
    q.arg_path("-kernel", &kernel.vmlinux).arg_path("-initrd", &kernel.initrd).args(&["-append", &cmdline])
}

/// The same boot through `pvhfw.elf`: QEMU `v`'s own firmware for `machine` (SeaBIOS with
/// QEMU's PVH option ROM, qboot on `microvm`) starts `elf`, which loads the kernel, initrd and
/// command line from the fw_cfg files `opt/org.pvhfw/*`.
pub fn boot_chained(
    v: Version,
    name: &str,
    machine: &str,
    elf: &Path,
    kernel: &DebianKernel,
    append: &str,
) -> Result<Qemu> {
    let anchor = if machine.starts_with("microvm") { qemu::QBOOT } else { qemu::SEABIOS };
    let (q, cmdline) = linux_under_tcg(v, name, machine, &v.firmware(anchor)?, append);
    Ok(q.arg_path("-kernel", elf).args(&qemu::chain_files(&kernel.vmlinux, Some(&kernel.initrd), &cmdline)))
}

/// What both boots share: QEMU for Linux under TCG on `machine` (with the PIT, RTC and TSC
/// frequency `microvm` needs under TCG) with `firmware`, and the kernel command line.
fn linux_under_tcg(v: Version, name: &str, machine: &str, firmware: &Path, append: &str) -> (Qemu, String) {
    (tcg(v, name, machine, firmware), command_line(machine, append))
}

/// The kernel command line [`boot`] and [`boot_chained`] give on `machine` for `append`.
pub fn command_line(machine: &str, append: &str) -> String {
    let extra = microvm_append(machine).map(|a| format!(" {a}")).unwrap_or_default();
    format!("console=ttyS0 panic=-1 {append}{extra}").trim().to_string()
}

/// QEMU `v` for Linux under TCG on `machine` with `firmware`, and the PIT and RTC `microvm`
/// needs.
fn tcg(v: Version, name: &str, machine: &str, firmware: &Path) -> Qemu {
    let machine_arg =
        if machine.starts_with("microvm") { format!("{machine},pit=on,rtc=on") } else { machine.to_string() };
    Qemu::new(v, name, &machine_arg, firmware).args(&["-accel", "tcg,thread=single", "-cpu", "max", "-m", "512M"])
}

/// What Linux needs on its command line on `machine` under TCG: on `microvm` the TSC's
/// frequency, which its guests cannot calibrate on a loaded machine.
pub fn microvm_append(machine: &str) -> Option<String> {
    machine.starts_with("microvm").then(|| format!("tsc_early_khz={}", qemu::host_khz()))
}

/// A boot with no kernel given: pvhfw (`pvhfw.bin` from the reset vector) finds it on the
/// disks the caller attaches. Its command line comes from the disk's entry, so the caller adds
/// [`microvm_append`]'s through `opt/org.pvhfw/append`.
pub fn boot_from_disk(v: Version, name: &str, machine: &str, firmware: &Path) -> Qemu {
    tcg(v, name, machine, firmware)
}

/// The same through `pvhfw.elf`, started by QEMU `v`'s own firmware for `machine` (SeaBIOS with
/// QEMU's PVH option ROM, qboot on `microvm`), with no `opt/org.pvhfw/kernel`.
pub fn boot_from_disk_chained(v: Version, name: &str, machine: &str, elf: &Path) -> Result<Qemu> {
    let anchor = if machine.starts_with("microvm") { qemu::QBOOT } else { qemu::SEABIOS };
    Ok(tcg(v, name, machine, &v.firmware(anchor)?).arg_path("-kernel", elf))
}
