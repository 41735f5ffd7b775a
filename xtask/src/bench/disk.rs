//! The disk-boot rows (`--only disk`): the Debian 12 systemd image ([`crate::disk::systemd`])
//! booted from its virtio-blk disk by pvhfw (no `-kernel`: pvhfw reads the disk and grub.cfg)
//! and by SeaBIOS with the GRUB installed on the disk (`timeout 0`), on `pc` and `q35`:
//!
//! - instructions (TCG, `-icount shift=0,sleep=off`) and VM exits (KVM, `-trace kvm_run_exit`)
//!   from reset until the kernel's own code first runs, counted as the bzImage rows count them:
//!   a copy of the disk whose `/boot/vmlinuz-VERSION` has [`probe::STUB`] at its 32-bit entry
//!   (`startup_32`, where GRUB's `linux` enters through the 32-bit boot protocol) and at its
//!   64-bit entry (where pvhfw enters). Both paths thus count everything before the kernel:
//!   firmware, boot loader, reading grub.cfg, the kernel and the 36 MiB initramfs from disk;
//! - wall time of TCG boots of the real image, from QEMU's start to the kernel's first console
//!   line (`Linux version`, printed when the serial console registers, about half a second
//!   into the kernel), to systemd's `Welcome to` (PID 1 started from the root file system,
//!   after the initramfs) and to the report unit's `running`: the median of a few boots.

use super::measure;
use super::report::{fmt_f, fmt_int};
use super::stats::median;
use crate::disk::systemd;
use crate::probe;
use crate::qemu::{self, Version};
use crate::{work_dir, Result};
use anyhow::{bail, ensure, Context};
use serde::{Deserialize, Serialize};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const MACHINES: [&str; 2] = ["pc", "q35"];
pub const FIRMWARES: [&str; 2] = ["pvhfw", "SeaBIOS+GRUB"];

/// The console lines the wall times run to.
const KERNEL_LINE: &str = "Linux version ";
const SYSTEMD_LINE: &str = "Welcome to ";
const RUNNING_LINE: &str = "pvhfw-systemd: state: running";
/// pvhfw's last line when it cannot boot: the run is over.
const HALTED: &str = "pvhfw: halted";

/// Bounds on one run: to the kernel's entry, and a whole boot to `running` under TCG.
const PROBE_TIMEOUT: Duration = Duration::from_secs(180);
const BOOT_TIMEOUT: Duration = Duration::from_secs(420);

/// One firmware on one machine; a measure that failed is `None`.
#[derive(Serialize, Deserialize, Clone, Default)]
pub struct DiskRow {
    pub machine: String,
    pub firmware: String,
    pub instructions: Option<u64>,
    pub exits: Option<u64>,
    /// Seconds from QEMU's start to the kernel's first console line.
    pub kernel_s: Option<f64>,
    /// ... to systemd's welcome.
    pub systemd_s: Option<f64>,
    /// ... to `running`.
    pub running_s: Option<f64>,
}

/// How many progress steps [`measure`] makes with `runs` boots per row.
pub fn steps(runs: usize) -> usize {
    MACHINES.len() * FIRMWARES.len() * (2 + runs)
}

/// Every disk row on QEMU `v`; `dir` receives the probe disk and scratch files; `step` is
/// told what runs next.
pub fn measure(v: Version, pvhfw: &Path, runs: usize, dir: &Path, step: &mut dyn FnMut(&str)) -> Result<Vec<DiskRow>> {
    let disk = systemd::ensure()?;
    let probe = probe_disk(&disk, dir)?;
    let mut rows = Vec::new();
    for m in MACHINES {
        for fw in FIRMWARES {
            let image = if fw == "pvhfw" { pvhfw.to_path_buf() } else { v.firmware(qemu::SEABIOS)? };
            let mut row = DiskRow { machine: m.into(), firmware: fw.into(), ..DiskRow::default() };
            step(&format!("disk instructions {m} {fw}"));
            row.instructions = instructions(v, m, &image, &probe, dir);
            step(&format!("disk VM exits {m} {fw}"));
            row.exits = exits(v, m, &image, &probe, dir);
            let mut times = Vec::new();
            for i in 0..runs {
                step(&format!("disk boot to running {m} {fw} ({}/{runs})", i + 1));
                times.push(boot_times(v, m, &image, &disk));
            }
            let at = |k: usize| {
                let t: Vec<f64> = times.iter().filter_map(|t| t.as_ref().and_then(|t| t[k])).collect();
                (t.len() == runs && runs > 0).then(|| median(t))
            };
            (row.kernel_s, row.systemd_s, row.running_s) = (at(0), at(1), at(2));
            rows.push(row);
        }
    }
    Ok(rows)
}

