//! The segment selectors of the firmware's two GDTs, given to the assembly as `const` operands.
//!
//! `long_mode.s`'s GDT is the one the firmware runs on from the first far jump (`reset.s`,
//! `pvh.s`) to the kernel: `CODE32` for 32-bit protected mode, `CODE64` for long mode, `DATA`
//! for every data segment. `exit.s`'s GDT is the one a 32-bit kernel entry is left with.

/// Flat 32-bit code, in both GDTs (`exit.s` returns to 32-bit mode on it before it switches
/// GDTs).
pub const CODE32: u16 = 0x08;
/// Long-mode code.
pub const CODE64: u16 = 0x10;
/// Flat read/write data.
pub const DATA: u16 = 0x18;

/// What Linux's boot protocols ask for: `__BOOT_CS`, flat code (32-bit in `exit.s`'s GDT), and
/// `__BOOT_DS`, flat read/write data. The PVH ABI only asks for flat segments.
pub const BOOT_CS: u16 = 0x10;
pub const BOOT_DS: u16 = 0x18;

// The 64-bit boot protocol is entered on the firmware's own segments, as it runs.
const _: () = assert!(CODE64 == BOOT_CS && DATA == BOOT_DS);
