//! The kernel: finding it (QEMU's `-kernel` items, or a file `pvhfw.elf` loads itself), telling
//! its format, the memory it takes, and loading it where QEMU has not.

use super::memory::Initrd;
use super::{Boot, KERNEL_FILE};
use crate::bzimage::{self, SetupHeader};
use crate::fw_cfg::{self, key, File, FwCfgIo};
use crate::kernel::{self, Format, Segment};
use crate::layout::{DISK_BOOT_RAM, ELF_IMAGE, FIRMWARE_RAM, F_SEGMENT_WINDOW, MP_TABLE};
use crate::platform::Platform;
use crate::{Error, Range};

/// Most ranges a kernel takes: a bzImage two; a PVH ELF `pvhfw.elf` loads one per loadable
/// segment (Linux has four), the last covering any further ones. Every entry, used or not, is
/// written on every boot: 8 cost the `-kernel` boot some 50 instructions more than 4 (measured).
pub(super) const KERNEL_RANGES: usize = 4;
/// Most loadable and note segments of a PVH ELF `pvhfw.elf` loads.
const MAX_SEGMENTS: usize = 8;
/// Where a bzImage's protected-mode part goes, as QEMU and every boot loader put it.
const BZIMAGE_LOAD: u64 = 0x10_0000;
/// An ELF whose program headers load nothing.
const NO_LOADABLE_SEGMENT: Error = Error::ElfMalformed { problem: "no loadable segment" };
/// The span QEMU reports for a PVH ELF without a loadable segment, which it loads all the
/// same: from the lowest address it starts its search with (`u64::MAX`, cut to 32 bits), 1
/// byte long (0, the highest end, minus that).
const QEMU_LOADED_NOTHING: Range = Range { start: 0xffff_ffff, end: 1 << 32 };
/// Where QEMU loads the protected-mode part of a Linux older than boot protocol 2.00.
const OLD_KERNEL_ADDR: u64 = 0x1_0000;
/// Memory the firmware itself owns below 1 MiB; no kernel may be loaded there.
pub(super) const FIRMWARE_OWNED: [Range; 3] = [FIRMWARE_RAM, MP_TABLE, F_SEGMENT_WINDOW];

/// The kernel as QEMU (or, for `pvhfw.elf`, its file) describes it.
pub(super) struct Kernel {
    pub(super) protocol: Protocol,
    /// All the memory it takes, the used entries first and the rest empty: the span of the
    /// segments of a PVH kernel QEMU loaded; each loadable segment of one `pvhfw.elf` loads;
    /// where a bzImage is loaded and where it runs (the gap between those, up to 15 MiB, is
    /// not the kernel's: `pvhfw.elf` runs there).
    pub(super) ranges: [Range; KERNEL_RANGES],
    pub(super) initrd: Initrd,
    /// `None`: QEMU's `-kernel` (fw_cfg's kernel items; a PVH ELF QEMU has loaded already).
    /// `Some`: a file pvhfw loads the kernel from itself.
    pub(super) file: Option<Source>,
}

/// A kernel file pvhfw reads itself: the fw_cfg file `pvhfw.elf` boots, or the kernel file on
/// the boot disk (its handle is kept with the disk: `Kernel` stays small, as it is moved
/// around on every boot).
#[derive(Clone, Copy)]
pub(super) enum Source {
    FwCfg(File),
    Disk { size: u64 },
}

impl Source {
    fn size(&self) -> u64 {
        match self {
            Source::FwCfg(file) => file.size.into(),
            Source::Disk { size } => *size,
        }
    }
}

/// The boot protocol the kernel is entered by, with what its handover needs.
pub(super) enum Protocol {
    Pvh {
        entry: u32,
    },
    /// `load`: where its protected-mode part goes (QEMU's `KERNEL_ADDR` and `KERNEL_SIZE`).
    Linux {
        header: SetupHeader,
        load: Range,
    },
    /// `image`: QEMU's kernel item, the kernel with its modules and their list.
    Multiboot {
        entry: u32,
        image: Range,
    },
}

impl Kernel {
    /// The ranges the kernel takes: those before the first empty one. Loops over a kernel's
    /// memory stop there: since a kernel from a disk joins the `-kernel` boot's steps, LLVM
    /// no longer sees which entries are empty, and would look at every one.
    pub(super) fn used_ranges(&self) -> impl Iterator<Item = &Range> {
        self.ranges.iter().take_while(|r| !r.is_empty())
    }

    /// Fails if the kernel's memory overlaps any of `owned`. Always inlined: with `owned` a
    /// constant the loops unroll; out of line (as LLVM chose once the disk boot was added),
    /// it cost the `-kernel` boot some 100 instructions (measured).
    #[inline(always)]
    pub(super) fn check_clear_of(&self, owned: &[Range]) -> Result<(), Error> {
        for k in self.used_ranges() {
            if owned.iter().any(|r| r.overlaps(k)) {
                return Err(Error::KernelOverlapsFirmware { start: k.start, end: k.end });
            }
        }
        Ok(())
    }

