//! Waiting: the delay before `-boot reboot-timeout=` resets the machine, on the local APIC's
//! timer or the PIT; the count-down itself is the library's (`pvhfw::timer`).
//!
//! `#[inline]`: `end::fail`, which calls them, is instantiated in each binary's crate, and only
//! inline functions can be inlined there before link-time optimisation.

use pvhfw::timer::count_down;
use x86_64::instructions::port::{Port, PortWriteOnly};
use x86_64::registers::model_specific::Msr;

/// CPUID leaf 1, EDX: the CPU has a local APIC.
const CPUID_1_EDX_APIC: u32 = 1 << 9;
/// IA32_APIC_BASE: the local APIC's physical base and its global enable bit.
const IA32_APIC_BASE: u32 = 0x1b;
const APIC_BASE_ENABLE: u64 = 1 << 11;
const APIC_BASE_ADDRESS: u64 = 0xf_ffff_f000;
/// The local APIC's timer registers (xAPIC MMIO, offsets from its base).
const APIC_LVT_TIMER: u64 = 0x320;
const APIC_TIMER_INITIAL_COUNT: u64 = 0x380;
const APIC_TIMER_CURRENT_COUNT: u64 = 0x390;
const APIC_TIMER_DIVIDE: u64 = 0x3e0;
/// Divide configuration: divide by 1.
const APIC_DIVIDE_BY_1: u32 = 0xb;
/// LVT timer entry: periodic (bit 17), masked (bit 16), vector 0xFF.
const APIC_LVT_PERIODIC_MASKED: u32 = 1 << 17 | 1 << 16 | 0xff;

/// The PIT's channel 0 data port and its mode/command register.
const PIT_CHANNEL0: u16 = 0x40;
const PIT_COMMAND: u16 = 0x43;
/// Command: channel 0, low byte then high byte, mode 2 (rate generator), binary.
const PIT_CHANNEL0_RATE: u8 = 0x34;
/// Command: latch channel 0's count for reading.
const PIT_CHANNEL0_LATCH: u8 = 0x00;
/// Nanoseconds per PIT tick (1.193182 MHz), rounded down.
const PIT_TICK_NS: u64 = 838;

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
    if core::arch::x86_64::__cpuid(1).edx & CPUID_1_EDX_APIC == 0 {
        return delay_pit(ns);
    }
    let mut apic_base = Msr::new(IA32_APIC_BASE);
    // SAFETY: the CPU has an APIC (CPUID), so IA32_APIC_BASE exists; setting its global
    // enable bit (set at reset) only turns the APIC on, which nothing relies on being off.
    let base = unsafe {
        let v = apic_base.read();
        apic_base.write(v | APIC_BASE_ENABLE);
        v & APIC_BASE_ADDRESS
    };
    let reg = |offset: u64| (base + offset) as *mut u32;
    // SAFETY: the xAPIC registers below 4 GiB are identity-mapped MMIO; interrupts are off and
    // the timer's LVT entry is masked, so it raises nothing.
    unsafe {
        core::ptr::write_volatile(reg(APIC_TIMER_DIVIDE), APIC_DIVIDE_BY_1);
        core::ptr::write_volatile(reg(APIC_LVT_TIMER), APIC_LVT_PERIODIC_MASKED);
        core::ptr::write_volatile(reg(APIC_TIMER_INITIAL_COUNT), u32::MAX); // a period of 2^32
    }
    // SAFETY: reading the current-count register has no side effect.
    let count = || unsafe { core::ptr::read_volatile(reg(APIC_TIMER_CURRENT_COUNT)) };
    count_down(ns, || u64::from(count()), 32);
}

/// Busy-waits about `ns` nanoseconds on PIT channel 0 (1.193182 MHz), if there is a PIT.
#[inline]
fn delay_pit(ns: u64) {
    let mut command = PortWriteOnly::<u8>::new(PIT_COMMAND);
    let mut channel0 = Port::<u8>::new(PIT_CHANNEL0);
    // SAFETY: channel 0, lobyte/hibyte, mode 2, reload 65536; nothing else uses the PIT now.
    unsafe {
        command.write(PIT_CHANNEL0_RATE);
        channel0.write(0);
        channel0.write(0);
    }
    let count = || -> u64 {
        // SAFETY: latching and reading PIT channel 0 has no effect beyond the PIT.
        unsafe {
            command.write(PIT_CHANNEL0_LATCH);
            u16::from_le_bytes([channel0.read(), channel0.read()]).into()
        }
    };
    count_down(ns / PIT_TICK_NS, count, 16);
}
