//! The hardware layer: every port access and raw memory access of the firmware is here.
//!
//! The machine is one CPU with interrupts off, identity-mapped memory and nothing else
//! running, so port I/O has no concurrency to guard against; each `unsafe` block says what
//! else it relies on.
//!
//! The functions are `#[inline]` (all but the cold fallbacks): the boot is instantiated over
//! these types in each binary's crate, and only inline functions can be inlined there before
//! link-time optimisation, as the boot's instruction count relies on.

use crate::gdt;
use core::arch::{asm, global_asm};
use core::sync::atomic::{compiler_fence, Ordering};
use pvhfw::boot::KernelEntry;
use pvhfw::fw_cfg::{self, key, DmaAccess, FwCfgIo};
use pvhfw::handoff::Handoff;
use pvhfw::layout;
use pvhfw::platform::PciFn;
use pvhfw::scratch::Scratch;
use pvhfw::{Error, Range};
use x86_64::instructions::port::{Port, PortReadOnly, PortWriteOnly};

global_asm!(
    include_str!("exit.s"),
    stack_top = const layout::STACK_TOP,
    code32 = const gdt::CODE32,
    boot_cs = const gdt::BOOT_CS,
    boot_ds = const gdt::BOOT_DS,
    options(att_syntax),
);

extern "sysv64" {
    /// Leaves long mode and jumps to the 32-bit `entry` with `EBX` and `ESI` set (exit.s).
    fn exit32(entry: u32, ebx: u32, esi: u32) -> !;
    /// Jumps to Linux's 64-bit `entry` with `RSI` = `boot_params` (exit.s).
    fn linux64(entry: u64, boot_params: u64) -> !;
}

/// The firmware's two fixed windows of low RAM: the handoff area and scratch. Called once, by
/// `main`, so the two references are the only ones.
#[inline]
pub fn firmware_ram() -> (&'static mut Handoff, &'static mut Scratch) {
    // SAFETY: layout::HANDOFF is firmware-owned RAM (identity-mapped, below the stack, never
    // aliased: this is its only reference), and every bit pattern is a valid Handoff, so stale
    // contents are harmless.
    let handoff = unsafe { &mut *(layout::HANDOFF as *mut Handoff) };
    // SAFETY: as above, for the separate layout::SCRATCH window (start_info.rs and scratch.rs
    // assert that the two do not overlap each other or the stack).
    let scratch = unsafe { &mut *(layout::SCRATCH as *mut Scratch) };
    (handoff, scratch)
}

/// Copies physical memory at `paddr` into `buf` (what a previous stage handed `pvhfw.elf`):
/// false unless the range lies below the APIC and IOAPIC MMIO at 0xFEC00000, in the
/// identity map.
#[inline]
pub fn read_phys(paddr: u64, buf: &mut [u8]) -> bool {
    let ok = paddr.checked_add(buf.len() as u64).is_some_and(|end| end <= 0xfec0_0000);
    if ok {
        // SAFETY: the range is identity-mapped (the first 4 GiB are) and below the interrupt
        // controllers' MMIO; it is only read, into a buffer the caller owns. What it holds is
        // untrusted and parsed by the library.
        unsafe { core::ptr::copy_nonoverlapping(paddr as *const u8, buf.as_mut_ptr(), buf.len()) }
    }
    ok
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
    }
}

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

/// fw_cfg, through DMA when QEMU offers it, else through the byte-wide data port.
///
/// DMA is assumed rather than probed, which would cost a VM exit: every machine type of the
/// last years has it. Without the DMA registers the port write goes nowhere and the descriptor
/// comes back untouched, so a failed read falls back to the port interface, if its "QEMU"
/// signature answers (a DMA read that fails for another reason is then simply redone there).
#[derive(Clone, Copy)]
pub enum FwCfg {
    Dma,
    Ports,
}

impl FwCfg {
    /// After a failed DMA read: the port interface from now on, if there is one.
    #[inline]
    fn without_dma(&mut self) -> Result<(), Error> {
        let mut sig = [0u8; 4];
        FwCfg::Ports.read(key::SIGNATURE, &mut sig)?;
        if sig != *b"QEMU" {
            return Err(Error::NoFwCfg);
        }
        *self = FwCfg::Ports;
        Ok(())
    }

    /// Out of line, like the next: the DMA path stays a small inlined call.
    #[cold]
    #[inline(never)]
    fn read_without_dma(&mut self, key: u16, buf: &mut [u8]) -> Result<(), Error> {
        self.without_dma()?;
        self.read(key, buf)
    }

    #[cold]
    #[inline(never)]
    fn read_to_phys_without_dma(&mut self, key: u16, paddr: u64, len: u32) -> Result<(), Error> {
        self.without_dma()?;
        self.read_to_phys(key, paddr, len)
    }

