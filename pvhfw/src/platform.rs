//! The hardware the boot logic needs besides fw_cfg, behind one trait so it runs in host tests.

use crate::sha::ShaBlocks;
use crate::Range;

/// A PCI function, as `bus << 8 | device << 3 | function` (the routing ID).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PciFn(pub u16);

impl PciFn {
    /// Function `function` of device `device` on bus 0.
    pub const fn new(device: u8, function: u8) -> PciFn {
        PciFn::on_bus(0, device, function)
    }

    pub const fn on_bus(bus: u8, device: u8, function: u8) -> PciFn {
        PciFn((bus as u16) << 8 | (device as u16 & 0x1f) << 3 | function as u16 & 7)
    }

    pub const fn bus(self) -> u8 {
        (self.0 >> 8) as u8
    }

    pub const fn device(self) -> u8 {
        (self.0 >> 3 & 0x1f) as u8
    }

    pub const fn function(self) -> u8 {
        (self.0 & 7) as u8
    }

    /// The value for the configuration address port 0xCF8 (enable bit, bus, device, function,
    /// dword offset).
    pub fn config_address(self, offset: u8) -> u32 {
        0x8000_0000 | u32::from(self.0) << 8 | u32::from(offset & 0xfc)
    }
}

/// PCI configuration space (all the chipset code needs; the host tool implements it
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

/// The width of a device register access: virtio's registers are 8, 16 and 32 bits wide, and a
/// device may decode each only at its own width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Width {
    U8,
    U16,
    U32,
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
    /// A device's I/O port (each access is a VM exit).
    fn io_read(&mut self, port: u16, width: Width) -> u32;
    fn io_write(&mut self, port: u16, width: Width, value: u32);
    /// A device's memory-mapped register below 4 GiB (each access is a VM exit).
    fn mem_read(&mut self, addr: u64, width: Width) -> u32;
    fn mem_write(&mut self, addr: u64, width: Width, value: u32);
    /// The aligned 32 bits of RAM at `addr`, which a device may write at any time (a virtqueue's
    /// used ring): read afresh at every call, so a poll loop is never hoisted.
    fn dma_read32(&mut self, addr: u64) -> u32;
    /// The firmware's ROM image, as QEMU maps it below 4 GiB (for the measured boot).
    fn rom_image(&mut self) -> &[u8];
    /// The SHA-1 and SHA-256 block functions for the measured boot: the CPU's SHA extensions
    /// where the firmware can use them, else software. Asked only when there is a TPM.
    fn sha_blocks(&mut self) -> ShaBlocks {
        ShaBlocks::SOFTWARE
    }
}

#[cfg(any(test, feature = "fakes"))]
pub mod fake {
    //! A machine in host memory: PCI config space as a map, RAM as a few banks.
    use super::*;
    use std::boxed::Box;
    use std::collections::BTreeMap;
    use std::vec::Vec;

    #[derive(Default)]
    pub struct FakePlatform {
        /// (function, dword offset) -> value; absent functions read all ones.
        pub config: BTreeMap<(u16, u8), u32>,
        /// Every configuration write, in order: (function, offset, value, width in bytes).
        pub config_writes: Vec<(u16, u8, u32, u8)>,
        /// Every memory-mapped configuration write: (address, value, width in bytes).
        pub mmio_writes: Vec<(u64, u32, u8)>,
        /// RAM banks: (start, bytes). `phys` panics outside them, so a test fails when the
        /// library touches memory it should not.
        pub banks: Vec<(u64, Vec<u8>)>,
        /// CPUID (leaf, subleaf) -> registers; absent leaves read zero.
        pub cpuid: BTreeMap<(u32, u32), [u32; 4]>,
        /// MSRs as written (and read back); absent ones read zero.
        pub msrs: BTreeMap<u32, u64>,
        /// Devices behind ports, memory-mapped registers and (for PCI ones) configuration space.
        pub devices: Vec<Box<dyn FakeDevice>>,
        /// Port and memory-mapped register accesses so far: each would be a VM exit.
        pub exits: u64,
        /// What `tsc` adds at each read (0: a counter that never moves).
        pub tsc_step: u64,
        pub tsc_now: u64,
        /// What `rom_image` returns.
        pub rom: Vec<u8>,
    }

    /// RAM banks: (start, bytes).
    pub type Banks = Vec<(u64, Vec<u8>)>;

    /// The bytes of `range` if one bank holds them all.
    pub fn bank_slice(banks: &mut Banks, range: Range) -> Option<&mut [u8]> {
        let (start, bytes) = banks.iter_mut().find(|(start, bytes)| {
            *start <= range.start && range.end <= start + bytes.len() as u64 && range.start <= range.end
        })?;
        Some(&mut bytes[(range.start - *start) as usize..(range.end - *start) as usize])
    }

