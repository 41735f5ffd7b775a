//! QEMU's firmware configuration interface (`fw_cfg`), protocol side.
//!
//! The firmware implements [`FwCfgIo`] over the I/O ports (DMA, or byte-wise port reads where
//! DMA is off); everything above that — item keys, the file directory, DMA descriptors — is
//! here and runs against a fake in host tests.

use crate::Error;
use zerocopy::big_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Selector port: 16-bit write of the item key.
pub const PORT_SELECTOR: u16 = 0x510;
/// Data port: 8-bit reads of the selected item.
pub const PORT_DATA: u16 = 0x511;
/// DMA address, low half (big-endian); writing it starts the transfer.
pub const PORT_DMA_LOW: u16 = 0x518;
/// What a 32-bit read of [`PORT_DMA_LOW`] returns when DMA is present ("QEMU CFG", bytes 4..8).
pub const DMA_SIGNATURE_LOW: [u32; 2] = [u32::from_be_bytes(*b" CFG"), u32::from_le_bytes(*b" CFG")];

/// Item keys (fixed numbers from QEMU's `fw_cfg.h`).
pub mod key {
    pub const SIGNATURE: u16 = 0x00;
    pub const RAM_SIZE: u16 = 0x03;
    pub const NB_CPUS: u16 = 0x05;
    pub const KERNEL_ADDR: u16 = 0x07;
    pub const KERNEL_SIZE: u16 = 0x08;
    pub const INITRD_ADDR: u16 = 0x0a;
    pub const INITRD_SIZE: u16 = 0x0b;
    pub const KERNEL_ENTRY: u16 = 0x10;
    pub const KERNEL_DATA: u16 = 0x11;
    pub const INITRD_DATA: u16 = 0x12;
    pub const CMDLINE_SIZE: u16 = 0x14;
    pub const CMDLINE_DATA: u16 = 0x15;
    pub const SETUP_SIZE: u16 = 0x17;
    pub const SETUP_DATA: u16 = 0x18;
    pub const FILE_DIR: u16 = 0x19;
}

/// A transport that can read fw_cfg items.
pub trait FwCfgIo {
    /// Selects `key` and fills `buf` from the item's start (QEMU zero-fills past its end).
    fn read(&mut self, key: u16, buf: &mut [u8]) -> Result<(), Error>;
    /// Selects `key` and copies its first `len` bytes to physical memory at `paddr`.
    /// Callers check that the target is free RAM first.
    fn read_to_phys(&mut self, key: u16, paddr: u64, len: u32) -> Result<(), Error>;
    /// Selects `key` and overwrites `data.len()` bytes at `offset` (only items QEMU made
    /// writable accept this; it needs DMA).
    fn write(&mut self, key: u16, offset: u32, data: &[u8]) -> Result<(), Error>;
}

/// Reads a little-endian `u32` item.
pub fn read_u32(io: &mut dyn FwCfgIo, key: u16) -> Result<u32, Error> {
    let mut b = [0u8; 4];
    io.read(key, &mut b)?;
    Ok(u32::from_le_bytes(b))
}

/// The control bits of a DMA descriptor.
pub mod dma {
    pub const ERROR: u32 = 0x01;
    pub const READ: u32 = 0x02;
    pub const SKIP: u32 = 0x04;
    pub const SELECT: u32 = 0x08;
    pub const WRITE: u32 = 0x10;
}

/// The 16-byte DMA descriptor; all fields big-endian. It must sit in RAM QEMU can write,
/// because QEMU reports completion by rewriting `control`.
#[repr(C)]
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned, Clone, Copy, Debug)]
pub struct DmaAccess {
    pub control: U32,
    pub length: U32,
    pub address: U64,
}
const _: () = assert!(core::mem::size_of::<DmaAccess>() == 16);

impl DmaAccess {
    /// Select `key` and read `length` bytes to `address`, in one transfer.
    pub fn select_read(key: u16, length: u32, address: u64) -> DmaAccess {
        DmaAccess {
            control: U32::new((u32::from(key) << 16) | dma::SELECT | dma::READ),
            length: U32::new(length),
            address: U64::new(address),
        }
    }

    /// Select `key` and skip `length` bytes, to position a following write.
    pub fn select_skip(key: u16, length: u32) -> DmaAccess {
        DmaAccess {
            control: U32::new((u32::from(key) << 16) | dma::SELECT | dma::SKIP),
            length: U32::new(length),
            address: U64::new(0),
        }
    }

