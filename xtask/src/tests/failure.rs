//! Bad inputs under the real QEMU: each must end in one `pvhfw: error:` line on COM1 and the
//! debug console, then `pvhfw: halted` (or a reset when `-boot reboot-timeout` asks for one).

use super::{tag, Case};
use crate::build::Artifacts;
use crate::bzimage::Broken;
use crate::debian::DebianKernel;
use crate::qemu::{self, log_dir, Outcome, Qemu, Version, MACHINES};
use crate::{work_dir, Result};
use anyhow::bail;
use pvhfw::table_loader::encode::{add_pointer, allocate};
use pvhfw::table_loader::{COMMAND_SIZE, ZONE_F_SEGMENT, ZONE_HIGH};
use std::path::{Path, PathBuf};

const NO_KERNEL: &str = "pvhfw: error: no kernel given and no virtio-blk disk to boot from; give QEMU -kernel FILE (pvhfw.elf: -fw_cfg name=opt/org.pvhfw/kernel,file=FILE) or a disk";
const NO_LONG_MODE: &str = "pvhfw: error: this CPU has no long mode (64-bit); pvhfw needs x86-64";

/// A boot of `machine` on QEMU `v` with `args` that must fail with `message`, then halt.
pub(super) fn failure(
    v: Version,
    name: &str,
    machine: &str,
    firmware: &Path,
    args: &[&str],
    message: &'static str,
) -> Result<Case> {
    let debugcon = log_dir(v).join(format!("{name}.debugcon"));
    std::fs::create_dir_all(debugcon.parent().expect("has parent"))?;
    let _ = std::fs::remove_file(&debugcon);
    let q = Qemu::new(v, name, machine, firmware)
        .args(&["-accel", "tcg", "-debugcon", &format!("file:{}", debugcon.display())])
        .args(args)
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
    Ok(Case { name: name.into(), run: q.into(), check: Box::new(check) })
}