    /// The kernel's ranges, then `more`: everything a placement must keep clear of, in the
    /// first `n` entries (so loops over them stop after the kernel's last range).
    pub(super) fn ranges_and(&self, more: [Range; 2]) -> ([Range; KERNEL_RANGES + 2], usize) {
        let mut all = [Range::default(); KERNEL_RANGES + 2];
        let mut n = 0;
        for (slot, r) in all.iter_mut().zip(self.used_ranges().chain(&more)) {
            *slot = *r;
            n += 1;
        }
        (all, n)
    }
}

/// `list` as a kernel's ranges, the rest empty.
pub(super) fn kernel_ranges(list: &[Range]) -> [Range; KERNEL_RANGES] {
    let mut ranges = [Range::default(); KERNEL_RANGES];
    ranges[..list.len()].copy_from_slice(list);
    ranges
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

impl<F: FwCfgIo + ?Sized, P: Platform + ?Sized> Boot<'_, F, P> {
    /// The kernel QEMU was given, and the memory it takes, checked to lie clear of the
    /// firmware. `head` may hold anything: the read fills all of it (fw_cfg zero-fills past an
    /// item's end).
    pub(super) fn find_kernel(&mut self, head: &mut [u8; kernel::HEAD_BYTES]) -> Result<Kernel, Error> {
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
            Format::ElfNotLoaded => return Err(elf_not_loaded(load)),
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
            None if load == QEMU_LOADED_NOTHING => return Err(NO_LOADABLE_SEGMENT),
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
        Ok(Kernel { protocol: Protocol::Pvh { entry }, ranges: kernel_ranges(&[range]), initrd, file: None })
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
        Ok(Kernel { protocol: Protocol::Linux { header, load }, ranges: kernel_ranges(&ranges), initrd, file: None })
    }

    /// The kernel in `file`, from its head (nothing is loaded yet): a PVH ELF or a bzImage.
    pub(super) fn kernel_file(
        &mut self,
        file: Source,
        initrd: Initrd,
        head: &mut [u8; kernel::HEAD_BYTES],
        notes: &mut [u8],
    ) -> Result<Kernel, Error> {
        self.read_head(file, head)?;
        let (protocol, ranges) = if kernel::is_elf(head) {
            self.elf_file(file, head, notes)?
        } else if bzimage::has_magic(head) {
            bzimage_file(file, head)?
        } else {
            return Err(Error::UnknownKernelFormat);
        };
        let kernel = Kernel { protocol, ranges, initrd, file: Some(file) };
        kernel.check_clear_of(&FIRMWARE_OWNED)?;
        kernel.check_clear_of(&[ELF_IMAGE, DISK_BOOT_RAM])?;
        if let Some(l) = self.info() {
            let name = match file {
                Source::FwCfg(_) => KERNEL_FILE,
                Source::Disk { .. } => "kernel file",
            };
            l.str(name)
                .str(": ")
                .dec(file.size())
                .str(" bytes for ")
                .hex(kernel.ranges[0].start)
                .str("-")
                .hex(kernel.ranges[0].end)
                .end();
        }
        Ok(kernel)
    }

    /// A PVH ELF: its entry from its notes (read into `notes`), its ranges from its loadable
    /// segments (each its own, so a segment far from the others is checked where it lands),
    /// each checked to lie in the file.
    fn elf_file(
        &mut self,
        file: Source,
        head: &[u8; kernel::HEAD_BYTES],
        notes: &mut [u8],
    ) -> Result<(Protocol, [Range; KERNEL_RANGES]), Error> {
        let (loads, n_loads, note_segments, n_notes) =
            kernel::elf_segments::<MAX_SEGMENTS>(head).ok_or(Error::ElfMalformed { problem: "program headers" })?;
        let mut entry = None;
        for note in &note_segments[..n_notes] {
            let bytes = in_file(note, file).and_then(|_| notes.get_mut(..note.filesz as usize));
            let bytes =
                bytes.ok_or(Error::ElfMalformed { problem: "note segment too large or beyond the end of the file" })?;
            self.read_file_at(file, note.offset, bytes)?;
            entry = entry.or(kernel::pvh_entry(bytes));
        }
        let entry = entry.ok_or(Error::ElfMalformed { problem: "no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)" })?;
        let mut ranges = [Range::default(); KERNEL_RANGES];
        let mut entry_in_segment = false;
        // The used entries first (Kernel::used_ranges).
        for (i, segment) in loads[..n_loads].iter().filter(|s| s.memsz > 0).enumerate() {
            in_file(segment, file).ok_or(Error::ElfMalformed { problem: "segment beyond the end of the file" })?;
            let to = Range::from_len(segment.paddr, segment.memsz)
                .filter(|r| r.end <= 1 << 32 && segment.filesz <= segment.memsz)
                .ok_or(Error::ElfMalformed { problem: "segment size or address" })?;
            entry_in_segment |= to.start <= entry.into() && u64::from(entry) < to.end;
            match ranges.get_mut(i) {
                Some(range) => *range = to,
                // One range more than there are: the last one grows to span it too (and the
                // gap between them, which then stays clear of tables and initrds as well).
                None => {
                    let last = &mut ranges[KERNEL_RANGES - 1];
                    *last = Range { start: last.start.min(to.start), end: last.end.max(to.end) };
                }
            }
        }
        if ranges.iter().all(Range::is_empty) {
            return Err(NO_LOADABLE_SEGMENT);
        }
        if !entry_in_segment {
            return Err(Error::PvhEntryOutsideKernel { entry });
        }
        Ok((Protocol::Pvh { entry }, ranges))
    }

    /// Copies each loadable segment of the PVH ELF in `file` to its address with one DMA and
    /// clears the rest of its memory (its span was checked to be RAM clear of everything else).
    pub(super) fn load_elf_segments(&mut self, file: Source, head: &[u8; kernel::HEAD_BYTES]) -> Result<(), Error> {
        let malformed = Error::ElfMalformed { problem: "program headers" };
        let (loads, n_loads, _, _) = kernel::elf_segments::<MAX_SEGMENTS>(head).ok_or(malformed)?;
        for s in loads[..n_loads].iter().filter(|s| s.memsz > 0) {
            self.file_to_phys(file, s.offset, s.paddr, s.filesz)?;
            let bss = Range { start: s.paddr + s.filesz, end: s.paddr + s.memsz };
            if !bss.is_empty() {
                self.platform.phys(bss).fill(0);
            }
        }
        Ok(())
    }

    /// Copies the bzImage's protected-mode part to `load` with one DMA: QEMU's kernel item, or
    /// the end of the kernel's `file` (the shared steps checked that the kernel's whole span is
    /// RAM that no table or initrd uses; the header's own limits are checked where boot_params
    /// is filled).
    pub(super) fn load_bzimage(&mut self, load: Range, file: Option<Source>) -> Result<(), Error> {
        let len = load.end - load.start;
        match file {
            None => self.io.read_to_phys(key::KERNEL_DATA, load.start, len as u32),
            Some(file) => self.file_to_phys(file, file.size() - len, load.start, len),
        }
    }

    /// The first bytes of `file`, zero-filled past its end (as fw_cfg reads are).
    fn read_head(&mut self, file: Source, head: &mut [u8; kernel::HEAD_BYTES]) -> Result<(), Error> {
        match file {
            Source::FwCfg(f) => self.io.read(f.select, head),
            Source::Disk { .. } => {
                let n = (file.size() as usize).min(head.len());
                head[n..].fill(0);
                self.read_file_at(file, 0, &mut head[..n])
            }
        }
    }

    /// `buf.len()` bytes of `file` from `offset` (checked to lie in the file).
    fn read_file_at(&mut self, file: Source, offset: u64, buf: &mut [u8]) -> Result<(), Error> {
        match file {
            Source::FwCfg(f) => self.io.read_at(f.select, offset as u32, buf),
            Source::Disk { .. } => self.disk_read(offset, buf),
        }
    }

    /// `len` bytes of `file` from `offset` (checked to lie in the file) to `phys`.
    pub(super) fn file_to_phys(&mut self, file: Source, offset: u64, phys: u64, len: u64) -> Result<(), Error> {
        match file {
            Source::FwCfg(f) => self.io.read_to_phys_at(f.select, offset as u32, phys, len as u32),
            Source::Disk { .. } => self.disk_kernel_to_phys(offset, phys, len),
        }
    }
}

