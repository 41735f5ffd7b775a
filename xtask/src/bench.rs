//! `cargo xtask bench`: pvhfw against qboot and SeaBIOS, side by side, in one run.
//!
//! Per machine (`pc`, `q35`, `microvm`) and firmware:
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
//! 5. the image size.
//!
//! Results go to `target/bench/` as a Markdown table, JSON and an SVG chart; `--publish`
//! copies them into `docs/` and the README.

use crate::debian::{self, Release};
use crate::qemu::{self, QEMU};
use crate::{build, root, work_dir, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MACHINES: [&str; 3] = ["pc", "q35", "microvm"];
const FIRMWARES: [&str; 3] = ["pvhfw", "qboot", "SeaBIOS"];

/// Targets from the benchmark issue, as fractions of qboot's figure.
const MAX_INSTRUCTIONS: f64 = 0.25;
const MAX_EXITS: f64 = 0.25;
const MAX_KVM_TIME: f64 = 0.50;

pub struct Options {
    /// Rounds of wall-time runs (each firmware, and the null firmware, once per round).
    pub rounds: usize,
    /// Debian boots per firmware and machine.
    pub linux_runs: usize,
    /// Copy the results into docs/ and the README.
    pub publish: bool,
    /// Render the last run's JSON again instead of measuring.
    pub reuse: bool,
}

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
}

/// Median and interquartile range of a sample.
#[derive(Serialize, Deserialize, Clone, Copy, Default)]
struct Spread {
    median: f64,
    q1: f64,
    q3: f64,
}

impl Spread {
    fn of(mut v: Vec<f64>) -> Spread {
        v.sort_by(f64::total_cmp);
        let at = |q: f64| {
            let x = q * (v.len() - 1) as f64;
            let (lo, hi) = (x.floor() as usize, x.ceil() as usize);
            v[lo] + (v[hi] - v[lo]) * (x - lo as f64)
        };
        Spread { median: at(0.5), q1: at(0.25), q3: at(0.75) }
    }
}

#[derive(Serialize, Deserialize)]
struct Report {
    qemu: String,
    host_cpu: String,
    rounds: usize,
    linux_runs: usize,
    rows: Vec<Row>,
}

/// The image each firmware is for `machine`.
fn image(firmware: &str, machine: &str, pvhfw: &Path) -> Result<PathBuf> {
    match firmware {
        "pvhfw" => Ok(pvhfw.to_path_buf()),
        "qboot" => qemu::anchor_firmware("qboot.rom"),
        _ if machine == "microvm" => qemu::anchor_firmware("bios-microvm.bin"),
        _ => qemu::anchor_firmware("bios-256k.bin"),
    }
}

pub fn run(o: &Options) -> Result<()> {
    let dir = work_dir().join("bench");
    let report = if o.reuse {
        serde_json::from_str(&std::fs::read_to_string(dir.join("bench.json"))?)?
    } else {
        measure(o, &dir)?
    };
    let table = markdown(&report);
    print!("{table}");
    std::fs::write(dir.join("bench.md"), &table)?;
    std::fs::write(dir.join("bench.json"), serde_json::to_string_pretty(&report)?)?;
    std::fs::write(dir.join("bench.svg"), svg(&report.rows))?;
    eprintln!("bench: wrote {}/bench.{{md,json,svg}}", dir.display());
    if o.publish {
        publish(&dir, &table)?;
    }
    Ok(())
}

