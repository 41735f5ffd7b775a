//! The boot: from what QEMU publishes through fw_cfg to a kernel ready to be entered.
//!
//! [`Boot::prepare`] is the list of steps: discover the fw_cfg files, find the kernel (a PVH ELF
//! QEMU has loaded, or a bzImage still to load), then the steps every format shares
//! ([`Boot::set_up`]): program the chipset (before QEMU builds its ACPI tables), read QEMU's
//! memory map and set the MTRRs, place ACPI and SMBIOS, build the memory map, load the initrd,
//! write the MP table. Last, a handover describes it all to the kernel: `hvm_start_info` for a
//! PVH kernel, `boot_params` for a bzImage after loading it.

use crate::boot_params;
use crate::bzimage::{self, SetupHeader};
use crate::chipset::Chipset;
use crate::console::{Console, Line, Log};
use crate::e820::{self, Region, Regions};
use crate::fw_cfg::{self, key, Directory, File, FileName, FwCfgIo, NameKey};
use crate::handoff::{Handoff, HandoffAddrs, CMDLINE_MAX};
use crate::kernel::{self, Format};
use crate::layout::{ELF_IMAGE, FIRMWARE_RAM, F_SEGMENT_WINDOW, LEGACY_HOLE, LOW_TABLES, MP_TABLE};
use crate::mptable::{self, Topology};
use crate::platform::Platform;
use crate::scratch::Scratch;
use crate::setup_data;
use crate::smbios::{self, Smbios};
use crate::start_info::{Incoming, MemmapEntry, ModlistEntry, StartInfo, MAGIC, MAX_MEMMAP};
use crate::table_loader::{self, Needs, Zones};
use crate::table_memory::{self, Bump};
use crate::{madt, mtrr};
use crate::{Error, Range};

/// fw_cfg file holding the user's logging choice (`-fw_cfg name=opt/org.pvhfw/log,string=info`).
pub const LOG_FILE: &str = "opt/org.pvhfw/log";
/// fw_cfg file with `-boot reboot-timeout=` (LE32 milliseconds, -1 = wait forever).
pub const BOOT_FAIL_WAIT_FILE: &str = "etc/boot-fail-wait";
const E820_FILE: &str = "etc/e820";
const LOG: NameKey = NameKey::new_const(&FileName::new(LOG_FILE));
const BOOT_FAIL_WAIT: NameKey = NameKey::new_const(&FileName::new(BOOT_FAIL_WAIT_FILE));
const E820: NameKey = NameKey::new_const(&FileName::new(E820_FILE));
const PAGE: u64 = 4096;
/// The longest command line Linux keeps on x86 (`COMMAND_LINE_SIZE` 2048, with its NUL).
const LINUX_CMDLINE_MAX: usize = 2047;

/// `x` rounded up to a whole page (saturating at the top of the address space).
fn page_up(x: u64) -> u64 {
    x.saturating_add(PAGE - 1) & !(PAGE - 1)
}

/// Where and how to enter the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelEntry {
    /// The PVH entry, 32-bit flat, paging off, `EBX` = the start info.
    Pvh { entry: u32, start_info: u32 },
    /// Linux's 64-bit entry, long mode with an identity map, `RSI` = boot_params.
    Linux64 { entry: u64, boot_params: u64 },
    /// Linux's 32-bit entry, 32-bit flat, paging off, `ESI` = boot_params.
    Linux32 { entry: u32, boot_params: u32 },
}

/// A bzImage's memory: where its protected-mode part is loaded, and where it runs
/// (`init_size` from its preferred or load address). Both below 4 GiB, which the firmware
/// maps and the 64-bit entry expects mapped.
fn bzimage_ranges(header: &SetupHeader, load: Range) -> Result<[Range; 2], Error> {
    if load.is_empty() {
        return Err(Error::BzImageEmpty);
    }
    let beyond = Error::KernelAbove4G { start: load.start, end: u64::MAX };
    let runtime = header.runtime_range(load.start).ok_or(beyond)?;
    match [load, runtime].into_iter().find(|r| r.end > 1 << 32) {
        Some(r) => Err(Error::KernelAbove4G { start: r.start, end: r.end }),
        None => Ok([load, runtime]),
    }
}

fn linux_entry(entry: bzimage::Entry, load: u64, boot_params: u64) -> KernelEntry {
    match entry {
        bzimage::Entry::Bits64 => KernelEntry::Linux64 { entry: entry.address(load), boot_params },
        // QEMU's KERNEL_ADDR and the handoff are below 4 GiB, so the casts keep every bit.
        bzimage::Entry::Bits32 => {
            KernelEntry::Linux32 { entry: entry.address(load) as u32, boot_params: boot_params as u32 }
        }
    }
}

