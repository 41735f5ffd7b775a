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

/// Item keys (fixed numbers from QEMU's `fw_cfg.h`).
pub mod key {
    pub const SIGNATURE: u16 = 0x00;
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
    pub const SETUP_DATA: u16 = 0x18;
    pub const FILE_DIR: u16 = 0x19;
    /// x86: non-zero when the timer's ISA IRQ 0 is wired to IOAPIC pin 2.
    pub const IRQ0_OVERRIDE: u16 = 0x8002;
}

/// A transport that can read fw_cfg items.
pub trait FwCfgIo {
    /// Selects `key` and fills `buf` from the item's start (QEMU zero-fills past its end).
    fn read(&mut self, key: u16, buf: &mut [u8]) -> Result<(), Error>;
    /// Selects `key` and fills `buf` from byte `offset` of the item on.
    fn read_at(&mut self, key: u16, offset: u32, buf: &mut [u8]) -> Result<(), Error>;
    /// Selects `key` and copies its first `len` bytes to physical memory at `paddr`.
    /// Callers check that the target is free RAM first.
    fn read_to_phys(&mut self, key: u16, paddr: u64, len: u32) -> Result<(), Error>;
    /// Selects `key` and copies `len` bytes from byte `offset` on to physical memory at
    /// `paddr`. Callers check that the target is free RAM first.
    fn read_to_phys_at(&mut self, key: u16, offset: u32, paddr: u64, len: u32) -> Result<(), Error>;
    /// Selects `key` and overwrites `data.len()` bytes at `offset` (only items QEMU made
    /// writable accept this; it needs DMA).
    fn write(&mut self, key: u16, offset: u32, data: &[u8]) -> Result<(), Error>;
    /// Whether reads are DMA transfers, whose cost does not grow with their length (the port
    /// interface costs a VM exit per byte).
    fn has_dma(&self) -> bool;
}

/// Reads a little-endian `u32` item.
pub fn read_u32(io: &mut (impl FwCfgIo + ?Sized), key: u16) -> Result<u32, Error> {
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

    /// Read `length` bytes to `address` from the current position of the selected item.
    pub fn read(length: u32, address: u64) -> DmaAccess {
        DmaAccess { control: U32::new(dma::READ), length: U32::new(length), address: U64::new(address) }
    }

    /// Select `key` and skip `length` bytes, to position a following read or write.
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

/// A fw_cfg file name as the directory and table-loader scripts hold it: 56 bytes,
/// NUL-terminated unless all 56 are used. Two names are equal when they are equal as C strings
/// (bytes after the NUL do not count).
#[repr(transparent)]
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned, Clone, Copy, Debug)]
pub struct FileName(pub [u8; 56]);

/// The bytes of `w` that are NUL, flagged in their top bit; the lowest flag is exactly the
/// first NUL (flags above it may be false).
const fn nul_bytes(w: u64) -> u64 {
    w.wrapping_sub(0x0101_0101_0101_0101) & !w & 0x8080_8080_8080_8080
}

impl FileName {
    /// `name` padded with NULs; for constants, so lookups cost no conversion at run time.
    pub const fn new(name: &str) -> FileName {
        let bytes = name.as_bytes();
        assert!(bytes.len() <= 56, "fw_cfg file names have at most 56 bytes");
        let mut raw = [0u8; 56];
        let mut i = 0;
        while i < bytes.len() {
            raw[i] = bytes[i];
            i += 1;
        }
        FileName(raw)
    }

    /// Bytes `8 * i .. 8 * i + 8` as one load.
    #[inline]
    fn word(&self, i: usize) -> u64 {
        u64::from_le_bytes(self.0.as_chunks::<8>().0[i])
    }

    /// The same for constant evaluation, where slices of arrays cannot be indexed by chunks.
    const fn const_word(&self, i: usize) -> u64 {
        let (b, o) = (&self.0, 8 * i);
        u64::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3], b[o + 4], b[o + 5], b[o + 6], b[o + 7]])
    }

    /// The fast path of name lookups, where the benchmark shows it pays: the first 16 bytes
    /// as they are. If a name [`ends_in_head`](Self::ends_in_head), another name with the same
    /// head, byte for byte, is equal to it as a C string; one with another head may still be
    /// equal (bytes after the NUL do not count), so a miss is confirmed with a [`NameKey`].
    /// QEMU pads names with NULs, so this is how its names always match: two compares and no
    /// key to prepare.
    #[inline]
    pub fn head(&self) -> [u64; 2] {
        [self.word(0), self.word(1)]
    }

    /// Whether the name ends (has its NUL) within its [`head`](Self::head).
    #[inline]
    pub fn ends_in_head(&self) -> bool {
        nul_bytes(self.word(0)) | nul_bytes(self.word(1)) != 0
    }
}

