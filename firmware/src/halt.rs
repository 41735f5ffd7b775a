//! The two ways the firmware stops: halting the CPU, or resetting the machine.
//!
//! `#[inline]`: `end::fail`, which calls them, is instantiated in each binary's crate, and only
//! inline functions can be inlined there before link-time optimisation.

use core::arch::asm;

/// Stops the CPU for good.
#[inline]
pub fn halt() -> ! {
    loop {
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
}

/// Resets the machine by triple fault, which works on every machine type (microvm has no
/// reset register): with an empty IDT no exception can be delivered.
#[inline]
pub fn reset() -> ! {
    let idt = x86_64::structures::DescriptorTablePointer { limit: 0, base: x86_64::VirtAddr::zero() };
    // SAFETY: interrupts are off; the only effect of the empty IDT is the intended shutdown.
    unsafe {
        x86_64::instructions::tables::lidt(&idt);
        asm!("int3", options(nomem, nostack));
    }
    halt()
}
