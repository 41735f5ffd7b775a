//! The exit to the kernel: `exit.s` and the entry each kernel format asks for.
//!
//! [`enter`] is `#[inline]`: each binary's `main` calls it, and only inline functions can be
//! inlined into another crate before link-time optimisation.

use crate::gdt;
use core::arch::global_asm;
use pvhfw::boot::KernelEntry;
use pvhfw::{layout, multiboot};

global_asm!(
    include_str!("exit.s"),
    stack_top = const layout::STACK_TOP,
    code32 = const gdt::CODE32,
    boot_cs = const gdt::BOOT_CS,
    boot_ds = const gdt::BOOT_DS,
    options(att_syntax),
);

extern "sysv64" {
    /// Leaves long mode and jumps to the 32-bit `entry` with `EBX` and `ESI` set, `EAX` = 0
    /// (exit.s).
    fn exit32(entry: u32, ebx: u32, esi: u32) -> !;
    /// The same with `EAX` = `eax` (exit.s).
    fn exit32_eax(entry: u32, ebx: u32, esi: u32, eax: u32) -> !;
    /// Jumps to Linux's 64-bit `entry` with `RSI` = `boot_params` (exit.s).
    fn linux64(entry: u64, boot_params: u64) -> !;
}

/// Enters the kernel the way its format asks.
#[inline]
pub fn enter(kernel: KernelEntry) -> ! {
    match kernel {
        // SAFETY: QEMU loaded the kernel and published its PVH entry; the start info and
        // everything it points to is in place, in RAM the memory map reserves.
        KernelEntry::Pvh { entry, start_info } => unsafe { exit32(entry, start_info, 0) },
        // SAFETY: the library loaded the bzImage's protected-mode part at the load address
        // (checked to be free RAM for its whole init_size) and filled boot_params, which with
        // the command line lies in reserved firmware RAM; all of it is identity-mapped.
        KernelEntry::Linux64 { entry, boot_params } => unsafe { linux64(entry, boot_params) },
        // SAFETY: as for the 64-bit entry; exit32 leaves long mode first.
        KernelEntry::Linux32 { entry, boot_params } => unsafe { exit32(entry, 0, boot_params) },
        // SAFETY: the library loaded QEMU's kernel item (kernel, modules and their list) to its
        // address, checked to be free RAM, checked every pointer of the multiboot information
        // against it and wrote the information, with its memory map, in reserved firmware RAM.
        KernelEntry::Multiboot { entry, info } => unsafe { exit32_eax(entry, info, 0, multiboot::BOOT_MAGIC) },
    }
}
