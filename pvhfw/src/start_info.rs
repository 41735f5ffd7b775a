//! The PVH boot ABI's `hvm_start_info` (Xen's `arch-x86/hvm/start_info.h`), its module list
//! and memory map entries. The memory map's entries are also the form in which the boot builds
//! every kernel's map.

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
