//! `cargo xtask test`: formatting and clippy, host unit tests, then every boot under QEMU, two
//! at a time, on each QEMU ([`Version`]): each case's name starts with `qemu-7.2/` or
//! `qemu-10.0/`, and its log is `target/xtask/logs/qemu-VERSION/NAME.log`. Debian 13's kernel
//! boots on QEMU 10.0 only (when the run has it). Fuzzing and stress run once, after them (the
//! `test` command in `main.rs` runs them).
//!
//! - `pvhtest`: the project's test kernel reports exactly what the firmware handed over, and
//!   the checks compare it with what QEMU was given;
//! - `failure`: bad inputs end in a `pvhfw:` message and a halt;
//! - `linux`: Debian's stock kernels boot to a busybox init that reports what Linux found;
//! - `disk`: the same kernels, and `pvhtest`, booted from virtio-blk disks without `-kernel`;
//! - `install`: pvhfw installed as QEMU firmware (a prefix, the Debian package) and booted by
//!   name, and `libvirt` domains booting it; installing the package and libvirt only with
//!   `--system`.

mod disk;
mod failure;
mod install;
mod libvirt;
mod linux;
mod linux32;
mod pci;
mod pvhtest;
mod tpm;
mod xen;

pub(crate) use pvhtest::checked_boot;

use crate::cmd::Checked;
use crate::debian::{self, Release};
use crate::qemu::{Outcome, Qemu, Version};
use crate::{build, root, work_dir, Result};
use anyhow::{bail, Context};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;
use std::time::Instant;

type Verdict = std::result::Result<(), String>;
pub(crate) type Check = Box<dyn Fn(&Outcome) -> Verdict + Send + Sync>;

/// One run and what its outcome must show.
struct Case {
    name: String,
    run: Run,
    check: Check,
}

/// What a case runs: QEMU itself, or something on the host that ends in a console output
/// (a libvirt domain).
enum Run {
    Qemu(Qemu),
    Host(Box<dyn Fn() -> Result<Outcome> + Send + Sync>),
}

impl From<Qemu> for Run {
    fn from(q: Qemu) -> Run {
        Run::Qemu(q)
    }
}

impl Run {
    fn run(&self) -> Result<Outcome> {
        match self {
            Run::Qemu(q) => q.run(),
            Run::Host(f) => f(),
        }
    }
}

/// `microvm,acpi=off` -> `microvm-noacpi`, for case names.
fn tag(machine: &str) -> String {
    machine.replace(",acpi=off", "-noacpi").replace(",smbios-entry-point-type=64", "-smbios3")
}

/// What `cargo xtask test` runs besides the QEMU cases.
pub struct Options<'a> {
    /// Only cases whose name contains this.
    pub filter: Option<&'a str>,
    /// Debian's kernels, fetched and booted.
    pub debian: bool,
    /// Formatting and clippy.
    pub lint: bool,
    /// The tests that change the machine: the package installed with `dpkg -i`, libvirt
    /// installed with apt, `/dev/kvm` opened to libvirt's QEMU user.
    pub system: bool,
}

