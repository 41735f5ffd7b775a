//! `cargo xtask test`: formatting and clippy, host unit tests, then every boot under QEMU, two
//! at a time, on each QEMU ([`Version`]): each case's name starts with `qemu-7.2/` or
//! `qemu-10.0/`, and its log is `target/xtask/logs/qemu-VERSION/NAME.log`. Debian 13's kernel
//! boots on QEMU 10.0 only (when the run has it); fuzzing and stress run once, after them.
//!
//! - `pvhtest`: the project's test kernel reports exactly what the firmware handed over, and
//!   the checks compare it with what QEMU was given;
//! - `failure`: bad inputs end in a `pvhfw:` message and a halt;
//! - `linux`: Debian's stock kernels boot to a busybox init that reports what Linux found.

mod failure;
mod linux;
mod pvhtest;

pub(crate) use pvhtest::checked_boot;

use crate::debian::{self, Release};
use crate::qemu::{Outcome, Qemu, Version};
use crate::{build, root, work_dir, Result};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;
use std::time::Instant;

type Verdict = std::result::Result<(), String>;
pub(crate) type Check = Box<dyn Fn(&Outcome) -> Verdict + Send + Sync>;

/// One QEMU run and what its outcome must show.
struct Case {
    name: String,
    qemu: Qemu,
    check: Check,
}

/// `microvm,acpi=off` -> `microvm-noacpi`, for case names.
fn tag(machine: &str) -> String {
    machine.replace(",acpi=off", "-noacpi").replace(",smbios-entry-point-type=64", "-smbios3")
}

pub fn run(versions: &[Version], filter: Option<&str>, with_debian: bool, with_lint: bool) -> Result<()> {
    for v in versions {
        v.ensure_installed()?;
    }
    if with_lint {
        lint()?;
    }
    unit_tests()?;
    let artifacts = build::build()?;
    let kernels = if with_debian {
        Release::ALL.iter().map(|&r| debian::fetch(r)).collect::<Result<Vec<_>>>()?
    } else {
        Vec::new()
    };
    let mut cases = Vec::new();
    for &v in versions {
        let mut ours = pvhtest::cases(v, &artifacts)?;
        ours.extend(failure::cases(v, &artifacts, kernels.first())?);
        for k in kernels.iter().filter(|k| k.release == Release::Bookworm || v == trixie_qemu(versions)) {
            let bookworm = k.release == Release::Bookworm;
            ours.extend(linux::cases(v, &artifacts.firmware, k, bookworm)?);
            if bookworm {
                ours.extend(linux::chained_cases(v, &artifacts.firmware_elf, k)?);
            }
        }
        for c in &mut ours {
            c.name = format!("{}/{}", v.tag(), c.name);
        }
        cases.extend(ours);
    }
    cases.retain(|c| filter.is_none_or(|f| c.name.contains(f)));
    let failed = run_cases(cases);
    if failed > 0 {
        return Err(format!("{failed} QEMU test(s) failed").into());
    }
    if filter.is_none() {
        crate::fuzz::run(5, None)?;
        let stress = crate::stress::Options { sequential: 50, concurrent: 8, debian: 0 };
        crate::stress::run(versions[0], &stress)?;
    }
    Ok(())
}

/// The QEMU Debian 13's kernel boots on: its own 10.0 when the run has it, else the one QEMU
/// the run has. Debian 12's kernel (every scenario, the SeaBIOS comparisons, the chained
/// boots) covers on both QEMUs what a QEMU changes for the firmware; Debian 13's on 7.2 as
/// well would add a minute to CI and no path of the firmware's.
fn trixie_qemu(versions: &[Version]) -> Version {
    if versions.contains(&Version::V10_0) {
        Version::V10_0
    } else {
        versions[0]
    }
}

/// Runs `cargo ARGS` in the workspace; `what` names it in the error.
fn cargo(args: &[&str], what: &str) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    if !Command::new(cargo).current_dir(root()).args(args).status()?.success() {
        return Err(format!("{what} failed (cargo {})", args.join(" ")).into());
    }
    Ok(())
}

/// Formatting, then clippy with warnings as errors: the host crates with their tests, and the
/// bare-metal crates for their target.
fn lint() -> Result<()> {
    build::ensure_target()?;
    cargo(&["fmt", "--all", "--check"], "formatting check")?;
    cargo(&["clippy", "-p", "pvhfw", "-p", "xtask", "--all-targets", "--", "-D", "warnings"], "host clippy")?;
    let bare = ["clippy", "--target", build::TARGET, "-p", "pvhfw-firmware", "-p", "pvhtest", "--", "-D", "warnings"];
    cargo(&bare, "bare-metal clippy")
}

fn unit_tests() -> Result<()> {
    cargo(&["test", "-p", "pvhfw", "-p", "xtask"], "host unit tests")
}

/// Runs the cases two at a time (CI has two cores) and prints one line each.
fn run_cases(cases: Vec<Case>) -> usize {
    let total = cases.len();
    let queue = Mutex::new(cases.into_iter().collect::<VecDeque<_>>());
    let failed = Mutex::new(0usize);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let Some(case) = queue.lock().expect("no poisoning").pop_front() else { break };
                let start = Instant::now();
                let verdict = case
                    .qemu
                    .run()
                    .map_err(|e| e.to_string())
                    .and_then(|o| (case.check)(&o).map_err(|e| format!("{e}\n      log: {}", o.log.display())));
                let secs = start.elapsed().as_secs_f32();
                match verdict {
                    Ok(()) => println!("ok   {} ({secs:.1}s)", case.name),
                    Err(e) => {
                        println!("FAIL {} ({secs:.1}s): {e}", case.name);
                        *failed.lock().expect("no poisoning") += 1;
                    }
                }
            });
        }
    });
    let failed = failed.into_inner().expect("no poisoning");
    println!("qemu: {} passed, {failed} failed", total - failed);
    failed
}

/// A deterministic file of `size` pseudo-random bytes under target/xtask (initrds, disks).
fn test_file(name: &str, size: usize) -> Result<PathBuf> {
    let path = work_dir().join(name);
    std::fs::create_dir_all(work_dir())?;
    let mut x: u32 = 0x1234_5678;
    let data: Vec<u8> = (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    std::fs::write(&path, data)?;
    Ok(path)
}
