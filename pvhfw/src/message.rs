//! The message the user sees for each [`Error`], one `pvhfw:` line on the console; the same
//! texts are listed in `docs/failures.md` (a test below holds the two together). Apart from the
//! errors themselves, so that `error` stays a leaf while the messages name the limits the
//! failing modules define.

use crate::bzimage::{MAGIC_OFFSET, MAGIC_TEXT, MIN_PROTOCOL, MIN_PROTOCOL_32BIT};
use crate::console::{Console, Line};
use crate::disk::entries::EntryError;
use crate::disk::DiskError;
use crate::multiboot::{InfoError, MAX_MODULES};
use crate::start_info::{self, MAX_MEMMAP};
use crate::Error;

/// What is wrong with QEMU's multiboot information.
fn multiboot_error(line: Line<'_>, e: InfoError) -> Line<'_> {
    match e {
        InfoError::Outside { what } => line.str("the ").str(what).str(" lies outside the kernel item"),
        InfoError::TooManyModules { count } => {
            line.dec(count.into()).str(" modules, more than ").dec(MAX_MODULES as u64).str(" (pvhfw's limit)")
        }
        InfoError::BadModule => line.str("a module ends before it starts"),
    }
}

/// What went wrong reading the boot disk.
fn disk_error(line: Line<'_>, e: DiskError) -> Line<'_> {
    match e {
        DiskError::Read { sector } => line.str("read error at sector ").dec(sector),
        DiskError::Corrupt { what } => line.str("damaged or unsupported: ").str(what),
        DiskError::NotFound => line.str("a directory on the boot path is missing"),
        DiskError::TooLarge { what } => line.str(what).str(" is larger than pvhfw reads"),
        DiskError::Device { what } => line.str("the virtio-blk device failed: ").str(what),
    }
}

/// Why a boot configuration selects nothing pvhfw can follow.
fn entry_error(line: Line<'_>, e: EntryError) -> Line<'_> {
    match e {
        EntryError::NoEntries => line.str("no boot entry"),
        EntryError::DefaultNotFound => line.str("the default entry (or opt/org.pvhfw/entry) names no entry"),
        EntryError::Unsupported { what } => line.str("cannot follow ").str(what),
        EntryError::TooMany { what } => line.str("more ").str(what).str(" than pvhfw keeps"),
        EntryError::TooLong => line.str("the entry's command line is too long"),
    }
}

impl Error {
    /// Prints the error as one `pvhfw:` line.
    pub fn report(&self, con: &mut dyn Console) {
        let line = Line::new(con).str("error: ");
        match *self {
            Error::NoFwCfg => line.str("no QEMU fw_cfg interface found at ports 0x510-0x51b"),
            Error::DmaFailed { key } => line.str("fw_cfg DMA transfer failed, key ").hex(key.into()),
            Error::NoKernel => line.str("no kernel given; start QEMU with -kernel FILE"),
            Error::NoBootDisk => {
                line.str("no kernel given and no virtio-blk disk to boot from; give QEMU -kernel FILE (pvhfw.elf: -fw_cfg name=opt/org.pvhfw/kernel,file=FILE) or a disk")
            }
            Error::NoBootEntry { disks } => line
                .str("none of the ")
                .dec(disks.into())
                .str(" virtio-blk disks has a boot entry (BLS, extlinux.conf, grub.cfg or /vmlinuz)"),
            Error::Disk { error } => disk_error(line.str("boot disk: "), error),
            Error::BootEntry { format, error } => entry_error(line.str(format).str(": "), error),
            Error::EntryFileMissing { format, what } => {
                line.str(format).str(" names a ").str(what).str(" the disk does not have (path above)")
            }
            Error::PvhEntryOutsideKernel { entry } => {
                line.str("the kernel's PVH entry ").hex(entry.into()).str(" lies in none of its loadable segments")
            }
            Error::PvhNotLoaded => line.str(
                "QEMU did not load the ELF kernel as PVH: this machine type is too old (pc-i440fx-3.1 and older); use a newer one",
            ),
            Error::PvhEntryAbove4G => line.str(
                "the kernel's PVH entry note holds an address at or above 4 GiB, which QEMU cut to 32 bits (0); a PVH kernel is entered below 4 GiB",
            ),
            Error::UnknownKernelFormat => line.str("unsupported kernel format: not a PVH ELF or bzImage (nor, from -kernel, a multiboot kernel)"),
            Error::Multiboot { problem } => line.str("multiboot kernel: ").str(problem),
            Error::MultibootInfo { error } => multiboot_error(line.str("QEMU's multiboot information: "), error),
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
            Error::BadRsdp { addr, problem } => {
                line.str("the RSDP etc/table-loader placed at ").hex(addr).str(" is broken: ").str(problem)
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
            Error::BzImageNoEntry => {
                let line = line.str("bzImage has no 64-bit entry (XLF_KERNEL_64) and no usable 32-bit one (protocol ");
                protocol(line, MIN_PROTOCOL_32BIT).str(", LOADED_HIGH)")
            }
            Error::InitrdAboveLimit { start, end, max } => range(line.str("initrd at "), start, end)
                .str(" lies above the kernel's initrd_addr_max ")
                .hex(max),
            Error::CmdlineTooLong { len, max } => line
                .str("command line of ")
                .dec(len)
                .str(" bytes is longer than the kernel's cmdline_size of ")
                .dec(max),
            Error::SetupData { problem } => line.str("kernel setup_data list: ").str(problem),
            Error::PciOption => line.str("opt/org.pvhfw/pci must be assign or skip"),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// The failure list users read: every message must be there.
    const FAILURES_MD: &str = include_str!("../../docs/failures.md");

    /// Every variant once, its values set from `k`: two calls with different `k` tell the
    /// values apart from the fixed text of each message.
    fn samples(k: u64) -> Vec<Error> {
        let pick = |a: &'static str, b: &'static str| if k == 1 { a } else { b };
        let (n16, n32, n64) = (0x1111 * k as u16, 0x2222_2222 * k as u32, 0x3333_3333_3333 * k);
        std::vec![
            Error::NoFwCfg,
            Error::DmaFailed { key: n16 },
            Error::NoKernel,
            Error::PvhEntryOutsideKernel { entry: n32 },
            Error::PvhNotLoaded,
            Error::UnknownKernelFormat,
            Error::DirectoryFull { files: n32 },
            Error::DirectoryCount { files: n32 },
            Error::BzImageEmpty,
            Error::BadStartInfo { magic: n32 },
            Error::StartInfoUnreadable { what: pick("WHAT", "what"), addr: n64 },
            Error::ElfMalformed { problem: pick("PROBLEM", "problem") },
            Error::MissingFile { name: pick("NAME", "name") },
            Error::TooLarge { what: pick("WHAT", "what"), size: n64, max: n64 + 1 },
            Error::NoRam,
            Error::MemoryMapTooLarge,
            Error::KernelNotInRam { start: n64, end: n64 + 1 },
            Error::KernelAbove4G { start: n64, end: n64 + 1 },
            Error::KernelOverlapsFirmware { start: n64, end: n64 + 1 },
            Error::InitrdDoesNotFit { addr: n64, size: n64 + 1 },
            Error::NoRoomForInitrd { size: n64, below: n64 + 1 },
            Error::TableLoader { index: n16, problem: pick("PROBLEM", "problem") },
            Error::NoRoomForTables { size: n64 },
            Error::FwCfgWriteNeedsDma { key: n16 },
            Error::FSegmentFull { what: pick("WHAT", "what") },
            Error::SmbiosTablesShort { claimed: n64, size: n64 + 1 },
            Error::BadSmbiosAnchor,
            Error::BzImageNoMagic,
            Error::BzImageProtocolTooOld { version: 0x0101 * k as u16 },
            Error::BzImageHeaderTruncated { len: n64 },
            Error::BzImageNoEntry,
            Error::InitrdAboveLimit { start: n64, end: n64 + 1, max: n64 + 2 },
            Error::CmdlineTooLong { len: n64, max: n64 + 1 },
            Error::SetupData { problem: pick("PROBLEM", "problem") },
            Error::PvhEntryAbove4G,
            Error::BadRsdp { addr: n64, problem: pick("PROBLEM", "problem") },
            Error::NoBootDisk,
            Error::NoBootEntry { disks: k as u8 },
            Error::Disk { error: DiskError::Read { sector: n64 } },
            Error::BootEntry {
                format: pick("FORMAT", "format"),
                error: EntryError::Unsupported { what: pick("WHAT", "what") }
            },
            Error::EntryFileMissing { format: pick("FORMAT", "format"), what: pick("WHAT", "what") },
            Error::Multiboot { problem: pick("PROBLEM", "problem") },
            Error::MultibootInfo { error: InfoError::Outside { what: pick("WHAT", "what") } },
            Error::PciOption,
        ]
    }

    /// The variant's place in [`samples`]. No wildcard arm: a new variant does not compile
    /// until it has a place here, and then the test fails until it has a sample.
    fn index(e: &Error) -> usize {
        match e {
            Error::NoFwCfg => 0,
            Error::DmaFailed { .. } => 1,
            Error::NoKernel => 2,
            Error::PvhEntryOutsideKernel { .. } => 3,
            Error::PvhNotLoaded => 4,
            Error::UnknownKernelFormat => 5,
            Error::DirectoryFull { .. } => 6,
            Error::DirectoryCount { .. } => 7,
            Error::BzImageEmpty => 8,
            Error::BadStartInfo { .. } => 9,
            Error::StartInfoUnreadable { .. } => 10,
            Error::ElfMalformed { .. } => 11,
            Error::MissingFile { .. } => 12,
            Error::TooLarge { .. } => 13,
            Error::NoRam => 14,
            Error::MemoryMapTooLarge => 15,
            Error::KernelNotInRam { .. } => 16,
            Error::KernelAbove4G { .. } => 17,
            Error::KernelOverlapsFirmware { .. } => 18,
            Error::InitrdDoesNotFit { .. } => 19,
            Error::NoRoomForInitrd { .. } => 20,
            Error::TableLoader { .. } => 21,
            Error::NoRoomForTables { .. } => 22,
            Error::FwCfgWriteNeedsDma { .. } => 23,
            Error::FSegmentFull { .. } => 24,
            Error::SmbiosTablesShort { .. } => 25,
            Error::BadSmbiosAnchor => 26,
            Error::BzImageNoMagic => 27,
            Error::BzImageProtocolTooOld { .. } => 28,
            Error::BzImageHeaderTruncated { .. } => 29,
            Error::BzImageNoEntry => 30,
            Error::InitrdAboveLimit { .. } => 31,
            Error::CmdlineTooLong { .. } => 32,
            Error::SetupData { .. } => 33,
            Error::PvhEntryAbove4G => 34,
            Error::BadRsdp { .. } => 35,
            Error::NoBootDisk => 36,
            Error::NoBootEntry { .. } => 37,
            Error::Disk { .. } => 38,
            Error::BootEntry { .. } => 39,
            Error::EntryFileMissing { .. } => 40,
            Error::Multiboot { .. } => 41,
            Error::MultibootInfo { .. } => 42,
            Error::PciOption => 43,
        }
    }

    /// A console that keeps each write apart: each piece of a [`Line`] is one write.
    #[derive(Default)]
    struct Pieces(Vec<std::string::String>);
    impl Console for Pieces {
        fn write(&mut self, bytes: &[u8]) {
            self.0.push(std::string::String::from_utf8(bytes.to_vec()).unwrap());
        }
    }

    fn pieces(e: &Error) -> Vec<std::string::String> {
        let mut p = Pieces::default();
        e.report(&mut p);
        p.0
    }

    #[test]
    fn every_variant_has_a_sample() {
        let indices: Vec<usize> = samples(1).iter().map(index).collect();
        assert_eq!(indices, (0..indices.len()).collect::<Vec<_>>(), "one sample per variant, in order");
        assert_eq!(samples(2).iter().map(index).collect::<Vec<_>>(), indices);
    }

    /// Each message's fixed text (what is the same whatever the values) appears, in order, on
    /// one line of docs/failures.md, where the values are placeholders.
    #[test]
    fn every_message_is_in_the_failure_list() {
        let mut missing = Vec::new();
        for (a, b) in samples(1).iter().zip(&samples(2)) {
            let (pa, pb) = (pieces(a), pieces(b));
            assert_eq!(pa.len(), pb.len(), "{a:?}");
            assert_eq!(pa[..2], ["pvhfw: ", "error: "], "{a:?}");
            let fixed: Vec<&str> =
                pa[2..pa.len() - 1].iter().zip(&pb[2..]).filter(|(x, y)| x == y).map(|(x, _)| x.as_str()).collect();
            let found = FAILURES_MD.lines().any(|line| {
                let mut rest = line;
                fixed.iter().all(|f| match rest.find(f) {
                    Some(at) => {
                        rest = &rest[at + f.len()..];
                        true
                    }
                    None => false,
                })
            });
            if !found {
                missing.push(pa[2..].concat());
            }
        }
        assert!(missing.is_empty(), "docs/failures.md lacks these messages (values as in the sample): {missing:#?}");
    }
}
