//! The Intel MultiProcessor table, for machines without ACPI (`-M microvm,acpi=off`) and
//! kernels started with `acpi=off`: without it Linux finds neither the other CPUs nor the
//! IOAPIC, and on `pc` and `q35` no interrupt for a PCI device without MSI.
//!
//! Linux looks for the floating pointer in the last KiB of conventional memory (among other
//! places), so pvhfw puts it at 639 KiB and the configuration table just below, in
//! [`layout::MP_TABLE`](crate::layout::MP_TABLE), which the memory map then reserves. No PAM change is needed for that.

use crate::checksum;
use crate::chipset::Chipset;
use crate::layout::{MP_FLOATING_POINTER, MP_TABLE};
use crate::platform::Platform;
use core::mem::offset_of;
use zerocopy::little_endian::{U16, U32};
use zerocopy::{transmute, Immutable, IntoBytes, KnownLayout};

/// APIC IDs an MP table can name (0xff is the broadcast ID).
const MAX_APIC_ID: u32 = 0xfe;
const LOCAL_APIC: u32 = 0xfee0_0000;
const IOAPIC: u32 = 0xfec0_0000;
/// QEMU's IOAPIC ID and version (its own ACPI tables say the same).
const IOAPIC_ID: u8 = 0;
const IOAPIC_VERSION: u8 = 0x20;
const LAPIC_VERSION: u8 = 0x14;

#[repr(C)]
#[derive(IntoBytes, Immutable, KnownLayout)]
struct FloatingPointer {
    signature: [u8; 4],
    config: U32,
    length: u8,
    spec_rev: u8,
    checksum: u8,
    features: [u8; 5],
}
const _: () = assert!(size_of::<FloatingPointer>() == 16);

#[repr(C)]
#[derive(IntoBytes, Immutable, KnownLayout)]
struct Header {
    signature: [u8; 4],
    length: U16,
    spec_rev: u8,
    checksum: u8,
    oem: [u8; 8],
    product: [u8; 12],
    oem_table: U32,
    oem_table_size: U16,
    entries: U16,
    local_apic: U32,
    extended_length: U16,
    extended_checksum: u8,
    reserved: u8,
}
const _: () = assert!(size_of::<Header>() == 44);

#[repr(C)]
#[derive(IntoBytes, Immutable, KnownLayout)]
struct Processor {
    kind: u8,
    apic_id: u8,
    apic_version: u8,
    flags: u8,
    signature: U32,
    features: U32,
    reserved: [u8; 8],
}
const _: () = assert!(size_of::<Processor>() == 20);

/// A bus entry: the bus ID the interrupt entries name, and the bus type.
#[repr(C)]
#[derive(IntoBytes, Immutable, KnownLayout)]
struct Bus {
    kind: u8,
    id: u8,
    name: [u8; 6],
}
const _: () = assert!(size_of::<Bus>() == 8);

/// The IOAPIC entry: its ID, version, whether it is usable, and its MMIO address.
#[repr(C)]
#[derive(IntoBytes, Immutable, KnownLayout)]
struct IoApic {
    kind: u8,
    id: u8,
    version: u8,
    flags: u8,
    address: U32,
}
const _: () = assert!(size_of::<IoApic>() == 8);

/// An I/O interrupt assignment: which IOAPIC pin a bus's interrupt arrives at. A PCI source
/// IRQ is `slot << 2 | pin`.
#[repr(C)]
#[derive(IntoBytes, Immutable, KnownLayout)]
struct IoInterrupt {
    kind: u8,
    interrupt: u8,
    flags: U16,
    source_bus: u8,
    source_irq: u8,
    ioapic_id: u8,
    ioapic_pin: u8,
}
const _: () = assert!(size_of::<IoInterrupt>() == 8);

/// A local interrupt assignment: which local APIC `LINTn` pin a bus's interrupt arrives at.
#[repr(C)]
#[derive(IntoBytes, Immutable, KnownLayout)]
struct LocalInterrupt {
    kind: u8,
    interrupt: u8,
    flags: U16,
    source_bus: u8,
    source_irq: u8,
    lapic_id: u8,
    lint: u8,
}
const _: () = assert!(size_of::<LocalInterrupt>() == 8);

