//! SMBIOS (DMI): QEMU's structures placed in memory and its entry point ("anchor") patched and
//! put in the F segment, the only place a kernel without EFI looks for it.
//!
//! QEMU publishes a 2.1 (`_SM_`, 31 bytes) or a 3.0 (`_SM3_`, 24 bytes) entry point, chosen by
//! `-machine ...,smbios-entry-point-type=32|64`; both are handled.

use crate::checksum;
use crate::fw_cfg::{File, FileName, FwCfgIo, NameKey};
use crate::platform::Platform;
use crate::table_memory::Bump;
use crate::Error;

pub const ANCHOR_FILE: &str = "etc/smbios/smbios-anchor";
pub const TABLES_FILE: &str = "etc/smbios/smbios-tables";
pub const ANCHOR: NameKey = NameKey::new_const(&FileName::new(ANCHOR_FILE));
pub const TABLES: NameKey = NameKey::new_const(&FileName::new(TABLES_FILE));
/// Entry points are found by scanning 16-byte boundaries.
pub const ANCHOR_ALIGN: u64 = 16;
/// The structures need no particular alignment; 16 keeps them tidy.
pub const TABLES_ALIGN: u64 = 16;
const MAX_ANCHOR: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Version {
    /// 2.1: checksum at 4, `_DMI_` part at 0x10 with its own checksum at 0x15, u16 length at
    /// 0x16 and u32 address at 0x18.
    V2,
    /// 3.0: checksum at 5, u32 maximum size at 0x0C and u64 address at 0x10.
    V3,
}

impl Version {
    fn of(anchor: &[u8]) -> Option<Version> {
        match anchor {
            [b'_', b'S', b'M', b'_', _, 0x1f, ..] if anchor.len() == 0x1f && &anchor[0x10..0x15] == b"_DMI_" => {
                Some(Version::V2)
            }
            [b'_', b'S', b'M', b'3', b'_', _, 0x18, ..] if anchor.len() == 0x18 => Some(Version::V3),
            _ => None,
        }
    }
}

/// The two SMBIOS files, if QEMU provides them (`pc` and `q35`; not `microvm`).
pub struct Smbios {
    anchor: File,
    tables: File,
}

impl Smbios {
    pub fn new(anchor: File, tables: File) -> Smbios {
        Smbios { anchor, tables }
    }

    /// High memory the structures need.
    pub fn tables_size(&self) -> u64 {
        self.tables.size.into()
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
        let size = self.tables_size();
        let tables = high.alloc(size, TABLES_ALIGN).ok_or(Error::NoRoomForTables { size })?;
        io.read(self.tables.select, p.phys(tables))?;
        patch(anchor, tables.start, size)?;
        let at = f_segment.alloc(len as u64, ANCHOR_ALIGN).ok_or(Error::NoRoomForTables { size: len as u64 })?;
        p.phys(at).copy_from_slice(anchor);
        Ok(at.start)
    }
}

/// Points `anchor` at structures of `size` bytes at `address` and fixes its checksums.
fn patch(anchor: &mut [u8], address: u64, size: u64) -> Result<(), Error> {
    match Version::of(anchor).ok_or(Error::BadSmbiosAnchor)? {
        Version::V2 => {
            let address = u32::try_from(address).map_err(|_| Error::BadSmbiosAnchor)?;
            let length = u16::from_le_bytes([anchor[0x16], anchor[0x17]]);
            if u64::from(length) > size {
                return Err(Error::BadSmbiosAnchor);
            }
            anchor[0x18..0x1c].copy_from_slice(&address.to_le_bytes());
            checksum::fix(&mut anchor[0x10..0x1f], 0x15 - 0x10);
            checksum::fix(anchor, 4);
        }
        Version::V3 => {
            let max = u32::from_le_bytes([anchor[0x0c], anchor[0x0d], anchor[0x0e], anchor[0x0f]]);
            if u64::from(max) > size {
                return Err(Error::BadSmbiosAnchor);
            }
            anchor[0x10..0x18].copy_from_slice(&address.to_le_bytes());
            checksum::fix(anchor, 5);
        }
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
        let files = testdata::load("pc");
        let mut anchor = files.get(ANCHOR_FILE).unwrap().clone();
        let size = files.get(TABLES_FILE).unwrap().len() as u64;
        patch(&mut anchor, 0x0fff_0000, size).unwrap();
        assert_eq!(&anchor[0x18..0x1c], &0x0fff_0000u32.to_le_bytes());
        assert!(sums_to_zero(&anchor) && sums_to_zero(&anchor[0x10..0x1f]));
        assert_eq!(patch(&mut anchor.clone(), 1 << 32, size), Err(Error::BadSmbiosAnchor));
        assert_eq!(patch(&mut anchor.clone(), 0x1000, 10), Err(Error::BadSmbiosAnchor), "length beyond the tables");
    }

    #[test]
    fn patches_qemu_3_0_anchor() {
        let files = testdata::load("q35-smbios3");
        let mut anchor = files.get(ANCHOR_FILE).unwrap().clone();
        assert_eq!(&anchor[..5], b"_SM3_");
        let size = files.get(TABLES_FILE).unwrap().len() as u64;
        patch(&mut anchor, 0x1_2345_6000, size).unwrap();
        assert_eq!(&anchor[0x10..0x18], &0x1_2345_6000u64.to_le_bytes());
        assert!(sums_to_zero(&anchor));
    }

    #[test]
    fn rejects_other_anchors() {
        for bad in [&b""[..], b"_SM_", &[0u8; 31], &[0xffu8; 24]] {
            assert_eq!(patch(&mut bad.to_vec(), 0, 0), Err(Error::BadSmbiosAnchor));
        }
        let mut wrong_len = testdata::load("pc").get(ANCHOR_FILE).unwrap().clone();
        wrong_len.truncate(24);
        assert_eq!(patch(&mut wrong_len, 0, 1000), Err(Error::BadSmbiosAnchor));
    }
}
