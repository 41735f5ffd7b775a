//! The fw_cfg files every boot looks up, found in one pass over the directory, and the user's
//! choices among them: logging, and what to do after a failure.

use super::memory::E820_FILE;
use super::timeline::Timeline;
use super::Boot;
use crate::console::Log;
use crate::fw_cfg::{self, File, FileName, FwCfgIo, NameKey};
use crate::platform::Platform;
use crate::scratch::Scratch;
use crate::{smbios, table_loader, Error};

/// fw_cfg file holding the user's logging choice (`-fw_cfg name=opt/org.pvhfw/log,string=info`).
pub const LOG_FILE: &str = "opt/org.pvhfw/log";
/// fw_cfg file with `-boot reboot-timeout=` (LE32 milliseconds, -1 = wait forever).
pub const BOOT_FAIL_WAIT_FILE: &str = "etc/boot-fail-wait";
const LOG: NameKey = NameKey::new_const(&FileName::new(LOG_FILE));
const BOOT_FAIL_WAIT: NameKey = NameKey::new_const(&FileName::new(BOOT_FAIL_WAIT_FILE));
const E820: NameKey = NameKey::new_const(&FileName::new(E820_FILE));
/// fw_cfg file with the user's PCI choice: `assign` or `skip` the resource assignment.
pub const PCI_FILE: &str = "opt/org.pvhfw/pci";
const PCI: NameKey = NameKey::new_const(&FileName::new(PCI_FILE));
/// Any of the user's options: most boots have none, and then look for no single one (a fifth
/// name in the pass over the directory costs hundreds of instructions: LLVM unrolls four).
const OPTIONS: NameKey = NameKey::prefix_const(&FileName::new("opt/org.pvhfw/"));

/// The fw_cfg files every boot looks up.
pub(super) struct Files {
    pub(super) loader: Option<File>,
    pub(super) e820: Option<File>,
    pub(super) smbios_anchor: Option<File>,
}

impl<F: FwCfgIo + ?Sized, P: Platform + ?Sized> Boot<'_, F, P> {
    /// Reads the fw_cfg directory, finds the files every boot needs and the user's log choice.
    pub(super) fn discover(&mut self, buf: &mut [u8; fw_cfg::DIR_BYTES]) -> Result<Files, Error> {
        let dir = fw_cfg::read_directory(self.io, buf)?;
        let [loader, e820, smbios_anchor, options] =
            dir.find_all([&table_loader::LOADER, &E820, &smbios::ANCHOR, &OPTIONS]);
        if options.is_some() {
            self.read_options(&dir)?;
        }
        if self.log.timeline {
            self.timeline = Some(Timeline::default());
        }
        Ok(Files { loader, e820, smbios_anchor })
    }

    /// The user's options: logging, and whether to assign PCI resources. Out of line: most
    /// boots have none.
    #[inline(never)]
    fn read_options(&mut self, dir: &fw_cfg::Directory<'_>) -> Result<(), Error> {
        let [log, pci] = dir.find_all([&LOG, &PCI]);
        self.log = self.read_log(log)?;
        if let Some(file) = pci {
            self.pci = Some(self.pci_option(file)?);
        }
        Ok(())
    }

    fn read_log(&mut self, file: Option<File>) -> Result<Log, Error> {
        let Some(file) = file else { return Ok(Log::default()) };
        let mut value = [0u8; 32];
        self.io.read(file.select, &mut value)?;
        let len = (file.size as usize).min(value.len());
        Ok(Log::parse(&value[..len]))
    }
}

impl<F: FwCfgIo + ?Sized, P: Platform + ?Sized> Boot<'_, F, P> {
    /// A small fw_cfg file's text, up to its first NUL (`-fw_cfg ...,string=` stores none; QEMU
    /// ends `bootorder` with one), in `buf`, if the file is there; named `name` when it is
    /// larger than `buf`.
    pub(super) fn read_text<'b>(
        &mut self,
        file: Option<File>,
        name: &'static str,
        buf: &'b mut [u8],
    ) -> Result<Option<&'b [u8]>, Error> {
        let Some(file) = file else { return Ok(None) };
        let size = file.size as usize;
        let max = buf.len() as u64;
        let bytes = buf.get_mut(..size).ok_or(Error::TooLarge { what: name, size: size as u64, max })?;
        self.io.read(file.select, bytes)?;
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(size);
        Ok(Some(&bytes[..end]))
    }
}

/// `etc/boot-fail-wait` in milliseconds, or `None` to halt for good (absent, or -1).
pub fn boot_fail_wait(io: &mut (impl FwCfgIo + ?Sized), scratch: &mut Scratch) -> Option<u32> {
    let dir = fw_cfg::read_directory(io, &mut scratch.dir).ok()?;
    let file = dir.find(&BOOT_FAIL_WAIT)?;
    let mut v = [0u8; 4];
    io.read(file.select, &mut v).ok()?;
    let ms = i32::from_le_bytes(v);
    u32::try_from(ms).ok()
}