/// Entry types, the first byte of each entry.
const ENTRY_PROCESSOR: u8 = 0;
const ENTRY_BUS: u8 = 1;
const ENTRY_IOAPIC: u8 = 2;
const ENTRY_IO_INTERRUPT: u8 = 3;
const ENTRY_LOCAL_INTERRUPT: u8 = 4;

const CPU_ENABLED: u8 = 1;
const CPU_BOOT: u8 = 2;
const IOAPIC_ENABLED: u8 = 1;
/// The local-interrupt destination meaning every local APIC.
const ALL_LAPICS: u8 = 0xff;
/// Interrupt types of the interrupt entries.
const INT: u8 = 0;
const NMI: u8 = 1;
const EXTINT: u8 = 3;
/// Interrupt flags: polarity active high, trigger as the bus defines it (level for PCI), as
/// SeaBIOS describes PCI interrupts; 0 is "as the bus defines" for both.
const ACTIVE_HIGH: u8 = 1;
const BUS_PCI: [u8; 6] = *b"PCI   ";
const BUS_ISA: [u8; 6] = *b"ISA   ";

/// How QEMU numbers APIC IDs: from the CPUID topology leaves (0x1F, else 0xB), each level a
/// bit field; CPU `i` is `i` counted in that mixed radix. Without those leaves, IDs are
/// `0..n`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Topology {
    /// (bit shift to the next level, logical CPUs up to this level), lowest level first.
    levels: [(u32, u32); 4],
    len: usize,
}

impl Topology {
    pub fn from_cpuid(p: &mut (impl Platform + ?Sized)) -> Topology {
        let max_leaf = p.cpuid(0, 0)[0];
        let leaf = match max_leaf {
            0x1f.. => 0x1f,
            0xb.. => 0xb,
            _ => return Topology::default(),
        };
        let mut t = Topology::default();
        for subleaf in 0..4 {
            let [eax, ebx, ecx, _] = p.cpuid(leaf, subleaf);
            if (ecx >> 8) & 0xff == 0 {
                break;
            }
            t.levels[t.len] = (eax & 0x1f, ebx & 0xffff);
            t.len += 1;
        }
        t
    }

    fn apic_id(&self, index: u32) -> u32 {
        let (mut id, mut below, mut shift) = (0, 1, 0);
        for &(next_shift, count) in &self.levels[..self.len] {
            if count < below || count % below != 0 || next_shift < shift || next_shift >= 32 {
                return index; // not a topology QEMU would report
            }
            id |= ((index / below) % (count / below)) << shift;
            (below, shift) = (count, next_shift);
        }
        id | (index / below).checked_shl(shift).unwrap_or(0)
    }
}

/// What goes into the table.
pub struct Machine {
    /// `NB_CPUS`: the CPUs running at boot.
    pub cpus: u32,
    pub topology: Topology,
    /// CPUID 1 EAX and EDX of the boot CPU (every CPU is the same model in QEMU).
    pub signature: u32,
    pub features: u32,
    /// QEMU's `IRQ0_OVERRIDE`: the timer's ISA IRQ 0 arrives at IOAPIC pin 2.
    pub irq0_to_pin2: bool,
    /// How PCI interrupts are routed (`microvm`: no PCI).
    pub chipset: Chipset,
}

/// What [`build`] wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Built {
    /// CPUs the table names: fewer than `cpus` when APIC IDs run past what the format holds.
    pub cpus: u32,
    /// Bytes of the configuration table at the start of [`MP_TABLE`].
    pub config_len: u64,
}

