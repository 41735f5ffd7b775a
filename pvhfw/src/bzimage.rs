//! The Linux x86 boot protocol's setup header (`struct setup_header`, at offset 0x1f1 of a
//! bzImage), read from what QEMU publishes, and the checks a 64-bit boot needs.
//!
//! Reference: Linux `Documentation/arch/x86/boot.rst` and `arch/x86/include/uapi/asm/bootparam.h`.
//!
//! What QEMU does with a bzImage given to `-kernel` (`x86_load_linux`, in `hw/i386/x86.c` up to
//! 8.x and `hw/i386/x86-common.c` from 9.x; checked in the source and, for Debian's 7.2, over
//! qtest with Debian 12's `vmlinuz`):
//!
//! - It recognises the file by "HdrS" at 0x202 and reads the protocol version at 0x206.
//! - For protocol >= 2.02 with `LOADED_HIGH` it picks `SETUP_ADDR` 0x10000, `CMDLINE_ADDR`
//!   0x20000 and `KERNEL_ADDR` 1 MiB. It patches its copy of the header: `cmd_line_ptr` =
//!   0x20000, `type_of_loader` = 0xB0 (QEMU, revision 0), `CAN_USE_HEAP` and `heap_end_ptr`,
//!   `vid_mode` from a `vga=` option, `ramdisk_image`/`ramdisk_size` with an initrd.
//! - `SETUP_DATA` (key 0x18) is the file's first `(setup_sects + 1) * 512` bytes with that
//!   patched header (`setup_sects` 0 counts as 4); `SETUP_SIZE` is their length. `KERNEL_DATA`
//!   (0x11) is the rest of the file, the protected-mode payload, `KERNEL_SIZE` its length.
//!   Nothing is placed in guest RAM: the firmware copies it all.
//! - The initrd goes to `INITRD_ADDR = (initrd_max - size) & !0xfff`, where `initrd_max` is
//!   `initrd_addr_max` (or 4 GiB - 1 with `XLF_CAN_BE_LOADED_ABOVE_4G`) clipped to below the
//!   top of low RAM minus QEMU's ACPI reserve. QEMU never uses the `ext_` fields.
//! - `setup_data`: see [`crate::setup_data`].

use crate::{Error, Range};
use core::mem::{offset_of, size_of};
use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Where the setup header starts in the boot sector (and in `boot_params`).
pub const HEADER_OFFSET: usize = 0x1f1;
/// `header`, the boot protocol's magic, at [`MAGIC_OFFSET`].
pub const MAGIC: [u8; 4] = *b"HdrS";
/// [`MAGIC`] as text, for messages.
pub const MAGIC_TEXT: &str = match core::str::from_utf8(&MAGIC) {
    Ok(text) => text,
    Err(_) => panic!("the magic is ASCII"),
};
/// Where the magic lies in a bzImage (and in `boot_params`): 0x202.
pub const MAGIC_OFFSET: usize = HEADER_OFFSET + offset_of!(SetupHeader, header);
/// The unit `setup_sects` counts the real-mode part in.
pub const SECTOR: u64 = 512;
/// The oldest protocol pvhfw boots: 2.12 brought `xloadflags` and with it the 64-bit entry.
pub const MIN_PROTOCOL: u16 = 0x020c;
/// The 32-bit entry (`code32_start`) is usable from protocol 2.02 with `LOADED_HIGH`.
pub const MIN_PROTOCOL_32BIT: u16 = 0x0202;
/// The 64-bit entry point's offset from the load address (`startup_64`).
pub const ENTRY_64_OFFSET: u64 = 0x200;
/// `type_of_loader` for QEMU (ID 0xB, version 0), what QEMU itself writes.
pub const LOADER_QEMU: u8 = 0xb0;

/// `loadflags` bit 0: the protected-mode code is loaded at 0x100000.
pub const LOADED_HIGH: u8 = 1 << 0;
/// `loadflags` bit 7: `heap_end_ptr` is valid (real-mode code only).
pub const CAN_USE_HEAP: u8 = 1 << 7;
/// `xloadflags` bit 0: the kernel has the 64-bit entry at load address + 0x200.
pub const XLF_KERNEL_64: u16 = 1 << 0;
/// `xloadflags` bit 1: kernel, boot_params, command line and initrd may lie above 4 GiB.
pub const XLF_CAN_BE_LOADED_ABOVE_4G: u16 = 1 << 1;

