//! The 8-bit checksum of ACPI, SMBIOS and MP tables.
//!
//! QEMU's DSDT alone is several KiB and the firmware target has no SIMD, so a byte loop would be
//! the largest instruction cost of the boot. This sums eight bytes per step instead: even and
//! odd bytes of each 64-bit word go into four 16-bit lanes each, which are folded before any
//! lane could overflow.

/// Eight-byte words summed before the lanes are folded: each adds at most 2 * 0xff per lane
/// (an even and an odd byte), and 128 of them stay below 0x10000.
const WORDS_PER_FOLD: usize = 128;
const LOW_BYTES: u64 = 0x00ff_00ff_00ff_00ff;

/// The sum of `bytes`, modulo 256.
pub fn sum(bytes: &[u8]) -> u8 {
    let (words, tail) = bytes.as_chunks::<8>();
    let mut total: u8 = tail.iter().fold(0, |s, &b| s.wrapping_add(b));
    for block in words.chunks(WORDS_PER_FOLD) {
        let mut lanes = 0u64;
        for word in block {
            let w = u64::from_le_bytes(*word);
            lanes += (w & LOW_BYTES) + ((w >> 8) & LOW_BYTES);
        }
        // Add the four 16-bit lanes; only the low byte matters.
        let folded = (lanes & 0xffff) + ((lanes >> 16) & 0xffff) + ((lanes >> 32) & 0xffff) + (lanes >> 48);
        total = total.wrapping_add(folded as u8);
    }
    total
}

/// Sets `bytes[at]` so that all of `bytes` sums to zero.
pub fn fix(bytes: &mut [u8], at: usize) {
    if let Some(b) = bytes.get(at).copied() {
        let rest = sum(bytes).wrapping_sub(b);
        bytes[at] = rest.wrapping_neg();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn naive(bytes: &[u8]) -> u8 {
        bytes.iter().fold(0u8, |s, &b| s.wrapping_add(b))
    }

    #[test]
    fn matches_a_byte_loop() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let data: Vec<u8> = (0..20_000)
            .map(|_| {
                x ^= x << 7;
                x ^= x >> 9;
                x as u8
            })
            .collect();
        for (start, len) in [(0, 0), (0, 1), (3, 7), (1, 8), (5, 2048), (0, 2056), (7, 4099), (0, 20_000), (13, 19_987)]
        {
            assert_eq!(sum(&data[start..start + len]), naive(&data[start..start + len]), "{start}+{len}");
        }
        assert_eq!(sum(&[0xff; 8 * 300]), naive(&[0xff; 8 * 300]));
    }

    #[test]
    fn fix_zeroes_the_sum() {
        let mut t = [1u8, 2, 3, 0, 250, 9];
        fix(&mut t, 3);
        assert_eq!(naive(&t), 0);
        t[3] = 77; // whatever was there before
        fix(&mut t, 3);
        assert_eq!(naive(&t), 0);
        fix(&mut t, 99); // out of range: no change, no panic
    }
}
