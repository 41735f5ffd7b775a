//! The chipset: what must be programmed before QEMU builds its ACPI tables, and RAM in the
//! F segment.
//!
//! QEMU builds `etc/acpi/tables` the first time the guest selects an ACPI file, from the chipset
//! state at that moment: the power-management I/O base goes into the FADT, the MMCONFIG window
//! into the MCFG. So those are set first. Every configuration write is two port writes (two VM
//! exits), and a PAM change remaps memory in QEMU (a KVM memslot update): pvhfw does one dword
//! write per register group and a single PAM change, only when the F segment is needed.

use crate::platform::{PciConfig, PciFn};
use crate::Range;

/// Host bridge of both chipsets.
const HOST_BRIDGE: PciFn = PciFn::new(0, 0);
/// i440FX's PIIX3 ISA bridge and PIIX4 power management function.
const PIIX3_ISA: PciFn = PciFn::new(1, 0);
const PIIX4_PM: PciFn = PciFn::new(1, 3);
/// Q35's ICH9 LPC bridge, which holds power management too.
const ICH9_LPC: PciFn = PciFn::new(0x1f, 0);

const I440FX_ID: u32 = 0x1237_8086;
const Q35_ID: u32 = 0x29c0_8086;

/// ACPI PM1 block base, as SeaBIOS and qboot use it (QEMU's FADT reports whatever is set); the
/// low bit is the "I/O space" indicator the registers keep.
const PM_BASE: u32 = 0x600 | 1;
/// PCI interrupt links A-D (and E-H on ICH9) routed to ISA IRQs 10, 10, 11, 11: the routing
/// SeaBIOS programs, so Linux's ACPI link devices start from the same state.
const PIRQ_IRQS: [u8; 4] = [10, 10, 11, 11];
const PIRQ_ROUTES: u32 = u32::from_le_bytes(PIRQ_IRQS);

/// Where the Q35 MMCONFIG (PCI Express ECAM) window goes: QEMU's default, just above the
/// largest low RAM Q35 has (it splits RAM at 2 GiB once there is more than 2.75 GiB) and just
/// below the 32-bit PCI hole QEMU's ACPI tables describe.
pub const MMCONFIG: Range = Range { start: 0xb000_0000, end: 0xc000_0000 };
/// PCIEXBAR: base, length 256 MiB (bits 2:1 = 0), enable (bit 0).
const PCIEXBAR: u8 = 0x60;
/// ICH9's root complex register block, where SeaBIOS puts it: the TCO watchdog (`iTCO_wdt`)
/// and other chipset functions live there. 16 KiB.
pub const RCBA: Range = Range { start: 0xfed1_c000, end: 0xfed2_0000 };
/// The LPC bridge's RCBA register: base, enable (bit 0).
const RCBA_REGISTER: u8 = 0xf0;

/// PAM value for "RAM, read and write" in the high nibble: the F segment 0xF0000-0xFFFFF.
const PAM_F_SEGMENT_RAM: u8 = 0x30;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chipset {
    /// `pc`: i440FX host bridge with PIIX3/PIIX4.
    I440fx,
    /// `q35`: MCH with ICH9.
    Q35,
    /// `microvm`: no PCI at all; the F segment is a writable alias of the firmware image.
    Microvm,
}

/// Where a function's configuration register lies in the MMCONFIG window (ECAM: 4 KiB per
/// function, in routing-ID order).
fn ecam(function: PciFn, offset: u8) -> u64 {
    MMCONFIG.start + (u64::from(function.0) << 12) + u64::from(offset)
}

impl Chipset {
    /// Reads the host bridge's vendor and device (one configuration read).
    pub fn detect(p: &mut (impl PciConfig + ?Sized)) -> Chipset {
        match p.pci_read32(HOST_BRIDGE, 0) {
            I440FX_ID => Chipset::I440fx,
            Q35_ID => Chipset::Q35,
            _ => Chipset::Microvm,
        }
    }

    /// The ISA IRQ (and IOAPIC pin) that interrupt `pin` (0 = INTA) of a device in `slot` of
    /// PCI bus 0 reaches through the routing [`Chipset::setup`] programs, as QEMU wires it:
    /// i440FX swizzles slot and pin onto links A-D; ICH9 puts slots 0-24 on links E-H by
    /// `(slot + pin) % 4`, its own functions (slots 25-29, 31) pin for pin on A-D (the
    /// `DxxIR` defaults), and slot 30 on E-H. `None` without PCI.
    pub const fn pci_irq(self, slot: u8, pin: u8) -> Option<u8> {
        let link = match self {
            Chipset::I440fx => (slot + pin + 3) % 4,
            Chipset::Q35 if slot <= 24 => (slot + pin) % 4,
            Chipset::Q35 => pin % 4,
            Chipset::Microvm => return None,
        };
        Some(PIRQ_IRQS[link as usize])
    }

