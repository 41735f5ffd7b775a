//! The split virtqueue in the fixed disk RAM: where its rings, the request headers, the status
//! bytes and the bounce buffer lie, and the ring entries' layout (virtio 1.x section 2.7).
//!
//! `DISK_RAM` (0x80000-0x9e000) is laid out as
//!
//! | range | contents |
//! |---|---|
//! | `0x80000-0x88000` | the virtqueue: room for a legacy queue of 1024 entries, QEMU's maximum |
//! | `0x88000-0x88400` | one 16-byte request header per chain of a batch |
//! | `0x88400-0x88500` | one 4-byte status slot per chain (the device writes its first byte) |
//! | `0x89000-0x9e000` | the bounce buffer of [`BlockRead`](crate::disk::BlockRead) reads |

use crate::layout::DISK_RAM;
use crate::Range;

/// A legacy queue is handed over as a page number, and its used ring starts on the next
/// 4096-byte boundary after the available ring (virtio 0.9.5's `VIRTIO_PCI_VRING_ALIGN`).
pub const LEGACY_ALIGN_SHIFT: u32 = 12;
const LEGACY_ALIGN: u64 = 1 << LEGACY_ALIGN_SHIFT;

/// Where the rings go.
pub const QUEUE_RAM: Range = Range { start: DISK_RAM.start, end: DISK_RAM.start + 0x8000 };
/// Chains in flight at once: each is a header, a data and a status descriptor.
pub const MAX_BATCH: u16 = 64;
pub const DESCRIPTORS_PER_CHAIN: u16 = 3;
/// The size pvhfw gives a queue whose size it chooses: room for a full batch.
pub const CHOSEN_SIZE: u32 = 256;
pub const HEADERS: u64 = QUEUE_RAM.end;
pub const HEADER_SIZE: u64 = 16;
pub const STATUS: u64 = HEADERS + HEADER_SIZE * MAX_BATCH as u64;
pub const STATUS_SLOT: u64 = 4;
pub const BOUNCE: Range = Range { start: 0x8_9000, end: DISK_RAM.end };

const _: () = assert!(STATUS + STATUS_SLOT * MAX_BATCH as u64 <= BOUNCE.start);
const _: () = assert!(BOUNCE.end == DISK_RAM.end && (BOUNCE.end - BOUNCE.start).is_multiple_of(512));
const _: () = assert!(CHOSEN_SIZE >= (MAX_BATCH * DESCRIPTORS_PER_CHAIN) as u32);

/// Descriptor flags.
pub const DESC_F_NEXT: u16 = 1;
pub const DESC_F_WRITE: u16 = 2;
/// Available ring flag: no interrupts, pvhfw polls.
pub const AVAIL_F_NO_INTERRUPT: u16 = 1;

pub const DESC_SIZE: u64 = 16;
/// Available ring: flags, idx, ring[size] (u16 each), used_event.
const AVAIL_HEADER: u64 = 4;
/// Used ring: flags, idx (u16 each), ring[size] of (id, len) u32 pairs, avail_event.
const USED_HEADER: u64 = 4;
pub const USED_ELEM: u64 = 8;

/// A split virtqueue's three parts and its size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ring {
    pub size: u16,
    pub desc: u64,
    pub avail: u64,
    pub used: u64,
}

impl Ring {
    /// The rings of `size` entries at the start of [`QUEUE_RAM`]; `legacy` puts the used ring
    /// on the next 4 KiB boundary. `None` if the size is no power of two, too small for one
    /// chain, beyond 32768 (the spec's maximum), or the rings do not fit.
    pub fn new(size: u32, legacy: bool) -> Option<Ring> {
        let fits_a_chain = size >= u32::from(DESCRIPTORS_PER_CHAIN);
        if !size.is_power_of_two() || !fits_a_chain || size > 0x8000 {
            return None;
        }
        let n = u64::from(size);
        let desc = QUEUE_RAM.start;
        let avail = desc + DESC_SIZE * n;
        let avail_end = avail + AVAIL_HEADER + 2 * n + 2;
        // Modern rings need only 4-byte alignment for the used ring.
        let used = if legacy { avail_end.next_multiple_of(LEGACY_ALIGN) } else { avail_end.next_multiple_of(4) };
        let used_end = used + USED_HEADER + USED_ELEM * n + 2;
        (used_end <= QUEUE_RAM.end).then_some(Ring { size: size as u16, desc, avail, used })
    }

    /// Chains a batch may hold.
    pub fn batch(&self) -> u16 {
        (self.size / DESCRIPTORS_PER_CHAIN).min(MAX_BATCH)
    }

    /// All of the rings, for zeroing.
    pub fn range(&self) -> Range {
        Range { start: self.desc, end: self.used + USED_HEADER + USED_ELEM * u64::from(self.size) + 2 }
    }

    pub fn avail_flags_idx(&self) -> Range {
        Range { start: self.avail, end: self.avail + AVAIL_HEADER }
    }

    pub fn avail_entry(&self, idx: u16) -> Range {
        let at = self.avail + AVAIL_HEADER + 2 * u64::from(idx % self.size);
        Range { start: at, end: at + 2 }
    }

    pub fn descriptor(&self, i: u16) -> Range {
        let at = self.desc + DESC_SIZE * u64::from(i);
        Range { start: at, end: at + DESC_SIZE }
    }

    /// The used ring's `flags | idx << 16` word.
    pub fn used_header(&self) -> u64 {
        self.used
    }

    /// The used element for `idx`: `id` at the address returned, `len` 4 bytes on.
    pub fn used_entry(&self, idx: u16) -> u64 {
        self.used + USED_HEADER + USED_ELEM * u64::from(idx % self.size)
    }
}

/// A descriptor's bytes: address, length, flags, next.
pub fn descriptor(addr: u64, len: u32, flags: u16, next: u16) -> [u8; 16] {
    let mut d = [0; 16];
    d[..8].copy_from_slice(&addr.to_le_bytes());
    d[8..12].copy_from_slice(&len.to_le_bytes());
    d[12..14].copy_from_slice(&flags.to_le_bytes());
    d[14..].copy_from_slice(&next.to_le_bytes());
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_layout_as_qemu_computes_it() {
        // QEMU's default virtio-blk queue: 256 entries, used ring on the page after avail's.
        let r = Ring::new(256, true).unwrap();
        assert_eq!((r.desc, r.avail, r.used), (0x80000, 0x81000, 0x82000));
        // The largest QEMU allows fits; twice that does not.
        let r = Ring::new(1024, true).unwrap();
        assert_eq!(r.used, 0x85000);
        assert!(r.range().end <= QUEUE_RAM.end);
        assert_eq!(Ring::new(2048, true), None);
    }

    #[test]
    fn bogus_sizes() {
        for size in [0, 1, 2, 3, 100, 0x1_0000, u32::MAX] {
            assert_eq!(Ring::new(size, false), None, "{size}");
        }
        assert_eq!(Ring::new(4, false).unwrap().batch(), 1);
        assert_eq!(Ring::new(256, false).unwrap().batch(), MAX_BATCH);
    }
}
