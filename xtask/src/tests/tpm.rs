//! The measured boot against a software TPM: `swtpm` (Debian's, unpacked under `target/`)
//! behind QEMU's `tpm-tis` or `tpm-crb`, Debian's kernel under TCG. In the guest, init prints
//! the event log Linux exposes and the PCRs of every bank; here, independently, the log is
//! replayed and must give every PCR the guest read, and the digests of the command line, the
//! initrd file, the kernel file and `pvhfw.bin` must be among its events. Booted again with a
//! changed command line, initrd or kernel, exactly PCR 8, 9 or 4 changes.

use super::linux::expect_report;
use super::{Case, Run};
use crate::debian::{self, DebianKernel, Release};
use crate::linux;
use crate::qemu::{Outcome, Version};
use crate::swtpm::{self, Swtpm};
use crate::{work_dir, Result};
use sha2::Digest;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The TCG algorithm ids of the banks checked, with their sysfs names.
const BANKS: [(u16, &str); 4] = [(0x4, "sha1"), (0xb, "sha256"), (0xc, "sha384"), (0xd, "sha512")];

/// One measured boot (`quiet`: fewer kernel messages interleaved with init's report lines).
#[derive(Clone)]
struct Boot {
    machine: &'static str,
    /// `tpm-tis` or `tpm-crb`.
    device: &'static str,
    kernel: PathBuf,
    bzimage: bool,
    initrd: PathBuf,
    append: String,
    /// Through `pvhfw.elf` behind SeaBIOS, which measures and logs first.
    chained: bool,
}

impl Boot {
    fn run(&self, v: Version, name: &str, firmware: &Path) -> Result<Outcome> {
        let dir = work_dir().join(format!("tpm/{}-{name}", v.tag()));
        let tpm = Swtpm::start(&swtpm::binary()?, &dir)?;
        let _keep = &tpm;
        let chardev = format!("socket,id=chrtpm,path={}", tpm.socket.display());
        let k = DebianKernel {
            release: Release::Bookworm,
            vmlinux: self.kernel.clone(),
            bzimage: self.kernel.clone(),
            initrd: self.initrd.clone(),
            devices_initrd: self.initrd.clone(),
        };
        let q = match self.chained {
            true => linux::boot_chained(v, name, self.machine, firmware, &k, &self.append)?,
            false => linux::boot(v, name, self.machine, firmware, &k, &self.append),
        };
        let q = q
            .args(&["-chardev", &chardev, "-tpmdev", "emulator,id=tpm0,chardev=chrtpm"])
            .args(&["-device", &format!("{},tpmdev=tpm0", self.device)])
            .args(&["-fw_cfg", "name=opt/org.pvhfw/log,string=info"])
            .timeout(300);
        q.run()
    }
}

/// The measured boots on QEMU `v`: PVH and bzImage over TIS on `q35`, the bzImage over CRB on
/// `q35`, PVH over TIS on `pc`, `pvhfw.elf` behind SeaBIOS (appending to its log) on `q35`;
/// and on `q35` with TIS the boots with one input changed.
pub(super) fn cases(v: Version, firmware: &Path, elf: &Path, k: &DebianKernel) -> Result<Vec<Case>> {
    swtpm::binary()?; // fetched once, before the cases run in parallel
    let mut cases = Vec::new();
    for (machine, device, bz, chained) in [
        ("q35", "tpm-tis", false, false),
        ("q35", "tpm-tis", true, false),
        ("q35", "tpm-crb", true, false),
        ("pc", "tpm-tis", false, false),
        ("q35", "tpm-tis", false, true),
    ] {
        let form = if bz { "bz" } else { "pvh" };
        let entry = if chained { "elf-" } else { "" };
        let name = format!("deb12-tpm-{entry}{machine}-{}-{form}", device.trim_start_matches("tpm-"));
        let firmware = if chained { elf } else { firmware };
        let token = format!("pvhfw.token={}-{name}-{}", v.tag(), std::process::id());
        let kernel = if bz { k.bzimage.clone() } else { k.vmlinux.clone() };
        let boot = Boot {
            machine,
            device,
            kernel,
            bzimage: bz,
            initrd: k.initrd.clone(),
            append: format!("{token} pvhfw.tpm quiet"),
            chained,
        };
        let (fw, run_name, b) = (firmware.to_path_buf(), name.clone(), boot.clone());
        let run = Run::Host(Box::new(move || b.run(v, &run_name, &fw)));
        let fw = firmware.to_path_buf();
        let check = move |o: &Outcome| check(o, &token, &boot, &fw).and_then(|_| hashed_with(o, v));
        cases.push(Case { name, run, check: Box::new(check) });
    }
    cases.push(changes_case(v, firmware, k)?);
    Ok(cases)
}