    /// Write `length` bytes from `address` at the current position; selects `key` first when
    /// given.
    pub fn write(key: Option<u16>, length: u32, address: u64) -> DmaAccess {
        let select = key.map_or(0, |k| (u32::from(k) << 16) | dma::SELECT);
        DmaAccess { control: U32::new(select | dma::WRITE), length: U32::new(length), address: U64::new(address) }
    }

    /// Interprets the control word QEMU wrote back: 0 means done, anything else failed
    /// (the error bit, or a transfer QEMU did not finish — it is synchronous, so never "later").
    pub fn check(control_after: u32, key: u16) -> Result<(), Error> {
        if control_after == 0 {
            Ok(())
        } else {
            Err(Error::DmaFailed { key })
        }
    }
}

/// One entry of the file directory (key 0x19), after its big-endian count.
#[repr(C)]
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned, Clone, Copy)]
pub struct FileEntry {
    pub size: U32,
    pub select: U16,
    pub reserved: U16,
    pub name: [u8; 56],
}
const _: () = assert!(core::mem::size_of::<FileEntry>() == 64);

/// Enough entries for every QEMU machine type (QEMU's default is 32 file slots).
pub const MAX_FILES: usize = 128;
/// Bytes read for the directory: the count and [`MAX_FILES`] entries.
pub const DIR_BYTES: usize = 4 + MAX_FILES * 64;

/// A file found in the directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct File {
    pub select: u16,
    pub size: u32,
}

/// The fw_cfg file directory as read from key 0x19.
pub struct Directory<'a> {
    entries: &'a [FileEntry],
}

impl<'a> Directory<'a> {
    /// Parses a directory image; entries beyond what `raw` holds are ignored.
    pub fn parse(raw: &'a [u8]) -> Directory<'a> {
        let Ok((count, rest)) = U32::read_from_prefix(raw) else {
            return Directory { entries: &[] };
        };
        let count = (count.get() as usize).min(rest.len() / 64);
        let entries = <[FileEntry]>::ref_from_prefix_with_elems(rest, count).map(|(e, _)| e).unwrap_or(&[]);
        Directory { entries }
    }

    /// Looks a file up by its exact name.
    pub fn find(&self, name: &str) -> Option<File> {
        self.find_bytes(name.as_bytes())
    }

    /// Looks a file up by its exact name, given as bytes (as table-loader scripts hold them).
    pub fn find_bytes(&self, name: &[u8]) -> Option<File> {
        // Compare the first eight bytes of the name and its NUL as one word before the rest:
        // most entries differ there, and a call to memcmp per entry costs more than the scan.
        let head_len = (name.len() + 1).min(8);
        let mut head = [0u8; 8];
        head[..head_len.min(name.len())].copy_from_slice(&name[..head_len.min(name.len())]);
        let mask = u64::MAX >> (64 - 8 * head_len);
        let head = u64::from_le_bytes(head) & mask;
        self.entries
            .iter()
            .find(|e| {
                let entry_head = u64::from_le_bytes(e.name[..8].try_into().unwrap_or_default());
                entry_head & mask == head
                    && e.name.get(..name.len()) == Some(name)
                    && e.name.get(name.len()).copied().unwrap_or(0) == 0
            })
            .map(|e| File { select: e.select.get(), size: e.size.get() })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Reads the directory into `buf` and parses it.
pub fn read_directory<'a>(io: &mut dyn FwCfgIo, buf: &'a mut [u8; DIR_BYTES]) -> Result<Directory<'a>, Error> {
    io.read(key::FILE_DIR, buf)?;
    Ok(Directory::parse(buf))
}

#[cfg(test)]
pub mod fake {
    //! An in-memory fw_cfg for host tests.
    use super::*;
    use std::collections::BTreeMap;
    use std::string::String;
    use std::vec::Vec;

    #[derive(Default)]
    pub struct FakeFwCfg {
        pub items: BTreeMap<u16, Vec<u8>>,
        pub files: Vec<(String, u16)>,
        /// Physical memory writes done by `read_to_phys`: the target range and the item's
        /// bytes that landed there (QEMU zero-fills the rest of the range; not stored, so a
        /// 4 GiB request costs nothing).
        pub phys_writes: Vec<(crate::Range, Vec<u8>)>,
        /// Keys whose reads fail as a DMA error would.
        pub failing: Vec<u16>,
        /// Writes: (key, offset, bytes).
        pub writes: Vec<(u16, u32, Vec<u8>)>,
    }

