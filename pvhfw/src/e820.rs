//! The memory map: QEMU's `etc/e820` turned into what the kernel may trust.
//!
//! QEMU's table is unsorted, reports low RAM as one block straight across the VGA/ROM hole and
//! knows nothing of the firmware's own memory. [`build`] applies the firmware's reservations on
//! top, splits every overlap into pieces whose type is the highest type covering them (the rule
//! Linux's own e820 sanitiser uses, so RAM never wins over anything), drops gaps, merges
//! neighbours of one type and sorts the result. Types it does not know pass through unchanged.

use crate::start_info::{MemmapEntry, MAX_MEMMAP};
use crate::{Error, Range};
use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

pub const RAM: u32 = 1;
pub const RESERVED: u32 = 2;

/// One entry of QEMU's `etc/e820`: little-endian and packed (the layout of the BIOS e820 call
/// and of Linux's `boot_params.e820_table`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
pub struct Entry {
    pub addr: U64,
    pub size: U64,
    pub kind: U32,
}
const _: () = assert!(size_of::<Entry>() == 20);

/// Size of one `etc/e820` entry.
pub const RAW_ENTRY: usize = size_of::<Entry>();
/// Entries accepted from QEMU (it sends a handful).
pub const MAX_INPUT: usize = 64;
/// Reservations the firmware adds on top.
pub const MAX_OVERLAYS: usize = 8;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Region {
    pub range: Range,
    pub kind: u32,
    pub _pad: u32,
}

impl Region {
    pub fn new(range: Range, kind: u32) -> Region {
        Region { range, kind, _pad: 0 }
    }
}

const CAPACITY: usize = MAX_INPUT + MAX_OVERLAYS;

/// A fixed-capacity list of regions (QEMU's entries plus the firmware's reservations) and the
/// working space to resolve them. Any byte pattern is a valid value, so the firmware keeps it in
/// scratch RAM without clearing it first: [`Regions::from_e820`] resets what it uses.
#[repr(C)]
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Regions {
    items: [Region; CAPACITY],
    bounds: [u64; 2 * CAPACITY],
    len: u64,
}

impl Regions {
    /// Replaces the contents with `etc/e820`'s entries; a trailing partial entry is ignored,
    /// empty entries are skipped and an entry reaching past 2^64 is clipped.
    pub fn from_e820(&mut self, raw: &[u8]) -> Result<(), Error> {
        let count = raw.len() / RAW_ENTRY;
        if count > MAX_INPUT {
            let (size, max) = (raw.len() as u64, (MAX_INPUT * RAW_ENTRY) as u64);
            return Err(Error::TooLarge { what: "etc/e820", size, max });
        }
        self.len = 0;
        let entries = <[Entry]>::ref_from_prefix_with_elems(raw, count).map_or(&[][..], |(e, _)| e);
        for e in entries {
            let (addr, len) = (e.addr.get(), e.size.get());
            self.push(Region::new(Range { start: addr, end: addr.saturating_add(len) }, e.kind.get()));
        }
        Ok(())
    }

    /// Replaces the contents with a memory map a previous stage handed over (`pvhfw.elf`),
    /// with the same rules as [`Regions::from_e820`].
    pub fn from_memmap(&mut self, map: &[crate::start_info::MemmapEntry]) -> Result<(), Error> {
        if map.len() > MAX_INPUT {
            return Err(Error::TooLarge { what: "incoming memory map", size: map.len() as u64, max: MAX_INPUT as u64 });
        }
        self.len = 0;
        for e in map {
            self.push(Region::new(Range { start: e.addr, end: e.addr.saturating_add(e.size) }, e.kind));
        }
        Ok(())
    }

    /// Adds a region; empty ones are dropped. Capacity is sized for QEMU's input plus the
    /// firmware's fixed reservations, so overflowing it is a firmware bug: the region is dropped.
    pub fn push(&mut self, region: Region) {
        if !region.range.is_empty() {
            if let Some(slot) = self.items.get_mut(self.len as usize) {
                *slot = region;
                self.len += 1;
            }
        }
    }

