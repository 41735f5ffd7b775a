//! The measurements: QEMU runs of each firmware booting `pvhtest`, Debian's kernel (vmlinux or
//! vmlinuz) or the probe copy of the vmlinuz.

use super::stats::{median, Spread};
use super::{Options, Part, Report, Row, Translated, FIRMWARES};
use crate::build::{self, IMAGE_SIZE};
use crate::debian::{self, Release};
use crate::probe;
use crate::qemu::{self, Version, MACHINE_TYPES};
use crate::{work_dir, Result};
use anyhow::Context;
use object::elf::PT_NOTE;
use object::read::elf::{ElfFile64, ProgramHeader};
use object::Endianness;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

/// The image each firmware is for `machine`: pvhfw's own, or QEMU `v`'s qboot and SeaBIOS.
fn image(v: Version, firmware: &str, machine: &str, pvhfw: &Path) -> Result<PathBuf> {
    match firmware {
        "pvhfw" => Ok(pvhfw.to_path_buf()),
        "qboot" => v.firmware(qemu::QBOOT),
        _ if machine == "microvm" => v.firmware(qemu::SEABIOS_MICROVM),
        _ => v.firmware(qemu::SEABIOS),
    }
}

/// Every measurement of every row in the parts `o` asks for, on QEMU `v` with its own qboot
/// and SeaBIOS; `dir` receives the scratch files.
pub fn measure(v: Version, o: &Options, dir: &Path) -> Result<Report> {
    v.ensure_installed()?;
    let a = build::build()?;
    let debian = debian::fetch(Release::Bookworm)?;
    std::fs::create_dir_all(dir)?;
    let null = null_firmware(dir)?;
    let initrd = dir.join("initrd.bin");
    std::fs::write(&initrd, b"pvhfw bench initrd\n")?;
    let probe = dir.join("probe-vmlinuz");
    std::fs::write(&probe, probe::patch(&std::fs::read(&debian.bzimage)?)?)?;
    let debian_bz = debian::DebianKernel { vmlinux: debian.bzimage.clone(), ..debian.clone() };
    let kit = Kit {
        qemu: v,
        pvhfw: a.firmware.clone(),
        testkernel: a.testkernel.clone(),
        testkernel_entry: pvh_entry(&a.testkernel)?,
        initrd,
        null,
        debian,
        probe,
        debian_bz,
    };
    let mut rows = Vec::new();
    for m in MACHINE_TYPES {
        for fw in FIRMWARES {
            let path = image(v, fw, m, &kit.pvhfw)?;
            let image_bytes = std::fs::metadata(&path)?.len();
            rows.push(Row { machine: m.into(), firmware: fw.into(), image_bytes, ..Row::default() });
        }
    }
    let parts = o.parts();
    let per_part = |part| match part {
        Part::Pvh => {
            rows.len() * (3 + o.linux_runs) + MACHINE_TYPES.len() * (2 * o.rounds * (FIRMWARES.len() + 1) + PHASE_RUNS)
        }
        Part::Bzimage => rows.len() * (2 + o.linux_runs),
        Part::Disk => super::disk::steps(o.linux_runs),
        Part::Tpm => super::tpm::steps(o.linux_runs),
    };
    let mut p = Progress { qemu: v, done: 0, total: parts.iter().map(|&part| per_part(part)).sum() };
    if parts.contains(&Part::Pvh) {
        pvh(o, &kit, &mut rows, &mut p)?;
    }
    if parts.contains(&Part::Bzimage) {
        bzimage(o, &kit, &mut rows, &mut p)?;
    }
    let disk = if parts.contains(&Part::Disk) {
        super::disk::measure(v, &kit.pvhfw, o.linux_runs, dir, &mut |what| p.step(what))?
    } else {
        Vec::new()
    };
    let tpm = if parts.contains(&Part::Tpm) {
        super::tpm::measure(v, &kit.pvhfw, &kit.probe, o.linux_runs, dir, &mut |what| p.step(what))?
    } else {
        Vec::new()
    };
    Ok(Report {
        qemu: v.version_line(),
        version: Some(v.number().into()),
        host_cpu: host_cpu(),
        rounds: o.rounds,
        linux_runs: o.linux_runs,
        parts,
        rows,
        disk,
        tpm,
    })
}

