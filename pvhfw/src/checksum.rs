//! The 8-bit checksum of ACPI, SMBIOS and MP tables.
//!
//! QEMU's DSDT alone is several KiB and the firmware has no SIMD (SSE is off on the soft-float
//! target, and a software KVM met in practice cannot run it), so a byte loop would be the
//! largest instruction cost of the boot. Instead, per 64-bit word `w`: `all += w` (wrapping)
//! and `even += w & 0x00ff..00ff`. Each 16-bit lane of `even` holds the exact sum of one even
//! byte position; `all - even` is the sum of `w & 0xff00..ff00`, whose lanes hold the odd
//! positions' sums in their high bytes (shifted up 8 bits, so only their low 8 bits survive in
//! the lane, and the carries each lane receives from the one below stay in its low byte while
//! at most 256 words are summed). Four instructions per eight bytes.

/// Words summed before folding: with the partial last word added to the first group, at most
/// 256, which keeps every lane of `even` below 2^16 (256 * 255) and the carries into each lane
/// of `all - even` below 2^8 (256 * 255 * 256 / 2^16 = 255).
const WORDS_PER_FOLD: usize = 255;
const EVEN_BYTES: u64 = 0x00ff_00ff_00ff_00ff;

/// The sum modulo 256 of the bytes that `all` (wrapping sum of words) and `even` (sum of their
/// even bytes) were summed from.
fn fold(all: u64, even: u64) -> u8 {
    let odd = all.wrapping_sub(even);
    // Byte k: the sum, modulo 256, of the bytes at position k.
    let per_position = (even & EVEN_BYTES) | (odd & !EVEN_BYTES);
    let lanes = (per_position & EVEN_BYTES) + ((per_position >> 8) & EVEN_BYTES);
    ((lanes & 0xffff) + ((lanes >> 16) & 0xffff) + ((lanes >> 32) & 0xffff) + (lanes >> 48)) as u8
}

/// The sum of `bytes`, modulo 256.
pub fn sum(bytes: &[u8]) -> u8 {
    let Some(last) = bytes.last_chunk::<8>() else {
        return bytes.iter().fold(0u8, |s, &b| s.wrapping_add(b));
    };
    let (words, tail) = bytes.as_chunks::<8>();
    // The partial last word starts the first group: the last 8 bytes with those counted in
    // whole words shifted out (little-endian, so the earlier bytes are the low ones).
    let partial = if tail.is_empty() { 0 } else { u64::from_le_bytes(*last) >> (8 * (8 - tail.len())) };
    let (mut all, mut even) = (partial, partial & EVEN_BYTES);
    let mut total = 0u8;
    for group in words.chunks(WORDS_PER_FOLD) {
        for w in group {
            let w = u64::from_le_bytes(*w);
            all = all.wrapping_add(w);
            even += w & EVEN_BYTES;
        }
        total = total.wrapping_add(fold(all, even));
        (all, even) = (0, 0);
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
        // All ones: the largest lane sums and carries, across fold boundaries.
        for len in [8 * 255, 8 * 255 + 3, 8 * 255 + 7, 8 * 256, 8 * 600 + 5] {
            assert_eq!(sum(&std::vec![0xff; len]), naive(&std::vec![0xff; len]), "{len}");
        }
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
