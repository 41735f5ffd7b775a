//! The boot: from what QEMU publishes through fw_cfg to a kernel ready to be entered.
//!
//! [`Boot::prepare`] (from the reset vector) and [`Boot::prepare_chained`] (`pvhfw.elf`, after
//! a previous stage) are the lists of steps, each step in the file of its concept, in the
//! order the boot runs them:
//!
//! 1. `files`: discover the fw_cfg files and the user's log choice;
//! 2. `kernel`: find the kernel (a PVH ELF QEMU has loaded, a bzImage still to load, or a
//!    file `pvhfw.elf` loads itself), its format and the memory it takes; with none given,
//!    `disk`: the kernel, initrds and command line a virtio-blk disk's boot entry names;
//! 3. [`Boot::set_up`], the steps every format shares: program the chipset (`tables`, before
//!    QEMU builds its ACPI tables), assign PCI resources when the user asks (`pci`), read
//!    QEMU's memory map and set the MTRRs (`memory`), place
//!    ACPI and SMBIOS (`tables`), build the memory map and load the initrd (`memory`), write
//!    the MP table (`tables`);
//! 4. `handover`: the command line, load the kernel if QEMU has not, and describe it all to the
//!    kernel: `hvm_start_info` for a PVH kernel, `boot_params` for a bzImage; a boot disk's
//!    device is then reset, and PCI resources assigned for a kernel that runs in 32 bits
//!    (`pci`).
//!
//! `timeline` notes the time each phase ends; `chain` holds what only the second entry needs.

mod chain;
mod disk;
mod files;
mod handover;
mod incoming;
mod kernel;
mod measure;
mod memory;
mod multiboot;
mod pci;
mod tables;
#[cfg(test)]
mod tests;
mod timeline;

pub use chain::{CMDLINE_FILE, INITRD_FILE, KERNEL_FILE};
pub use disk::{DiskBoot, APPEND_FILE, ENTRY_FILE};
pub use files::{boot_fail_wait, BOOT_FAIL_WAIT_FILE, LOG_FILE, PCI_FILE};
pub use incoming::Incoming;

use crate::chipset::Chipset;
use crate::console::{Console, Line, Log};
use crate::fw_cfg::{Directory, FwCfgIo};
use crate::handoff::Handoff;
use crate::platform::Platform;
use crate::scratch::Scratch;
use crate::start_info::{MemmapEntry, ModlistEntry, MAX_MEMMAP};
use crate::{e820, mtrr, Error};
use chain::{ChainedFiles, Origin};
use files::Files;
use kernel::{Kernel, Source};
use measure::Measured;
use tables::{PlacedTables, Published, Tables};

/// Where and how to enter the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelEntry {
    /// The PVH entry, 32-bit flat, paging off, `EBX` = the start info.
    Pvh { entry: u32, start_info: u32 },
    /// Linux's 64-bit entry, long mode with an identity map, `RSI` = boot_params.
    Linux64 { entry: u64, boot_params: u64 },
    /// Linux's 32-bit entry, 32-bit flat, paging off, `ESI` = boot_params.
    Linux32 { entry: u32, boot_params: u32 },
    /// A multiboot kernel's entry, 32-bit flat, paging off, `EAX` = `0x2BADB002`, `EBX` = the
    /// multiboot information.
    Multiboot { entry: u32, info: u32 },
}

/// The boot's context: fw_cfg, the console, the rest of the hardware and the user's log choice.
/// Generic over the hardware (not `dyn`): the firmware has one implementation of each, and
/// inlining it into the table loader's inner loops saves a third of the boot's instructions.
pub struct Boot<'a, F: FwCfgIo + ?Sized, P: Platform + ?Sized> {
    io: &'a mut F,
    con: &'a mut dyn Console,
    platform: &'a mut P,
    log: Log,
    /// `opt/org.pvhfw/pci`: `Some(true)` to assign PCI resources, `Some(false)` to skip it.
    pci: Option<bool>,
    /// Only with `timeline` logging (so quiet boots do not even clear it).
    timeline: Option<timeline::Timeline>,
    /// The disk boot's RAM and state ([`Boot::with_disk`]); without it there is no disk
    /// boot. Kept outside `Boot`, which it would make large: the `-kernel` boot then copies
    /// more (measured).
    disk: Option<&'a mut DiskBoot<'a>>,
}

