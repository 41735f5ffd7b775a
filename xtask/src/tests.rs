//! `cargo xtask test`: host unit tests, then every boot under QEMU.
//!
//! The pvhtest kernel reports exactly what the firmware handed over and the checks here
//! compare it with what QEMU was given; Debian's stock kernel proves the real thing boots.

use crate::debian::{self, DebianKernel, Release, HELLO_TEXT};
use crate::qemu::{self, Outcome, Qemu};
use crate::{build, root, work_dir, Result};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Instant;

type Check = Box<dyn Fn(&Outcome) -> std::result::Result<(), String> + Send + Sync>;

struct Case {
    name: String,
    qemu: Qemu,
    check: Check,
}

const MACHINES: [&str; 4] = ["pc", "q35", "microvm", "microvm,acpi=off"];
const MIB: u64 = 1 << 20;

pub fn run(filter: Option<&str>, with_debian: bool) -> Result<()> {
    qemu::ensure_installed()?;
    unit_tests()?;
    let artifacts = build::build()?;
    let debian = if with_debian {
        Release::ALL.iter().map(|&r| debian::fetch(r)).collect::<Result<Vec<_>>>()?
    } else {
        Vec::new()
    };
    let mut cases = pvhtest_cases(&artifacts)?;
    cases.extend(failure_cases(&artifacts, debian.first())?);
    for d in &debian {
        cases.extend(debian_cases(&artifacts.firmware, d));
    }
    cases.retain(|c| filter.is_none_or(|f| c.name.contains(f)));
    let failed = run_cases(cases);
    if failed > 0 {
        return Err(format!("{failed} QEMU test(s) failed").into());
    }
    Ok(())
}

fn unit_tests() -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo).current_dir(root()).args(["test", "-p", "pvhfw", "-p", "xtask"]).status()?;
    if !status.success() {
        return Err("host unit tests failed".into());
    }
    Ok(())
}

/// Runs the cases two at a time (CI has two cores) and prints one line each.
fn run_cases(cases: Vec<Case>) -> usize {
    let total = cases.len();
    let queue = Mutex::new(cases.into_iter().collect::<VecDeque<_>>());
    let failed = Mutex::new(0usize);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let Some(case) = queue.lock().unwrap().pop_front() else { break };
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
                        *failed.lock().unwrap() += 1;
                    }
                }
            });
        }
    });
    let failed = failed.into_inner().unwrap();
    println!("qemu: {} passed, {failed} failed", total - failed);
    failed
}

/// What a pvhtest boot must report.
struct Expect {
    mem: u64,
    cmdline: String,
    initrd: Option<PathBuf>,
    log: bool,
}

/// Largest RAM size QEMU keeps entirely below 4 GiB on `machine` (pc splits at 3.5 GiB, q35
/// at 2.75 GiB, microvm at 3 GiB).
fn low_ram_limit(machine: &str) -> u64 {
    match machine.split(',').next() {
        Some("pc") => 0xe000_0000 - 1,
        Some("q35") => 0xb000_0000 - 1,
        _ => 0xc000_0000,
    }
}

fn pvhtest(name: &str, machine: &str, a: &build::Artifacts, accel: &str, e: Expect) -> Case {
    let high_ram = e.mem > low_ram_limit(machine);
    let mut q = Qemu::new(name, machine, &a.firmware)
        .args(&["-accel", accel, "-m", &format!("{}M", e.mem / MIB)])
        .args(&["-device", "isa-debug-exit,iobase=0xf4,iosize=4"])
        .arg_path("-kernel", &a.testkernel)
        .timeout(30);
    if !e.cmdline.is_empty() {
        q = q.args(&["-append", &e.cmdline]);
    }
    if let Some(i) = &e.initrd {
        q = q.arg_path("-initrd", i);
    }
    if e.log {
        q = q.args(&["-fw_cfg", "name=opt/org.pvhfw/log,string=info"]);
    }
    let check = move |o: &Outcome| check_pvhtest(o, &e, high_ram);
    Case { name: name.into(), qemu: q, check: Box::new(check) }
}

