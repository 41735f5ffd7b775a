//! Every way a boot can fail, each with the message the user sees.

use crate::bzimage::{MAGIC_OFFSET, MAGIC_TEXT, MIN_PROTOCOL};
use crate::console::{Console, Line};
use crate::start_info::{self, MAX_MEMMAP};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Neither the fw_cfg DMA registers nor the "QEMU" signature answered.
    NoFwCfg,
    /// A fw_cfg DMA transfer came back with its error bit set (or never finished).
    DmaFailed { key: u16 },
    /// QEMU was started without `-kernel`.
    NoKernel,
    /// `pvhfw.elf` was started without the fw_cfg file `opt/org.pvhfw/kernel`.
    NoKernelFile,
    /// The PVH entry lies in none of the kernel's loadable segments.
    PvhEntryOutsideKernel { entry: u32 },
    /// An ELF kernel QEMU did not load as PVH: the machine type predates PVH.
    PvhNotLoaded,
    /// The kernel is neither a PVH ELF nor a bzImage.
    UnknownKernelFormat,
    /// The fw_cfg directory holds more files the firmware can look up than it keeps.
    DirectoryFull { files: u32 },
    /// The fw_cfg directory claims more files than QEMU can publish.
    DirectoryCount { files: u32 },
    /// A bzImage with nothing after its setup sectors (QEMU's `KERNEL_SIZE` is 0, or the file
    /// `pvhfw.elf` was given ends within its setup).
    BzImageEmpty,
    /// The start info `pvhfw.elf` was entered with has the wrong magic.
    BadStartInfo { magic: u32 },
    /// The start info, or something it points to, lies where it cannot be read.
    StartInfoUnreadable { what: &'static str, addr: u64 },
    /// The ELF kernel `pvhfw.elf` was given is not one it can load (`problem` says why).
    ElfMalformed { problem: &'static str },
    /// A required fw_cfg file is absent.
    MissingFile { name: &'static str },
    /// A fw_cfg item is larger than the firmware is prepared to handle.
    TooLarge { what: &'static str, size: u64, max: u64 },
    /// `etc/e820` describes no usable RAM.
    NoRam,
    /// The sanitised memory map has more entries than Linux accepts.
    MemoryMapTooLarge,
    /// The memory the kernel takes (where it is loaded and, for a bzImage, where it runs) is
    /// not all RAM.
    KernelNotInRam { start: u64, end: u64 },
    /// A bzImage's span reaches above 4 GiB, which the firmware does not map.
    KernelAbove4G { start: u64, end: u64 },
    /// The kernel's loaded range collides with the firmware's own RAM.
    KernelOverlapsFirmware { start: u64, end: u64 },
    /// The initrd's target range is not free RAM below 4 GiB.
    InitrdDoesNotFit { addr: u64, size: u64 },
    /// No free RAM below `below` (4 GiB, or a bzImage's `initrd_addr_max` + 1) clear of the
    /// kernel is large enough for an initrd pvhfw places itself.
    NoRoomForInitrd { size: u64, below: u64 },
    /// A table-loader command breaks the rules (`problem` says how).
    TableLoader { index: u16, problem: &'static str },
    /// No free RAM below 4 GiB is large enough for the ACPI and SMBIOS tables.
    NoRoomForTables { size: u64 },
    /// The table loader wants to write a fw_cfg file, which needs the DMA interface.
    FwCfgWriteNeedsDma { key: u16 },
    /// The F-segment window has no room left for `what`.
    FSegmentFull { what: &'static str },
    /// The SMBIOS entry point claims more structure bytes than QEMU published.
    SmbiosTablesShort { claimed: u64, size: u64 },
    /// The SMBIOS entry point from QEMU is not one pvhfw understands.
    BadSmbiosAnchor,
    /// The kernel's setup data has no "HdrS" at 0x202: not a Linux boot-protocol header.
    BzImageNoMagic,
    /// The bzImage's boot protocol predates 2.12 (`xloadflags`, the 64-bit entry).
    BzImageProtocolTooOld { version: u16 },
    /// The setup header is shorter than its protocol version promises.
    BzImageHeaderTruncated { len: u64 },
    /// Neither `XLF_KERNEL_64` nor a usable 32-bit entry (protocol 2.02 with `LOADED_HIGH`).
    BzImageNoEntry,
    /// The initrd ends above the kernel's `initrd_addr_max`.
    InitrdAboveLimit { start: u64, end: u64, max: u64 },
    /// The command line is longer than the kernel's `cmdline_size`.
    CmdlineTooLong { len: u64, max: u64 },
    /// The `setup_data` list cannot be copied (`problem` says why).
    SetupData { problem: &'static str },
}

impl Error {
    /// Prints the error as one `pvhfw:` line.
    pub fn report(&self, con: &mut dyn Console) {
        let line = Line::new(con).str("error: ");
        match *self {
            Error::NoFwCfg => line.str("no QEMU fw_cfg interface found at ports 0x510-0x51b"),
            Error::DmaFailed { key } => line.str("fw_cfg DMA transfer failed, key ").hex(key.into()),
            Error::NoKernel => line.str("no kernel given; start QEMU with -kernel FILE"),
            Error::NoKernelFile => {
                line.str("no kernel given; pvhfw.elf boots the one in -fw_cfg name=opt/org.pvhfw/kernel,file=FILE")
            }
            Error::PvhEntryOutsideKernel { entry } => {
                line.str("the kernel's PVH entry ").hex(entry.into()).str(" lies in none of its loadable segments")
            }
            Error::PvhNotLoaded => line.str(
                "QEMU did not load the ELF kernel as PVH: this machine type is too old (pc-i440fx-3.1 and older); use a newer one",
            ),
            Error::UnknownKernelFormat => line.str("unsupported kernel format: not a PVH ELF or bzImage"),
            Error::DirectoryFull { files } => line
                .str("fw_cfg directory of ")
                .dec(files.into())
                .str(" files has more than ")
                .dec(crate::fw_cfg::MAX_DIR_ENTRIES as u64)
                .str(" under etc/ and opt/org.pvhfw/"),
            Error::DirectoryCount { files } => line
                .str("fw_cfg directory claims ")
                .dec(files.into())
                .str(" files; QEMU publishes at most ")
                .dec(crate::fw_cfg::MAX_FILES.into()),
            Error::BzImageEmpty => line.str("bzImage has no protected-mode code after its setup sectors"),
            Error::BadStartInfo { magic } => line
                .str("entered with a start info whose magic is ")
                .hex(magic.into())
                .str(", not hvm_start_info's ")
                .hex(start_info::MAGIC.into()),
            Error::StartInfoUnreadable { what, addr } => {
                line.str("the incoming start info's ").str(what).str(" at ").hex(addr).str(" cannot be read")
            }
            Error::ElfMalformed { problem } => line.str("malformed kernel ELF: ").str(problem),
            Error::MissingFile { name } => line.str("fw_cfg file missing: ").str(name),
            Error::TooLarge { what, size, max } => {
                line.str(what).str(" too large: ").dec(size).str(" bytes, limit ").dec(max)
            }
            Error::NoRam => line.str("memory map (etc/e820) has no RAM"),
            Error::MemoryMapTooLarge => line.str("memory map has more than ").dec(MAX_MEMMAP as u64).str(" entries"),
            Error::KernelNotInRam { start, end } => range(line.str("kernel needs "), start, end)
                .str(", which is not all RAM; give the machine more memory (-m)"),
            Error::KernelAbove4G { start, end } => range(line.str("kernel needs "), start, end)
                .str(", which reaches above 4 GiB; pvhfw loads bzImages below 4 GiB only"),
            Error::KernelOverlapsFirmware { start, end } => {
                range(line.str("kernel at "), start, end).str(" overlaps firmware memory")
            }
            Error::InitrdDoesNotFit { addr, size } => line
                .str("initrd of ")
                .dec(size)
                .str(" bytes at ")
                .hex(addr)
                .str(" does not fit in free RAM below 4 GiB"),
            Error::NoRoomForInitrd { size, below } => line
                .str("no free RAM below ")
                .hex(below)
                .str(" clear of the kernel for an initrd of ")
                .dec(size)
                .str(" bytes"),
            Error::TableLoader { index, problem } => {
                line.str("etc/table-loader command ").dec(index.into()).str(": ").str(problem)
            }
            Error::NoRoomForTables { size } => {
                line.str("no free RAM below 4 GiB for ").dec(size).str(" bytes of ACPI/SMBIOS tables")
            }
            Error::FwCfgWriteNeedsDma { key } => {
                line.str("fw_cfg file ").hex(key.into()).str(" must be written, which needs fw_cfg DMA")
            }
            Error::FSegmentFull { what } => line.str("no room left in the F segment for the ").str(what),
            Error::SmbiosTablesShort { claimed, size } => line
                .str("etc/smbios/smbios-anchor claims ")
                .dec(claimed)
                .str(" bytes of structures, etc/smbios/smbios-tables has ")
                .dec(size),
            Error::BadSmbiosAnchor => line.str("etc/smbios/smbios-anchor is not an SMBIOS 2.1 or 3.0 entry point"),
            Error::BzImageNoMagic => line
                .str("kernel setup header has no \"")
                .str(MAGIC_TEXT)
                .str("\" signature at ")
                .hex(MAGIC_OFFSET as u64),
            Error::BzImageProtocolTooOld { version } => {
                let line = protocol(line.str("bzImage boot protocol "), version).str(" is too old; pvhfw needs ");
                protocol(line, MIN_PROTOCOL).str(" or newer (64-bit entry)")
            }
            Error::BzImageHeaderTruncated { len } => {
                line.str("bzImage setup header is only ").dec(len).str(" bytes, too short for its protocol")
            }
            Error::BzImageNoEntry => line.str(
                "bzImage has no 64-bit entry (XLF_KERNEL_64) and no usable 32-bit one (protocol 2.02, LOADED_HIGH)",
            ),
            Error::InitrdAboveLimit { start, end, max } => range(line.str("initrd at "), start, end)
                .str(" lies above the kernel's initrd_addr_max ")
                .hex(max),
            Error::CmdlineTooLong { len, max } => line
                .str("command line of ")
                .dec(len)
                .str(" bytes is longer than the kernel's cmdline_size of ")
                .dec(max),
            Error::SetupData { problem } => line.str("kernel setup_data list: ").str(problem),
        }
        .end();
    }
}

/// `start-end` in hex. Out of line, as [`protocol`]: several messages print one, and only a
/// failing boot runs them.
#[inline(never)]
fn range(line: Line<'_>, start: u64, end: u64) -> Line<'_> {
    line.hex(start).str("-").hex(end)
}

/// A boot protocol version as `MAJOR.MINOR`.
#[inline(never)]
fn protocol(line: Line<'_>, version: u16) -> Line<'_> {
    line.dec((version >> 8).into()).str(".").dec((version & 0xff).into())
}