/// What the shared steps leave for the handover to describe.
struct SetUp {
    rsdp: Option<u64>,
    /// The TPM event log's area, when the machine has a TPM.
    tpm_log: Option<crate::Range>,
    initrd: Option<ModlistEntry>,
    /// Entries of the memory map, which is built in the handover's own buffer.
    memmap_len: usize,
}

impl<'a, F: FwCfgIo + ?Sized, P: Platform + ?Sized> Boot<'a, F, P> {
    pub fn new(io: &'a mut F, con: &'a mut dyn Console, platform: &'a mut P) -> Self {
        Boot { io, con, platform, log: Log::default(), pci: None, timeline: None, disk: None }
    }

    /// Lets the boot read a disk when QEMU has no kernel.
    pub fn with_disk(&mut self, disk: &'a mut DiskBoot<'a>) -> &mut Self {
        self.disk = Some(disk);
        self
    }

    /// Prepares the boot of whatever kernel QEMU was given, in `handoff`, which the firmware
    /// placed at physical `handoff_paddr`; without `-kernel`, of the kernel a disk carries.
    /// Always inlined, as `mptable` is: the disk boot's code made LLVM stop inlining them into
    /// the firmware's `main`, which cost the `-kernel` boot instructions (measured).
    #[inline(always)]
    pub fn prepare(
        &mut self,
        handoff: &mut Handoff,
        handoff_paddr: u32,
        scratch: &mut Scratch,
    ) -> Result<KernelEntry, Error> {
        let files = self.discover(&mut scratch.dir)?;
        self.phase("fw_cfg");
        // No -kernel: the disk's, with its command line. Neither a PVH ELF nor a bzImage: a
        // multiboot kernel, if QEMU prepared one.
        let (kernel, from_disk) = match self.find_kernel(&mut scratch.kernel_head) {
            Err(Error::NoKernel) => {
                let (kernel, too_long) = self.disk_kernel(scratch, &mut handoff.cmdline)?;
                (kernel, Some(too_long))
            }
            Err(Error::UnknownKernelFormat) => (self.multiboot_kernel()?, None),
            kernel => (kernel?, None),
        };
        let early_pci = self.pci == Some(true) && from_disk.is_none();
        let set_up = self.set_up(&files, &kernel, scratch, &mut handoff.memmap, Origin::ResetVector, early_pci)?;
        let too_long = match from_disk {
            Some(too_long) => too_long,
            None => self.command_line(&mut handoff.cmdline)?,
        };
        let entry = self.hand_over(&kernel, &set_up, too_long, handoff, handoff_paddr, scratch)?;
        if let Some(log) = set_up.tpm_log {
            self.measure(
                log,
                &Measured::new(kernel.measured_bytes(), &scratch.kernel_head, set_up.initrd, &handoff.cmdline),
            );
        }
        if from_disk.is_some() {
            self.release_disk();
        }
        if self.assigns_pci_late(from_disk.is_some(), entry, &scratch.kernel_head) {
            self.assign_pci_late(scratch);
        }
        Ok(entry)
    }

    /// Prepares the boot of the kernel in fw_cfg's `opt/org.pvhfw/kernel`, as [`Boot::prepare`]
    /// does for QEMU's `-kernel`, on the incoming memory map and ACPI tables; without it, of
    /// the kernel a disk carries. Always inlined, as [`Boot::prepare`] is.
    #[inline(always)]
    pub fn prepare_chained(
        &mut self,
        incoming: &Incoming,
        handoff: &mut Handoff,
        handoff_paddr: u32,
        scratch: &mut Scratch,
    ) -> Result<KernelEntry, Error> {
        let files = self.discover(&mut scratch.dir)?;
        let chained = ChainedFiles::find(&scratch.dir, incoming)?;
        self.phase("fw_cfg");
        let (kernel, from_disk) = match chained.kernel {
            Some(file) => {
                let (head, notes) = (&mut scratch.kernel_head, &mut scratch.shared);
                (self.kernel_file(Source::FwCfg(file), chained.initrd, head, notes)?, None)
            }
            None => {
                let (kernel, too_long) = self.disk_kernel(scratch, &mut handoff.cmdline)?;
                (kernel, Some(too_long))
            }
        };
        let early_pci = self.pci == Some(true) && from_disk.is_none();
        let origin = Origin::Chained(incoming);
        let set_up = self.set_up(&files, &kernel, scratch, &mut handoff.memmap, origin, early_pci)?;
        let too_long = match from_disk {
            Some(too_long) => too_long,
            None => self.chained_command_line(chained.cmdline, incoming, &mut handoff.cmdline)?,
        };
        let entry = self.hand_over(&kernel, &set_up, too_long, handoff, handoff_paddr, scratch)?;
        if let (true, Some(rsdp)) = (chained.tpm, incoming.rsdp) {
            let what = Measured::new(kernel.measured_bytes(), &scratch.kernel_head, set_up.initrd, &handoff.cmdline);
            self.measure_chained(rsdp, scratch.regions.as_slice(), &what);
        }
        if from_disk.is_some() {
            self.release_disk();
        }
        if self.assigns_pci_late(from_disk.is_some(), entry, &scratch.kernel_head) {
            self.assign_pci_late(scratch);
        }
        Ok(entry)
    }

