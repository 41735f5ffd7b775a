//! Multiboot (version 1) as QEMU prepares it: the information structure a multiboot kernel is
//! entered with (`EAX` = [`BOOT_MAGIC`], `EBX` = its address), which the firmware checks and
//! completes.
//!
//! For a `-kernel` with a multiboot header QEMU loads nothing itself. It publishes, for its
//! option ROM `multiboot.bin`, the kernel's memory image followed by the modules (from
//! `-initrd "file args,file2"`), their list, the command lines and the boot loader's name, all
//! as one kernel item (`KERNEL_ADDR`, `KERNEL_SIZE`, `KERNEL_DATA`; the entry in
//! `KERNEL_ENTRY`), every pointer already the address it gets once loaded at `KERNEL_ADDR`;
//! and the [`INFO_SIZE`]-byte information structure as the initrd item (`INITRD_ADDR`
//! [`QEMU_INFO_ADDR`]), with its flags set and its memory fields left for the firmware: the
//! option ROM fills them from BIOS calls, pvhfw from its memory map.

use crate::start_info::MemmapEntry;
use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// `EAX` at the kernel's entry.
pub const BOOT_MAGIC: u32 = 0x2bad_b002;
/// Bytes of the information structure QEMU publishes (up to the VBE fields).
pub const INFO_SIZE: usize = 88;
/// Where QEMU's option ROM puts the information structure, QEMU's `INITRD_ADDR` for a
/// multiboot kernel: together with [`INFO_SIZE`] it tells such a kernel from others.
pub const QEMU_INFO_ADDR: u32 = 0x9500;

/// `flags`: `mem_lower` and `mem_upper` are valid.
pub const FLAG_MEMORY: u32 = 1 << 0;
/// `flags`: `cmdline` is valid.
pub const FLAG_CMDLINE: u32 = 1 << 2;
/// `flags`: `mods_count` and `mods_addr` are valid.
pub const FLAG_MODULES: u32 = 1 << 3;
/// `flags`: `mmap_length` and `mmap_addr` are valid.
pub const FLAG_MMAP: u32 = 1 << 6;
/// `flags`: `boot_loader_name` is valid.
pub const FLAG_BOOT_LOADER_NAME: u32 = 1 << 9;

/// Modules a kernel may be given (QEMU has no limit; Xen takes a kernel, an initrd and a few
/// more).
pub const MAX_MODULES: usize = 64;

/// The information structure, as far as QEMU writes it.
#[repr(C)]
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Info {
    pub flags: u32,
    /// KiB of RAM from 0 (at most 640).
    pub mem_lower: u32,
    /// KiB of RAM from 1 MiB up to the first hole.
    pub mem_upper: u32,
    pub boot_device: u32,
    pub cmdline: u32,
    pub mods_count: u32,
    pub mods_addr: u32,
    pub syms: [u32; 4],
    pub mmap_length: u32,
    pub mmap_addr: u32,
    pub drives_length: u32,
    pub drives_addr: u32,
    pub config_table: u32,
    pub boot_loader_name: u32,
    pub apm_table: u32,
    pub vbe_control_info: u32,
    pub vbe_mode_info: u32,
    pub vbe_mode: u16,
    pub vbe_interface_seg: u16,
    pub vbe_interface_off: u16,
    pub vbe_interface_len: u16,
}
const _: () = assert!(size_of::<Info>() == INFO_SIZE);

/// An entry of the module list.
#[repr(C)]
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Module {
    pub start: u32,
    pub end: u32,
    pub cmdline: u32,
    pub reserved: u32,
}
const _: () = assert!(size_of::<Module>() == 16);

/// An entry of the memory map: `size` (of the rest: 20) comes first, so the 64-bit fields are
/// unaligned.
#[repr(C)]
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MmapEntry {
    pub size: U32,
    pub addr: U64,
    pub len: U64,
    /// The e820 type numbers (1: RAM).
    pub kind: U32,
}
const _: () = assert!(size_of::<MmapEntry>() == 24);

