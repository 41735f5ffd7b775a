//! The disk boot: with no `-kernel` (for `pvhfw.elf`: no `opt/org.pvhfw/kernel`), the kernel a
//! virtio-blk disk carries, as its boot entry names it (`disk::search`).
//!
//! The disks are tried in QEMU's `bootorder` (disks with a `bootindex` first), then in PCI slot
//! or MMIO transport order; a disk with no volume pvhfw reads or no boot entry is skipped. The
//! first disk with an entry boots: its kernel and initrds are resolved to files now and read
//! straight to their final place by the shared steps, and its device is reset before the jump.
//! The entry's command line can be replaced (`opt/org.pvhfw/cmdline`) or added to
//! (`opt/org.pvhfw/append`: QEMU refuses `-append` without `-kernel`), and another entry
//! chosen (`opt/org.pvhfw/entry`, by id, title or label).

use super::chain::CMDLINE_FILE;
use super::handover::LINUX_CMDLINE_MAX;
use super::kernel::{Kernel, Source};
use super::memory::Initrd;
use super::Boot;
use crate::chipset::Chipset;
use crate::console::Line;
use crate::disk::entries::MAX_INITRDS;
use crate::disk::search::{self, Found, SearchError};
use crate::disk::volume::{Handle, Volume};
use crate::disk::PhysRead;
use crate::fw_cfg::{Directory, File, FileName, FwCfgIo, NameKey};
use crate::handoff::CMDLINE_MAX;
use crate::platform::Platform;
use crate::scratch::Scratch;
use crate::virtio::{self, Transport, VirtioBlk};
use crate::{Error, Range};

/// fw_cfg files of the disk boot.
pub const APPEND_FILE: &str = "opt/org.pvhfw/append";
pub const ENTRY_FILE: &str = "opt/org.pvhfw/entry";
/// QEMU's boot order: one OpenFirmware device path per line, for `-device ...,bootindex=N`.
const BOOTORDER_FILE: &str = "bootorder";
const CMDLINE: NameKey = NameKey::new_const(&FileName::new(CMDLINE_FILE));
const APPEND: NameKey = NameKey::new_const(&FileName::new(APPEND_FILE));
const ENTRY: NameKey = NameKey::new_const(&FileName::new(ENTRY_FILE));
const BOOTORDER: NameKey = NameKey::new_const(&FileName::new(BOOTORDER_FILE));
/// Longest `opt/org.pvhfw/entry` value.
const MAX_ENTRY_NAME: usize = 256;

/// What the disk boot keeps: RAM to read configuration text into (the firmware's
/// `layout::DISK_TEXT`) and, once found, the disk being booted.
pub struct DiskBoot<'a> {
    text: &'a mut [u8],
    booting: Option<BootDisk>,
}

impl<'a> DiskBoot<'a> {
    pub fn new(text: &'a mut [u8]) -> Self {
        DiskBoot { text, booting: None }
    }
}

/// The disk being booted, kept until the jump: its device, the volume its kernel and initrds
/// are on, and their files.
struct BootDisk {
    blk: VirtioBlk,
    volume: Volume,
    kernel: Handle,
    initrds: [Option<Handle>; MAX_INITRDS],
}

/// The fw_cfg files the disk boot reads.
struct DiskFiles {
    bootorder: Option<File>,
    cmdline: Option<File>,
    append: Option<File>,
    entry: Option<File>,
}

