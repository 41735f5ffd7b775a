//! SMBIOS (DMI): QEMU's structures placed in memory and its entry point ("anchor") patched and
//! put in the F segment, the only place a kernel without EFI looks for it.
//!
//! QEMU publishes a 2.1 (`_SM_`, 31 bytes) or a 3.0 (`_SM3_`, 24 bytes) entry point, chosen by
//! `-machine ...,smbios-entry-point-type=32|64`; both are handled.

use crate::checksum;
use crate::fw_cfg::{File, FileName, FwCfgIo, NameKey};
use crate::platform::Platform;
use crate::table_memory::Bump;
use crate::{Error, Range};
use core::mem::offset_of;
use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

const ANCHOR_FILE: &str = "etc/smbios/smbios-anchor";
const TABLES_FILE: &str = "etc/smbios/smbios-tables";
pub const ANCHOR: NameKey = NameKey::new_const(&FileName::new(ANCHOR_FILE));
pub const TABLES: NameKey = NameKey::new_const(&FileName::new(TABLES_FILE));
/// Entry points are found by scanning 16-byte boundaries.
const ANCHOR_ALIGN: u64 = 16;
/// The structures need no particular alignment; 16 keeps them tidy.
pub const TABLES_ALIGN: u64 = 16;
const MAX_ANCHOR: usize = 32;

/// The SMBIOS 2.1 (32-bit) entry point, `_SM_`, with its intermediate `_DMI_` part.
#[repr(C)]
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
struct EntryPoint21 {
    anchor: [u8; 4],
    checksum: u8,
    length: u8,
    version: [u8; 2],
    max_structure_size: U16,
    revision: u8,
    formatted_area: [u8; 5],
    dmi_anchor: [u8; 5],
    /// Covers the `_DMI_` part, bytes 0x10..0x1f.
    dmi_checksum: u8,
    table_length: U16,
    table_address: U32,
    structures: U16,
    bcd_revision: u8,
}
const _: () = assert!(size_of::<EntryPoint21>() == 0x1f);
/// Where the `_DMI_` part starts.
const DMI_PART: usize = 0x10;

/// The SMBIOS 3.0 (64-bit) entry point, `_SM3_`.
#[repr(C)]
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
struct EntryPoint30 {
    anchor: [u8; 5],
    checksum: u8,
    length: u8,
    version: [u8; 3],
    revision: u8,
    reserved: u8,
    max_table_size: U32,
    table_address: U64,
}
const _: () = assert!(size_of::<EntryPoint30>() == 0x18);

/// The two SMBIOS files, if QEMU provides them (`pc` and `q35`; not `microvm`).
pub struct Smbios {
    anchor: File,
    tables: File,
}

impl Smbios {
    pub fn new(anchor: File, tables: File) -> Smbios {
        Smbios { anchor, tables }
    }

    /// High memory the structures need, with room for the BIOS information pvhfw adds.
    pub fn tables_size(&self) -> u64 {
        u64::from(self.tables.size) + BIOS_INFORMATION.len() as u64
    }