    /// The steps every kernel format shares, once the kernel's place (`kernel`) is known;
    /// `assign_pci`: with the PCI resource assignment.
    fn set_up(
        &mut self,
        files: &Files,
        kernel: &Kernel,
        scratch: &mut Scratch,
        memmap: &mut [MemmapEntry; MAX_MEMMAP],
        origin: Origin,
        assign_pci: bool,
    ) -> Result<SetUp, Error> {
        let Scratch { dir, e820: raw_e820, regions, shared, .. } = scratch;
        let rsdp_in_memory = origin.rsdp_in_memory();
        let chipset = match rsdp_in_memory {
            Some(_) => Chipset::detect(self.platform),
            None => self.set_up_chipset(),
        };
        self.phase("chipset");
        // Before QEMU builds its ACPI tables, which describe the 64-bit window from the BARs.
        if assign_pci {
            self.assign_pci_early(chipset, files.e820, dir);
        }
        let published = match rsdp_in_memory {
            Some(_) => Published { dir: Directory::parse(dir), script: None, smbios: None },
            None => self.read_tables(files, chipset, dir, shared)?,
        };
        match origin.memmap() {
            Some(map) => regions.from_memmap(map)?,
            None => self.read_e820(files.e820, raw_e820, regions)?,
        }
        mtrr::set_up(self.platform, e820::low_ram_end(regions.as_slice()));
        let image = origin.image();
        let (avoid, n) = kernel.ranges_and([kernel.initrd.known_range().unwrap_or_default(), image]);
        let (dir, script, smbios) = (published.dir, published.script, published.smbios);
        let tables = Tables { dir: &dir, script, smbios, chipset, avoid: &avoid[..n], image };
        // Tables below 640 KiB when they fit, before the map exists (phases ACPI and SMBIOS);
        // else at the top of RAM once the map is known.
        let low = self.tables_below_640k(&tables, regions)?;
        let mut memmap_len = self.memory_map(regions, &tables, low, memmap)?;
        self.phase("memory map");
        let placed = if low.is_some() { low } else { self.tables_at_top(&tables, memmap, &mut memmap_len)? };
        let placed = placed.or(rsdp_in_memory.map(PlacedTables::in_memory));
        let rsdp = placed.and_then(|p| p.rsdp);
        if let Some(r) = kernel.used_ranges().find(|r| !e820::is_ram(&memmap[..memmap_len], **r)) {
            return Err(Error::KernelNotInRam { start: r.start, end: r.end });
        }
        let initrd = self.load_initrd(kernel, &memmap[..memmap_len])?;
        self.phase("initrd");
        // Also with ACPI, as qboot and SeaBIOS do: a kernel started with acpi=off finds its
        // CPUs only here.
        self.mptable(placed, tables.chipset)?;
        self.phase("MP table");
        Ok(SetUp { rsdp, tpm_log: placed.and_then(|p| p.tpm_log), initrd, memmap_len })
    }

    fn info(&mut self) -> Option<Line<'_>> {
        self.log.info.then(|| Line::new(self.con))
    }

    /// A warning: printed whatever the log choice (a boot that goes on with less than asked).
    fn warn(&mut self) -> Line<'_> {
        Line::new(self.con).str("warning: ")
    }
}
