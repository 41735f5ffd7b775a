//! Partition tables: GPT (UEFI spec, chapter 5.3), MBR (with its extended partition's chain of
//! logical ones), or none, the filesystem then being the whole disk.
//!
//! [`Table::read`] finds and checks the table; [`Table::partitions`] then walks its entries
//! one disk read at a time, so no table is ever held in memory whole. Sectors are 512 bytes
//! ([`SECTOR`]): the logical block size of virtio-blk disks as QEMU makes them.

use super::crc32::Crc32;
use super::{BlockRead, DiskError, SECTOR};
use core::mem::{offset_of, size_of};
use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, KnownLayout};

/// The boot signature closing an MBR (and most boot sectors): bytes 510 and 511.
const MBR_SIGNATURE: [u8; 2] = [0x55, 0xaa];
/// Where an MBR's four partition entries start.
const MBR_ENTRIES: usize = 446;
/// Where an MBR's disk signature (Linux's PARTUUID prefix) is.
const MBR_DISK_SIGNATURE: usize = 440;
/// The MBR type of a GPT's protective partition.
const MBR_GPT_PROTECTIVE: u8 = 0xee;
/// MBR types of an extended partition (CHS, LBA, Linux).
const MBR_EXTENDED: [u8; 3] = [0x05, 0x0f, 0x85];
/// Logical partitions followed down an extended partition's chain: it may loop.
const MAX_LOGICAL: u32 = 128;

/// "EFI PART", the GPT header's signature.
const GPT_SIGNATURE: u64 = 0x5452_4150_2049_4645;
/// The part of a GPT entry this reader uses; entries are at least this large.
const GPT_ENTRY_MIN: u32 = 128;
/// The largest entry array read (the usual one is 16 KiB): checking its CRC reads it all.
const GPT_ARRAY_MAX: u64 = 1 << 20;

/// One MBR partition entry (16 bytes at 446, 462, 478, 494).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, Immutable, KnownLayout)]
struct MbrEntry {
    status: u8,
    chs_first: [u8; 3],
    kind: u8,
    chs_last: [u8; 3],
    lba_first: U32,
    sectors: U32,
}
const _: () = assert!(size_of::<MbrEntry>() == 16);
const _: () = assert!(offset_of!(MbrEntry, kind) == 4);
const _: () = assert!(offset_of!(MbrEntry, lba_first) == 8);

/// The GPT header (UEFI 5.3.2), as far as its defined fields go.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, Immutable, KnownLayout)]
struct GptHeader {
    signature: U64,
    revision: U32,
    header_size: U32,
    header_crc32: U32,
    reserved: U32,
    my_lba: U64,
    alternate_lba: U64,
    first_usable_lba: U64,
    last_usable_lba: U64,
    disk_guid: [u8; 16],
    entries_lba: U64,
    entry_count: U32,
    entry_size: U32,
    entries_crc32: U32,
}
const _: () = assert!(size_of::<GptHeader>() == 92);
const _: () = assert!(offset_of!(GptHeader, header_crc32) == 16);
const _: () = assert!(offset_of!(GptHeader, entries_lba) == 72);
const _: () = assert!(offset_of!(GptHeader, entries_crc32) == 88);

/// A GPT partition entry (UEFI 5.3.3), its first 128 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, Immutable, KnownLayout)]
struct GptEntry {
    type_guid: [u8; 16],
    unique_guid: [u8; 16],
    first_lba: U64,
    last_lba: U64,
    attributes: U64,
    name: [U16; 36],
}
const _: () = assert!(size_of::<GptEntry>() == GPT_ENTRY_MIN as usize);
const _: () = assert!(offset_of!(GptEntry, first_lba) == 32);
const _: () = assert!(offset_of!(GptEntry, name) == 56);