/// A name prepared for comparing against many others: its words up to the one holding its NUL,
/// with the bytes after the NUL cleared. Another name is equal (as a C string) exactly when its
/// words agree up to there, the last one under the mask — no NUL search on the other side, and
/// one compare rejects most names. Constants are prepared at compile time.
#[derive(Clone, Copy, Debug)]
pub struct NameKey {
    words: [u64; 7],
    /// Index of the word holding the NUL (6 if the name has none).
    last: usize,
    /// The bytes of `words[last]` up to and including the NUL.
    mask: u64,
}

impl NameKey {
    /// For names known at run time (from table-loader scripts).
    #[inline]
    pub fn new(name: &FileName) -> NameKey {
        let w = |i| name.word(i);
        NameKey::from_words([w(0), w(1), w(2), w(3), w(4), w(5), w(6)])
    }

    /// For constants: evaluated by the compiler.
    pub const fn new_const(name: &FileName) -> NameKey {
        let mut words = [0u64; 7];
        let mut i = 0;
        while i < 7 {
            words[i] = name.const_word(i);
            i += 1;
        }
        NameKey::from_words(words)
    }

    /// Finds the word holding the NUL and clears the bytes after it; later words are never
    /// compared.
    const fn from_words(mut words: [u64; 7]) -> NameKey {
        let mut last = 0;
        while last < 7 {
            let w = words[last];
            let nul = nul_bytes(w);
            if nul != 0 {
                let mask = (nul & nul.wrapping_neg()).wrapping_shl(1).wrapping_sub(1);
                words[last] = w & mask;
                return NameKey { words, last, mask };
            }
            last += 1;
        }
        NameKey { words, last: 6, mask: u64::MAX }
    }

    #[inline]
    pub fn matches(&self, other: &FileName) -> bool {
        for i in 0..self.last {
            if other.word(i) != self.words[i] {
                return false;
            }
        }
        other.word(self.last) & self.mask == self.words[self.last]
    }
}

#[cfg(test)]
#[test]
fn const_and_run_time_keys_agree() {
    for n in ["", "a", "etc/e820", "etc/acpi/tables", "etc/table-loader", &"z".repeat(56)] {
        let name = FileName::new(n);
        let (k, c) = (NameKey::new(&name), NameKey::new_const(&name));
        assert_eq!((k.words, k.last, k.mask), (c.words, c.last, c.mask), "{n}");
    }
}

/// One entry of the file directory (key 0x19), after its big-endian count.
#[repr(C)]
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned, Clone, Copy)]
pub struct FileEntry {
    pub size: U32,
    pub select: U16,
    pub reserved: U16,
    pub name: FileName,
}
const _: () = assert!(core::mem::size_of::<FileEntry>() == 64);

impl FileEntry {
    fn file(&self) -> File {
        File { select: self.select.get(), size: self.size.get() }
    }
}

/// The entries the firmware keeps: every entry of a directory QEMU publishes by default (32
/// file slots), and with `-global fw_cfg_io.x-file-slots=N` every file it can look up.
pub const MAX_DIR_ENTRIES: usize = 128;
/// Bytes read for the directory: the count and [`MAX_DIR_ENTRIES`] entries.
pub const DIR_BYTES: usize = 4 + MAX_DIR_ENTRIES * 64;

/// A file found in the directory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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

    /// Looks a file up by name.
    pub fn find(&self, name: &NameKey) -> Option<File> {
        self.entries.iter().find(|e| name.matches(&e.name)).map(FileEntry::file)
    }

    /// Looks several files up in one pass: the boot needs the same few every time.
    pub fn find_all<const N: usize>(&self, names: [&NameKey; N]) -> [Option<File>; N] {
        let mut found = [None; N];
        for e in self.entries {
            // Each entry's first word, loaded once and compared with every name's before any
            // full match (matches() would load it again per name: ~100 instructions a boot).
            let first = e.name.word(0);
            for (name, slot) in names.iter().zip(found.iter_mut()) {
                if (name.last == 0 || name.words[0] == first) && slot.is_none() && name.matches(&e.name) {
                    *slot = Some(e.file());
                }
            }
        }
        found
    }

    /// Looks up a name taken from a table-loader script: [`FileName::head`] first.
    pub fn find_name(&self, name: &FileName) -> Option<File> {
        let head = name.head();
        let quick = name.ends_in_head().then(|| self.entries.iter().find(|e| e.name.head() == head)).flatten();
        quick.map(FileEntry::file).or_else(|| self.find(&NameKey::new(name)))
    }

    /// Every entry in directory order, for listing (lookups use the `find` methods).
    pub fn entries(&self) -> impl Iterator<Item = (&FileName, File)> + '_ {
        self.entries.iter().map(|e| (&e.name, e.file()))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The most files a fw_cfg directory can list: file selectors run from 0x20 to 0x3fff (QEMU's
/// `x-file-slots` is capped there); a larger count is not QEMU's, and reading that many
/// entries in parts would take practically forever.
pub const MAX_FILES: u32 = 0x4000 - 0x20;

/// Reads the directory into `buf` and parses it. A directory of more than
/// [`MAX_DIR_ENTRIES`] files (QEMU takes up to 16352) is read in parts, keeping only the files
/// the firmware can look up; a count beyond [`MAX_FILES`] is refused.
pub fn read_directory<'a>(
    io: &mut (impl FwCfgIo + ?Sized),
    buf: &'a mut [u8; DIR_BYTES],
) -> Result<Directory<'a>, Error> {
    io.read(key::FILE_DIR, buf)?;
    let count = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if count > MAX_FILES {
        return Err(Error::DirectoryCount { files: count });
    }
    if count as usize > MAX_DIR_ENTRIES {
        let kept = read_long_directory(io, buf, count)?;
        buf[..4].copy_from_slice(&(kept as u32).to_be_bytes());
    }
    Ok(Directory::parse(buf))
}

