//! The memory map and the initrd: QEMU's `etc/e820` (or the incoming map) with the firmware's
//! reservations resolved into the map the kernel gets, and the initrd loaded into free RAM.

use super::kernel::{Kernel, Protocol};
use super::tables::{PlacedTables, Tables};
use super::Boot;
use crate::e820::{self, Region, Regions};
use crate::fw_cfg::{self, key, File, FwCfgIo};
use crate::layout::{DISK_BOOT_RAM, FIRMWARE_RAM, LEGACY_HOLE, MP_TABLE};
use crate::platform::Platform;
use crate::start_info::{MemmapEntry, ModlistEntry, MAX_MEMMAP};
use crate::table_memory;
use crate::{Error, Range};

pub(super) const E820_FILE: &str = "etc/e820";
pub(super) const PAGE: u64 = 4096;

/// `x` rounded up to a whole page (saturating at the top of the address space).
pub(super) fn page_up(x: u64) -> u64 {
    x.saturating_add(PAGE - 1) & !(PAGE - 1)
}

/// Where the initrd comes from, and where it goes.
#[derive(Clone, Copy)]
pub(super) enum Initrd {
    None,
    /// QEMU's `-initrd`, to the place QEMU proposes (nothing is loaded yet).
    Qemu(Range),
    /// A fw_cfg file, to a place pvhfw chooses once the memory map is known.
    File(File),
    /// Already in memory, where the previous stage put it (`pvhfw.elf`).
    InPlace(Range),
    /// Files on the boot disk (kept with it), `size` bytes concatenated (each from a 4-byte
    /// boundary, as GRUB does) at a place pvhfw chooses once the memory map is known.
    Disk {
        size: u64,
    },
}

impl Initrd {
    /// The memory it takes, if that is known before the memory map is.
    pub(super) fn known_range(self) -> Option<Range> {
        match self {
            Initrd::Qemu(r) | Initrd::InPlace(r) => Some(r),
            Initrd::None | Initrd::File(_) | Initrd::Disk { .. } => None,
        }
    }
}

impl<F: FwCfgIo + ?Sized, P: Platform + ?Sized> Boot<'_, F, P> {
    /// Reads QEMU's `etc/e820` into `regions`.
    pub(super) fn read_e820(
        &mut self,
        file: Option<File>,
        raw: &mut [u8; e820::MAX_INPUT * e820::RAW_ENTRY],
        regions: &mut Regions,
    ) -> Result<(), Error> {
        let file = file.ok_or(Error::MissingFile { name: E820_FILE })?;
        let size = file.size as usize;
        let max = raw.len() as u64;
        let raw = raw.get_mut(..size).ok_or(Error::TooLarge { what: E820_FILE, size: size as u64, max })?;
        self.io.read(file.select, raw)?;
        regions.from_e820(raw)
    }

    /// The memory map: QEMU's entries with the legacy hole, the firmware's own memory, what the
    /// chipset now decodes, the MP table and the tables placed below 640 KiB reserved.
    pub(super) fn memory_map(
        &mut self,
        regions: &mut Regions,
        tables: &Tables,
        low: Option<PlacedTables>,
        out: &mut [MemmapEntry; MAX_MEMMAP],
    ) -> Result<usize, Error> {
        // Adjacent reservations go in as one region each: every region costs e820::build a
        // pass over the pieces. Firmware RAM, then the tables right above it; the MP table
        // area, then the legacy hole right above it.
        let firmware_end = low.map_or(FIRMWARE_RAM.end, |placed| placed.reserved.end.max(FIRMWARE_RAM.end));
        regions.push(Region::new(Range { start: FIRMWARE_RAM.start, end: firmware_end }, e820::RESERVED));
        regions.push(Region::new(Range { start: MP_TABLE.start, end: LEGACY_HOLE.end }, e820::RESERVED));
        for &window in tables.chipset.reserved() {
            regions.push(Region::new(window, e820::RESERVED));
        }
        // pvhfw.elf's image (empty for the reset-vector entry).
        regions.push(Region::new(tables.image, e820::RESERVED));
        let n = e820::build(regions, out)?;
        if let Some(l) = self.info() {
            l.str("memory map: ").dec(n as u64).str(" entries").end();
        }
        Ok(n)
    }

    /// Where QEMU wants the initrd (nothing is loaded yet).
    pub(super) fn initrd_range(&mut self) -> Result<Option<Range>, Error> {
        let size = fw_cfg::read_u32(self.io, key::INITRD_SIZE)?;
        if size == 0 {
            return Ok(None);
        }
        let addr = fw_cfg::read_u32(self.io, key::INITRD_ADDR)?;
        Ok(Some(Range { start: addr.into(), end: u64::from(addr) + u64::from(size) }))
    }

    /// Loads the initrd, once the memory map is known: straight to where QEMU proposes, or to
    /// the top of free RAM (for a fw_cfg file), checked to be free RAM clear of the kernel; or
    /// checks one already in memory.
    pub(super) fn load_initrd(
        &mut self,
        kernel: &Kernel,
        memmap: &[MemmapEntry],
    ) -> Result<Option<ModlistEntry>, Error> {
        let (range, source) = match kernel.initrd {
            Initrd::None => return Ok(None),
            Initrd::Qemu(range) => (range, Some(key::INITRD_DATA)),
            Initrd::InPlace(range) => (range, None),
            Initrd::File(file) => (self.initrd_place(file.size.into(), kernel, memmap)?, Some(file.select)),
            Initrd::Disk { size } => (self.initrd_place(size, kernel, memmap)?, None),
        };
        let size = range.end - range.start;
        let fits =
            range.end <= 1 << 32 && e820::is_ram(memmap, range) && !kernel.used_ranges().any(|k| k.overlaps(&range));
        if !fits {
            return Err(Error::InitrdDoesNotFit { addr: range.start, size });
        }
        if let Some(source) = source {
            self.io.read_to_phys(source, range.start, size as u32)?;
        }
        if let Initrd::Disk { .. } = kernel.initrd {
            self.load_disk_initrds(range)?;
        }
        if let Some(l) = self.info() {
            l.str("initrd: ").dec(size).str(" bytes at ").hex(range.start).end();
        }
        Ok(Some(ModlistEntry { paddr: range.start, size, cmdline_paddr: 0, reserved: 0 }))
    }

    /// The top of free RAM below 4 GiB (and below a bzImage's `initrd_addr_max`) clear of the
    /// kernel, for an initrd pvhfw places itself.
    fn initrd_place(&mut self, size: u64, kernel: &Kernel, memmap: &[MemmapEntry]) -> Result<Range, Error> {
        let limit = match &kernel.protocol {
            Protocol::Linux { header, .. } => u64::from(header.initrd_addr_max()) + 1,
            Protocol::Pvh { .. } | Protocol::Multiboot { .. } => 1 << 32,
        };
        // The disk boot's RAM is free RAM in the map, and in use until the jump.
        let (avoid, n) = kernel.ranges_and([Range { start: limit, end: 1 << 32 }, DISK_BOOT_RAM]);
        table_memory::find_high(memmap, page_up(size), PAGE, &avoid[..n])
            .map(|r| Range { start: r.start, end: r.start + size })
            .map_err(|_| Error::NoRoomForInitrd { size, below: limit })
    }
}