/// GPT type GUIDs as they are stored (the first three fields little-endian).
mod guid {
    pub const UNUSED: [u8; 16] = [0; 16];
    /// c12a7328-f81f-11d2-ba4b-00a0c93ec93b
    pub const ESP: [u8; 16] = super::guid_bytes(0xc12a7328, 0xf81f, 0x11d2, 0xba4b_00a0_c93e_c93b);
    /// bc13c2ff-59e6-4262-a352-b275fd6f7172 (the Boot Loader Specification's $BOOT)
    pub const XBOOTLDR: [u8; 16] = super::guid_bytes(0xbc13c2ff, 0x59e6, 0x4262, 0xa352_b275_fd6f_7172);
    /// 21686148-6449-6e6f-744e-656564454649 ("Hah!IdontNeedEFI")
    pub const BIOS_BOOT: [u8; 16] = super::guid_bytes(0x21686148, 0x6449, 0x6e6f, 0x744e_6565_6445_4649);
    /// 0fc63daf-8483-4772-8e79-3d69d8477de4
    pub const LINUX_FS: [u8; 16] = super::guid_bytes(0x0fc63daf, 0x8483, 0x4772, 0x8e79_3d69_d847_7de4);
}

/// A GUID's stored bytes from its text form's fields.
const fn guid_bytes(a: u32, b: u16, c: u16, d: u64) -> [u8; 16] {
    let (a, b, c, d) = (a.to_le_bytes(), b.to_le_bytes(), c.to_le_bytes(), d.to_be_bytes());
    [a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]
}

/// What a partition is for, as far as booting cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// EFI system partition (GPT, MBR 0xEF).
    Esp,
    /// The Boot Loader Specification's extended boot loader partition (GPT).
    Xbootldr,
    /// GRUB's BIOS boot partition (GPT): no filesystem.
    BiosBoot,
    /// Linux filesystem data (GPT) or MBR 0x83.
    Linux,
    /// MBR FAT types 0x06, 0x0B, 0x0C, 0x0E.
    Fat,
    /// The whole disk, there being no partition table.
    WholeDisk,
    /// Any other type.
    Other,
}

impl Kind {
    fn from_gpt(t: &[u8; 16]) -> Kind {
        match *t {
            guid::ESP => Kind::Esp,
            guid::XBOOTLDR => Kind::Xbootldr,
            guid::BIOS_BOOT => Kind::BiosBoot,
            guid::LINUX_FS => Kind::Linux,
            _ => Kind::Other,
        }
    }

    fn from_mbr(t: u8) -> Kind {
        match t {
            0xef => Kind::Esp,
            0x83 => Kind::Linux,
            0x06 | 0x0b | 0x0c | 0x0e => Kind::Fat,
            _ => Kind::Other,
        }
    }
}

/// A partition's type as the table stores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    Gpt([u8; 16]),
    Mbr(u8),
    None,
}

/// Text of a PARTUUID as Linux's `root=PARTUUID=` takes it: 36 bytes for a GPT GUID, 11 for
/// an MBR's `xxxxxxxx-NN`, none for a whole disk.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PartUuid {
    text: [u8; 36],
    len: u8,
}

impl PartUuid {
    const NONE: PartUuid = PartUuid { text: [0; 36], len: 0 };

    pub fn as_str(&self) -> &str {
        // Only ever filled with ASCII hex digits and '-'.
        core::str::from_utf8(self.text.get(..usize::from(self.len)).unwrap_or_default()).unwrap_or_default()
    }

    /// Lowercase text of a GUID stored as GPT stores it (mixed-endian).
    fn from_guid(g: &[u8; 16]) -> PartUuid {
        // Byte order of the text's 32 digits: the first three fields are little-endian.
        const ORDER: [usize; 16] = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
        let mut u = PartUuid { text: [0; 36], len: 36 };
        let mut at = 0;
        for (i, &b) in ORDER.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                u.text[at] = b'-';
                at += 1;
            }
            u.text[at] = hex(g[b] >> 4);
            u.text[at + 1] = hex(g[b] & 0xf);
            at += 2;
        }
        u
    }

    /// `xxxxxxxx-NN`: the disk signature in hex, then the partition number (Linux's form).
    fn from_mbr(signature: u32, number: u32) -> PartUuid {
        let mut u = PartUuid { text: [0; 36], len: 11 };
        for i in 0..8 {
            u.text[i] = hex((signature >> (28 - 4 * i)) as u8 & 0xf);
        }
        u.text[8] = b'-';
        u.text[9] = hex((number >> 4) as u8 & 0xf);
        u.text[10] = hex(number as u8 & 0xf);
        u
    }
}

