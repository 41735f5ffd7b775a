//! The block of firmware RAM, at a fixed physical address, that holds everything the kernel
//! reads from the firmware: `boot_params` for a bzImage, or `hvm_start_info` with its module
//! list and memory map for a PVH kernel, and the command line.

use crate::boot_params::BootParams;
use crate::start_info::{MemmapEntry, ModlistEntry, StartInfo, MAX_MEMMAP};
use core::mem::offset_of;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Largest command line accepted, including its NUL (Linux itself keeps 2 KiB of it on x86;
/// a bzImage says its own limit in `cmdline_size`).
pub const CMDLINE_MAX: usize = 60 * 1024;

#[repr(C)]
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Handoff {
    /// First, so that it is page-aligned like the zero page it is named after.
    pub boot_params: BootParams,
    pub start_info: StartInfo,
    pub _pad: u64,
    pub modlist: [ModlistEntry; 1],
    pub memmap: [MemmapEntry; MAX_MEMMAP],
    pub _pad2: [u8; 8],
    pub cmdline: [u8; CMDLINE_MAX],
}
const _: () = assert!(crate::layout::HANDOFF + size_of::<Handoff>() as u64 <= crate::layout::SCRATCH);
const _: () = assert!(crate::layout::HANDOFF.is_multiple_of(4096));

/// Physical addresses of the parts of a [`Handoff`] placed at `base`.
pub struct HandoffAddrs {
    pub boot_params: u64,
    pub start_info: u64,
    pub modlist: u64,
    pub memmap: u64,
    pub cmdline: u64,
}

impl HandoffAddrs {
    pub fn at(base: u64) -> HandoffAddrs {
        HandoffAddrs {
            boot_params: base + offset_of!(Handoff, boot_params) as u64,
            start_info: base + offset_of!(Handoff, start_info) as u64,
            modlist: base + offset_of!(Handoff, modlist) as u64,
            memmap: base + offset_of!(Handoff, memmap) as u64,
            cmdline: base + offset_of!(Handoff, cmdline) as u64,
        }
    }
}