/// pvhtest's instructions, VM exits and wall times; Debian's vmlinux to init.
fn pvh(o: &Options, kit: &Kit, rows: &mut [Row], p: &mut Progress) -> Result<()> {
    for row in rows.iter_mut() {
        let fw = image(kit.qemu, &row.firmware, &row.machine, &kit.pvhfw)?;
        p.step(&format!("instructions {} {}", row.machine, row.firmware));
        row.instructions = instructions(kit, &row.machine, &fw);
        p.step(&format!("VM exits {} {}", row.machine, row.firmware));
        row.exits = exits(kit, &row.machine, &fw);
        p.step(&format!("TCG translation {} {}", row.machine, row.firmware));
        row.tcg_translated = translated(kit, &row.machine, &fw);
    }
    for m in MACHINE_TYPES {
        for accel in ["kvm", "tcg"] {
            let times = wall_times(kit, m, accel, o.rounds, p)?;
            for (row, t) in rows.iter_mut().filter(|r| r.machine == m).zip(times) {
                *(if accel == "kvm" { &mut row.kvm_ms } else { &mut row.tcg_ms }) = t;
            }
        }
    }
    for row in rows.iter_mut().filter(|r| r.firmware == "pvhfw") {
        row.tcg_phases_ms = tcg_phases(kit, &row.machine, p);
    }
    for row in rows.iter_mut() {
        let fw = image(kit.qemu, &row.firmware, &row.machine, &kit.pvhfw)?;
        row.linux_s = linux_median(kit, o, &kit.debian, &row.machine, &row.firmware, &fw, p);
    }
    Ok(())
}

/// Boots per machine for pvhfw's phase times under TCG.
pub const PHASE_RUNS: usize = 9;

/// pvhfw's phases under TCG on `machine`: ms from reset to the end of each phase of its
/// `timeline` log; the median of [`PHASE_RUNS`] boots, empty if any boot printed other phases
/// or none.
fn tcg_phases(k: &Kit, machine: &str, p: &mut Progress) -> Vec<(String, f64)> {
    let khz = qemu::host_khz() as f64;
    let mut runs: Vec<Vec<(String, f64)>> = Vec::new();
    for i in 0..PHASE_RUNS {
        p.step(&format!("TCG phases {machine} pvhfw ({}/{PHASE_RUNS})", i + 1));
        let mut args = pvhtest_args(k, machine, &k.pvhfw, "tcg", false);
        args.extend(["-fw_cfg", "name=opt/org.pvhfw/log,string=timeline"].map(String::from));
        let Some((_, serial)) = run_with_console(k, args, "pvhtest-serial.log") else {
            return Vec::new();
        };
        runs.push(parse_phases(&serial, khz));
    }
    let Some(names) = runs.first().map(|r| r.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>()) else {
        return Vec::new();
    };
    if names.is_empty() || runs.iter().any(|r| r.iter().map(|(n, _)| n).ne(names.iter())) {
        return Vec::new();
    }
    let at = |i: usize| median(runs.iter().map(|r| r[i].1).collect());
    names.into_iter().enumerate().map(|(i, n)| (n, at(i))).collect()
}

/// The `pvhfw: tsc N PHASE` lines of a boot's console, in ms at `khz` ticks per ms. (Not
/// pvhtest's entry: pvhfw prints the log between its last phase and the jump, which under TCG
/// takes a millisecond of port writes.)
fn parse_phases(serial: &str, khz: f64) -> Vec<(String, f64)> {
    let stamp = |line: &str| {
        let (tsc, name) = line.trim_end().strip_prefix("pvhfw: tsc ")?.split_once(' ')?;
        Some((name.to_string(), tsc.parse::<f64>().ok()? / khz))
    };
    serial.lines().filter_map(stamp).collect()
}

/// Debian 12's vmlinuz: the probe's instructions and VM exits to kernel entry, the real one to
/// init.
fn bzimage(o: &Options, kit: &Kit, rows: &mut [Row], p: &mut Progress) -> Result<()> {
    for row in rows.iter_mut() {
        let fw = image(kit.qemu, &row.firmware, &row.machine, &kit.pvhfw)?;
        p.step(&format!("bzImage instructions {} {}", row.machine, row.firmware));
        row.bz_instructions = probe_instructions(kit, &row.machine, &fw);
        p.step(&format!("bzImage VM exits {} {}", row.machine, row.firmware));
        row.bz_exits = probe_exits(kit, &row.machine, &fw);
    }
    for row in rows.iter_mut() {
        let fw = image(kit.qemu, &row.firmware, &row.machine, &kit.pvhfw)?;
        row.bz_linux_s = linux_median(kit, o, &kit.debian_bz, &row.machine, &row.firmware, &fw, p);
    }
    Ok(())
}

