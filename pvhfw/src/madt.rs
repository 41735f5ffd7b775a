//! What the MP table needs from QEMU's ACPI tables once they are in memory: the CPUs running at
//! boot and whether the timer's ISA IRQ 0 arrives at IOAPIC pin 2. With ACPI these come from
//! the MADT the table loader just placed, which saves two fw_cfg reads (two VM exits).
//!
//! The tables are QEMU's, so untrusted: every pointer and length is checked against the
//! memory the loader filled; anything odd gives `None`, and the boot asks fw_cfg instead.

/// From the MADT ("APIC").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cpus {
    /// Local APIC (and x2APIC) entries flagged enabled: QEMU's boot CPUs (`NB_CPUS`).
    pub enabled: u32,
    /// An interrupt source override routes ISA IRQ 0 to global interrupt 2.
    pub irq0_to_pin2: bool,
}

/// The memory the table loader filled with the tables the RSDP points to.
pub struct Tables<'a> {
    pub base: u64,
    pub bytes: &'a [u8],
}

impl<'a> Tables<'a> {
    /// `len` bytes at physical `addr`, if they lie here.
    fn at(&self, addr: u64, len: u64) -> Option<&'a [u8]> {
        let start = usize::try_from(addr.checked_sub(self.base)?).ok()?;
        self.bytes.get(start..start.checked_add(usize::try_from(len).ok()?)?)
    }
}

/// The little-endian integer of `N` bytes at `bytes[i..]` (fixed-width loads, no byte loop).
fn le<const N: usize>(bytes: &[u8], i: usize) -> u64 {
    let mut v = [0u8; 8];
    if let Some(b) = bytes.get(i..i + N) {
        v[..N].copy_from_slice(b);
    }
    u64::from_le_bytes(v)
}

/// The ACPI table at `addr`, whole (its length from its header).
fn table<'a>(mem: &Tables<'a>, addr: u64) -> Option<&'a [u8]> {
    let len = le::<4>(mem.at(addr, 8)?, 4);
    (len >= 36).then(|| mem.at(addr, len)).flatten()
}