    pub fn as_slice(&self) -> &[Region] {
        &self.items[..(self.len as usize).min(CAPACITY)]
    }
}

/// Resolves `regions` into a sorted, non-overlapping map written to `out`; returns its length.
pub fn build(regions: &mut Regions, out: &mut [MemmapEntry; MAX_MEMMAP]) -> Result<usize, Error> {
    let Regions { items, bounds, len } = regions;
    let regions = &items[..(*len as usize).min(CAPACITY)];
    // Every start and end, sorted. Insertion sort: QEMU sends a handful of entries, and an
    // in-place shift beats calling memmove for each of them.
    let mut n = 0;
    for r in regions {
        for b in [r.range.start, r.range.end] {
            let mut i = n;
            while i > 0 && bounds[i - 1] > b {
                bounds[i] = bounds[i - 1];
                i -= 1;
            }
            bounds[i] = b;
            n += 1;
        }
    }
    let mut len: usize = 0;
    for w in bounds[..n].windows(2) {
        if w[0] == w[1] {
            continue;
        }
        let piece = Range { start: w[0], end: w[1] };
        // The highest type covering the piece, plus one (0: no region covers it).
        let mut best = 0u64;
        for r in regions {
            if r.range.contains(&piece) {
                best = best.max(u64::from(r.kind) + 1);
            }
        }
        let Some(kind) = best.checked_sub(1).map(|k| k as u32) else { continue };
        // Extend the previous entry when it is the same type and touches this piece.
        if let Some(prev) = len.checked_sub(1).and_then(|i| out.get_mut(i)) {
            if prev.kind == kind && prev.addr + prev.size == piece.start {
                prev.size += piece.end - piece.start;
                continue;
            }
        }
        let slot = out.get_mut(len).ok_or(Error::MemoryMapTooLarge)?;
        *slot = MemmapEntry { addr: piece.start, size: piece.end - piece.start, kind, reserved: 0 };
        len += 1;
    }
    if !out[..len].iter().any(|e| e.kind == RAM) {
        return Err(Error::NoRam);
    }
    Ok(len)
}

/// Marks `range`, which must lie inside one RAM entry of the built map `out[..len]`, as `kind`
/// by splitting that entry; returns the new length.
pub fn carve(out: &mut [MemmapEntry; MAX_MEMMAP], len: usize, range: Range, kind: u32) -> Result<usize, Error> {
    if range.is_empty() {
        return Ok(len);
    }
    let no_room = Error::NoRoomForTables { size: range.end - range.start };
    let i = out[..len]
        .iter()
        .position(|e| e.kind == RAM && e.addr <= range.start && range.end - e.addr <= e.size)
        .ok_or(no_room)?;
    let e = out[i];
    let (before, after) = (range.start - e.addr, e.addr + e.size - range.end);
    let added = usize::from(before > 0) + usize::from(after > 0);
    if len + added > MAX_MEMMAP {
        return Err(Error::MemoryMapTooLarge);
    }
    // Make room after entry i (a handful of entries: a loop, not a memmove call).
    for j in (i + 1..len).rev() {
        out[j + added] = out[j];
    }
    let mut at = i;
    for (addr, size, kind) in
        [(e.addr, before, RAM), (range.start, range.end - range.start, kind), (range.end, after, RAM)]
    {
        if size > 0 {
            out[at] = MemmapEntry { addr, size, kind, reserved: 0 };
            at += 1;
        }
    }
    Ok(len + added)
}

/// Whether `range` is RAM according to the raw entries `regions` (unsorted, possibly
/// overlapping): inside a RAM entry and touching no entry of a type that wins over RAM where
/// they overlap. As in [`build`] (and Linux's sanitising), the higher type wins, so only types
/// above RAM's take it away; type 0, which no QEMU sends, does not (the boot fuzz target found
/// the two disagreeing about it).
pub fn is_free_ram(regions: &[Region], range: Range) -> bool {
    regions.iter().any(|r| r.kind == RAM && r.range.contains(&range))
        && !regions.iter().any(|r| r.kind > RAM && r.range.overlaps(&range))
}

