//! `cargo xtask bench`: pvhfw against qboot and SeaBIOS, side by side, in one run per QEMU
//! (7.2 and 10.0 unless `--qemu` picks one), each with that QEMU's own qboot and SeaBIOS: their
//! builds differ (QEMU 10's qboot runs 2-3 times the instructions of Debian 12's), so a ratio
//! to qboot holds for one QEMU only.
//!
//! Per QEMU, machine (`pc`, `q35`, `microvm`) and firmware:
//! 1. guest instructions from reset to the kernel's entry: TCG with `-icount shift=0,sleep=off`,
//!    where the guest TSC counts instructions; `pvhtest` reads it as its first instruction;
//! 2. VM exits to QEMU before the kernel runs: `-accel kvm -trace kvm_run_exit` (minus the one
//!    exit `pvhtest` itself makes to end the run);
//! 3. firmware wall time: the whole QEMU process, started until the kernel's entry ends it,
//!    minus, in the same round, a null firmware that ends the run at its reset vector (QEMU's
//!    own start-up and tear-down); the median of these paired differences over interleaved
//!    rounds, with their interquartile range (QEMU's start-up varies by milliseconds, as much
//!    as pvhfw takes), under KVM and under TCG;
//! 4. Debian's kernel from QEMU's start to its init (TCG, median of a few boots);
//! 5. the image size;
//! 6. pvhfw's time to the end of each phase under TCG, from its `timeline` log (the guest TSC,
//!    which under TCG runs with the host's), median of a few boots: where a TCG regression is;
//! 7. the blocks and guest instructions TCG translates to the kernel's entry (`-d in_asm`),
//!    which TCG time follows more than it follows instructions executed.
//!
//! and for the bzImage path, with Debian 12's `vmlinuz` (`--only bzimage` measures just this):
//! 8. guest instructions from reset until the kernel's own protected- or long-mode code first
//!    runs, and the VM exits until then: a probe copy of the `vmlinuz` ([`crate::probe`]) has a
//!    stub at both entries that prints the TSC and ends the run (qboot and SeaBIOS run the
//!    kernel's real-mode setup, which enters at 32 bits; pvhfw enters at 64 bits);
//! 9. the `vmlinuz` from QEMU's start to its init (TCG, median of a few boots);
//!
//! and booting from a disk (`--only disk`), a Debian 12 system with systemd and GRUB installed
//! ([`disk`]), under pvhfw and under SeaBIOS with that GRUB, on `pc` and `q35`:
//! 10. instructions and VM exits from reset to the kernel's entry (the same probe stub, in the
//!     kernel file on a copy of the disk);
//! 11. wall time from QEMU's start to the kernel's first console line, to systemd and to
//!     `running` (TCG, median of a few boots).
//!
//! and a measured boot into swtpm (`--only tpm`), pvhfw and SeaBIOS on `q35` with Debian 12's
//! vmlinuz (the probe copy) and a 64 MiB initrd, without and with a TPM ([`tpm`]):
//! 12. instructions and VM exits to the kernel's entry, wall time to it under TCG, and pvhfw's
//!     hashing cost per byte.
//!
//! Results go to `target/xtask/bench/qemu-VERSION/` as `bench.md` (a Markdown table),
//! `bench.json` and `bench.svg` (a chart); `--publish` copies the JSON and chart into `docs/`
//! as `bench-qemu-VERSION.{json,svg}` and puts every QEMU's published table into docs/benchmark.md;
//! `--reuse` renders the stored `bench.json` again without measuring. With `--only`, the files
//! are `bench-PART.{md,json}` and there is no chart; `--only disk` or `tpm` with `--publish`
//! replaces just those rows of the published results.
//!
//! - [`measure`]: the QEMU runs; [`disk`]: the disk-boot rows' runs and table; [`tpm`]: the
//!   measured-boot rows' runs and table;
//! - [`stats`]: median and interquartile range;
//! - [`report`]: the Markdown table;
//! - [`svg`]: the chart;
//! - [`publish`]: docs/benchmark.md and the charts beside it.

mod disk;
mod measure;
mod publish;
mod report;
mod stats;
mod svg;
mod tpm;

use crate::qemu::Version;
use crate::{work_dir, Result};
use anyhow::bail;
use serde::{Deserialize, Serialize};
use stats::Spread;

const FIRMWARES: [&str; 3] = ["pvhfw", "qboot", "SeaBIOS"];

/// A part of the benchmark, for `--only`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    /// pvhtest (PVH): instructions, VM exits, wall times; Debian's vmlinux to init.
    Pvh,
    /// Debian 12's vmlinuz (bzImage): instructions and VM exits to kernel entry, to init.
    Bzimage,
    /// A Debian 12 systemd disk: pvhfw against SeaBIOS with the GRUB on the disk.
    Disk,
    /// Measured boot into swtpm: pvhfw against SeaBIOS, with and without a TPM.
    Tpm,
}

impl Part {
    const ALL: [Part; 4] = [Part::Pvh, Part::Bzimage, Part::Disk, Part::Tpm];

