//! How a boot that cannot go on ends, for both entries: the error, then a halt or a reset.

use crate::halt::{halt, reset};
use crate::timer::delay_ms;
use pvhfw::boot;
use pvhfw::console::{Console, Line};
use pvhfw::fw_cfg::FwCfgIo;
use pvhfw::scratch::Scratch;
use pvhfw::Error;

/// Reports `error`, then halts or, if `-boot reboot-timeout=` asks for it, resets after a wait.
///
/// Generic so that it is instantiated in the binary's crate, beside the boot: the two then share
/// one copy of the fw_cfg directory reader rather than each inlining its own.
pub fn fail(con: &mut impl Console, fw_cfg: &mut impl FwCfgIo, scratch: &mut Scratch, error: Error) -> ! {
    error.report(con);
    match boot::boot_fail_wait(fw_cfg, scratch) {
        Some(ms) => {
            Line::new(con).str("rebooting in ").dec(ms.into()).str(" ms").end();
            delay_ms(ms);
            reset()
        }
        None => {
            Line::new(con).str("halted").end();
            halt()
        }
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    let mut con = crate::console::Console;
    let mut line = Line::new(&mut con).str("internal error");
    if let Some(loc) = info.location() {
        line = line.str(" at ").str(loc.file()).str(":").dec(loc.line().into());
    }
    line.end();
    halt()
}
