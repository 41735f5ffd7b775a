//! The PVH boot path: from fw_cfg items to a filled-in `hvm_start_info`.
//!
//! QEMU has already loaded the PVH kernel's segments; what remains is to learn where, program
//! the chipset, build the memory map, fetch the initrd, lay out ACPI and SMBIOS (or an MP table
//! without ACPI), fetch the command line and describe it all to the kernel.

use crate::chipset::Chipset;
use crate::console::{Console, Line, Log};
use crate::e820::{self, Region, Regions};
use crate::fw_cfg::{self, key, Directory, FwCfgIo};
use crate::kernel::{self, Format};
use crate::layout::{FIRMWARE_RAM, F_SEGMENT_WINDOW};
use crate::mptable::{self, Topology};
use crate::platform::Platform;
use crate::smbios::{self, Smbios};
use crate::start_info::{
    HandoffAddrs, HandoffArea, MemmapEntry, ModlistEntry, StartInfo, CMDLINE_MAX, MAGIC, MAX_MEMMAP,
};
use crate::table_loader::{self, Areas, Needs};
use crate::table_memory::{self, Area};
use crate::{Error, Range};
use zerocopy::{FromBytes, KnownLayout};

/// fw_cfg file holding the user's logging choice (`-fw_cfg name=opt/org.pvhfw/log,string=info`).
pub const LOG_FILE: &str = "opt/org.pvhfw/log";
/// fw_cfg file with `-boot reboot-timeout=` (LE32 milliseconds, -1 = wait forever).
pub const BOOT_FAIL_WAIT_FILE: &str = "etc/boot-fail-wait";
/// fw_cfg key: the timer's ISA IRQ 0 is wired to IOAPIC pin 2.
const IRQ0_OVERRIDE: u16 = 0x8002;
const PAGE: u64 = 4096;

/// Where to jump: the kernel's 32-bit PVH entry, with `EBX` = the start info.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PvhEntry {
    pub entry: u32,
    pub start_info: u32,
}

/// The boot's context: fw_cfg, the console, the rest of the hardware and the user's log choice.
pub struct Boot<'a> {
    pub io: &'a mut dyn FwCfgIo,
    pub con: &'a mut dyn Console,
    pub platform: &'a mut dyn Platform,
    pub log: Log,
}

/// Firmware RAM for reading and resolving fw_cfg data. Any contents are valid, so the firmware
/// hands over uninitialised RAM: clearing it would cost more instructions than the rest of the
/// boot.
#[repr(C)]
#[derive(FromBytes, KnownLayout)]
pub struct Scratch {
    pub dir: [u8; fw_cfg::DIR_BYTES],
    pub e820: [u8; e820::MAX_INPUT * e820::RAW_ENTRY],
    pub regions: Regions,
    pub loader: [u8; table_loader::MAX_SCRIPT],
}

/// The kernel as QEMU describes it.
struct Kernel {
    entry: u32,
    range: Range,
}

/// Memory the firmware itself owns below 1 MiB; no kernel may be loaded there.
const FIRMWARE_OWNED: [Range; 3] = [FIRMWARE_RAM, mptable::AREA, F_SEGMENT_WINDOW];

impl<'a> Boot<'a> {
    pub fn new(io: &'a mut dyn FwCfgIo, con: &'a mut dyn Console, platform: &'a mut dyn Platform) -> Self {
        Boot { io, con, platform, log: Log::default() }
    }