fn measure(o: &Options, dir: &Path) -> Result<Report> {
    qemu::ensure_installed()?;
    let a = build::build()?;
    let debian = debian::fetch(Release::Bookworm)?;
    std::fs::create_dir_all(dir)?;
    let null = null_firmware(dir)?;
    let initrd = dir.join("initrd.bin");
    std::fs::write(&initrd, b"pvhfw bench initrd\n")?;
    let kit = Kit { pvhfw: a.firmware.clone(), testkernel: a.testkernel.clone(), initrd, null, debian };
    let mut rows = Vec::new();
    for m in MACHINES {
        for fw in FIRMWARES {
            let path = image(fw, m, &kit.pvhfw)?;
            let image_bytes = std::fs::metadata(&path)?.len();
            rows.push(Row { machine: m.into(), firmware: fw.into(), image_bytes, ..Row::default() });
        }
    }
    let steps = rows.len() * (2 + o.linux_runs) + MACHINES.len() * 2 * o.rounds * (FIRMWARES.len() + 1);
    let mut p = Progress { done: 0, total: steps };
    for row in &mut rows {
        let fw = image(&row.firmware, &row.machine, &kit.pvhfw)?;
        p.step(&format!("instructions {} {}", row.machine, row.firmware));
        row.instructions = instructions(&kit, &row.machine, &fw);
        p.step(&format!("VM exits {} {}", row.machine, row.firmware));
        row.exits = exits(&kit, &row.machine, &fw);
    }
    for m in MACHINES {
        for accel in ["kvm", "tcg"] {
            let times = wall_times(&kit, m, accel, o.rounds, &mut p)?;
            for (row, t) in rows.iter_mut().filter(|r| r.machine == m).zip(times) {
                *(if accel == "kvm" { &mut row.kvm_ms } else { &mut row.tcg_ms }) = t;
            }
        }
    }
    for row in &mut rows {
        let fw = image(&row.firmware, &row.machine, &kit.pvhfw)?;
        let boots: Vec<f64> = (0..o.linux_runs)
            .filter_map(|i| {
                p.step(&format!("Debian to init {} {} ({}/{})", row.machine, row.firmware, i + 1, o.linux_runs));
                linux_to_init(&kit, &row.machine, &fw)
            })
            .collect();
        row.linux_s = (boots.len() == o.linux_runs).then(|| median(boots));
    }
    Ok(Report { qemu: qemu_version(), host_cpu: host_cpu(), rounds: o.rounds, linux_runs: o.linux_runs, rows })
}

/// What every measured boot uses.
struct Kit {
    pvhfw: PathBuf,
    testkernel: PathBuf,
    initrd: PathBuf,
    null: PathBuf,
    debian: debian::DebianKernel,
}

struct Progress {
    done: usize,
    total: usize,
}

impl Progress {
    fn step(&mut self, what: &str) {
        self.done += 1;
        eprintln!("bench [{:>3}/{}] {what}", self.done, self.total);
    }
}

/// A 64 KiB image that ends the run at the reset vector: `mov al, 0; out 0xf4, al` to
/// isa-debug-exit, then `hlt` in a loop. Timing it measures QEMU without any firmware.
fn null_firmware(dir: &Path) -> Result<PathBuf> {
    let mut image = vec![0u8; 64 * 1024];
    image[0xfff0..0xfff7].copy_from_slice(&[0xb0, 0x00, 0xe6, 0xf4, 0xf4, 0xeb, 0xfd]);
    let path = dir.join("null.bin");
    std::fs::write(&path, image)?;
    Ok(path)
}

