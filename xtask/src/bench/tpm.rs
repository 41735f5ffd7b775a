//! The measured-boot rows (`--only tpm`): pvhfw and SeaBIOS on `q35` booting the probe copy of
//! Debian 12's vmlinuz with a 64 MiB initrd, without a TPM and with swtpm behind `tpm-tis`:
//!
//! - instructions from reset to the kernel's entry (TCG, `-icount shift=0,sleep=off`, with
//!   `-cpu max`: on QEMU 10 it has the SHA extensions, which pvhfw then uses; QEMU 7.2's has
//!   not), and VM exits (KVM, its default CPU: pvhfw hashes in software there);
//! - wall time from QEMU's start to the kernel's entry under TCG (`-cpu max`), the median of a
//!   few runs;
//! - pvhfw's hashing rate: the instructions the TPM adds, per byte of kernel and initrd it
//!   hashes (in each of swtpm's four banks). SeaBIOS measures neither (only itself, its tables
//!   and option ROMs), so what the TPM costs it is its TPM driver and those measurements.

use super::measure::{self, kernel_args};
use super::report::{fmt_f, fmt_int};
use super::stats::median;
use crate::probe;
use crate::qemu::{self, Version};
use crate::swtpm::{self, Swtpm};
use crate::Result;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const FIRMWARES: [&str; 2] = ["pvhfw", "SeaBIOS"];
const MACHINE: &str = "q35";
const INITRD_BYTES: usize = 64 << 20;
/// Bounds on one run: under TCG, pvhfw hashing 75 MB in software takes seconds; under KVM a run
/// that has not reached the kernel in a minute will not (this host's software KVM stops a guest
/// that runs SSE, which pvhfw's SHA extensions need, and leaves QEMU waiting).
const TCG_TIMEOUT: Duration = Duration::from_secs(300);
const KVM_TIMEOUT: Duration = Duration::from_secs(60);

/// One firmware with or without a TPM; a measure that failed is `None`.
#[derive(Serialize, Deserialize, Clone, Default)]
pub struct TpmRow {
    pub firmware: String,
    pub tpm: bool,
    pub instructions: Option<u64>,
    pub exits: Option<u64>,
    /// Seconds from QEMU's start to the kernel's entry under TCG.
    pub tcg_s: Option<f64>,
    /// The kernel file's and the initrd's bytes, which pvhfw hashes with a TPM.
    pub hashed_bytes: u64,
}

/// How many progress steps [`measure`] makes with `runs` timed boots per row.
pub fn steps(runs: usize) -> usize {
    FIRMWARES.len() * 2 * (2 + runs)
}

/// What one row boots.
struct Setup<'a> {
    v: Version,
    firmware: &'a Path,
    probe: &'a Path,
    initrd: &'a Path,
    tpm: bool,
    dir: &'a Path,
}

/// Every measured-boot row on QEMU `v`: `probe` is the probe copy of Debian's vmlinuz, `dir`
/// receives the initrd, swtpm's state and the logs; `step` is told what runs next.
pub fn measure(
    v: Version,
    pvhfw: &Path,
    probe: &Path,
    runs: usize,
    dir: &Path,
    step: &mut dyn FnMut(&str),
) -> Result<Vec<TpmRow>> {
    swtpm::binary()?;
    let initrd = dir.join("initrd-64m.bin");
    if std::fs::metadata(&initrd).map(|m| m.len()).ok() != Some(INITRD_BYTES as u64) {
        std::fs::write(&initrd, (0..INITRD_BYTES).map(|i| ((i * 131) >> 7) as u8).collect::<Vec<u8>>())?;
    }
    let hashed_bytes = std::fs::metadata(probe)?.len() + INITRD_BYTES as u64;
    let mut rows = Vec::new();
    for fw in FIRMWARES {
        let image = if fw == "pvhfw" { pvhfw.to_path_buf() } else { v.firmware(qemu::SEABIOS)? };
        for tpm in [false, true] {
            let s = Setup { v, firmware: &image, probe, initrd: &initrd, tpm, dir };
            let with = if tpm { "with a TPM" } else { "without" };
            let mut row = TpmRow { firmware: fw.into(), tpm, hashed_bytes, ..TpmRow::default() };
            step(&format!("TPM instructions {fw} {with}"));
            row.instructions = instructions(&s);
            step(&format!("TPM VM exits {fw} {with}"));
            row.exits = exits(&s);
            let mut times = Vec::new();
            for i in 0..runs {
                step(&format!("TPM wall time {fw} {with} ({}/{runs})", i + 1));
                times.extend(wall_time(&s));
            }
            row.tcg_s = (times.len() == runs && runs > 0).then(|| median(times));
            rows.push(row);
        }
    }
    Ok(rows)
}