/// Every failure boot on QEMU `v`.
pub(super) fn cases(v: Version, a: &Artifacts, debian: Option<&DebianKernel>) -> Result<Vec<Case>> {
    let fw = &a.firmware;
    let kernel = a.testkernel.display().to_string();
    let mut cases = Vec::new();
    for m in MACHINES {
        cases.push(failure(v, &format!("fail-{}-no-kernel", tag(m)), m, fw, &[], NO_KERNEL)?);
    }
    // A multiboot kernel whose entry lies beyond what QEMU publishes of it.
    let multiboot = multiboot_kernel()?.display().to_string();
    cases.push(failure(
        v,
        "fail-pc-multiboot-entry-outside",
        "pc",
        fw,
        &["-kernel", &multiboot],
        "pvhfw: error: multiboot kernel: the entry lies outside the kernel",
    )?);
    // A PCI choice pvhfw does not know.
    cases.push(failure(
        v,
        "fail-pc-pci-option",
        "pc",
        fw,
        &["-kernel", &kernel, "-fw_cfg", "name=opt/org.pvhfw/pci,string=maybe"],
        "pvhfw: error: opt/org.pvhfw/pci must be assign or skip",
    )?);
    // A machine type from before PVH: QEMU publishes the ELF but loads nothing. (QEMU 10.0 still
    // has it, deprecated: "machines more than 3 years old are subject to deletion after 6".)
    let message = "pvhfw: error: QEMU did not load the ELF kernel as PVH: this machine type is too old";
    cases.push(failure(v, "fail-pc-3.1-pvh", "pc-i440fx-3.1", fw, &["-kernel", &kernel], message)?);
    // PVH ELFs QEMU loads and pvhfw must refuse by name, forged from the test kernel.
    let pvhtest = std::fs::read(&a.testkernel)?;
    // No loadable segment: QEMU loads nothing and reports a span of 0xffffffff-0x100000000.
    let no_loads = forged_kernel("no-loadable-segment", &without_loads(&pvhtest))?;
    let message = "pvhfw: error: malformed kernel ELF: no loadable segment";
    cases.push(failure(v, "fail-pc-pvh-no-loadable-segment", "pc", fw, &["-kernel", &no_loads], message)?);
    // An entry note at 4 GiB: QEMU (7.2 and 10.0) reads a 64-bit ELF's note as 64 bits and
    // passes it on cut to 32, as 0.
    let high_entry = forged_kernel("entry-above-4G", &with_entry_note(&pvhtest, 1 << 32)?)?;
    let message = "pvhfw: error: the kernel's PVH entry note holds an address at or above 4 GiB, which QEMU cut";
    cases.push(failure(v, "fail-pc-pvh-entry-above-4G", "pc", fw, &["-kernel", &high_entry], message)?);
    // bzImages pvhfw cannot enter: the test kernel's header, forged.
    for (broken, message) in [
        (Broken::OldProtocol, "pvhfw: error: bzImage boot protocol 2.11 is too old; pvhfw needs 2.12"),
        (Broken::NoEntry, "pvhfw: error: bzImage has no 64-bit entry (XLF_KERNEL_64) and no usable 32-bit one"),
        (Broken::HugeInitSize, "pvhfw: error: kernel needs 0x100000-0x40100000, which is not all RAM"),
    ] {
        let name = format!("fail-pc-bzimage-{}", broken.name());
        let kernel = broken.path().display().to_string();
        cases.push(failure(v, &name, "pc", fw, &["-kernel", &kernel], message)?);
    }
    // Debian's kernel needs ~64 MiB from 16 MiB to decompress: not in a 64 MiB machine. (Its
    // load range at 1 MiB fits; the message names the range it runs in.)
    if let Some(d) = debian {
        let bz = d.bzimage.display().to_string();
        let message = "pvhfw: error: kernel needs 0x1000000-";
        cases.push(failure(v, "fail-q35-bzimage-64M", "q35", fw, &["-m", "64M", "-kernel", &bz], message)?);
        // Its vmlinux spans 16 MiB to 74 MiB: it used to triple-fault in 32 MiB and hang in 64.
        let vmlinux = d.vmlinux.display().to_string();
        let message = "pvhfw: error: kernel needs 0x1000000-";
        for mem in ["32M", "64M"] {
            let name = format!("fail-pc-vmlinux-{mem}");
            cases.push(failure(v, &name, "pc", fw, &["-m", mem, "-kernel", &vmlinux], message)?);
        }
    }
    // max-ram-below-4g under the firmware's own RAM window: checked before any Rust runs.
    let message = "pvhfw: error: no RAM at 0x1000-0x30000, where pvhfw keeps its state";
    cases.push(failure(v, "fail-pc-64K-low-ram", "pc,max-ram-below-4g=64K", fw, &["-kernel", &kernel], message)?);
    // microvm without ACPI has no loader script of QEMU's, so one given with -fw_cfg is the
    // only one: broken scripts reach the firmware unchanged.
    let bad_pointer = loader_script(
        "bad-pointer",
        &[allocate("etc/e820", 16, ZONE_HIGH), add_pointer("etc/e820", "etc/e820", 100, 4)],
    )?;
    cases.push(failure(
        v,
        "fail-microvm-noacpi-loader-pointer",
        "microvm,acpi=off",
        fw,
        &["-kernel", &kernel, "-fw_cfg", &format!("name=etc/table-loader,file={bad_pointer}")],
        "pvhfw: error: etc/table-loader command 1: pointer lies outside its file",
    )?);
    // An RSDP whose checksum is wrong: placed, it would be handed to the kernel.
    let rsdp_script = loader_script("bad-rsdp", &[allocate("etc/acpi/rsdp", 16, ZONE_F_SEGMENT)])?;
    let mut rsdp = *b"RSD PTR \x01\0\0\0\0\0\0\0\0\0\0\0";
    rsdp[9] = b'Q'; // an OEM ID byte, so that the bytes do not sum to 0
    let rsdp_file = work_dir().join("bad-rsdp.bin");
    std::fs::write(&rsdp_file, rsdp)?;
    cases.push(failure(
        v,
        "fail-microvm-noacpi-loader-bad-rsdp",
        "microvm,acpi=off",
        fw,
        &[
            "-kernel",
            &kernel,
            "-fw_cfg",
            &format!("name=etc/table-loader,file={rsdp_script}"),
            "-fw_cfg",
            &format!("name=etc/acpi/rsdp,file={}", rsdp_file.display()),
        ],
        "pvhfw: error: the RSDP etc/table-loader placed at 0xffc00 is broken: its checksum is wrong",
    )?);
    // A file larger than the machine's RAM, which the script asks to place.
    let big = work_dir().join("big-table.bin");
    std::fs::File::create(&big)?.set_len(96 << 20)?;
    let too_big = loader_script("too-big", &[allocate("opt/big", 64, ZONE_HIGH)])?;
    cases.push(failure(
        v,
        "fail-microvm-noacpi-loader-no-room",
        "microvm,acpi=off",
        fw,
        &[
            "-m",
            "64M",
            "-kernel",
            &kernel,
            "-fw_cfg",
            &format!("name=etc/table-loader,file={too_big}"),
            "-fw_cfg",
            &format!("name=opt/big,file={}", big.display()),
        ],
        "pvhfw: error: no free RAM below 4 GiB for ",
    )?);
    // CPUs without long mode: reset.s must say so (in 32-bit assembly) instead of resetting.
    let qemu32 = ["-cpu", "qemu32", "-kernel", &kernel];
    cases.push(failure(v, "fail-pc-qemu32-no-long-mode", "pc", fw, &qemu32, NO_LONG_MODE)?);
    cases.push(failure(v, "fail-isapc-no-long-mode", "isapc", fw, &["-kernel", &kernel], NO_LONG_MODE)?);
    cases.extend(chained(v, a)?);
    cases.push(reboot_timeout(v, "fail-pc-reboot-timeout", "pc", fw, 200));
    // Without a PIT the wait must still last: a timer every machine type has.
    cases.push(reboot_timeout(v, "fail-microvm-nopit-reboot-timeout", "microvm,pit=off", fw, 1000));
    Ok(cases)
}