/// QEMU arguments for a firmware booting pvhtest, which ends the run at its entry through
/// isa-debug-exit (status 1) when `exit_at_entry`.
fn pvhtest_args(k: &Kit, machine: &str, firmware: &Path, accel: &str, exit_at_entry: bool) -> Vec<String> {
    let mut args: Vec<String> = ["-M", machine, "-accel", accel, "-m", "256M", "-nodefaults", "-display", "none"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(["-monitor", "none", "-device", "isa-debug-exit,iobase=0xf4,iosize=4"].map(String::from));
    args.extend(["-bios".into(), firmware.display().to_string()]);
    args.extend(["-kernel".into(), k.testkernel.display().to_string()]);
    args.extend(["-initrd".into(), k.initrd.display().to_string()]);
    args.extend(["-append".into(), if exit_at_entry { "pvhtest.exit-at-entry" } else { "bench" }.into()]);
    args
}

/// Instructions from reset to kernel entry, as pvhtest's first RDTSC under `-icount shift=0`.
fn instructions(k: &Kit, machine: &str, firmware: &Path) -> Option<u64> {
    let mut args = pvhtest_args(k, machine, firmware, "tcg", false);
    args.extend(["-icount", "shift=0,sleep=off", "-serial", "stdio"].map(String::from));
    let out = Command::new(QEMU).args(&args).stdin(Stdio::null()).stderr(Stdio::null()).output().ok()?;
    let serial = String::from_utf8_lossy(&out.stdout);
    serial.lines().find_map(|l| l.strip_prefix("pvhtest: tsc ")?.trim().parse().ok())
}

/// Exits to QEMU before kernel entry: all of them in a run that pvhtest ends at its entry
/// with one exit of its own. `None` unless the kernel was reached.
fn exits(k: &Kit, machine: &str, firmware: &Path) -> Option<u64> {
    let trace = work_dir().join("bench/exits.log");
    let _ = std::fs::remove_file(&trace);
    let mut args = pvhtest_args(k, machine, firmware, "kvm", true);
    args.extend(["-serial".into(), "none".into(), "-trace".into(), "kvm_run_exit".into(), "-D".into()]);
    args.push(trace.display().to_string());
    let status = Command::new(QEMU).args(&args).stdin(Stdio::null()).stderr(Stdio::null()).status().ok()?;
    if status.code() != Some(1) {
        return None;
    }
    let log = std::fs::read_to_string(&trace).ok()?;
    Some(log.lines().filter(|l| l.contains("kvm_run_exit")).count() as u64 - 1)
}

/// One QEMU process from spawn to exit; `None` unless it ended at the kernel's entry (or, for
/// the null firmware, at its reset vector), both status 1.
fn time_once(args: &[String]) -> Option<Duration> {
    let start = Instant::now();
    let status =
        Command::new(QEMU).args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status().ok()?;
    let elapsed = start.elapsed();
    (status.code() == Some(1)).then_some(elapsed)
}

/// Firmware wall time in ms for each of [`FIRMWARES`] on `machine`: per round, each run minus
/// the null firmware's run of that round (rounds interleave the firmwares, so drift in the
/// host's load hits them alike); `None` if any run failed.
fn wall_times(k: &Kit, machine: &str, accel: &str, rounds: usize, p: &mut Progress) -> Result<Vec<Option<Spread>>> {
    let mut images = vec![k.null.clone()];
    for fw in FIRMWARES {
        images.push(image(fw, machine, &k.pvhfw)?);
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
            times.push(time_once(args).map(|t| t.as_secs_f64() * 1000.0));
        }
        let floor = times[0].ok_or("the null firmware did not end its run")?;
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

/// Seconds from QEMU's start until Debian's init prints its first line.
fn linux_to_init(k: &Kit, machine: &str, firmware: &Path) -> Option<f64> {
    let q = debian::boot("bench-linux", machine, firmware, &k.debian, "quiet").allow_reboot();
    let q = q.until("pvhfw-init: cmdline").timeout(120);
    let start = Instant::now();
    let outcome = q.run().ok()?;
    let elapsed = start.elapsed().as_secs_f64();
    outcome.serial.contains("pvhfw-init: cmdline").then_some(elapsed)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn qemu_version() -> String {
    let out = Command::new(QEMU).arg("--version").output().map(|o| o.stdout).unwrap_or_default();
    String::from_utf8_lossy(&out).lines().next().unwrap_or("").to_string()
}

fn host_cpu() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info.lines().find_map(|l| l.strip_prefix("model name")?.split(':').nth(1)).unwrap_or("?").trim();
    format!("{model}, {} CPUs", info.lines().filter(|l| l.starts_with("processor")).count())
}

fn fmt_int(v: Option<u64>) -> String {
    let Some(v) = v else { return "n/a".into() };
    let s = v.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

fn fmt_f(v: Option<f64>, digits: usize) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.digits$}"))
}

/// `median (q1..q3)`; `≈0` for a median at or below zero: the firmware then takes less time
/// than QEMU's start-up varies by.
fn fmt_spread(v: Option<Spread>, digits: usize) -> String {
    v.map_or("n/a".into(), |s| {
        let median = if s.median <= 0.0 { "≈0".to_string() } else { format!("{:.digits$}", s.median) };
        format!("{median} ({:.digits$}..{:.digits$})", s.q1, s.q3)
    })
}

/// `pvhfw / qboot` as a percentage, with the target it is held to.
fn ratio(ours: Option<f64>, qboot: Option<f64>, target: f64) -> String {
    match (ours, qboot) {
        (Some(o), Some(q)) if q > 0.0 => {
            let r = o / q;
            let mark = if r <= target { "meets" } else { "misses" };
            format!("{:.1}% ({mark} ≤ {:.0}%)", r * 100.0, target * 100.0)
        }
        _ => "n/a".into(),
    }
}

fn markdown(r: &Report) -> String {
    let mut t = String::new();
    t.push_str(&format!(
        "QEMU: {}; host: {}. Wall times: per round, the QEMU process with the firmware minus \
         with a null firmware; median (interquartile range) of {} interleaved rounds. \
         Debian 12 to init: median of {} boots under TCG.\n\n",
        r.qemu, r.host_cpu, r.rounds, r.linux_runs
    ));
    t.push_str("| machine | firmware | instructions | VM exits | KVM ms | TCG ms | Debian to init, s | image KiB |\n");
    t.push_str("|---|---|---:|---:|---:|---:|---:|---:|\n");
    for row in &r.rows {
        t.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            row.machine,
            row.firmware,
            fmt_int(row.instructions),
            fmt_int(row.exits),
            fmt_spread(row.kvm_ms, 1),
            fmt_spread(row.tcg_ms, 1),
            fmt_f(row.linux_s, 2),
            row.image_bytes / 1024
        ));
    }
    t.push_str(
        "\n| machine | instructions vs qboot | VM exits vs qboot | KVM wall time vs qboot |\n|---|---|---|---|\n",
    );
    for m in MACHINES {
        let get = |fw: &str| r.rows.iter().find(|x| x.machine == m && x.firmware == fw).cloned().unwrap_or_default();
        let (ours, qboot) = (get("pvhfw"), get("qboot"));
        let f = |v: Option<u64>| v.map(|v| v as f64);
        t.push_str(&format!(
            "| {m} | {} | {} | {} |\n",
            ratio(f(ours.instructions), f(qboot.instructions), MAX_INSTRUCTIONS),
            ratio(f(ours.exits), f(qboot.exits), MAX_EXITS),
            match ours.kvm_ms {
                Some(s) if s.median <= 0.0 => "≈0, below resolution (meets ≤ 50%)".to_string(),
                Some(s) if s.q1 <= 0.0 =>
                    format!("{}, range reaches 0", ratio(Some(s.median), qboot.kvm_ms.map(|s| s.median), MAX_KVM_TIME)),
                _ => ratio(ours.kvm_ms.map(|s| s.median), qboot.kvm_ms.map(|s| s.median), MAX_KVM_TIME),
            }
        ));
    }
    t
}

