//! The TCG2 crypto-agile event log (TCG PC Client Platform Firmware Profile), as Linux reads it
//! from the area QEMU's TPM2 ACPI table points at and `tpm2_eventlog` replays it: a first event
//! in the old SHA-1 format whose data is the "Spec ID Event03" structure naming the banks, then
//! one `TCG_PCR_EVENT2` per measurement with a digest for each of those banks. Little-endian.
//!
//! Also the digests themselves ([`Hasher`]): RustCrypto's SHA-1 and SHA-2 in software, so the
//! firmware runs no SIMD instruction (its target has SSE off).

use crate::tpm::{Alg, Banks};
use sha2::Digest;

/// Event types pvhfw logs.
pub const EV_POST_CODE: u32 = 0x1;
pub const EV_NO_ACTION: u32 = 0x3;
pub const EV_SEPARATOR: u32 = 0x4;
pub const EV_EVENT_TAG: u32 = 0x6;
pub const EV_S_CRTM_VERSION: u32 = 0x8;
pub const EV_IPL: u32 = 0xd;

/// The digests of one measurement, one per bank of [`Digests::banks`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Digests {
    banks: Banks,
    values: [[u8; 64]; 4],
}

impl Digests {
    /// The digest of bank `alg` (empty if the bank is not in these digests).
    pub fn get(&self, alg: Alg) -> &[u8] {
        match Alg::ALL.iter().position(|&a| a == alg) {
            Some(i) if self.banks.has(alg) => &self.values[i][..alg.digest_size()],
            _ => &[],
        }
    }

    /// Each bank's digest, in bank order ([`Banks::iter`]).
    pub fn in_bank_order(&self) -> [&[u8]; 4] {
        let mut out: [&[u8]; 4] = [&[]; 4];
        for (slot, alg) in out.iter_mut().zip(self.banks.iter()) {
            *slot = self.get(alg);
        }
        out
    }

    /// The digests of `bytes` in `banks`.
    pub fn of(banks: Banks, bytes: &[u8]) -> Digests {
        let mut h = Hasher::new(banks);
        h.update(bytes);
        h.finish()
    }
}

/// Digests being computed in every bank of a TPM at once, over data given in parts.
pub struct Hasher {
    banks: Banks,
    sha1: sha1::Sha1,
    sha256: sha2::Sha256,
    sha384: sha2::Sha384,
    sha512: sha2::Sha512,
}

impl Hasher {
    pub fn new(banks: Banks) -> Hasher {
        Hasher {
            banks,
            sha1: sha1::Sha1::new(),
            sha256: sha2::Sha256::new(),
            sha384: sha2::Sha384::new(),
            sha512: sha2::Sha512::new(),
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        let b = self.banks;
        if b.has(Alg::Sha1) {
            self.sha1.update(bytes);
        }
        if b.has(Alg::Sha256) {
            self.sha256.update(bytes);
        }
        if b.has(Alg::Sha384) {
            self.sha384.update(bytes);
        }
        if b.has(Alg::Sha512) {
            self.sha512.update(bytes);
        }
    }

    pub fn finish(self) -> Digests {
        let mut values = [[0u8; 64]; 4];
        values[0][..20].copy_from_slice(&self.sha1.finalize());
        values[1][..32].copy_from_slice(&self.sha256.finalize());
        values[2][..48].copy_from_slice(&self.sha384.finalize());
        values[3][..64].copy_from_slice(&self.sha512.finalize());
        Digests { banks: self.banks, values }
    }
}

/// The log being written into `area` (QEMU's zero-filled `etc/tpm/log`).
pub struct EventLog<'a> {
    area: &'a mut [u8],
    len: usize,
    banks: Banks,
    /// Events that did not fit.
    dropped: u32,
}

