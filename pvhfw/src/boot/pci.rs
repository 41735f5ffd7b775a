//! PCI resources ([`crate::pci`]): whether this boot assigns them, and the step that does.

use super::files::PCI_FILE;
use super::{Boot, KernelEntry};
use crate::chipset::Chipset;
use crate::e820;
use crate::fw_cfg::{self, Directory, File, FileName, FwCfgIo, NameKey};
use crate::kernel::HEAD_BYTES;
use crate::pci;
use crate::platform::Platform;
use crate::scratch::Scratch;
use crate::Error;

/// Where QEMU's device memory (`-m ...,maxmem=`) ends, rounded up to 1 GiB: the 64-bit PCI
/// window starts above it.
const RESERVED_MEMORY_END: NameKey = NameKey::new_const(&FileName::new("etc/reserved-memory-end"));

impl<F: FwCfgIo + ?Sized, P: Platform + ?Sized> Boot<'_, F, P> {
    /// `opt/org.pvhfw/pci`: `assign` (true) or `skip` (false).
    pub(super) fn pci_option(&mut self, file: File) -> Result<bool, Error> {
        let mut value = [0u8; 8];
        match self.read_text(Some(file), PCI_FILE, &mut value) {
            Ok(Some(b"assign")) => Ok(true),
            Ok(Some(b"skip")) => Ok(false),
            Err(e @ Error::DmaFailed { .. }) => Err(e),
            _ => Err(Error::PciOption),
        }
    }

    /// Whether the assignment comes after the handover. Asked
    /// for, it comes before QEMU builds its ACPI tables, which describe the 64-bit window from
    /// the BARs ([`Boot::set_up`]), but for a disk's kernel: the boot disk's driver uses the BARs
    /// it placed until its device is reset. Not asked for, it is for a kernel that runs in 32
    /// bits, and comes last: such a kernel has no use for the 64-bit window, and deciding
    /// here costs the 64-bit boots nothing but a compare.
    pub(super) fn assigns_pci_late(&self, from_disk: bool, entry: KernelEntry, head: &[u8; HEAD_BYTES]) -> bool {
        match self.pci {
            None => runs_in_32_bits(entry, head),
            Some(assign) => assign && from_disk,
        }
    }

    /// The assignment before QEMU builds its ACPI tables ([`Boot::set_up`]), when the memory
    /// map is not read yet: where RAM ends comes from `etc/e820` (`e820`) itself. A file that
    /// cannot be read counts as empty: the window then starts lower, still above 4 GiB (the
    /// boot itself fails on the same file soon after).
    #[inline(never)]
    pub(super) fn assign_pci_early(&mut self, chipset: Chipset, e820: Option<File>, dir: &[u8; fw_cfg::DIR_BYTES]) {
        if chipset == Chipset::Microvm {
            return;
        }
        let mut raw = [0u8; e820::MAX_INPUT * e820::RAW_ENTRY];
        let ram_end = match e820.and_then(|f| Some((f.select, raw.get_mut(..f.size as usize)?))) {
            Some((select, raw)) => match self.io.read(select, raw) {
                Ok(()) => e820::raw_ram_end(raw),
                Err(_) => 0,
            },
            None => 0,
        };
        self.assign_pci(chipset, ram_end, dir);
    }

    /// The assignment after the handover ([`Boot::assigns_pci_late`]), on the memory map the
    /// boot read. Out of line, as the others.
    #[inline(never)]
    pub(super) fn assign_pci_late(&mut self, scratch: &Scratch) {
        let chipset = Chipset::detect(self.platform);
        if chipset == Chipset::Microvm {
            return;
        }
        self.assign_pci(chipset, e820::ram_end(scratch.regions.as_slice()), &scratch.dir);
    }

    /// Assigns PCI resources on `chipset`, with the 64-bit window above RAM (which ends at
    /// `ram_end`) and device memory (`etc/reserved-memory-end`; `dir` is the fw_cfg
    /// directory), where QEMU's own `pci-hole64` starts. Out of line: most boots never come
    /// here.
    #[inline(never)]
    fn assign_pci(&mut self, chipset: Chipset, ram_end: u64, dir: &[u8; fw_cfg::DIR_BYTES]) {
        let mut device_memory_end = [0u8; 8];
        if let Some(file) = Directory::parse(dir).find(&RESERVED_MEMORY_END) {
            let _ = self.io.read(file.select, &mut device_memory_end);
        }
        let above = ram_end.max(1 << 32).max(u64::from_le_bytes(device_memory_end));
        let high_start = above.checked_next_multiple_of(pci::HIGH_WINDOW_ALIGN).unwrap_or(u64::MAX);
        let assigned = pci::assign(self.platform, chipset, high_start);
        if let Some(l) = self.info() {
            l.str("PCI: ")
                .dec(assigned.bars.into())
                .str(" BARs assigned on ")
                .dec(assigned.buses.into())
                .str(" buses, ")
                .dec(assigned.unplaced.into())
                .str(" did not fit")
                .end();
        }
    }
}

/// Whether the kernel entered at `entry` runs in 32 bits, where it cannot use the 64-bit BARs
/// it would assign itself: a bzImage's 32-bit entry, a multiboot kernel, a 32-bit PVH ELF
/// (`head` is the ELF's head, whose class byte says).
fn runs_in_32_bits(entry: KernelEntry, head: &[u8; HEAD_BYTES]) -> bool {
    const ELFCLASS32: u8 = 1;
    match entry {
        KernelEntry::Linux64 { .. } => false,
        KernelEntry::Pvh { .. } => head[4] == ELFCLASS32,
        KernelEntry::Linux32 { .. } | KernelEntry::Multiboot { .. } => true,
    }
}
