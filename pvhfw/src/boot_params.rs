//! `struct boot_params`, the 4 KiB "zero page" a 64-bit (or 32-bit) boot-protocol entry gets
//! in `RSI` (`ESI`), and how pvhfw fills it.
//!
//! Only the fields a firmware sets are named; everything else is padding and stays zero, which
//! is also what keeps Linux's `sanitize_boot_params` quiet (`sentinel` at 0x1ef is 0).
//!
//! `type_of_loader`: QEMU patches 0xB0 (loader ID 0xB "Qemu", version 0) into the header it
//! publishes; qboot (`linuxboot.c`) writes the same value and SeaBIOS boots through QEMU's
//! `linuxboot_dma.bin`, which copies QEMU's patched header unchanged. pvhfw writes 0xB0 too.

use crate::bzimage::{SetupHeader, HEADER_OFFSET, LOADER_QEMU};
use crate::start_info::MemmapEntry;
use crate::{e820, Error, Range};
use core::mem::{offset_of, size_of};
use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Slots of `e820_table` (`E820_MAX_ENTRIES_ZEROPAGE`).
pub const E820_MAX: usize = 128;

#[repr(C)]
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
pub struct BootParams {
    _pad0: [u8; 0x070],
    /// Protocol 2.14.
    pub acpi_rsdp_addr: U64,
    _pad1: [u8; 0x0c0 - 0x078],
    pub ext_ramdisk_image: U32,
    pub ext_ramdisk_size: U32,
    pub ext_cmd_line_ptr: U32,
    _pad2: [u8; 0x1e8 - 0x0cc],
    pub e820_entries: u8,
    _pad3: [u8; HEADER_OFFSET - 0x1e9],
    pub hdr: SetupHeader,
    /// Room for a longer header of a later protocol, then `edd_mbr_sig_buffer`.
    _pad4: [u8; 0x2d0 - 0x26c],
    /// `struct boot_e820_entry`, the same 20-byte layout as QEMU's `etc/e820`.
    pub e820_table: [e820::Entry; E820_MAX],
    _pad5: [u8; 0x1000 - 0xcd0],
}
const _: () = assert!(size_of::<BootParams>() == 4096);
const _: () = assert!(offset_of!(BootParams, acpi_rsdp_addr) == 0x070);
const _: () = assert!(offset_of!(BootParams, ext_ramdisk_image) == 0x0c0);
const _: () = assert!(offset_of!(BootParams, ext_ramdisk_size) == 0x0c4);
const _: () = assert!(offset_of!(BootParams, ext_cmd_line_ptr) == 0x0c8);
const _: () = assert!(offset_of!(BootParams, e820_entries) == 0x1e8);
const _: () = assert!(offset_of!(BootParams, hdr) == 0x1f1);
const _: () = assert!(offset_of!(BootParams, e820_table) == 0x2d0);

/// What the firmware hands the kernel, by physical address.
pub struct Contents<'a> {
    /// `SETUP_DATA` as QEMU published it (boot sector and patched header first).
    pub setup: &'a [u8],
    /// The sorted memory map the kernel gets.
    pub memmap: &'a [MemmapEntry],
    /// Where the NUL-terminated command line is, and its length without the NUL.
    pub cmdline_addr: u64,
    pub cmdline_len: usize,
    pub initrd: Option<Range>,
    pub rsdp: Option<u64>,
    /// The (rebuilt) `setup_data` list's head, 0 for none.
    pub setup_data: u64,
}

impl BootParams {
    /// Fills the zero page for `h`: zero, then QEMU's header, then what the firmware decided.
    /// Checks the header, the command line's length and the initrd's placement against it.
    pub fn fill(&mut self, h: &Contents) -> Result<(), Error> {
        let header = SetupHeader::parse(h.setup)?;
        header.check_cmdline(h.cmdline_len)?;
        if let Some(initrd) = h.initrd {
            header.check_initrd(initrd)?;
        }
        if h.memmap.len() > E820_MAX {
            return Err(Error::MemoryMapTooLarge);
        }
        self.zero();
        // The header as long as the kernel declares it (parse checked `setup` holds the magic,
        // so it reaches 0x206; a header claiming more than QEMU published is cut short).
        let len = header.copy_len().min(h.setup.len() - HEADER_OFFSET);
        let at = offset_of!(BootParams, hdr);
        self.as_mut_bytes()[at..at + len].copy_from_slice(&h.setup[HEADER_OFFSET..HEADER_OFFSET + len]);

        let hdr = &mut self.hdr;
        hdr.type_of_loader = LOADER_QEMU;
        hdr.cmd_line_ptr = low(h.cmdline_addr);
        self.ext_cmd_line_ptr = high(h.cmdline_addr);
        let initrd = h.initrd.unwrap_or_default();
        let size = initrd.end.saturating_sub(initrd.start);
        self.hdr.ramdisk_image = low(if size == 0 { 0 } else { initrd.start });
        self.ext_ramdisk_image = high(if size == 0 { 0 } else { initrd.start });
        self.hdr.ramdisk_size = low(size);
        self.ext_ramdisk_size = high(size);
        self.hdr.setup_data = h.setup_data.into();
        self.acpi_rsdp_addr = h.rsdp.unwrap_or(0).into();

        for (slot, e) in self.e820_table.iter_mut().zip(h.memmap) {
            *slot = e820::Entry { addr: e.addr.into(), size: e.size.into(), kind: e.kind.into() };
        }
        self.e820_entries = h.memmap.len() as u8;
        Ok(())
    }
}

fn low(v: u64) -> U32 {
    (v as u32).into()
}

fn high(v: u64) -> U32 {
    ((v >> 32) as u32).into()
}

#[cfg(test)]
mod tests;
