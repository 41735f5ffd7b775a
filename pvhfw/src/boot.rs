//! The PVH boot path: from fw_cfg items to a filled-in `hvm_start_info`.
//!
//! QEMU has already loaded the PVH kernel's segments; what remains is to learn where, build
//! the memory map, fetch the command line and the initrd, and describe it all to the kernel.

use crate::console::{Console, Line, LogLevel};
use crate::e820::{self, Region, Regions};
use crate::fw_cfg::{self, key, Directory, FwCfgIo};
use crate::kernel::{self, Format};
use crate::layout::FIRMWARE_RAM;
use crate::start_info::{
    HandoffAddrs, HandoffArea, MemmapEntry, ModlistEntry, StartInfo, CMDLINE_MAX, MAGIC, MAX_MEMMAP,
};
use crate::{Error, Range};
use zerocopy::{FromBytes, KnownLayout};

/// fw_cfg file holding the user's logging choice (`-fw_cfg name=opt/org.pvhfw/log,string=info`).
pub const LOG_FILE: &str = "opt/org.pvhfw/log";
/// fw_cfg file with `-boot reboot-timeout=` (LE32 milliseconds, -1 = wait forever).
pub const BOOT_FAIL_WAIT_FILE: &str = "etc/boot-fail-wait";

/// Where to jump: the kernel's 32-bit PVH entry, with `EBX` = the start info.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PvhEntry {
    pub entry: u32,
    pub start_info: u32,
}

/// The boot's context: the fw_cfg transport, the console and the user's log level.
pub struct Boot<'a> {
    pub io: &'a mut dyn FwCfgIo,
    pub con: &'a mut dyn Console,
    pub log: LogLevel,
}

/// Firmware RAM for reading and resolving fw_cfg data. Any contents are valid, so the firmware
/// hands over uninitialised RAM: clearing 12 KiB would cost more instructions than the rest of
/// the boot.
#[repr(C)]
#[derive(FromBytes, KnownLayout)]
pub struct Scratch {
    pub dir: [u8; fw_cfg::DIR_BYTES],
    pub e820: [u8; e820::MAX_INPUT * e820::RAW_ENTRY],
    pub regions: Regions,
}

/// The kernel as QEMU describes it.
struct Kernel {
    entry: u32,
    range: Range,
}

impl<'a> Boot<'a> {
    pub fn new(io: &'a mut dyn FwCfgIo, con: &'a mut dyn Console) -> Self {
        Boot { io, con, log: LogLevel::Quiet }
    }

    fn info(&mut self) -> Option<Line<'_>> {
        (self.log >= LogLevel::Info).then(|| Line::new(self.con))
    }

    /// Prepares a PVH boot in `area`, which the firmware placed at physical `area_paddr`.
    pub fn prepare_pvh(
        &mut self,
        area: &mut HandoffArea,
        area_paddr: u32,
        scratch: &mut Scratch,
    ) -> Result<PvhEntry, Error> {
        let Scratch { dir, e820: e820_buf, regions } = scratch;
        let dir = fw_cfg::read_directory(self.io, dir)?;
        self.log = self.read_log_level(&dir)?;
        let kernel = self.read_kernel()?;
        if kernel.range.overlaps(&FIRMWARE_RAM) {
            return Err(Error::KernelOverlapsFirmware { start: kernel.range.start, end: kernel.range.end });
        }
        let addrs = HandoffAddrs::at(area_paddr.into());
        let memmap_entries = self.memory_map(&dir, e820_buf, regions, &mut area.memmap)?;
        let memmap = &area.memmap[..memmap_entries];
        let cmdline_paddr = self.command_line(&mut area.cmdline, addrs.cmdline)?;
        let initrd = self.initrd(memmap, &kernel.range)?;
        area.modlist[0] = initrd.unwrap_or_default();
        area.start_info = StartInfo {
            magic: MAGIC,
            version: 1,
            flags: 0,
            nr_modules: initrd.is_some().into(),
            modlist_paddr: if initrd.is_some() { addrs.modlist } else { 0 },
            cmdline_paddr,
            rsdp_paddr: 0,
            memmap_paddr: addrs.memmap,
            memmap_entries: memmap_entries as u32,
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
        Ok(PvhEntry { entry: kernel.entry, start_info })
    }

    fn read_log_level(&mut self, dir: &Directory) -> Result<LogLevel, Error> {
        let Some(file) = dir.find(LOG_FILE) else { return Ok(LogLevel::Quiet) };
        let mut value = [0u8; 16];
        self.io.read(file.select, &mut value)?;
        let len = (file.size as usize).min(value.len());
        Ok(LogLevel::parse(&value[..len]))
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

    fn memory_map(
        &mut self,
        dir: &Directory,
        raw: &mut [u8; e820::MAX_INPUT * e820::RAW_ENTRY],
        regions: &mut Regions,
        out: &mut [MemmapEntry; MAX_MEMMAP],
    ) -> Result<usize, Error> {
        let file = dir.find("etc/e820").ok_or(Error::MissingFile { name: "etc/e820" })?;
        let size = file.size as usize;
        if size > raw.len() {
            return Err(Error::TooLarge { what: "etc/e820", size: size as u64, max: raw.len() as u64 });
        }
        self.io.read(file.select, &mut raw[..size])?;
        regions.from_e820(&raw[..size])?;
        regions.push(Region::new(e820::LEGACY_HOLE, e820::RESERVED));
        regions.push(Region::new(FIRMWARE_RAM, e820::RESERVED));
        let n = e820::build(regions, out)?;
        if let Some(l) = self.info() {
            l.str("memory map: ").dec(n as u64).str(" entries").end();
        }
        Ok(n)
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