impl core::fmt::Debug for PartUuid {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn hex(n: u8) -> u8 {
    b"0123456789abcdef"[usize::from(n & 0xf)]
}

/// One partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partition {
    /// Linux's partition number: GPT entry index + 1; MBR 1-4 primary, 5 on logical; 0 for a
    /// whole disk.
    pub number: u32,
    /// First sector.
    pub start: u64,
    /// Size in sectors.
    pub sectors: u64,
    pub kind: Kind,
    pub type_: Type,
    pub uuid: PartUuid,
    /// The GPT partition name, UTF-16 (unused code units zero); empty for MBR.
    pub name: [u16; 36],
}

impl Partition {
    /// The GPT name, decoded (unpaired surrogates as U+FFFD).
    pub fn name_chars(&self) -> impl Iterator<Item = char> + '_ {
        let end = self.name.iter().position(|&c| c == 0).unwrap_or(self.name.len());
        char::decode_utf16(self.name.iter().take(end).copied()).map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
    }
}

/// Where a disk's partitions are described.
#[derive(Clone, Copy, Debug)]
pub enum Table {
    /// A GPT whose header (primary, or the backup if the primary is damaged) and entry array
    /// passed their CRC32 checks.
    Gpt { entries_lba: u64, entry_count: u32, entry_size: u32, backup: bool },
    /// An MBR: its four entries and disk signature.
    Mbr { signature: u32, entries: [MbrEntryCopy; 4] },
    /// No table: the filesystem starts at sector 0.
    None { sectors: u64 },
}

/// An MBR entry's fields this reader uses.
#[derive(Clone, Copy, Debug, Default)]
pub struct MbrEntryCopy {
    kind: u8,
    start: u32,
    sectors: u32,
}

impl From<&MbrEntry> for MbrEntryCopy {
    fn from(e: &MbrEntry) -> Self {
        MbrEntryCopy { kind: e.kind, start: e.lba_first.get(), sectors: e.sectors.get() }
    }
}

fn corrupt(what: &'static str) -> DiskError {
    DiskError::Corrupt { what }
}

impl Table {
    /// Finds the disk's partition table: a GPT if LBA 1 holds a valid header or the MBR
    /// protects one (then the backup at the last LBA is tried too), else an MBR if sector 0
    /// looks like one, else none.
    #[inline(never)]
    pub fn read<D: BlockRead>(disk: &mut D) -> Result<Table, DiskError> {
        let mut mbr = [0u8; SECTOR];
        disk.read(0, &mut mbr)?;
        let entries = mbr_entries(&mbr);
        let protective = mbr[510..] == MBR_SIGNATURE && entries.iter().any(|e| e.kind == MBR_GPT_PROTECTIVE);
        let last = disk.sectors().checked_sub(1).ok_or(corrupt("disk: empty"))?;
        match read_gpt(disk, 1, last) {
            Ok(t) => return Ok(t),
            Err(e) if protective || !matches!(e, DiskError::Corrupt { what: "GPT header: signature" }) => {
                return read_gpt(disk, last, 1).map_err(|_| e);
            }
            Err(_) => {}
        }
        if is_mbr(&mbr, &entries) {
            let sig = &mbr[MBR_DISK_SIGNATURE..];
            let signature = u32::from_le_bytes([sig[0], sig[1], sig[2], sig[3]]);
            return Ok(Table::Mbr { signature, entries: entries.map(|e| MbrEntryCopy::from(&e)) });
        }
        Ok(Table::None { sectors: disk.sectors() })
    }

    /// The partitions, in table order; empty GPT and MBR slots are skipped. An entry that
    /// does not fit the disk comes out as an error and the walk goes on.
    pub fn partitions<'d, D: BlockRead>(&self, disk: &'d mut D) -> Partitions<'d, D> {
        Partitions { table: *self, disk, next: 0, ebr: None, logical: 0, extended: false, done: false }
    }
}

fn mbr_entries(mbr: &[u8; SECTOR]) -> [MbrEntry; 4] {
    let mut out = [MbrEntry::default(); 4];
    for (i, e) in out.iter_mut().enumerate() {
        let at = MBR_ENTRIES + 16 * i;
        *e = MbrEntry::read_from_bytes(&mbr[at..at + 16]).unwrap_or_default();
    }
    out
}

