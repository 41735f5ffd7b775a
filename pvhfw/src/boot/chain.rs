//! The second entry: `pvhfw.elf`, started as a PVH guest by a previous stage (QEMU's PVH
//! option ROM behind SeaBIOS, qboot, another VMM), chain-loads the kernel named in fw_cfg.
//!
//! The same steps as from the reset vector, with what the previous stage already did taken as
//! it is. The rule for ACPI: tables already in memory (the incoming start info's RSDP) are
//! passed through, with the chipset they describe left as programmed, and QEMU's table loader
//! is not run again (it must not be: WRITE_POINTER, vmgenid); without an RSDP pvhfw programs
//! the chipset and loads QEMU's tables itself. The memory map is the incoming one, so every
//! reservation the previous stage made (its tables among them) stays, with pvhfw's own added;
//! QEMU's `etc/e820` only when the start info has none.

use super::{kernel_ranges, Boot, Initrd, Kernel, KernelEntry, KernelFormat, FIRMWARE_OWNED, KERNEL_RANGES};
use crate::bzimage::SetupHeader;
use crate::fw_cfg::{File, FileName, FwCfgIo, NameKey};
use crate::handoff::{Handoff, CMDLINE_MAX};
use crate::kernel::{self, Segment};
use crate::layout::ELF_IMAGE;
use crate::platform::Platform;
use crate::scratch::Scratch;
use crate::start_info::Incoming;
use crate::{Error, Range};

/// The fw_cfg files `pvhfw.elf` boots from (`-fw_cfg name=opt/org.pvhfw/kernel,file=...`).
pub const KERNEL_FILE: &str = "opt/org.pvhfw/kernel";
pub const INITRD_FILE: &str = "opt/org.pvhfw/initrd";
pub const CMDLINE_FILE: &str = "opt/org.pvhfw/cmdline";
const KERNEL: NameKey = NameKey::new_const(&FileName::new(KERNEL_FILE));
const INITRD: NameKey = NameKey::new_const(&FileName::new(INITRD_FILE));
const CMDLINE: NameKey = NameKey::new_const(&FileName::new(CMDLINE_FILE));

/// Where a bzImage's protected-mode part goes, as QEMU and every boot loader put it.
const BZIMAGE_LOAD: u64 = 0x10_0000;
/// Most loadable and note segments of a PVH ELF: one kernel range each.
const MAX_SEGMENTS: usize = KERNEL_RANGES;