impl<F: FwCfgIo + ?Sized, P: Platform + ?Sized> Boot<'_, F, P> {
    /// The kernel the first bootable disk names, with its initrds; its command line (with the
    /// user's fw_cfg changes) goes to `cmdline`, and its length is returned when it is beyond
    /// what Linux keeps on x86. Out of line: the `-kernel` boot never comes here, and inlined
    /// into it this cost it instructions (measured).
    #[inline(never)]
    pub(super) fn disk_kernel(
        &mut self,
        scratch: &mut Scratch,
        cmdline: &mut [u8; CMDLINE_MAX],
    ) -> Result<(Kernel, Option<usize>), Error> {
        let disk = self.disk.take().ok_or(Error::NoKernel)?;
        let [bootorder, cmdline_file, append, entry] =
            Directory::parse(&scratch.dir).find_all([&BOOTORDER, &CMDLINE, &APPEND, &ENTRY]);
        let files = DiskFiles { bootorder, cmdline: cmdline_file, append, entry };
        let mut wanted = [0u8; MAX_ENTRY_NAME];
        let wanted = self.read_text(files.entry, ENTRY_FILE, &mut wanted)?;
        let order = self.read_text(files.bootorder, BOOTORDER_FILE, &mut scratch.shared)?;
        let chipset = Chipset::detect(self.platform);
        let disks = virtio::find_disks(self.platform, chipset, order);
        let (mut tried, mut first_error) = (0u8, None);
        for transport in disks.iter() {
            tried = tried.saturating_add(1);
            match self.search_disk(transport, disk.text, wanted, &mut cmdline[..]) {
                Ok(Some((found, booting))) => {
                    disk.booting = Some(booting);
                    self.disk = Some(disk);
                    let len = self.user_command_line(&files, cmdline, found.cmdline_len)?;
                    let kernel = self.disk_kernel_file(&found, scratch)?;
                    return Ok((kernel, (len > LINUX_CMDLINE_MAX).then_some(len)));
                }
                Ok(None) => {}
                Err(e) => first_error = first_error.or(Some(e)),
            }
        }
        Err(match (tried, first_error) {
            (0, _) => Error::NoBootDisk,
            (_, Some(e)) => e,
            (disks, None) => Error::NoBootEntry { disks },
        })
    }

    /// Opens the disk at `transport` and searches it: the entry and the disk to keep if it has
    /// one; else it is reset.
    fn search_disk(
        &mut self,
        transport: Transport,
        text: &mut [u8],
        wanted: Option<&[u8]>,
        cmdline: &mut [u8],
    ) -> Result<Option<(Found, BootDisk)>, Error> {
        let mut blk = VirtioBlk::open(self.platform, transport)?;
        let result = search::search(&mut blk.disk(self.platform), text, wanted, cmdline);
        let found = match result {
            Ok(Some((volumes, found))) => volumes.get(found.volume).map(|v| (*v, found)),
            _ => None,
        };
        let Some((volume, found)) = found else {
            blk.reset(self.platform);
            return result.map(|_| None).map_err(|e| self.search_error(e, cmdline));
        };
        if let Some(l) = self.info() {
            let l = l.str("disk boot: ").str(found.format.name()).str(" on virtio-blk ");
            transport_line(l, transport).end();
        }
        Ok(Some((found, BootDisk { blk, volume, kernel: found.kernel, initrds: found.initrds })))
    }

    /// The error for a search's failure; a missing file's path goes to the console first (the
    /// error itself cannot hold it).
    fn search_error(&mut self, e: SearchError, cmdline: &[u8]) -> Error {
        match e {
            SearchError::Disk(error) => error.into(),
            SearchError::Entry { format, error } => Error::BootEntry { format: format.name(), error },
            SearchError::Missing { format, what, path_len } => {
                let path = core::str::from_utf8(&cmdline[..path_len]).unwrap_or("(not UTF-8)");
                Line::new(self.con).str(format.name()).str(" names the ").str(what).str(" ").str(path).end();
                Error::EntryFileMissing { format: format.name(), what }
            }
        }
    }

    /// The kernel of `found` (on the disk kept in `self.disk`), and its initrds.
    fn disk_kernel_file(&mut self, found: &Found, scratch: &mut Scratch) -> Result<Kernel, Error> {
        let initrd = match found.initrds {
            [None, ..] => Initrd::None,
            files => Initrd::Disk { size: disk_initrds_size(&files) },
        };
        let kernel = Source::Disk { size: found.kernel.size() };
        self.kernel_file(kernel, initrd, &mut scratch.kernel_head, &mut scratch.shared)
    }

    /// The command line: the entry's `len` bytes in `buf`, replaced by `opt/org.pvhfw/cmdline`
    /// and followed by `opt/org.pvhfw/append` when given; NUL-terminated. Returns its length.
    fn user_command_line(
        &mut self,
        files: &DiskFiles,
        buf: &mut [u8; CMDLINE_MAX],
        len: usize,
    ) -> Result<usize, Error> {
        let mut len = match files.cmdline {
            Some(file) => self.read_text(Some(file), CMDLINE_FILE, &mut buf[..CMDLINE_MAX - 1])?.map_or(0, <[u8]>::len),
            None => len,
        };
        if let Some(file) = files.append {
            let sep = usize::from(len > 0);
            let room = buf.get_mut(len + sep..CMDLINE_MAX - 1).unwrap_or_default();
            let n = self.read_text(Some(file), APPEND_FILE, room)?.map_or(0, <[u8]>::len);
            if n > 0 && sep == 1 {
                buf[len] = b' ';
            }
            len += if n > 0 { sep + n } else { 0 };
        }
        buf[len] = 0;
        Ok(len)
    }

    /// `buf.len()` bytes of the boot disk's kernel from `offset`.
    pub(super) fn disk_read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), Error> {
        let d = booting(&mut self.disk)?;
        let disk = &mut d.blk.disk(self.platform);
        Ok(d.volume.read_at(disk, &d.kernel, offset, buf)?)
    }

    /// `len` bytes of the boot disk's kernel from `offset` to physical `phys`.
    pub(super) fn disk_kernel_to_phys(&mut self, offset: u64, phys: u64, len: u64) -> Result<(), Error> {
        let d = booting(&mut self.disk)?;
        let disk = &mut d.blk.disk(self.platform);
        Ok(d.volume.read_to_phys(disk, &d.kernel, offset, phys, len)?)
    }

    /// Reads the boot disk's initrds one after the other into `to` (their place, checked to be
    /// free RAM of the right size), each from a 4-byte boundary, the gaps zeroed.
    pub(super) fn load_disk_initrds(&mut self, to: Range) -> Result<(), Error> {
        let d = booting(&mut self.disk)?;
        let disk = &mut d.blk.disk(self.platform);
        let mut at = to.start;
        for file in d.initrds.iter().flatten() {
            let start = at.next_multiple_of(4);
            disk.zero_phys(at, start - at)?;
            d.volume.read_to_phys(disk, file, 0, start, file.size())?;
            at = start + file.size();
        }
        Ok(())
    }

    /// Resets the boot disk's device, so the kernel finds it as from reset.
    pub(super) fn release_disk(&mut self) {
        if let Ok(d) = booting(&mut self.disk) {
            d.blk.reset(self.platform);
        }
    }
}

/// The bytes the disk initrds take concatenated, each from a 4-byte boundary (as
/// `load_disk_initrds` lays them out).
fn disk_initrds_size(files: &[Option<Handle>; MAX_INITRDS]) -> u64 {
    files.iter().flatten().fold(0u64, |at, f| at.next_multiple_of(4).saturating_add(f.size()))
}

/// The disk being booted, once `disk_kernel` has found it.
fn booting<'d>(disk: &'d mut Option<&mut DiskBoot<'_>>) -> Result<&'d mut BootDisk, Error> {
    disk.as_mut().and_then(|d| d.booting.as_mut()).ok_or(Error::NoBootDisk)
}

/// Where a virtio-blk device is: `PCI slot 4 function 0` or `MMIO 0xfeb00200`.
fn transport_line(l: Line<'_>, t: Transport) -> Line<'_> {
    match t {
        Transport::Pci(f) => l.str("PCI slot ").dec(f.device().into()).str(" function ").dec(f.function().into()),
        Transport::Mmio(base) => l.str("MMIO ").hex(base),
    }
}