/// Writes the table into `area` (physical [`MP_TABLE`]), checksums included: summed as the
/// entries are written (the fixed ones' sum is a constant), not by reading the table back.
pub fn build(area: &mut [u8], m: &Machine) -> Built {
    let pointer_at = (MP_FLOATING_POINTER - MP_TABLE.start) as usize;
    let (config_area, pointer_area) = area.split_at_mut(pointer_at);
    let mut config = Writer { buf: config_area, len: size_of::<Header>(), entries: 0, sum: 0 };
    let mut named = 0;
    for index in 0..m.cpus {
        let apic_id = m.topology.apic_id(index);
        if apic_id > MAX_APIC_ID {
            continue;
        }
        let flags = CPU_ENABLED | if index == 0 { CPU_BOOT } else { 0 };
        let entry: [u8; 20] = transmute!(Processor {
            kind: ENTRY_PROCESSOR,
            apic_id: apic_id as u8,
            apic_version: LAPIC_VERSION,
            flags,
            signature: U32::new(m.signature),
            features: U32::new(m.features),
            reserved: [0; 8],
        });
        config.push(&entry);
        config.sum = config.sum.wrapping_add(checksum::sum(&entry));
        named += 1;
    }
    match m.chipset {
        Chipset::I440fx => config.push_fixed(&I440FX, m.irq0_to_pin2),
        Chipset::Q35 => config.push_fixed(&Q35, m.irq0_to_pin2),
        Chipset::Microvm => config.push_fixed(&NO_PCI, m.irq0_to_pin2),
    }
    let (len, entries, entries_sum) = (config.len, config.entries, config.sum);
    let mut header = Header {
        signature: *b"PCMP",
        length: U16::new(len as u16),
        spec_rev: 4,
        checksum: 0,
        oem: *b"PVHFW   ",
        product: *b"QEMU        ",
        oem_table: U32::new(0),
        oem_table_size: U16::new(0),
        entries: U16::new(entries),
        local_apic: U32::new(LOCAL_APIC),
        extended_length: U16::new(0),
        extended_checksum: 0,
        reserved: 0,
    };
    header.checksum = 0u8.wrapping_sub(checksum::sum(header.as_bytes()).wrapping_add(entries_sum));
    config_area[..size_of::<Header>()].copy_from_slice(header.as_bytes());
    let mut pointer = FloatingPointer {
        signature: *b"_MP_",
        config: U32::new(MP_TABLE.start as u32),
        length: 1,
        spec_rev: 4,
        checksum: 0,
        features: [0; 5],
    };
    pointer.checksum = 0u8.wrapping_sub(checksum::sum(pointer.as_bytes()));
    pointer_area[..size_of::<FloatingPointer>()].copy_from_slice(pointer.as_bytes());
    Built { cpus: named, config_len: len as u64 }
}

/// The entries after the CPUs, fixed for each kind of machine: built at compile time and
/// copied in one go, with their byte sum, since the MP table is written on every boot.
struct Fixed<const LEN: usize> {
    bytes: [u8; LEN],
    sum: u8,
    /// The byte holding ISA IRQ 0's IOAPIC pin (QEMU's IRQ0_OVERRIDE makes it 2).
    irq0_pin: usize,
}

/// `microvm`: the ISA bus, the IOAPIC, ISA IRQs 0-15 but 2 on the IOAPIC pin of the same
/// number, and the local APIC's LINT0 (ExtINT) and LINT1 (NMI).
static NO_PCI: Fixed<{ 8 * (1 + 1 + 15 + 2) }> = Fixed::new(Chipset::Microvm);
/// `pc` and `q35`: PCI bus 0 first (Linux takes an MP bus ID for the PCI bus number), the ISA
/// bus as 1, the IOAPIC, the ISA IRQs but the two the PCI links use, every interrupt pin of
/// every slot of bus 0 (devices behind bridges are found through their bridge's slot), the
/// local APIC's. Every slot, not only the ones in use: finding those would cost two VM exits
/// a slot.
static I440FX: Fixed<{ 8 * (2 + 1 + 13 + 32 * 4 + 2) }> = Fixed::new(Chipset::I440fx);
static Q35: Fixed<{ 8 * (2 + 1 + 13 + 32 * 4 + 2) }> = Fixed::new(Chipset::Q35);

