//! pvhfw: boots Linux under QEMU straight from the reset vector, a PVH ELF or a bzImage.
//!
//! `reset.s` takes the CPU from real mode to 32-bit protected mode, `long_mode.s` on to long
//! mode and [`main`]; the boot logic is in the `pvhfw` library; `exit.s` enters the kernel: in
//! long mode for a bzImage's 64-bit entry, after dropping back to 32-bit protected mode for the
//! PVH and 32-bit Linux entries. (`elf.rs` is the same firmware entered through a PVH note.)
//! The hardware layer, with every `unsafe` block, is the `pvhfw_firmware` library beside this
//! file.
#![no_std]
#![no_main]

use core::arch::global_asm;
use pvhfw::boot::{Boot, DiskBoot};
use pvhfw::layout;
use pvhfw_firmware::console::Console;
use pvhfw_firmware::fw_cfg::FwCfg;
use pvhfw_firmware::platform::{self, Platform};
use pvhfw_firmware::{end, exit, gdt, paging};

global_asm!(
    include_str!("reset.s"),
    include_str!("long_mode.s"),
    main = sym main,
    page_directories = sym paging::PAGE_DIRECTORIES,
    pml4 = const layout::PML4,
    pdpt = const layout::PDPT,
    stack_top = const layout::STACK_TOP,
    code32 = const gdt::CODE32,
    code64 = const gdt::CODE64,
    data = const gdt::DATA,
    options(att_syntax),
);

extern "sysv64" fn main() -> ! {
    let mut con = Console;
    // DMA until a read shows otherwise (no fw_cfg at all: Error::NoFwCfg).
    let mut fw_cfg = FwCfg::Dma;
    let (handoff, scratch) = platform::firmware_ram();
    let mut platform = Platform;
    // RAM for the disk boot, used only without a kernel.
    let mut disk = DiskBoot::new(platform::disk_text());
    match Boot::new(&mut fw_cfg, &mut con, &mut platform).with_disk(&mut disk).prepare(
        handoff,
        layout::HANDOFF as u32,
        scratch,
    ) {
        Ok(kernel) => exit::enter(kernel),
        Err(e) => end::fail(&mut con, &mut fw_cfg, scratch, e),
    }
}
