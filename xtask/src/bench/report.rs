//! The Markdown report: one row per machine and firmware, then pvhfw against qboot per machine
//! with the targets it is held to.

use super::stats::Spread;
use super::Report;
use crate::qemu::MACHINE_TYPES;

/// Targets from the benchmark issue, as fractions of qboot's figure.
const MAX_INSTRUCTIONS: f64 = 0.25;
const MAX_EXITS: f64 = 0.25;
const MAX_KVM_TIME: f64 = 0.50;

/// Digits in groups of three, separated by spaces; `n/a` for a missing value.
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

/// The whole report: a line on how it was measured, the table of every row, the comparisons.
pub fn markdown(r: &Report) -> String {
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
    for m in MACHINE_TYPES {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::Row;

    fn row(machine: &str, firmware: &str) -> Row {
        Row { machine: machine.into(), firmware: firmware.into(), image_bytes: 65536, ..Row::default() }
    }

    #[test]
    fn numbers_are_formatted_for_reading() {
        assert_eq!(fmt_int(Some(5_722_365)), "5 722 365");
        assert_eq!(fmt_int(Some(480)), "480");
        assert_eq!(fmt_int(Some(8_480)), "8 480");
        assert_eq!(fmt_int(None), "n/a");
        assert_eq!(fmt_f(Some(1.834), 2), "1.83");
        assert_eq!(fmt_spread(Some(Spread { median: 4.2, q1: 0.1, q3: 12.0 }), 1), "4.2 (0.1..12.0)");
        assert_eq!(fmt_spread(Some(Spread { median: -0.3, q1: -5.5, q3: 3.5 }), 1), "≈0 (-5.5..3.5)");
        assert_eq!(ratio(Some(1.0), Some(8.0), 0.25), "12.5% (meets ≤ 25%)");
        assert_eq!(ratio(Some(3.0), Some(4.0), 0.5), "75.0% (misses ≤ 50%)");
        assert_eq!(ratio(Some(3.0), Some(0.0), 0.5), "n/a");
    }

    #[test]
    fn report_renders_exact_lines() {
        let pvhfw = Row {
            instructions: Some(8480),
            exits: Some(26),
            kvm_ms: Some(Spread { median: 4.2, q1: 0.1, q3: 12.0 }),
            tcg_ms: Some(Spread { median: 5.7, q1: 4.0, q3: 9.4 }),
            linux_s: Some(1.83),
            ..row("pc", "pvhfw")
        };
        let qboot = Row {
            instructions: Some(63_027),
            exits: Some(236),
            kvm_ms: Some(Spread { median: 51.8, q1: 36.0, q3: 59.4 }),
            ..row("pc", "qboot")
        };
        let q35 = Row { kvm_ms: Some(Spread { median: 8.0, q1: -0.1, q3: 18.1 }), ..row("q35", "pvhfw") };
        let q35_qboot = Row { kvm_ms: Some(Spread { median: 56.0, q1: 48.2, q3: 68.0 }), ..row("q35", "qboot") };
        let microvm = Row { kvm_ms: Some(Spread { median: -0.2, q1: -5.5, q3: 3.5 }), ..row("microvm", "pvhfw") };
        let report = Report {
            qemu: "QEMU emulator version 7.2".into(),
            host_cpu: "CPU, 2 CPUs".into(),
            rounds: 21,
            linux_runs: 3,
            rows: vec![pvhfw, qboot, q35, q35_qboot, microvm],
        };
        let text = markdown(&report);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "QEMU: QEMU emulator version 7.2; host: CPU, 2 CPUs. Wall times: per round, the QEMU process with \
                 the firmware minus with a null firmware; median (interquartile range) of 21 interleaved rounds. \
                 Debian 12 to init: median of 3 boots under TCG.",
                "",
                "| machine | firmware | instructions | VM exits | KVM ms | TCG ms | Debian to init, s | image KiB |",
                "|---|---|---:|---:|---:|---:|---:|---:|",
                "| pc | pvhfw | 8 480 | 26 | 4.2 (0.1..12.0) | 5.7 (4.0..9.4) | 1.83 | 64 |",
                "| pc | qboot | 63 027 | 236 | 51.8 (36.0..59.4) | n/a | n/a | 64 |",
                "| q35 | pvhfw | n/a | n/a | 8.0 (-0.1..18.1) | n/a | n/a | 64 |",
                "| q35 | qboot | n/a | n/a | 56.0 (48.2..68.0) | n/a | n/a | 64 |",
                "| microvm | pvhfw | n/a | n/a | ≈0 (-5.5..3.5) | n/a | n/a | 64 |",
                "",
                "| machine | instructions vs qboot | VM exits vs qboot | KVM wall time vs qboot |",
                "|---|---|---|---|",
                "| pc | 13.5% (meets ≤ 25%) | 11.0% (meets ≤ 25%) | 8.1% (meets ≤ 50%) |",
                "| q35 | n/a | n/a | 14.3% (meets ≤ 50%), range reaches 0 |",
                "| microvm | n/a | n/a | ≈0, below resolution (meets ≤ 50%) |",
            ]
        );
        assert!(text.ends_with("|\n"));
    }
}
