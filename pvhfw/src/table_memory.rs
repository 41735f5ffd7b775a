//! Memory for the tables the firmware hands to the kernel (ACPI, SMBIOS).
//!
//! Two areas, each a bump allocator:
//! - "high": one block carved from the top of free RAM below 4 GiB, away from the kernel, the
//!   initrd and the firmware, sized up front from what the table loader and SMBIOS will need;
//!   the memory map marks the used part reserved.
//! - the F segment window (`layout::F_SEGMENT_WINDOW`): the only place where the ACPI RSDP
//!   zone and the SMBIOS entry point may go.

use crate::start_info::MemmapEntry;
use crate::{e820, Error, Range};

/// Highest alignment a table may ask for (QEMU asks for at most one page).
pub const MAX_ALIGN: u64 = 1 << 16;
const FOUR_GIB: u64 = 1 << 32;

/// Bump allocation inside one range.
#[derive(Clone, Copy, Debug)]
pub struct Bump {
    range: Range,
    next: u64,
}

impl Bump {
    pub fn new(range: Range) -> Bump {
        Bump { range, next: range.start }
    }

    /// `size` bytes aligned to `align` (a power of two).
    pub fn alloc(&mut self, size: u64, align: u64) -> Option<Range> {
        let start = self.next.checked_add(align - 1)? & !(align - 1);
        let r = Range::from_len(start, size)?;
        (r.end <= self.range.end).then(|| {
            self.next = r.end;
            r
        })
    }

    /// What has been handed out so far.
    pub fn used(&self) -> Range {
        Range { start: self.range.start, end: self.next }
    }
}

/// Bytes to reserve for allocations of `size` bytes at `align` each, whatever their order,
/// in an area aligned to at least every `align`.
pub fn worst_case(size: u64, align: u64) -> u64 {
    size.saturating_add(align - 1)
}

/// The highest `size`-byte block of RAM below 4 GiB, aligned to `align`, that overlaps none of
/// `avoid`. `map` is sorted (as [`e820::build`] leaves it).
pub fn find_high(map: &[MemmapEntry], size: u64, align: u64, avoid: &[Range]) -> Result<Range, Error> {
    let no_room = Error::NoRoomForTables { size };
    for e in map.iter().rev().filter(|e| e.kind == e820::RAM && e.addr < FOUR_GIB) {
        let ram = Range { start: e.addr, end: e.addr.saturating_add(e.size).min(FOUR_GIB) };
        let mut top = ram.end;
        // Each step moves `top` below one obstacle, so this ends after at most avoid.len() + 1.
        for _ in 0..=avoid.len() {
            let Some(start) = top.checked_sub(size).map(|s| s & !(align - 1)) else { break };
            if start < ram.start {
                break;
            }
            let block = Range { start, end: start + size };
            match avoid.iter().filter(|a| a.overlaps(&block)).map(|a| a.start).min() {
                None => return Ok(block),
                Some(lowest) => top = lowest,
            }
        }
    }
    Err(no_room)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ram(addr: u64, size: u64) -> MemmapEntry {
        MemmapEntry { addr, size, kind: e820::RAM, reserved: 0 }
    }

    const M: u64 = 1 << 20;

    #[test]
    fn bump_allocation_aligns_and_stops_at_the_end() {
        let mut a = Bump::new(Range { start: 0x1000, end: 0x1100 });
        assert_eq!(a.alloc(3, 1), Some(Range { start: 0x1000, end: 0x1003 }));
        assert_eq!(a.alloc(0x10, 16), Some(Range { start: 0x1010, end: 0x1020 }));
        assert_eq!(a.alloc(0, 64), Some(Range { start: 0x1040, end: 0x1040 }));
        assert_eq!(a.alloc(0xc1, 1), None);
        assert_eq!(a.alloc(0xc0, 1), Some(Range { start: 0x1040, end: 0x1100 }));
        assert_eq!(a.used(), Range { start: 0x1000, end: 0x1100 });
        assert_eq!(a.alloc(1, 1 << 63), None);
    }

    #[test]
    fn takes_the_top_of_low_ram_above_the_initrd() {
        let map = [ram(0, 0x9_f000), ram(M, 255 * M), ram(4 << 30, 1 << 30)];
        let initrd = Range { start: 256 * M - 0x28000 - 5 * M, end: 256 * M - 0x28000 };
        assert_eq!(find_high(&map, 0x2_1000, 0x1000, &[initrd]), Ok(Range { start: 256 * M - 0x21000, end: 256 * M }));
    }

    #[test]
    fn steps_below_obstacles_and_into_lower_ram() {
        let map = [ram(0x2_0000, 0x8_0000), ram(M, 15 * M)];
        // microvm: the initrd fills the very top, the kernel sits at 1 MiB.
        let initrd = Range { start: 12 * M, end: 16 * M };
        let kernel = Range { start: M, end: 3 * M };
        assert_eq!(find_high(&map, M, 0x1000, &[kernel, initrd]), Ok(Range { start: 11 * M, end: 12 * M }));
        // Too big for the gap between kernel and initrd: falls to conventional memory.
        let big_kernel = Range { start: M, end: 12 * M - 0x1000 };
        assert_eq!(
            find_high(&map, 0x4_0000, 0x1000, &[big_kernel, initrd]),
            Ok(Range { start: 0x6_0000, end: 0xa_0000 })
        );
        assert_eq!(find_high(&map, 0x10_0000, 0x1000, &[big_kernel, initrd]), Err(Error::NoRoomForTables { size: M }));
    }

    #[test]
    fn never_above_4g_and_never_wraps() {
        let map = [ram(0xffff_0000, 0x2_0000), ram(4 << 30, 1 << 30)];
        assert_eq!(find_high(&map, 0x1_0000, 0x1000, &[]), Ok(Range { start: 0xffff_0000, end: 1 << 32 }));
        assert!(find_high(&map, 0x1_0001, 0x1000, &[]).is_err());
        assert!(find_high(&map, u64::MAX, 1, &[]).is_err());
    }
}
