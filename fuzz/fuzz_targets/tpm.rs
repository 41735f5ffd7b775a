//! What the measured boot reads from a TPM and writes to its log: a `TPM2_GetCapability(PCRS)`
//! response of any bytes, and events of any sizes into a log area of any size. Input: the
//! response, then (from byte 64) the area size and event sizes. The parser never reads past the
//! response, the log never writes past its area and leaves a byte to spare.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pvhfw::tcg_log::{Digests, EventLog, EV_IPL};
use pvhfw::tpm::parse_pcr_banks;

fuzz_target!(|data: &[u8]| {
    let (response, rest) = data.split_at(data.len().min(64));
    let banks = match parse_pcr_banks(response) {
        Ok(b) if b.count() > 0 => b,
        _ => return,
    };
    let Some((&size, events)) = rest.split_first() else { return };
    let mut area = vec![0u8; usize::from(size) * 8];
    let area_len = area.len();
    let mut log = EventLog::start(&mut area, banks);
    for &e in events {
        let payload = vec![e; usize::from(e)];
        log.append(u32::from(e % 24), EV_IPL, &Digests::of(banks, pvhfw::sha::ShaBlocks::SOFTWARE, &payload), &[&payload]);
    }
    assert!(log.len() < area_len || log.is_empty());
});
