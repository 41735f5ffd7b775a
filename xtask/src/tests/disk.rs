//! Boots from virtio-blk disks, with no `-kernel` (issue 19): pvhfw picks the disk (QEMU's
//! `bootorder`, else PCI slot or virtio-mmio order, skipping disks with nothing to boot), reads
//! its partition table, filesystem and boot entry, and boots the entry's kernel and initrds
//! with its command line (`opt/org.pvhfw/cmdline` replacing it, `opt/org.pvhfw/append` adding
//! to it, `opt/org.pvhfw/entry` choosing another entry). The disks are [`crate::disk`]'s.
//!
//! - Debian 12's kernel under TCG to the busybox init, from each layout (GRUB, BLS, extlinux,
//!   the /vmlinuz links) on `pc`, `q35` and `microvm`, over each virtio transport: init
//!   reports the command line, the initrds' files and the disks Linux found;
//! - `pvhtest` (under KVM, cheap) checks byte for byte what pvhfw handed over from a disk;
//! - failures: no disk, nothing bootable, a missing kernel, both GPT headers damaged.

use super::failure::failure;
use super::pvhtest::{disk_case, FromDisk, HALTED};
use super::{test_file, Case, Verdict};
use crate::build::Artifacts;
use crate::debian::{self, DebianKernel, HELLO_TEXT};
use crate::disk::layouts::{self, Expected, EXTRA_TEXT, PVHTEST_BZ_ENTRY};
use crate::disk::{Damage, Disk, Payload, PvhPayload};
use crate::linux;
use crate::qemu::{Outcome, Qemu, Version};
use crate::{work_dir, Result};
use std::path::{Path, PathBuf};

/// The firmware's messages for disks it cannot boot from. Written before the firmware's side
/// (issue 19): when its messages land, update these to its exact text.
mod expected {
    /// No `-kernel` and no virtio-blk disk at all.
    pub const NO_DISK: &str = "pvhfw: error: no kernel given and no virtio-blk disk";
    /// Disks, but none with a boot entry or /vmlinuz (a blank one, a data one).
    pub const NOTHING_TO_BOOT: &str = "pvhfw: error: none of the 1 virtio-blk disks has a boot entry";
    /// The default entry names a kernel file the filesystem does not have.
    pub const MISSING_KERNEL: &str = "pvhfw: extlinux.conf names the kernel /boot/vmlinuz-missing";
    /// Both GPT headers fail their CRC32: the only disk cannot be read.
    pub const BOTH_GPTS_DAMAGED: &str = "pvhfw: error: boot disk: damaged or unsupported: GPT header: CRC32";
}

/// How the disks are attached.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Transport {
    /// virtio-blk-pci, transitional (legacy and modern interfaces).
    Pci,
    /// virtio-blk-pci with `disable-legacy=on`: modern (virtio 1.0) only.
    PciModern,
    /// virtio-blk-pci with `disable-modern=on`: legacy (virtio 0.9) only.
    PciLegacy,
    /// virtio-blk-device on microvm's virtio-mmio, version 1 (QEMU's default).
    Mmio1,
    /// The same with `-global virtio-mmio.force-legacy=false`: version 2.
    Mmio2,
}

impl Transport {
    fn device(self) -> &'static str {
        match self {
            Transport::Pci => "virtio-blk-pci",
            Transport::PciModern => "virtio-blk-pci,disable-legacy=on",
            Transport::PciLegacy => "virtio-blk-pci,disable-modern=on",
            Transport::Mmio1 | Transport::Mmio2 => "virtio-blk-device",
        }
    }

    /// QEMU arguments for `disks` in order, each with its `bootindex` if it has one.
    fn args(self, disks: &[(PathBuf, Option<u32>)]) -> Vec<String> {
        let mut args = Vec::new();
        if self == Transport::Mmio2 {
            args.extend(["-global".into(), "virtio-mmio.force-legacy=false".into()]);
        }
        for (i, (path, bootindex)) in disks.iter().enumerate() {
            // Read-only: cases running at once share the image files.
            args.extend(["-drive".into(), format!("file={},format=raw,if=none,id=d{i},readonly=on", path.display())]);
            let index = bootindex.map(|b| format!(",bootindex={b}")).unwrap_or_default();
            args.extend(["-device".into(), format!("{},drive=d{i}{index}", self.device())]);
        }
        args
    }
}

/// An `opt/org.pvhfw/NAME` fw_cfg string (QEMU's option syntax doubles commas).
fn option(name: &str, value: &str) -> [String; 2] {
    ["-fw_cfg".into(), format!("name=opt/org.pvhfw/{name},string={}", value.replace(',', ",,"))]
}