/// A copy of `disk` whose kernel has the probe stub at its entries, patched in place in the
/// file system's data blocks (ext4 checksums metadata only; nothing on the boot path checks
/// the kernel's bytes).
fn probe_disk(disk: &Path, dir: &Path) -> Result<PathBuf> {
    let copy = dir.join("probe-systemd.img");
    let _ = std::fs::remove_file(&copy);
    let status = Command::new("cp").arg("--sparse=always").arg(disk).arg(&copy).status()?;
    ensure!(status.success(), "copying {} failed", disk.display());
    let kernel = std::fs::read(systemd::kernel_path()).context("the systemd image's kernel")?;
    let patched = probe::patch(&kernel)?;
    let end = probe::payload_offset(&kernel)? + 0x200 + probe::STUB.len();
    let mut f = std::fs::OpenOptions::new().read(true).write(true).open(&copy)?;
    let at = find_block(&mut f, &kernel[..4096])?;
    let mut on_disk = vec![0u8; end];
    f.seek(SeekFrom::Start(at))?;
    f.read_exact(&mut on_disk)?;
    // The whole patched span must be the kernel's: its start lies in one contiguous extent.
    ensure!(on_disk == kernel[..end], "the kernel's first {end} bytes are not contiguous on the disk");
    f.seek(SeekFrom::Start(at))?;
    f.write_all(&patched[..end])?;
    Ok(copy)
}

/// The offset of the first 4 KiB block of `f` that holds `block` (file data is block-aligned).
fn find_block(f: &mut std::fs::File, block: &[u8]) -> Result<u64> {
    const CHUNK: usize = 1 << 20;
    let mut buf = vec![0u8; CHUNK];
    f.seek(SeekFrom::Start(0))?;
    let mut base = 0u64;
    loop {
        let n = read_full(f, &mut buf)?;
        if let Some(i) = buf[..n].chunks(block.len()).position(|b| b == block) {
            return Ok(base + (i * block.len()) as u64);
        }
        if n < CHUNK {
            bail!("the kernel is not on the disk image");
        }
        base += CHUNK as u64;
    }
}

/// Reads until `buf` is full or the file ends; how much was read.
fn read_full(f: &mut std::fs::File, buf: &mut [u8]) -> Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// QEMU arguments for a probe run: the probe disk (not written: `snapshot=on`), the exit
/// device the stub writes to, the serial console into `serial`.
fn probe_args(machine: &str, firmware: &Path, probe: &Path, accel: &str, serial: &Path) -> Vec<String> {
    let mut args = qemu::base_args(machine);
    args.extend(["-accel", accel, "-m", "1G"].map(String::from));
    args.extend(qemu::DEBUG_EXIT.map(String::from));
    args.extend(["-bios".into(), firmware.display().to_string()]);
    args.extend(systemd::drive_args(probe, true));
    args.extend(["-serial".into(), format!("file:{}", serial.display())]);
    args
}

/// Runs QEMU to its exit status; `None` if it did not start, pvhfw gave up (its halt line in
/// `serial`) or it ran past `timeout`.
fn run_bounded(v: Version, args: &[String], serial: &Path, timeout: Duration) -> Option<i32> {
    let halted = || std::fs::read_to_string(serial).is_ok_and(|s| s.contains(HALTED));
    super::measure::run_bounded(v, args, timeout, halted)
}

/// Instructions from reset to the kernel's entry: the TSC the stub prints.
fn instructions(v: Version, machine: &str, firmware: &Path, probe: &Path, dir: &Path) -> Option<u64> {
    let serial = dir.join("disk-probe-serial.log");
    let _ = std::fs::remove_file(&serial);
    let mut args = probe_args(machine, firmware, probe, "tcg", &serial);
    args.extend(["-icount".into(), "shift=0,sleep=off".into()]);
    if run_bounded(v, &args, &serial, PROBE_TIMEOUT)? != 1 {
        return None;
    }
    probe::parse_tsc(&std::fs::read_to_string(&serial).ok()?)
}

/// VM exits before the kernel's entry: all of the run's, minus the stub's own.
fn exits(v: Version, machine: &str, firmware: &Path, probe: &Path, dir: &Path) -> Option<u64> {
    let serial = dir.join("disk-probe-serial.log");
    let trace = work_dir().join("bench/disk-exits.log");
    let _ = (std::fs::remove_file(&serial), std::fs::remove_file(&trace));
    let mut args = probe_args(machine, firmware, probe, "kvm", &serial);
    args.extend(measure::trace_exits(&trace));
    if run_bounded(v, &args, &serial, PROBE_TIMEOUT)? != 1 {
        return None;
    }
    probe::exits_before_entry(measure::exits_traced(&trace)?)
}

/// One TCG boot of the real image: seconds from QEMU's start to [`KERNEL_LINE`],
/// [`SYSTEMD_LINE`] and [`RUNNING_LINE`] (each `None` if not reached); `None` if QEMU did not
/// start.
fn boot_times(v: Version, machine: &str, firmware: &Path, disk: &Path) -> Option<[Option<f64>; 3]> {
    let mut c = v.command();
    c.args(qemu::base_args(machine)).arg("-bios").arg(firmware).args(["-serial", "stdio", "-no-reboot"]);
    c.args(systemd::tcg_args(disk)).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null());
    let start = Instant::now();
    let mut child = c.spawn().ok()?;
    let out = child.stdout.take()?;
    let serial = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let serial = serial.clone();
        std::thread::spawn(move || copy_into(out, &serial))
    };
    let markers = [KERNEL_LINE, SYSTEMD_LINE, RUNNING_LINE];
    let mut seen: [Option<f64>; 3] = [None; 3];
    loop {
        let halted = {
            let text = serial.lock().expect("no poisoning");
            for (s, m) in seen.iter_mut().zip(markers) {
                if s.is_none() && contains(&text, m) {
                    *s = Some(start.elapsed().as_secs_f64());
                }
            }
            contains(&text, HALTED)
        };
        if seen[2].is_some() || halted || start.elapsed() > BOOT_TIMEOUT || child.try_wait().ok()?.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    Some(seen)
}

