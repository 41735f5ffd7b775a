//! pvhfw: boots Linux under QEMU straight from the reset vector, a PVH ELF or a bzImage.
//!
//! `reset.s` takes the CPU from real mode to long mode and calls [`main`]; the boot logic is in
//! the `pvhfw` library; `exit.s` enters the kernel: in long mode for a bzImage's 64-bit entry,
//! after dropping back to 32-bit protected mode for the PVH and 32-bit Linux entries.
//! Every `unsafe` block is in [`hw`], the hardware layer.
#![no_std]
#![no_main]
#![deny(clippy::undocumented_unsafe_blocks)]

mod hw;
mod paging;

use core::arch::global_asm;
use pvhfw::boot::{self, Boot};
use pvhfw::console::Line;
use pvhfw::layout;
use pvhfw::scratch::Scratch;
use pvhfw::Error;

global_asm!(
    include_str!("reset.s"),
    main = sym main,
    page_directories = sym paging::PAGE_DIRECTORIES,
    pml4 = const layout::PML4,
    pdpt = const layout::PDPT,
    stack_top = const layout::STACK_TOP,
    options(att_syntax),
);

extern "sysv64" fn main() -> ! {
    let mut con = hw::Console;
    // DMA until a read shows otherwise (no fw_cfg at all: Error::NoFwCfg).
    let mut fw_cfg = hw::FwCfg::Dma;
    let (handoff, scratch) = hw::firmware_ram();
    let mut platform = hw::Platform;
    match Boot::new(&mut fw_cfg, &mut con, &mut platform).prepare(handoff, layout::HANDOFF as u32, scratch) {
        Ok(kernel) => hw::enter(kernel),
        Err(e) => fail(&mut con, &mut fw_cfg, scratch, e),
    }
}

/// Reports `error`, then halts or, if `-boot reboot-timeout=` asks for it, resets after a wait.
fn fail(con: &mut hw::Console, fw_cfg: &mut hw::FwCfg, scratch: &mut Scratch, error: Error) -> ! {
    error.report(con);
    match boot::boot_fail_wait(fw_cfg, scratch) {
        Some(ms) => {
            Line::new(con).str("rebooting in ").dec(ms.into()).str(" ms").end();
            hw::delay_ms(ms);
            hw::reset()
        }
        None => {
            Line::new(con).str("halted").end();
            hw::halt()
        }
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    let mut con = hw::Console;
    let mut line = Line::new(&mut con).str("internal error");
    if let Some(loc) = info.location() {
        line = line.str(" at ").str(loc.file()).str(":").dec(loc.line().into());
    }
    line.end();
    hw::halt()
}
