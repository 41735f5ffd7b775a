//! `cargo xtask fuzz`: every libFuzzer target in `fuzz/` for a few seconds each.
//!
//! The targets are built with plain `cargo build` and the coverage instrumentation cargo-fuzz
//! would add (all stable `-C` flags), so a fresh machine needs nothing installed: `cargo
//! install cargo-fuzz` costs minutes, this build about as long as the library's own. What
//! cargo-fuzz adds on top, AddressSanitizer, needs `-Z` flags and finds nothing in code without
//! `unsafe`; for long runs with it see CONTRIBUTING.md (`RUSTC_BOOTSTRAP=1 cargo fuzz run ...`).
//! New inputs go to `target/fuzz/corpus/TARGET`, crashes to `fuzz/artifacts/TARGET/`.

use crate::cmd::Checked;
use crate::{root, Result};
use anyhow::{bail, Context};
use std::process::Command;
use std::time::Instant;

/// The host target, named so that RUSTFLAGS reach only the target's crates, not build scripts
/// and proc macros.
const HOST: &str = "x86_64-unknown-linux-gnu";

/// cargo-fuzz 0.13's instrumentation, plus debug assertions and overflow checks (an overflow
/// in the parsers is a bug even where the firmware would wrap silently).
const RUSTFLAGS: &[&str] = &[
    "-Cpasses=sancov-module",
    "-Cllvm-args=-sanitizer-coverage-level=4",
    "-Cllvm-args=-sanitizer-coverage-inline-8bit-counters",
    "-Cllvm-args=-sanitizer-coverage-pc-table",
    "-Cllvm-args=-sanitizer-coverage-trace-compares",
    "-Cllvm-args=-sanitizer-coverage-stack-depth",
    "-Cllvm-args=-simplifycfg-branch-fold-threshold=0",
    "--cfg=fuzzing",
    "-Ccodegen-units=1",
    "-Cdebug-assertions",
    "-Coverflow-checks",
];

/// The targets: every file in `fuzz/fuzz_targets/`.
pub fn targets() -> Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("fuzz/fuzz_targets"))?
        .filter_map(|e| e.ok()?.path().file_stem()?.to_str().map(String::from))
        .collect();
    names.sort();
    Ok(names)
}

/// libFuzzer's `-timeout`: seconds after which one input counts as a hang.
const HANG_SECONDS: u64 = 10;

/// Builds the targets, then runs each (or those whose name contains `filter`) for `seconds`.
pub fn run(seconds: u64, filter: Option<&str>) -> Result<()> {
    let fuzz = root().join("fuzz");
    let target_dir = root().join("target/fuzz");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    Command::new(cargo)
        .args(["build", "--release", "--bins", "--target", HOST, "--manifest-path"])
        .arg(fuzz.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .env("RUSTFLAGS", RUSTFLAGS.join(" "))
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .checked()
        .context("building the fuzz targets failed")?;
    let mut failed = Vec::new();
    for t in targets()?.iter().filter(|t| filter.is_none_or(|f| t.contains(f))) {
        let corpus = target_dir.join("corpus").join(t);
        let artifacts = fuzz.join("artifacts").join(t);
        std::fs::create_dir_all(&corpus)?;
        std::fs::create_dir_all(&artifacts)?;
        let start = Instant::now();
        let out = Command::new(target_dir.join(HOST).join("release").join(t))
            .arg(format!("-max_total_time={seconds}"))
            // One input running this long is a hang (the slowest take milliseconds): a failure
            // with its reproducer, not libFuzzer's default 20 minutes.
            .arg(format!("-timeout={HANG_SECONDS}"))
            .arg("-print_final_stats=1")
            .arg(format!("-artifact_prefix={}/", artifacts.display()))
            .arg(&corpus)
            .arg(fuzz.join("corpus").join(t))
            .output()?;
        let log = String::from_utf8_lossy(&out.stderr);
        let runs = log.lines().find_map(|l| l.strip_prefix("stat::number_of_executed_units:")).unwrap_or("?").trim();
        let secs = start.elapsed().as_secs_f32();
        if out.status.success() {
            println!("ok   fuzz {t}: {runs} executions in {secs:.0}s");
        } else {
            let lines: Vec<&str> = log.lines().collect();
            println!("FAIL fuzz {t} after {secs:.0}s:\n{}", lines[lines.len().saturating_sub(30)..].join("\n"));
            failed.push(t.clone());
        }
    }
    if !failed.is_empty() {
        bail!("fuzz target(s) {} crashed; reproducers in fuzz/artifacts/", failed.join(", "));
    }
    Ok(())
}