/// Grouped bar charts, one panel per measure, log scale (the firmwares differ by orders of
/// magnitude), each bar labelled with its value.
fn svg(rows: &[Row]) -> String {
    type Pick = fn(&Row) -> Option<f64>;
    let panels: [(&str, Pick); 4] = [
        ("guest instructions to kernel entry", |r| r.instructions.map(|v| v as f64)),
        ("VM exits before kernel entry (KVM)", |r| r.exits.map(|v| v as f64)),
        ("firmware wall time under KVM, ms", |r| r.kvm_ms.map(|s| s.median)),
        ("firmware wall time under TCG, ms", |r| r.tcg_ms.map(|s| s.median)),
    ];
    let colors = ["#2b8a3e", "#1c7ed6", "#868e96"];
    let (pw, ph, margin) = (460.0, 230.0, 40.0);
    let (width, height) = (2.0 * pw + 3.0 * margin, 2.0 * ph + 3.0 * margin + 30.0);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"11\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    for (i, fw) in FIRMWARES.iter().enumerate() {
        let x = margin + i as f64 * 110.0;
        s.push_str(&format!(
            "<rect x=\"{x}\" y=\"12\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{}\" y=\"22\">{fw}</text>\n",
            colors[i],
            x + 16.0
        ));
    }
    for (p, (title, pick)) in panels.iter().enumerate() {
        let (ox, oy) = (margin + (p % 2) as f64 * (pw + margin), 30.0 + margin + (p / 2) as f64 * (ph + margin));
        let values: Vec<f64> = rows.iter().filter_map(pick).filter(|v| *v > 0.0).collect();
        let top = values.iter().cloned().fold(1.0, f64::max).log10().ceil().max(1.0);
        let bottom = values.iter().cloned().fold(f64::MAX, f64::min).log10().floor().min(top - 1.0).min(0.0);
        let scale = |v: f64| (ph - 30.0) * ((v.max(10f64.powf(bottom)).log10() - bottom) / (top - bottom));
        s.push_str(&format!("<text x=\"{ox}\" y=\"{}\" font-weight=\"bold\">{title} (log scale)</text>\n", oy - 8.0));
        s.push_str(&format!(
            "<line x1=\"{ox}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n",
            oy + ph - 20.0,
            ox + pw,
            oy + ph - 20.0
        ));
        let group = pw / MACHINES.len() as f64;
        for (mi, m) in MACHINES.iter().enumerate() {
            let gx = ox + mi as f64 * group;
            s.push_str(&format!(
                "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{m}</text>\n",
                gx + group / 2.0,
                oy + ph - 5.0
            ));
            for (fi, fw) in FIRMWARES.iter().enumerate() {
                let Some(v) = rows.iter().find(|r| r.machine == *m && r.firmware == *fw).and_then(pick) else {
                    continue;
                };
                let (bx, bw) = (gx + 12.0 + fi as f64 * (group - 24.0) / 3.0, (group - 24.0) / 3.0 - 4.0);
                if v <= 0.0 {
                    // A wall time below resolution.
                    s.push_str(&format!(
                        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"9\">≈0</text>\n",
                        bx + bw / 2.0,
                        oy + ph - 23.0
                    ));
                    continue;
                }
                let h = scale(v);
                let y = oy + ph - 20.0 - h;
                let label = if v >= 100.0 || v.fract() == 0.0 { format!("{v:.0}") } else { format!("{v:.1}") };
                s.push_str(&format!(
                    "<rect x=\"{bx:.1}\" y=\"{y:.1}\" width=\"{bw:.1}\" height=\"{h:.1}\" fill=\"{}\"/>\
                     <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"9\">{label}</text>\n",
                    colors[fi],
                    bx + bw / 2.0,
                    y - 3.0
                ));
            }
        }
    }
    s.push_str("</svg>\n");
    s
}

/// Copies the chart and JSON to docs/ and puts the table into the README between markers.
fn publish(dir: &Path, table: &str) -> Result<()> {
    let docs = root().join("docs");
    std::fs::create_dir_all(&docs)?;
    std::fs::copy(dir.join("bench.svg"), docs.join("bench.svg"))?;
    std::fs::copy(dir.join("bench.json"), docs.join("bench.json"))?;
    let readme_path = root().join("README.md");
    let readme = std::fs::read_to_string(&readme_path)?;
    let (begin, end) = ("<!-- bench:begin -->", "<!-- bench:end -->");
    let (Some(a), Some(b)) = (readme.find(begin), readme.find(end)) else {
        return Err("README.md lacks the bench:begin/bench:end markers".into());
    };
    let new = format!("{}{begin}\n{table}\n![benchmark chart](docs/bench.svg)\n{}", &readme[..a], &readme[b..]);
    std::fs::write(readme_path, new)?;
    eprintln!("bench: updated README.md, docs/bench.svg, docs/bench.json");
    Ok(())
}