    /// Whether ISA IRQ `irq` carries PCI interrupts on this machine.
    pub const fn irq_is_pci(self, irq: u8) -> bool {
        if matches!(self, Chipset::Microvm) {
            return false;
        }
        let mut i = 0;
        while i < PIRQ_IRQS.len() {
            if PIRQ_IRQS[i] == irq {
                return true;
            }
            i += 1;
        }
        false
    }

    /// Whether QEMU rebuilds this machine's ACPI tables when one of their files is first
    /// selected (`pc` and `q35` do, to describe what the firmware programmed; `microvm` never).
    pub fn rebuilds_acpi_on_first_read(self) -> bool {
        !matches!(self, Chipset::Microvm)
    }

    /// Programs what QEMU's ACPI tables and Linux depend on: PM base and enable, PCI interrupt
    /// routing, and on Q35 the MMCONFIG window.
    pub fn setup(self, p: &mut (impl PciConfig + ?Sized)) {
        match self {
            Chipset::I440fx => {
                p.pci_write32(PIIX3_ISA, 0x60, PIRQ_ROUTES);
                p.pci_write32(PIIX4_PM, 0x40, PM_BASE);
                p.pci_write8(PIIX4_PM, 0x80, 1); // PMREGMISC.PMIOSE: PM I/O space on
            }
            Chipset::Q35 => {
                // MMCONFIG first: the other writes then take one VM exit each, not two.
                p.pci_write32(HOST_BRIDGE, PCIEXBAR, MMCONFIG.start as u32 | 1);
                p.mmio_write32(ecam(ICH9_LPC, 0x40), PM_BASE);
                p.mmio_write8(ecam(ICH9_LPC, 0x44), 0x80); // ACPI_CNTL.ACPI_EN
                p.mmio_write32(ecam(ICH9_LPC, 0x60), PIRQ_ROUTES);
                p.mmio_write32(ecam(ICH9_LPC, 0x68), PIRQ_ROUTES);
                p.mmio_write32(ecam(ICH9_LPC, RCBA_REGISTER), RCBA.start as u32 | 1);
            }
            Chipset::Microvm => {}
        }
    }

    /// Address space the chipset decodes once [`setup`](Self::setup) ran, which the memory map
    /// must mark reserved.
    pub fn reserved(self) -> &'static [Range] {
        match self {
            Chipset::Q35 => &[MMCONFIG, RCBA],
            _ => &[],
        }
    }

    /// Makes 0xF0000-0xFFFFF RAM (on `microvm` it already is), with one PAM write.
    pub fn enable_f_segment_ram(self, p: &mut (impl PciConfig + ?Sized)) {
        match self {
            Chipset::I440fx => p.pci_write8(HOST_BRIDGE, 0x59, PAM_F_SEGMENT_RAM),
            Chipset::Q35 => p.mmio_write8(ecam(HOST_BRIDGE, 0x90), PAM_F_SEGMENT_RAM),
            Chipset::Microvm => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::fake::FakePlatform;

    #[test]
    fn detects_by_host_bridge() {
        let mut pc = FakePlatform::default().with_device(HOST_BRIDGE, I440FX_ID);
        let mut q35 = FakePlatform::default().with_device(HOST_BRIDGE, Q35_ID);
        assert_eq!(Chipset::detect(&mut pc), Chipset::I440fx);
        assert_eq!(Chipset::detect(&mut q35), Chipset::Q35);
        assert_eq!(Chipset::detect(&mut FakePlatform::default()), Chipset::Microvm);
    }

    #[test]
    fn i440fx_setup_writes() {
        let mut p = FakePlatform::default();
        Chipset::I440fx.setup(&mut p);
        Chipset::I440fx.enable_f_segment_ram(&mut p);
        assert_eq!(
            p.config_writes,
            [(8, 0x60, 0x0b0b_0a0a, 4), (11, 0x40, 0x601, 4), (11, 0x80, 1, 1), (0, 0x59, 0x30, 1)]
        );
        assert_eq!(Chipset::I440fx.reserved(), []);
    }

    #[test]
    fn q35_setup_writes_and_reserves_mmconfig() {
        let mut p = FakePlatform::default();
        Chipset::Q35.setup(&mut p);
        Chipset::Q35.enable_f_segment_ram(&mut p);
        assert_eq!(p.config_writes, [(0, 0x60, 0xb000_0001, 4)]);
        let lpc = 0xb00f_8000;
        assert_eq!(
            p.mmio_writes,
            [
                (lpc + 0x40, 0x601, 4),
                (lpc + 0x44, 0x80, 1),
                (lpc + 0x60, 0x0b0b_0a0a, 4),
                (lpc + 0x68, 0x0b0b_0a0a, 4),
                (lpc + 0xf0, 0xfed1_c001, 4),
                (0xb000_0090, 0x30, 1)
            ]
        );
        assert_eq!(Chipset::Q35.reserved(), [MMCONFIG, RCBA]);
    }

    #[test]
    fn no_pci_writes_nothing() {
        let mut p = FakePlatform::default();
        Chipset::Microvm.setup(&mut p);
        Chipset::Microvm.enable_f_segment_ram(&mut p);
        assert!(p.config_writes.is_empty());
    }
}
