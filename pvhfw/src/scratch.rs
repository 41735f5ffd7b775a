//! Firmware RAM for reading and resolving fw_cfg data, at [`layout::SCRATCH`].

use crate::e820::{self, Regions};
use crate::{fw_cfg, kernel, layout, table_loader};
use zerocopy::{FromBytes, KnownLayout};

/// Size of [`Scratch::shared`]: the largest of its users, the loader script.
pub const SHARED_BYTES: usize = table_loader::MAX_SCRIPT;

/// Any contents are valid, so the firmware hands over uninitialised RAM: clearing it would
/// cost more instructions than the rest of the boot.
#[repr(C)]
#[derive(FromBytes, KnownLayout)]
pub struct Scratch {
    pub dir: [u8; fw_cfg::DIR_BYTES],
    pub kernel_head: [u8; kernel::HEAD_BYTES],
    pub e820: [u8; e820::MAX_INPUT * e820::RAW_ENTRY],
    pub regions: Regions,
    /// Shared, one user at a time, in the order the boot runs: a chained ELF's note segments
    /// (read before the tables), QEMU's loader script (until the tables are placed), then the
    /// rebuilt `setup_data` list (which the kernel reads there: the memory map reserves the firmware's RAM).
    pub shared: [u8; SHARED_BYTES],
}
const _: () = assert!(layout::SCRATCH + size_of::<Scratch>() as u64 <= layout::STACK_BOTTOM);
