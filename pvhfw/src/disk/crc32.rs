//! CRC-32 (IEEE 802.3, reflected, as GPT uses it) with one 256-entry table.
//!
//! Written out rather than taken from `crc32fast`: that crate's table-driven baseline (the only
//! one without SIMD, which the firmware has not) carries a 16 KiB table, an eighth of the ROM;
//! this one is 1 KiB, and GPT checks at most a header and a 16 KiB entry array a disk.

/// The reflected IEEE polynomial.
const POLY: u32 = 0xedb8_8320;

/// The CRC of each byte value, computed at compile time.
const TABLE: [u32; 256] = table();

const fn table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 1 != 0 { POLY ^ (c >> 1) } else { c >> 1 };
            bit += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

/// A running CRC-32.
pub struct Crc32(u32);

impl Crc32 {
    pub fn new() -> Crc32 {
        Crc32(!0)
    }

    pub fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = TABLE[usize::from(self.0 as u8 ^ b)] ^ (self.0 >> 8);
        }
    }

    pub fn finalize(&self) -> u32 {
        !self.0
    }
}

/// The CRC-32 of `bytes`.
#[cfg(test)]
pub fn hash(bytes: &[u8]) -> u32 {
    let mut c = Crc32::new();
    c.update(bytes);
    c.finalize()
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_values() {
        assert_eq!(super::hash(b""), 0);
        assert_eq!(super::hash(b"123456789"), 0xcbf4_3926);
        assert_eq!(super::hash(&[0u8; 32]), 0x190a_55ad);
    }
}