/// Why QEMU published an ELF without a PVH entry. A machine type from before PVH did not load
/// it: it took it for a Linux older than boot protocol 2.00, whose protected-mode part goes to
/// [`OLD_KERNEL_ADDR`]. A current one loaded it (its kernel items then give the span of its
/// segments, which may not lie there: that is the firmware's RAM) and passed on the entry
/// note's address cut to its low 32 bits, 0 (it refuses a note of 0): the entry lies at or
/// above 4 GiB.
fn elf_not_loaded(load: Range) -> Error {
    match load.start {
        OLD_KERNEL_ADDR => Error::PvhNotLoaded,
        _ => Error::PvhEntryAbove4G,
    }
}

/// `segment`'s bytes lie within `file`.
fn in_file(segment: &Segment, file: Source) -> Option<()> {
    (segment.offset.checked_add(segment.filesz)? <= file.size()).then_some(())
}

/// A bzImage: its protected-mode part (the file after `setup_sects` + 1 sectors) goes to 1 MiB.
/// A file that ends within its setup has none.
fn bzimage_file(file: Source, head: &[u8; kernel::HEAD_BYTES]) -> Result<(Protocol, [Range; KERNEL_RANGES]), Error> {
    let header = SetupHeader::parse(head)?;
    let len = file.size().checked_sub(bzimage::setup_len(header.setup_sects)).filter(|&l| l > 0);
    let len = len.ok_or(Error::BzImageEmpty)?;
    let load = Range { start: BZIMAGE_LOAD, end: BZIMAGE_LOAD + len };
    let ranges = bzimage_ranges(&header, load)?;
    Ok((Protocol::Linux { header, load }, kernel_ranges(&ranges)))
}