impl<const LEN: usize> Fixed<LEN> {
    const fn new(chipset: Chipset) -> Fixed<LEN> {
        let mut e = Entries { bytes: [0; LEN], len: 0 };
        let pci = !matches!(chipset, Chipset::Microvm);
        let isa_bus = pci as u8;
        if pci {
            e.push(transmute!(Bus { kind: ENTRY_BUS, id: 0, name: BUS_PCI }));
        }
        e.push(transmute!(Bus { kind: ENTRY_BUS, id: isa_bus, name: BUS_ISA }));
        e.push(transmute!(IoApic {
            kind: ENTRY_IOAPIC,
            id: IOAPIC_ID,
            version: IOAPIC_VERSION,
            flags: IOAPIC_ENABLED,
            address: U32::new(IOAPIC),
        }));
        // ISA IRQ 0's entry is the first one pushed after this point.
        let irq0_pin = e.len + offset_of!(IoInterrupt, ioapic_pin);
        let mut irq = 0;
        while irq < 16 {
            if irq != 2 && !chipset.irq_is_pci(irq) {
                e.push(io_interrupt(0, isa_bus, irq, irq));
            }
            irq += 1;
        }
        let mut source = 0;
        while source < 32 * 4 {
            if let Some(pin) = chipset.pci_irq(source >> 2, source & 3) {
                e.push(io_interrupt(ACTIVE_HIGH, 0, source, pin));
            }
            source += 1;
        }
        e.push(local_interrupt(EXTINT, isa_bus, 0));
        e.push(local_interrupt(NMI, isa_bus, 1));
        assert!(e.len == LEN, "entry count");
        let mut sum = 0u8;
        let mut i = 0;
        while i < LEN {
            sum = sum.wrapping_add(e.bytes[i]);
            i += 1;
        }
        Fixed { bytes: e.bytes, sum, irq0_pin }
    }
}

/// An interrupt (`INT`) from `irq` of `bus` at IOAPIC pin `pin`, as an entry's bytes.
const fn io_interrupt(flags: u8, bus: u8, irq: u8, pin: u8) -> [u8; 8] {
    transmute!(IoInterrupt {
        kind: ENTRY_IO_INTERRUPT,
        interrupt: INT,
        flags: U16::new(flags as u16),
        source_bus: bus,
        source_irq: irq,
        ioapic_id: IOAPIC_ID,
        ioapic_pin: pin,
    })
}

/// An interrupt of type `interrupt` from `bus` at every local APIC's `LINTn` pin `lint`, as an
/// entry's bytes.
const fn local_interrupt(interrupt: u8, bus: u8, lint: u8) -> [u8; 8] {
    transmute!(LocalInterrupt {
        kind: ENTRY_LOCAL_INTERRUPT,
        interrupt,
        flags: U16::new(0),
        source_bus: bus,
        source_irq: 0,
        lapic_id: ALL_LAPICS,
        lint,
    })
}

/// The fixed entries' bytes as they are built, at compile time.
struct Entries<const LEN: usize> {
    bytes: [u8; LEN],
    len: usize,
}

impl<const LEN: usize> Entries<LEN> {
    const fn push(&mut self, entry: [u8; 8]) {
        let mut i = 0;
        while i < 8 {
            self.bytes[self.len + i] = entry[i];
            i += 1;
        }
        self.len += 8;
    }
}

/// Appends entries after the header, never past the end of `buf` (sized so that 255 CPUs fit,
/// checked below).
struct Writer<'a> {
    buf: &'a mut [u8],
    len: usize,
    entries: u16,
    /// The sum of the bytes written, for the header's checksum.
    sum: u8,
}

impl Writer<'_> {
    /// Appends a machine's fixed entries, IRQ 0 on IOAPIC pin 2 if `irq0_to_pin2`.
    fn push_fixed<const LEN: usize>(&mut self, fixed: &Fixed<LEN>, irq0_to_pin2: bool) {
        let Some(slot) = self.buf.get_mut(self.len..).and_then(|rest| rest.first_chunk_mut::<LEN>()) else { return };
        *slot = fixed.bytes;
        self.sum = self.sum.wrapping_add(fixed.sum);
        if irq0_to_pin2 {
            slot[fixed.irq0_pin] = 2;
            self.sum = self.sum.wrapping_add(2);
        }
        self.len += LEN;
        self.entries += (LEN / 8) as u16;
    }

    /// Appends an entry of `N` bytes (a fixed-size copy: no memcpy call per entry).
    fn push<const N: usize>(&mut self, entry: &[u8; N]) {
        let slot = self.buf.get_mut(self.len..).and_then(|rest| rest.first_chunk_mut::<N>());
        if let Some(slot) = slot {
            *slot = *entry;
            self.len += N;
            self.entries += 1;
        }
    }
}