impl Setup<'_> {
    /// Runs QEMU with the probe and `extra` arguments (and a fresh swtpm when the row has a
    /// TPM) to its exit status; `None` unless the probe's stub ended the run (status 1).
    fn run(&self, accel: &str, extra: &[String]) -> Option<()> {
        let tpm = match self.tpm {
            true => Some(Swtpm::start(&swtpm::binary().ok()?, &self.dir.join("swtpm")).ok()?),
            false => None,
        };
        let mut args = kernel_args(MACHINE, accel, "512M", self.firmware, self.probe, self.initrd, "bench");
        if accel == "tcg" {
            args.extend(["-cpu", "max"].map(String::from));
        }
        if let Some(t) = &tpm {
            args.extend(["-chardev".into(), format!("socket,id=chrtpm,path={}", t.socket.display())]);
            args.extend(
                ["-tpmdev", "emulator,id=tpm0,chardev=chrtpm", "-device", "tpm-tis,tpmdev=tpm0"].map(String::from),
            );
        }
        args.extend(extra.iter().cloned());
        let timeout = if accel == "kvm" { KVM_TIMEOUT } else { TCG_TIMEOUT };
        (super::measure::run_bounded(self.v, &args, timeout, || false)? == 1).then_some(())
    }

    fn file(&self, name: &str) -> PathBuf {
        let path = self.dir.join(name);
        let _ = std::fs::remove_file(&path);
        path
    }
}

/// Instructions from reset to the kernel's entry: the TSC the probe stub prints.
fn instructions(s: &Setup) -> Option<u64> {
    let serial = s.file("tpm-probe-serial.log");
    let extra = ["-icount".into(), "shift=0,sleep=off".into(), "-serial".into(), format!("file:{}", serial.display())];
    s.run("tcg", &extra)?;
    probe::parse_tsc(&std::fs::read_to_string(&serial).ok()?)
}

/// VM exits before the kernel's entry: all of the run's, minus the stub's own.
fn exits(s: &Setup) -> Option<u64> {
    let trace = s.file("tpm-exits.log");
    s.run("kvm", &[&["-serial".into(), "none".into()][..], &measure::trace_exits(&trace)].concat())?;
    probe::exits_before_entry(measure::exits_traced(&trace)?)
}

/// Seconds from QEMU's start to the kernel's entry under TCG.
fn wall_time(s: &Setup) -> Option<f64> {
    let start = Instant::now();
    s.run("tcg", &["-serial".into(), "none".into()])?;
    Some(start.elapsed().as_secs_f64())
}

/// The measured-boot table, and pvhfw's hashing rate.
pub fn table(rows: &[TpmRow], runs: usize, t: &mut String) {
    t.push_str(&format!(
        "**Measured boot (`q35`, swtpm behind `tpm-tis`, Debian 12's vmlinuz with a 64 MiB \
         initrd).** Instructions (TCG, `-icount shift=0`, `-cpu max`) and VM exits (KVM, less the \
         probe's own {}) from reset to the kernel's entry; seconds from QEMU's start to the \
         kernel's entry under TCG (`-cpu max`), median of {runs} runs. pvhfw measures the \
         kernel, the initrd and the command line in swtpm's four banks; SeaBIOS measures \
         itself, its tables and option ROMs, not what `-kernel` hands it.\n\n",
        probe::STUB_EXITS
    ));
    t.push_str("| firmware | TPM | instructions to kernel entry | VM exits | to kernel entry (TCG), s |\n");
    t.push_str("|---|---|---:|---:|---:|\n");
    for r in rows {
        t.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            r.firmware,
            if r.tpm { "tpm-tis" } else { "none" },
            fmt_int(r.instructions),
            fmt_int(r.exits),
            fmt_f(r.tcg_s, 2),
        ));
    }
    let get = |tpm: bool| rows.iter().find(|r| r.firmware == "pvhfw" && r.tpm == tpm);
    if let (Some(off), Some(on)) = (get(false), get(true)) {
        if let (Some(a), Some(b)) = (off.instructions, on.instructions) {
            t.push_str(&format!(
                "\npvhfw's hashing: {:.1} instructions per byte of kernel and initrd ({} bytes), \
                 for the four banks together, TPM commands included.\n",
                b.saturating_sub(a) as f64 / on.hashed_bytes.max(1) as f64,
                fmt_int(Some(on.hashed_bytes)),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_renders_rows_and_the_rate() {
        let row = |fw: &str, tpm, i| TpmRow {
            firmware: fw.into(),
            tpm,
            instructions: i,
            exits: Some(30),
            tcg_s: Some(1.5),
            hashed_bytes: 1000,
        };
        let rows = [row("pvhfw", false, Some(10_000)), row("pvhfw", true, Some(60_000)), row("SeaBIOS", true, None)];
        let mut t = String::new();
        table(&rows, 3, &mut t);
        assert!(t.contains("median of 3 runs"));
        assert!(t.contains("| pvhfw | tpm-tis | 60 000 | 30 | 1.50 |\n"), "{t}");
        assert!(t.contains("| SeaBIOS | tpm-tis | n/a | 30 | 1.50 |\n"), "{t}");
        assert!(t.contains("50.0 instructions per byte"), "{t}");
    }
}
