//! Where the firmware keeps its state in RAM.
//!
//! Everything the firmware writes lives in one low-memory window, below the 640 KiB
//! conventional-memory limit and far below where kernels load (1 MiB and up). The window is
//! reserved in the memory map handed to the kernel so the start info, memory map and command
//! line survive until the kernel has read them. The code itself executes in place from the ROM
//! mapping just below 4 GiB and is never copied.

use crate::boot::Scratch;
use crate::start_info::HandoffArea;
use crate::Range;

/// Long-mode PML4; only entry 0 is used (identity map of the first 512 GiB).
pub const PML4: u64 = 0x1000;
/// Page-directory-pointer table; entries 0..4 point at the four ROM page directories that
/// identity-map the first 4 GiB with 2 MiB pages.
pub const PDPT: u64 = 0x2000;
/// The [`HandoffArea`]: start info, module list, memory map and command line.
pub const HANDOFF: u64 = 0x3000;
/// [`Scratch`]: fw_cfg directory and memory-map working space.
pub const SCRATCH: u64 = 0x14000;
/// The firmware stack grows down from here.
pub const STACK_TOP: u64 = 0x20000;
/// Lowest address the stack may reach.
pub const STACK_BOTTOM: u64 = 0x1c000;

/// Everything the firmware writes before the kernel runs.
pub const FIRMWARE_RAM: Range = Range { start: PML4, end: STACK_TOP };

const _: () = assert!(PDPT == PML4 + 0x1000);
const _: () = assert!(HANDOFF >= PDPT + 0x1000);
const _: () = assert!(HANDOFF + core::mem::size_of::<HandoffArea>() as u64 <= SCRATCH);
const _: () = assert!(SCRATCH + core::mem::size_of::<Scratch>() as u64 <= STACK_BOTTOM);
const _: () = assert!(STACK_TOP - STACK_BOTTOM >= 16 * 1024);
// Below the EBDA / VGA hole, so it is plain RAM on every machine type.
const _: () = assert!(FIRMWARE_RAM.end <= 0x9_f000);
