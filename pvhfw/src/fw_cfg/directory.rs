//! The file directory (item 0x19): reading it, long ones in parts, and looking files up.

use super::names::{key, FileName, NameKey};
use super::transport::FwCfgIo;
use crate::Error;
use zerocopy::big_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

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

/// Appends to `out` the directory QEMU would publish at key 0x19 for `files` (name, size,
/// selector): the big-endian count, then one entry each. For the test fake and the fuzz seeds.
pub fn encode_directory<'a>(files: impl ExactSizeIterator<Item = (&'a str, u32, u16)>, out: &mut impl Extend<u8>) {
    out.extend((files.len() as u32).to_be_bytes());
    for (name, size, select) in files {
        let entry = FileEntry {
            size: U32::new(size),
            select: U16::new(select),
            reserved: U16::new(0),
            name: FileName::new(name),
        };
        out.extend(entry.as_bytes().iter().copied());
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

    /// Looks a file up by name. QEMU lists each name once; a name listed twice is its last
    /// entry, as in [`Self::find_all`].
    pub fn find(&self, name: &NameKey) -> Option<File> {
        self.entries.iter().rev().find(|e| name.matches(&e.name)).map(FileEntry::file)
    }

    /// Looks several files up in one pass: the boot needs the same few every time. Always
    /// inlined: specialised to its constant names at each call site, it is ~400 instructions a
    /// boot cheaper than one shared copy (measured).
    #[inline(always)]
    pub fn find_all<const N: usize>(&self, names: [&NameKey; N]) -> [Option<File>; N] {
        let mut found = [None; N];
        for e in self.entries {
            // Each entry's first word, loaded once and compared with every name's before any
            // full match (matches() would load it again per name: ~100 instructions a boot).
            let first = e.name.word(0);
            // The last entry of a name wins: checking for an earlier one cost ~30 instructions
            // a boot (measured), and QEMU lists each name once.
            for (name, slot) in names.iter().zip(found.iter_mut()) {
                if name.may_match_first(first) && name.matches(&e.name) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fw_cfg::fake::FakeFwCfg;

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

        // A count no QEMU publishes (a fuzzer's): refused, not read as 2^32 entries in parts.
        let mut dir = std::vec![0u8; 4 + 64];
        dir[..4].copy_from_slice(&u32::MAX.to_be_bytes());
        f.set(key::FILE_DIR, &dir);
        assert_eq!(read_directory(&mut f, &mut buf).err(), Some(Error::DirectoryCount { files: u32::MAX }));
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