/// `struct setup_header` up to protocol 2.15 (`kernel_info_offset`), little-endian and packed.
#[repr(C)]
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned, Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetupHeader {
    pub setup_sects: u8,
    pub root_flags: U16,
    pub syssize: U32,
    pub ram_size: U16,
    pub vid_mode: U16,
    pub root_dev: U16,
    pub boot_flag: U16,
    /// A short jump; its second byte (0x201) is the header's length past 0x202.
    pub jump: U16,
    pub header: [u8; 4],
    pub version: U16,
    pub realmode_swtch: U32,
    pub start_sys_seg: U16,
    pub kernel_version: U16,
    pub type_of_loader: u8,
    pub loadflags: u8,
    pub setup_move_size: U16,
    pub code32_start: U32,
    pub ramdisk_image: U32,
    pub ramdisk_size: U32,
    pub bootsect_kludge: U32,
    pub heap_end_ptr: U16,
    pub ext_loader_ver: u8,
    pub ext_loader_type: u8,
    pub cmd_line_ptr: U32,
    pub initrd_addr_max: U32,
    pub kernel_alignment: U32,
    pub relocatable_kernel: u8,
    pub min_alignment: u8,
    pub xloadflags: U16,
    pub cmdline_size: U32,
    pub hardware_subarch: U32,
    pub hardware_subarch_data: U64,
    pub payload_offset: U32,
    pub payload_length: U32,
    pub setup_data: U64,
    pub pref_address: U64,
    pub init_size: U32,
    pub handover_offset: U32,
    pub kernel_info_offset: U32,
}
const _: () = assert!(size_of::<SetupHeader>() == 0x26c - HEADER_OFFSET);
const _: () = assert!(MAGIC_OFFSET == 0x202);
const _: () = assert!(offset_of!(SetupHeader, type_of_loader) == 0x210 - HEADER_OFFSET);
const _: () = assert!(offset_of!(SetupHeader, cmd_line_ptr) == 0x228 - HEADER_OFFSET);
const _: () = assert!(offset_of!(SetupHeader, xloadflags) == 0x236 - HEADER_OFFSET);
const _: () = assert!(offset_of!(SetupHeader, setup_data) == 0x250 - HEADER_OFFSET);
const _: () = assert!(offset_of!(SetupHeader, init_size) == 0x260 - HEADER_OFFSET);

/// The end of the last field pvhfw needs (`init_size`, protocol 2.10); a 2.12 header reaches
/// at least this far.
const MIN_HEADER_END: usize = offset_of!(SetupHeader, init_size) + 4;
/// The room `boot_params` has for the header: it is followed by `edd_mbr_sig_buffer` at 0x290.
pub const MAX_HEADER_LEN: usize = 0x290 - HEADER_OFFSET;

/// How the kernel is entered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// Long mode at load address + 0x200, `RSI` = boot_params.
    Bits64,
    /// 32-bit protected mode, paging off, at the load address (`code32_start` for an unmoved
    /// kernel), `ESI` = boot_params.
    Bits32,
}

impl Entry {
    pub fn address(self, load_addr: u64) -> u64 {
        match self {
            Entry::Bits64 => load_addr + ENTRY_64_OFFSET,
            Entry::Bits32 => load_addr,
        }
    }
}

impl SetupHeader {
    /// Reads and checks the header in `setup`, the bytes QEMU publishes as `SETUP_DATA` (they
    /// start with the boot sector). Bytes past the header's own length are read as zero: there
    /// the setup code begins.
    pub fn parse(setup: &[u8]) -> Result<SetupHeader, Error> {
        if !has_magic(setup) {
            return Err(Error::BzImageNoMagic);
        }
        let len = header_len(setup[MAGIC_OFFSET - 1]).min(setup.len() - HEADER_OFFSET);
        let mut header = SetupHeader::new_zeroed();
        let n = len.min(size_of::<SetupHeader>());
        header.as_mut_bytes()[..n].copy_from_slice(&setup[HEADER_OFFSET..HEADER_OFFSET + n]);
        let version = header.version.get();
        if version < MIN_PROTOCOL {
            return Err(Error::BzImageProtocolTooOld { version });
        }
        if len < MIN_HEADER_END {
            return Err(Error::BzImageHeaderTruncated { len: len as u64 });
        }
        header.entry()?;
        Ok(header)
    }

