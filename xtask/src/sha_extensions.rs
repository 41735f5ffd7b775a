//! The firmware's SHA-1 and SHA-256 with the CPU's SHA extensions (`firmware/src/sha.s`),
//! assembled into the host tool's tests and run here against RustCrypto's software, over many
//! blocks and states; skipped (with a note) on a host CPU without the extensions. Under QEMU the
//! measured-boot tests run the same code on `-cpu max` (QEMU 10's TCG has the extensions).

use sha2::digest::generic_array::GenericArray;

std::arch::global_asm!(include_str!("../../firmware/src/sha.s"));

extern "sysv64" {
    fn pvhfw_sha1_blocks(state: *mut [u32; 5], blocks: *const [u8; 64], count: usize);
    fn pvhfw_sha256_blocks(state: *mut [u32; 8], blocks: *const [u8; 64], count: usize);
}

fn host_has_them() -> bool {
    let has = std::arch::is_x86_feature_detected!("sha")
        && std::arch::is_x86_feature_detected!("ssse3")
        && std::arch::is_x86_feature_detected!("sse4.1");
    if !has {
        eprintln!("note: this CPU has no SHA extensions; firmware/src/sha.s not checked here");
    }
    has
}

/// Blocks of bytes that differ everywhere (an LCG), and a state that is not the initial one.
fn blocks(n: usize, seed: u32) -> Vec<[u8; 64]> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            std::array::from_fn(|_| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (x >> 24) as u8
            })
        })
        .collect()
}

#[test]
fn sha256_matches_software() {
    if !host_has_them() {
        return;
    }
    for (n, seed) in [(1, 1), (2, 2), (7, 3), (64, 4)] {
        let input = blocks(n, seed);
        let start: [u32; 8] = std::array::from_fn(|i| 0x0123_4567u32.wrapping_mul(i as u32 + seed));
        let mut soft = start;
        for b in &input {
            sha2::compress256(&mut soft, std::slice::from_ref(GenericArray::from_slice(b)));
        }
        let mut ni = start;
        // SAFETY: the CPU has the instructions (checked above); the pointers are to `n` blocks
        // and eight words this function owns.
        unsafe { pvhfw_sha256_blocks(&mut ni, input.as_ptr(), n) };
        assert_eq!(ni, soft, "{n} blocks");
    }
}

#[test]
fn sha1_matches_software() {
    if !host_has_them() {
        return;
    }
    for (n, seed) in [(1, 5), (2, 6), (7, 7), (64, 8)] {
        let input = blocks(n, seed);
        let start: [u32; 5] = std::array::from_fn(|i| 0x89ab_cdefu32.wrapping_mul(i as u32 + seed));
        let mut soft = start;
        for b in &input {
            sha1::compress(&mut soft, std::slice::from_ref(GenericArray::from_slice(b)));
        }
        let mut ni = start;
        // SAFETY: as for sha256_matches_software, with five words.
        unsafe { pvhfw_sha1_blocks(&mut ni, input.as_ptr(), n) };
        assert_eq!(ni, soft, "{n} blocks");
    }
}