/// Whether sector 0 is an MBR rather than a filesystem's boot sector: the signature, every
/// status byte 0x00 or 0x80 (as Linux checks), at least one used entry, and not a FAT boot
/// sector (a jump, then "FAT" where FAT12/16 or FAT32 name their type).
fn is_mbr(mbr: &[u8; SECTOR], entries: &[MbrEntry; 4]) -> bool {
    let fat = matches!(mbr[0], 0xeb | 0xe9) && (mbr[54..57] == *b"FAT" || mbr[82..85] == *b"FAT");
    mbr[510..] == MBR_SIGNATURE
        && entries.iter().all(|e| e.status & 0x7f == 0)
        && entries.iter().any(|e| e.kind != 0 && e.sectors.get() != 0)
        && !fat
}

/// Reads and checks the GPT header at `lba` (its own LBA; `alternate` the other copy's) and
/// the entry array it points at.
fn read_gpt<D: BlockRead>(disk: &mut D, lba: u64, alternate: u64) -> Result<Table, DiskError> {
    let mut sector = [0u8; SECTOR];
    disk.read(lba, &mut sector)?;
    let h = GptHeader::read_from_prefix(&sector).map_err(|_| corrupt("GPT header"))?.0;
    if h.signature.get() != GPT_SIGNATURE {
        return Err(corrupt("GPT header: signature"));
    }
    let size = h.header_size.get() as usize;
    if !(size_of::<GptHeader>()..=SECTOR).contains(&size) {
        return Err(corrupt("GPT header: size"));
    }
    let mut crc = Crc32::new();
    crc.update(&sector[..16]);
    crc.update(&[0; 4]);
    crc.update(&sector[20..size]);
    if crc.finalize() != h.header_crc32.get() {
        return Err(corrupt("GPT header: CRC32"));
    }
    if h.my_lba.get() != lba || h.alternate_lba.get() != alternate {
        return Err(corrupt("GPT header: LBAs"));
    }
    let (count, entry_size) = (h.entry_count.get(), h.entry_size.get());
    if entry_size < GPT_ENTRY_MIN || !entry_size.is_power_of_two() {
        return Err(corrupt("GPT header: entry size"));
    }
    let bytes = u64::from(count) * u64::from(entry_size);
    if bytes > GPT_ARRAY_MAX {
        return Err(DiskError::TooLarge { what: "GPT entry array" });
    }
    check_entries_crc(disk, h.entries_lba.get(), bytes, h.entries_crc32.get())?;
    Ok(Table::Gpt { entries_lba: h.entries_lba.get(), entry_count: count, entry_size, backup: lba != 1 })
}

/// Checks the CRC32 of the `bytes`-long entry array at `lba`, a sector at a time.
fn check_entries_crc<D: BlockRead>(disk: &mut D, lba: u64, bytes: u64, want: u32) -> Result<(), DiskError> {
    let mut crc = Crc32::new();
    let mut sector = [0u8; SECTOR];
    let mut left = bytes;
    let mut at = lba;
    while left > 0 {
        disk.read(at, &mut sector)?;
        let n = left.min(SECTOR as u64);
        crc.update(&sector[..n as usize]);
        left -= n;
        at = at.checked_add(1).ok_or(corrupt("GPT entry array: LBA"))?;
    }
    if crc.finalize() != want {
        return Err(corrupt("GPT entry array: CRC32"));
    }
    Ok(())
}

/// The walk over a [`Table`]'s partitions.
pub struct Partitions<'d, D: BlockRead> {
    table: Table,
    disk: &'d mut D,
    /// The next GPT entry or MBR slot.
    next: u32,
    /// The extended partition being walked: (its start, the next EBR's LBA).
    ebr: Option<(u64, u64)>,
    /// Extended boot records read so far.
    logical: u32,
    /// Whether the extended partition was met (only the first one is walked).
    extended: bool,
    done: bool,
}