fn check_pvhtest(o: &Outcome, e: &Expect, want_high_ram: bool) -> std::result::Result<(), String> {
    let line =
        |key: &str| o.serial.lines().find_map(|l| l.strip_prefix(&format!("pvhtest: {key} "))).map(str::to_string);
    if let Some(fail) = o.serial.lines().find(|l| l.starts_with("pvhtest: FAIL")) {
        return Err(fail.into());
    }
    if o.status != Some(1) || !o.serial.contains("pvhtest: PASS") {
        return Err(format!("no PASS from pvhtest (QEMU status {:?})", o.status));
    }
    let want: String = e.cmdline.bytes().map(|b| format!("{b:02x}")).collect();
    let got = line("cmdline").unwrap_or_default();
    if got != want {
        return Err(format!("command line differs: got {got}, want {want}"));
    }
    let want_initrd = match &e.initrd {
        None => "none".to_string(),
        Some(p) => {
            let data = std::fs::read(p).map_err(|e| e.to_string())?;
            format!("{} {:#x}", data.len(), fnv1a(&data))
        }
    };
    if line("initrd").as_deref() != Some(&want_initrd) {
        return Err(format!("initrd differs: got {:?}, want {want_initrd}", line("initrd")));
    }
    let ram: u64 = line("ram").and_then(|r| r.parse().ok()).ok_or("no ram line")?;
    // The legacy hole and the firmware's window (well under 1 MiB together) are not RAM.
    if ram > e.mem || ram < e.mem - MIB {
        return Err(format!("memory map has {ram} bytes of RAM for -m {}M", e.mem / MIB));
    }
    let high_ram = o.serial.lines().filter_map(|l| l.strip_prefix("pvhtest: e820 ")).any(|l| {
        let f: Vec<_> = l.split(' ').collect();
        f.len() == 3
            && f[2] == "1"
            && u64::from_str_radix(f[0].trim_start_matches("0x"), 16).is_ok_and(|a| a >= 1 << 32)
    });
    if high_ram != want_high_ram {
        return Err(format!("RAM above 4 GiB: {high_ram}, with -m {}M", e.mem / MIB));
    }
    if o.serial.contains("pvhfw:") != e.log {
        return Err(format!("firmware output present: {}, wanted: {}", !e.log, e.log));
    }
    Ok(())
}

fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// Deterministic test initrds of awkward sizes.
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

fn pvhtest_cases(a: &build::Artifacts) -> Result<Vec<Case>> {
    let initrd = test_file("initrd-3m.bin", 3 * 1024 * 1024 + 123)?;
    let small = test_file("initrd-64k.bin", 64 * 1024 + 5)?;
    let long_cmdline = format!("console=ttyS0 {}", "x".repeat(3000));
    let quoted = "console=ttyS0 pvhfw.test=\"quoted value\" tab=\tend".to_string();
    let mut cases = Vec::new();
    for m in MACHINES {
        let tag = m.replace(",acpi=off", "-noacpi");
        let bare = Expect { mem: 128 * MIB, cmdline: String::new(), initrd: None, log: false };
        cases.push(pvhtest(&format!("pvhtest-{tag}-128M-bare"), m, a, "tcg", bare));
        let mid = Expect { mem: 1024 * MIB, cmdline: quoted.clone(), initrd: Some(initrd.clone()), log: false };
        cases.push(pvhtest(&format!("pvhtest-{tag}-1G-initrd-cmdline"), m, a, "tcg", mid));
        let big = Expect { mem: 5120 * MIB, cmdline: long_cmdline.clone(), initrd: Some(initrd.clone()), log: false };
        cases.push(pvhtest(&format!("pvhtest-{tag}-5G-initrd-longcmdline"), m, a, "tcg", big));
    }
    let q35_3g = Expect { mem: 3072 * MIB, cmdline: "a".into(), initrd: Some(small.clone()), log: false };
    cases.push(pvhtest("pvhtest-q35-3G-split", "q35", a, "tcg", q35_3g));
    let kvm = Expect { mem: 512 * MIB, cmdline: quoted.clone(), initrd: Some(small.clone()), log: false };
    cases.push(pvhtest("pvhtest-pc-kvm", "pc", a, "kvm", kvm));
    let logged = Expect { mem: 256 * MIB, cmdline: "x".into(), initrd: Some(small.clone()), log: true };
    cases.push(pvhtest("pvhtest-q35-log-info", "q35", a, "tcg", logged));
    for m in ["pc", "microvm"] {
        let e = Expect { mem: 256 * MIB, cmdline: quoted.clone(), initrd: Some(small.clone()), log: false };
        let mut c = pvhtest(&format!("pvhtest-{m}-port-io"), m, a, "tcg", e);
        c.qemu = c.qemu.args(&["-global", "fw_cfg_io.dma_enabled=off"]);
        cases.push(c);
    }
    Ok(cases)
}

