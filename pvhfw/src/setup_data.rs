//! The boot protocol's `setup_data` list (header field at 0x250, protocol 2.09): records of
//! `u64 next, u32 type, u32 len, u8 data[len]` at absolute physical addresses, `next` = 0 ending
//! the list.
//!
//! What QEMU puts there (`x86_load_linux`):
//!
//! - Without `-dtb`, nothing: `setup_data` = 0. Measured over qtest with Debian's QEMU 7.2.22
//!   (`q35`, Debian 12's `vmlinuz`, with and without initrd and command line); platform facts §8
//!   report the same for 10.0.2. (Upstream 7.1/7.2.0 briefly added an RNG-seed record; Debian's
//!   7.2 build does not.)
//! - With `-dtb FILE` (protocol >= 2.09), one `SETUP_DTB` (type 2) record with `next` = 0,
//!   appended to `KERNEL_DATA` at the payload's size rounded up to 16; `KERNEL_SIZE` grows by
//!   16 + the file's size. QEMU 7.2 (`hw/i386/x86.c`) sets the header's `setup_data` to
//!   `KERNEL_ADDR` + that offset (measured: 0x8d87c0 for a payload of 0x7d87c0 bytes), so the
//!   record lands where the pointer says once `KERNEL_DATA` is copied to `KERNEL_ADDR`.
//! - QEMU 9.2 to 10.1 (`hw/i386/x86-common.c`, since "x86/loader: read complete kernel",
//!   214191f6b574) compute that offset from the whole file's size, so the pointer is
//!   `SETUP_SIZE` bytes past the record; the fix "x86/loader: Rectify the address of
//!   setup_data" was posted in August 2025.
//!
//! So the smallest correct handling is: copy `KERNEL_DATA` to exactly `KERNEL_ADDR` and keep the
//! pointer. [`rebuild`] is the general form, immune to where QEMU put the records: it walks the
//! list through a reader of absolute addresses (for QEMU: `KERNEL_ADDR..+KERNEL_SIZE` mapped to
//! `KERNEL_DATA`) and copies every record into firmware memory with new `next` pointers. A
//! pointer outside what the reader covers (the 9.2-10.1 case) is an error, not garbage.

use crate::Error;
use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// `struct setup_data` without its data.
#[repr(C)]
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned, Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetupDataHeader {
    pub next: U64,
    pub kind: U32,
    pub len: U32,
}
const _: () = assert!(core::mem::size_of::<SetupDataHeader>() == 16);

/// `SETUP_DTB`: a flattened device tree.
pub const SETUP_DTB: u32 = 2;
/// Records followed before the list counts as broken (or looping).
pub const MAX_RECORDS: usize = 16;
/// Alignment of each copied record (the `next` field is a `u64`).
const ALIGN: usize = 8;

/// Copies the list starting at `head` into `dest`, which lies at physical `dest_addr`.
/// `read(addr, buf)` fills `buf` from absolute address `addr` and returns false where it has no
/// such bytes. Returns the new head (0 for an empty list) and the bytes of `dest` used.
pub fn rebuild(
    head: u64,
    read: &mut dyn FnMut(u64, &mut [u8]) -> bool,
    dest: &mut [u8],
    dest_addr: u64,
) -> Result<(u64, usize), Error> {
    let err = |problem| Error::SetupData { problem };
    let (mut addr, mut used, mut new_head) = (head, 0usize, 0u64);
    // Where the previous copy's `next` field is, to link the next record in.
    let mut prev_next: Option<usize> = None;
    for _ in 0..MAX_RECORDS {
        if addr == 0 {
            return Ok((new_head, used));
        }
        let mut raw = [0u8; 16];
        if !read(addr, &mut raw) {
            return Err(err("a record lies outside the kernel data QEMU published"));
        }
        let header = SetupDataHeader::read_from_bytes(&raw).map_err(|_| err("bad record"))?;
        let size = 16 + header.len.get() as usize;
        let at = used.next_multiple_of(ALIGN);
        let copy = dest.get_mut(at..at + size).ok_or(err("the records do not fit in the firmware's room"))?;
        if !read(addr, copy) {
            return Err(err("a record lies outside the kernel data QEMU published"));
        }
        copy[..8].fill(0);
        let phys = dest_addr + at as u64;
        match prev_next {
            Some(p) => dest[p..p + 8].copy_from_slice(&phys.to_le_bytes()),
            None => new_head = phys,
        }
        prev_next = Some(at);
        used = at + size;
        addr = header.next.get();
    }
    if addr == 0 {
        Ok((new_head, used))
    } else {
        Err(err("more than 16 records (a loop?)"))
    }
}

