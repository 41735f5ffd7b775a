//! The TCG2 crypto-agile event log (TCG PC Client Platform Firmware Profile), as Linux reads it
//! from the area QEMU's TPM2 ACPI table points at and `tpm2_eventlog` replays it: a first event
//! in the old SHA-1 format whose data is the "Spec ID Event03" structure naming the banks, then
//! one `TCG_PCR_EVENT2` per measurement with a digest for each of those banks. Little-endian.
//!
//! Also the digests themselves ([`Hasher`]): SHA-384 and SHA-512 with RustCrypto's software,
//! SHA-1 and SHA-256 with the block functions the platform has ([`ShaBlocks`]): the CPU's SHA
//! extensions in the firmware where it has them, else RustCrypto's software too.

use crate::sha::{Blockwise, ShaBlocks, SHA1_INITIAL, SHA256_INITIAL};
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
    // Never inlined, nor are the hasher's steps: the measured boot calls them from many
    // places, and a copy at each would cost the ROM kilobytes for nothing.
    #[inline(never)]
    pub fn of(banks: Banks, blocks: ShaBlocks, bytes: &[u8]) -> Digests {
        let mut h = Hasher::new(banks, blocks);
        h.update(bytes);
        h.finish()
    }
}

/// Digests being computed in every bank of a TPM at once, over data given in parts.
pub struct Hasher {
    banks: Banks,
    sha1: Blockwise<5>,
    sha256: Blockwise<8>,
    sha384: sha2::Sha384,
    sha512: sha2::Sha512,
}

impl Hasher {
    #[inline(never)]
    pub fn new(banks: Banks, blocks: ShaBlocks) -> Hasher {
        Hasher {
            banks,
            sha1: Blockwise::new(SHA1_INITIAL, blocks.sha1),
            sha256: Blockwise::new(SHA256_INITIAL, blocks.sha256),
            sha384: sha2::Sha384::new(),
            sha512: sha2::Sha512::new(),
        }
    }

    #[inline(never)]
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