    /// Loads the structures into `high`, the patched entry point into `f_segment`; returns the
    /// entry point's address.
    pub fn install(
        &self,
        io: &mut (impl FwCfgIo + ?Sized),
        p: &mut (impl Platform + ?Sized),
        high: &mut Bump,
        f_segment: &mut Bump,
    ) -> Result<u64, Error> {
        let len = self.anchor.size as usize;
        let mut anchor = [0u8; MAX_ANCHOR];
        let anchor = anchor.get_mut(..len).ok_or(Error::BadSmbiosAnchor)?;
        io.read(self.anchor.select, anchor)?;
        let room = self.tables_size();
        let tables = high.alloc(room, TABLES_ALIGN).ok_or(Error::NoRoomForTables { size: room })?;
        // QEMU's structures after room for a type 0, which QEMU leaves to the firmware unless
        // the user gives one (`-smbios type=0,...`; QEMU then puts it first).
        let theirs = Range { start: tables.start + BIOS_INFORMATION.len() as u64, end: tables.end };
        io.read(self.tables.select, p.phys(theirs))?;
        let size = u64::from(self.tables.size);
        let has_type0 = size > 0 && p.phys(theirs)[0] == 0;
        if has_type0 || !room_for_one_more(anchor, BIOS_INFORMATION_LEN as u16) {
            patch(anchor, theirs.start, size, 0)?;
        } else {
            p.phys(Range { start: tables.start, end: theirs.start }).copy_from_slice(&BIOS_INFORMATION);
            patch(anchor, tables.start, size, BIOS_INFORMATION_LEN as u16)?;
        }
        let at = f_segment.alloc(len as u64, ANCHOR_ALIGN).ok_or(Error::FSegmentFull { what: "SMBIOS entry point" })?;
        p.phys(at).copy_from_slice(anchor);
        Ok(at.start)
    }
}

/// SMBIOS type 0, BIOS Information, which the specification requires and QEMU leaves to the
/// firmware (qboot and SeaBIOS write one too): Linux shows it as `/sys/class/dmi/id/bios_*`.
/// Handle 0, which QEMU keeps for a type 0 of its own.
const BIOS_INFORMATION: [u8; BIOS_INFORMATION_LEN] = bios_information();
pub const BIOS_INFORMATION_LEN: usize = 0x18 + BIOS_STRINGS.len();
/// Vendor, version, release date (MM/DD/YYYY, as the specification asks), and the NUL that ends
/// the string set.
const BIOS_STRINGS: &[u8] = b"pvhfw\x000.1.0\x0012/02/2026\x00\x00";

const fn bios_information() -> [u8; 0x18 + BIOS_STRINGS.len()] {
    let fixed: [u8; 0x18] = [
        0, 0x18, 0, 0, // type 0, length, handle 0
        1, 2, // vendor: string 1, version: string 2
        0x00, 0xe8, // starting address segment 0xE800 (what QEMU's own type 0 says)
        3, 3, // release date: string 3; ROM size 256 KiB (64 KiB * (3 + 1))
        8, 0, 0, 0, 0, 0, 0, 0, // characteristics: bit 3, "not supported"
        0, 0x10, // extension byte 2 bit 4: a virtual machine
        0, 1, // BIOS release 0.1 (the crate's version)
        0xff, 0xff, // no embedded controller
    ];
    let mut all = [0u8; 0x18 + BIOS_STRINGS.len()];
    let mut i = 0;
    while i < all.len() {
        all[i] = if i < 0x18 { fixed[i] } else { BIOS_STRINGS[i - 0x18] };
        i += 1;
    }
    all
}

/// Whether the entry point's counts can take one more structure of `len` bytes (a 2.1 entry
/// point counts bytes and structures in 16 bits).
fn room_for_one_more(anchor: &[u8], len: u16) -> bool {
    if let Ok(ep) = EntryPoint21::ref_from_bytes(anchor) {
        ep.table_length.get().checked_add(len).is_some() && ep.structures.get() < u16::MAX
    } else if let Ok(ep) = EntryPoint30::ref_from_bytes(anchor) {
        ep.max_table_size.get().checked_add(len.into()).is_some()
    } else {
        true
    }
}

/// The structures' size an entry point claims must not exceed what QEMU published: the kernel
/// would read past them.
fn check_size(claimed: u64, size: u64) -> Result<(), Error> {
    if claimed > size {
        return Err(Error::SmbiosTablesShort { claimed, size });
    }
    Ok(())
}