/// Whether the firmware hashed SHA-1 and SHA-256 as it should on QEMU `v`'s `-cpu max`: with the
/// SHA extensions on 10.0, whose TCG has them, in software on 7.2, whose TCG does not.
fn hashed_with(o: &Outcome, v: Version) -> Result<(), String> {
    let want = match v {
        Version::V7_2 => "software",
        Version::V10_0 => "the SHA extensions",
    };
    let line = o.serial.lines().find(|l| l.contains("pvhfw: TPM: ")).ok_or("pvhfw logged no TPM line")?;
    match line.trim_end().ends_with(&format!("SHA-1 and SHA-256 with {want}")) {
        true => Ok(()),
        false => Err(format!("want hashing with {want}: {line}")),
    }
}

/// Boots the bzImage four times on `q35` with TIS: as given, then with a changed command line,
/// initrd and kernel (each file with bytes appended, which Linux ignores); each boot's PCRs
/// against the first's.
fn changes_case(v: Version, firmware: &Path, k: &DebianKernel) -> Result<Case> {
    let name = "deb12-tpm-q35-changes".to_string();
    let dir = work_dir().join("tpm");
    std::fs::create_dir_all(&dir)?;
    let (kernel, initrd) = (dir.join("bzImage-changed"), dir.join("initrd-changed"));
    let mut bytes = std::fs::read(&k.bzimage)?;
    bytes.extend([0u8; 16]);
    std::fs::write(&kernel, &bytes)?;
    let mut bytes = std::fs::read(&k.initrd)?;
    bytes.extend([0u8; 512]);
    std::fs::write(&initrd, &bytes)?;
    let token = format!("pvhfw.token={}-{name}-{}", v.tag(), std::process::id());
    let base = Boot {
        machine: "q35",
        device: "tpm-tis",
        kernel: k.bzimage.clone(),
        bzimage: true,
        initrd: k.initrd.clone(),
        append: format!("{token} pvhfw.tpm quiet"),
        chained: false,
    };
    let boots = [
        (None, base.clone()),
        (Some(8), Boot { append: format!("{token} pvhfw.tpm quiet pvhfw.changed"), ..base.clone() }),
        (Some(9), Boot { initrd, ..base.clone() }),
        (Some(4), Boot { kernel, ..base.clone() }),
    ];
    let fw = firmware.to_path_buf();
    let run_name = name.clone();
    let run = Run::Host(Box::new(move || {
        let mut serial = String::new();
        let mut first = None;
        for (i, (changed, boot)) in boots.iter().enumerate() {
            let o = boot.run(v, &format!("{run_name}-{i}"), &fw)?;
            let pcrs = sha256_pcrs(&debian::init_report(&o.serial));
            match (&first, changed) {
                (None, _) => first = Some(pcrs),
                (Some(base), Some(pcr)) => {
                    let differ: Vec<usize> = (0..10).filter(|&p| base.get(p) != pcrs.get(p)).collect();
                    serial.push_str(&format!("boot {i}: PCRs that changed: {differ:?}, want [{pcr}]\n"));
                    if differ != [*pcr] {
                        serial.push_str("MISMATCH\n");
                    }
                }
                _ => {}
            }
            if o.status != Some(0) || !o.serial.contains("pvhfw-init: done: yes") {
                serial.push_str(&format!("boot {i} did not reach init's end; log {}\nMISMATCH\n", o.log.display()));
            }
        }
        Ok(Outcome { status: Some(0), serial, log: PathBuf::new(), after_mark: None })
    }));
    let check = |o: &Outcome| match o.serial.contains("MISMATCH") || o.serial.is_empty() {
        true => Err(o.serial.clone()),
        false => Ok(()),
    };
    Ok(Case { name, run, check: Box::new(check) })
}