    impl FakeFwCfg {
        pub fn set(&mut self, key: u16, data: &[u8]) {
            self.items.insert(key, data.to_vec());
        }
        /// Adds a file, or replaces the contents of one with that name.
        pub fn add_file(&mut self, name: &str, data: &[u8]) {
            let select = match self.files.iter().find(|(n, _)| n == name) {
                Some(&(_, select)) => select,
                None => {
                    let select = 0x20 + self.files.len() as u16;
                    self.files.push((name.into(), select));
                    select
                }
            };
            self.items.insert(select, data.to_vec());
            let mut dir = (self.files.len() as u32).to_be_bytes().to_vec();
            for (name, sel) in &self.files {
                let mut e =
                    FileEntry { size: U32::new(0), select: U16::new(*sel), reserved: U16::new(0), name: [0; 56] };
                e.size = U32::new(self.items[sel].len() as u32);
                e.name[..name.len()].copy_from_slice(name.as_bytes());
                dir.extend_from_slice(e.as_bytes());
            }
            self.items.insert(key::FILE_DIR, dir);
        }
    }

    impl FwCfgIo for FakeFwCfg {
        fn read(&mut self, key: u16, buf: &mut [u8]) -> Result<(), Error> {
            if self.failing.contains(&key) {
                return Err(Error::DmaFailed { key });
            }
            let item = self.items.get(&key).map(|v| v.as_slice()).unwrap_or(&[]);
            for (i, b) in buf.iter_mut().enumerate() {
                *b = item.get(i).copied().unwrap_or(0);
            }
            Ok(())
        }
        fn read_to_phys(&mut self, key: u16, paddr: u64, len: u32) -> Result<(), Error> {
            if self.failing.contains(&key) {
                return Err(Error::DmaFailed { key });
            }
            let item = self.items.get(&key).map(|v| v.as_slice()).unwrap_or(&[]);
            let data = item[..item.len().min(len as usize)].to_vec();
            self.phys_writes.push((crate::Range { start: paddr, end: paddr + u64::from(len) }, data));
            Ok(())
        }
        fn write(&mut self, key: u16, offset: u32, data: &[u8]) -> Result<(), Error> {
            if self.failing.contains(&key) {
                return Err(Error::DmaFailed { key });
            }
            self.writes.push((key, offset, data.to_vec()));
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::FakeFwCfg;
    use super::*;

    #[test]
    fn descriptor_is_big_endian() {
        let d = DmaAccess::select_read(0x19, 0x1004, 0x1234_5678);
        assert_eq!(d.as_bytes(), &[0, 0x19, 0, 0x0a, 0, 0, 0x10, 0x04, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78]);
        assert!(DmaAccess::check(0, 1).is_ok());
        assert_eq!(DmaAccess::check(dma::ERROR, 7), Err(Error::DmaFailed { key: 7 }));
        assert!(DmaAccess::check(dma::READ, 7).is_err());
    }

    #[test]
    fn directory_lookup_is_exact() {
        let mut f = FakeFwCfg::default();
        f.add_file("etc/e820", &[0; 40]);
        f.add_file("etc/e820x", &[0; 3]);
        f.add_file(&"a".repeat(56), &[1]); // no NUL terminator at all
        let mut buf = [0; DIR_BYTES];
        let dir = read_directory(&mut f, &mut buf).unwrap();
        assert_eq!(dir.len(), 3);
        assert_eq!(dir.find("etc/e820"), Some(File { select: 0x20, size: 40 }));
        assert_eq!(dir.find("etc/e820x"), Some(File { select: 0x21, size: 3 }));
        assert_eq!(dir.find("etc/e82"), None);
        assert_eq!(dir.find(&"a".repeat(56)), Some(File { select: 0x22, size: 1 }));
        assert_eq!(dir.find(&"a".repeat(57)), None);
        assert_eq!(dir.find(""), None);
        assert_eq!(dir.find("etc"), None);
    }

    #[test]
    fn directory_count_is_bounded_by_data() {
        let mut raw = std::vec![0u8; 4 + 64];
        raw[..4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(Directory::parse(&raw).len(), 1);
        assert_eq!(Directory::parse(&raw[..3]).len(), 0);
        assert_eq!(Directory::parse(&[]).len(), 0);
    }
}