/// The pvhfw options a boot gives: a command line replacing the entry's, text to append,
/// an entry to pick.
#[derive(Clone, Default)]
struct Options {
    cmdline: Option<String>,
    append: Option<String>,
    entry: Option<String>,
}

impl Options {
    fn args(&self) -> Vec<String> {
        let named = [("cmdline", &self.cmdline), ("append", &self.append), ("entry", &self.entry)];
        named.iter().filter_map(|(n, v)| v.as_ref().map(|v| option(n, v))).flatten().collect()
    }

    /// The command line the kernel must get when the chosen entry gives `entry`'s.
    fn cmdline(&self, entry: &str) -> String {
        let base = self.cmdline.clone().unwrap_or_else(|| entry.to_string());
        match &self.append {
            Some(a) => format!("{base} {a}").trim().to_string(),
            None => base,
        }
    }
}

/// One Debian boot from disks and what init must report.
struct LinuxBoot {
    name: &'static str,
    machine: &'static str,
    transport: Transport,
    disks: Vec<(PathBuf, Option<u32>)>,
    /// Through `pvhfw.elf` rather than `pvhfw.bin`.
    chain: bool,
    options: Options,
    /// The entry that must boot, with the second initrd (`extra`) or not.
    want: Expected,
    /// Block devices Linux must list (the disks and their partitions).
    block: &'static [&'static str],
}

impl LinuxBoot {
    fn case(mut self, v: Version, a: &Artifacts) -> Result<Case> {
        // microvm's guests need the TSC's frequency under TCG: appended, as a user would.
        if let Some(tsc) = linux::microvm_append(self.machine) {
            let append = [self.options.append.take(), Some(tsc)].into_iter().flatten().collect::<Vec<_>>();
            self.options.append = Some(append.join(" "));
        }
        let q = self.qemu(v, a)?;
        let cmdline = self.options.cmdline(&self.want.cmdline);
        let extra = self.want.initrds.len() > 1;
        let block = self.block;
        let check = move |o: &Outcome| check_linux(o, &cmdline, extra, block);
        Ok(Case { name: self.name.into(), run: q.into(), check: Box::new(check) })
    }

    fn qemu(&self, v: Version, a: &Artifacts) -> Result<Qemu> {
        let q = if self.chain {
            linux::boot_from_disk_chained(v, self.name, self.machine, &a.firmware_elf)?
        } else {
            linux::boot_from_disk(v, self.name, self.machine, &a.firmware)
        };
        // A disk the firmware cannot boot ends the run at once, not at the timeout.
        Ok(q.args(&self.transport.args(&self.disks)).args(&self.options.args()).timeout(240).until(HALTED))
    }
}

/// Init's report: the command line exactly, the initrd's file (and the second initrd's when
/// `extra`), the disks' block devices, and `poweroff -f` ending QEMU with status 0.
fn check_linux(o: &Outcome, cmdline: &str, extra: bool, block: &[&str]) -> Verdict {
    let report = debian::init_report(&o.serial);
    let get = |k: &str| report.get(k).map(String::as_str).unwrap_or_default();
    let want =
        [("cmdline", cmdline), ("file", HELLO_TEXT), ("extra", if extra { EXTRA_TEXT } else { "" }), ("done", "yes")];
    for (key, value) in want {
        if get(key) != value {
            return Err(format!("init reported {key}: {:?}, want {value:?}", get(key)));
        }
    }
    let found: Vec<&str> = get("block").split_whitespace().collect();
    if let Some(missing) = block.iter().find(|b| !found.contains(b)) {
        return Err(format!("Linux has no {missing} among its block devices {found:?}"));
    }
    if o.status != Some(0) {
        return Err(format!("QEMU status {:?}; init's poweroff -f should end it with 0", o.status));
    }
    Ok(())
}

/// Every boot from a disk on QEMU `v`; the Debian ones when its kernel was fetched.
pub(super) fn cases(v: Version, a: &Artifacts, debian: Option<&DebianKernel>) -> Result<Vec<Case>> {
    let mut cases = pvhtest_cases(v, a)?;
    cases.extend(failures(v, a)?);
    if let Some(k) = debian {
        for boot in linux_boots(&Payload::debian(k)?)? {
            cases.push(boot.case(v, a)?);
        }
    }
    Ok(cases)
}

/// `d`'s image, and the entry it boots without a choice.
fn built(d: &Disk) -> Result<(PathBuf, Expected)> {
    let want = d.boot.clone().expect("a bootable layout");
    Ok((d.build()?, want))
}