/// What makes QEMU's information unusable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InfoError {
    /// A pointer (`what`) leads outside the kernel item, or to a string without its NUL there.
    Outside { what: &'static str },
    /// More modules than [`MAX_MODULES`].
    TooManyModules { count: u32 },
    /// A module whose end lies before its start.
    BadModule,
}

/// Checks every pointer of `info` against the kernel item as loaded: `image` is its bytes, at
/// physical `base`. Everything QEMU points to must lie in it: the command lines, the boot
/// loader's name, the module list and the modules.
pub fn check(info: &Info, image: &[u8], base: u64) -> Result<(), InfoError> {
    let offset = |addr: u32| usize::try_from(u64::from(addr).checked_sub(base)?).ok();
    let bytes = |addr: u32, len: usize| image.get(offset(addr)?..offset(addr)?.checked_add(len)?);
    let string = |addr: u32, what| match offset(addr).and_then(|o| image.get(o..)) {
        Some(rest) if rest.contains(&0) => Ok(()),
        _ => Err(InfoError::Outside { what }),
    };
    if info.flags & FLAG_CMDLINE != 0 {
        string(info.cmdline, "command line")?;
    }
    if info.flags & FLAG_BOOT_LOADER_NAME != 0 {
        string(info.boot_loader_name, "boot loader name")?;
    }
    if info.flags & FLAG_MODULES == 0 {
        return Ok(());
    }
    if info.mods_count as usize > MAX_MODULES {
        return Err(InfoError::TooManyModules { count: info.mods_count });
    }
    let list = bytes(info.mods_addr, info.mods_count as usize * size_of::<Module>());
    let list = list.ok_or(InfoError::Outside { what: "module list" })?;
    for module in list.chunks_exact(size_of::<Module>()).filter_map(|m| Module::read_from_bytes(m).ok()) {
        if module.end < module.start {
            return Err(InfoError::BadModule);
        }
        bytes(module.start, (module.end - module.start) as usize).ok_or(InfoError::Outside { what: "module" })?;
        if module.cmdline != 0 {
            string(module.cmdline, "module command line")?;
        }
    }
    Ok(())
}

/// Completes `info` for the memory map `memmap` (sorted, as the boot builds it), which is
/// written to `out` for the kernel to find at `out_addr`: `mem_lower`, `mem_upper` and the
/// memory map, with their flags. Returns the entries written (as many as fit).
pub fn complete(info: &mut Info, memmap: &[MemmapEntry], out: &mut [MmapEntry], out_addr: u32) -> usize {
    info.mem_lower = (lower_memory_end(memmap) / 1024) as u32;
    // From 1 MiB to the end of the RAM entry holding it.
    let upper = memmap.iter().find(|e| e.kind == RAM && e.addr <= 1 << 20 && (1 << 20) - e.addr < e.size);
    info.mem_upper = upper.map_or(0, |e| (((e.addr + e.size).min(1 << 32) - (1 << 20)) / 1024) as u32);
    let n = memmap.len().min(out.len());
    for (o, e) in out.iter_mut().zip(memmap) {
        *o = MmapEntry { size: U32::new(20), addr: U64::new(e.addr), len: U64::new(e.size), kind: U32::new(e.kind) };
    }
    info.mmap_addr = out_addr;
    info.mmap_length = (n * size_of::<MmapEntry>()) as u32;
    info.flags |= FLAG_MEMORY | FLAG_MMAP;
    n
}

/// Where conventional memory ends, as `mem_lower` and the BIOS data area say it: the end of
/// the highest RAM entry below 640 KiB. Below it a kernel may put its real-mode trampoline
/// (Xen does, under the smaller of `mem_lower` and the BIOS data area's figures).
pub fn lower_memory_end(memmap: &[MemmapEntry]) -> u64 {
    let low = memmap.iter().filter(|e| e.kind == RAM && e.addr < LOW_MEMORY_END);
    low.map(|e| (e.addr + e.size).min(LOW_MEMORY_END)).max().unwrap_or(0)
}

/// The e820 type of RAM, which the memory map keeps (named here too: `error` names this
/// module's error, and `e820` imports `error`).
const RAM: u32 = 1;

/// Where conventional memory ends at most.
const LOW_MEMORY_END: u64 = 640 * 1024;

#[cfg(test)]
mod tests;
