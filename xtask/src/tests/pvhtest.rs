//! Boots of `pvhtest`, the project's test kernel, as a PVH ELF and as a bzImage: it prints
//! everything it received and checks the entry state itself. Here the printed values are
//! compared with what QEMU was given.

use super::{tag, test_file, Case, Verdict};
use crate::build::Artifacts;
use crate::qemu::{self, Outcome, Qemu, Version, MACHINES, VMGENID_GUID};
use crate::Result;
use pvhfw::boot::LOG_FILE;
use std::path::PathBuf;

const MIB: u64 = 1 << 20;

/// What the firmware prints last when it gives up.
pub(super) const HALTED: &str = "pvhfw: halted";

/// The 16 bytes QEMU stores in guest memory for a GUID, in hex: the first three fields
/// little-endian, the rest as written.
fn guid_bytes(guid: &str) -> String {
    let fields: Vec<&str> = guid.split('-').collect();
    let swapped = |f: &str| f.as_bytes().rchunks(2).map(|b| std::str::from_utf8(b).expect("ASCII")).collect::<String>();
    let head: String = fields[..3].iter().map(|f| swapped(f)).collect();
    head + &fields[3..].concat()
}

/// One pvhtest boot and what it must report.
#[derive(Clone)]
struct Boot {
    qemu: Version,
    machine: &'static str,
    accel: &'static str,
    mem: u64,
    /// `-smp` and the APIC IDs of the CPUs running at boot, as the MP table must list them.
    smp: (&'static str, &'static str),
    cmdline: String,
    initrd: Option<PathBuf>,
    /// The string for the firmware's log option ([`LOG_FILE`]), if any.
    log: Option<&'static str>,
    vmgenid: bool,
    /// Boot the bzImage form (64-bit boot protocol) instead of the PVH ELF.
    bzimage: bool,
    /// Boot through `pvhfw.elf`, started by QEMU's own firmware for the machine (SeaBIOS with
    /// QEMU's PVH option ROM, qboot on `microvm`), the kernel in fw_cfg files.
    chain: bool,
    /// No kernel, initrd or command line given: pvhfw finds them on a disk in `extra`, and
    /// `cmdline` and `initrd` say what it must hand over.
    from_disk: bool,
    extra: Vec<String>,
    /// Boot the multiboot form (`pvhtest.multiboot`, whose path QEMU puts first on the
    /// command line) with these modules, each a file and its arguments (`-initrd "f a,g b"`).
    multiboot: Option<(String, Vec<(PathBuf, &'static str)>)>,
}

impl Boot {
    fn on(qemu: Version, machine: &'static str) -> Boot {
        Boot {
            qemu,
            machine,
            accel: "tcg",
            mem: 128 * MIB,
            smp: ("1", "0"),
            cmdline: String::new(),
            initrd: None,
            log: None,
            vmgenid: false,
            bzimage: false,
            chain: false,
            from_disk: false,
            extra: Vec::new(),
            multiboot: None,
        }
    }

    fn multiboot(self, a: &Artifacts, modules: Vec<(PathBuf, &'static str)>) -> Boot {
        Boot { multiboot: Some((a.testkernel_multiboot.display().to_string(), modules)), ..self }
    }

    fn case(self, name: &str, a: &Artifacts) -> Case {
        let q = self.qemu(name, a);
        Case { name: name.into(), run: q.into(), check: Box::new(move |o| self.check(o)) }
    }

    fn qemu(&self, name: &str, a: &Artifacts) -> Qemu {
        let kernel = if self.bzimage { &a.testkernel_bzimage } else { &a.testkernel };
        let firmware = match (self.chain, self.base()) {
            (false, _) => a.firmware.clone(),
            (true, "microvm") => self.qemu.firmware(qemu::QBOOT).expect("qboot installed"),
            (true, _) => self.qemu.firmware(qemu::SEABIOS).expect("SeaBIOS installed"),
        };
        let mut q = Qemu::new(self.qemu, name, self.machine, &firmware)
            .args(&["-accel", self.accel, "-m", &format!("{}M", self.mem / MIB), "-smp", self.smp.0])
            .args(&qemu::DEBUG_EXIT)
            .args(&self.extra)
            .timeout(30);
        if self.from_disk {
            if self.chain {
                q = q.arg_path("-kernel", &a.firmware_elf);
            }
            // A disk the firmware cannot boot ends the run at once, not at the timeout.
            q = q.until(HALTED);
        } else if let Some((kernel, modules)) = &self.multiboot {
            q = q.args(&["-kernel", kernel, "-append", &self.cmdline]);
            if !modules.is_empty() {
                let list: Vec<String> = modules.iter().map(|(f, args)| format!("{} {args}", f.display())).collect();
                q = q.args(&["-initrd", &list.join(",")]);
            }
        } else if self.chain {
            q = q.arg_path("-kernel", &a.firmware_elf).args(&qemu::chain_files(
                kernel,
                self.initrd.as_deref(),
                &self.cmdline,
            ));
        } else {
            q = q.arg_path("-kernel", kernel);
            if !self.cmdline.is_empty() {
                q = q.args(&["-append", &self.cmdline]);
            }
            if let Some(i) = &self.initrd {
                q = q.arg_path("-initrd", i);
            }
        }
        if let Some(log) = self.log {
            q = q.args(&["-fw_cfg", &format!("name={LOG_FILE},string={log}")]);
        }
        if self.vmgenid {
            q = q.args(&["-device", &format!("vmgenid,guid={VMGENID_GUID}")]);
        }
        q
    }

    /// Largest RAM QEMU keeps entirely below 4 GiB (pc splits at 3.5 GiB, q35 at 2.75 GiB,
    /// microvm at 3 GiB).
    fn low_ram_limit(&self) -> u64 {
        match self.base() {
            "pc" => 0xe000_0000 - 1,
            "q35" => 0xb000_0000 - 1,
            _ => 0xc000_0000,
        }
    }

    fn base(&self) -> &str {
        self.machine.split(',').next().unwrap_or_default()
    }

    fn check(&self, o: &Outcome) -> Verdict {
        let line =
            |key: &str| o.serial.lines().find_map(|l| l.strip_prefix(&format!("pvhtest: {key} "))).map(str::to_string);
        if let Some(fail) = o.serial.lines().find(|l| l.starts_with("pvhtest: FAIL")) {
            return Err(fail.into());
        }
        if o.status != Some(1) || !o.serial.contains("pvhtest: PASS") {
            return Err(format!("no PASS from pvhtest (QEMU status {:?})", o.status));
        }
        if o.serial.contains("pvhtest: entry bzimage64") != self.bzimage {
            return Err(format!("entered through the wrong entry (bzImage: {})", self.bzimage));
        }
        if o.serial.contains("pvhtest: entry multiboot") != self.multiboot.is_some() {
            return Err(format!("entered through the wrong entry (multiboot: {})", self.multiboot.is_some()));
        }
        if let Some((kernel, modules)) = &self.multiboot {
            return self.check_multiboot(o, &line, kernel, modules);
        }
        let want: String = self.cmdline.bytes().map(|b| format!("{b:02x}")).collect();
        // Without -append QEMU still passes an empty string, so the line is empty, not "none".
        expect("command line", line("cmdline"), want)?;
        let want_initrd = match &self.initrd {
            None => "none".to_string(),
            Some(p) => {
                let data = std::fs::read(p).map_err(|e| e.to_string())?;
                format!("{} {:#x}", data.len(), fnv1a(&data))
            }
        };
        expect("initrd", line("initrd"), want_initrd)?;
        // pvhtest checks the stack pointer itself; the line shows it did.
        line("stack").ok_or("no stack line from pvhtest")?;
        self.check_memory(o, &line)?;
        self.check_platform(&line)?;
        self.check_log(o)
    }

    /// A multiboot boot: QEMU's command line (the kernel's path, a space, `-append`), each module
    /// byte for byte with its command line (its path, a space, its arguments), then the memory
    /// and platform checks every boot gets.
    fn check_multiboot(
        &self,
        o: &Outcome,
        line: &dyn Fn(&str) -> Option<String>,
        kernel: &str,
        modules: &[(PathBuf, &str)],
    ) -> Verdict {
        let hex = |s: &str| s.bytes().map(|b| format!("{b:02x}")).collect::<String>();
        expect("command line", line("cmdline"), hex(&format!("{kernel} {}", self.cmdline)))?;
        expect("modules", line("modules"), modules.len().to_string())?;
        let got: Vec<&str> = o.serial.lines().filter_map(|l| l.strip_prefix("pvhtest: module ")).collect();
        for (i, (file, args)) in modules.iter().enumerate() {
            let data = std::fs::read(file).map_err(|e| e.to_string())?;
            let want = format!("{i} {} {:#x} {}", data.len(), fnv1a(&data), hex(&format!("{} {args}", file.display())));
            expect(&format!("module {i}"), got.get(i).map(|s| s.to_string()), want)?;
        }
        line("multiboot").ok_or("no mem_lower/mem_upper line from pvhtest")?;
        line("stack").ok_or("no stack line from pvhtest")?;
        self.check_memory(o, line)?;
        self.check_platform(line)?;
        self.check_log(o)
    }

    fn check_memory(&self, o: &Outcome, line: &dyn Fn(&str) -> Option<String>) -> Verdict {
        let ram: u64 = line("ram").and_then(|r| r.parse().ok()).ok_or("no ram line")?;
        // The legacy hole, firmware RAM and tables (well under 1 MiB together) are not RAM;
        // through pvhfw.elf also its image and SeaBIOS's 128 KiB of tables.
        let slack = if self.chain { 2 * MIB } else { MIB };
        if ram > self.mem || ram < self.mem - slack {
            return Err(format!("memory map has {ram} bytes of RAM for -m {}M", self.mem / MIB));
        }
        let high_ram = o.serial.lines().filter_map(|l| l.strip_prefix("pvhtest: e820 ")).any(|l| {
            let f: Vec<_> = l.split(' ').collect();
            f.len() == 3
                && f[2] == "1"
                && u64::from_str_radix(f[0].trim_start_matches("0x"), 16).is_ok_and(|a| a >= 1 << 32)
        });
        if high_ram != (self.mem > self.low_ram_limit()) {
            return Err(format!("RAM above 4 GiB: {high_ram}, with -m {}M", self.mem / MIB));
        }
        Ok(())
    }

    /// ACPI, SMBIOS, MP table and vmgenid as QEMU describes each machine (7.2 and 10.0 alike:
    /// the same tables, a 2.1 SMBIOS entry point unless asked for 3.0).
    fn check_platform(&self, line: &dyn Fn(&str) -> Option<String>) -> Verdict {
        let acpi_off = self.machine.contains("acpi=off");
        let mut acpi: Vec<&str> = match self.base() {
            _ if acpi_off => vec![],
            "pc" => vec!["RSDT", "FACP", "DSDT", "FACS", "APIC", "HPET", "WAET"],
            "q35" => vec!["RSDT", "FACP", "DSDT", "FACS", "APIC", "HPET", "MCFG", "WAET"],
            _ => vec!["XSDT", "FACP", "DSDT", "APIC"],
        };
        if self.vmgenid {
            acpi.push("SSDT");
        }
        // Tables given with -acpitable sig=XXXX,...
        acpi.extend(self.extra.iter().filter_map(|a| a.strip_prefix("sig=")?.get(..4)));
        let mut got: Vec<String> = line("acpi").unwrap_or_default().split(' ').map(str::to_string).collect();
        got.sort();
        acpi.sort();
        if acpi.is_empty() {
            expect("acpi", line("acpi"), "none".into())
        } else {
            expect("acpi", Some(got.join(" ")), acpi.join(" "))
        }?;
        let smbios = match self.base() {
            // Through pvhfw.elf, SeaBIOS's SMBIOS, passed through.
            "pc" | "q35" if self.chain => "2.1 QEMU",
            "pc" | "q35" if self.machine.contains("smbios-entry-point-type=64") => "3.0 QEMU",
            "pc" | "q35" => "2.1 QEMU",
            _ => "none",
        };
        expect("smbios", line("smbios"), smbios.into())?;
        // pc and q35: ISA IRQs 10 and 11 carry PCI's, whose every slot and pin is listed.
        let irqs = if self.base() == "microvm" { "15 pci 0" } else { "13 pci 128" };
        let mp = format!("cpus {} ioapics 1 irqs {irqs}", self.smp.1);
        expect("mp", line("mp"), mp)?;
        let vmgenid = line("vmgenid").unwrap_or_default();
        let want = if self.vmgenid { guid_bytes(VMGENID_GUID) } else { "none".into() };
        match self.vmgenid {
            true if vmgenid.starts_with("0x") && vmgenid.ends_with(&format!(" {want}")) => Ok(()),
            false if vmgenid == want => Ok(()),
            _ => Err(format!("vmgenid: got {vmgenid:?}, want {want}")),
        }
    }

    /// Quiet without a log option, but for the one warning a PVH kernel gets for a command line
    /// longer than Linux takes; with `timeline`, a TSC line per phase, in order.
    fn check_log(&self, o: &Outcome) -> Verdict {
        let warning = "pvhfw: warning: command line of";
        let warned = o.serial.lines().filter(|l| l.starts_with(warning)).count();
        let want_warning = !self.bzimage && self.cmdline.len() > 2047;
        if warned != usize::from(want_warning) {
            return Err(format!("{warned} command-line warnings for {} bytes", self.cmdline.len()));
        }
        let firmware: Vec<&str> =
            o.serial.lines().filter(|l| l.starts_with("pvhfw:") && !l.starts_with(warning)).collect();
        if firmware.is_empty() != self.log.is_none() {
            return Err(format!("firmware output {firmware:?} with log option {:?}", self.log));
        }
        if self.log == Some("timeline") {
            let stamps: Vec<u64> = firmware
                .iter()
                .filter_map(|l| l.strip_prefix("pvhfw: tsc ")?.split(' ').next()?.parse().ok())
                .collect();
            if stamps.len() != firmware.len() || stamps.len() < 5 || !stamps.is_sorted() {
                return Err(format!("timeline is not one rising TSC line per phase: {firmware:?}"));
            }
        }
        Ok(())
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

/// QEMU arguments for a fw_cfg directory of over 600 files, with users' files sorted before
/// QEMU's (`a/`) and after them (`opt/`).
fn crowded_fw_cfg() -> Vec<String> {
    let mut args = strings(&["-global", "fw_cfg_io.x-file-slots=1024"]);
    for prefix in ["a", "opt/com.example"] {
        for i in 0..300 {
            args.extend(["-fw_cfg".to_string(), format!("name={prefix}/{i:03},string={i}")]);
        }
    }
    args
}

fn expect(what: &str, got: Option<String>, want: String) -> Verdict {
    match got {
        Some(g) if g == want => Ok(()),
        got => Err(format!("{what}: got {got:?}, want {want:?}")),
    }
}

fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// The size of each of the two `-acpitable` files that make QEMU `v`'s `etc/acpi/tables` grow
/// past its 128 KiB padding in the rebuild on the first read, per machine. Measured over qtest
/// with the chipset programmed as pvhfw does it: a file size gives a stale directory entry
/// (131072 before the rebuild, 262144 after) on 7.2 for pc from 62150 to 62950 bytes and for
/// q35 from 61090 to 61170; on 10.0, whose DSDTs are larger, for pc from 61050 to 62650 and
/// for q35 from 61040 to 61110.
fn acpi_rebuild_grows_sizes(v: Version) -> [(&'static str, usize); 2] {
    match v {
        Version::V7_2 => [("pc", 62_500), ("q35", 61_130)],
        Version::V10_0 => [("pc", 61_850), ("q35", 61_075)],
    }
}

/// One pvhtest boot on `machine` with the usual checks, for `cargo xtask stress` and the
/// installed firmware's tests: the run and its verdict.
pub(crate) fn checked_boot(
    v: Version,
    name: &str,
    machine: &'static str,
    accel: &'static str,
    bzimage: bool,
    a: &Artifacts,
) -> (Qemu, super::Check) {
    let boot = Boot { accel, bzimage, ..Boot::on(v, machine) };
    (boot.qemu(name, a), Box::new(move |o| boot.check(o)))
}

/// How a boot from a disk ([`disk_case`]) differs from a plain one.
pub(super) struct FromDisk {
    pub accel: &'static str,
    /// Through `pvhfw.elf`, started by QEMU's own firmware.
    pub chain: bool,
    /// The entry boots `pvhtest.bzImage`.
    pub bzimage: bool,
    /// The command line and initrd (the initrds' concatenation) the entry gives.
    pub cmdline: String,
    pub initrd: Option<PathBuf>,
    /// The disks and fw_cfg files.
    pub extra: Vec<String>,
}

/// A pvhtest boot on QEMU `v` and `machine` whose kernel pvhfw loads from a disk, with the
/// usual checks of what it handed over.
pub(super) fn disk_case(v: Version, name: &str, machine: &'static str, d: FromDisk, a: &Artifacts) -> Case {
    let FromDisk { accel, chain, bzimage, cmdline, initrd, extra } = d;
    let boot =
        Boot { accel, chain, bzimage, cmdline, initrd, extra, from_disk: true, mem: 256 * MIB, ..Boot::on(v, machine) };
    boot.case(name, a)
}

/// Every pvhtest boot on QEMU `v`.
pub(super) fn cases(v: Version, a: &Artifacts) -> Result<Vec<Case>> {
    let on = |machine: &'static str| Boot::on(v, machine);
    let initrd = test_file("initrd-3m.bin", 3 * 1024 * 1024 + 123)?;
    let small = test_file("initrd-64k.bin", 64 * 1024 + 5)?;
    let long_cmdline = format!("console=ttyS0 {}", "x".repeat(3000));
    let quoted = "console=ttyS0 pvhfw.test=\"quoted value\" tab=\tend".to_string();
    let mut cases = Vec::new();
    for m in MACHINES {
        let t = tag(m);
        cases.push(on(m).case(&format!("pvhtest-{t}-128M-bare"), a));
        let mid =
            Boot { mem: 1024 * MIB, smp: ("2", "0,1"), cmdline: quoted.clone(), initrd: Some(initrd.clone()), ..on(m) };
        cases.push(mid.case(&format!("pvhtest-{t}-1G-smp2-initrd-cmdline"), a));
        let big = Boot { mem: 5120 * MIB, cmdline: long_cmdline.clone(), initrd: Some(initrd.clone()), ..on(m) };
        cases.push(big.case(&format!("pvhtest-{t}-5G-initrd-longcmdline"), a));
        let kvm = Boot { accel: "kvm", mem: 512 * MIB, cmdline: quoted.clone(), initrd: Some(small.clone()), ..on(m) };
        cases.push(kvm.case(&format!("pvhtest-{t}-kvm"), a));
    }
    for m in MACHINES {
        let t = tag(m);
        let bz = Boot { bzimage: true, ..on(m) };
        cases.push(bz.clone().case(&format!("pvhtest-bz-{t}-128M-bare"), a));
        let mid = Boot {
            mem: 1024 * MIB,
            smp: ("2", "0,1"),
            cmdline: quoted.clone(),
            initrd: Some(initrd.clone()),
            ..bz.clone()
        };
        cases.push(mid.case(&format!("pvhtest-bz-{t}-1G-smp2-initrd-cmdline"), a));
        let big = Boot { mem: 5120 * MIB, cmdline: long_cmdline.clone(), initrd: Some(initrd.clone()), ..bz.clone() };
        cases.push(big.case(&format!("pvhtest-bz-{t}-5G-initrd-longcmdline"), a));
        let kvm = Boot { accel: "kvm", mem: 512 * MIB, cmdline: quoted.clone(), initrd: Some(small.clone()), ..bz };
        cases.push(kvm.case(&format!("pvhtest-bz-{t}-kvm"), a));
    }
    for m in ["pc", "microvm"] {
        let b = Boot {
            cmdline: quoted.clone(),
            initrd: Some(small.clone()),
            bzimage: true,
            extra: strings(&["-global", "fw_cfg_io.dma_enabled=off"]),
            ..on(m)
        };
        cases.push(b.case(&format!("pvhtest-bz-{m}-port-io"), a));
    }
    let log = Boot { mem: 256 * MIB, cmdline: "x".into(), bzimage: true, log: Some("timeline"), ..on("q35") };
    cases.push(log.case("pvhtest-bz-q35-log-timeline", a));
    let split = Boot { mem: 3072 * MIB, cmdline: "a".into(), initrd: Some(small.clone()), ..on("q35") };
    cases.push(split.case("pvhtest-q35-3G-split", a));
    for (name, log) in [("pvhtest-q35-log-info", "info"), ("pvhtest-pc-log-timeline", "timeline")] {
        let machine = if log == "info" { "q35" } else { "pc" };
        let b =
            Boot { mem: 256 * MIB, cmdline: "x".into(), initrd: Some(small.clone()), log: Some(log), ..on(machine) };
        cases.push(b.case(name, a));
    }
    for m in ["pc", "microvm"] {
        let b = Boot {
            cmdline: quoted.clone(),
            initrd: Some(small.clone()),
            extra: strings(&["-global", "fw_cfg_io.dma_enabled=off"]),
            ..on(m)
        };
        cases.push(b.case(&format!("pvhtest-{m}-port-io"), a));
    }
    cases.push(Boot { vmgenid: true, smp: ("2", "0,1"), ..on("pc") }.case("pvhtest-pc-vmgenid", a));
    // The multiboot form: QEMU's multiboot information, completed by pvhfw, with modules.
    for m in MACHINES {
        let t = tag(m);
        let modules = vec![(small.clone(), "first module"), (initrd.clone(), "")];
        let mb = Boot { mem: 512 * MIB, smp: ("2", "0,1"), cmdline: quoted.clone(), ..on(m) }.multiboot(a, modules);
        cases.push(mb.case(&format!("pvhtest-multiboot-{t}-modules-cmdline"), a));
        cases.push(on(m).multiboot(a, Vec::new()).case(&format!("pvhtest-multiboot-{t}-128M-bare"), a));
    }
    // pvhfw.elf, started by QEMU's firmware for the machine, loading the test kernel from fw_cfg.
    for m in MACHINES {
        let t = tag(m);
        let chain = Boot { chain: true, mem: 512 * MIB, smp: ("2", "0,1"), ..on(m) };
        let full = Boot { cmdline: quoted.clone(), initrd: Some(initrd.clone()), ..chain.clone() };
        cases.push(full.clone().case(&format!("pvhtest-elf-{t}-initrd-cmdline"), a));
        cases.push(Boot { bzimage: true, ..full }.case(&format!("pvhtest-elf-bz-{t}-initrd-cmdline"), a));
        cases.push(Boot { accel: "kvm", ..chain }.case(&format!("pvhtest-elf-{t}-kvm"), a));
    }
    // Two -acpitable files that bring the tables just under the 128 KiB QEMU pads them to,
    // until the rebuild on the first read adds the DSDT's hotplug methods (pc: ~3 KB, q35:
    // 174 bytes) and the size in the directory read before it is stale.
    for (m, size) in acpi_rebuild_grows_sizes(v) {
        let table = test_file(&format!("acpitable-{size}.bin"), size)?.display().to_string();
        let extra = ["OEMX", "OEMY"].iter().flat_map(|sig| ["-acpitable".into(), format!("sig={sig},data={table}")]);
        let b = Boot { extra: extra.collect(), ..on(m) };
        cases.push(b.case(&format!("pvhtest-{m}-acpi-rebuild-grows"), a));
    }
    for m in ["pc", "microvm"] {
        let b = Boot { log: Some("info"), vmgenid: m == "pc", extra: crowded_fw_cfg(), ..on(m) };
        cases.push(b.case(&format!("pvhtest-{m}-600-fw_cfg-files"), a));
    }
    let q35_v = Boot { vmgenid: true, smp: ("3", "0,1,2"), ..on("q35,smbios-entry-point-type=64") };
    cases.push(q35_v.case("pvhtest-q35-smbios3-vmgenid", a));
    let q35_kvm = Boot { vmgenid: true, accel: "kvm", ..on("q35") };
    cases.push(q35_kvm.case("pvhtest-q35-vmgenid-kvm", a));
    cases.push(on("pc,smbios-entry-point-type=64").case("pvhtest-pc-smbios3", a));
    // Three cores per socket leave a gap in the APIC IDs; two threads per core, another.
    let gap = Boot { smp: ("4,maxcpus=6,sockets=2,cores=3", "0,1,2,4"), ..on("microvm,acpi=off") };
    cases.push(gap.case("pvhtest-microvm-noacpi-apic-id-gap", a));
    let threads = Boot { smp: ("6,sockets=1,cores=3,threads=2", "0,1,2,3,4,5"), ..on("microvm,acpi=off") };
    cases.push(threads.case("pvhtest-microvm-noacpi-threads", a));
    let odd = Boot { smp: ("6,sockets=2,cores=1,threads=3", "0,1,2,4,5,6"), ..on("microvm,acpi=off") };
    cases.push(odd.case("pvhtest-microvm-noacpi-odd-threads", a));
    Ok(cases)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_bytes_as_qemu_stores_them() {
        assert_eq!(guid_bytes("00112233-4455-6677-8899-aabbccddeeff"), "33221100554477668899aabbccddeeff");
    }

    /// The library's vmgenid fixtures were captured with the tests' GUID: QEMU's bytes at
    /// offset 40 of `etc/vmgenid_guid`.
    #[test]
    fn fixtures_hold_the_tests_guid() {
        for v in Version::ALL {
            let file = crate::root().join("pvhfw/testdata").join(v.tag()).join("pc-vmgenid-smp4/etc_vmgenid_guid");
            let data = std::fs::read(file).unwrap();
            let stored: String = data[40..56].iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(stored, guid_bytes(VMGENID_GUID), "{}", v.tag());
        }
    }
}