/// The guest's SHA-256 PCRs 0-9, as init printed them.
fn sha256_pcrs(report: &BTreeMap<String, String>) -> Vec<String> {
    report.get("pcrs_sha256").map(|l| l.split_whitespace().map(str::to_string).collect()).unwrap_or_default()
}

/// One event of the log.
#[derive(Debug)]
struct Event {
    pcr: u32,
    kind: u32,
    digests: BTreeMap<u16, Vec<u8>>,
    data: Vec<u8>,
}

/// The banks a log's Spec ID event names: (algorithm id, digest size).
type Algorithms = Vec<(u16, usize)>;

/// Parses a crypto-agile log: the Spec ID event's algorithms, then every event.
fn parse_log(log: &[u8]) -> Result<(Algorithms, Vec<Event>), String> {
    let u32_at = |at: usize| -> Result<u32, String> {
        log.get(at..at + 4).map(|b| u32::from_le_bytes(b.try_into().unwrap())).ok_or(format!("log ends at {at}"))
    };
    let spec_size = u32_at(28)? as usize;
    let spec = log.get(32..32 + spec_size).ok_or("short Spec ID event")?;
    if spec.get(..16) != Some(b"Spec ID Event03\0") {
        return Err("no Spec ID Event03 first".into());
    }
    let n = u32::from_le_bytes(spec[24..28].try_into().unwrap()) as usize;
    let algs: Algorithms = (0..n)
        .map(|i| {
            let a = &spec[28 + 4 * i..32 + 4 * i];
            (u16::from_le_bytes([a[0], a[1]]), u16::from_le_bytes([a[2], a[3]]) as usize)
        })
        .collect();
    let mut at = 32 + spec_size;
    let mut events = Vec::new();
    while at < log.len() {
        let (pcr, kind, count) = (u32_at(at)?, u32_at(at + 4)?, u32_at(at + 8)? as usize);
        at += 12;
        let mut digests = BTreeMap::new();
        for _ in 0..count {
            let id = u16::from_le_bytes(log.get(at..at + 2).ok_or("short digest")?.try_into().unwrap());
            let size = algs.iter().find(|a| a.0 == id).ok_or(format!("algorithm {id:#x} not in the Spec ID"))?.1;
            digests.insert(id, log.get(at + 2..at + 2 + size).ok_or("short digest")?.to_vec());
            at += 2 + size;
        }
        let size = u32_at(at)? as usize;
        let data = log.get(at + 4..at + 4 + size).ok_or("short event data")?.to_vec();
        at += 4 + size;
        events.push(Event { pcr, kind, digests, data });
    }
    Ok((algs, events))
}