/// Whether the firmware can ever look up `name`: QEMU's own files (`etc/`, which the
/// table loader's scripts name too) and pvhfw's options. Users' files (`opt/...`, or any
/// other name QEMU accepts with a warning) are skipped.
fn is_looked_up(name: &FileName) -> bool {
    name.0.starts_with(b"etc/") || name.0.starts_with(b"opt/org.pvhfw/")
}

/// Compacts a directory of `count` > [`MAX_DIR_ENTRIES`] entries, whose first entries `buf`
/// holds, to the ones [`is_looked_up`] keeps, reading the rest in parts into the freed slots.
/// Returns how many it kept.
fn read_long_directory(
    io: &mut (impl FwCfgIo + ?Sized),
    buf: &mut [u8; DIR_BYTES],
    count: u32,
) -> Result<usize, Error> {
    let entry = |i: usize| 4 + i * 64..4 + (i + 1) * 64;
    let (mut kept, mut filled, mut consumed) = (0, MAX_DIR_ENTRIES, MAX_DIR_ENTRIES);
    loop {
        let unsorted = kept..filled;
        for i in unsorted {
            let Ok(name) = FileName::read_from_bytes(&buf[entry(i)][8..]) else { continue };
            if is_looked_up(&name) {
                buf.copy_within(entry(i), entry(kept).start);
                kept += 1;
            }
        }
        let left = count as usize - consumed;
        if left == 0 {
            return Ok(kept);
        }
        if kept == MAX_DIR_ENTRIES {
            return Err(Error::DirectoryFull { files: count });
        }
        let part = left.min(MAX_DIR_ENTRIES - kept);
        io.read_at(
            key::FILE_DIR,
            entry(consumed).start as u32,
            &mut buf[entry(kept).start..entry(kept + part - 1).end],
        )?;
        (filled, consumed) = (kept + part, consumed + part);
    }
}

