//! Checks of the platform tables the firmware handed over, found the way Linux finds them:
//! ACPI from `rsdp_paddr`, SMBIOS and the MP table by scanning memory. Every table must have a
//! valid checksum and lie outside the RAM the memory map offers the kernel.

use crate::{dec, hex, out, peek, touches_ram, Checker, Entry};

fn sum(addr: u64, len: u64) -> u8 {
    (0..len).fold(0u8, |s, i| s.wrapping_add(peek::<u8>(addr + i)))
}

fn sig(addr: u64) -> [u8; 4] {
    peek(addr)
}

/// One ACPI table: checksum, placement, and its signature printed.
fn acpi_table(c: &mut Checker, map: &[Entry], addr: u64) -> [u8; 4] {
    let len: u32 = peek(addr + 4);
    let s = sig(addr);
    c.check((36..1 << 20).contains(&len), "acpi-length", addr);
    c.check(sum(addr, len.into()) == 0, "acpi-checksum", addr);
    c.check(!touches_ram(map, addr, addr + u64::from(len)), "acpi-table-in-ram", addr);
    out(b" ");
    out(&s);
    s
}

/// Walks RSDP (`rsdp`, as the start info or boot_params gave it), RSDT or XSDT, every table,
/// the FADT's DSDT and FACS. Prints `pvhtest: acpi SIG SIG ...` or `pvhtest: acpi none`.
pub fn check_acpi(c: &mut Checker, rsdp: u64, map: &[Entry]) {
    out(b"pvhtest: acpi");
    if rsdp == 0 {
        out(b" none\n");
        return;
    }
    c.check(&peek::<[u8; 8]>(rsdp) == b"RSD PTR " && sum(rsdp, 20) == 0, "rsdp", rsdp);
    c.check(!touches_ram(map, rsdp, rsdp + 20), "rsdp-in-ram", rsdp);
    let revision: u8 = peek(rsdp + 15);
    let (root, width) = if revision >= 2 {
        c.check(sum(rsdp, 36) == 0, "rsdp-extended-checksum", rsdp);
        (peek::<u64>(rsdp + 24), 8)
    } else {
        (u64::from(peek::<u32>(rsdp + 16)), 4)
    };
    acpi_table(c, map, root);
    let len: u32 = peek(root + 4);
    for entry in (root + 36..root + u64::from(len)).step_by(width) {
        let addr = if width == 8 { peek::<u64>(entry) } else { u64::from(peek::<u32>(entry)) };
        if acpi_table(c, map, addr) == *b"FACP" {
            fadt_children(c, map, addr);
        }
    }
    out(b"\n");
}

/// The DSDT and FACS a FADT points to (the 64-bit fields win where set).
fn fadt_children(c: &mut Checker, map: &[Entry], fadt: u64) {
    let len: u32 = peek(fadt + 4);
    let wide = |at: u64, narrow: u64| {
        let w: u64 = if u64::from(len) >= at + 8 { peek(fadt + at) } else { 0 };
        if w != 0 {
            w
        } else {
            u64::from(peek::<u32>(fadt + narrow))
        }
    };
    acpi_table(c, map, wide(140, 40));
    let facs = wide(132, 36);
    if facs != 0 {
        c.check(sig(facs) == *b"FACS" && !touches_ram(map, facs, facs + 64), "facs", facs);
        out(b" FACS");
    }
}

/// Finds the SMBIOS entry point in the F segment as Linux does (16-byte steps). Prints
/// `pvhtest: smbios 2.1|3.0 VENDOR` or `pvhtest: smbios none`.
pub fn check_smbios(c: &mut Checker, map: &[Entry]) {
    out(b"pvhtest: smbios");
    let Some(anchor) = (0xf_0000..0x10_0000).step_by(16).find(|&a| {
        (&peek::<[u8; 4]>(a) == b"_SM_" && sum(a, 0x1f) == 0) || (&peek::<[u8; 5]>(a) == b"_SM3_" && sum(a, 0x18) == 0)
    }) else {
        out(b" none\n");
        return;
    };
    let (table, len) = if sig(anchor) == *b"_SM_" {
        c.check(sum(anchor + 0x10, 0xf) == 0, "smbios-dmi-checksum", anchor);
        out(b" 2.1");
        (u64::from(peek::<u32>(anchor + 0x18)), u64::from(peek::<u16>(anchor + 0x16)))
    } else {
        out(b" 3.0");
        (peek::<u64>(anchor + 0x10), u64::from(peek::<u32>(anchor + 0x0c)))
    };
    c.check(table != 0 && !touches_ram(map, table, table + len), "smbios-tables-in-ram", table);
    out(b" ");
    out(system_vendor(table, len));
    out(b"\n");
}