/// The median of `--linux-runs` boots of `kernel` to init; `None` if any failed.
fn linux_median(
    kit: &Kit,
    o: &Options,
    kernel: &debian::DebianKernel,
    machine: &str,
    name: &str,
    fw: &Path,
    p: &mut Progress,
) -> Option<f64> {
    let file = kernel.vmlinux.file_name().map_or("?".into(), |f| f.to_string_lossy().into_owned());
    let boots: Vec<f64> = (0..o.linux_runs)
        .filter_map(|i| {
            p.step(&format!("Debian {file} to init {machine} {name} ({}/{})", i + 1, o.linux_runs));
            linux_to_init(kit.qemu, kernel, machine, fw)
        })
        .collect();
    (boots.len() == o.linux_runs && !boots.is_empty()).then(|| median(boots))
}

/// What every measured boot uses.
struct Kit {
    /// The QEMU measured on.
    qemu: Version,
    pvhfw: PathBuf,
    testkernel: PathBuf,
    /// pvhtest's PVH entry, where the translation count stops.
    testkernel_entry: u64,
    initrd: PathBuf,
    null: PathBuf,
    debian: debian::DebianKernel,
    /// Debian's vmlinuz with the probe stub at its entries.
    probe: PathBuf,
    /// Debian's kernel with the vmlinuz in place of the vmlinux (what [`crate::linux::boot`] boots).
    debian_bz: debian::DebianKernel,
}

struct Progress {
    qemu: Version,
    done: usize,
    total: usize,
}

impl Progress {
    fn step(&mut self, what: &str) {
        self.done += 1;
        eprintln!("bench {} [{:>3}/{}] {what}", self.qemu.tag(), self.done, self.total);
    }
}

/// An image of pvhfw's size that ends the run at the reset vector: `mov al, 0; out 0xf4, al` to
/// isa-debug-exit, then `hlt` in a loop. Timing it measures QEMU without any firmware.
fn null_firmware(dir: &Path) -> Result<PathBuf> {
    let mut image = vec![0u8; IMAGE_SIZE as usize];
    let reset = IMAGE_SIZE as usize - 16;
    image[reset..reset + 7].copy_from_slice(&[0xb0, 0x00, 0xe6, 0xf4, 0xf4, 0xeb, 0xfd]);
    let path = dir.join("null.bin");
    std::fs::write(&path, image)?;
    Ok(path)
}

/// QEMU arguments for a firmware booting pvhtest, which ends the run at its entry through
/// isa-debug-exit (status 1) when `exit_at_entry`.
fn pvhtest_args(k: &Kit, machine: &str, firmware: &Path, accel: &str, exit_at_entry: bool) -> Vec<String> {
    let append = if exit_at_entry { "pvhtest.exit-at-entry" } else { "bench" };
    kernel_args(machine, accel, "256M", firmware, &k.testkernel, &k.initrd, append)
}

/// QEMU arguments for `firmware` booting `kernel` with `initrd` and command line `append` on
/// `machine` with `memory` under `accel`, with the exit device the kernels end the run with.
pub(super) fn kernel_args(
    machine: &str,
    accel: &str,
    memory: &str,
    firmware: &Path,
    kernel: &Path,
    initrd: &Path,
    append: &str,
) -> Vec<String> {
    let mut args = qemu::base_args(machine);
    args.extend(["-accel", accel, "-m", memory].map(String::from));
    args.extend(qemu::DEBUG_EXIT.map(String::from));
    args.extend(["-bios".into(), firmware.display().to_string()]);
    args.extend(["-kernel".into(), kernel.display().to_string()]);
    args.extend(["-initrd".into(), initrd.display().to_string()]);
    args.extend(["-append".into(), append.into()]);
    args
}

/// Instructions from reset to kernel entry, as pvhtest's first RDTSC under `-icount shift=0`.
fn instructions(k: &Kit, machine: &str, firmware: &Path) -> Option<u64> {
    let mut args = pvhtest_args(k, machine, firmware, "tcg", false);
    args.extend(["-icount", "shift=0,sleep=off"].map(String::from));
    let (_, serial) = run_with_console(k, args, "pvhtest-serial.log")?;
    serial.lines().find_map(|l| l.strip_prefix("pvhtest: tsc ")?.trim().parse().ok())
}