/// The boot's context: fw_cfg, the console, the rest of the hardware and the user's log choice.
/// Generic over the hardware (not `dyn`): the firmware has one implementation of each, and
/// inlining it into the table loader's inner loops saves a third of the boot's instructions.
pub struct Boot<'a, F: FwCfgIo + ?Sized, P: Platform + ?Sized> {
    pub io: &'a mut F,
    pub con: &'a mut dyn Console,
    pub platform: &'a mut P,
    pub log: Log,
    /// Only with `timeline` logging (so quiet boots do not even clear it).
    timeline: Option<Timeline>,
}

/// The TSC at the end of each phase, kept in memory and printed once before the jump: printing
/// as the boot goes would add the cost of the printing itself (a VM exit per byte, and the
/// instructions) to the phases measured.
#[derive(Default)]
struct Timeline {
    stamps: [(&'static str, u64); 10],
    len: usize,
}

/// The fw_cfg files every boot looks up, found in one pass over the directory.
struct Files {
    loader: Option<File>,
    e820: Option<File>,
    smbios_anchor: Option<File>,
}

/// What decides where the ACPI and SMBIOS tables go.
struct Tables<'d> {
    dir: &'d Directory<'d>,
    script: Option<&'d [u8]>,
    smbios: Option<Smbios>,
    chipset: Chipset,
    /// The kernel's ranges, the initrd and `pvhfw.elf`'s image.
    avoid: [Range; KERNEL_RANGES + 2],
    /// `pvhfw.elf`'s image (empty from the reset vector), reserved in the map.
    image: Range,
}

impl Tables<'_> {
    fn any(&self) -> bool {
        self.script.is_some() || self.smbios.is_some()
    }
}

/// Tables placed: the RSDP's address and the memory to reserve for them.
#[derive(Clone, Copy)]
struct PlacedTables {
    rsdp: Option<u64>,
    reserved: Range,
}

/// The kernel as QEMU (or, for `pvhfw.elf`, its file) describes it.
struct Kernel {
    format: KernelFormat,
    /// All the memory it takes (unused entries empty): the span of the segments of a PVH
    /// kernel QEMU loaded; each loadable segment of one `pvhfw.elf` loads; where a bzImage is
    /// loaded and where it runs (the gap between those, up to 15 MiB, is not the kernel's:
    /// `pvhfw.elf` runs there).
    ranges: [Range; KERNEL_RANGES],
    initrd: Initrd,
    /// `None`: QEMU's `-kernel` (fw_cfg's kernel items; a PVH ELF QEMU has loaded already).
    /// `Some`: the fw_cfg file `pvhfw.elf` loads the kernel from itself.
    file: Option<File>,
}

/// Where the initrd comes from, and where it goes.
#[derive(Clone, Copy)]
enum Initrd {
    None,
    /// QEMU's `-initrd`, to the place QEMU proposes (nothing is loaded yet).
    Qemu(Range),
    /// A fw_cfg file, to a place pvhfw chooses once the memory map is known.
    File(File),
    /// Already in memory, where the previous stage put it (`pvhfw.elf`).
    InPlace(Range),
}

impl Kernel {
    /// Fails if the kernel's memory overlaps any of `owned`.
    fn check_clear_of(&self, owned: &[Range]) -> Result<(), Error> {
        for k in &self.ranges {
            if owned.iter().any(|r| r.overlaps(k)) {
                return Err(Error::KernelOverlapsFirmware { start: k.start, end: k.end });
            }
        }
        Ok(())
    }

    /// The kernel's ranges, then `more`: everything a placement must keep clear of.
    fn ranges_and(&self, more: [Range; 2]) -> [Range; KERNEL_RANGES + 2] {
        let mut all = [Range::default(); KERNEL_RANGES + 2];
        all[..KERNEL_RANGES].copy_from_slice(&self.ranges);
        all[KERNEL_RANGES..].copy_from_slice(&more);
        all
    }
}

impl Initrd {
    /// The memory it takes, if that is known before the memory map is.
    fn known_range(self) -> Option<Range> {
        match self {
            Initrd::Qemu(r) | Initrd::InPlace(r) => Some(r),
            Initrd::None | Initrd::File(_) => None,
        }
    }
}

enum KernelFormat {
    Pvh {
        entry: u32,
    },
    /// `load`: where its protected-mode part goes (QEMU's `KERNEL_ADDR` and `KERNEL_SIZE`).
    BzImage {
        header: SetupHeader,
        load: Range,
    },
}

/// What the shared steps leave for the handover to describe.
struct SetUp {
    rsdp: Option<u64>,
    initrd: Option<ModlistEntry>,
    /// Entries of the memory map, which is built in the handover's own buffer.
    memmap_len: usize,
}

/// Most ranges a kernel takes: the loadable segments of a PVH ELF `pvhfw.elf` loads (Linux
/// has three or four).
const KERNEL_RANGES: usize = 8;