impl<D: BlockRead> Iterator for Partitions<'_, D> {
    type Item = Result<Partition, DiskError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = match self.table {
            Table::Gpt { entries_lba, entry_count, entry_size, .. } => {
                self.next_gpt(entries_lba, entry_count, entry_size)
            }
            Table::Mbr { signature, entries } => self.next_mbr(signature, &entries),
            Table::None { sectors } => {
                self.done = true;
                let uuid = PartUuid::NONE;
                let p = Partition {
                    number: 0,
                    start: 0,
                    sectors,
                    kind: Kind::WholeDisk,
                    type_: Type::None,
                    uuid,
                    name: [0; 36],
                };
                Some(Ok(p))
            }
        };
        if matches!(item, None | Some(Err(DiskError::Read { .. }))) {
            self.done = true;
        }
        item
    }
}

impl<D: BlockRead> Partitions<'_, D> {
    fn next_gpt(&mut self, lba: u64, count: u32, size: u32) -> Option<Result<Partition, DiskError>> {
        let mut sector = [0u8; SECTOR];
        let mut loaded = None;
        while self.next < count {
            let index = self.next;
            self.next += 1;
            let byte = u64::from(index) * u64::from(size);
            let at = lba.checked_add(byte / SECTOR as u64)?;
            if loaded != Some(at) {
                if let Err(e) = self.disk.read(at, &mut sector) {
                    return Some(Err(e));
                }
                loaded = Some(at);
            }
            // Entry sizes are powers of two of at least 128, so an entry's first 128 bytes
            // never cross a sector.
            let off = (byte % SECTOR as u64) as usize;
            let e = GptEntry::read_from_prefix(sector.get(off..)?).ok()?.0;
            if e.type_guid == guid::UNUSED {
                continue;
            }
            return Some(self.gpt_partition(index, &e));
        }
        None
    }

    fn gpt_partition(&self, index: u32, e: &GptEntry) -> Result<Partition, DiskError> {
        let (first, last) = (e.first_lba.get(), e.last_lba.get());
        if first > last || last >= self.disk.sectors() {
            return Err(corrupt("GPT entry: LBAs outside the disk"));
        }
        Ok(Partition {
            number: index + 1,
            start: first,
            sectors: last - first + 1,
            kind: Kind::from_gpt(&e.type_guid),
            type_: Type::Gpt(e.type_guid),
            uuid: PartUuid::from_guid(&e.unique_guid),
            name: e.name.map(|c| c.get()),
        })
    }

    fn next_mbr(&mut self, signature: u32, entries: &[MbrEntryCopy; 4]) -> Option<Result<Partition, DiskError>> {
        loop {
            if let Some((ext_start, ebr)) = self.ebr {
                match self.next_logical(signature, ext_start, ebr) {
                    Some(item) => return Some(item),
                    None => continue,
                }
            }
            let e = entries.get(self.next as usize)?;
            self.next += 1;
            if e.kind == 0 || e.sectors == 0 {
                continue;
            }
            if MBR_EXTENDED.contains(&e.kind) {
                // Only the first extended partition holds logical ones (as in Linux).
                if !self.extended {
                    self.extended = true;
                    self.ebr = Some((u64::from(e.start), u64::from(e.start)));
                }
                continue;
            }
            return Some(self.mbr_partition(signature, self.next, e, 0));
        }
    }

    fn mbr_partition(&self, signature: u32, number: u32, e: &MbrEntryCopy, base: u64) -> Result<Partition, DiskError> {
        let start = base.saturating_add(u64::from(e.start));
        if start.saturating_add(u64::from(e.sectors)) > self.disk.sectors() {
            return Err(corrupt("MBR entry: sectors outside the disk"));
        }
        Ok(Partition {
            number,
            start,
            sectors: u64::from(e.sectors),
            kind: Kind::from_mbr(e.kind),
            type_: Type::Mbr(e.kind),
            uuid: PartUuid::from_mbr(signature, number),
            name: [0; 36],
        })
    }

    /// The logical partition the EBR at `ebr` describes (its first entry, relative to the
    /// EBR), if it describes one, moving on to the next EBR (its second entry, relative to the
    /// extended partition).
    fn next_logical(&mut self, signature: u32, ext_start: u64, ebr: u64) -> Option<Result<Partition, DiskError>> {
        self.ebr = None;
        if self.logical >= MAX_LOGICAL {
            return Some(Err(corrupt("MBR: extended partition chain too long")));
        }
        self.logical += 1;
        let mut sector = [0u8; SECTOR];
        if let Err(e) = self.disk.read(ebr, &mut sector) {
            return Some(Err(e));
        }
        if sector[510..] != MBR_SIGNATURE {
            return Some(Err(corrupt("MBR: extended boot record signature")));
        }
        let [this, next, ..] = mbr_entries(&sector);
        if next.kind != 0 && next.sectors.get() != 0 {
            self.ebr = Some((ext_start, ext_start + u64::from(next.lba_first.get())));
        }
        if this.kind == 0 || this.sectors.get() == 0 {
            return None;
        }
        Some(self.mbr_partition(signature, 4 + self.logical, &MbrEntryCopy::from(&this), ebr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::testimg::image;
    use std::string::String;
    use std::vec;
    use std::vec::Vec;

    fn parts(img: &[u8]) -> (Table, Vec<Result<Partition, DiskError>>) {
        let mut disk = img;
        let table = Table::read(&mut disk).unwrap();
        let parts = table.partitions(&mut disk).collect();
        (table, parts)
    }

    fn check_gpt(parts: &[Result<Partition, DiskError>]) {
        let p: Vec<&Partition> = parts.iter().map(|p| p.as_ref().unwrap()).collect();
        assert_eq!(p.len(), 3);
        let summary: Vec<(u32, u64, u64, Kind, &str, String)> = p
            .iter()
            .map(|p| (p.number, p.start, p.sectors, p.kind, p.uuid.as_str(), p.name_chars().collect()))
            .collect();
        assert_eq!(
            summary,
            [
                (1, 2048, 2048, Kind::Esp, "11111111-2222-4333-8444-555555555555", "ESP".into()),
                (2, 4096, 16384, Kind::Linux, "0a1b2c3d-4e5f-4061-8273-9485a6b7c8d9", "root".into()),
                (3, 20480, 2048, Kind::Xbootldr, "bc13c2ff-0000-4000-8000-000000000003", "boot".into()),
            ]
        );
    }

    #[test]
    fn gpt() {
        let img = image("gpt-ext4.img");
        let (table, p) = parts(&img);
        assert!(matches!(table, Table::Gpt { entry_count: 128, entry_size: 128, backup: false, .. }));
        check_gpt(&p);
    }

    #[test]
    fn gpt_backup_when_primary_zeroed_or_damaged() {
        let mut img = image("gpt-ext4.img");
        img[SECTOR + 30] ^= 1; // inside the header: its CRC32 no longer matches
        let (table, p) = parts(&img);
        assert!(matches!(table, Table::Gpt { backup: true, .. }));
        check_gpt(&p);
        img[SECTOR..2 * SECTOR].fill(0);
        let (table, p) = parts(&img);
        assert!(matches!(table, Table::Gpt { backup: true, .. }));
        check_gpt(&p);
        // The primary entry array damaged: its CRC32 fails, the backup's copy is used.
        let mut img = image("gpt-ext4.img");
        img[2 * SECTOR + 40] ^= 1;
        let (table, p) = parts(&img);
        assert!(matches!(table, Table::Gpt { backup: true, .. }));
        check_gpt(&p);
    }

    #[test]
    fn gpt_both_headers_damaged() {
        let mut img = image("gpt-ext4.img");
        let last = img.len() - SECTOR;
        img[SECTOR + 30] ^= 1;
        img[last + 30] ^= 1;
        assert_eq!(Table::read(&mut img.as_slice()).unwrap_err(), corrupt("GPT header: CRC32"));
    }

    #[test]
    fn mbr() {
        let img = image("mbr-ext2.img");
        let (table, p) = parts(&img);
        assert!(matches!(table, Table::Mbr { signature: 0x1234abcd, .. }));
        let p: Vec<Partition> = p.into_iter().map(Result::unwrap).collect();
        assert_eq!(p.len(), 1);
        assert_eq!((p[0].number, p[0].start, p[0].sectors), (1, 2048, 4096));
        assert_eq!((p[0].kind, p[0].type_, p[0].uuid.as_str()), (Kind::Linux, Type::Mbr(0x83), "1234abcd-01"));
    }

    /// An MBR whose second slot is an extended partition with two logical partitions.
    #[test]
    fn mbr_logical() {
        let mut img = vec![0u8; 64 * SECTOR];
        let entry = |img: &mut [u8], sector: usize, slot: usize, kind: u8, start: u32, len: u32| {
            let at = sector * SECTOR + MBR_ENTRIES + 16 * slot;
            img[at + 4] = kind;
            img[at + 8..at + 12].copy_from_slice(&start.to_le_bytes());
            img[at + 12..at + 16].copy_from_slice(&len.to_le_bytes());
            img[sector * SECTOR + 510..sector * SECTOR + 512].copy_from_slice(&MBR_SIGNATURE);
        };
        img[MBR_DISK_SIGNATURE..MBR_DISK_SIGNATURE + 4].copy_from_slice(&0xdeadbeefu32.to_le_bytes());
        entry(&mut img, 0, 0, 0x0c, 1, 9);
        entry(&mut img, 0, 1, 0x0f, 10, 40);
        entry(&mut img, 10, 0, 0x83, 2, 8); // logical 5: sectors 12..20
        entry(&mut img, 10, 1, 0x05, 20, 20); // next EBR at 10 + 20
        entry(&mut img, 30, 0, 0xef, 1, 5); // logical 6: sectors 31..36
        let (_, p) = parts(&img);
        let got: Vec<(u32, u64, u64, Kind, String)> = p
            .into_iter()
            .map(Result::unwrap)
            .map(|p| (p.number, p.start, p.sectors, p.kind, p.uuid.as_str().into()))
            .collect();
        assert_eq!(
            got,
            [
                (1, 1, 9, Kind::Fat, "deadbeef-01".into()),
                (5, 12, 8, Kind::Linux, "deadbeef-05".into()),
                (6, 31, 5, Kind::Esp, "deadbeef-06".into()),
            ]
        );
        // An EBR chain pointing back at itself ends after MAX_LOGICAL records.
        entry(&mut img, 30, 1, 0x05, 0, 20);
        let (_, p) = parts(&img);
        assert_eq!(p.last().unwrap().unwrap_err(), corrupt("MBR: extended partition chain too long"));
        assert!(p.len() < 2 * MAX_LOGICAL as usize);
    }

    #[test]
    fn whole_disk() {
        let img = image("ext2.img");
        let (table, p) = parts(&img);
        assert!(matches!(table, Table::None { .. }));
        assert_eq!(p.len(), 1);
        let p = p[0].unwrap();
        assert_eq!((p.number, p.start, p.sectors as usize * SECTOR, p.kind), (0, 0, img.len(), Kind::WholeDisk));
        // A FAT filesystem's boot sector carries 0x55aa too, but no partition table.
        let mut fat = vec![0u8; 8 * SECTOR];
        fat[0] = 0xeb;
        fat[82..90].copy_from_slice(b"FAT32   ");
        fat[MBR_ENTRIES + 4] = 0x83;
        fat[MBR_ENTRIES + 12] = 1;
        fat[510..512].copy_from_slice(&MBR_SIGNATURE);
        assert!(matches!(Table::read(&mut fat.as_slice()).unwrap(), Table::None { sectors: 8 }));
    }

    #[test]
    fn gpt_entry_outside_disk() {
        let mut img = image("gpt-ext4.img");
        // Partition 2's last LBA beyond the disk, both arrays and both CRCs mended to match.
        let disk_last = (img.len() / SECTOR - 1) as u64;
        for header_lba in [1, disk_last] {
            let h = header_lba as usize * SECTOR;
            let array = u64::from_le_bytes(img[h + 72..h + 80].try_into().unwrap()) as usize * SECTOR;
            img[array + 128 + 40..array + 128 + 48].copy_from_slice(&u64::MAX.to_le_bytes());
            let crc = crate::disk::crc32::hash(&img[array..array + 128 * 128]);
            img[h + 88..h + 92].copy_from_slice(&crc.to_le_bytes());
            img[h + 16..h + 20].fill(0);
            let crc = crate::disk::crc32::hash(&img[h..h + 92]);
            img[h + 16..h + 20].copy_from_slice(&crc.to_le_bytes());
        }
        let (_, p) = parts(&img);
        assert_eq!(p.len(), 3);
        assert_eq!(p[1], Err(corrupt("GPT entry: LBAs outside the disk")));
        assert!(p[0].is_ok() && p[2].is_ok());
    }
}
