//! `etc/e820` with the firmware's reservations on top: `Regions::from_e820` and `build`. The
//! first byte says how many of the input's entries are parsed as QEMU's and how many are pushed
//! as reservations; the map must come out sorted, disjoint, merged, and each piece typed as the
//! highest type covering it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pvhfw::e820::{self, Entry, Region, Regions, RAW_ENTRY};
use pvhfw::start_info::{MemmapEntry, MAX_MEMMAP};
use pvhfw::Range;
use zerocopy::{FromBytes, FromZeros};

fuzz_target!(|data: &[u8]| {
    let Some((&split, data)) = data.split_first() else { return };
    let at = (usize::from(split) * RAW_ENTRY).min(data.len());
    let (qemu, overlays) = data.split_at(at.min(data.len()));
    let mut regions = Box::new(Regions::new_zeroed());
    if regions.from_e820(qemu).is_err() {
        assert!(qemu.len() / RAW_ENTRY > e820::MAX_INPUT);
        return;
    }
    for c in overlays.chunks_exact(RAW_ENTRY).take(e820::MAX_OVERLAYS) {
        let e = Entry::read_from_bytes(c).unwrap();
        let start = e.addr.get();
        regions.push(Region::new(Range { start, end: start.saturating_add(e.size.get()) }, e.kind.get()));
    }
    let inputs: Vec<Region> = regions.as_slice().to_vec();
    let mut out = [MemmapEntry::default(); MAX_MEMMAP];
    let Ok(len) = e820::build(&mut regions, &mut out) else { return };
    let map = &out[..len];
    for w in map.windows(2) {
        assert!(w[0].addr + w[0].size <= w[1].addr, "sorted and disjoint: {map:x?}");
        assert!(w[0].addr + w[0].size < w[1].addr || w[0].kind != w[1].kind, "merged: {map:x?}");
    }
    for e in map {
        assert!(e.size > 0 && e.addr.checked_add(e.size).is_some(), "{map:x?}");
        for p in [e.addr, e.addr + e.size - 1] {
            let want = inputs.iter().filter(|r| r.range.start <= p && p < r.range.end).map(|r| r.kind).max();
            assert_eq!(want, Some(e.kind), "{p:#x} in {map:x?} from {inputs:x?}");
        }
    }
    // Every input byte that is covered ends up in the map.
    for r in &inputs {
        for p in [r.range.start, r.range.end - 1] {
            assert!(map.iter().any(|e| e.addr <= p && p - e.addr < e.size), "{p:#x} lost: {map:x?} from {inputs:x?}");
        }
    }
});