/// Where RAM ends in `etc/e820`'s entries as read (`raw`; a trailing partial entry is ignored).
pub fn raw_ram_end(raw: &[u8]) -> u64 {
    let (entries, _) = <[Entry]>::ref_from_prefix_with_elems(raw, raw.len() / RAW_ENTRY).unwrap_or((&[], &[]));
    let ram = entries.iter().filter(|e| e.kind.get() == RAM);
    ram.map(|e| e.addr.get().saturating_add(e.size.get())).max().unwrap_or(0)
}

/// Where RAM ends in QEMU's entries.
pub fn ram_end(regions: &[Region]) -> u64 {
    regions.iter().filter(|r| r.kind == RAM).map(|r| r.range.end).max().unwrap_or(0)
}

/// Where RAM below 4 GiB ends in QEMU's entries: there the 32-bit PCI hole begins.
pub fn low_ram_end(regions: &[Region]) -> u64 {
    let low = regions.iter().filter(|r| r.kind == RAM && r.range.start < 1 << 32);
    low.map(|r| r.range.end.min(1 << 32)).max().unwrap_or(0)
}

/// Whether `range` lies entirely inside one RAM entry of a built map.
pub fn is_ram(map: &[MemmapEntry], range: Range) -> bool {
    map.iter().any(|e| e.kind == RAM && e.addr <= range.start && range.end - e.addr <= e.size)
}