/// `list` as a kernel's ranges, the rest empty.
fn kernel_ranges(list: &[Range]) -> [Range; KERNEL_RANGES] {
    let mut ranges = [Range::default(); KERNEL_RANGES];
    ranges[..list.len()].copy_from_slice(list);
    ranges
}

/// Memory the firmware itself owns below 1 MiB; no kernel may be loaded there.
const FIRMWARE_OWNED: [Range; 3] = [FIRMWARE_RAM, MP_TABLE, F_SEGMENT_WINDOW];

impl<'a, F: FwCfgIo + ?Sized, P: Platform + ?Sized> Boot<'a, F, P> {
    pub fn new(io: &'a mut F, con: &'a mut dyn Console, platform: &'a mut P) -> Self {
        Boot { io, con, platform, log: Log::default(), timeline: None }
    }

    /// Prepares the boot of whatever kernel QEMU was given, in `handoff`, which the firmware
    /// placed at physical `handoff_paddr`: discover, the kernel, the shared steps, the command
    /// line, then the handover its format asks for.
    pub fn prepare(
        &mut self,
        handoff: &mut Handoff,
        handoff_paddr: u32,
        scratch: &mut Scratch,
    ) -> Result<KernelEntry, Error> {
        let files = self.discover(&mut scratch.dir)?;
        self.phase("fw_cfg");
        let kernel = self.find_kernel(&mut scratch.kernel_head)?;
        let set_up = self.set_up(&files, &kernel, scratch, &mut handoff.memmap, None)?;
        let too_long = self.command_line(&mut handoff.cmdline)?;
        self.hand_over(&kernel, &set_up, too_long, handoff, handoff_paddr, scratch)
    }

    /// The last steps for either entry: load the kernel if QEMU has not, and describe
    /// everything in the handover its format asks for.
    fn hand_over(
        &mut self,
        kernel: &Kernel,
        set_up: &SetUp,
        too_long: Option<usize>,
        handoff: &mut Handoff,
        handoff_paddr: u32,
        scratch: &mut Scratch,
    ) -> Result<KernelEntry, Error> {
        let addrs = HandoffAddrs::at(handoff_paddr.into());
        let entry = match kernel.format {
            KernelFormat::Pvh { entry } => {
                if let Some(file) = kernel.file {
                    self.load_elf_segments(file, &scratch.kernel_head)?;
                    self.phase("kernel");
                }
                // A bzImage says its limit (describe_linux refuses a longer line); a PVH kernel
                // does not, and Linux stops without a word on a longer one: say so, once.
                if let Some(len) = too_long {
                    self.warn_long_command_line(len);
                }
                describe_pvh(handoff, &addrs, set_up);
                KernelEntry::Pvh { entry, start_info: addrs.start_info as u32 }
            }
            KernelFormat::BzImage { header, load } => {
                self.load_bzimage(load, kernel.file)?;
                self.phase("kernel");
                // setup_data comes with QEMU's -kernel (-dtb) only.
                let setup_data = match kernel.file {
                    None => self.rebuild_setup_data(&header, load, &mut scratch.loader)?,
                    Some(_) => 0,
                };
                self.describe_linux(handoff, &addrs, set_up, &scratch.kernel_head, setup_data)?;
                linux_entry(header.entry()?, load.start, addrs.boot_params)
            }
        };
        self.announce(entry);
        self.phase("jump");
        self.print_timeline();
        Ok(entry)
    }

    fn warn_long_command_line(&mut self, len: usize) {
        Line::new(self.con)
            .str("warning: command line of ")
            .dec(len as u64)
            .str(" bytes is longer than the ")
            .dec(LINUX_CMDLINE_MAX as u64)
            .str(" Linux takes on x86; the kernel may stop silently")
            .end();
    }

    /// With `info` logging, where the kernel is entered and what it gets.
    fn announce(&mut self, entry: KernelEntry) {
        let Some(l) = self.info() else { return };
        let (what, at, data) = match entry {
            KernelEntry::Pvh { entry, start_info } => ("PVH kernel", entry.into(), start_info.into()),
            KernelEntry::Linux64 { entry, boot_params } => ("64-bit Linux", entry, boot_params),
            KernelEntry::Linux32 { entry, boot_params } => ("32-bit Linux", entry.into(), boot_params.into()),
        };
        let handover = if matches!(entry, KernelEntry::Pvh { .. }) { "start info" } else { "boot_params" };
        l.str("entering ").str(what).str(" at ").hex(at).str(", ").str(handover).str(" at ").hex(data).end();
    }

