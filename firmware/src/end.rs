//! How a boot that cannot go on ends, for both entries: the error, then a halt or a reset.

use crate::hw;
use pvhfw::boot;
use pvhfw::console::Line;
use pvhfw::scratch::Scratch;
use pvhfw::Error;

/// Reports `error`, then halts or, if `-boot reboot-timeout=` asks for it, resets after a wait.
pub fn fail(con: &mut hw::Console, fw_cfg: &mut hw::FwCfg, scratch: &mut Scratch, error: Error) -> ! {
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