    /// A device model the fake routes accesses to; it reaches RAM (for DMA) through `ram`.
    pub trait FakeDevice {
        /// Its PCI function, whose configuration space it then answers.
        fn pci(&self) -> Option<PciFn>;
        fn config_read(&mut self, offset: u8) -> u32;
        fn config_write(&mut self, offset: u8, value: u32, width: Width);
        /// Whether it decodes port (`io`) or memory address `addr`.
        fn claims(&self, io: bool, addr: u64) -> bool;
        fn read(&mut self, io: bool, addr: u64, width: Width) -> u32;
        fn write(&mut self, io: bool, addr: u64, width: Width, value: u32, ram: &mut Banks);
        /// For tests to look at the model's state.
        fn as_any(&mut self) -> &mut dyn std::any::Any;
    }

    impl FakePlatform {
        pub fn with_device(mut self, function: PciFn, vendor_device: u32) -> Self {
            self.config.insert((function.0, 0), vendor_device);
            self
        }

        pub fn with_fake_device(mut self, device: impl FakeDevice + 'static) -> Self {
            self.devices.push(Box::new(device));
            self
        }

        /// Device `i` (in `with_fake_device` order) as its model type.
        pub fn device<T: 'static>(&mut self, i: usize) -> &mut T {
            self.devices[i].as_any().downcast_mut().expect("a device of that type")
        }

        fn pci_device(&mut self, function: PciFn) -> Option<&mut Box<dyn FakeDevice>> {
            self.devices.iter_mut().find(|d| d.pci() == Some(function))
        }

        fn access(&mut self, io: bool, addr: u64) -> Option<&mut Box<dyn FakeDevice>> {
            self.exits += 1;
            self.devices.iter_mut().find(|d| d.claims(io, addr))
        }

        fn device_write(&mut self, io: bool, addr: u64, width: Width, value: u32) {
            self.exits += 1;
            if let Some(d) = self.devices.iter_mut().find(|d| d.claims(io, addr)) {
                d.write(io, addr, width, value, &mut self.banks);
            }
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
            if let Some(d) = self.pci_device(function) {
                return d.config_read(offset & 0xfc);
            }
            self.config.get(&(function.0, offset & 0xfc)).copied().unwrap_or(u32::MAX)
        }
        fn pci_write32(&mut self, function: PciFn, offset: u8, value: u32) {
            self.config_writes.push((function.0, offset, value, 4));
            if let Some(d) = self.pci_device(function) {
                d.config_write(offset, value, Width::U32);
            }
        }
        fn pci_write8(&mut self, function: PciFn, offset: u8, value: u8) {
            self.config_writes.push((function.0, offset, value.into(), 1));
            if let Some(d) = self.pci_device(function) {
                d.config_write(offset, value.into(), Width::U8);
            }
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
            match bank_slice(&mut self.banks, range) {
                Some(bytes) => bytes,
                None => panic!("access outside the fake's RAM banks: {range:x?}"),
            }
        }
        fn cpuid(&mut self, leaf: u32, subleaf: u32) -> [u32; 4] {
            self.cpuid.get(&(leaf, subleaf)).copied().unwrap_or_default()
        }
        fn tsc(&mut self) -> u64 {
            self.tsc_now += self.tsc_step;
            self.tsc_now
        }
        fn rdmsr(&mut self, msr: u32) -> u64 {
            self.msrs.get(&msr).copied().unwrap_or(0)
        }
        fn wrmsr(&mut self, msr: u32, value: u64) {
            self.msrs.insert(msr, value);
        }
        fn io_read(&mut self, port: u16, width: Width) -> u32 {
            self.access(true, port.into()).map_or(u32::MAX, |d| d.read(true, port.into(), width))
        }
        fn io_write(&mut self, port: u16, width: Width, value: u32) {
            self.device_write(true, port.into(), width, value)
        }
        fn mem_read(&mut self, addr: u64, width: Width) -> u32 {
            self.access(false, addr).map_or(0, |d| d.read(false, addr, width))
        }
        fn mem_write(&mut self, addr: u64, width: Width, value: u32) {
            self.device_write(false, addr, width, value)
        }
        fn rom_image(&mut self) -> &[u8] {
            &self.rom
        }

        fn dma_read32(&mut self, addr: u64) -> u32 {
            let bytes = self.phys(Range { start: addr, end: addr + 4 });
            u32::from_le_bytes(bytes.try_into().unwrap())
        }
    }
}
