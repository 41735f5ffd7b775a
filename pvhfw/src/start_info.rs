//! The PVH boot ABI's `hvm_start_info` (Xen's `arch-x86/hvm/start_info.h`) and the area of
//! firmware RAM that holds it, the module list, the memory map and the command line.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `hvm_start_info.magic`: "xEn3" with the top bit of each byte cleared.
pub const MAGIC: u32 = 0x336e_c578;

/// `hvm_start_info`, version 1 (the version that carries a memory map).
#[repr(C)]
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Clone, Copy, Debug, Default)]
pub struct StartInfo {
    pub magic: u32,
    pub version: u32,
    pub flags: u32,
    pub nr_modules: u32,
    pub modlist_paddr: u64,
    pub cmdline_paddr: u64,
    pub rsdp_paddr: u64,
    pub memmap_paddr: u64,
    pub memmap_entries: u32,
    pub reserved: u32,
}
const _: () = assert!(core::mem::size_of::<StartInfo>() == 56);

/// `hvm_modlist_entry`.
#[repr(C)]
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Clone, Copy, Debug, Default)]
pub struct ModlistEntry {
    pub paddr: u64,
    pub size: u64,
    pub cmdline_paddr: u64,
    pub reserved: u64,
}
const _: () = assert!(core::mem::size_of::<ModlistEntry>() == 32);

/// `hvm_memmap_table_entry`; `kind` uses the e820 type numbers.
#[repr(C)]
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemmapEntry {
    pub addr: u64,
    pub size: u64,
    pub kind: u32,
    pub reserved: u32,
}
const _: () = assert!(core::mem::size_of::<MemmapEntry>() == 24);

/// Linux copies the memory map into a 128-slot array without checking; stay below that.
pub const MAX_MEMMAP: usize = 127;
/// Largest command line accepted, including its NUL (Linux itself keeps 2 KiB of it on x86).
pub const CMDLINE_MAX: usize = 64 * 1024;

/// Everything the kernel reads from firmware memory, in one block at a fixed physical address.
#[repr(C)]
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Handoff {
    /// First, so that the area's address is the start info's.
    pub start_info: StartInfo,
    pub _pad: u64,
    pub modlist: [ModlistEntry; 1],
    pub memmap: [MemmapEntry; MAX_MEMMAP],
    pub _pad2: [u8; 8],
    pub cmdline: [u8; CMDLINE_MAX],
}

const _: () = assert!(crate::layout::HANDOFF + size_of::<Handoff>() as u64 <= crate::layout::SCRATCH);

/// Physical addresses of the parts of a [`Handoff`] placed at `base`.
pub struct HandoffAddrs {
    pub modlist: u64,
    pub memmap: u64,
    pub cmdline: u64,
}

impl HandoffAddrs {
    pub fn at(base: u64) -> HandoffAddrs {
        use core::mem::offset_of;
        const _: () = assert!(offset_of!(Handoff, start_info) == 0);
        HandoffAddrs {
            modlist: base + offset_of!(Handoff, modlist) as u64,
            memmap: base + offset_of!(Handoff, memmap) as u64,
            cmdline: base + offset_of!(Handoff, cmdline) as u64,
        }
    }
}