/// The manufacturer string of the System Information structure (type 1).
fn system_vendor(table: u64, len: u64) -> &'static [u8] {
    let mut at = table;
    while at + 4 <= table + len {
        let (kind, formatted) = (peek::<u8>(at), u64::from(peek::<u8>(at + 1)));
        let strings = at + formatted;
        if kind == 1 && formatted > 4 {
            let index = peek::<u8>(at + 4);
            return nth_string(strings, index, table + len);
        }
        // Strings end with a double NUL.
        let mut end = strings;
        while end + 1 < table + len && (peek::<u8>(end) != 0 || peek::<u8>(end + 1) != 0) {
            end += 1;
        }
        at = end + 2;
    }
    b"?"
}

fn nth_string(mut at: u64, index: u8, limit: u64) -> &'static [u8] {
    for _ in 1..index {
        while at < limit && peek::<u8>(at) != 0 {
            at += 1;
        }
        at += 1;
    }
    let mut len = 0;
    while at + len < limit && peek::<u8>(at + len) != 0 && len < 64 {
        len += 1;
    }
    // SAFETY: identity-mapped memory the test kernel only reads.
    unsafe { core::slice::from_raw_parts(at as *const u8, len as usize) }
}

/// Finds an MP floating pointer where Linux looks (first KiB, last KiB of conventional
/// memory, F segment). Prints `pvhtest: mp none` or `pvhtest: mp cpus ID,ID,.. ioapics N irqs N
/// pci N` (the processors' APIC IDs, boot CPU first; I/O interrupts from ISA and from PCI).
pub fn check_mptable(c: &mut Checker, map: &[Entry]) {
    out(b"pvhtest: mp");
    let ranges = [(0u64, 0x400u64), (0x9_fc00, 0x400), (0xf_0000, 0x1_0000)];
    let found = ranges
        .iter()
        .flat_map(|&(start, len)| (start..start + len).step_by(16))
        .find(|&a| &peek::<[u8; 4]>(a) == b"_MP_" && sum(a, 16) == 0);
    let Some(pointer) = found else {
        out(b" none\n");
        return;
    };
    c.check(!touches_ram(map, pointer, pointer + 16), "mp-pointer-in-ram", pointer);
    let table = u64::from(peek::<u32>(pointer + 4));
    let len = u64::from(peek::<u16>(table + 4));
    c.check(sig(table) == *b"PCMP" && sum(table, len) == 0, "mp-table", table);
    c.check(!touches_ram(map, table, table + len), "mp-table-in-ram", table);
    let (mut ioapics, mut irqs, mut pci_irqs, mut at) = (0u64, 0u64, 0u64, table + 44);
    let mut pci_buses = [false; 256];
    out(b" cpus ");
    for i in 0..peek::<u16>(table + 34) {
        match peek::<u8>(at) {
            0 => {
                let boot = peek::<u8>(at + 3) & 2 != 0;
                c.check(boot == (i == 0), "mp-boot-cpu-first", at);
                if i > 0 {
                    out(b",");
                }
                dec(peek::<u8>(at + 1).into());
                at += 20;
                continue;
            }
            1 => pci_buses[usize::from(peek::<u8>(at + 1))] = peek::<[u8; 6]>(at + 2) == *b"PCI   ",
            2 => ioapics += 1,
            3 if pci_buses[usize::from(peek::<u8>(at + 4))] => pci_irqs += 1,
            3 => irqs += 1,
            _ => {}
        }
        at += 8;
    }
    c.check(at == table + len, "mp-entries-length", at);
    out(b" ioapics ");
    dec(ioapics);
    out(b" irqs ");
    dec(irqs);
    out(b" pci ");
    dec(pci_irqs);
    out(b"\n");
}

/// With `-device vmgenid`: the address pvhfw wrote to `etc/vmgenid_addr` and the 16 GUID bytes
/// QEMU then put there. Prints `pvhtest: vmgenid none` or `pvhtest: vmgenid ADDR GUIDHEX`.
pub fn check_vmgenid(c: &mut Checker, map: &[Entry]) {
    out(b"pvhtest: vmgenid");
    let Some((select, _)) = crate::fw_cfg::find(b"etc/vmgenid_addr") else {
        out(b" none\n");
        return;
    };
    let mut addr = [0u8; 8];
    crate::fw_cfg::read(select, &mut addr);
    let addr = u64::from_le_bytes(addr);
    c.check(addr != 0 && !touches_ram(map, addr, addr + 16), "vmgenid-in-ram", addr);
    out(b" ");
    hex(addr);
    out(b" ");
    for i in 0..16 {
        let b: u8 = peek(addr + i);
        out(&[b"0123456789abcdef"[usize::from(b >> 4)], b"0123456789abcdef"[usize::from(b & 0xf)]]);
    }
    out(b"\n");
}