    /// The steps every kernel format shares, once the kernel's place (`kernel`) is known.
    fn set_up(
        &mut self,
        files: &Files,
        kernel: &Kernel,
        scratch: &mut Scratch,
        memmap: &mut [MemmapEntry; MAX_MEMMAP],
        previous: Option<&Incoming>,
    ) -> Result<SetUp, Error> {
        let Scratch { dir, e820: raw_e820, regions, loader, .. } = scratch;
        // A previous stage that left ACPI tables in memory has run QEMU's table loader and
        // programmed the chipset those tables describe: neither is done twice.
        let rsdp_in_memory = previous.and_then(|p| p.rsdp);
        let chipset = match rsdp_in_memory {
            Some(_) => Chipset::detect(self.platform),
            None => self.set_up_chipset(),
        };
        self.phase("chipset");
        let (dir, script, smbios) = match rsdp_in_memory {
            Some(_) => (Directory::parse(dir), None, None),
            None => {
                let (dir, script) = self.read_loader_script(files.loader, chipset, dir, loader)?;
                let smbios =
                    files.smbios_anchor.and_then(|anchor| Some(Smbios::new(anchor, dir.find(&smbios::TABLES)?)));
                (dir, script, smbios)
            }
        };
        let initrd = kernel.initrd;
        match previous.filter(|p| p.memmap_len > 0) {
            Some(p) => regions.from_memmap(&p.memmap[..p.memmap_len])?,
            None => self.read_e820(files.e820, raw_e820, regions)?,
        }
        mtrr::set_up(self.platform, e820::low_ram_end(regions.as_slice()));
        // pvhfw.elf's own image stays in use until the jump, and its page tables after it.
        let image = if previous.is_some() { ELF_IMAGE } else { Range::default() };
        let avoid = kernel.ranges_and([initrd.known_range().unwrap_or_default(), image]);
        let tables = Tables { dir: &dir, script, smbios, chipset, avoid, image };
        // Tables below 640 KiB when they fit, before the map exists (phases ACPI and SMBIOS);
        // else at the top of RAM once the map is known.
        let low = self.tables_below_640k(&tables, regions)?;
        let mut memmap_len = self.memory_map(regions, &tables, low, memmap)?;
        self.phase("memory map");
        let placed = if low.is_some() { low } else { self.tables_at_top(&tables, memmap, &mut memmap_len)? };
        let placed =
            placed.or(rsdp_in_memory.map(|rsdp| PlacedTables { rsdp: Some(rsdp), reserved: Range::default() }));
        let rsdp = placed.and_then(|p| p.rsdp);
        if let Some(r) = kernel.ranges.iter().find(|r| !r.is_empty() && !e820::is_ram(&memmap[..memmap_len], **r)) {
            return Err(Error::KernelNotInRam { start: r.start, end: r.end });
        }
        let initrd = self.load_initrd(initrd, kernel, &memmap[..memmap_len])?;
        self.phase("initrd");
        // Also with ACPI, as qboot and SeaBIOS do: a kernel started with acpi=off finds its
        // CPUs only here.
        self.mptable(placed, tables.chipset)?;
        self.phase("MP table");
        Ok(SetUp { rsdp, initrd, memmap_len })
    }