    #[inline(never)]
    pub fn finish(self) -> Digests {
        let mut values = [[0u8; 64]; 4];
        self.sha1.finish(&mut values[0][..20]);
        self.sha256.finish(&mut values[1][..32]);
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

    /// The log a previous stage wrote in `area`, to append to: its banks (from its Spec ID
    /// event) and where its last event ends. `None` for an area without a crypto-agile log
    /// (empty, or in a format pvhfw cannot extend), or one naming a bank pvhfw does not hash.
    pub fn resume(area: &'a mut [u8]) -> Option<EventLog<'a>> {
        let (banks, len) = existing(area)?;
        Some(EventLog { area, len, banks, dropped: 0 })
    }

    pub fn banks(&self) -> Banks {
        self.banks
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

/// The little-endian u32 at `at`.
fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

/// The banks and length of the log in `area`: the Spec ID event's algorithms, then events up
/// to the first that is empty (type and size 0, as unused zeroed space reads), names other
/// algorithms, or would run past the area.
fn existing(area: &[u8]) -> Option<(Banks, usize)> {
    let spec_size = u32_at(area, 28)? as usize;
    let spec = area.get(32..32usize.checked_add(spec_size)?)?;
    if u32_at(area, 4)? != EV_NO_ACTION || spec.get(..16)? != b"Spec ID Event03\0" {
        return None;
    }
    let n = u32_at(spec, 24)? as usize;
    let mut algs = [Alg::Sha1; 4];
    let mut banks = Banks::default();
    for (i, slot) in algs.iter_mut().enumerate().take(n) {
        let id = u16::from_le_bytes(spec.get(28 + 4 * i..30 + 4 * i)?.try_into().ok()?);
        *slot = Alg::ALL.into_iter().find(|a| a.id() == id)?;
        banks = banks.with(*slot);
    }
    if n == 0 || n > 4 || banks.count() != n {
        return None;
    }
    let mut at = 32 + spec_size;
    loop {
        let (kind, count) = (u32_at(area, at + 4), u32_at(area, at + 8));
        if kind.is_none_or(|k| k == 0) || count != Some(n as u32) {
            return Some((banks, at));
        }
        let mut next = at + 12;
        for alg in &algs[..n] {
            let id = u16::from_le_bytes(area.get(next..next + 2)?.try_into().ok()?);
            if id != alg.id() {
                return Some((banks, at));
            }
            next += 2 + alg.digest_size();
        }
        let size = u32_at(area, next)? as usize;
        match next.checked_add(4 + size).filter(|&end| end < area.len()) {
            Some(end) => at = end,
            None => return Some((banks, at)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOFT: ShaBlocks = ShaBlocks::SOFTWARE;

    fn all() -> Banks {
        Alg::ALL.iter().fold(Banks::default(), |b, &a| b.with(a))
    }

    #[test]
    fn digests_are_the_known_ones() {
        let d = Digests::of(all(), SOFT, b"abc");
        let hex = |b: &[u8]| b.iter().map(|x| std::format!("{x:02x}")).collect::<std::string::String>();
        assert_eq!(hex(d.get(Alg::Sha1)), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(hex(d.get(Alg::Sha256)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert!(hex(d.get(Alg::Sha384)).starts_with("cb00753f45a35e8b"));
        assert!(hex(d.get(Alg::Sha512)).starts_with("ddaf35a193617aba"));
        let only = Digests::of(Banks::default().with(Alg::Sha256), SOFT, b"abc");
        assert!(only.get(Alg::Sha1).is_empty());
        let mut parts = Hasher::new(all(), SOFT);
        parts.update(b"a");
        parts.update(b"bc");
        assert_eq!(parts.finish(), d);
    }

    #[test]
    fn blockwise_agrees_with_rustcrypto_at_every_padding_boundary() {
        let data: std::vec::Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        let banks = Banks::default().with(Alg::Sha1).with(Alg::Sha256);
        for len in [0usize, 1, 55, 56, 63, 64, 65, 119, 120, 128, 300] {
            for split in [0, 1, len / 2, len.saturating_sub(1)] {
                let (a, b) = data[..len].split_at(split.min(len));
                let mut h = Hasher::new(banks, SOFT);
                h.update(a);
                h.update(b);
                let d = h.finish();
                assert_eq!(d.get(Alg::Sha1), &sha1::Sha1::digest(&data[..len])[..], "{len} {split}");
                assert_eq!(d.get(Alg::Sha256), &sha2::Sha256::digest(&data[..len])[..], "{len} {split}");
            }
        }
    }

    #[test]
    fn a_previous_log_is_appended_to() {
        let mut area = [0u8; 1024];
        let banks = Banks::default().with(Alg::Sha1).with(Alg::Sha256);
        let mut log = EventLog::start(&mut area, banks);
        log.append(4, EV_IPL, &Digests::of(banks, SOFT, b"x"), &[b"first"]);
        let len = log.len();
        let mut resumed = EventLog::resume(&mut area).expect("a log");
        assert_eq!((resumed.banks(), resumed.len()), (banks, len));
        resumed.append(8, EV_IPL, &Digests::of(banks, SOFT, b"y"), &[b"second"]);
        let len = resumed.len();
        assert_eq!(EventLog::resume(&mut area).map(|l| l.len()), Some(len));
        // No log, or one in the old SHA-1 format, or naming SM3: nothing to append to.
        assert!(EventLog::resume(&mut [0u8; 256]).is_none());
        let mut sm3 = area;
        sm3[60] = 0x12;
        assert!(EventLog::resume(&mut sm3).is_none());
        // Garbage after the last event ends the log there.
        let mut garbage = area;
        garbage[len + 4] = 7;
        garbage[len + 8] = 9;
        assert_eq!(EventLog::resume(&mut garbage).map(|l| l.len()), Some(len));
    }

    #[test]
    fn the_log_is_crypto_agile() {
        let mut area = [0u8; 512];
        let banks = Banks::default().with(Alg::Sha1).with(Alg::Sha256);
        let mut log = EventLog::start(&mut area, banks);
        let spec_len = 32 + 24 + 4 + 8 + 1;
        assert_eq!(log.len(), spec_len);
        assert!(log.append(8, EV_IPL, &Digests::of(banks, SOFT, b"x"), &[b"ab", b"c"]));
        let event_len = 12 + (2 + 20) + (2 + 32) + 4 + 3;
        assert_eq!(log.len(), spec_len + event_len);
        // Too large now: dropped, and so is everything after.
        assert!(!log.append(9, EV_IPL, &Digests::of(banks, SOFT, b"x"), &[&[0; 400]]));
        assert!(!log.append(9, EV_IPL, &Digests::of(banks, SOFT, b"x"), &[]));
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