/// Exits to QEMU before kernel entry: all of them in a run that pvhtest ends at its entry
/// with one exit of its own. `None` unless the kernel was reached.
fn exits(k: &Kit, machine: &str, firmware: &Path) -> Option<u64> {
    Some(kvm_exits(k, pvhtest_args(k, machine, firmware, "kvm", true), "exits.log")? - 1)
}

/// What TCG translated from reset to pvhtest's entry: blocks and guest instructions, each
/// block counted as often as it was translated, from QEMU's `-d in_asm` log. Under TCG a
/// firmware's time goes mostly to translating code that runs once, so its TCG time follows
/// this rather than the instructions it executes. `None` unless the run reached the entry.
fn translated(k: &Kit, machine: &str, firmware: &Path) -> Option<Translated> {
    let args = pvhtest_args(k, machine, firmware, "tcg", true);
    parse_in_asm(&log_to_entry(k, args, &["-d", "in_asm"], "in_asm.log")?, k.testkernel_entry)
}

/// The blocks (`IN:` headers) and instructions of an `in_asm` log before the block at `entry`;
/// `None` if no block starts there. An instruction is a `0xADDRESS:` line with a mnemonic
/// after its bytes: QEMU puts the rest of a long instruction's bytes on lines of their own.
fn parse_in_asm(log: &str, entry: u64) -> Option<Translated> {
    let mut t = Translated { blocks: 0, instructions: 0 };
    let mut block_start = false;
    for line in log.lines() {
        if line.starts_with("IN:") {
            block_start = true;
            continue;
        }
        let Some((address, rest)) = line.strip_prefix("0x").and_then(|l| l.split_once(':')) else { continue };
        let Ok(address) = u64::from_str_radix(address, 16) else { continue };
        if rest.split_whitespace().all(is_hex_byte) {
            continue;
        }
        if block_start && address == entry {
            return Some(t);
        }
        t.blocks += u64::from(block_start);
        t.instructions += 1;
        block_start = false;
    }
    None
}

/// `word` is one byte in hex, as `in_asm` prints an instruction's bytes (x86 has no mnemonic
/// of two hex digits).
fn is_hex_byte(word: &str) -> bool {
    word.len() == 2 && word.bytes().all(|b| b.is_ascii_hexdigit())
}

/// pvhtest's PVH entry, from its ELF notes.
fn pvh_entry(elf: &Path) -> Result<u64> {
    let data = std::fs::read(elf)?;
    let file = ElfFile64::<Endianness>::parse(&*data)?;
    let notes = file.elf_program_headers().iter().filter(|ph| ph.p_type(Endianness::Little) == PT_NOTE);
    notes
        .filter_map(|ph| pvhfw::kernel::pvh_entry(ph.data(Endianness::Little, &*data).ok()?))
        .next()
        .map(u64::from)
        .with_context(|| format!("{}: no PVH entry note", elf.display()))
}

/// Runs QEMU with `args` and its console in `bench/<name>`, for at most [`PROBE_TIMEOUT`] (a
/// firmware that hangs ends the measurement, not the bench): its exit status and the console.
/// `None` if QEMU could not start or was killed.
fn run_with_console(k: &Kit, mut args: Vec<String>, name: &str) -> Option<(i32, String)> {
    let serial = work_dir().join("bench").join(name);
    let _ = std::fs::remove_file(&serial);
    args.extend(["-serial".into(), format!("file:{}", serial.display())]);
    let status = run_bounded(k.qemu, &args, PROBE_TIMEOUT, || false)?;
    Some((status, std::fs::read_to_string(&serial).ok()?))
}

/// All the VM exits of a KVM run with `args`, the kernel's own included; `None` unless the
/// run ended at the kernel's entry ([`log_to_entry`]).
fn kvm_exits(k: &Kit, args: Vec<String>, name: &str) -> Option<u64> {
    Some(exits_in(&log_to_entry(k, args, &TRACE_EXITS, name)?))
}

/// QEMU's log of a run with `args`, without a console, logging what `log` asks for to
/// `bench/<name>`; `None` unless the run ended at the kernel's entry (status 1) within
/// [`PROBE_TIMEOUT`].
fn log_to_entry(k: &Kit, mut args: Vec<String>, log: &[&str], name: &str) -> Option<String> {
    let path = work_dir().join("bench").join(name);
    let _ = std::fs::remove_file(&path);
    args.extend(["-serial", "none"].iter().chain(log).map(|a| a.to_string()));
    args.extend(["-D".into(), path.display().to_string()]);
    if run_bounded(k.qemu, &args, PROBE_TIMEOUT, || false)? != 1 {
        return None;
    }
    std::fs::read_to_string(&path).ok()
}

