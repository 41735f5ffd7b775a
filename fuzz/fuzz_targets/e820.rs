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
    e820::assert_built_from(&out[..len], &inputs);
});
