//! SHA-1 and SHA-256 for the measured boot, over block functions chosen at run time
//! ([`ShaBlocks`]): the firmware passes the CPU's SHA extensions where it has them, else
//! RustCrypto's software runs. (SHA-384 and SHA-512, which the extensions lack, are
//! RustCrypto's own hashers, in [`crate::tcg_log`].)

use sha2::digest::generic_array::GenericArray;

/// The block functions of SHA-1 and SHA-256 (FIPS 180-4): each runs its state over whole
/// 64-byte blocks.
#[derive(Clone, Copy)]
pub struct ShaBlocks {
    /// What computes them, for the log.
    pub name: &'static str,
    pub sha1: fn(&mut [u32; 5], &[[u8; 64]]),
    pub sha256: fn(&mut [u32; 8], &[[u8; 64]]),
}

impl ShaBlocks {
    /// RustCrypto's, in software.
    pub const SOFTWARE: ShaBlocks = ShaBlocks { name: "software", sha1: sha1_software, sha256: sha256_software };
}

fn sha1_software(state: &mut [u32; 5], blocks: &[[u8; 64]]) {
    for block in blocks {
        sha1::compress(state, core::slice::from_ref(GenericArray::from_slice(block)));
    }
}

fn sha256_software(state: &mut [u32; 8], blocks: &[[u8; 64]]) {
    for block in blocks {
        sha2::compress256(state, core::slice::from_ref(GenericArray::from_slice(block)));
    }
}

/// SHA-1 or SHA-256 (`W` state words) over data given in parts: whole blocks go straight to
/// the block function, the rest waits in `buffer`.
pub(crate) struct Blockwise<const W: usize> {
    state: [u32; W],
    blocks: fn(&mut [u32; W], &[[u8; 64]]),
    buffer: [u8; 64],
    buffered: usize,
    /// Bytes hashed so far.
    length: u64,
}

impl<const W: usize> Blockwise<W> {
    pub(crate) fn new(state: [u32; W], blocks: fn(&mut [u32; W], &[[u8; 64]])) -> Self {
        Blockwise { state, blocks, buffer: [0; 64], buffered: 0, length: 0 }
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.length = self.length.wrapping_add(bytes.len() as u64);
        self.absorb(bytes);
    }

    fn absorb(&mut self, mut bytes: &[u8]) {
        if self.buffered > 0 {
            let take = (64 - self.buffered).min(bytes.len());
            self.buffer[self.buffered..self.buffered + take].copy_from_slice(&bytes[..take]);
            (self.buffered, bytes) = (self.buffered + take, &bytes[take..]);
            if self.buffered < 64 {
                return;
            }
            (self.blocks)(&mut self.state, core::slice::from_ref(&self.buffer));
            self.buffered = 0;
        }
        let (blocks, rest) = bytes.as_chunks::<64>();
        if !blocks.is_empty() {
            (self.blocks)(&mut self.state, blocks);
        }
        self.buffer[..rest.len()].copy_from_slice(rest);
        self.buffered = rest.len();
    }

    /// The padding (a one bit, zeros, the length in bits, big-endian, to a whole block), then
    /// the state words big-endian into `out`.
    pub(crate) fn finish(mut self, out: &mut [u8]) {
        let bits = self.length.wrapping_mul(8).to_be_bytes();
        let zeros = (64 + 55 - self.buffered) % 64;
        let mut padding = [0u8; 64];
        padding[0] = 0x80;
        self.absorb(&padding[..1 + zeros]);
        self.absorb(&bits);
        for (bytes, word) in out.chunks_exact_mut(4).zip(self.state) {
            bytes.copy_from_slice(&word.to_be_bytes());
        }
    }
}

/// The initial hash values (FIPS 180-4, 5.3.1 and 5.3.3).
pub(crate) const SHA1_INITIAL: [u32; 5] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476, 0xc3d2_e1f0];
pub(crate) const SHA256_INITIAL: [u32; 8] =
    [0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a, 0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19];