/// QEMU's trace event for a VM exit, and the arguments that trace every one of a KVM run.
const EXIT_EVENT: &str = "kvm_run_exit";
const TRACE_EXITS: [&str; 2] = ["-trace", EXIT_EVENT];

/// The arguments that trace every VM exit of a KVM run to `trace`.
pub(super) fn trace_exits(trace: &Path) -> [String; 4] {
    let [trace_opt, event] = TRACE_EXITS.map(String::from);
    [trace_opt, event, "-D".into(), trace.display().to_string()]
}

/// The VM exits a run traced to `trace` ([`trace_exits`]).
pub(super) fn exits_traced(trace: &Path) -> Option<u64> {
    Some(exits_in(&std::fs::read_to_string(trace).ok()?))
}

/// The VM exits in a QEMU log that traced them.
fn exits_in(log: &str) -> u64 {
    log.lines().filter(|l| l.contains(EXIT_EVENT)).count() as u64
}

/// One QEMU process from spawn to exit; `None` unless it ended at the kernel's entry (or, for
/// the null firmware, at its reset vector), both status 1, within [`PROBE_TIMEOUT`].
fn time_once(v: Version, args: &[String]) -> Option<Duration> {
    time_to_exit(v.command().args(args), PROBE_TIMEOUT)
}

/// `command` from spawn to exit; `None` unless it exited with status 1 within `timeout`. The
/// wait blocks, as polling would round the time it measures; a watchdog thread kills a process
/// that runs past `timeout`.
fn time_to_exit(command: &mut Command, timeout: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut child = command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().ok()?;
    let (ended, watch) = std::sync::mpsc::channel::<()>();
    let pid = child.id();
    let watchdog = std::thread::spawn(move || {
        if let Err(RecvTimeoutError::Timeout) = watch.recv_timeout(timeout) {
            // The shell's own `kill`: the `kill` program is not on every machine.
            let _ = Command::new("sh").args(["-c", &format!("kill -KILL {pid}")]).status();
        }
    });
    let status = child.wait();
    let elapsed = start.elapsed();
    let _ = ended.send(());
    let _ = watchdog.join();
    (status.ok()?.code() == Some(1)).then_some(elapsed)
}

/// Firmware wall time in ms for each of [`FIRMWARES`] on `machine`: per round, each run minus
/// the null firmware's run of that round (rounds interleave the firmwares, so drift in the
/// host's load hits them alike); `None` if any run failed.
fn wall_times(k: &Kit, machine: &str, accel: &str, rounds: usize, p: &mut Progress) -> Result<Vec<Option<Spread>>> {
    let mut images = vec![k.null.clone()];
    for fw in FIRMWARES {
        images.push(image(k.qemu, fw, machine, &k.pvhfw)?);
    }
    let runs: Vec<Vec<String>> = images
        .iter()
        .map(|img| {
            let mut a = pvhtest_args(k, machine, img, accel, true);
            a.extend(["-serial".into(), "none".into()]);
            a
        })
        .collect();
    let mut diffs: Vec<Option<Vec<f64>>> = vec![Some(Vec::new()); FIRMWARES.len()];
    for round in 0..rounds {
        let mut times = Vec::new();
        for (i, args) in runs.iter().enumerate() {
            let name = if i == 0 { "null firmware" } else { FIRMWARES[i - 1] };
            p.step(&format!("wall time {machine} {accel} {name} ({}/{rounds})", round + 1));
            times.push(time_once(k.qemu, args).map(|t| t.as_secs_f64() * 1000.0));
        }
        let floor = times[0].context("the null firmware did not end its run")?;
        for (d, t) in diffs.iter_mut().zip(&times[1..]) {
            *d = match (d.take(), t) {
                (Some(mut v), Some(t)) => {
                    v.push(t - floor);
                    Some(v)
                }
                _ => None,
            };
        }
    }
    Ok(diffs.into_iter().map(|d| d.map(Spread::of)).collect())
}

