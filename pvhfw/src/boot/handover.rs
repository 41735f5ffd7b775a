//! The handover: the command line, then what the kernel is told, in the firmware's
//! [`Handoff`] block: `hvm_start_info` for a PVH kernel; `boot_params`, with the `setup_data`
//! list rebuilt in firmware memory, for a bzImage.

use super::kernel::{Kernel, Protocol};
use super::{Boot, KernelEntry, SetUp};
use crate::boot_params;
use crate::bzimage::{self, SetupHeader};
use crate::console::Line;
use crate::fw_cfg::{self, key, FwCfgIo};
use crate::handoff::{Handoff, HandoffAddrs, CMDLINE_MAX};
use crate::kernel;
use crate::platform::Platform;
use crate::scratch::{Scratch, SHARED_BYTES};
use crate::setup_data;
use crate::start_info::{StartInfo, MAGIC};
use crate::{Error, Range};

/// The longest command line Linux keeps on x86 (`COMMAND_LINE_SIZE` 2048, with its NUL).
pub(super) const LINUX_CMDLINE_MAX: usize = 2047;

impl<F: FwCfgIo + ?Sized, P: Platform + ?Sized> Boot<'_, F, P> {
    /// The last steps for either entry: load the kernel if QEMU has not, and describe
    /// everything in the handover its boot protocol asks for.
    pub(super) fn hand_over(
        &mut self,
        kernel: &Kernel,
        set_up: &SetUp,
        too_long: Option<usize>,
        handoff: &mut Handoff,
        handoff_paddr: u32,
        scratch: &mut Scratch,
    ) -> Result<KernelEntry, Error> {
        let addrs = HandoffAddrs::at(handoff_paddr.into());
        let entry = match kernel.protocol {
            Protocol::Pvh { entry } => {
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
            Protocol::Linux { header, load } => {
                self.load_bzimage(load, kernel.file)?;
                self.phase("kernel");
                // setup_data comes with QEMU's -kernel (-dtb) only.
                let setup_data = match kernel.file {
                    None => self.rebuild_setup_data(&header, load, &mut scratch.shared)?,
                    Some(_) => 0,
                };
                self.describe_linux(handoff, &addrs, set_up, &scratch.kernel_head, setup_data)?;
                linux_entry(header.entry()?, load.start, addrs.boot_params)
            }
            Protocol::Multiboot { entry, image } => {
                let info = self.load_multiboot(image, set_up, handoff, addrs.boot_params)?;
                self.phase("kernel");
                KernelEntry::Multiboot { entry, info }
            }
        };
        self.announce(entry);
        self.phase("jump");
        self.print_timeline();
        Ok(entry)
    }

    /// Copies the command line byte for byte, NUL-terminated (empty if QEMU has none).
    ///
    /// With DMA, one read of up to Linux's own limit usually does it (QEMU zero-fills past an
    /// item's end, so a window that ends in a NUL holds the whole line, terminated); longer
    /// lines, and the port interface, take the size first.
    /// Returns the line's length when it is beyond what Linux keeps on x86 (2047 bytes).
    pub(super) fn command_line(&mut self, buf: &mut [u8; CMDLINE_MAX]) -> Result<Option<usize>, Error> {
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

    pub(super) fn warn_long_command_line(&mut self, len: usize) {
        Line::new(self.con)
            .str("warning: command line of ")
            .dec(len as u64)
            .str(" bytes is longer than the ")
            .dec(LINUX_CMDLINE_MAX as u64)
            .str(" Linux takes on x86; the kernel may stop silently")
            .end();
    }

    /// With `info` logging, where the kernel is entered and what it gets.
    pub(super) fn announce(&mut self, entry: KernelEntry) {
        let Some(l) = self.info() else { return };
        let (what, at, data) = match entry {
            KernelEntry::Pvh { entry, start_info } => ("PVH kernel", entry.into(), start_info.into()),
            KernelEntry::Linux64 { entry, boot_params } => ("64-bit Linux", entry, boot_params),
            KernelEntry::Linux32 { entry, boot_params } => ("32-bit Linux", entry.into(), boot_params.into()),
            KernelEntry::Multiboot { entry, info } => ("multiboot kernel", entry.into(), info.into()),
        };
        let handover = match entry {
            KernelEntry::Pvh { .. } => "start info",
            KernelEntry::Multiboot { .. } => "multiboot information",
            _ => "boot_params",
        };
        l.str("entering ").str(what).str(" at ").hex(at).str(", ").str(handover).str(" at ").hex(data).end();
    }

    /// The `setup_data` list QEMU may have appended to the kernel (`-dtb`), copied into
    /// `room` (the shared scratch area, free once the tables are placed, and reserved) with new
    /// links, so that nothing of it depends on where QEMU put it. Returns the new head.
    pub(super) fn rebuild_setup_data(
        &mut self,
        header: &SetupHeader,
        load: Range,
        room: &mut [u8; SHARED_BYTES],
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
        let room_paddr = crate::layout::SCRATCH + core::mem::offset_of!(Scratch, shared) as u64;
        let (head, _) = setup_data::rebuild(header.setup_data(), &mut read, room, room_paddr)?;
        Ok(head)
    }

    /// The Linux handover: `boot_params` with QEMU's header, the memory map, the command
    /// line, the initrd, the RSDP and the rebuilt `setup_data`.
    pub(super) fn describe_linux(
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
}

/// The PVH handover: `hvm_start_info` pointing at the module list, the memory map and the
/// command line, all in `handoff` at `addrs`.
pub(super) fn describe_pvh(handoff: &mut Handoff, addrs: &HandoffAddrs, set_up: &SetUp) {
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

/// How a bzImage is entered: its 64-bit entry, or its 32-bit one, with `boot_params`.
pub(super) fn linux_entry(entry: bzimage::Entry, load: u64, boot_params: u64) -> KernelEntry {
    match entry {
        bzimage::Entry::Bits64 => KernelEntry::Linux64 { entry: entry.address(load), boot_params },
        // QEMU's KERNEL_ADDR and the handoff are below 4 GiB, so the casts keep every bit.
        bzimage::Entry::Bits32 => {
            KernelEntry::Linux32 { entry: entry.address(load) as u32, boot_params: boot_params as u32 }
        }
    }
}
