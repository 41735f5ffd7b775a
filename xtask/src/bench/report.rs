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