pub fn run(versions: &[Version], o: &Options) -> Result<()> {
    let Options { filter, debian: with_debian, lint: with_lint, system } = *o;
    for v in versions {
        v.ensure_installed()?;
    }
    // The disk tools, before the unit tests that build disks with them.
    crate::disk::tools::Tools::get()?;
    if with_lint {
        lint()?;
    }
    unit_tests()?;
    let artifacts = build::build()?;
    stack_depths()?;
    let kernels = if with_debian {
        Release::ALL.iter().map(|&r| debian::fetch(r)).collect::<Result<Vec<_>>>()?
    } else {
        Vec::new()
    };
    let kernel_686 = if with_debian { Some(debian::fetch_686()?) } else { None };
    let mut cases = Vec::new();
    for &v in versions {
        let mut ours = pvhtest::cases(v, &artifacts)?;
        ours.extend(failure::cases(v, &artifacts, kernels.first())?);
        ours.extend(disk::cases(v, &artifacts, kernels.first())?);
        for k in kernels.iter().filter(|k| k.release == Release::Bookworm || v == trixie_qemu(versions)) {
            let bookworm = k.release == Release::Bookworm;
            ours.extend(linux::cases(v, &artifacts.firmware, k, bookworm)?);
            if bookworm {
                ours.extend(linux::chained_cases(v, &artifacts.firmware_elf, k)?);
            }
        }
        if let Some(k) = kernels.iter().find(|k| k.release == Release::Bookworm) {
            ours.extend(xen::cases(v, &artifacts.firmware, k)?);
            ours.extend(pci::cases(v, &artifacts.firmware, k)?);
            ours.extend(tpm::cases(v, &artifacts.firmware, &artifacts.firmware_elf, k)?);
        }
        if let Some(k) = &kernel_686 {
            ours.extend(linux32::cases(v, &artifacts.firmware, k)?);
        }
        if with_debian {
            for c in crate::disk::systemd::cases(v, &artifacts.firmware)? {
                let check = move |o: &Outcome| crate::disk::systemd::check(o, c.via_grub);
                ours.push(Case { name: c.name.into(), run: c.qemu.into(), check: Box::new(check) });
            }
        }
        for c in &mut ours {
            c.name = format!("{}/{}", v.tag(), c.name);
        }
        cases.extend(ours);
    }
    cases.retain(|c| filter.is_none_or(|f| c.name.contains(f)));
    // The systemd disk takes minutes to build from nothing: only when a case boots it.
    let disk_ok = !cases.iter().any(|c| c.name.contains("/disk-systemd-"))
        || host_step("disk-systemd-image", || crate::disk::systemd::ensure().map(drop));
    let (mut passed, mut failed) = run_cases(cases);
    failed += usize::from(!disk_ok);
    let (p, f) = install::run(&artifacts, kernels.first(), filter, system);
    (passed, failed) = (passed + p, failed + f);
    println!("qemu: {passed} passed, {failed} failed");
    if failed > 0 {
        bail!("{failed} QEMU test(s) failed");
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
    Command::new(cargo).current_dir(root()).args(args).checked().with_context(|| format!("{what} failed"))
}

/// Formatting, then clippy with warnings as errors: the host crates with their tests, and the
/// bare-metal crates for their target.
/// The firmware's deepest call chains fit its stacks ([`crate::stack`]).
fn stack_depths() -> Result<()> {
    let out = root().join("target").join(build::TARGET).join("release");
    let rom_stack = pvhfw::layout::STACK_TOP - pvhfw::layout::STACK_BOTTOM;
    let rom = crate::stack::check(&out.join("pvhfw"), "_ZN5pvhfw4main", rom_stack)?;
    let elf = out.join("pvhfw-elf");
    let elf_stack = crate::stack::elf_stack(&elf)?;
    let elf_depth = crate::stack::check(&elf, "_ZN9pvhfw_elf4main", elf_stack)?;
    println!("ok   stack depth: pvhfw.bin {rom} of {rom_stack} bytes, pvhfw.elf {elf_depth} of {elf_stack}");
    Ok(())
}

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

/// Runs the cases two at a time (CI has two cores) and prints one line each; how many passed
/// and failed.
fn run_cases(cases: Vec<Case>) -> (usize, usize) {
    let total = cases.len();
    let queue = Mutex::new(cases.into_iter().collect::<VecDeque<_>>());
    let failed = Mutex::new(0usize);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let Some(case) = queue.lock().expect("no poisoning").pop_front() else { break };
                let start = Instant::now();
                let verdict = case
                    .run
                    .run()
                    .map_err(|e| format!("{e:#}"))
                    .and_then(|o| (case.check)(&o).map_err(|e| format!("{e}\n      log: {}", o.log.display())));
                if !report(&case.name, start, verdict) {
                    *failed.lock().expect("no poisoning") += 1;
                }
            });
        }
    });
    let failed = failed.into_inner().expect("no poisoning");
    (total - failed, failed)
}

/// Prints a case's `ok` or `FAIL` line with its time since `start`; whether it passed.
fn report(name: &str, start: Instant, verdict: Verdict) -> bool {
    let secs = start.elapsed().as_secs_f32();
    match &verdict {
        Ok(()) => println!("ok   {name} ({secs:.1}s)"),
        Err(e) => println!("FAIL {name} ({secs:.1}s): {e}"),
    }
    verdict.is_ok()
}

/// Runs a step on the host (installing, building a package) as a case of its own: its line,
/// and whether it passed.
fn host_step(name: &str, step: impl FnOnce() -> Result<()>) -> bool {
    let start = Instant::now();
    report(name, start, step().map_err(|e| format!("{e:#}")))
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