impl<F: FwCfgIo + ?Sized, P: Platform + ?Sized> Boot<'_, F, P> {
    /// Prepares the boot of the kernel in fw_cfg's `opt/org.pvhfw/kernel`, as [`Boot::prepare`]
    /// does for QEMU's `-kernel`: discover, the kernel, the shared steps (on the incoming
    /// memory map and ACPI tables), the command line, the handover.
    pub fn prepare_chained(
        &mut self,
        incoming: &Incoming,
        handoff: &mut Handoff,
        handoff_paddr: u32,
        scratch: &mut Scratch,
    ) -> Result<KernelEntry, Error> {
        let files = self.discover(&mut scratch.dir)?;
        let dir = crate::fw_cfg::Directory::parse(&scratch.dir);
        let [kernel_file, initrd_file, cmdline_file] = dir.find_all([&KERNEL, &INITRD, &CMDLINE]);
        self.phase("fw_cfg");
        let kernel_file = kernel_file.ok_or(Error::NoKernelFile)?;
        let initrd = match (initrd_file, incoming.initrd) {
            (Some(file), _) => Initrd::File(file),
            (None, Some(range)) => Initrd::InPlace(range),
            (None, None) => Initrd::None,
        };
        let kernel = self.kernel_file(kernel_file, initrd, &mut scratch.kernel_head, &mut scratch.loader)?;
        let set_up = self.set_up(&files, &kernel, scratch, &mut handoff.memmap, Some(incoming))?;
        let too_long = self.chained_command_line(cmdline_file, incoming, &mut handoff.cmdline)?;
        self.hand_over(&kernel, &set_up, too_long, handoff, handoff_paddr, scratch)
    }

    /// The kernel in `file`, from its head (nothing is loaded yet): a PVH ELF or a bzImage.
    fn kernel_file(
        &mut self,
        file: File,
        initrd: Initrd,
        head: &mut [u8; kernel::HEAD_BYTES],
        notes: &mut [u8],
    ) -> Result<Kernel, Error> {
        self.io.read(file.select, head)?;
        let (format, ranges) = if kernel::is_elf(head) {
            self.elf_file(file, head, notes)?
        } else if head[0x202..0x206] == *b"HdrS" {
            bzimage_file(file, head)?
        } else {
            return Err(Error::UnknownKernelFormat);
        };
        let kernel = Kernel { format, ranges, initrd, file: Some(file) };
        kernel.check_clear_of(&FIRMWARE_OWNED)?;
        kernel.check_clear_of(&[ELF_IMAGE])?;
        if let Some(l) = self.info() {
            l.str(KERNEL_FILE)
                .str(": ")
                .dec(file.size.into())
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
        file: File,
        head: &[u8; kernel::HEAD_BYTES],
        notes: &mut [u8],
    ) -> Result<(KernelFormat, [Range; KERNEL_RANGES]), Error> {
        let (loads, n_loads, note_segments, n_notes) =
            kernel::elf_segments::<MAX_SEGMENTS>(head).ok_or(Error::ElfMalformed { problem: "program headers" })?;
        let mut entry = None;
        for note in &note_segments[..n_notes] {
            let bytes = in_file(note, file).and_then(|_| notes.get_mut(..note.filesz as usize));
            let bytes =
                bytes.ok_or(Error::ElfMalformed { problem: "note segment too large or beyond the end of the file" })?;
            self.io.read_at(file.select, note.offset as u32, bytes)?;
            entry = entry.or(kernel::pvh_entry(bytes));
        }
        let entry = entry.ok_or(Error::ElfMalformed { problem: "no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)" })?;
        let mut ranges = [Range::default(); KERNEL_RANGES];
        let mut entry_in_segment = false;
        for (segment, range) in loads[..n_loads].iter().zip(&mut ranges).filter(|(s, _)| s.memsz > 0) {
            in_file(segment, file).ok_or(Error::ElfMalformed { problem: "segment beyond the end of the file" })?;
            let to = Range::from_len(segment.paddr, segment.memsz)
                .filter(|r| r.end <= 1 << 32 && segment.filesz <= segment.memsz)
                .ok_or(Error::ElfMalformed { problem: "segment size or address" })?;
            entry_in_segment |= to.start <= entry.into() && u64::from(entry) < to.end;
            *range = to;
        }
        if ranges.iter().all(Range::is_empty) {
            return Err(Error::ElfMalformed { problem: "no loadable segment" });
        }
        if !entry_in_segment {
            return Err(Error::PvhEntryOutsideKernel { entry });
        }
        Ok((KernelFormat::Pvh { entry }, ranges))
    }

    /// Copies each loadable segment of the PVH ELF in `file` to its address with one DMA and
    /// clears the rest of its memory (its span was checked to be RAM clear of everything else).
    pub(super) fn load_elf_segments(&mut self, file: File, head: &[u8; kernel::HEAD_BYTES]) -> Result<(), Error> {
        let malformed = Error::ElfMalformed { problem: "program headers" };
        let (loads, n_loads, _, _) = kernel::elf_segments::<MAX_SEGMENTS>(head).ok_or(malformed)?;
        for s in loads[..n_loads].iter().filter(|s| s.memsz > 0) {
            self.io.read_to_phys_at(file.select, s.offset as u32, s.paddr, s.filesz as u32)?;
            let bss = Range { start: s.paddr + s.filesz, end: s.paddr + s.memsz };
            if !bss.is_empty() {
                self.platform.phys(bss).fill(0);
            }
        }
        Ok(())
    }

    /// The command line: fw_cfg's `opt/org.pvhfw/cmdline`, else the incoming one; returns its
    /// length when it is beyond what Linux keeps on x86.
    fn chained_command_line(
        &mut self,
        file: Option<File>,
        incoming: &Incoming,
        buf: &mut [u8; CMDLINE_MAX],
    ) -> Result<Option<usize>, Error> {
        let len = match file {
            Some(file) => {
                let size = file.size as usize;
                let line = buf.get_mut(..size).filter(|_| size < CMDLINE_MAX);
                let line =
                    line.ok_or(Error::TooLarge { what: CMDLINE_FILE, size: size as u64, max: CMDLINE_MAX as u64 - 1 })?;
                self.io.read(file.select, line)?;
                // `-fw_cfg ...,string=` stores no NUL; a file may end in one, or a newline.
                line.iter().position(|&b| b == 0 || b == b'\n').unwrap_or(size)
            }
            None => {
                buf[..incoming.cmdline_len].copy_from_slice(incoming.cmdline());
                incoming.cmdline_len
            }
        };
        buf[len] = 0;
        Ok((len > super::LINUX_CMDLINE_MAX).then_some(len))
    }
}

/// `segment`'s bytes lie within `file`.
fn in_file(segment: &Segment, file: File) -> Option<()> {
    (segment.offset.checked_add(segment.filesz)? <= u64::from(file.size)).then_some(())
}

/// A bzImage: its protected-mode part (the file after `setup_sects` + 1 sectors) goes to 1 MiB.
fn bzimage_file(file: File, head: &[u8; kernel::HEAD_BYTES]) -> Result<(KernelFormat, [Range; KERNEL_RANGES]), Error> {
    let header = SetupHeader::parse(head)?;
    let sectors = match head[0x1f1] {
        0 => 4,
        n => u64::from(n),
    };
    let setup_len = (sectors + 1) * 512;
    let len = u64::from(file.size).checked_sub(setup_len).filter(|&l| l > 0);
    let len = len.ok_or(Error::BzImageHeaderTruncated { len: file.size.into() })?;
    let load = Range { start: BZIMAGE_LOAD, end: BZIMAGE_LOAD + len };
    let ranges = super::bzimage_ranges(&header, load)?;
    Ok((KernelFormat::BzImage { header, load }, kernel_ranges(&ranges)))
}
