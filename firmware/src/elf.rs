//! pvhfw.elf: the same firmware as a PVH guest, for setups where the reset vector belongs to
//! another firmware (SeaBIOS with QEMU's PVH option ROM, qboot) or to none.
//!
//! `pvh.s` is entered through the ELF's PVH note with the incoming start info in `EBX`;
//! `long_mode.s` goes on to long mode and [`main`] with page tables and a stack inside the
//! image (`linker-elf.ld`), so nothing of the previous stage's is overwritten before the start
//! info is copied. The kernel comes from fw_cfg (`opt/org.pvhfw/kernel`).
#![no_std]
#![no_main]

use core::arch::global_asm;
use pvhfw::boot::{Boot, DiskBoot, Incoming};
use pvhfw::layout;
use pvhfw_firmware::console::Console;
use pvhfw_firmware::fw_cfg::FwCfg;
use pvhfw_firmware::platform::{self, Platform};
use pvhfw_firmware::{end, exit, gdt, paging};

extern "C" {
    /// Two pages for the PML4 and PDPT, and the top of the stack, in the image's .bss
    /// (`linker-elf.ld`).
    static elf_pml4: [u64; 512];
    static elf_pdpt: [u64; 512];
    static elf_stack_top: u8;
}

global_asm!(
    include_str!("pvh.s"),
    include_str!("long_mode.s"),
    main = sym main,
    page_directories = sym paging::PAGE_DIRECTORIES,
    pml4 = sym elf_pml4,
    pdpt = sym elf_pdpt,
    stack_top = sym elf_stack_top,
    code32 = const gdt::CODE32,
    code64 = const gdt::CODE64,
    data = const gdt::DATA,
    options(att_syntax),
);

extern "sysv64" fn main(start_info: u32) -> ! {
    let mut con = Console;
    let mut fw_cfg = FwCfg::Dma;
    let mut platform = Platform;
    // RAM for the disk boot, used only without a kernel.
    let mut disk = DiskBoot::new(platform::disk_text());
    // First, before the firmware's low-RAM window is written: the start info may be there.
    let incoming = Incoming::read(start_info.into(), &mut platform::read_phys);
    let (handoff, scratch) = platform::firmware_ram();
    let result = incoming.and_then(|incoming| {
        Boot::new(&mut fw_cfg, &mut con, &mut platform).with_disk(&mut disk).prepare_chained(
            &incoming,
            handoff,
            layout::HANDOFF as u32,
            scratch,
        )
    });
    match result {
        Ok(kernel) => exit::enter(kernel),
        Err(e) => end::fail(&mut con, &mut fw_cfg, scratch, e),
    }
}