/// `pvhfw.elf` started by QEMU's own firmware (SeaBIOS's PVH option ROM on `pc` and `q35`,
/// qboot on `microvm`) with a kernel it must refuse, forged from the test kernel.
fn chained(v: Version, a: &Artifacts) -> Result<Vec<Case>> {
    let elf = a.firmware_elf.display().to_string();
    let pvhtest = std::fs::read(&a.testkernel)?;
    let forged = |name: &str, bytes: &[u8]| -> Result<String> {
        let path = work_dir().join(format!("chained-{name}"));
        std::fs::write(&path, bytes)?;
        Ok(format!("name=opt/org.pvhfw/kernel,file={}", path.display()))
    };
    // Cut off inside its code, before its PVH note.
    let truncated = forged("truncated", &pvhtest[..0x2000])?;
    let on_pvhfw = forged("on-pvhfw", &with_segment(&pvhtest, 0xf0_0000)?)?;
    let beyond_ram = forged("beyond-ram", &with_segment(&pvhtest, 0x700_0000)?)?;
    let garbage = forged("garbage", &[0x5a; 8192])?;
    let cases = [
        ("pc-no-kernel-file", "pc", None, NO_KERNEL),
        (
            "pc-truncated",
            "pc",
            Some(&truncated),
            "pvhfw: error: malformed kernel ELF: note segment too large or beyond the end of the file",
        ),
        (
            "q35-segment-on-pvhfw",
            "q35",
            Some(&on_pvhfw),
            "pvhfw: error: kernel at 0xf00000-0xf00010 overlaps firmware memory",
        ),
        (
            "microvm-segment-beyond-ram",
            "microvm",
            Some(&beyond_ram),
            "pvhfw: error: kernel needs 0x7000000-0x7000010, which is not all RAM",
        ),
        ("q35-not-a-kernel", "q35", Some(&garbage), "pvhfw: error: unsupported kernel format"),
    ];
    let mut out = Vec::new();
    for (name, machine, kernel, message) in cases {
        let anchor = if machine == "microvm" { qemu::QBOOT } else { qemu::SEABIOS };
        let mut args = vec!["-m", "64M", "-kernel", &elf];
        if let Some(k) = kernel {
            args.extend(["-fw_cfg", k.as_str()]);
        }
        out.push(failure(v, &format!("fail-elf-{name}"), machine, &v.firmware(anchor)?, &args, message)?);
    }
    Ok(out)
}

/// `bytes` written as the kernel file `name`; returns its path.
fn forged_kernel(name: &str, bytes: &[u8]) -> Result<String> {
    let path = work_dir().join(format!("forged-{name}"));
    std::fs::write(&path, bytes)?;
    Ok(path.display().to_string())
}

/// The program headers of `elf` (64-bit): (offset in the file, type) each.
fn program_headers(elf: &[u8]) -> Vec<(usize, u32)> {
    let phoff = u64::from_le_bytes(elf[0x20..0x28].try_into().expect("8 bytes")) as usize;
    let count = usize::from(u16::from_le_bytes([elf[0x38], elf[0x39]]));
    (0..count)
        .map(|i| phoff + i * 56)
        .map(|at| (at, u32::from_le_bytes(elf[at..at + 4].try_into().expect("4 bytes"))))
        .collect()
}

/// `elf` (64-bit) with each loadable segment turned into a null one: only its notes are left.
fn without_loads(elf: &[u8]) -> Vec<u8> {
    let mut elf = elf.to_vec();
    for (at, kind) in program_headers(&elf) {
        if kind == 1 {
            elf[at..at + 4].copy_from_slice(&0u32.to_le_bytes()); // PT_LOAD -> PT_NULL
        }
    }
    elf
}

/// `elf` (64-bit, its program headers followed by zeros) with one more loadable segment: 16
/// bytes of its file at `paddr`.
fn with_segment(elf: &[u8], paddr: u64) -> Result<Vec<u8>> {
    with_program_header(elf, 1, [0x1000, paddr, paddr, 16, 16, 0x1000]) // PT_LOAD
}