/// A reader for [`rebuild`] over QEMU's `KERNEL_DATA` as it will lie at `kernel_addr`.
pub fn kernel_data_reader(kernel_addr: u64, kernel_data: &[u8]) -> impl FnMut(u64, &mut [u8]) -> bool + '_ {
    move |addr, buf| {
        let Some(off) = addr.checked_sub(kernel_addr).and_then(|o| usize::try_from(o).ok()) else {
            return false;
        };
        match kernel_data.get(off..).and_then(|d| d.get(..buf.len())) {
            Some(src) => {
                buf.copy_from_slice(src);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn record(next: u64, kind: u32, data: &[u8]) -> Vec<u8> {
        let mut r = SetupDataHeader { next: next.into(), kind: kind.into(), len: (data.len() as u32).into() }
            .as_bytes()
            .to_vec();
        r.extend_from_slice(data);
        r
    }

    #[test]
    fn empty_list() {
        let mut dest = [0u8; 64];
        let mut read = |_: u64, _: &mut [u8]| -> bool { panic!("nothing to read") };
        assert_eq!(rebuild(0, &mut read, &mut dest, 0x5000), Ok((0, 0)));
    }

    /// QEMU 7.2 with -dtb: one record after the payload, at KERNEL_ADDR + align16(payload).
    #[test]
    fn qemu_dtb_record() {
        let mut kernel = std::vec![0xaau8; 0x7c1];
        kernel.resize(0x7d0, 0);
        kernel.extend(record(0, SETUP_DTB, b"fdt!"));
        let mut read = kernel_data_reader(0x10_0000, &kernel);
        let mut dest = [0xffu8; 64];
        let (head, used) = rebuild(0x10_07d0, &mut read, &mut dest, 0x8000).unwrap();
        assert_eq!((head, used), (0x8000, 20));
        assert_eq!(&dest[..20], &record(0, SETUP_DTB, b"fdt!")[..]);
    }

    #[test]
    fn chain_is_relinked_and_aligned() {
        let mut mem = std::vec![0u8; 0x300];
        mem[0x100..0x113].copy_from_slice(&record(0x1300, 7, b"abc"));
        mem[0x200..0x212].copy_from_slice(&record(0, 8, b"de"));
        let mut read = kernel_data_reader(0x1100, &mem);
        let mut dest = [0u8; 64];
        let (head, used) = rebuild(0x1200, &mut read, &mut dest, 0x9000).unwrap();
        assert_eq!((head, used), (0x9000, 24 + 18));
        let first = SetupDataHeader::read_from_bytes(&dest[..16]).unwrap();
        assert_eq!((first.next.get(), first.kind.get()), (0x9018, 7));
        assert_eq!(&dest[16..19], b"abc");
        assert_eq!(&dest[24..42], &record(0, 8, b"de")[..]);
    }

    #[test]
    fn broken_lists() {
        let mut mem = std::vec![0u8; 0x100];
        mem[..0x10].copy_from_slice(&record(0x1000, 1, b""));
        let mut dest = [0u8; 0x400];
        let looping = rebuild(0x1000, &mut kernel_data_reader(0x1000, &mem), &mut dest, 0);
        assert_eq!(looping, Err(Error::SetupData { problem: "more than 16 records (a loop?)" }));
        // QEMU 9.2-10.1: the pointer is SETUP_SIZE past the record, beyond KERNEL_DATA.
        let outside = rebuild(0x1000 + 0x5000, &mut kernel_data_reader(0x1000, &mem), &mut dest, 0);
        assert!(matches!(outside, Err(Error::SetupData { .. })));
        mem[..0x10].copy_from_slice(&record(0, 1, &[]));
        mem[12..16].copy_from_slice(&200u32.to_le_bytes());
        let big = rebuild(0x1000, &mut kernel_data_reader(0x1000, &mem), &mut dest[..100], 0);
        assert_eq!(big, Err(Error::SetupData { problem: "the records do not fit in the firmware's room" }));
    }
}
