//! The second entry: `pvhfw.elf`, started as a PVH guest by a previous stage (QEMU's PVH
//! option ROM behind SeaBIOS, qboot, another VMM), chain-loads the kernel named in fw_cfg.
//!
//! The same steps as from the reset vector, with what the previous stage already did taken as
//! it is. The rule for ACPI: tables already in memory (the incoming start info's RSDP) are
//! passed through, with the chipset they describe left as programmed, and QEMU's table loader
//! is not run again (it must not be: WRITE_POINTER, vmgenid); without an RSDP pvhfw programs
//! the chipset and loads QEMU's tables itself. The memory map is the incoming one, so every
//! reservation the previous stage made (its tables among them) stays, with pvhfw's own added;
//! QEMU's `etc/e820` only when the start info has none.

use super::handover::LINUX_CMDLINE_MAX;
use super::incoming::Incoming;
use super::memory::Initrd;
use super::Boot;
use crate::fw_cfg::{Directory, File, FileName, FwCfgIo, NameKey};
use crate::handoff::CMDLINE_MAX;
use crate::layout::ELF_IMAGE;
use crate::platform::Platform;
use crate::start_info::MemmapEntry;
use crate::{Error, Range};

/// The fw_cfg files `pvhfw.elf` boots from (`-fw_cfg name=opt/org.pvhfw/kernel,file=...`).
pub const KERNEL_FILE: &str = "opt/org.pvhfw/kernel";
pub const INITRD_FILE: &str = "opt/org.pvhfw/initrd";
pub const CMDLINE_FILE: &str = "opt/org.pvhfw/cmdline";
const KERNEL: NameKey = NameKey::new_const(&FileName::new(KERNEL_FILE));
const INITRD: NameKey = NameKey::new_const(&FileName::new(INITRD_FILE));
const CMDLINE: NameKey = NameKey::new_const(&FileName::new(CMDLINE_FILE));
/// QEMU's TPM log area: always published, empty unless the machine has a TPM.
const TPM_LOG: NameKey = NameKey::new_const(&FileName::new("etc/tpm/log"));

/// The entry the boot came from, with what the stage before it handed over.
#[derive(Clone, Copy)]
pub(super) enum Origin<'i> {
    /// `pvhfw.bin` at the reset vector: nothing ran before it.
    ResetVector,
    /// `pvhfw.elf`, started by a previous stage with this start info.
    Chained(&'i Incoming),
}

impl<'i> Origin<'i> {
    /// ACPI tables a previous stage left in memory: it has run QEMU's table loader and
    /// programmed the chipset those tables describe, and neither is done twice.
    pub(super) fn rsdp_in_memory(self) -> Option<u64> {
        match self {
            Origin::ResetVector => None,
            Origin::Chained(incoming) => incoming.rsdp,
        }
    }

    /// The memory map a previous stage handed over, if it has one.
    pub(super) fn memmap(self) -> Option<&'i [MemmapEntry]> {
        match self {
            Origin::Chained(incoming) if incoming.memmap_len > 0 => Some(&incoming.memmap[..incoming.memmap_len]),
            _ => None,
        }
    }

    /// `pvhfw.elf`'s own image, in use until the jump (its page tables after it).
    pub(super) fn image(self) -> Range {
        match self {
            Origin::ResetVector => Range::default(),
            Origin::Chained(_) => ELF_IMAGE,
        }
    }
}

/// The fw_cfg files of the chained boot, in the directory `discover` read.
pub(super) struct ChainedFiles {
    /// `None`: boot from a disk.
    pub(super) kernel: Option<File>,
    pub(super) initrd: Initrd,
    pub(super) cmdline: Option<File>,
    /// The machine has a TPM: the previous stage placed its log, and `pvhfw.elf` adds to it.
    pub(super) tpm: bool,
}

impl ChainedFiles {
    /// The kernel file, the initrd (the file, else the incoming module) and the command line
    /// file.
    pub(super) fn find(dir: &[u8], incoming: &Incoming) -> Result<ChainedFiles, Error> {
        let [kernel, initrd, cmdline, tpm_log] = Directory::parse(dir).find_all([&KERNEL, &INITRD, &CMDLINE, &TPM_LOG]);
        let initrd = match (initrd, incoming.initrd) {
            (Some(file), _) => Initrd::File(file),
            (None, Some(range)) => Initrd::InPlace(range),
            (None, None) => Initrd::None,
        };
        Ok(ChainedFiles { kernel, initrd, cmdline, tpm: tpm_log.is_some_and(|f| f.size > 0) })
    }
}

impl<F: FwCfgIo + ?Sized, P: Platform + ?Sized> Boot<'_, F, P> {
    /// The command line: fw_cfg's `opt/org.pvhfw/cmdline`, else the incoming one; returns its
    /// length when it is beyond what Linux keeps on x86.
    pub(super) fn chained_command_line(
        &mut self,
        file: Option<File>,
        incoming: &Incoming,
        buf: &mut [u8; CMDLINE_MAX],
    ) -> Result<Option<usize>, Error> {
        let text = self.read_text(file, CMDLINE_FILE, &mut buf[..CMDLINE_MAX - 1])?;
        let len = match text {
            // A file written by hand may also end in a newline.
            Some(text) => text.iter().position(|&b| b == b'\n').unwrap_or(text.len()),
            None => {
                buf[..incoming.cmdline_len].copy_from_slice(incoming.cmdline());
                incoming.cmdline_len
            }
        };
        buf[len] = 0;
        Ok((len > LINUX_CMDLINE_MAX).then_some(len))
    }
}