    /// Selects `key` and moves its cursor to byte `offset`: one DMA, or reading past the bytes.
    #[inline]
    fn select_at(&self, key: u16, offset: u32) -> Result<(), Error> {
        match self {
            FwCfg::Dma => dma(DmaAccess::select_skip(key, offset), key),
            FwCfg::Ports => {
                FwCfg::select(key);
                (0..offset).for_each(|_| _ = FwCfg::data_byte());
                Ok(())
            }
        }
    }

    /// Copies the selected item's next `len` bytes from the data port to physical memory at
    /// `paddr`, one port read a byte.
    #[inline]
    fn data_to_phys(paddr: u64, len: u32) {
        for i in 0..u64::from(len) {
            // SAFETY: every caller (read_to_phys, read_to_phys_at) has [paddr, paddr + len)
            // checked by the library to be RAM below 4 GiB that holds neither the firmware nor
            // the kernel; it is identity-mapped.
            unsafe { core::ptr::write_volatile((paddr + i) as *mut u8, FwCfg::data_byte()) }
        }
    }

    #[inline]
    fn select(key: u16) {
        // SAFETY: selecting an item only changes fw_cfg's internal cursor.
        unsafe { PortWriteOnly::<u16>::new(fw_cfg::PORT_SELECTOR).write(key) }
    }

    #[inline]
    fn data_byte() -> u8 {
        // SAFETY: reading the data port only advances fw_cfg's cursor.
        unsafe { PortReadOnly::<u8>::new(fw_cfg::PORT_DATA).read() }
    }
}

/// One DMA transfer, synchronous: QEMU completes it before the port write returns.
#[inline]
fn dma(mut desc: DmaAccess, key: u16) -> Result<(), Error> {
    let desc_addr = core::ptr::addr_of_mut!(desc) as u64;
    compiler_fence(Ordering::SeqCst);
    // SAFETY: the descriptor is on the stack, in identity-mapped RAM below 4 GiB (so writing
    // only the low address half is enough), and lives until QEMU has finished. Its buffer is
    // one the caller owns (a Rust buffer, or a range the library checked to be free RAM). The
    // asm is not `nomem` (unlike x86_64's Port), so the compiler assumes memory changed.
    unsafe {
        asm!("out dx, eax", in("dx") fw_cfg::PORT_DMA_LOW, in("eax") (desc_addr as u32).swap_bytes(),
             options(nostack, preserves_flags));
    }
    compiler_fence(Ordering::SeqCst);
    // SAFETY: `desc` is a live local; the volatile read sees what QEMU wrote back.
    let control = unsafe { core::ptr::read_volatile(core::ptr::addr_of!(desc.control)) };
    DmaAccess::check(control.get(), key)
}

#[inline]
fn dma_read(key: u16, address: u64, length: u32) -> Result<(), Error> {
    dma(DmaAccess::select_read(key, length, address), key)
}

impl FwCfgIo for FwCfg {
    #[inline]
    fn read(&mut self, key: u16, buf: &mut [u8]) -> Result<(), Error> {
        match self {
            FwCfg::Dma => match dma_read(key, buf.as_mut_ptr() as u64, buf.len() as u32) {
                Ok(()) => Ok(()),
                Err(_) => self.read_without_dma(key, buf),
            },
            FwCfg::Ports => {
                FwCfg::select(key);
                buf.iter_mut().for_each(|b| *b = FwCfg::data_byte());
                Ok(())
            }
        }
    }

    #[inline]
    fn read_at(&mut self, key: u16, offset: u32, buf: &mut [u8]) -> Result<(), Error> {
        self.select_at(key, offset)?;
        match self {
            FwCfg::Dma => dma(DmaAccess::read(buf.len() as u32, buf.as_mut_ptr() as u64), key),
            FwCfg::Ports => {
                buf.iter_mut().for_each(|b| *b = FwCfg::data_byte());
                Ok(())
            }
        }
    }

    #[inline]
    fn read_to_phys_at(&mut self, key: u16, offset: u32, paddr: u64, len: u32) -> Result<(), Error> {
        self.select_at(key, offset)?;
        match self {
            FwCfg::Dma => dma(DmaAccess::read(len, paddr), key),
            FwCfg::Ports => {
                FwCfg::data_to_phys(paddr, len);
                Ok(())
            }
        }
    }

    #[inline]
    fn has_dma(&self) -> bool {
        matches!(self, FwCfg::Dma)
    }

    #[inline]
    fn write(&mut self, key: u16, offset: u32, data: &[u8]) -> Result<(), Error> {
        let FwCfg::Dma = self else { return Err(Error::FwCfgWriteNeedsDma { key }) };
        let (address, len) = (data.as_ptr() as u64, data.len() as u32);
        if offset == 0 {
            return dma(DmaAccess::write(Some(key), len, address), key);
        }
        dma(DmaAccess::select_skip(key, offset), key)?;
        dma(DmaAccess::write(None, len, address), key)
    }

    #[inline]
    fn read_to_phys(&mut self, key: u16, paddr: u64, len: u32) -> Result<(), Error> {
        match self {
            FwCfg::Dma => match dma_read(key, paddr, len) {
                Ok(()) => Ok(()),
                Err(_) => self.read_to_phys_without_dma(key, paddr, len),
            },
            FwCfg::Ports => {
                FwCfg::select(key);
                FwCfg::data_to_phys(paddr, len);
                Ok(())
            }
        }
    }
}

