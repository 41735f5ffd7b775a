//! A multiboot kernel (`crate::multiboot`): found when QEMU's kernel is neither a PVH ELF nor a
//! bzImage but comes with QEMU's multiboot information; loaded and described here, entered in
//! 32-bit protected mode with `EAX` = `0x2BADB002` and `EBX` = the information.

use super::kernel::{kernel_ranges, Kernel, Protocol, FIRMWARE_OWNED};
use super::memory::Initrd;
use super::{Boot, SetUp};
use crate::fw_cfg::{self, key, FwCfgIo};
use crate::handoff::Handoff;
use crate::layout::MP_TABLE;
use crate::multiboot::{self, Info, MmapEntry, INFO_SIZE, QEMU_INFO_ADDR};
use crate::platform::Platform;
use crate::start_info::MAX_MEMMAP;
use crate::{Error, Range};
use zerocopy::{FromBytes, FromZeros, IntoBytes};

/// Where in the handoff's first page (the zero page, which a multiboot kernel does not use)
/// the memory map follows the information structure.
const MMAP_OFFSET: usize = INFO_SIZE.next_multiple_of(8);
const _: () = assert!(MMAP_OFFSET + MAX_MEMMAP * size_of::<MmapEntry>() <= size_of::<crate::boot_params::BootParams>());

/// The BIOS data area's base memory size (KiB) and EBDA segment, which Xen reads before the
/// multiboot information to place its trampoline.
const BDA_EBDA_SEGMENT: u64 = 0x40e;
const BDA_BASE_MEMORY: u64 = 0x413;
/// The real-mode interrupt vector table (256 far pointers at 0) but for vector 0, the divide
/// error, whose byte 0 no Rust slice can start at.
const IVT: Range = Range { start: 4, end: 0x400 };
/// Where every vector points: `stc; retf 2`, a BIOS service that fails (carry set, the caller's
/// flags dropped so the carry stays). Kernels that ask the BIOS (Xen's real-mode start asks for
/// the memory map, disks and video) then fall back on the multiboot information instead of
/// running into zeros. In the MP table's reserved area, past what the MP table uses.
const FAILING_SERVICE: u64 = MP_TABLE.end - 16;
const FAILING_SERVICE_CODE: [u8; 4] = [0xf9, 0xca, 0x02, 0x00];

impl<F: FwCfgIo + ?Sized, P: Platform + ?Sized> Boot<'_, F, P> {
    /// The kernel item, if QEMU prepared it for its multiboot option ROM, and where it goes
    /// (nothing is loaded yet), checked to lie clear of the firmware; the entry must lie in
    /// it. Any other kernel pvhfw cannot boot. Out of line: only a kernel of no other format
    /// comes here (and read in `find_kernel`, it cost the `-kernel` boot instructions).
    #[inline(never)]
    pub(super) fn multiboot_kernel(&mut self) -> Result<Kernel, Error> {
        let addr = fw_cfg::read_u32(self.io, key::KERNEL_ADDR)?;
        let size = fw_cfg::read_u32(self.io, key::KERNEL_SIZE)?;
        let load = Range { start: addr.into(), end: u64::from(addr) + u64::from(size) };
        let info_size = fw_cfg::read_u32(self.io, key::INITRD_SIZE)?;
        let info_addr = fw_cfg::read_u32(self.io, key::INITRD_ADDR)?;
        if info_size as usize != INFO_SIZE || info_addr != QEMU_INFO_ADDR || load.is_empty() {
            return Err(Error::UnknownKernelFormat);
        }
        let entry = fw_cfg::read_u32(self.io, key::KERNEL_ENTRY)?;
        if load.end > 1 << 32 {
            return Err(Error::KernelAbove4G { start: load.start, end: load.end });
        }
        if !(load.start..load.end).contains(&u64::from(entry)) {
            return Err(Error::Multiboot { problem: "the entry lies outside the kernel" });
        }
        if let Some(l) = self.info() {
            l.str("multiboot kernel: ").hex(load.start).str("-").hex(load.end).str(", entry ").hex(entry.into()).end();
        }
        let protocol = Protocol::Multiboot { entry, image: load };
        let kernel = Kernel { protocol, ranges: kernel_ranges(&[load]), initrd: Initrd::None, file: None };
        kernel.check_clear_of(&FIRMWARE_OWNED)?;
        Ok(kernel)
    }

    /// Loads the kernel item to `image` (checked to be free RAM), checks QEMU's information
    /// against it and completes it in the handoff's first page, at `info_paddr`, with the
    /// memory map; sets the BIOS data area's memory figures to match. Returns where the
    /// information is. Out of line, as [`Self::multiboot_kernel`] is.
    #[inline(never)]
    pub(super) fn load_multiboot(
        &mut self,
        image: Range,
        set_up: &SetUp,
        handoff: &mut Handoff,
        info_paddr: u64,
    ) -> Result<u32, Error> {
        self.io.read_to_phys(key::KERNEL_DATA, image.start, (image.end - image.start) as u32)?;
        let mut info = Info::new_zeroed();
        self.io.read(key::INITRD_DATA, info.as_mut_bytes())?;
        multiboot::check(&info, self.platform.phys(image), image.start)
            .map_err(|error| Error::MultibootInfo { error })?;
        let page = handoff.boot_params.as_mut_bytes();
        let (head, rest) = page.split_at_mut(MMAP_OFFSET);
        let (mmap, _) = <[MmapEntry]>::mut_from_prefix_with_elems(rest, MAX_MEMMAP)
            .map_err(|_| Error::Multiboot { problem: "no room for the memory map" })?;
        let memmap = &handoff.memmap[..set_up.memmap_len];
        multiboot::complete(&mut info, memmap, mmap, (info_paddr + MMAP_OFFSET as u64) as u32);
        head[..INFO_SIZE].copy_from_slice(info.as_bytes());
        self.set_bios_data_area(multiboot::lower_memory_end(memmap));
        self.set_failing_bios_services();
        Ok(info_paddr as u32)
    }

    /// Points the real-mode interrupt vectors at [`FAILING_SERVICE`].
    fn set_failing_bios_services(&mut self) {
        let code = Range { start: FAILING_SERVICE, end: FAILING_SERVICE + FAILING_SERVICE_CODE.len() as u64 };
        self.platform.phys(code).copy_from_slice(&FAILING_SERVICE_CODE);
        let vector = ((FAILING_SERVICE >> 4) as u32) << 16 | (FAILING_SERVICE & 0xf) as u32;
        for entry in self.platform.phys(IVT).chunks_exact_mut(4) {
            entry.copy_from_slice(&vector.to_le_bytes());
        }
    }

    /// The BIOS data area's base memory size, and an EBDA where conventional memory ends (at
    /// the MP table at the latest), so a kernel that reads them agrees with `mem_lower`.
    fn set_bios_data_area(&mut self, lower_end: u64) {
        let end = lower_end.min(MP_TABLE.start);
        let bda = self.platform.phys(Range { start: BDA_EBDA_SEGMENT, end: BDA_BASE_MEMORY + 2 });
        bda[..2].copy_from_slice(&((end >> 4) as u16).to_le_bytes());
        let at = (BDA_BASE_MEMORY - BDA_EBDA_SEGMENT) as usize;
        bda[at..at + 2].copy_from_slice(&((end / 1024) as u16).to_le_bytes());
    }
}
