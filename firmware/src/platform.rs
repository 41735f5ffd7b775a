//! The platform: PCI configuration space, MMCONFIG, physical memory, CPUID, the TSC and MSRs,
//! and the firmware's own windows of low RAM.
//!
//! The functions are `#[inline]`: the boot is instantiated over these types in each
//! binary's crate, and only inline functions can be inlined there before link-time
//! optimisation, as the boot's instruction count relies on.

use pvhfw::handoff::Handoff;
use pvhfw::layout;
use pvhfw::platform::{PciFn, Width};
use pvhfw::scratch::Scratch;
use pvhfw::Range;
use x86_64::instructions::port::{Port, PortReadOnly, PortWriteOnly};

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

/// The disk boot's configuration-text buffer, at `layout::DISK_TEXT`.
pub fn disk_text() -> &'static mut [u8] {
    let len = (layout::DISK_TEXT.end - layout::DISK_TEXT.start) as usize;
    // SAFETY: layout::DISK_TEXT is low RAM that nothing else uses while the boot runs (below
    // the MP table, above the table window; layout.rs asserts it), identity-mapped, and this
    // is its only reference; any bytes are valid u8s.
    unsafe { core::slice::from_raw_parts_mut(layout::DISK_TEXT.start as *mut u8, len) }
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
    /// `addr`, checked to lie between 2 GiB (where SeaBIOS's 32-bit PCI window starts at the
    /// lowest) and the firmware's ROM image: where device registers are, never pvhfw's RAM.
    #[inline]
    fn device_register(addr: u64) -> u64 {
        assert!((0x8000_0000..layout::IMAGE_BASE - 4).contains(&addr), "not a device register");
        addr
    }

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
        if range.is_empty() {
            return &mut [];
        }
        // Byte 0 is the null pointer, which no Rust slice may start at.
        let valid = range.start != 0 && range.end <= rom.start;
        assert!(valid && !range.overlaps(&layout::FIRMWARE_RAM), "table memory over the firmware");
        // SAFETY: the range is identity-mapped RAM (checked above to be neither the firmware's
        // RAM nor its image, nor to start at 0) that the library reserved for tables; the slice borrows `self`
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

    #[inline]
    fn io_read(&mut self, port: u16, width: Width) -> u32 {
        // SAFETY: the library reads only the registers of a virtio device's I/O BAR, which it
        // found or assigned; a read of them has no effect on memory.
        unsafe {
            match width {
                Width::U8 => Port::<u8>::new(port).read().into(),
                Width::U16 => Port::<u16>::new(port).read().into(),
                Width::U32 => Port::<u32>::new(port).read(),
            }
        }
    }

    #[inline]
    fn io_write(&mut self, port: u16, width: Width, value: u32) {
        // SAFETY: the library writes only a virtio device's I/O BAR registers; the device
        // reaches only the disk RAM and the buffers the library checked, by DMA.
        unsafe {
            match width {
                Width::U8 => Port::<u8>::new(port).write(value as u8),
                Width::U16 => Port::<u16>::new(port).write(value as u16),
                Width::U32 => Port::<u32>::new(port).write(value),
            }
        }
    }

    #[inline]
    fn mem_read(&mut self, addr: u64, width: Width) -> u32 {
        let addr = Platform::device_register(addr);
        // SAFETY: an identity-mapped device register above RAM and below the ROM (checked),
        // read at its own width; volatile, so every read reaches the device.
        unsafe {
            match width {
                Width::U8 => core::ptr::read_volatile(addr as *const u8).into(),
                Width::U16 => core::ptr::read_volatile(addr as *const u16).into(),
                Width::U32 => core::ptr::read_volatile(addr as *const u32),
            }
        }
    }

    #[inline]
    fn mem_write(&mut self, addr: u64, width: Width, value: u32) {
        let addr = Platform::device_register(addr);
        // SAFETY: as for mem_read; the library writes only virtio registers of a device it
        // found, at addresses from its BARs or QEMU's virtio-mmio transports.
        unsafe {
            match width {
                Width::U8 => core::ptr::write_volatile(addr as *mut u8, value as u8),
                Width::U16 => core::ptr::write_volatile(addr as *mut u16, value as u16),
                Width::U32 => core::ptr::write_volatile(addr as *mut u32, value),
            }
        }
    }

    fn sha_blocks(&mut self) -> pvhfw::sha::ShaBlocks {
        crate::sha::sha_extensions(|leaf| self.cpuid(leaf, 0)).unwrap_or(pvhfw::sha::ShaBlocks::SOFTWARE)
    }

    fn rom_image(&mut self) -> &[u8] {
        let size = (u64::MAX >> 32) + 1 - layout::IMAGE_BASE;
        // SAFETY: QEMU maps the firmware image at [IMAGE_BASE, 4 GiB), identity-mapped; on pc
        // and q35 the mapping is read-only, and on microvm nothing writes it (phys refuses it),
        // so the shared slice never sees a write.
        unsafe { core::slice::from_raw_parts(layout::IMAGE_BASE as *const u8, size as usize) }
    }

    #[inline]
    fn dma_read32(&mut self, addr: u64) -> u32 {
        assert!(addr.is_multiple_of(4) && addr + 4 <= layout::IMAGE_BASE, "not DMA memory");
        // SAFETY: aligned, identity-mapped RAM below the image (checked) that a device writes
        // by DMA; the volatile read makes each poll a fresh load the compiler cannot hoist.
        unsafe { core::ptr::read_volatile(addr as *const u32) }
    }
}