    fn info(&mut self) -> Option<Line<'_>> {
        self.log.info.then(|| Line::new(self.con))
    }

    /// With `timeline` logging, prints the TSC (guest instructions under `-icount shift=0`)
    /// at the end of each phase.
    fn phase(&mut self, name: &str) {
        if self.log.timeline {
            let tsc = self.platform.tsc();
            Line::new(self.con).str("tsc ").dec(tsc).str(" ").str(name).end();
        }
    }

    /// Prepares a PVH boot in `area`, which the firmware placed at physical `area_paddr`.
    pub fn prepare_pvh(
        &mut self,
        area: &mut HandoffArea,
        area_paddr: u32,
        scratch: &mut Scratch,
    ) -> Result<PvhEntry, Error> {
        let Scratch { dir, e820: raw_e820, regions, loader } = scratch;
        let dir = fw_cfg::read_directory(self.io, dir)?;
        self.log = self.read_log(&dir)?;
        self.phase("fw_cfg");
        let kernel = self.read_kernel()?;
        if FIRMWARE_OWNED.iter().any(|r| r.overlaps(&kernel.range)) {
            return Err(Error::KernelOverlapsFirmware { start: kernel.range.start, end: kernel.range.end });
        }
        // QEMU builds its ACPI tables from the chipset state when the loader script is read.
        let chipset = Chipset::detect(self.platform);
        chipset.setup(self.platform);
        self.phase("chipset");
        let script = self.read_loader_script(&dir, loader)?;
        let with_mptable = script.is_none();
        let mut map_len = self.memory_map(&dir, raw_e820, regions, chipset, with_mptable, &mut area.memmap)?;
        self.phase("memory map");
        let initrd = self.initrd(&area.memmap[..map_len], &kernel.range)?;
        self.phase("initrd");
        let avoid =
            [kernel.range, initrd.map_or(Range::default(), |m| Range { start: m.paddr, end: m.paddr + m.size })];
        let rsdp = self.tables(&dir, script, chipset, &avoid, &mut area.memmap, &mut map_len)?;
        if with_mptable {
            self.mptable()?;
        }
        let addrs = HandoffAddrs::at(area_paddr.into());
        let cmdline_paddr = self.command_line(&mut area.cmdline, addrs.cmdline)?;
        area.modlist[0] = initrd.unwrap_or_default();
        area.start_info = StartInfo {
            magic: MAGIC,
            version: 1,
            flags: 0,
            nr_modules: initrd.is_some().into(),
            modlist_paddr: if initrd.is_some() { addrs.modlist } else { 0 },
            cmdline_paddr,
            rsdp_paddr: rsdp.unwrap_or(0),
            memmap_paddr: addrs.memmap,
            memmap_entries: map_len as u32,
            reserved: 0,
        };
        let start_info = area_paddr; // the start info is the area's first field
        if let Some(l) = self.info() {
            l.str("entering PVH kernel at ")
                .hex(kernel.entry.into())
                .str(", start info at ")
                .hex(start_info.into())
                .end();
        }
        self.phase("jump");
        Ok(PvhEntry { entry: kernel.entry, start_info })
    }

    fn read_log(&mut self, dir: &Directory) -> Result<Log, Error> {
        let Some(file) = dir.find(LOG_FILE) else { return Ok(Log::default()) };
        let mut value = [0u8; 32];
        self.io.read(file.select, &mut value)?;
        let len = (file.size as usize).min(value.len());
        Ok(Log::parse(&value[..len]))
    }

    fn read_kernel(&mut self) -> Result<Kernel, Error> {
        let mut head = [0u8; kernel::HEAD_BYTES];
        self.io.read(key::SETUP_DATA, &mut head)?;
        let entry = fw_cfg::read_u32(self.io, key::KERNEL_ENTRY)?;
        let addr = fw_cfg::read_u32(self.io, key::KERNEL_ADDR)?;
        let size = fw_cfg::read_u32(self.io, key::KERNEL_SIZE)?;
        match kernel::detect(&head, entry) {
            Format::Pvh => {}
            Format::BzImage => return Err(Error::BzImageUnsupported),
            Format::Unknown if size == 0 && head.iter().all(|&b| b == 0) => return Err(Error::NoKernel),
            Format::Unknown => return Err(Error::UnknownKernelFormat),
        }
        let range = Range { start: addr.into(), end: u64::from(addr) + u64::from(size) };
        if let Some(l) = self.info() {
            l.str("PVH kernel loaded at ")
                .hex(range.start)
                .str("-")
                .hex(range.end)
                .str(", entry ")
                .hex(entry.into())
                .end();
        }
        Ok(Kernel { entry, range })
    }

    /// Reads `etc/table-loader`, if QEMU has ACPI tables for this machine.
    fn read_loader_script<'s>(
        &mut self,
        dir: &Directory,
        buf: &'s mut [u8; table_loader::MAX_SCRIPT],
    ) -> Result<Option<&'s [u8]>, Error> {
        let Some(file) = dir.find(table_loader::LOADER_FILE) else { return Ok(None) };
        let script = buf.get_mut(..file.size as usize).ok_or(Error::TooLarge {
            what: table_loader::LOADER_FILE,
            size: file.size.into(),
            max: table_loader::MAX_SCRIPT as u64,
        })?;
        self.io.read(file.select, script)?;
        Ok(Some(script))
    }

    fn memory_map(
        &mut self,
        dir: &Directory,
        raw: &mut [u8; e820::MAX_INPUT * e820::RAW_ENTRY],
        regions: &mut Regions,
        chipset: Chipset,
        with_mptable: bool,
        out: &mut [MemmapEntry; MAX_MEMMAP],
    ) -> Result<usize, Error> {
        let file = dir.find("etc/e820").ok_or(Error::MissingFile { name: "etc/e820" })?;
        let size = file.size as usize;
        let max = raw.len() as u64;
        let raw = raw.get_mut(..size).ok_or(Error::TooLarge { what: "etc/e820", size: size as u64, max })?;
        self.io.read(file.select, raw)?;
        regions.from_e820(raw)?;
        regions.push(Region::new(e820::LEGACY_HOLE, e820::RESERVED));
        regions.push(Region::new(FIRMWARE_RAM, e820::RESERVED));
        if let Some(window) = chipset.reserved() {
            regions.push(Region::new(window, e820::RESERVED));
        }
        if with_mptable {
            regions.push(Region::new(mptable::AREA, e820::RESERVED));
        }
        let n = e820::build(regions, out)?;
        if let Some(l) = self.info() {
            l.str("memory map: ").dec(n as u64).str(" entries").end();
        }
        Ok(n)
    }

    /// Loads the initrd straight to where QEMU proposes, once that is known to be free RAM.
    fn initrd(&mut self, memmap: &[MemmapEntry], kernel: &Range) -> Result<Option<ModlistEntry>, Error> {
        let size = fw_cfg::read_u32(self.io, key::INITRD_SIZE)?;
        if size == 0 {
            return Ok(None);
        }
        let addr = fw_cfg::read_u32(self.io, key::INITRD_ADDR)?;
        let range = Range { start: addr.into(), end: u64::from(addr) + u64::from(size) };
        let fits = range.end <= 1 << 32 && e820::is_ram(memmap, range) && !range.overlaps(kernel);
        if !fits {
            return Err(Error::InitrdDoesNotFit { addr: addr.into(), size: size.into() });
        }
        self.io.read_to_phys(key::INITRD_DATA, addr.into(), size)?;
        if let Some(l) = self.info() {
            l.str("initrd: ").dec(size.into()).str(" bytes at ").hex(addr.into()).end();
        }
        Ok(Some(ModlistEntry { paddr: addr.into(), size: size.into(), cmdline_paddr: 0, reserved: 0 }))
    }

    /// ACPI (through the table loader) and SMBIOS: one block of high memory for both, carved
    /// out of the memory map, and the F segment for the RSDP and the SMBIOS entry point.
    /// Returns the RSDP's address.
    fn tables(
        &mut self,
        dir: &Directory,
        script: Option<&[u8]>,
        chipset: Chipset,
        avoid: &[Range],
        memmap: &mut [MemmapEntry; MAX_MEMMAP],
        map_len: &mut usize,
    ) -> Result<Option<u64>, Error> {
        let smbios = Smbios::find(dir);
        let needs = script.map_or(Ok(Needs::default()), |s| table_loader::needs(s, dir))?;
        if script.is_none() && smbios.is_none() {
            return Ok(None);
        }
        let smbios_bytes =
            smbios.as_ref().map_or(0, |s| table_memory::worst_case(s.tables_size(), smbios::TABLES_ALIGN));
        let size = needs.high.saturating_add(smbios_bytes).saturating_add(PAGE - 1) & !(PAGE - 1);
        let block = table_memory::find_high(&memmap[..*map_len], size, needs.high_align.max(PAGE), avoid)?;
        if needs.f_segment > 0 || smbios.is_some() {
            chipset.enable_f_segment_ram(self.platform);
        }
        let (mut high, mut f_segment) = (Area::new(block), Area::new(F_SEGMENT_WINDOW));
        let rsdp = match script {
            Some(s) => {
                let areas = Areas { high: &mut high, f_segment: &mut f_segment };
                table_loader::run(s, dir, self.io, self.platform, areas)?.rsdp()
            }
            None => None,
        };
        self.phase("ACPI");
        if let Some(s) = &smbios {
            let anchor = s.install(self.io, self.platform, &mut high, &mut f_segment)?;
            if let Some(l) = self.info() {
                l.str("SMBIOS entry point at ").hex(anchor).end();
            }
        }
        self.phase("SMBIOS");
        let used = high.used();
        let reserved = Range { start: used.start, end: (used.end + PAGE - 1) & !(PAGE - 1) };
        *map_len = e820::carve(memmap, *map_len, reserved, e820::RESERVED)?;
        if let Some(l) = self.info() {
            l.str("tables at ")
                .hex(reserved.start)
                .str("-")
                .hex(reserved.end)
                .str(", RSDP at ")
                .hex(rsdp.unwrap_or(0))
                .end();
        }
        Ok(rsdp)
    }

    /// Without ACPI: an MP table naming every boot CPU, the IOAPIC and the ISA interrupts.
    fn mptable(&mut self) -> Result<(), Error> {
        let mut cpus = [0u8; 2];
        self.io.read(key::NB_CPUS, &mut cpus)?;
        let cpus = u16::from_le_bytes(cpus).max(1).into();
        let irq0_to_pin2 = fw_cfg::read_u32(self.io, IRQ0_OVERRIDE)? != 0;
        let topology = Topology::from_cpuid(self.platform);
        let [signature, _, _, features] = self.platform.cpuid(1, 0);
        let machine = mptable::Machine { cpus, topology, signature, features, irq0_to_pin2 };
        let named = mptable::build(self.platform.phys(mptable::AREA), &machine);
        if named < cpus {
            Line::new(self.con)
                .str("warning: MP table names ")
                .dec(named.into())
                .str(" of ")
                .dec(cpus.into())
                .str(" CPUs")
                .end();
        }
        self.phase("MP table");
        Ok(())
    }

    /// Copies the command line byte for byte; returns its physical address (0 if none).
    fn command_line(&mut self, buf: &mut [u8; CMDLINE_MAX], paddr: u64) -> Result<u64, Error> {
        let size = fw_cfg::read_u32(self.io, key::CMDLINE_SIZE)? as usize;
        if size == 0 {
            return Ok(0);
        }
        // QEMU counts the terminating NUL; keep room for one of our own in case it is missing.
        if size >= CMDLINE_MAX {
            return Err(Error::TooLarge { what: "command line", size: size as u64, max: CMDLINE_MAX as u64 - 1 });
        }
        self.io.read(key::CMDLINE_DATA, &mut buf[..size])?;
        buf[size] = 0;
        Ok(paddr)
    }
}

/// `etc/boot-fail-wait` in milliseconds, or `None` to halt for good (absent, or -1).
pub fn boot_fail_wait(io: &mut dyn FwCfgIo, scratch: &mut Scratch) -> Option<u32> {
    let dir = fw_cfg::read_directory(io, &mut scratch.dir).ok()?;
    let file = dir.find(BOOT_FAIL_WAIT_FILE)?;
    let mut v = [0u8; 4];
    io.read(file.select, &mut v).ok()?;
    let ms = i32::from_le_bytes(v);
    u32::try_from(ms).ok()
}

#[cfg(test)]
mod tests;