#[cfg(any(test, feature = "fakes"))]
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
        /// Behave like the port interface (no DMA).
        pub port_io: bool,
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
                let size = U32::new(self.items[sel].len() as u32);
                let e = FileEntry { size, select: U16::new(*sel), reserved: U16::new(0), name: FileName::new(name) };
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
        fn read_at(&mut self, key: u16, offset: u32, buf: &mut [u8]) -> Result<(), Error> {
            let item = self.items.get(&key).map(|v| v.as_slice()).unwrap_or(&[]);
            let rest = item.get(offset as usize..).unwrap_or(&[]).to_vec();
            let mut fake = FakeFwCfg::default();
            fake.items.insert(key, rest);
            fake.failing = self.failing.clone();
            fake.read(key, buf)
        }
        fn read_to_phys(&mut self, key: u16, paddr: u64, len: u32) -> Result<(), Error> {
            self.read_to_phys_at(key, 0, paddr, len)
        }
        fn read_to_phys_at(&mut self, key: u16, offset: u32, paddr: u64, len: u32) -> Result<(), Error> {
            if self.failing.contains(&key) {
                return Err(Error::DmaFailed { key });
            }
            let item = self.items.get(&key).map(|v| v.as_slice()).unwrap_or(&[]);
            let item = item.get(offset as usize..).unwrap_or(&[]);
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
        fn has_dma(&self) -> bool {
            !self.port_io
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
        let find = |n: &str| dir.find(&NameKey::new(&FileName::new(n)));
        assert_eq!(dir.len(), 3);
        assert_eq!(find("etc/e820"), Some(File { select: 0x20, size: 40 }));
        assert_eq!(find("etc/e820x"), Some(File { select: 0x21, size: 3 }));
        assert_eq!(find("etc/e82"), None);
        assert_eq!(find(&"a".repeat(56)), Some(File { select: 0x22, size: 1 }));
        assert_eq!(find(&"a".repeat(55)), None);
        assert_eq!(find(""), None);
        assert_eq!(find("etc"), None);
    }

    /// A directory longer than the firmware keeps: users' files before and after QEMU's are
    /// dropped, every file the firmware can look up is kept, wherever it sits.
    #[test]
    fn long_directories_keep_what_the_firmware_looks_up() {
        let mut f = FakeFwCfg::default();
        (0..300).for_each(|i| f.add_file(&std::format!("a/{i:03}"), &[]));
        f.add_file("etc/e820", &[0; 20]);
        (0..300).for_each(|i| f.add_file(&std::format!("opt/x/{i:03}"), &[]));
        f.add_file("opt/org.pvhfw/log", b"info");
        let mut buf = [0; DIR_BYTES];
        let dir = read_directory(&mut f, &mut buf).unwrap();
        let names: std::vec::Vec<_> = dir.entries().map(|(n, file)| (n.0[..8].to_vec(), file.size)).collect();
        assert_eq!(names, [(b"etc/e820".to_vec(), 20), (b"opt/org.".to_vec(), 4)]);

        // More than MAX_DIR_ENTRIES files the firmware could look up: named, not cut.
        (0..MAX_DIR_ENTRIES).for_each(|i| f.add_file(&std::format!("etc/{i:03}"), &[]));
        assert_eq!(read_directory(&mut f, &mut buf).err(), Some(Error::DirectoryFull { files: 730 }));

        // A count no QEMU publishes (a fuzzer's: it used to read 2^32 entries in parts).
        let mut dir = std::vec![0u8; 4 + 64];
        dir[..4].copy_from_slice(&u32::MAX.to_be_bytes());
        f.set(key::FILE_DIR, &dir);
        assert_eq!(read_directory(&mut f, &mut buf).err(), Some(Error::DirectoryCount { files: u32::MAX }));
    }

    /// The word-wise comparison, and the heads of names that end within 16 bytes, agree with
    /// comparing C strings byte by byte, whatever follows the NUL.
    #[test]
    fn file_names_compare_as_c_strings() {
        fn c_str(n: &FileName) -> &[u8] {
            let len = n.0.iter().position(|&b| b == 0).unwrap_or(56);
            &n.0[..len]
        }
        let mut x = 0x9e37_79b9u64;
        let mut byte = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Mostly a small alphabet with NULs, so that equal prefixes are common.
            [0, b'a', b'b', b'/', 0x80, 0xff][(x % 6) as usize]
        };
        for _ in 0..200_000 {
            let mut a = FileName([0; 56]);
            let len = (byte() as usize) % 24;
            a.0.iter_mut().for_each(|b| *b = byte());
            let mut b = a;
            for i in 0..56 {
                if i >= len || byte() == 0 {
                    b.0[i] = byte();
                }
            }
            let same = c_str(&a) == c_str(&b);
            assert_eq!(NameKey::new(&a).matches(&b), same, "{a:?} {b:?}");
            assert_eq!(a.ends_in_head(), c_str(&a).len() < 16);
            if a.ends_in_head() && a.head() == b.head() {
                assert!(same, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn the_lookups_agree() {
        let mut f = FakeFwCfg::default();
        let names =
            ["etc/acpi/rsdp", "etc/acpi/tables", "etc/e820", "x", "opt/org.pvhfw/log", "etc/acpi", "etc/table-loader"];
        for (i, n) in names.iter().enumerate() {
            f.add_file(n, &std::vec![0; i]);
        }
        // An entry with bytes after its NUL: only the exact comparison finds it.
        let mut odd = FileName::new("etc/odd");
        odd.0[20] = b'!';
        let mut raw = f.items[&key::FILE_DIR].clone();
        raw[0..4].copy_from_slice(&8u32.to_be_bytes());
        let entry = FileEntry { size: U32::new(9), select: U16::new(0x99), reserved: U16::new(0), name: odd };
        raw.extend_from_slice(entry.as_bytes());
        let dir = Directory::parse(&raw);
        let queries =
            ["etc/acpi/tables", "x", "missing", "etc/acpi", "etc/acpi/rsdp", "etc/e820", "etc/odd", "etc/table-loader"]
                .map(FileName::new);
        let keys = queries.map(|q| NameKey::new(&q));
        let all = dir.find_all([&keys[0], &keys[1], &keys[2], &keys[3], &keys[4], &keys[5], &keys[6], &keys[7]]);
        for ((q, k), a) in queries.iter().zip(&keys).zip(all) {
            assert_eq!(dir.find_name(q), dir.find(k), "{q:?}");
            assert_eq!(a, dir.find(k), "{q:?}");
        }
        assert_eq!(dir.find_name(&queries[6]), Some(File { select: 0x99, size: 9 }));
        assert_eq!(all[2], None);
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