    /// The number of header bytes from 0x1f1 the boot loader copies into `boot_params`:
    /// 0x202 + the byte at 0x201 (the jump's offset, the header's length past 0x202) - 0x1f1.
    pub fn copy_len(&self) -> usize {
        header_len(self.jump.get().to_le_bytes()[1])
    }

    /// The protocol version, e.g. 0x020f for 2.15.
    pub fn protocol(&self) -> u16 {
        self.version.get()
    }

    /// The 64-bit entry where the kernel has one, else the 32-bit entry where it is usable.
    pub fn entry(&self) -> Result<Entry, Error> {
        if self.xloadflags() & XLF_KERNEL_64 != 0 {
            Ok(Entry::Bits64)
        } else if self.protocol() >= MIN_PROTOCOL_32BIT && self.loadflags & LOADED_HIGH != 0 {
            Ok(Entry::Bits32)
        } else {
            Err(Error::BzImageNoEntry)
        }
    }

    pub fn init_size(&self) -> u32 {
        self.init_size.get()
    }

    pub fn pref_address(&self) -> u64 {
        self.pref_address.get()
    }

    pub fn kernel_alignment(&self) -> u32 {
        self.kernel_alignment.get()
    }

    pub fn xloadflags(&self) -> u16 {
        self.xloadflags.get()
    }

    /// Longest command line the kernel takes, without its NUL.
    pub fn cmdline_size(&self) -> u32 {
        self.cmdline_size.get()
    }

    /// Highest address the initrd's last byte may occupy (the header field).
    pub fn initrd_addr_max(&self) -> u32 {
        self.initrd_addr_max.get()
    }

    /// Physical address of the first `setup_data` record, 0 for none.
    pub fn setup_data(&self) -> u64 {
        self.setup_data.get()
    }

    pub fn code32_start(&self) -> u32 {
        self.code32_start.get()
    }

    /// Where the kernel runs and decompresses: `init_size` bytes from the runtime start that
    /// boot.rst (`init_size`) defines. The whole range must be free RAM.
    pub fn runtime_range(&self, load_addr: u64) -> Option<Range> {
        let start = if self.relocatable_kernel != 0 {
            let align = u64::from(self.kernel_alignment()).max(1);
            load_addr.max(self.pref_address()).checked_next_multiple_of(align)?
        } else {
            self.pref_address()
        };
        Range::from_len(start, self.init_size().into())
    }

    /// Checks an initrd at `initrd` against `initrd_addr_max`, which limits its last byte;
    /// with `XLF_CAN_BE_LOADED_ABOVE_4G` any address is fine.
    pub fn check_initrd(&self, initrd: Range) -> Result<(), Error> {
        if initrd.is_empty() || self.xloadflags() & XLF_CAN_BE_LOADED_ABOVE_4G != 0 {
            return Ok(());
        }
        let max = u64::from(self.initrd_addr_max());
        if initrd.end - 1 > max {
            return Err(Error::InitrdAboveLimit { start: initrd.start, end: initrd.end, max });
        }
        Ok(())
    }

    /// Checks a command line of `len` bytes (without its NUL) against `cmdline_size`.
    pub fn check_cmdline(&self, len: usize) -> Result<(), Error> {
        let max = u64::from(self.cmdline_size());
        if len as u64 > max {
            return Err(Error::CmdlineTooLong { len: len as u64, max });
        }
        Ok(())
    }
}

/// The header length from the byte at 0x201 (the jump's offset, which skips the header),
/// limited to the room `boot_params` has.
fn header_len(jump_offset: u8) -> usize {
    (MAGIC_OFFSET + usize::from(jump_offset) - HEADER_OFFSET).min(MAX_HEADER_LEN)
}

/// Whether `head`, a kernel file's first bytes, carries the boot protocol's magic: a bzImage.
pub fn has_magic(head: &[u8]) -> bool {
    head.get(MAGIC_OFFSET..MAGIC_OFFSET + MAGIC.len()) == Some(&MAGIC[..])
}

/// The length of a bzImage's real-mode part (boot sector and setup) from its `setup_sects`
/// (the byte at 0x1f1), which is where its protected-mode part starts in the file: the boot
/// sector and `setup_sects` sectors, 0 counting as 4 (kernels older than the field had 4).
pub const fn setup_len(setup_sects: u8) -> u64 {
    let sectors = if setup_sects == 0 { 4 } else { setup_sects as u64 };
    (sectors + 1) * SECTOR
}

#[cfg(test)]
pub(crate) mod tests;
