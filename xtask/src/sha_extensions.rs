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

/// The assembly `ni` against RustCrypto's `soft` block function over 1 to 64 blocks, from
/// states that are not the initial one.
fn agrees<const W: usize>(
    soft: impl Fn(&mut [u32; W], &[u8; 64]),
    ni: unsafe extern "sysv64" fn(*mut [u32; W], *const [u8; 64], usize),
    seed: u32,
) {
    for (n, seed) in [(1, seed), (2, seed + 1), (7, seed + 2), (64, seed + 3)] {
        let input = blocks(n, seed);
        let start: [u32; W] = std::array::from_fn(|i| 0x0123_4567u32.wrapping_mul(i as u32 + seed));
        let mut want = start;
        for b in &input {
            soft(&mut want, b);
        }
        let mut got = start;
        // SAFETY: the caller checked that the CPU has the instructions; the pointers are to `n`
        // blocks and `W` words this function owns.
        unsafe { ni(&mut got, input.as_ptr(), n) };
        assert_eq!(got, want, "{n} blocks");
    }
}

#[test]
fn sha256_matches_software() {
    if host_has_them() {
        let soft = |s: &mut [u32; 8], b: &[u8; 64]| sha2::compress256(s, &[*GenericArray::from_slice(b)]);
        agrees(soft, pvhfw_sha256_blocks, 1);
    }
}

#[test]
fn sha1_matches_software() {
    if host_has_them() {
        let soft = |s: &mut [u32; 5], b: &[u8; 64]| sha1::compress(s, &[*GenericArray::from_slice(b)]);
        agrees(soft, pvhfw_sha1_blocks, 5);
    }
}