/// `elf` (64-bit) with one more PVH entry note, 8-byte aligned with a 64-bit `entry`, in a
/// note segment of its own after the others (QEMU takes the last entry note it finds).
fn with_entry_note(elf: &[u8], entry: u64) -> Result<Vec<u8>> {
    let mut elf = elf.to_vec();
    elf.resize(elf.len().next_multiple_of(8), 0);
    let offset = elf.len() as u64;
    for word in [4u32, 8, 18] {
        elf.extend_from_slice(&word.to_le_bytes()); // name size, entry size, XEN_ELFNOTE_PHYS32_ENTRY
    }
    elf.extend_from_slice(b"Xen\0\0\0\0\0"); // the name, padded to 8
    elf.extend_from_slice(&entry.to_le_bytes());
    let size = elf.len() as u64 - offset;
    with_program_header(&elf, 4, [offset, 0, 0, size, 0, 8]) // PT_NOTE
}

/// `elf` (64-bit, its program headers followed by zeros) with one more program header of
/// `kind` (readable) and `fields`: offset, vaddr, paddr, filesz, memsz, align.
fn with_program_header(elf: &[u8], kind: u32, fields: [u64; 6]) -> Result<Vec<u8>> {
    let mut elf = elf.to_vec();
    let count = u16::from_le_bytes([elf[0x38], elf[0x39]]);
    let at = 0x40 + usize::from(count) * 56;
    if elf[at..at + 56].iter().any(|&b| b != 0) {
        bail!("no room after the test kernel's program headers");
    }
    let mut phdr = Vec::new();
    phdr.extend_from_slice(&kind.to_le_bytes());
    phdr.extend_from_slice(&4u32.to_le_bytes()); // readable
    for field in fields {
        phdr.extend_from_slice(&field.to_le_bytes());
    }
    elf[at..at + 56].copy_from_slice(&phdr);
    elf[0x38..0x3a].copy_from_slice(&(count + 1).to_le_bytes());
    Ok(elf)
}

/// `-boot reboot-timeout=MS` asks for a reset after the message and a wait of MS ms (from the
/// message to QEMU's exit, at least 80% of it); `-no-reboot` turns the reset into an exit with
/// status 0.
fn reboot_timeout(v: Version, name: &str, machine: &str, firmware: &Path, ms: u64) -> Case {
    let rebooting = format!("pvhfw: rebooting in {ms} ms");
    let q = Qemu::new(v, name, machine, firmware)
        .args(&["-accel", "tcg", "-boot", &format!("reboot-timeout={ms}")])
        .mark(&rebooting)
        .timeout(20);
    let check = move |o: &Outcome| {
        if !o.serial.contains(NO_KERNEL) || !o.serial.contains(&rebooting) {
            return Err(format!("missing messages: {:?}", o.serial));
        }
        if o.status != Some(0) {
            return Err(format!("QEMU status {:?}, want a reset (0 with -no-reboot)", o.status));
        }
        match o.after_mark {
            Some(waited) if waited.as_millis() >= u128::from(ms) * 8 / 10 => Ok(()),
            waited => Err(format!("reset {waited:?} after the message, want about {ms} ms")),
        }
    };
    Case { name: name.into(), run: q.into(), check: Box::new(check) }
}

/// The smallest multiboot kernel QEMU accepts, a header with load addresses, then `hlt`; its
/// entry 1 MiB beyond it.
fn multiboot_kernel() -> Result<PathBuf> {
    const MAGIC: u32 = 0x1bad_b002;
    const FLAGS: u32 = 1 << 16; // the address fields below are valid
    let load = 0x10_0000u32;
    let header = [MAGIC, FLAGS, MAGIC.wrapping_add(FLAGS).wrapping_neg(), load, load, 0, 0, load + 0x10_0000];
    let mut image: Vec<u8> = header.iter().flat_map(|w| w.to_le_bytes()).collect();
    image.resize(32, 0);
    image.extend_from_slice(&[0xfa, 0xf4, 0xeb, 0xfd]); // cli; hlt; jmp back to hlt
    image.resize(8192, 0);
    let path = work_dir().join("multiboot.bin");
    std::fs::write(&path, image)?;
    Ok(path)
}

/// A table-loader script file of 128-byte commands.
fn loader_script(name: &str, commands: &[[u8; COMMAND_SIZE]]) -> Result<String> {
    let path = work_dir().join(format!("loader-{name}.bin"));
    std::fs::write(&path, commands.concat())?;
    Ok(path.display().to_string())
}