impl<'a> EventLog<'a> {
    /// A log for `banks` whose first event, the Spec ID event, is written at the start of
    /// `area`.
    pub fn start(area: &'a mut [u8], banks: Banks) -> EventLog<'a> {
        let mut spec = [0u8; 28 + 4 * 4 + 1];
        spec[..16].copy_from_slice(b"Spec ID Event03\0");
        // platformClass 0 (client), specVersionMinor 0, Major 2, errata 2, uintnSize 2 (64-bit).
        spec[20..24].copy_from_slice(&[0, 2, 2, 2]);
        spec[24..28].copy_from_slice(&(banks.count() as u32).to_le_bytes());
        let mut at = 28;
        for alg in banks.iter() {
            spec[at..at + 2].copy_from_slice(&alg.id().to_le_bytes());
            spec[at + 2..at + 4].copy_from_slice(&(alg.digest_size() as u16).to_le_bytes());
            at += 4;
        }
        let spec = &spec[..at + 1]; // vendorInfoSize 0
        let mut log = EventLog { area, len: 0, banks, dropped: 0 };
        // pcrIndex 0, EV_NO_ACTION, a SHA-1-sized zero digest, then the structure.
        let mut header = [0u8; 32];
        header[4..8].copy_from_slice(&EV_NO_ACTION.to_le_bytes());
        header[28..32].copy_from_slice(&(spec.len() as u32).to_le_bytes());
        log.put(&[&header, spec]);
        log
    }

    /// Appends the event of a measurement into `pcr`: its type, digests and data (the parts of
    /// `data` one after the other). Returns whether it fitted; one that does not is counted in
    /// [`EventLog::dropped`], and so are all after it.
    pub fn append(&mut self, pcr: u32, kind: u32, digests: &Digests, data: &[&[u8]]) -> bool {
        let mut head = [0u8; 12];
        head[..4].copy_from_slice(&pcr.to_le_bytes());
        head[4..8].copy_from_slice(&kind.to_le_bytes());
        head[8..12].copy_from_slice(&(self.banks.count() as u32).to_le_bytes());
        let mut algs = [[0u8; 2]; 4];
        for (slot, alg) in algs.iter_mut().zip(self.banks.iter()) {
            *slot = alg.id().to_le_bytes();
        }
        let size = (data.iter().map(|d| d.len()).sum::<usize>() as u32).to_le_bytes();
        let d = digests.in_bank_order();
        let n = self.banks.count();
        let parts: [&[u8]; 11] = [
            &head,
            &algs[0][..2 * usize::from(n > 0)],
            d[0],
            &algs[1][..2 * usize::from(n > 1)],
            d[1],
            &algs[2][..2 * usize::from(n > 2)],
            d[2],
            &algs[3][..2 * usize::from(n > 3)],
            d[3],
            &size,
            &[],
        ];
        let fits = self.dropped == 0 && self.put_all(&parts, data);
        if !fits {
            self.dropped += 1;
        }
        fits
    }

    /// Writes `parts` then `data` if all of it fits with a byte to spare: Linux stops reading
    /// at an event that ends exactly at the end of the area.
    fn put_all(&mut self, parts: &[&[u8]], data: &[&[u8]]) -> bool {
        let total: usize = parts.iter().chain(data).map(|p| p.len()).sum();
        if self.len + total >= self.area.len() {
            return false;
        }
        for p in parts.iter().chain(data) {
            self.area[self.len..self.len + p.len()].copy_from_slice(p);
            self.len += p.len();
        }
        true
    }

    fn put(&mut self, parts: &[&[u8]]) {
        if !self.put_all(parts, &[]) {
            self.dropped += 1;
        }
    }

    /// The log's bytes so far.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn dropped(&self) -> u32 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Banks {
        Alg::ALL.iter().fold(Banks::default(), |b, &a| b.with(a))
    }

    #[test]
    fn digests_are_the_known_ones() {
        let d = Digests::of(all(), b"abc");
        let hex = |b: &[u8]| b.iter().map(|x| std::format!("{x:02x}")).collect::<std::string::String>();
        assert_eq!(hex(d.get(Alg::Sha1)), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(hex(d.get(Alg::Sha256)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert!(hex(d.get(Alg::Sha384)).starts_with("cb00753f45a35e8b"));
        assert!(hex(d.get(Alg::Sha512)).starts_with("ddaf35a193617aba"));
        let only = Digests::of(Banks::default().with(Alg::Sha256), b"abc");
        assert!(only.get(Alg::Sha1).is_empty());
        let mut parts = Hasher::new(all());
        parts.update(b"a");
        parts.update(b"bc");
        assert_eq!(parts.finish(), d);
    }

    #[test]
    fn the_log_is_crypto_agile() {
        let mut area = [0u8; 512];
        let banks = Banks::default().with(Alg::Sha1).with(Alg::Sha256);
        let mut log = EventLog::start(&mut area, banks);
        let spec_len = 32 + 24 + 4 + 8 + 1;
        assert_eq!(log.len(), spec_len);
        assert!(log.append(8, EV_IPL, &Digests::of(banks, b"x"), &[b"ab", b"c"]));
        let event_len = 12 + (2 + 20) + (2 + 32) + 4 + 3;
        assert_eq!(log.len(), spec_len + event_len);
        // Too large now: dropped, and so is everything after.
        assert!(!log.append(9, EV_IPL, &Digests::of(banks, b"x"), &[&[0; 400]]));
        assert!(!log.append(9, EV_IPL, &Digests::of(banks, b"x"), &[]));
        assert_eq!(log.dropped(), 2);
        let len = log.len();
        assert_eq!(&area[32..48], b"Spec ID Event03\0");
        assert_eq!(&area[56..60], &2u32.to_le_bytes(), "two algorithms");
        assert_eq!(&area[60..68], &[4, 0, 20, 0, 11, 0, 32, 0]);
        let e = &area[spec_len..len];
        assert_eq!(&e[..12], &[8, 0, 0, 0, 0xd, 0, 0, 0, 2, 0, 0, 0]);
        assert_eq!(&e[12..14], &[4, 0]);
        assert_eq!(&e[34..36], &[11, 0]);
        assert_eq!(&e[68..75], &[3, 0, 0, 0, b'a', b'b', b'c']);
        assert!(area[len..].iter().all(|&b| b == 0));
    }
}