/// A boot that must fail with `message` on COM1 and the debug console, then halt.
fn failure(name: &str, machine: &str, firmware: &Path, message: &'static str) -> Result<Case> {
    let debugcon = work_dir().join("logs").join(format!("{name}.debugcon"));
    std::fs::create_dir_all(debugcon.parent().expect("has parent"))?;
    let _ = std::fs::remove_file(&debugcon);
    let q = Qemu::new(name, machine, firmware)
        .args(&["-accel", "tcg", "-debugcon", &format!("file:{}", debugcon.display())])
        .until("pvhfw: halted\n")
        .timeout(20);
    let check = move |o: &Outcome| {
        let console = std::fs::read_to_string(&debugcon).unwrap_or_default();
        for (what, text) in [("COM1", &o.serial), ("debug console", &console)] {
            if !text.contains(message) || !text.contains("pvhfw: halted") {
                return Err(format!("{what} lacks {message:?} and 'pvhfw: halted': {text:?}"));
            }
        }
        match o.status {
            None => Ok(()),
            Some(s) => Err(format!("QEMU exited ({s}) instead of halting")),
        }
    };
    Ok(Case { name: name.into(), qemu: q, check: Box::new(check) })
}

fn failure_cases(a: &build::Artifacts, debian: Option<&DebianKernel>) -> Result<Vec<Case>> {
    const NO_KERNEL: &str = "pvhfw: error: no kernel given; start QEMU with -kernel FILE";
    let mut cases = Vec::new();
    for m in MACHINES {
        cases.push(failure(
            &format!("fail-{}-no-kernel", m.replace(",acpi=off", "-noacpi")),
            m,
            &a.firmware,
            NO_KERNEL,
        )?);
    }
    // A multiboot kernel: QEMU loads it for its own option ROM, pvhfw must refuse it by name.
    let mut c = failure("fail-pc-multiboot", "pc", &a.firmware, "pvhfw: error: unsupported kernel format")?;
    c.qemu = c.qemu.arg_path("-kernel", &multiboot_kernel()?);
    cases.push(c);
    if let Some(d) = debian {
        let mut c = failure("fail-pc-bzimage", "pc", &a.firmware, "pvhfw: error: kernel is a bzImage")?;
        c.qemu = c.qemu.arg_path("-kernel", &d.bzimage);
        cases.push(c);
    }
    // -boot reboot-timeout asks for a reset after the message; -no-reboot turns it into an exit.
    let q = Qemu::new("fail-pc-reboot-timeout", "pc", &a.firmware)
        .args(&["-accel", "tcg", "-boot", "reboot-timeout=200"])
        .timeout(20);
    let check = |o: &Outcome| {
        if !o.serial.contains(NO_KERNEL) || !o.serial.contains("pvhfw: rebooting in 200 ms") {
            return Err(format!("missing messages: {:?}", o.serial));
        }
        if o.status != Some(0) {
            return Err(format!("QEMU status {:?}, want a reset (0 with -no-reboot)", o.status));
        }
        Ok(())
    };
    cases.push(Case { name: "fail-pc-reboot-timeout".into(), qemu: q, check: Box::new(check) });
    Ok(cases)
}

/// The smallest multiboot kernel QEMU accepts: a header with load addresses, then `hlt`.
fn multiboot_kernel() -> Result<PathBuf> {
    const MAGIC: u32 = 0x1bad_b002;
    const FLAGS: u32 = 1 << 16; // the address fields below are valid
    let load = 0x10_0000u32;
    let header = [MAGIC, FLAGS, MAGIC.wrapping_add(FLAGS).wrapping_neg(), load, load, 0, 0, load + 32];
    let mut image: Vec<u8> = header.iter().flat_map(|w| w.to_le_bytes()).collect();
    image.resize(32, 0);
    image.extend_from_slice(&[0xfa, 0xf4, 0xeb, 0xfd]); // cli; hlt; jmp back to hlt
    image.resize(8192, 0);
    let path = work_dir().join("multiboot.bin");
    std::fs::write(&path, image)?;
    Ok(path)
}

fn debian_cases(firmware: &Path, d: &DebianKernel) -> Vec<Case> {
    ["pc", "q35", "microvm"]
        .into_iter()
        .map(|m| {
            let name = format!("{}-{m}", d.release.tag());
            let append = format!("pvhfw.token={name}-{}", std::process::id());
            // Power-off needs ACPI (platform issue); until then init's last line ends the run.
            let q = debian::boot(&name, m, firmware, d, &append).until("pvhfw-init: done").timeout(240);
            let check = move |o: &Outcome| {
                let report = debian::init_report(&o.serial);
                let cmdline = report.get("cmdline").map(String::as_str).unwrap_or("");
                if !cmdline.split(' ').any(|w| w == append) {
                    return Err(format!("init saw command line {cmdline:?}, want it to hold {append:?}"));
                }
                if report.get("file").map(String::as_str) != Some(HELLO_TEXT) {
                    return Err("init did not print the initrd's file".into());
                }
                if !report.contains_key("done") {
                    return Err(format!("init did not finish (QEMU status {:?})", o.status));
                }
                Ok(())
            };
            Case { name, qemu: q, check: Box::new(check) }
        })
        .collect()
}
