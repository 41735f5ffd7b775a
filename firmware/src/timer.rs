//! Waiting: the delay before `-boot reboot-timeout=` resets the machine.
//!
//! `#[inline]`: `end::fail`, which calls them, is instantiated in each binary's crate, and only
//! inline functions can be inlined there before link-time optimisation.

use x86_64::instructions::port::{Port, PortWriteOnly};

/// Busy-waits about `ms` milliseconds, then returns; never waits forever, whatever counts.
///
/// The timer is the local APIC's, the one every machine type has: `microvm` can switch off the
/// PIT (`pit=off`) and the RTC, and has no ACPI PM timer without ACPI; the TSC's rate is
/// unknown under TCG. QEMU's APIC and KVM's in-kernel one both count at 1 GHz divided by the
/// divide configuration (QEMU's `APIC_BUS_CYCLE_NS`, KVM's `APIC_BUS_CYCLE_NS_DEFAULT`). A CPU
/// without an APIC (`-cpu ...,-apic`) falls back to the PIT. Programming either timer is
/// harmless here: the machine is reset next.
#[inline]
pub fn delay_ms(ms: u32) {
    let ns = u64::from(ms) * 1_000_000;
    if core::arch::x86_64::__cpuid(1).edx & 1 << 9 == 0 {
        return delay_pit(ns);
    }
    let mut apic_base = x86_64::registers::model_specific::Msr::new(0x1b);
    // SAFETY: the CPU has an APIC (CPUID), so IA32_APIC_BASE exists; setting its global
    // enable bit (set at reset) only turns the APIC on, which nothing relies on being off.
    let base = unsafe {
        let v = apic_base.read();
        apic_base.write(v | 1 << 11);
        v & 0xf_ffff_f000
    };
    let reg = |offset: u64| (base + offset) as *mut u32;
    // SAFETY: the xAPIC registers below 4 GiB are identity-mapped MMIO; interrupts are off and
    // the timer's LVT entry is masked, so it raises nothing.
    unsafe {
        core::ptr::write_volatile(reg(0x3e0), 0xb); // divide by 1
        core::ptr::write_volatile(reg(0x320), 1 << 17 | 1 << 16 | 0xff); // periodic, masked
        core::ptr::write_volatile(reg(0x380), u32::MAX); // initial count: a period of 2^32
    }
    // SAFETY: reading the current-count register has no side effect.
    let count = || unsafe { core::ptr::read_volatile(reg(0x390)) };
    count_down(ns, || u64::from(count()), 32);
}

/// Busy-waits about `ns` nanoseconds on PIT channel 0 (1.193182 MHz), if there is a PIT.
#[inline]
fn delay_pit(ns: u64) {
    let mut command = PortWriteOnly::<u8>::new(0x43);
    let mut channel0 = Port::<u8>::new(0x40);
    // SAFETY: channel 0, lobyte/hibyte, mode 2, reload 65536; nothing else uses the PIT now.
    unsafe {
        command.write(0x34);
        channel0.write(0);
        channel0.write(0);
    }
    let count = || -> u64 {
        // SAFETY: latching and reading PIT channel 0 has no effect beyond the PIT.
        unsafe {
            command.write(0x00);
            u16::from_le_bytes([channel0.read(), channel0.read()]).into()
        }
    };
    count_down(ns / 838, count, 16);
}

/// Waits until a down-counter of `bits` bits that wraps at 2^bits has counted `ticks`, reading
/// it through `count` often enough not to miss a wrap. Gives up after 100 000 reads without a change: a timer that does not count must not hold the reset back.
fn count_down(ticks: u64, mut count: impl FnMut() -> u64, bits: u32) {
    let mask = (1u64 << bits) - 1;
    let (mut elapsed, mut stuck, mut last) = (0u64, 0u32, count());
    while elapsed < ticks && stuck < 100_000 {
        let now = count();
        let d = last.wrapping_sub(now) & mask;
        stuck = if d == 0 { stuck + 1 } else { 0 };
        elapsed += d;
        last = now;
    }
}