/// PCI configuration space (ports 0xCF8/0xCFC), physical memory, CPUID and the TSC.
pub struct Platform;

const PCI_ADDRESS: u16 = 0xcf8;
const PCI_DATA: u16 = 0xcfc;

impl pvhfw::platform::PciConfig for Platform {
    #[inline]
    fn pci_read32(&mut self, function: PciFn, offset: u8) -> u32 {
        // SAFETY: selecting a configuration register and reading it has no side effect on any
        // device QEMU emulates on bus 0; without PCI (microvm) the ports read all ones.
        unsafe {
            PortWriteOnly::<u32>::new(PCI_ADDRESS).write(function.config_address(offset));
            PortReadOnly::<u32>::new(PCI_DATA).read()
        }
    }

    #[inline]
    fn pci_write32(&mut self, function: PciFn, offset: u8, value: u32) {
        // SAFETY: the library writes only chipset registers (PM base, interrupt routing,
        // MMCONFIG, PAM) whose effects it accounts for in the memory map.
        unsafe {
            PortWriteOnly::<u32>::new(PCI_ADDRESS).write(function.config_address(offset));
            PortWriteOnly::<u32>::new(PCI_DATA).write(value);
        }
    }

    #[inline]
    fn pci_write8(&mut self, function: PciFn, offset: u8, value: u8) {
        // SAFETY: as for pci_write32; the byte lane within the dword is chosen by the port.
        unsafe {
            PortWriteOnly::<u32>::new(PCI_ADDRESS).write(function.config_address(offset));
            PortWriteOnly::<u8>::new(PCI_DATA + u16::from(offset & 3)).write(value);
        }
    }

    #[inline]
    fn mmio_write32(&mut self, addr: u64, value: u32) {
        let addr = Platform::mmconfig(addr, 4);
        // SAFETY: the address is in the MMCONFIG window (checked), identity-mapped and decoded
        // by the chipset, not RAM; the library writes only the registers pci_write32 may.
        unsafe { core::ptr::write_volatile(addr as *mut u32, value) }
    }

    #[inline]
    fn mmio_write8(&mut self, addr: u64, value: u8) {
        let addr = Platform::mmconfig(addr, 1);
        // SAFETY: as for mmio_write32.
        unsafe { core::ptr::write_volatile(addr as *mut u8, value) }
    }
}

impl Platform {
    /// `addr`, checked to lie in the MMCONFIG window the library enabled.
    #[inline]
    fn mmconfig(addr: u64, width: u64) -> u64 {
        let window = pvhfw::chipset::MMCONFIG;
        assert!(window.contains(&Range { start: addr, end: addr + width }), "not MMCONFIG");
        addr
    }
}

impl pvhfw::platform::Platform for Platform {
    #[inline]
    fn phys(&mut self, range: Range) -> &mut [u8] {
        // Defence in depth: tables must never land on the firmware's RAM or its ROM image
        // (writable on microvm), and everything below 4 GiB is identity-mapped.
        let rom = Range { start: layout::IMAGE_BASE, end: 1 << 32 };
        let valid = range.start <= range.end && range.end <= rom.start;
        assert!(valid && !range.overlaps(&layout::FIRMWARE_RAM), "table memory over the firmware");
        // SAFETY: the range is identity-mapped RAM (checked above to be neither the firmware's
        // RAM nor its image) that the library reserved for tables; the slice borrows `self`
        // mutably, so no second slice of physical memory can exist at the same time.
        unsafe { core::slice::from_raw_parts_mut(range.start as *mut u8, (range.end - range.start) as usize) }
    }

    #[inline]
    fn cpuid(&mut self, leaf: u32, subleaf: u32) -> [u32; 4] {
        let r = core::arch::x86_64::__cpuid_count(leaf, subleaf);
        [r.eax, r.ebx, r.ecx, r.edx]
    }

    #[inline]
    fn tsc(&mut self) -> u64 {
        // SAFETY: RDTSC only reads the time-stamp counter.
        unsafe { core::arch::x86_64::_rdtsc() }
    }

    #[inline]
    fn rdmsr(&mut self, msr: u32) -> u64 {
        // SAFETY: the library reads only MSRs whose presence it checked (MTRRcap, after CPUID
        // said the CPU has MTRRs); reading them has no side effect.
        unsafe { x86_64::registers::model_specific::Msr::new(msr).read() }
    }

    #[inline]
    fn wrmsr(&mut self, msr: u32, value: u64) {
        // SAFETY: the library writes only MTRRs the CPU reported, with memory types that keep
        // RAM write-back and the legacy and PCI windows uncached or write-protected: caching
        // attributes, with no effect on what memory holds.
        unsafe { x86_64::registers::model_specific::Msr::new(msr).write(value) }
    }
}

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