/// QEMU arguments for a firmware booting the probe copy of Debian's vmlinuz, whose stub ends the
/// run at the kernel's entry through isa-debug-exit (status 1).
fn probe_args(k: &Kit, machine: &str, firmware: &Path, accel: &str) -> Vec<String> {
    kernel_args(machine, accel, "256M", firmware, &k.probe, &k.initrd, "bench")
}

/// A pvhtest or probe run may hang where a firmware cannot boot the kernel; it is given this
/// long.
const PROBE_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs QEMU with `args` to its exit status; `None` if it could not start, or was killed after
/// `timeout` or once `gave_up` says the guest will not get anywhere.
pub(super) fn run_bounded(v: Version, args: &[String], timeout: Duration, gave_up: impl Fn() -> bool) -> Option<i32> {
    let mut child =
        v.command().args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().ok()?;
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().ok()? {
            return status.code();
        }
        if start.elapsed() > timeout || gave_up() {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Instructions from reset to the vmlinuz's own entry: the TSC the probe stub prints under
/// `-icount shift=0`.
fn probe_instructions(k: &Kit, machine: &str, firmware: &Path) -> Option<u64> {
    let mut args = probe_args(k, machine, firmware, "tcg");
    args.extend(["-icount", "shift=0,sleep=off"].map(String::from));
    match run_with_console(k, args, "probe-serial.log")? {
        (1, serial) => probe::parse_tsc(&serial),
        _ => None,
    }
}

/// VM exits before the vmlinuz's own entry: all of the run's, minus the probe stub's.
fn probe_exits(k: &Kit, machine: &str, firmware: &Path) -> Option<u64> {
    probe::exits_before_entry(kvm_exits(k, probe_args(k, machine, firmware, "kvm"), "probe-exits.log")?)
}

/// Seconds from QEMU `v`'s start until Debian's init prints its first line.
fn linux_to_init(v: Version, kernel: &debian::DebianKernel, machine: &str, firmware: &Path) -> Option<f64> {
    let q = crate::linux::boot(v, "bench-linux", machine, firmware, kernel, "quiet").allow_reboot();
    let q = q.until("pvhfw-init: cmdline").timeout(120);
    let start = Instant::now();
    let outcome = q.run().ok()?;
    let elapsed = start.elapsed().as_secs_f64();
    outcome.serial.contains("pvhfw-init: cmdline").then_some(elapsed)
}

fn host_cpu() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info.lines().find_map(|l| l.strip_prefix("model name")?.split(':').nth(1)).unwrap_or("?").trim();
    format!("{model}, {} CPUs", info.lines().filter(|l| l.starts_with("processor")).count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_from_the_timeline() {
        let serial = "pvhfw: tsc 2000 fw_cfg\r\nnoise\npvhfw: tsc 5000 memory map\npvhtest: tsc 9000\npvhtest: ok\n";
        assert_eq!(parse_phases(serial, 1000.0), [("fw_cfg".to_string(), 2.0), ("memory map".to_string(), 5.0)]);
        assert!(parse_phases("pvhfw: tsc x y\n", 1000.0).is_empty());
    }

    #[test]
    fn a_timed_run_that_hangs_is_killed() {
        let start = Instant::now();
        assert_eq!(time_to_exit(Command::new("sh").args(["-c", "sleep 30"]), Duration::from_millis(200)), None);
        assert!(start.elapsed() < Duration::from_secs(10));
        assert!(time_to_exit(Command::new("sh").args(["-c", "exit 1"]), Duration::from_secs(30)).is_some());
        assert_eq!(time_to_exit(Command::new("sh").args(["-c", "exit 0"]), Duration::from_secs(30)), None);
    }

    #[test]
    fn translation_counted_to_the_entry() {
        // A long instruction's last bytes are on a line of their own: not an instruction.
        let log = "IN: \n0xfffffff0:  e9 0d fe  jmp 0xfe00\n\nIN: \n\
                   0x000f0000:  c7 05 fc ff 02 00 3c c3  movl $0x5aa5c33c, 0x2fffc\n0x000f0008:  a5 5a\n\
                   0x000f000a:  e6 80  outb %al, $0x80\n0x00100343:  eb fe  jmp 0x100343\n\n\
                   IN: \n0x00100343:  fa  cli\n0x00100344:  f4  hlt\n";
        let t = parse_in_asm(log, 0x100343).unwrap();
        assert_eq!((t.blocks, t.instructions), (2, 4));
        assert!(parse_in_asm(log, 0x100000).is_none());
    }
}