/// Reads the MADT that `rsdp` (the RSDP's bytes) leads to.
pub fn cpus(rsdp: &[u8], mem: &Tables) -> Option<Cpus> {
    // Revision 2 and later: the XSDT's 64-bit pointers; before, the RSDT's 32-bit ones.
    let xsdt = if rsdp.len() >= 36 && *rsdp.get(15)? >= 2 { le::<8>(rsdp, 24) } else { 0 };
    let root = table(mem, if xsdt != 0 { xsdt } else { le::<4>(rsdp, 16) })?;
    let pointer = |p: &[u8]| if xsdt != 0 { le::<8>(p, 0) } else { le::<4>(p, 0) };
    let width = if xsdt != 0 { 8 } else { 4 };
    let madt = root[36..].chunks_exact(width).find_map(|p| table(mem, pointer(p)).filter(|t| t[..4] == *b"APIC"))?;
    let mut cpus = Cpus { enabled: 0, irq0_to_pin2: false };
    let mut entries = madt.get(44..)?;
    while let [kind, len, ..] = *entries {
        let entry = entries.get(..usize::from(len).max(2))?;
        match (kind, entry) {
            // Processor local APIC: flags at 4, bit 0 enabled.
            (0, [_, 8, _, _, flags, ..]) => cpus.enabled += u32::from(flags & 1),
            // Processor local x2APIC: flags at 8.
            (9, [_, 16, _, _, _, _, _, _, flags, ..]) => cpus.enabled += u32::from(flags & 1),
            // Interrupt source override: bus, source IRQ, global system interrupt.
            (2, [_, 10, _, 0, ..]) => cpus.irq0_to_pin2 |= le::<4>(entry, 4) == 2,
            _ => {}
        }
        entries = &entries[entry.len()..];
    }
    Some(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// An ACPI table: signature, length, then `body` after a 36-byte header.
    fn acpi(sig: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut t = sig.to_vec();
        t.extend_from_slice(&((36 + body.len()) as u32).to_le_bytes());
        t.resize(36, 0);
        t.extend_from_slice(body);
        t
    }

    /// RSDP in the F-segment window (revision `rev`), RSDT/XSDT and the MADT at 0x20000.
    fn machine(rev: u8, entries: &[&[u8]]) -> (Vec<u8>, Vec<u8>) {
        let mut madt_body = std::vec![0u8; 8];
        entries.iter().for_each(|e| madt_body.extend_from_slice(e));
        let madt = acpi(b"APIC", &madt_body);
        let facp = acpi(b"FACP", &[0; 8]);
        let (width, sig) = if rev >= 2 { (8, b"XSDT") } else { (4, b"RSDT") };
        let root_len = 36 + 2 * width;
        let (facp_at, madt_at) = (0x20000 + root_len as u64, 0x20000 + (root_len + facp.len()) as u64);
        let mut body = facp_at.to_le_bytes()[..width].to_vec();
        body.extend_from_slice(&madt_at.to_le_bytes()[..width]);
        let mut tables = acpi(sig, &body);
        tables.extend(facp);
        tables.extend(madt);
        let mut rsdp = b"RSD PTR ".to_vec();
        rsdp.resize(36, 0);
        rsdp[15] = rev;
        if rev >= 2 {
            rsdp[24..32].copy_from_slice(&0x20000u64.to_le_bytes());
        } else {
            rsdp[16..20].copy_from_slice(&0x20000u32.to_le_bytes());
        }
        (rsdp, tables)
    }

    const LAPIC_ON: [u8; 8] = [0, 8, 0, 0, 1, 0, 0, 0];
    const LAPIC_OFF: [u8; 8] = [0, 8, 1, 1, 0, 0, 0, 0];
    const ISO_IRQ0_PIN2: [u8; 10] = [2, 10, 0, 0, 2, 0, 0, 0, 0, 0];
    const IOAPIC: [u8; 12] = [1, 12, 0, 0, 0, 0, 0xc0, 0xfe, 0, 0, 0, 0];

    #[test]
    fn counts_enabled_cpus_and_finds_the_irq0_override() {
        for rev in [0, 2] {
            let (rsdp, tables) = machine(rev, &[&LAPIC_ON, &LAPIC_ON, &LAPIC_OFF, &IOAPIC, &ISO_IRQ0_PIN2]);
            let mem = Tables { base: 0x20000, bytes: &tables };
            assert_eq!(cpus(&rsdp, &mem), Some(Cpus { enabled: 2, irq0_to_pin2: true }), "rev {rev}");
            let (rsdp, tables) = machine(rev, &[&LAPIC_ON, &IOAPIC]);
            let mem = Tables { base: 0x20000, bytes: &tables };
            assert_eq!(cpus(&rsdp, &mem), Some(Cpus { enabled: 1, irq0_to_pin2: false }));
        }
    }

    #[test]
    fn anything_odd_is_none() {
        let (rsdp, tables) = machine(0, &[&LAPIC_ON]);
        let with = |t: &[u8]| cpus(&rsdp, &Tables { base: 0x20000, bytes: t });
        assert!(with(&tables).is_some());
        assert_eq!(cpus(&rsdp[..10], &Tables { base: 0x20000, bytes: &tables }), None, "RSDP cut short");
        assert_eq!(cpus(&rsdp, &Tables { base: 0x21000, bytes: &tables }), None, "tables elsewhere");
        let n = tables.len();
        assert_eq!(with(&tables[..n - 4]), None, "MADT cut short");
        let mut bad_entry = tables.clone();
        bad_entry[n - 7] = 200; // the LAPIC entry claims 200 bytes
        assert_eq!(with(&bad_entry), None);
        let mut zero_len = tables.clone();
        zero_len[n - 7] = 0; // a 0-byte entry must not loop forever
        assert!(with(&zero_len).is_some());
        let mut no_madt = tables;
        no_madt[n - 52..n - 48].copy_from_slice(b"XXXX"); // the MADT (52 bytes) is last
        assert_eq!(with(&no_madt), None);
    }
}