/// The entry `d` boots when `opt/org.pvhfw/entry` names `name`.
fn other(d: &Disk, name: &str) -> Expected {
    d.others.iter().find(|(n, _)| n == name).map(|(_, e)| e.clone()).expect("a named entry")
}

/// The Debian boots: every layout on each machine type and transport, spread over the matrix
/// rather than multiplied (each costs seconds of TCG).
fn linux_boots(p: &Payload) -> Result<Vec<LinuxBoot>> {
    let (grub, grub_want) = built(&layouts::debian_grub(p))?;
    let bls_disk = layouts::bls_esp(p);
    let (bls, bls_want) = built(&bls_disk)?;
    let (extlinux, extlinux_want) = built(&layouts::extlinux_mbr(p))?;
    let (links, links_want) = built(&layouts::links_only(p))?;
    let (data, blank) = (layouts::data().build()?, layouts::blank().build()?);
    let one = |path: &Path| vec![(path.to_path_buf(), None)];
    // The /vmlinuz links carry no console: the user appends it.
    let console = Options { append: Some(layouts::CONSOLE.into()), ..Options::default() };
    let boot = |name, machine, transport, disks, want: &Expected, block| LinuxBoot {
        name,
        machine,
        transport,
        disks,
        chain: false,
        options: Options::default(),
        want: want.clone(),
        block,
    };
    let (old_name, old) = bls_disk.others[0].clone();
    Ok(vec![
        boot("disk-grub-pc", "pc", Transport::Pci, one(&grub), &grub_want, &["vda1", "vda2"]),
        boot("disk-bls-q35-modern", "q35", Transport::PciModern, one(&bls), &bls_want, &["vda1", "vda2"]),
        boot("disk-extlinux-pc-legacy", "pc", Transport::PciLegacy, one(&extlinux), &extlinux_want, &["vda1"]),
        boot("disk-extlinux-microvm-mmio1", "microvm", Transport::Mmio1, one(&extlinux), &extlinux_want, &["vda1"]),
        LinuxBoot {
            options: console.clone(),
            ..boot("disk-links-microvm-mmio2", "microvm", Transport::Mmio2, one(&links), &links_want, &["vda1"])
        },
        // A blank disk and a data disk ahead of the boot disk: both skipped.
        LinuxBoot {
            options: console,
            ..boot(
                "disk-links-q35-data-disks-first",
                "q35",
                Transport::Pci,
                vec![(blank.clone(), None), (data.clone(), None), (links.clone(), None)],
                &links_want,
                &["vda", "vdb1", "vdc1"],
            )
        },
        // bootorder: the second disk first.
        boot(
            "disk-bootindex-pc",
            "pc",
            Transport::Pci,
            vec![(bls.clone(), Some(2)), (grub.clone(), Some(1))],
            &grub_want,
            &["vda2", "vdb2"],
        ),
        LinuxBoot {
            options: Options { entry: Some(old_name), append: Some("pvhfw.appended=yes".into()), ..Options::default() },
            ..boot("disk-bls-pc-entry-append", "pc", Transport::Pci, one(&bls), &old, &["vda1"])
        },
        LinuxBoot {
            options: Options {
                cmdline: Some(format!("{} pvhfw.replaced=yes", layouts::CONSOLE)),
                ..Options::default()
            },
            ..boot("disk-grub-q35-cmdline", "q35", Transport::PciLegacy, one(&grub), &grub_want, &["vda2"])
        },
        LinuxBoot { chain: true, ..boot("disk-elf-grub-pc", "pc", Transport::Pci, one(&grub), &grub_want, &["vda2"]) },
    ])
}

/// The test kernel's disk: `pvhtest` and `pvhtest.bzImage` with two initrds.
fn pvhtest_disk(a: &Artifacts) -> Result<Disk> {
    let first = test_file("disk-initrd-a.bin", 8192)?;
    let second = work_dir().join("disk-initrd-b.bin");
    std::fs::write(&second, b"the second initrd of the pvhtest disk\n".repeat(4096).get(..4096).expect("long enough"))?;
    let p = PvhPayload { elf: a.testkernel.clone(), bzimage: a.testkernel_bzimage.clone(), initrds: [first, second] };
    Ok(layouts::pvhtest(&p))
}

/// What pvhtest must receive for `want`: its command line and the initrds' concatenation.
fn handover(want: &Expected) -> Result<(String, Option<PathBuf>)> {
    let name = format!("disk-initrds-{}.bin", want.initrds.len());
    Ok((want.cmdline.clone(), Some(layouts::concatenation(&want.initrds, &work_dir().join(name))?)))
}

