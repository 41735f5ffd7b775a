//! Item keys and file names: the keys of QEMU's fixed items, and the 56-byte names of its
//! files, compared as C strings.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

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
    pub(super) fn word(&self, i: usize) -> u64 {
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

    /// For a constant prefix: matches every name that starts with `prefix` (the NUL is not
    /// compared). `prefix` is not empty and ends within the first 7 words.
    pub const fn prefix_const(prefix: &FileName) -> NameKey {
        let key = NameKey::new_const(prefix);
        let (last, mask) = match key.mask >> 8 {
            // A prefix of whole words: its last word is the one before the NUL's.
            0 => (key.last - 1, u64::MAX),
            mask => (key.last, mask),
        };
        let mut words = key.words;
        words[last] &= mask;
        NameKey { words, last, mask }
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

    /// Whether a name whose first word is `first` can match: the cheap test that lets
    /// [`Directory::find_all`](super::Directory::find_all) load each entry's first word once
    /// for all the keys it looks for.
    #[inline]
    pub(super) fn may_match_first(&self, first: u64) -> bool {
        self.last == 0 || self.words[0] == first
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
mod tests {
    use super::*;

    #[test]
    fn prefix_keys_match_names_that_start_with_them() {
        let key = NameKey::prefix_const(&FileName::new("opt/org.pvhfw/"));
        for (name, matches) in [
            ("opt/org.pvhfw/log", true),
            ("opt/org.pvhfw/", true),
            ("opt/org.pvhfw/pci", true),
            ("opt/org.pvhfw", false),
            ("opt/org.pvhfx/log", false),
            ("etc/e820", false),
        ] {
            assert_eq!(key.matches(&FileName::new(name)), matches, "{name}");
        }
        let word = NameKey::prefix_const(&FileName::new("opt/org."));
        assert_eq!(word.last, 0);
        for (name, matches) in
            [("opt/org.pvhfw/log", true), ("opt/org.", true), ("opt/org", false), ("opt/orgx", false)]
        {
            assert_eq!(word.matches(&FileName::new(name)), matches, "{name}");
        }
    }

    #[test]
    fn const_and_run_time_keys_agree() {
        for n in ["", "a", "etc/e820", "etc/acpi/tables", "etc/table-loader", &"z".repeat(56)] {
            let name = FileName::new(n);
            let (k, c) = (NameKey::new(&name), NameKey::new_const(&name));
            assert_eq!((k.words, k.last, k.mask), (c.words, c.last, c.mask), "{n}");
        }
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
}
