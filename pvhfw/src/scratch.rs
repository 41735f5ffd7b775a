//! Firmware RAM for reading and resolving fw_cfg data, at [`layout::SCRATCH`].

use crate::e820::{self, Regions};
use crate::{fw_cfg, kernel, layout, table_loader};
use zerocopy::{FromBytes, KnownLayout};

/// Any contents are valid, so the firmware hands over uninitialised RAM: clearing it would
/// cost more instructions than the rest of the boot.
#[repr(C)]
#[derive(FromBytes, KnownLayout)]
pub struct Scratch {
    pub dir: [u8; fw_cfg::DIR_BYTES],
    pub kernel_head: [u8; kernel::HEAD_BYTES],
    pub e820: [u8; e820::MAX_INPUT * e820::RAW_ENTRY],
    pub regions: Regions,
    pub loader: [u8; table_loader::MAX_SCRIPT],
}
const _: () = assert!(layout::SCRATCH + size_of::<Scratch>() as u64 <= layout::STACK_BOTTOM);
