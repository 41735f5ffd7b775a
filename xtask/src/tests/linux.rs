//! Debian's stock kernels, the PVH `vmlinux` and the bzImage `vmlinuz` as Debian ships it,
//! booted by pvhfw under TCG to a busybox init that reports what Linux found (`pvhfw-init: KEY: VALUE`): CPUs online, DMI vendor, ACPI tables, a virtio disk's first
//! bytes and the network interfaces; then `poweroff -f` must end QEMU with status 0.

use super::{Case, Verdict};
use crate::debian::{self, DebianKernel, HELLO_TEXT};
use crate::linux;
use crate::qemu::{self, Outcome, Qemu, Version};
use crate::{work_dir, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What the first 32 bytes of the test disk say.
pub(super) const DISK_SIGNATURE: &str = "pvhfw-disk-signature-0123456789a";

/// Where the virtio devices sit.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Devices {
    None,
    /// virtio-blk-pci and virtio-net-pci on the root bus.
    Pci,
    /// The same, each behind its own pcie-root-port (q35).
    PcieRootPorts,
    /// virtio-mmio devices, which Linux finds through microvm's ACPI DSDT.
    Mmio,
    /// virtio-blk-pci and virtio-net-pci without MSI-X (`vectors=0`): their interrupts go
    /// through the chipset's PCI interrupt links, which Linux finds in the MP table under
    /// `acpi=off`.
    PciIntx,
}

struct Scenario {
    name: &'static str,
    machine: &'static str,
    smp: &'static str,
    /// `/sys/devices/system/cpu/online` as Linux must report it.
    cpus: &'static str,
    devices: Devices,
    vmgenid: bool,
    /// `/sys/class/dmi/id/sys_vendor`.
    vendor: &'static str,
    /// SeaBIOS image to boot the same way and compare the ACPI tables with.
    compare_with: Option<&'static str>,
    /// More for the kernel command line (`acpi=off`: Linux ignores ACPI and finds its CPUs in
    /// the MP table).
    append: &'static str,
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "pc",
        machine: "pc",
        smp: "4",
        cpus: "0-3",
        devices: Devices::Pci,
        vmgenid: true,
        vendor: "QEMU",
        compare_with: Some(qemu::SEABIOS),
        append: "",
    },
    Scenario {
        name: "pc-smbios3",
        machine: "pc,smbios-entry-point-type=64",
        smp: "4",
        cpus: "0-3",
        devices: Devices::None,
        vmgenid: false,
        vendor: "QEMU",
        compare_with: None,
        append: "",
    },
    Scenario {
        name: "q35-smbios3",
        machine: "q35,smbios-entry-point-type=64",
        smp: "4",
        cpus: "0-3",
        devices: Devices::PcieRootPorts,
        vmgenid: true,
        vendor: "QEMU",
        compare_with: Some(qemu::SEABIOS),
        append: "",
    },
    Scenario {
        name: "q35",
        machine: "q35",
        smp: "4",
        cpus: "0-3",
        devices: Devices::Pci,
        vmgenid: false,
        vendor: "QEMU",
        compare_with: None,
        append: "",
    },
    Scenario {
        name: "microvm",
        machine: "microvm",
        smp: "4",
        cpus: "0-3",
        devices: Devices::Mmio,
        vmgenid: false,
        vendor: "",
        compare_with: Some(qemu::SEABIOS_MICROVM),
        append: "",
    },
    // No ACPI: CPUs from the MP table, and no way to power off. (pvhtest checks the MP
    // table's APIC IDs for sparse topologies; two sockets under TCG make Linux crawl.)
    Scenario {
        name: "microvm-noacpi",
        machine: "microvm,acpi=off",
        smp: "4",
        cpus: "0-3",
        devices: Devices::None,
        vmgenid: false,
        vendor: "",
        compare_with: None,
        append: "",
    },
    // ACPI turned off on the kernel's command line, a common boot-time tuning: the MP table
    // that pvhfw writes on every machine must name every CPU and route PCI interrupts.
    Scenario {
        name: "pc-kernel-acpi-off",
        machine: "pc",
        smp: "4",
        cpus: "0-3",
        devices: Devices::PciIntx,
        vmgenid: false,
        vendor: "QEMU",
        compare_with: None,
        append: "acpi=off",
    },
    Scenario {
        name: "q35-kernel-acpi-off",
        machine: "q35",
        smp: "2",
        cpus: "0-1",
        devices: Devices::PciIntx,
        vmgenid: false,
        vendor: "QEMU",
        compare_with: None,
        append: "acpi=off",
    },
];

