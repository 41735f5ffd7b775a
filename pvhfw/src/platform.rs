//! The hardware the boot logic needs besides fw_cfg, behind one trait so it runs in host tests.

use crate::Range;

/// A PCI function on bus 0, as `device << 3 | function`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PciFn(pub u8);

impl PciFn {
    pub const fn new(device: u8, function: u8) -> PciFn {
        PciFn(device << 3 | function)
    }

    /// The value for the configuration address port 0xCF8 (enable bit, bus 0, dword offset).
    pub fn config_address(self, offset: u8) -> u32 {
        0x8000_0000 | u32::from(self.0) << 8 | u32::from(offset & 0xfc)
    }
}

/// PCI configuration space of bus 0 (all the chipset code needs; the host tool implements it
/// over qtest to capture what QEMU publishes after exactly the firmware's setup).
pub trait PciConfig {
    fn pci_read32(&mut self, function: PciFn, offset: u8) -> u32;
    fn pci_write32(&mut self, function: PciFn, offset: u8, value: u32);
    fn pci_write8(&mut self, function: PciFn, offset: u8, value: u8);
    /// Writes to memory-mapped configuration space (Q35's MMCONFIG window, once enabled): one
    /// access, where the port interface takes two (address, then data).
    fn mmio_write32(&mut self, addr: u64, value: u32);
    fn mmio_write8(&mut self, addr: u64, value: u8);
}

/// CPU, PCI configuration space and physical memory, as the firmware sees them.
pub trait Platform: PciConfig {
    /// The bytes of physical memory `range`. The library asks only for memory it reserved or
    /// checked to be free RAM: the table area, the F-segment window, the MP table area, a
    /// chained ELF kernel's zero-filled memory and a loaded bzImage's `setup_data` list.
    fn phys(&mut self, range: Range) -> &mut [u8];
    /// `[eax, ebx, ecx, edx]` of CPUID `leaf`, `subleaf`.
    fn cpuid(&mut self, leaf: u32, subleaf: u32) -> [u32; 4];
    /// The time-stamp counter (under `-icount shift=0` it counts guest instructions).
    fn tsc(&mut self) -> u64;
    /// A model-specific register; the library reads and writes only the MTRRs.
    fn rdmsr(&mut self, msr: u32) -> u64;
    fn wrmsr(&mut self, msr: u32, value: u64);
}

#[cfg(any(test, feature = "fakes"))]
pub mod fake {
    //! A machine in host memory: PCI config space as a map, RAM as a few banks.
    use super::*;
    use std::collections::BTreeMap;
    use std::vec::Vec;

    #[derive(Default)]
    pub struct FakePlatform {
        /// (function, dword offset) -> value; absent functions read all ones.
        pub config: BTreeMap<(u8, u8), u32>,
        /// Every configuration write, in order: (function, offset, value, width in bytes).
        pub config_writes: Vec<(u8, u8, u32, u8)>,
        /// Every memory-mapped configuration write: (address, value, width in bytes).
        pub mmio_writes: Vec<(u64, u32, u8)>,
        /// RAM banks: (start, bytes). `phys` panics outside them, so a test fails when the
        /// library touches memory it should not.
        pub banks: Vec<(u64, Vec<u8>)>,
        /// CPUID (leaf, subleaf) -> registers; absent leaves read zero.
        pub cpuid: BTreeMap<(u32, u32), [u32; 4]>,
        /// MSRs as written (and read back); absent ones read zero.
        pub msrs: BTreeMap<u32, u64>,
    }

    impl FakePlatform {
        pub fn with_device(mut self, function: PciFn, vendor_device: u32) -> Self {
            self.config.insert((function.0, 0), vendor_device);
            self
        }

        pub fn with_bank(mut self, start: u64, len: usize) -> Self {
            self.banks.push((start, std::vec![0; len]));
            self
        }

        /// The bytes at `range`, for assertions.
        pub fn read(&mut self, range: Range) -> Vec<u8> {
            self.phys(range).to_vec()
        }
    }

    impl PciConfig for FakePlatform {
        fn pci_read32(&mut self, function: PciFn, offset: u8) -> u32 {
            self.config.get(&(function.0, offset & 0xfc)).copied().unwrap_or(u32::MAX)
        }
        fn pci_write32(&mut self, function: PciFn, offset: u8, value: u32) {
            self.config_writes.push((function.0, offset, value, 4));
        }
        fn pci_write8(&mut self, function: PciFn, offset: u8, value: u8) {
            self.config_writes.push((function.0, offset, value.into(), 1));
        }
        fn mmio_write32(&mut self, addr: u64, value: u32) {
            self.mmio_writes.push((addr, value, 4));
        }
        fn mmio_write8(&mut self, addr: u64, value: u8) {
            self.mmio_writes.push((addr, value.into(), 1));
        }
    }

    impl Platform for FakePlatform {
        fn phys(&mut self, range: Range) -> &mut [u8] {
            let bank = self.banks.iter_mut().find(|(start, bytes)| {
                *start <= range.start && range.end <= start + bytes.len() as u64 && range.start <= range.end
            });
            let Some((start, bytes)) = bank else { panic!("access outside the fake's RAM banks: {range:x?}") };
            &mut bytes[(range.start - *start) as usize..(range.end - *start) as usize]
        }
        fn cpuid(&mut self, leaf: u32, subleaf: u32) -> [u32; 4] {
            self.cpuid.get(&(leaf, subleaf)).copied().unwrap_or_default()
        }
        fn tsc(&mut self) -> u64 {
            0
        }
        fn rdmsr(&mut self, msr: u32) -> u64 {
            self.msrs.get(&msr).copied().unwrap_or(0)
        }
        fn wrmsr(&mut self, msr: u32, value: u64) {
            self.msrs.insert(msr, value);
        }
    }
}
