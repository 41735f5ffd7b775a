//! ACPI tables a previous stage left in memory, found from its RSDP: for `pvhfw.elf`, which
//! does not place the tables itself, the TPM2 table that says where the TPM event log is.
//!
//! Every address comes from the previous stage and QEMU, so untrusted: memory is read only
//! through `read`, which refuses what is not plainly RAM the tables may occupy, and every
//! length is bounded.

/// The most root-table entries looked at.
const MAX_ENTRIES: usize = 64;

/// The little-endian integer of `N` bytes at `bytes[i..]`.
fn le<const N: usize>(bytes: &[u8], i: usize) -> u64 {
    let mut v = [0u8; 8];
    if let Some(b) = bytes.get(i..i + N) {
        v[..N].copy_from_slice(b);
    }
    u64::from_le_bytes(v)
}

/// The address of the table with signature `sig` that the RSDP at `rsdp` leads to (through its
/// XSDT from revision 2, else its RSDT). `read(addr, buf)` fills `buf` from physical memory, or
/// says it cannot.
pub fn find(rsdp: u64, sig: &[u8; 4], read: &mut dyn FnMut(u64, &mut [u8]) -> bool) -> Option<u64> {
    let mut r = [0u8; 36];
    if !read(rsdp, &mut r[..20]) || &r[..8] != b"RSD PTR " {
        return None;
    }
    let xsdt = if r[15] >= 2 && read(rsdp, &mut r) { le::<8>(&r, 24) } else { 0 };
    let (root, width) = if xsdt != 0 { (xsdt, 8) } else { (le::<4>(&r, 16), 4) };
    let mut header = [0u8; 36];
    if !read(root, &mut header) {
        return None;
    }
    let entries = (le::<4>(&header, 4) as usize).saturating_sub(36) / width;
    let mut pointer = [0u8; 8];
    for i in 0..entries.min(MAX_ENTRIES) {
        if !read(root.saturating_add(36 + (i * width) as u64), &mut pointer[..width]) {
            return None;
        }
        let at = le::<8>(&pointer, 0);
        if read(at, &mut header[..4]) && &header[..4] == sig {
            return Some(at);
        }
    }
    None
}

/// The event log area a TPM2 table (its first 76 bytes, `table`) describes: its address (LASA)
/// and size (LAML), when the table is long enough to have them and they are set.
pub fn tpm2_log_area(table: &[u8; 76]) -> Option<(u64, u64)> {
    let (len, laml, lasa) = (le::<4>(table, 4), le::<4>(table, 64), le::<8>(table, 68));
    (len >= 76 && laml != 0 && lasa != 0).then_some((lasa, laml))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// Memory holding an RSDP (revision `rev`) at 0x1000, its root table at 0x2000 listing a
    /// FACP and a TPM2 table.
    fn memory(rev: u8) -> Vec<u8> {
        let mut m = std::vec![0u8; 0x4000];
        m[0x1000..0x1008].copy_from_slice(b"RSD PTR ");
        m[0x1000 + 15] = rev;
        let width = if rev >= 2 { 8 } else { 4 };
        if rev >= 2 {
            m[0x1000 + 24..0x1000 + 32].copy_from_slice(&0x2000u64.to_le_bytes());
        } else {
            m[0x1000 + 16..0x1000 + 20].copy_from_slice(&0x2000u32.to_le_bytes());
        }
        m[0x2000 + 4..0x2000 + 8].copy_from_slice(&((36 + 2 * width) as u32).to_le_bytes());
        m[0x2000 + 36..0x2000 + 36 + width].copy_from_slice(&0x3000u64.to_le_bytes()[..width]);
        m[0x2000 + 36 + width..0x2000 + 36 + 2 * width].copy_from_slice(&0x3100u64.to_le_bytes()[..width]);
        m[0x3000..0x3004].copy_from_slice(b"FACP");
        m[0x3100..0x3104].copy_from_slice(b"TPM2");
        m[0x3104..0x3108].copy_from_slice(&76u32.to_le_bytes());
        m[0x3100 + 64..0x3100 + 68].copy_from_slice(&0x10000u32.to_le_bytes());
        m[0x3100 + 68..0x3100 + 76].copy_from_slice(&0x7000_0000u64.to_le_bytes());
        m
    }

    fn reader(m: &[u8]) -> impl FnMut(u64, &mut [u8]) -> bool + '_ {
        |addr, buf| match usize::try_from(addr).ok().and_then(|a| m.get(a..a.checked_add(buf.len())?)) {
            Some(bytes) => {
                buf.copy_from_slice(bytes);
                true
            }
            None => false,
        }
    }

    #[test]
    fn finds_the_tpm2_table_and_its_log_through_rsdt_and_xsdt() {
        for rev in [0, 2] {
            let m = memory(rev);
            let at = find(0x1000, b"TPM2", &mut reader(&m));
            assert_eq!(at, Some(0x3100), "revision {rev}");
            let table: [u8; 76] = m[0x3100..0x3100 + 76].try_into().unwrap();
            assert_eq!(tpm2_log_area(&table), Some((0x7000_0000, 0x10000)));
            assert_eq!(find(0x1000, b"HPET", &mut reader(&m)), None);
        }
    }

    #[test]
    fn bad_pointers_and_short_tables_find_nothing() {
        let mut m = memory(2);
        assert_eq!(find(0x1001, b"TPM2", &mut reader(&m)), None, "no RSDP there");
        m[0x2000 + 36..0x2000 + 44].copy_from_slice(&u64::MAX.to_le_bytes());
        m[0x2000 + 44..0x2000 + 52].copy_from_slice(&0x10_0000u64.to_le_bytes());
        assert_eq!(find(0x1000, b"TPM2", &mut reader(&m)), None);
        let mut short = [0u8; 76];
        short[4] = 64;
        assert_eq!(tpm2_log_area(&short), None);
    }
}
