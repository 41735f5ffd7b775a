//! Where the firmware keeps its state in RAM.
//!
//! Everything the firmware writes lives in one low-memory window, below the 640 KiB
//! conventional-memory limit and far below where kernels load (1 MiB and up). The window is
//! reserved in the memory map handed to the kernel so the start info, memory map and command
//! line survive until the kernel has read them. The code itself executes in place from the ROM
//! mapping just below 4 GiB and is never copied.
//!
//! A leaf module: the other modules take their addresses from here, and check the sizes of
//! what they keep at those addresses next to their own definitions. The firmware's linker
//! scripts take theirs from here too (`firmware/build.rs` writes them out as linker symbols),
//! and so does its assembly (as `const` operands).

use crate::Range;

/// Long-mode PML4; only entry 0 is used (its PDPT maps the first 4 GiB, nothing above).
pub const PML4: u64 = 0x1000;
/// Page-directory-pointer table; entries 0..4 point at the four ROM page directories that
/// identity-map the first 4 GiB with 2 MiB pages.
pub const PDPT: u64 = 0x2000;
/// The handoff area (`start_info::Handoff`): start info, module list, memory map and
/// command line.
pub const HANDOFF: u64 = 0x3000;
/// Scratch RAM (`scratch::Scratch`): the fw_cfg directory, the kernel's head, `etc/e820`, the
/// memory-map working space and the loader script.
pub const SCRATCH: u64 = 0x14000;
/// The firmware stack grows down from here.
pub const STACK_TOP: u64 = 0x30000;
/// Lowest address the stack may reach.
pub const STACK_BOTTOM: u64 = 0x1c000;

/// Everything the firmware writes before the kernel runs, besides tables.
pub const FIRMWARE_RAM: Range = Range { start: PML4, end: STACK_TOP };

/// Where `pvhfw.elf`, the firmware entered through its PVH note, is loaded and runs: image,
/// its own page tables and stack (`firmware/linker-elf.ld`). Just below 16 MiB: SeaBIOS uses (and
/// clears) conventional memory before it starts a PVH guest, so the image cannot live below
/// 1 MiB; a bzImage's protected-mode part is loaded from 1 MiB up (Debian's are 8-11 MiB) and
/// PVH kernels and bzImages run from 16 MiB (`LOAD_PHYSICAL_ADDR`). `pvhfw.elf` reserves it
/// in the memory map it hands on.
pub const ELF_IMAGE: Range = Range { start: 0xf0_0000, end: 0xf6_0000 };

/// The MP table: configuration table at the start, floating pointer at [`MP_FLOATING_POINTER`].
pub const MP_TABLE: Range = Range { start: 0x9_e000, end: 0xa_0000 };
/// 639 KiB: the last KiB of conventional memory, which Linux scans for the MP floating pointer.
pub const MP_FLOATING_POINTER: u64 = 0x9_fc00;

/// The legacy VGA / option ROM / BIOS hole, never RAM for the kernel.
pub const LEGACY_HOLE: Range = Range { start: 0xa_0000, end: 0x10_0000 };

/// Where ACPI and SMBIOS tables go when they fit, as they nearly always do (QEMU's are 1 to
/// 132 KiB, so 320 KiB leaves room for `-acpitable` files): free RAM below 640 KiB, between the
/// firmware's RAM and the disk boot's. Linux reserves the first MiB anyway, and what the tables
/// leave stays free for its real-mode trampoline. Fixed, so the tables can be loaded before the
/// memory map is built and the one build reserves exactly what they use.
pub const LOW_TABLES: Range = Range { start: STACK_TOP, end: 0x7_0000 };

/// Where the disk boot reads configuration files (`grub.cfg`, BLS entries) to parse them.
pub const DISK_TEXT: Range = Range { start: LOW_TABLES.end, end: 0x8_0000 };
/// A virtio-blk disk's virtqueue, request headers and bounce buffer (`virtio::queue`).
pub const DISK_RAM: Range = Range { start: DISK_TEXT.end, end: 0x9_e000 };
/// All the disk boot's RAM: used only until the kernel is entered (the device is reset before
/// that), so not reserved in the memory map (Linux reserves the first MiB anyway); kernels
/// and initrds must keep clear of it.
pub const DISK_BOOT_RAM: Range = Range { start: DISK_TEXT.start, end: DISK_RAM.end };