    fn info(&mut self) -> Option<Line<'_>> {
        self.log.info.then(|| Line::new(self.con))
    }

    /// With `timeline` logging, notes the TSC (guest instructions under `-icount shift=0`) at
    /// the end of a phase.
    fn phase(&mut self, name: &'static str) {
        if let Some(t) = &mut self.timeline {
            let tsc = self.platform.tsc();
            if let Some(slot) = t.stamps.get_mut(t.len) {
                *slot = (name, tsc);
                t.len += 1;
            }
        }
    }

    /// Prints the phases noted so far, one `pvhfw: tsc N PHASE` line each.
    fn print_timeline(&mut self) {
        let Some(t) = &self.timeline else { return };
        for &(name, tsc) in &t.stamps[..t.len] {
            Line::new(self.con).str("tsc ").dec(tsc).str(" ").str(name).end();
        }
    }

    /// Reads the fw_cfg directory, finds the files every boot needs and the user's log choice.
    fn discover(&mut self, buf: &mut [u8; fw_cfg::DIR_BYTES]) -> Result<Files, Error> {
        let dir = fw_cfg::read_directory(self.io, buf)?;
        let [log, loader, e820, smbios_anchor] = dir.find_all([&LOG, &table_loader::LOADER, &E820, &smbios::ANCHOR]);
        self.log = self.read_log(log)?;
        if self.log.timeline {
            self.timeline = Some(Timeline::default());
        }
        Ok(Files { loader, e820, smbios_anchor })
    }

    /// Programs what QEMU builds its ACPI tables from, which it does when the loader script is
    /// first read.
    fn set_up_chipset(&mut self) -> Chipset {
        let chipset = Chipset::detect(self.platform);
        chipset.setup(self.platform);
        chipset
    }

    fn read_log(&mut self, file: Option<File>) -> Result<Log, Error> {
        let Some(file) = file else { return Ok(Log::default()) };
        let mut value = [0u8; 32];
        self.io.read(file.select, &mut value)?;
        let len = (file.size as usize).min(value.len());
        Ok(Log::parse(&value[..len]))
    }

    /// The kernel QEMU was given, and the memory it takes, checked to lie clear of the
    /// firmware. `head` may hold anything: the read fills all of it (fw_cfg zero-fills past an
    /// item's end).
    fn find_kernel(&mut self, head: &mut [u8; kernel::HEAD_BYTES]) -> Result<Kernel, Error> {
        self.io.read(key::SETUP_DATA, head)?;
        // Only an ELF has a PVH entry to read (a VM exit saved for a bzImage).
        let entry = match kernel::is_elf(head) {
            true => fw_cfg::read_u32(self.io, key::KERNEL_ENTRY)?,
            false => 0,
        };
        let addr = fw_cfg::read_u32(self.io, key::KERNEL_ADDR)?;
        let size = fw_cfg::read_u32(self.io, key::KERNEL_SIZE)?;
        let load = Range { start: addr.into(), end: u64::from(addr) + u64::from(size) };
        let kernel = match kernel::detect(head, entry) {
            Format::Pvh => self.pvh_kernel(head, entry, load)?,
            Format::BzImage => self.bzimage_kernel(head, load)?,
            Format::ElfNotLoaded => return Err(Error::PvhNotLoaded),
            Format::Unknown if size == 0 && head.iter().all(|&b| b == 0) => return Err(Error::NoKernel),
            Format::Unknown => return Err(Error::UnknownKernelFormat),
        };
        kernel.check_clear_of(&FIRMWARE_OWNED)?;
        Ok(kernel)
    }

    /// A PVH ELF: QEMU has loaded its segments already. Where, its program headers say (QEMU's
    /// `load` is their span, but as a 32-bit size that wraps for a segment above 4 GiB); the
    /// entry must lie in one of them.
    fn pvh_kernel(&mut self, head: &[u8; kernel::HEAD_BYTES], entry: u32, load: Range) -> Result<Kernel, Error> {
        let range = match kernel::elf_load(head, entry.into()) {
            Some(elf) if !elf.entry_in_segment => return Err(Error::PvhEntryOutsideKernel { entry }),
            Some(elf) => elf.range,
            None => load,
        };
        if let Some(l) = self.info() {
            l.str("PVH kernel loaded at ")
                .hex(range.start)
                .str("-")
                .hex(range.end)
                .str(", entry ")
                .hex(entry.into())
                .end();
        }
        let initrd = self.initrd_range()?.map_or(Initrd::None, Initrd::Qemu);
        Ok(Kernel { format: KernelFormat::Pvh { entry }, ranges: kernel_ranges(&[range]), initrd, file: None })
    }

    /// A bzImage: nothing is loaded yet. Its protected-mode part goes to `load` (QEMU's
    /// `KERNEL_ADDR`, where any `setup_data` QEMU appended expects it) and it then needs
    /// `init_size` bytes from where it runs; the kernel takes both ranges (not the gap between
    /// them).
    fn bzimage_kernel(&mut self, head: &[u8; kernel::HEAD_BYTES], load: Range) -> Result<Kernel, Error> {
        let header = SetupHeader::parse(head)?;
        let ranges = bzimage_ranges(&header, load)?;
        let runtime = ranges[1];
        if let Some(l) = self.info() {
            l.str("bzImage, boot protocol ")
                .hex(header.protocol().into())
                .str(": ")
                .dec(load.end - load.start)
                .str(" bytes to ")
                .hex(load.start)
                .str(", runs in ")
                .hex(runtime.start)
                .str("-")
                .hex(runtime.end)
                .end();
        }
        // QEMU wrote the initrd's place into the header, as INITRD_ADDR/SIZE say: two reads saved.
        let (start, size) = (header.ramdisk_image.get(), header.ramdisk_size.get());
        let initrd = match size {
            0 => Initrd::None,
            _ => Initrd::Qemu(Range { start: start.into(), end: u64::from(start) + u64::from(size) }),
        };
        Ok(Kernel {
            format: KernelFormat::BzImage { header, load },
            ranges: kernel_ranges(&ranges),
            initrd,
            file: None,
        })
    }

    /// Copies the bzImage's protected-mode part to `load` with one DMA: QEMU's kernel item, or
    /// the end of the kernel's `file` (the shared steps checked that the kernel's whole span is
    /// RAM that no table or initrd uses; the header's own limits are checked where boot_params
    /// is filled).
    fn load_bzimage(&mut self, load: Range, file: Option<File>) -> Result<(), Error> {
        let len = (load.end - load.start) as u32;
        match file {
            None => self.io.read_to_phys(key::KERNEL_DATA, load.start, len),
            Some(file) => self.io.read_to_phys_at(file.select, file.size - len, load.start, len),
        }
    }

    /// The `setup_data` list QEMU may have appended to the kernel (`-dtb`), copied into
    /// `room` (scratch RAM that is free once the tables are placed, and reserved) with new
    /// links, so that nothing of it depends on where QEMU put it. Returns the new head.
    fn rebuild_setup_data(
        &mut self,
        header: &SetupHeader,
        load: Range,
        room: &mut [u8; table_loader::MAX_SCRIPT],
    ) -> Result<u64, Error> {
        if header.setup_data() == 0 {
            return Ok(0);
        }
        let platform = &mut *self.platform;
        let mut read = |addr: u64, buf: &mut [u8]| match Range::from_len(addr, buf.len() as u64) {
            Some(r) if load.contains(&r) => {
                buf.copy_from_slice(platform.phys(r));
                true
            }
            _ => false,
        };
        let room_paddr = crate::layout::SCRATCH + core::mem::offset_of!(Scratch, loader) as u64;
        let (head, _) = setup_data::rebuild(header.setup_data(), &mut read, room, room_paddr)?;
        Ok(head)
    }

    /// The Linux handover: `boot_params` with QEMU's header, the memory map, the command
    /// line, the initrd, the RSDP and the rebuilt `setup_data`.
    fn describe_linux(
        &mut self,
        handoff: &mut Handoff,
        addrs: &HandoffAddrs,
        set_up: &SetUp,
        setup: &[u8; kernel::HEAD_BYTES],
        setup_data: u64,
    ) -> Result<(), Error> {
        let cmdline_len = handoff.cmdline.iter().position(|&b| b == 0).unwrap_or(CMDLINE_MAX);
        let initrd = set_up.initrd.map(|i| Range { start: i.paddr, end: i.paddr + i.size });
        let linux = boot_params::Contents {
            setup,
            memmap: &handoff.memmap[..set_up.memmap_len],
            cmdline_addr: addrs.cmdline,
            cmdline_len,
            initrd,
            rsdp: set_up.rsdp,
            setup_data,
        };
        handoff.boot_params.fill(&linux)
    }

    /// Reads `etc/table-loader`, if QEMU has ACPI tables for this machine, and returns the
    /// directory as it stands afterwards. On `pc` and `q35` the first read of an ACPI file makes
    /// QEMU rebuild the tables, which can change their sizes (a DSDT growing past the 128 KiB
    /// padding): the directory is read again then, and the script too if its size changed.
    fn read_loader_script<'s>(
        &mut self,
        file: Option<File>,
        chipset: Chipset,
        dir: &'s mut [u8; fw_cfg::DIR_BYTES],
        buf: &'s mut [u8; table_loader::MAX_SCRIPT],
    ) -> Result<(Directory<'s>, Option<&'s [u8]>), Error> {
        let Some(mut file) = file else { return Ok((Directory::parse(dir), None)) };
        self.read_file_into(file, buf)?;
        if !chipset.rebuilds_acpi_on_first_read() {
            return Ok((Directory::parse(dir), Some(&buf[..file.size as usize])));
        }
        let dir = fw_cfg::read_directory(self.io, dir)?;
        let fresh = dir.find(&table_loader::LOADER).ok_or(Error::MissingFile { name: table_loader::LOADER_FILE })?;
        if fresh.size != file.size {
            file = fresh;
            self.read_file_into(file, buf)?;
        }
        Ok((dir, Some(&buf[..file.size as usize])))
    }

    /// Reads the loader script `file` into the start of `buf`.
    fn read_file_into(&mut self, file: File, buf: &mut [u8; table_loader::MAX_SCRIPT]) -> Result<(), Error> {
        let script = buf.get_mut(..file.size as usize).ok_or(Error::TooLarge {
            what: table_loader::LOADER_FILE,
            size: file.size.into(),
            max: table_loader::MAX_SCRIPT as u64,
        })?;
        self.io.read(file.select, script)
    }

    /// Reads QEMU's `etc/e820` into `regions`.
    fn read_e820(
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
    fn memory_map(
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
    fn initrd_range(&mut self) -> Result<Option<Range>, Error> {
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
    fn load_initrd(
        &mut self,
        initrd: Initrd,
        kernel: &Kernel,
        memmap: &[MemmapEntry],
    ) -> Result<Option<ModlistEntry>, Error> {
        let (range, source) = match initrd {
            Initrd::None => return Ok(None),
            Initrd::Qemu(range) => (range, Some(key::INITRD_DATA)),
            Initrd::InPlace(range) => (range, None),
            Initrd::File(file) => (self.initrd_place(file, kernel, memmap)?, Some(file.select)),
        };
        let size = range.end - range.start;
        let fits =
            range.end <= 1 << 32 && e820::is_ram(memmap, range) && !kernel.ranges.iter().any(|k| k.overlaps(&range));
        if !fits {
            return Err(Error::InitrdDoesNotFit { addr: range.start, size });
        }
        if let Some(source) = source {
            self.io.read_to_phys(source, range.start, size as u32)?;
        }
        if let Some(l) = self.info() {
            l.str("initrd: ").dec(size).str(" bytes at ").hex(range.start).end();
        }
        Ok(Some(ModlistEntry { paddr: range.start, size, cmdline_paddr: 0, reserved: 0 }))
    }

    /// The top of free RAM below 4 GiB (and below a bzImage's `initrd_addr_max`) clear of the
    /// kernel, for an initrd pvhfw places itself.
    fn initrd_place(&mut self, file: File, kernel: &Kernel, memmap: &[MemmapEntry]) -> Result<Range, Error> {
        let limit = match &kernel.format {
            KernelFormat::BzImage { header, .. } => u64::from(header.initrd_addr_max()) + 1,
            KernelFormat::Pvh { .. } => 1 << 32,
        };
        let avoid = kernel.ranges_and([Range { start: limit, end: 1 << 32 }, Range::default()]);
        let size = u64::from(file.size);
        table_memory::find_high(memmap, page_up(size), PAGE, &avoid)
            .map(|r| Range { start: r.start, end: r.start + size })
            .map_err(|_| Error::InitrdDoesNotFit { addr: 0, size })
    }

    /// ACPI and SMBIOS in the window below 640 KiB, before the memory map exists: the common
    /// case, one pass over the script. `None` when the window is not free RAM or the tables do
    /// not fit; [`Self::tables_at_top`] then places them once the map is known.
    fn tables_below_640k(&mut self, t: &Tables, regions: &Regions) -> Result<Option<PlacedTables>, Error> {
        let usable =
            !t.avoid.iter().any(|a| a.overlaps(&LOW_TABLES)) && e820::is_free_ram(regions.as_slice(), LOW_TABLES);
        if !t.any() || !usable {
            return Ok(None);
        }
        match self.place_tables(t, LOW_TABLES) {
            Ok(placed) => Ok(Some(placed)),
            Err(Error::NoRoomForTables { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// ACPI and SMBIOS in one block carved from the top of free RAM below 4 GiB, sized from a
    /// pass over the script. Returns the RSDP's address.
    fn tables_at_top(
        &mut self,
        t: &Tables,
        memmap: &mut [MemmapEntry; MAX_MEMMAP],
        map_len: &mut usize,
    ) -> Result<Option<PlacedTables>, Error> {
        if !t.any() {
            return Ok(None);
        }
        let needs = match t.script {
            Some(s) => table_loader::needs(s, t.dir)?,
            None => Needs::default(),
        };
        let smbios = t.smbios.as_ref().map_or(0, |s| table_memory::worst_case(s.tables_size(), smbios::TABLES_ALIGN));
        let size = page_up(needs.high.saturating_add(smbios));
        let block = table_memory::find_high(&memmap[..*map_len], size, needs.high_align.max(PAGE), &t.avoid)?;
        let placed = self.place_tables(t, block)?;
        *map_len = e820::carve(memmap, *map_len, placed.reserved, e820::RESERVED)?;
        Ok(Some(placed))
    }

    /// Runs the table loader and installs SMBIOS, with high-zone allocations in `high`.
    fn place_tables(&mut self, t: &Tables, high: Range) -> Result<PlacedTables, Error> {
        t.chipset.enable_f_segment_ram(self.platform);
        let (mut high, mut f_segment) = (Bump::new(high), Bump::new(F_SEGMENT_WINDOW));
        let rsdp = match t.script {
            Some(s) => table_loader::run(
                s,
                t.dir,
                self.io,
                self.platform,
                Zones { high: &mut high, f_segment: &mut f_segment },
            )?,
            None => None,
        };
        self.phase("ACPI");
        if let Some(s) = &t.smbios {
            let anchor = s.install(self.io, self.platform, &mut high, &mut f_segment)?;
            if let Some(l) = self.info() {
                l.str("SMBIOS entry point at ").hex(anchor).end();
            }
        }
        self.phase("SMBIOS");
        let used = high.used();
        let reserved = Range { start: used.start, end: page_up(used.end) };
        if let Some(l) = self.info() {
            l.str("tables at ")
                .hex(reserved.start)
                .str("-")
                .hex(reserved.end)
                .str(", RSDP at ")
                .hex(rsdp.unwrap_or(0))
                .end();
        }
        Ok(PlacedTables { rsdp, reserved })
    }

    /// An MP table naming every boot CPU, the IOAPIC, the ISA and the PCI interrupts.
    /// With ACPI tables (`placed`), the CPUs and the IRQ 0 override come from their MADT, else
    /// from fw_cfg.
    fn mptable(&mut self, placed: Option<PlacedTables>, chipset: Chipset) -> Result<(), Error> {
        let (cpus, irq0_to_pin2) = match placed.and_then(|p| self.madt(p)) {
            Some(madt) => (madt.enabled.max(1), madt.irq0_to_pin2),
            None => {
                let mut cpus = [0u8; 2];
                self.io.read(key::NB_CPUS, &mut cpus)?;
                (u16::from_le_bytes(cpus).max(1).into(), fw_cfg::read_u32(self.io, key::IRQ0_OVERRIDE)? != 0)
            }
        };
        let topology = Topology::from_cpuid(self.platform);
        let [signature, _, _, features] = self.platform.cpuid(1, 0);
        let machine = mptable::Machine { cpus, topology, signature, features, irq0_to_pin2, chipset };
        let built = mptable::build(self.platform.phys(MP_TABLE), &machine);
        if built.cpus < cpus {
            Line::new(self.con)
                .str("warning: MP table names ")
                .dec(built.cpus.into())
                .str(" of ")
                .dec(cpus.into())
                .str(" CPUs")
                .end();
        }
        Ok(())
    }

    /// The MADT of the tables just placed, through their RSDP (which is in the F segment).
    /// Not for tables a previous stage placed (`reserved` is empty): where they are is not
    /// known to be one block.
    fn madt(&mut self, placed: PlacedTables) -> Option<madt::Cpus> {
        let rsdp = placed.rsdp.filter(|_| !placed.reserved.is_empty())?;
        let mut rsdp_copy = [0u8; 36];
        // Up to 36 bytes (an RSDP of revision 2), as far as the window goes.
        let end = rsdp.checked_add(36)?.min(F_SEGMENT_WINDOW.end);
        if rsdp < F_SEGMENT_WINDOW.start || end <= rsdp {
            return None;
        }
        let rsdp_bytes = Range { start: rsdp, end };
        let len = (rsdp_bytes.end - rsdp_bytes.start) as usize;
        rsdp_copy[..len].copy_from_slice(self.platform.phys(rsdp_bytes));
        let tables = madt::Tables { base: placed.reserved.start, bytes: self.platform.phys(placed.reserved) };
        madt::cpus(&rsdp_copy[..len], &tables)
    }

    /// Copies the command line byte for byte, NUL-terminated (empty if QEMU has none).
    ///
    /// With DMA, one read of up to Linux's own limit usually does it (QEMU zero-fills past an
    /// item's end, so a window that ends in a NUL holds the whole line, terminated); longer
    /// lines, and the port interface, take the size first.
    /// Returns the line's length when it is beyond what Linux keeps on x86 (2047 bytes).
    fn command_line(&mut self, buf: &mut [u8; CMDLINE_MAX]) -> Result<Option<usize>, Error> {
        const QUICK: usize = LINUX_CMDLINE_MAX + 1;
        if self.io.has_dma() {
            self.io.read(key::CMDLINE_DATA, &mut buf[..QUICK])?;
            if buf[QUICK - 1] == 0 {
                return Ok(None);
            }
        }
        let size = fw_cfg::read_u32(self.io, key::CMDLINE_SIZE)? as usize;
        // QEMU counts the terminating NUL; keep room for one of our own in case it is missing.
        if size >= CMDLINE_MAX {
            return Err(Error::TooLarge { what: "command line", size: size as u64, max: CMDLINE_MAX as u64 - 1 });
        }
        self.io.read(key::CMDLINE_DATA, &mut buf[..size])?;
        buf[size] = 0;
        let len = buf[..size].iter().position(|&b| b == 0).unwrap_or(size);
        Ok((len > LINUX_CMDLINE_MAX).then_some(len))
    }
}

/// The PVH handover: `hvm_start_info` pointing at the module list, the memory map and the
/// command line, all in `handoff` at `addrs`.
fn describe_pvh(handoff: &mut Handoff, addrs: &HandoffAddrs, set_up: &SetUp) {
    handoff.modlist[0] = set_up.initrd.unwrap_or_default();
    handoff.start_info = StartInfo {
        magic: MAGIC,
        version: 1,
        flags: 0,
        nr_modules: set_up.initrd.is_some().into(),
        modlist_paddr: if set_up.initrd.is_some() { addrs.modlist } else { 0 },
        cmdline_paddr: addrs.cmdline,
        rsdp_paddr: set_up.rsdp.unwrap_or(0),
        memmap_paddr: addrs.memmap,
        memmap_entries: set_up.memmap_len as u32,
        reserved: 0,
    };
}

/// `etc/boot-fail-wait` in milliseconds, or `None` to halt for good (absent, or -1).
pub fn boot_fail_wait(io: &mut (impl FwCfgIo + ?Sized), scratch: &mut Scratch) -> Option<u32> {
    let dir = fw_cfg::read_directory(io, &mut scratch.dir).ok()?;
    let file = dir.find(&BOOT_FAIL_WAIT)?;
    let mut v = [0u8; 4];
    io.read(file.select, &mut v).ok()?;
    let ms = i32::from_le_bytes(v);
    u32::try_from(ms).ok()
}

mod chain;
pub use chain::{CMDLINE_FILE, INITRD_FILE, KERNEL_FILE};
#[cfg(test)]
mod tests;