fn hash(alg: u16, parts: &[&[u8]]) -> Vec<u8> {
    fn run<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
        let mut d = D::new();
        parts.iter().for_each(|p| d.update(p));
        d.finalize().to_vec()
    }
    match alg {
        0x4 => run::<sha1::Sha1>(parts),
        0xb => run::<sha2::Sha256>(parts),
        0xc => run::<sha2::Sha384>(parts),
        _ => run::<sha2::Sha512>(parts),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

/// The checks of one measured boot; returns the replayed log's events.
fn check(o: &Outcome, token: &str, boot: &Boot, firmware: &Path) -> Result<Vec<Event>, String> {
    let want = [("done", "yes")];
    let report = expect_report(o, token, &want)?;
    let text = report.get("tpm_log").ok_or("init printed no TPM log")?;
    let log: Vec<u8> = (0..text.len() / 2)
        .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| format!("log hex: {e}"))?;
    let (algs, events) = parse_log(&log)?;
    if algs.len() != 4 {
        return Err(format!("the log names banks {algs:x?}, want swtpm's four"));
    }
    // Replay every bank and compare with what the guest read.
    for (id, name) in BANKS {
        let mut pcrs = vec![vec![0u8; hash(id, &[]).len()]; 24];
        for e in &events {
            let d = e.digests.get(&id).ok_or(format!("an event without a {name} digest"))?;
            pcrs[e.pcr as usize] = hash(id, &[&pcrs[e.pcr as usize], d]);
        }
        let guest: Vec<&str> =
            report.get(&format!("pcrs_{name}")).map(|l| l.split_whitespace().collect()).unwrap_or_default();
        for (i, value) in guest.iter().enumerate() {
            if *value != hex(&pcrs[i]) {
                return Err(format!("{name} PCR {i}: guest {value}, the log replays to {}", hex(&pcrs[i])));
            }
        }
        if guest.len() != 10 {
            return Err(format!("guest printed {} {name} PCRs", guest.len()));
        }
    }
    // The expected digests, from the files alone.
    let sha = |parts: &[&[u8]]| hash(0xb, parts);
    // What the harness gave, not init's echo of it: a kernel message can end up on its line.
    let cmdline = linux::command_line(boot.machine, &boot.append);
    let kernel = if boot.bzimage {
        let file = std::fs::read(&boot.kernel).map_err(|e| e.to_string())?;
        let setup = (usize::from(if file[0x1f1] == 0 { 4 } else { file[0x1f1] }) + 1) * 512;
        sha(&[&file[setup..]])
    } else {
        let file = std::fs::read(&boot.kernel).map_err(|e| e.to_string())?;
        sha(&elf_loads(&file))
    };
    let initrd = sha(&[&std::fs::read(&boot.initrd).map_err(|e| e.to_string())?]);
    let image = sha(&[&std::fs::read(firmware).map_err(|e| e.to_string())?]);
    // Behind SeaBIOS, PCR 0 is SeaBIOS's.
    let image = (!boot.chained).then_some(image);
    let expected = [
        (0, 0x1, image, "pvhfw.bin"),
        (4, 0xd, Some(kernel), "the kernel"),
        (8, 0xd, Some(sha(&[cmdline.as_bytes()])), "the command line"),
        (9, 0x6, Some(initrd), "the initrd"),
    ];
    for (pcr, kind, digest, what) in expected {
        let Some(digest) = digest else { continue };
        let found = events.iter().any(|e| e.pcr == pcr && e.kind == kind && e.digests.get(&0xb) == Some(&digest));
        if !found {
            return Err(format!("no PCR {pcr} event of type {kind:#x} with the SHA-256 of {what}"));
        }
    }
    let text = format!("kernel_cmdline: {cmdline}\0");
    if !events.iter().any(|e| e.pcr == 8 && e.data == text.as_bytes()) {
        return Err("no PCR 8 event reading `kernel_cmdline: ...`".into());
    }
    for pcr in 0..8 {
        if !events.iter().any(|e| e.pcr == pcr && e.kind == 0x4) {
            return Err(format!("no separator on PCR {pcr}"));
        }
    }
    Ok(events)
}

/// An ELF's loadable segments' file bytes, in program header order.
fn elf_loads(file: &[u8]) -> Vec<&[u8]> {
    let le = |at: usize, n: usize| file[at..at + n].iter().rev().fold(0u64, |v, &b| v << 8 | u64::from(b)) as usize;
    let (phoff, phentsize, phnum) = (le(0x20, 8), le(0x36, 2), le(0x38, 2));
    (0..phnum)
        .map(|i| phoff + i * phentsize)
        .filter(|&at| le(at, 4) == 1)
        .map(|at| &file[le(at + 8, 8)..le(at + 8, 8) + le(at + 0x20, 8)])
        .collect()
}
