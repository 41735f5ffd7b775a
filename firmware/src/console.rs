//! The console: COM1 and QEMU's debug console port.
//!
//! The functions are `#[inline]`: the boot is instantiated over these types in each
//! binary's crate, and only inline functions can be inlined there before link-time
//! optimisation, as the boot's instruction count relies on.

use x86_64::instructions::port::PortWriteOnly;

const COM1: u16 = 0x3f8;
const DEBUGCON: u16 = 0xe9;

/// COM1 and QEMU's debug console (`-debugcon`), written in parallel.
pub struct Console;

impl pvhfw::console::Console for Console {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut com1 = PortWriteOnly::<u8>::new(COM1);
        let mut debugcon = PortWriteOnly::<u8>::new(DEBUGCON);
        for &b in bytes {
            // SAFETY: the UART's transmit register and the debug console port accept any byte
            // and touch no memory; without a device behind them the write is dropped.
            unsafe {
                com1.write(b);
                debugcon.write(b);
            }
        }
    }
}