/// The largest configuration table: 255 CPUs and a PCI machine's fixed entries.
const MAX_CONFIG: u64 = (size_of::<Header>() + 255 * size_of::<Processor>() + I440FX.bytes.len()) as u64;
const _: () = assert!(MP_TABLE.start + MAX_CONFIG <= MP_FLOATING_POINTER);
const _: () = assert!(MP_FLOATING_POINTER + 16 <= MP_TABLE.end);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checksum;
    use crate::platform::fake::FakePlatform;

    /// QEMU's CPUID 0xB for `-smp` with `threads` per core and `cores` per socket.
    fn qemu_topology(threads: u32, cores: u32) -> Topology {
        let width = |n: u32| 32 - (n - 1).leading_zeros();
        let mut p = FakePlatform::default();
        p.cpuid.insert((0, 0), [0xd, 0, 0, 0]);
        p.cpuid.insert((0xb, 0), [width(threads), threads, 1 << 8, 0]);
        p.cpuid.insert((0xb, 1), [width(threads) + width(cores), threads * cores, 2 << 8 | 1, 0]);
        Topology::from_cpuid(&mut p)
    }

    fn ids(t: Topology, n: u32) -> std::vec::Vec<u32> {
        (0..n).map(|i| t.apic_id(i)).collect()
    }

    #[test]
    fn apic_ids_follow_qemu_topology() {
        assert_eq!(ids(qemu_topology(1, 1), 4), [0, 1, 2, 3]);
        assert_eq!(ids(qemu_topology(1, 3), 6), [0, 1, 2, 4, 5, 6]); // -smp 6,sockets=2,cores=3
        assert_eq!(ids(qemu_topology(2, 3), 8), [0, 1, 2, 3, 4, 5, 8, 9]);
        assert_eq!(ids(Topology::default(), 3), [0, 1, 2]);
        let mut no_leaf = FakePlatform::default();
        no_leaf.cpuid.insert((0, 0), [4, 0, 0, 0]);
        assert_eq!(Topology::from_cpuid(&mut no_leaf), Topology::default());
    }

    fn machine(cpus: u32, topology: Topology) -> Machine {
        Machine {
            cpus,
            topology,
            signature: 0x663,
            features: 0x078b_fbff,
            irq0_to_pin2: true,
            chipset: Chipset::Microvm,
        }
    }

    fn parse(area: &[u8]) -> (std::vec::Vec<(u8, u8)>, std::vec::Vec<[u8; 8]>) {
        let p = (MP_FLOATING_POINTER - MP_TABLE.start) as usize;
        assert_eq!(&area[p..p + 4], b"_MP_");
        assert_eq!(checksum::sum(&area[p..p + 16]), 0);
        assert_eq!(u32::from_le_bytes(area[p + 4..p + 8].try_into().unwrap()), MP_TABLE.start as u32);
        let len = u16::from_le_bytes([area[4], area[5]]) as usize;
        assert_eq!(&area[..4], b"PCMP");
        assert_eq!(checksum::sum(&area[..len]), 0);
        let (mut cpus, mut rest, mut at) = (std::vec::Vec::new(), std::vec::Vec::new(), 44);
        for _ in 0..u16::from_le_bytes([area[34], area[35]]) {
            if area[at] == 0 {
                cpus.push((area[at + 1], area[at + 3]));
                at += 20;
            } else {
                rest.push(area[at..at + 8].try_into().unwrap());
                at += 8;
            }
        }
        assert_eq!(at, len);
        (cpus, rest)
    }

    /// Builds into a fake machine's MP area and returns (CPUs named, the area's bytes).
    fn build_in_ram(m: &Machine) -> (u32, std::vec::Vec<u8>) {
        let mut p = FakePlatform::default().with_bank(MP_TABLE.start, (MP_TABLE.end - MP_TABLE.start) as usize);
        let built = build(p.phys(MP_TABLE), m);
        (built.cpus, p.read(MP_TABLE))
    }

    #[test]
    fn table_names_every_cpu_the_ioapic_and_isa_irqs() {
        let (named, area) = build_in_ram(&machine(6, qemu_topology(1, 3)));
        assert_eq!(named, 6);
        let (cpus, rest) = parse(&area);
        assert_eq!(cpus, [(0, 3), (1, 1), (2, 1), (4, 1), (5, 1), (6, 1)]);
        assert_eq!(rest[0], [1, 0, b'I', b'S', b'A', b' ', b' ', b' ']);
        assert_eq!(rest[1], [2, 0, 0x20, 1, 0, 0, 0xc0, 0xfe]);
        let irqs: std::vec::Vec<(u8, u8)> = rest.iter().filter(|e| e[0] == 3).map(|e| (e[5], e[7])).collect();
        assert_eq!(irqs.len(), 15);
        assert_eq!(irqs[0], (0, 2));
        assert!(irqs[1..].iter().all(|&(irq, pin)| irq == pin && irq != 2));
        assert_eq!(rest.iter().filter(|e| e[0] == 4).count(), 2);
    }

    /// On `pc` and `q35`: PCI bus 0, ISA bus 1, every slot's four pins on IRQ 10 or 11 as QEMU
    /// wires them, and ISA IRQs 10 and 11 left to PCI.
    #[test]
    fn pci_machines_get_pci_interrupts() {
        for (chipset, wiring) in [
            // (slot, pin, IOAPIC pin): PIIX3's swizzle; ICH9's slots 0-24, its own functions, slot 30.
            (Chipset::I440fx, [(1, 0, 10), (2, 0, 10), (3, 0, 11), (4, 0, 11), (5, 0, 10), (3, 1, 11), (3, 2, 10)]),
            (Chipset::Q35, [(0, 0, 10), (1, 0, 10), (2, 0, 11), (3, 0, 11), (24, 1, 10), (31, 2, 11), (30, 3, 11)]),
        ] {
            let m = Machine { chipset, ..machine(2, Topology::default()) };
            let (named, area) = build_in_ram(&m);
            assert_eq!(named, 2);
            let (_, rest) = parse(&area);
            assert_eq!(rest[0], [1, 0, b'P', b'C', b'I', b' ', b' ', b' ']);
            assert_eq!(rest[1], [1, 1, b'I', b'S', b'A', b' ', b' ', b' ']);
            let ints = |bus: u8| -> std::vec::Vec<(u8, u8, u8)> {
                rest.iter().filter(|e| e[0] == 3 && e[4] == bus).map(|e| (e[5], e[7], e[2])).collect()
            };
            let (pci, isa) = (ints(0), ints(1));
            assert_eq!(pci.len(), 128);
            assert!(pci.iter().all(|&(_, pin, flags)| (pin == 10 || pin == 11) && flags == ACTIVE_HIGH));
            for (slot, pin, irq) in wiring {
                assert!(pci.contains(&(slot << 2 | pin, irq, ACTIVE_HIGH)), "{chipset:?} slot {slot} pin {pin}");
            }
            assert_eq!(isa.len(), 13);
            assert_eq!(isa[0], (0, 2, 0));
            assert!(isa.iter().all(|&(irq, _, _)| irq != 2 && irq != 10 && irq != 11));
            assert!(rest.iter().filter(|e| e[0] == 4).all(|e| e[4] == 1));
        }
    }

    #[test]
    fn up_to_255_cpus_fit_and_more_are_left_out() {
        for chipset in [Chipset::Microvm, Chipset::I440fx] {
            let (named, area) = build_in_ram(&Machine { chipset, ..machine(255, Topology::default()) });
            assert_eq!(named, 255);
            assert_eq!(parse(&area).0.len(), 255);
        }
        let (named, area) = build_in_ram(&machine(300, Topology::default()));
        assert_eq!(named, 255);
        let (cpus, _) = parse(&area);
        assert_eq!(cpus.last(), Some(&(0xfe, 1)));
    }
}