/// The properties every built map has, whatever the input: sorted, disjoint, neighbours of one
/// type merged, each piece of the highest type covering it, and no covered byte lost. For the
/// randomised tests and the fuzz targets.
#[cfg(any(test, feature = "fakes"))]
pub fn assert_built_from(map: &[MemmapEntry], inputs: &[Region]) {
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
    for r in inputs {
        for p in [r.range.start, r.range.end - 1] {
            assert!(map.iter().any(|e| e.addr <= p && p - e.addr < e.size), "{p:#x} lost: {map:x?} from {inputs:x?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn raw(entries: &[(u64, u64, u32)]) -> Vec<u8> {
        let mut v = Vec::new();
        for &(a, l, t) in entries {
            v.extend_from_slice(&a.to_le_bytes());
            v.extend_from_slice(&l.to_le_bytes());
            v.extend_from_slice(&t.to_le_bytes());
        }
        v
    }

    fn run(entries: &[(u64, u64, u32)], overlays: &[(u64, u64, u32)]) -> Result<Vec<(u64, u64, u32)>, Error> {
        let mut regions = crate::boxed_zeroed::<Regions>();
        regions.from_e820(&raw(entries))?;
        for &(start, end, kind) in overlays {
            regions.push(Region::new(Range { start, end }, kind));
        }
        let mut out = [MemmapEntry::default(); MAX_MEMMAP];
        let n = build(&mut regions, &mut out)?;
        Ok(out[..n].iter().map(|e| (e.addr, e.size, e.kind)).collect())
    }

    const G: u64 = 1 << 30;

    #[test]
    fn qemu_pc_map_with_hole_and_firmware() {
        // What QEMU pc under KVM sends for -m 5G: reserved first, unsorted, RAM across the hole.
        let input = [(0xfeff_c000, 0x4000, 2), (0, 3 * G, 1), (4 * G, 2 * G, 1)];
        let overlays = [(0xa_0000, 0x10_0000, 2), (0x1000, 0x2_0000, 2)];
        assert_eq!(
            run(&input, &overlays).unwrap(),
            [
                (0, 0x1000, 1),
                (0x1000, 0x1f000, 2),
                (0x2_0000, 0x8_0000, 1),
                (0xa_0000, 0x6_0000, 2),
                (0x10_0000, 3 * G - 0x10_0000, 1),
                (0xfeff_c000, 0x4000, 2),
                (4 * G, 2 * G, 1),
            ]
        );
    }

    #[test]
    fn overlaps_take_the_highest_type_and_unknown_types_pass() {
        let input = [(0, 0x1000, 1), (0x800, 0x1000, 3), (0x1000, 0x1000, 0xefff_ffff), (0x3000, 0x1000, 1)];
        assert_eq!(
            run(&input, &[]).unwrap(),
            [(0, 0x800, 1), (0x800, 0x800, 3), (0x1000, 0x1000, 0xefff_ffff), (0x3000, 0x1000, 1)]
        );
    }

    #[test]
    fn adjacent_ram_merges_and_empty_entries_vanish() {
        let input = [(0x2000, 0x1000, 1), (0, 0x2000, 1), (0x5000, 0, 2)];
        assert_eq!(run(&input, &[]).unwrap(), [(0, 0x3000, 1)]);
    }

    #[test]
    fn entries_past_the_top_are_clipped() {
        let input = [(u64::MAX - 0xfff, 0x10000, 1)];
        assert_eq!(run(&input, &[]).unwrap(), [(u64::MAX - 0xfff, 0xfff, 1)]);
    }

    #[test]
    fn errors() {
        assert_eq!(run(&[], &[]), Err(Error::NoRam));
        assert_eq!(run(&[(0, 0x1000, 2)], &[]), Err(Error::NoRam));
        let many: Vec<_> = (0..MAX_INPUT as u64 + 1).map(|i| (i * 0x2000, 0x1000, 1)).collect();
        assert!(matches!(run(&many, &[]), Err(Error::TooLarge { .. })));
        let alternating: Vec<_> = (0..MAX_INPUT as u64).map(|i| (i * 0x1000, 0x1000, 1 + (i as u32 % 2))).collect();
        let overlays: Vec<_> =
            (0..MAX_OVERLAYS as u64).map(|i| (0x100_0000 + 0x2000 * i, 0x100_1000 + 0x2000 * i, 2)).collect();
        assert_eq!(run(&alternating, &overlays).unwrap().len(), MAX_INPUT + MAX_OVERLAYS);
    }

    #[test]
    fn carve_splits_one_ram_entry() {
        let mut out = [MemmapEntry::default(); MAX_MEMMAP];
        let map = [(0, 0x9_f000, 1), (0x10_0000, 0x100_0000, 1), (0xfeff_c000, 0x4000, 2)];
        for (i, &(addr, size, kind)) in map.iter().enumerate() {
            out[i] = MemmapEntry { addr, size, kind, reserved: 0 };
        }
        let entries = |out: &[MemmapEntry], n| out[..n].iter().map(|e| (e.addr, e.size, e.kind)).collect::<Vec<_>>();
        let n = carve(&mut out, 3, Range { start: 0x100_0000, end: 0x110_0000 }, 2).unwrap();
        assert_eq!(
            entries(&out, n),
            [(0, 0x9_f000, 1), (0x10_0000, 0xf0_0000, 1), (0x100_0000, 0x10_0000, 2), (0xfeff_c000, 0x4000, 2)]
        );
        let n = carve(&mut out, n, Range { start: 0x1000, end: 0x2000 }, 3).unwrap();
        assert_eq!(entries(&out, n)[..3], [(0, 0x1000, 1), (0x1000, 0x1000, 3), (0x2000, 0x9_d000, 1)]);
        assert_eq!(
            carve(&mut out, n, Range { start: 0x9_f000, end: 0xa_0000 }, 2),
            Err(Error::NoRoomForTables { size: 0x1000 })
        );
        assert_eq!(carve(&mut out, n, Range::default(), 2), Ok(n));
        assert_eq!(
            carve(&mut out, MAX_MEMMAP, Range { start: 0x1000, end: 0x2000 }, 2),
            Err(Error::NoRoomForTables { size: 0x1000 })
        );
    }

    #[test]
    fn is_ram_needs_one_entry() {
        let map = [
            MemmapEntry { addr: 0, size: 0x1000, kind: 1, reserved: 0 },
            MemmapEntry { addr: 0x1000, size: 0x1000, kind: 2, reserved: 0 },
        ];
        assert!(is_ram(&map, Range { start: 0x10, end: 0x1000 }));
        assert!(!is_ram(&map, Range { start: 0x10, end: 0x1001 }));
        assert!(!is_ram(&map, Range { start: 0x1000, end: 0x1800 }));
    }
}