/// Points `anchor` at QEMU's structures (`size` bytes) with `added` bytes of one more in front
/// of them, at `address`, and fixes its checksums.
fn patch(anchor: &mut [u8], address: u64, size: u64, added: u16) -> Result<(), Error> {
    if let Ok(ep) = EntryPoint21::mut_from_bytes(anchor) {
        if ep.anchor != *b"_SM_" || ep.length != 0x1f || ep.dmi_anchor != *b"_DMI_" {
            return Err(Error::BadSmbiosAnchor);
        }
        check_size(ep.table_length.get().into(), size)?;
        if added > 0 {
            ep.table_length += added;
            ep.structures += 1;
            ep.max_structure_size = ep.max_structure_size.max(added.into());
        }
        ep.table_address = U32::new(u32::try_from(address).map_err(|_| Error::BadSmbiosAnchor)?);
        checksum::fix(&mut anchor[DMI_PART..], offset_of!(EntryPoint21, dmi_checksum) - DMI_PART);
        checksum::fix(anchor, offset_of!(EntryPoint21, checksum));
    } else if let Ok(ep) = EntryPoint30::mut_from_bytes(anchor) {
        if ep.anchor != *b"_SM3_" || ep.length != 0x18 {
            return Err(Error::BadSmbiosAnchor);
        }
        check_size(ep.max_table_size.get().into(), size)?;
        ep.max_table_size += u32::from(added);
        ep.table_address = U64::new(address);
        checksum::fix(anchor, offset_of!(EntryPoint30, checksum));
    } else {
        return Err(Error::BadSmbiosAnchor);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata;

    fn sums_to_zero(b: &[u8]) -> bool {
        checksum::sum(b) == 0
    }

    #[test]
    fn patches_qemu_2_1_anchor() {
        for q in testdata::QEMUS {
            let files = testdata::load(q, "pc");
            let mut anchor = files.get(ANCHOR_FILE).unwrap().clone();
            let size = files.get(TABLES_FILE).unwrap().len() as u64;
            patch(&mut anchor, 0x0fff_0000, size, 0).unwrap();
            assert_eq!(&anchor[0x18..0x1c], &0x0fff_0000u32.to_le_bytes());
            assert!(sums_to_zero(&anchor) && sums_to_zero(&anchor[0x10..0x1f]));
            assert_eq!(patch(&mut anchor.clone(), 1 << 32, size, 0), Err(Error::BadSmbiosAnchor));
            let short = Err(Error::SmbiosTablesShort { claimed: size, size: 10 });
            assert_eq!(patch(&mut anchor.clone(), 0x1000, 10, 0), short, "length beyond the tables, {q}");
        }
    }

    #[test]
    fn patches_qemu_3_0_anchor() {
        for q in testdata::QEMUS {
            let files = testdata::load(q, "q35-smbios3");
            let mut anchor = files.get(ANCHOR_FILE).unwrap().clone();
            assert_eq!(&anchor[..5], b"_SM3_");
            let size = files.get(TABLES_FILE).unwrap().len() as u64;
            patch(&mut anchor, 0x1_2345_6000, size, 0).unwrap();
            assert_eq!(&anchor[0x10..0x18], &0x1_2345_6000u64.to_le_bytes());
            assert!(sums_to_zero(&anchor), "{q}");
        }
    }

    #[test]
    fn rejects_other_anchors() {
        for bad in [&b""[..], b"_SM_", &[0u8; 31], &[0xffu8; 24]] {
            assert_eq!(patch(&mut bad.to_vec(), 0, 0, 0), Err(Error::BadSmbiosAnchor));
        }
        for q in testdata::QEMUS {
            let mut wrong_len = testdata::load(q, "pc").get(ANCHOR_FILE).unwrap().clone();
            wrong_len.truncate(24);
            assert_eq!(patch(&mut wrong_len, 0, 1000, 0), Err(Error::BadSmbiosAnchor), "{q}");
        }
    }

    #[test]
    fn a_full_f_segment_is_named() {
        for q in testdata::QEMUS {
            let files = testdata::load(q, "pc");
            let mut f = crate::fw_cfg::fake::FakeFwCfg::default();
            f.add_file(ANCHOR_FILE, &files[ANCHOR_FILE]);
            f.add_file(TABLES_FILE, &files[TABLES_FILE]);
            let high = crate::Range { start: 0x2_0000, end: 0x3_0000 };
            let mut p = crate::platform::fake::FakePlatform::default().with_bank(high.start, 0x1_0000);
            let (mut high, mut full) = (Bump::new(high), Bump::new(crate::Range { start: 0xf_4000, end: 0xf_4010 }));
            let smbios = Smbios::new(
                crate::fw_cfg::File { select: 0x20, size: 31 },
                crate::fw_cfg::File { select: 0x21, size: files[TABLES_FILE].len() as u32 },
            );
            let e = smbios.install(&mut f, &mut p, &mut high, &mut full);
            assert_eq!(e, Err(Error::FSegmentFull { what: "SMBIOS entry point" }), "{q}");
        }
    }

    /// Installs `qemu`'s `pc` SMBIOS files (with `tables` instead of QEMU's structures, if
    /// given); returns the entry point and the platform.
    fn install_pc(
        qemu: &str,
        tables: Option<std::vec::Vec<u8>>,
    ) -> (std::vec::Vec<u8>, crate::platform::fake::FakePlatform) {
        let files = testdata::load(qemu, "pc");
        let tables = tables.unwrap_or_else(|| files[TABLES_FILE].clone());
        let mut f = crate::fw_cfg::fake::FakeFwCfg::default();
        f.add_file(ANCHOR_FILE, &files[ANCHOR_FILE]);
        f.add_file(TABLES_FILE, &tables);
        let (high, fseg) = (Range { start: 0x2_0000, end: 0x3_0000 }, Range { start: 0xf_4000, end: 0xf_4200 });
        let mut p =
            crate::platform::fake::FakePlatform::default().with_bank(high.start, 0x1_0000).with_bank(fseg.start, 0x200);
        let smbios = Smbios::new(File { select: 0x20, size: 31 }, File { select: 0x21, size: tables.len() as u32 });
        let at = smbios.install(&mut f, &mut p, &mut Bump::new(high), &mut Bump::new(fseg)).unwrap();
        (p.read(Range { start: at, end: at + 31 }), p)
    }

    #[test]
    fn bios_information_goes_first_unless_qemu_has_one() {
        for q in testdata::QEMUS {
            let files = testdata::load(q, "pc");
            let qemu = files[TABLES_FILE].clone();
            let qemu_count = u16::from_le_bytes(files[ANCHOR_FILE][0x1c..0x1e].try_into().unwrap());
            let (anchor, mut p) = install_pc(q, None);
            let ep = EntryPoint21::read_from_bytes(&anchor).unwrap();
            assert!(sums_to_zero(&anchor) && sums_to_zero(&anchor[0x10..0x1f]));
            let start = u64::from(ep.table_address.get());
            let len = usize::from(ep.table_length.get());
            assert_eq!(len, qemu.len() + BIOS_INFORMATION.len(), "{q}");
            assert_eq!(ep.structures.get(), qemu_count + 1);
            let tables = p.read(Range { start, end: start + len as u64 });
            assert_eq!(&tables[..BIOS_INFORMATION.len()], &BIOS_INFORMATION);
            assert_eq!(&tables[BIOS_INFORMATION.len()..], &qemu[..]);
            assert_eq!(&tables[0x18..0x1e], b"pvhfw\0");
            // QEMU's own type 0 (-smbios type=0,...) comes first in its structures: kept, none added.
            let mut with_type0 = BIOS_INFORMATION.to_vec();
            with_type0[0x18] = b'Q';
            with_type0.extend_from_slice(&qemu);
            let (anchor, _) = install_pc(q, Some(with_type0.clone()));
            let ep = EntryPoint21::read_from_bytes(&anchor).unwrap();
            assert_eq!(usize::from(ep.table_length.get()), qemu.len(), "QEMU's anchor says its own length, {q}");
            assert_eq!(ep.structures.get(), qemu_count);
        }
    }
}