/// The firmware image is 256 KiB at 4 GiB - 256 KiB, and QEMU shows its last 128 KiB at 0xE0000
/// (it aliases at most that much of a `-bios` image below 1 MiB). 256 KiB since the disk boot
/// (virtio-blk, partition tables, ext4, FAT, boot entries) took the code from 47 to some 150
/// KiB; the measured boot and PCI assignment fill it to within a few KiB (the linker script
/// asserts the fit). The code executes in place, so the size costs no instructions; QEMU
/// reads the whole file at start-up, and the measured boot hashes all of it.
pub const IMAGE_SIZE: u64 = 256 * 1024;
pub const IMAGE_BASE: u64 = (1 << 32) - IMAGE_SIZE;
/// Where QEMU shows the image's last [`IMAGE_ALIAS_SIZE`] bytes below 1 MiB.
pub const IMAGE_ALIAS_SIZE: u64 = 128 * 1024;
pub const IMAGE_ALIAS: u64 = 0x10_0000 - IMAGE_ALIAS_SIZE;
/// Offset in the image of a zero-filled, never-executed window (`.f_segment` in
/// `firmware/linker.ld`): just below the reset code, so code and data before it are one block,
/// and in the F segment (0xFFC00), where Linux looks for the SMBIOS entry point.
pub const F_SEGMENT_WINDOW_OFFSET: u64 = IMAGE_SIZE - 0x400;
pub const F_SEGMENT_WINDOW_SIZE: u64 = 0x200;
/// Where the RSDP and the SMBIOS entry point go: the alias of that window in the F segment.
/// On `microvm` the F segment *is* the image (a writable alias), so only a window the image
/// leaves empty may be written; on `pc`/`q35` it becomes RAM with one PAM write.
pub const F_SEGMENT_WINDOW: Range = Range {
    start: IMAGE_ALIAS + F_SEGMENT_WINDOW_OFFSET - (IMAGE_SIZE - IMAGE_ALIAS_SIZE),
    end: IMAGE_ALIAS + F_SEGMENT_WINDOW_OFFSET - (IMAGE_SIZE - IMAGE_ALIAS_SIZE) + F_SEGMENT_WINDOW_SIZE,
};

const _: () = assert!(PDPT == PML4 + 0x1000);
const _: () = assert!(HANDOFF >= PDPT + 0x1000);
// The disk boot's deepest call chain takes some 42 KiB (summed from the frames of the built
// firmware); the `-kernel` boot's, a few.
const _: () = assert!(STACK_TOP - STACK_BOTTOM >= 64 * 1024);
// Below the EBDA / VGA hole, so it is plain RAM on every machine type.
const _: () = assert!(FIRMWARE_RAM.end <= 0x9_f000);
// The low table window starts where the firmware's RAM ends and the MP table area ends where
// the legacy hole starts (the memory map reserves each pair as one region).
const _: () = assert!(FIRMWARE_RAM.end == LOW_TABLES.start && LOW_TABLES.end <= MP_TABLE.start);
// The disk boot's RAM lies between the tables and the MP table, page-aligned (a legacy
// virtqueue is given to the device as a page number).
const _: () = assert!(LOW_TABLES.end == DISK_TEXT.start && DISK_RAM.end == MP_TABLE.start);
const _: () = assert!(DISK_RAM.start.is_multiple_of(0x1000));
const _: () = assert!(MP_TABLE.end == LEGACY_HOLE.start);
const _: () = assert!(MP_TABLE.start < MP_FLOATING_POINTER && MP_FLOATING_POINTER + 16 <= MP_TABLE.end);
const _: () = assert!(F_SEGMENT_WINDOW.start >= 0xf_0000 && F_SEGMENT_WINDOW.end <= 0x10_0000);