/// The pvhtest boots from disk, under KVM but for two under TCG: every transport, the
/// bzImage entry, the fw_cfg options, the backup GPT, and `pvhfw.elf` behind SeaBIOS and qboot.
fn pvhtest_cases(v: Version, a: &Artifacts) -> Result<Vec<Case>> {
    let disk = pvhtest_disk(a)?;
    let (image, want) = built(&disk)?;
    let backup = disk.damaged(Damage::PrimaryGpt, "primary-gpt").build()?;
    let bz = other(&disk, PVHTEST_BZ_ENTRY);
    let (cmdline, initrd) = handover(&want)?;
    let from = |accel, transport: Transport, disk: &Path, chain| FromDisk {
        accel,
        chain,
        bzimage: false,
        cmdline: cmdline.clone(),
        initrd: initrd.clone(),
        extra: transport.args(&[(disk.to_path_buf(), None)]),
    };
    let mut cases = Vec::new();
    let mut add = |name: &str, machine, d| cases.push(disk_case(v, name, machine, d, a));
    add("disk-pvhtest-pc", "pc", from("tcg", Transport::Pci, &image, false));
    add("disk-pvhtest-pc-kvm", "pc", from("kvm", Transport::Pci, &image, false));
    add("disk-pvhtest-q35-modern-kvm", "q35", from("kvm", Transport::PciModern, &image, false));
    add("disk-pvhtest-q35-legacy-kvm", "q35", from("kvm", Transport::PciLegacy, &image, false));
    add("disk-pvhtest-microvm-mmio1-kvm", "microvm", from("kvm", Transport::Mmio1, &image, false));
    add("disk-pvhtest-microvm-mmio2", "microvm", from("tcg", Transport::Mmio2, &image, false));
    add("disk-pvhtest-pc-gpt-backup-kvm", "pc", from("kvm", Transport::Pci, &backup, false));
    add("disk-elf-pvhtest-pc-kvm", "pc", from("kvm", Transport::Pci, &image, true));
    add("disk-elf-pvhtest-q35-modern-kvm", "q35", from("kvm", Transport::PciModern, &image, true));
    add("disk-elf-pvhtest-microvm-mmio2-kvm", "microvm", from("kvm", Transport::Mmio2, &image, true));
    let (bz_cmdline, bz_initrd) = handover(&bz)?;
    let mut entry = from("kvm", Transport::Pci, &image, false);
    entry.extra.extend(option("entry", PVHTEST_BZ_ENTRY));
    let bzimage = bz.kernel == a.testkernel_bzimage;
    add("disk-pvhtest-pc-bz-entry-kvm", "pc", FromDisk { bzimage, cmdline: bz_cmdline, initrd: bz_initrd, ..entry });
    let replaced = "console=ttyS0 pvhfw.replaced=\"a b\"";
    let mut c = from("kvm", Transport::Pci, &image, false);
    c.extra.extend(option("cmdline", replaced));
    add("disk-pvhtest-pc-cmdline-kvm", "pc", FromDisk { cmdline: replaced.into(), ..c });
    let mut appended = from("kvm", Transport::PciModern, &image, true);
    appended.extra.extend(option("append", "pvhfw.appended=1,2"));
    let cmdline = format!("{} pvhfw.appended=1,2", want.cmdline);
    add("disk-elf-pvhtest-q35-append-kvm", "q35", FromDisk { cmdline, ..appended });
    Ok(cases)
}

/// The boots that must fail, with [`expected`]'s messages.
fn failures(v: Version, a: &Artifacts) -> Result<Vec<Case>> {
    let fw = &a.firmware;
    let disk = |path: PathBuf| Transport::Pci.args(&[(path, None)]);
    let pvhtest = pvhtest_disk(a)?;
    let both = disk(pvhtest.damaged(Damage::BothGpts, "both-gpts").build()?);
    let blank = disk(layouts::blank().build()?);
    let missing = disk(layouts::missing_kernel().build()?);
    let runs: [(&str, &str, Vec<String>, &'static str); 4] = [
        ("fail-disk-q35-no-disk", "q35", vec![], expected::NO_DISK),
        ("fail-disk-pc-blank", "pc", blank, expected::NOTHING_TO_BOOT),
        ("fail-disk-pc-missing-kernel", "pc", missing, expected::MISSING_KERNEL),
        ("fail-disk-pc-gpt-both-damaged", "pc", both, expected::BOTH_GPTS_DAMAGED),
    ];
    let mut cases = Vec::new();
    for (name, machine, args, message) in runs {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cases.push(failure(v, name, machine, fw, &args, message)?);
    }
    Ok(cases)
}