    /// Whether the part's rows are its own (not columns of the PVH rows), so that it can be
    /// measured and published alone.
    fn has_own_rows(self) -> bool {
        matches!(self, Part::Disk | Part::Tpm)
    }

    fn name(self) -> &'static str {
        match self {
            Part::Pvh => "pvh",
            Part::Bzimage => "bzimage",
            Part::Disk => "disk",
            Part::Tpm => "tpm",
        }
    }
}

/// What a `bench.json` from before the bzImage rows measured.
fn pvh_only() -> Vec<Part> {
    vec![Part::Pvh]
}

pub struct Options {
    /// Rounds of wall-time runs (each firmware, and the null firmware, once per round).
    pub rounds: usize,
    /// Debian boots per firmware and machine.
    pub linux_runs: usize,
    /// Copy the results into docs/ (docs/benchmark.md and its charts).
    pub publish: bool,
    /// Render the last run's JSON again instead of measuring.
    pub reuse: bool,
    /// Measure only this part.
    pub only: Option<Part>,
}

impl Options {
    fn parts(&self) -> Vec<Part> {
        self.only.map_or(Part::ALL.to_vec(), |p| vec![p])
    }
}

/// One firmware on one machine; a measure that failed is `None`.
#[derive(Serialize, Deserialize, Clone, Default)]
struct Row {
    machine: String,
    firmware: String,
    image_bytes: u64,
    instructions: Option<u64>,
    exits: Option<u64>,
    kvm_ms: Option<Spread>,
    tcg_ms: Option<Spread>,
    linux_s: Option<f64>,
    /// Debian 12's vmlinuz (probe copy): instructions from reset to the kernel's own entry.
    #[serde(default)]
    bz_instructions: Option<u64>,
    /// The same, VM exits (without the probe stub's own).
    #[serde(default)]
    bz_exits: Option<u64>,
    /// Debian 12's vmlinuz from QEMU's start to init, s.
    #[serde(default)]
    bz_linux_s: Option<f64>,
    /// pvhfw only: under TCG, ms from reset to the end of each phase of its `timeline` log
    /// (median of [`measure::PHASE_RUNS`] boots); older files: none.
    #[serde(default)]
    tcg_phases_ms: Vec<(String, f64)>,
    /// What TCG translated to pvhtest's entry; older files: none.
    #[serde(default)]
    tcg_translated: Option<Translated>,
}

/// Code TCG translated: blocks, and the guest instructions in them.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
struct Translated {
    blocks: u64,
    instructions: u64,
}

/// A whole run on one QEMU, as `bench.json` stores it.
#[derive(Serialize, Deserialize)]
struct Report {
    /// QEMU's `--version` line.
    qemu: String,
    /// Which of the QEMUs ([`Version::number`]); older files: none (7.2).
    #[serde(default)]
    version: Option<String>,
    host_cpu: String,
    rounds: usize,
    linux_runs: usize,
    /// What was measured (older files: only the PVH part).
    #[serde(default = "pvh_only")]
    parts: Vec<Part>,
    rows: Vec<Row>,
    /// The disk-boot rows ([`disk`]); older files: none.
    #[serde(default)]
    disk: Vec<disk::DiskRow>,
    /// The measured-boot rows ([`tpm`]); older files: none.
    #[serde(default)]
    tpm: Vec<tpm::TpmRow>,
}

/// Measures (or with `--reuse` reads back) a run on each QEMU in `versions`, prints and stores
/// each, and with `--publish` puts them into docs/benchmark.md and docs/.
pub fn run(o: &Options, versions: &[Version]) -> Result<()> {
    if o.publish && o.only.is_some_and(|p| !p.has_own_rows()) {
        bail!("--publish needs the whole benchmark, or --only disk or tpm");
    }
    let stem = o.only.map_or("bench".to_string(), |p| format!("bench-{}", p.name()));
    for &v in versions {
        let dir = work_dir().join("bench").join(v.tag());
        std::fs::create_dir_all(&dir)?;
        let report = if o.reuse {
            serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{stem}.json")))?)?
        } else {
            measure::measure(v, o, &dir)?
        };
        let table = report::markdown(&report);
        print!("{table}");
        std::fs::write(dir.join(format!("{stem}.md")), &table)?;
        std::fs::write(dir.join(format!("{stem}.json")), serde_json::to_string_pretty(&report)?)?;
        if o.only.is_some() {
            eprintln!("bench: wrote {}/{stem}.{{md,json}}", dir.display());
            continue;
        }
        std::fs::write(dir.join("bench.svg"), svg::svg(&report.rows, &format!("QEMU {}", v.number())))?;
        eprintln!("bench: wrote {}/bench.{{md,json,svg}}", dir.display());
    }
    match (o.publish, o.only) {
        (false, _) => {}
        (true, None) => publish::publish(&work_dir().join("bench"), versions)?,
        (true, Some(part)) => publish::publish_part(&work_dir().join("bench"), versions, part)?,
    }
    Ok(())
}