fn contains(text: &[u8], what: &str) -> bool {
    text.windows(what.len()).any(|w| w == what.as_bytes())
}

fn copy_into(mut from: impl Read, into: &Mutex<Vec<u8>>) {
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = from.read(&mut buf) {
        into.lock().expect("no poisoning").extend_from_slice(&buf[..n]);
    }
}

/// The disk-boot table, with pvhfw's figures as a share of SeaBIOS+GRUB's per machine.
pub fn table(rows: &[DiskRow], runs: usize, t: &mut String) {
    t.push_str(&format!(
        "**Disk boot (Debian 12 with systemd; GRUB installed by `grub-install`, `timeout 0`).** \
         The same disk image (GPT, ext4) on virtio-blk, pvhfw without `-kernel` and SeaBIOS with \
         the GRUB on the disk. Instructions (TCG, `-icount shift=0`) and VM exits (KVM, less the \
         probe's own {}) from reset until the kernel's own 32-bit (GRUB's `linux`) or 64-bit \
         (pvhfw) entry first runs, in a copy of the disk whose kernel file has the probe stub at \
         both entries: everything before the kernel, reading grub.cfg, the kernel and the \
         initramfs included. Seconds from QEMU's start (TCG) to the kernel's first console line, \
         to systemd's welcome and to `running`: median of {runs} boots.\n\n",
        probe::STUB_EXITS
    ));
    t.push_str("| machine | firmware | instructions to kernel entry | VM exits | to kernel console, s | to systemd, s | to running, s |\n");
    t.push_str("|---|---|---:|---:|---:|---:|---:|\n");
    for r in rows {
        t.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            r.machine,
            r.firmware,
            fmt_int(r.instructions),
            fmt_int(r.exits),
            fmt_f(r.kernel_s, 2),
            fmt_f(r.systemd_s, 2),
            fmt_f(r.running_s, 2),
        ));
    }
    t.push_str(
        "\n| machine | instructions vs SeaBIOS+GRUB | VM exits vs SeaBIOS+GRUB | to running vs SeaBIOS+GRUB |\n",
    );
    t.push_str("|---|---|---|---|\n");
    for m in MACHINES {
        let get = |fw: &str| rows.iter().find(|r| r.machine == m && r.firmware == fw).cloned().unwrap_or_default();
        let (ours, theirs) = (get(FIRMWARES[0]), get(FIRMWARES[1]));
        let f = |v: Option<u64>| v.map(|v| v as f64);
        t.push_str(&format!(
            "| {m} | {} | {} | {} |\n",
            share(f(ours.instructions), f(theirs.instructions)),
            share(f(ours.exits), f(theirs.exits)),
            share(ours.running_s, theirs.running_s),
        ));
    }
}

/// `ours / theirs` as a percentage; `n/a` where either is missing.
fn share(ours: Option<f64>, theirs: Option<f64>) -> String {
    match (ours, theirs) {
        (Some(o), Some(t)) if t > 0.0 => format!("{:.2}%", o / t * 100.0),
        _ => "n/a".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_renders_rows_and_shares() {
        let row = |m: &str, fw: &str, i, e, s| DiskRow {
            machine: m.into(),
            firmware: fw.into(),
            instructions: i,
            exits: e,
            kernel_s: s,
            systemd_s: s.map(|s| s + 10.0),
            running_s: s.map(|s| s + 20.0),
        };
        let rows = [
            row("pc", "pvhfw", Some(20_000), Some(40), Some(1.0)),
            row("pc", "SeaBIOS+GRUB", Some(2_000_000), Some(4000), Some(3.0)),
            row("q35", "pvhfw", None, None, None),
        ];
        let mut t = String::new();
        table(&rows, 3, &mut t);
        assert!(t.contains("median of 3 boots"));
        assert!(t.contains("| pc | pvhfw | 20 000 | 40 | 1.00 | 11.00 | 21.00 |\n"), "{t}");
        assert!(t.contains("| pc | SeaBIOS+GRUB | 2 000 000 | 4 000 | 3.00 | 13.00 | 23.00 |\n"));
        assert!(t.contains("| q35 | pvhfw | n/a | n/a | n/a | n/a | n/a |\n"));
        assert!(t.contains("| pc | 1.00% | 1.00% | 91.30% |\n"), "{t}");
        assert!(t.contains("| q35 | n/a | n/a | n/a |\n"));
    }
}