/// How the firmware is entered.
#[derive(Clone, Copy)]
enum Entry<'a> {
    /// `-bios FIRMWARE`: pvhfw from the reset vector.
    Reset(&'a Path),
    /// `-kernel pvhfw.elf` under QEMU's own firmware for the machine, which starts it through
    /// its PVH note; pvhfw chain-loads the kernel from fw_cfg.
    Chained(&'a Path),
}

impl Scenario {
    fn powers_off(&self) -> bool {
        !self.machine.contains("acpi=off") && !self.append.contains("acpi=off")
    }

    fn qemu(&self, v: Version, name: &str, entry: Entry, k: &DebianKernel, append: &str, disk: &Path) -> Result<Qemu> {
        let q = match entry {
            Entry::Reset(firmware) => linux::boot(v, name, self.machine, firmware, k, append),
            Entry::Chained(elf) => linux::boot_chained(v, name, self.machine, elf, k, append)?,
        };
        let mut q = q.args(&["-smp", self.smp]).timeout(240);
        let drive = format!("file={},format=raw,if=none,id=d0,readonly=on", disk.display());
        let (blk, net) = match self.devices {
            Devices::None => return Ok(self.finish(q)),
            Devices::Pci => ("virtio-blk-pci,drive=d0", "virtio-net-pci,netdev=n0"),
            Devices::PcieRootPorts => {
                q = q.args(&[
                    "-device",
                    "pcie-root-port,id=rp1,chassis=1",
                    "-device",
                    "pcie-root-port,id=rp2,chassis=2",
                ]);
                ("virtio-blk-pci,drive=d0,bus=rp1", "virtio-net-pci,netdev=n0,bus=rp2")
            }
            Devices::Mmio => ("virtio-blk-device,drive=d0", "virtio-net-device,netdev=n0"),
            Devices::PciIntx => ("virtio-blk-pci,drive=d0,vectors=0", "virtio-net-pci,netdev=n0,vectors=0"),
        };
        q = q.args(&["-drive", &drive, "-device", blk, "-netdev", "user,id=n0", "-device", net]);
        Ok(self.finish(q))
    }

    fn finish(&self, mut q: Qemu) -> Qemu {
        if self.vmgenid {
            q = q.args(&["-device", "vmgenid"]);
        }
        // Without ACPI nothing can power the machine off: init's last line ends the run (all of
        // it: a run stopped at "done" may miss the value the check reads).
        if self.powers_off() {
            q
        } else {
            q.until("pvhfw-init: done: yes")
        }
    }

    /// `bios_vendor`: what SMBIOS type 0 must say (pvhfw adds it where QEMU leaves it out;
    /// chained, the firmware before pvhfw wrote it).
    fn check(&self, o: &Outcome, append: &str, bios_vendor: &str, seabios: Option<&Qemu>) -> Verdict {
        let mut want = vec![
            ("file", HELLO_TEXT),
            ("cpus", self.cpus),
            ("sys_vendor", self.vendor),
            ("bios_vendor", bios_vendor),
            ("done", "yes"),
        ];
        if self.devices != Devices::None {
            want.push(("disk", DISK_SIGNATURE));
        }
        // The ICH9 watchdog (iTCO_wdt) exists only with the RCBA the firmware enables on q35.
        want.push(("watchdog", if self.machine.starts_with("q35") { "watchdog0" } else { "" }));
        let report = expect_report(o, append, &want)?;
        if self.devices != Devices::None {
            expect_eth0(&report)?;
        }
        // Without an interrupt route a device without MSI gets no IRQ (and its disk never reads).
        if let Some(l) = o.serial.lines().find(|l| l.contains("can't find IRQ for PCI INT")) {
            return Err(format!("Linux: {}", l.trim()));
        }
        // MTRRs set up: Linux 6.1 keeps PAT, with write-combining, only then.
        if !o.serial.contains("x86/PAT: Configuration [0-7]: WB  WC") {
            return Err("Linux's PAT has no write-combining (MTRRs not set up?)".into());
        }
        if self.powers_off() && o.status != Some(0) {
            return Err(format!("QEMU status {:?}; init's poweroff -f should end it with 0", o.status));
        }
        match seabios {
            Some(q) => same_acpi_tables(&report, q),
            None => Ok(()),
        }
    }
}

/// Init's report in `o`, checked to show `token` on the kernel's command line and each
/// `(key, value)` of `want`.
pub(super) fn expect_report(
    o: &Outcome,
    token: &str,
    want: &[(&str, &str)],
) -> Result<BTreeMap<String, String>, String> {
    let report = debian::init_report(&o.serial);
    let get = |k: &str| report.get(k).map(String::as_str).unwrap_or_default();
    if !get("cmdline").split(' ').any(|w| w == token) {
        return Err(format!("init saw command line {:?}, want it to hold {token:?}", get("cmdline")));
    }
    for &(key, value) in want {
        if get(key) != value {
            return Err(format!("init reported {key}: {:?}, want {value:?}", get(key)));
        }
    }
    Ok(report)
}

/// Init found the virtio-net interface.
pub(super) fn expect_eth0(report: &BTreeMap<String, String>) -> Verdict {
    let net = report.get("net").map(String::as_str).unwrap_or_default();
    if !net.split(' ').any(|i| i == "eth0") {
        return Err(format!("no eth0 among the interfaces: {net:?}"));
    }
    Ok(())
}

/// `k` with its initramfs padded for SeaBIOS's `microvm` image. QEMU's `microvm` places the
/// initrd to end within the last page of RAM, where that image puts its ACPI tables (the XSDT
/// 82 bytes below the end): unless the initrd's size leaves them room, it overwrites them and
/// Linux stalls for minutes at "ACPI: Core revision". Zeros after the archive's trailer, which
/// Linux skips, make the size one more than a multiple of 4 KiB: the initrd ends 4095 bytes
/// below the end of RAM.
fn seabios_microvm_initrd(k: &DebianKernel) -> Result<DebianKernel> {
    let mut bytes = std::fs::read(&k.initrd)?;
    bytes.resize(bytes.len().next_multiple_of(4096) + 1, 0);
    let path = k.initrd.with_extension("seabios-microvm.cpio");
    std::fs::write(&path, bytes)?;
    Ok(DebianKernel { initrd: path, ..k.clone() })
}

/// Boots SeaBIOS the same way and compares the ACPI tables each guest lists.
fn same_acpi_tables(ours: &BTreeMap<String, String>, seabios: &Qemu) -> Verdict {
    let theirs = seabios.run().map_err(|e| format!("{e:#}"))?;
    let theirs = debian::init_report(&theirs.serial);
    let tables = |r: &BTreeMap<String, String>| {
        let mut t: Vec<String> =
            r.get("acpi_tables").map(|s| s.split_whitespace().map(str::to_string).collect()).unwrap_or_default();
        t.sort();
        t
    };
    let (ours, theirs) = (tables(ours), tables(&theirs));
    if ours.is_empty() || ours != theirs {
        return Err(format!("ACPI tables {ours:?}, SeaBIOS gives {theirs:?}"));
    }
    Ok(())
}

/// 1 MiB whose first bytes are [`DISK_SIGNATURE`].
pub(super) fn test_disk() -> Result<PathBuf> {
    let path = work_dir().join("disk.img");
    let mut data = DISK_SIGNATURE.as_bytes().to_vec();
    data.resize(1 << 20, 0);
    std::fs::write(&path, data)?;
    Ok(path)
}

/// The scenarios that also boot the bzImage: every machine type once.
const BZIMAGE_SCENARIOS: [&str; 4] = ["pc", "q35", "microvm", "microvm-noacpi"];

/// Every scenario with kernel `k` on QEMU `v`, then the machine types with its bzImage; the
/// SeaBIOS comparisons (with `v`'s SeaBIOS) only when `compare` (once per QEMU is enough: they
/// describe QEMU's machine, not the kernel).
pub(super) fn cases(v: Version, firmware: &Path, k: &DebianKernel, compare: bool) -> Result<Vec<Case>> {
    let entry = Entry::Reset(firmware);
    let mut cases = scenario_cases(v, entry, k, compare, SCENARIOS.iter(), "")?;
    let bz = DebianKernel { vmlinux: k.bzimage.clone(), ..k.clone() };
    let bz_scenarios = SCENARIOS.iter().filter(|s| BZIMAGE_SCENARIOS.contains(&s.name));
    cases.extend(scenario_cases(v, entry, &bz, false, bz_scenarios, "-bz")?);
    Ok(cases)
}

/// The scenarios booted through `pvhfw.elf`, with the `vmlinux` and with the bzImage.
const CHAINED_SCENARIOS: [&str; 3] = ["pc", "q35", "microvm"];
const CHAINED_BZIMAGE_SCENARIOS: [&str; 2] = ["pc", "microvm"];

/// Kernel `k` chain-loaded by `pvhfw.elf` on QEMU `v` (its PVH ELF and its bzImage), started
/// by `v`'s own SeaBIOS or qboot.
pub(super) fn chained_cases(v: Version, elf: &Path, k: &DebianKernel) -> Result<Vec<Case>> {
    let entry = Entry::Chained(elf);
    let scenarios = SCENARIOS.iter().filter(|s| CHAINED_SCENARIOS.contains(&s.name));
    let mut cases = scenario_cases(v, entry, k, false, scenarios, "-elf")?;
    let bz = DebianKernel { vmlinux: k.bzimage.clone(), ..k.clone() };
    let bz_scenarios = SCENARIOS.iter().filter(|s| CHAINED_BZIMAGE_SCENARIOS.contains(&s.name));
    cases.extend(scenario_cases(v, entry, &bz, false, bz_scenarios, "-elf-bz")?);
    Ok(cases)
}

fn scenario_cases(
    v: Version,
    entry: Entry,
    k: &DebianKernel,
    compare: bool,
    scenarios: impl Iterator<Item = &'static Scenario>,
    suffix: &str,
) -> Result<Vec<Case>> {
    let disk = test_disk()?;
    let mut cases = Vec::new();
    for s in scenarios {
        let name = format!("{}{suffix}-{}", k.release.tag(), s.name);
        let append = format!("pvhfw.token={}-{name}-{}", v.tag(), std::process::id());
        let cmdline = format!("{append} {}", s.append);
        let q = s.qemu(v, &name, entry, k, cmdline.trim(), &disk)?;
        let seabios = match s.compare_with.filter(|_| compare) {
            Some(image) => {
                let firmware = v.firmware(image)?;
                let k = if image == qemu::SEABIOS_MICROVM { &seabios_microvm_initrd(k)? } else { k };
                let seabios = s.qemu(v, &format!("{name}-seabios"), Entry::Reset(&firmware), k, &append, &disk)?;
                Some(seabios.allow_reboot())
            }
            None => None,
        };
        // SMBIOS type 0: pvhfw adds it where QEMU has none (pc, q35); chained, SeaBIOS wrote
        // it before pvhfw ran, and microvm has no SMBIOS.
        let bios_vendor = match (entry, s.vendor.is_empty()) {
            (_, true) => "",
            (Entry::Reset(_), false) => "pvhfw",
            (Entry::Chained(_), false) => "SeaBIOS",
        };
        let check = move |o: &Outcome| s.check(o, &append, bios_vendor, seabios.as_ref());
        cases.push(Case { name, run: q.into(), check: Box::new(check) });
    }
    Ok(cases)
}
