//! The measured boot: with a TPM (QEMU allocates its event log, `etc/tpm/log`, only then),
//! what pvhfw boots is extended into the TPM's PCRs and logged where QEMU's TPM2 ACPI table
//! points, so the kernel exposes the log and an attester can replay it.
//!
//! The PCRs, following the TCG PC Client Platform Firmware Profile where it speaks and GRUB and
//! Linux's EFI stub where it does not (each digest is computed in every active bank):
//! - PCR 0: pvhfw's version (`EV_S_CRTM_VERSION`, the digest of the event's text) and its
//!   ROM image (`EV_POST_CODE`, the digest of all of `pvhfw.bin`);
//! - PCR 4: the kernel (`EV_IPL`): a bzImage's protected-mode part (the file after its setup
//!   sectors, which QEMU hands over as it is; the setup sectors QEMU patches), a PVH ELF's
//!   loadable segments (each `PT_LOAD`'s file bytes, in program header order), a multiboot
//!   kernel's image as QEMU placed it;
//! - PCRs 0-7: a separator each (`EV_SEPARATOR`, four zero bytes), the end of the firmware;
//! - PCR 8: the command line as GRUB measures it (`EV_IPL`, event `kernel_cmdline: ...` with its
//!   NUL, the digest of the command line without it);
//! - PCR 9: the initrd as Linux's EFI stub measures it (`EV_EVENT_TAG` "Linux initrd", the
//!   digest of the initrd file).
//!
//! `pvhfw.elf` measures only the kernel, command line and initrd, after the previous stage's
//! measurements (its own, the separators), appending to its log.
//!
//! A TPM that fails gets a warning, and the boot goes on unmeasured: a firmware that stopped
//! would turn a TPM fault into an outage, and an attester sees what is missing.

use super::kernel::{Kernel, Protocol};
use super::Boot;
use crate::e820::Region;
use crate::fw_cfg::FwCfgIo;
use crate::kernel::{elf_segments, HEAD_BYTES};
use crate::layout::{ELF_IMAGE, FIRMWARE_RAM, IMAGE_BASE};
use crate::platform::Platform;
use crate::sha::ShaBlocks;
use crate::start_info::ModlistEntry;
use crate::tcg_log::{self, Digests, EventLog, Hasher};
use crate::tpm::{self, Banks, Tpm, TpmError};
use crate::Range;

/// Linux's EFI stub's tag for its initrd event.
const INITRD_TAG: u32 = 0x8f3b_22ec;
/// What pvhfw measures as its version.
const VERSION: &str = concat!("pvhfw ", env!("CARGO_PKG_VERSION"), "\0");
/// PVH ELF segments measured (Linux has four).
const MAX_SEGMENTS: usize = 16;

/// Where the kernel's measured bytes are.
#[derive(Clone, Copy)]
pub(super) enum KernelBytes {
    /// One range: a bzImage's protected-mode part, a multiboot kernel's image.
    Range(Range),
    /// A PVH ELF's loadable segments, as its head (in the scratch area) lists them.
    Segments,
}

/// What the kernel gets, for measuring.
pub(super) struct Measured<'a> {
    kernel: KernelBytes,
    head: &'a [u8; HEAD_BYTES],
    initrd: Option<ModlistEntry>,
    /// Without its NUL.
    cmdline: &'a [u8],
}

impl Kernel {
    /// Where this kernel's measured bytes are. A value, not a reference to the kernel:
    /// borrowing `Kernel` for the measured boot made LLVM keep it in memory on every boot
    /// (measured: 60 instructions more without a TPM).
    #[inline(always)]
    pub(super) fn measured_bytes(&self) -> KernelBytes {
        match self.protocol {
            Protocol::Linux { load, .. } => KernelBytes::Range(load),
            Protocol::Multiboot { image, .. } => KernelBytes::Range(image),
            Protocol::Pvh { .. } => KernelBytes::Segments,
        }
    }
}

impl<'a> Measured<'a> {
    /// The kernel's bytes `kernel` (its ELF head is `head`), `initrd` and the NUL-terminated
    /// command line in `cmdline`.
    #[inline(always)]
    pub(super) fn new(
        kernel: KernelBytes,
        head: &'a [u8; HEAD_BYTES],
        initrd: Option<ModlistEntry>,
        cmdline: &'a [u8],
    ) -> Measured<'a> {
        let cmdline = cmdline.split(|&b| b == 0).next().unwrap_or_default();
        Measured { kernel, head, initrd, cmdline }
    }
}

/// What a measured boot did: measurements made, events that did not fit the log, and what
/// computed SHA-1 and SHA-256 ([`ShaBlocks::name`]).
struct Made {
    events: u32,
    dropped: u32,
    hashed_with: &'static str,
}

/// Where the log goes.
#[derive(Clone, Copy)]
enum LogArea {
    /// The area the table loader just placed: a new log, and pvhfw's own measurements (PCR 0
    /// and the separators) with the kernel's.
    New(Range),
    /// The area a previous stage's TPM2 table points at (`pvhfw.elf`): its log is appended to
    /// (or started, if it left none) with the kernel's measurements only; its own and the
    /// separators are the previous stage's.
    Previous(Range),
}

impl<F: FwCfgIo + ?Sized, P: Platform + ?Sized> Boot<'_, F, P> {
    /// Measures `what` into the TPM and a new log in `log_area`. Out of line: a machine without
    /// a TPM never comes here.
    #[inline(never)]
    pub(super) fn measure(&mut self, log_area: Range, what: &Measured) {
        let result = self.measure_into(LogArea::New(log_area), what);
        self.report(result);
    }

    /// `pvhfw.elf`'s measurements after the previous stage's: its TPM2 table, found from the
    /// RSDP at `rsdp` in memory that `regions` (the incoming memory map) says exists, gives
    /// the log.
    #[inline(never)]
    pub(super) fn measure_chained(&mut self, rsdp: u64, regions: &[Region], what: &Measured) {
        let mut read = |addr: u64, buf: &mut [u8]| {
            let Some(range) = Range::from_len(addr, buf.len() as u64).filter(|r| readable(regions, *r)) else {
                return false;
            };
            buf.copy_from_slice(self.platform.phys(range));
            true
        };
        let mut table = [0u8; 76];
        let area = crate::acpi::find(rsdp, b"TPM2", &mut read)
            .filter(|&at| read(at, &mut table))
            .and_then(|_| crate::acpi::tpm2_log_area(&table))
            .and_then(|(lasa, laml)| Range::from_len(lasa, laml).filter(|r| readable(regions, *r)));
        let result = match area {
            Some(area) => self.measure_into(LogArea::Previous(area), what),
            None => Err(TpmError::Malformed { what: "no TPM2 ACPI table with a log area" }),
        };
        self.report(result);
    }

    fn report(&mut self, result: Result<Made, TpmError>) {
        match result {
            Ok(Made { events, dropped, hashed_with }) => {
                if dropped != 0 {
                    self.warn().str("TPM event log full: ").dec(dropped.into()).str(" events not logged").end();
                }
                if let Some(l) = self.info() {
                    l.str("TPM: ")
                        .dec(events.into())
                        .str(" measurements, SHA-1 and SHA-256 with ")
                        .str(hashed_with)
                        .end();
                }
            }
            Err(e) => {
                let l = self.warn().str("TPM: ");
                let l = match e {
                    TpmError::NoInterface { id } => l.str("no TIS or CRB interface (ID ").hex(id.into()).str(")"),
                    TpmError::Timeout { what } => l.str("no answer waiting for ").str(what),
                    TpmError::Response { command, code } => l.str(command).str(" failed with ").hex(code.into()),
                    TpmError::Malformed { what } => l.str("bad response: ").str(what),
                };
                l.str("; this boot is not measured").end();
            }
        }
    }

    /// The measurements.
    fn measure_into(&mut self, log: LogArea, what: &Measured) -> Result<Made, TpmError> {
        let mut response = [0u8; tpm::MAX_MESSAGE];
        let mut tpm = Tpm::open(self.platform)?;
        tpm.execute("TPM2_Startup", tpm::startup().bytes(), &mut response, &[tpm::RC_INITIALIZE])?;
        let len = tpm.execute("TPM2_GetCapability", tpm::get_pcr_banks().bytes(), &mut response, &[])?;
        let banks = tpm::parse_pcr_banks(&response[..len])?;
        if banks.count() == 0 {
            return Err(TpmError::Malformed { what: "no SHA-1 or SHA-2 PCR bank active" });
        }
        tpm.close();
        let sha = self.platform.sha_blocks();
        let new = match log {
            LogArea::New(_) => true,
            // A previous log must name the banks the TPM has, which the events then carry.
            LogArea::Previous(area) => {
                let bytes = self.platform.phys(area);
                let empty = bytes.iter().take(64).all(|&b| b == 0);
                match EventLog::resume(bytes) {
                    Some(previous) if previous.banks() != banks => {
                        return Err(TpmError::Malformed { what: "the previous log's banks are not the TPM's" });
                    }
                    None if !empty => return Err(TpmError::Malformed { what: "a previous log pvhfw cannot extend" }),
                    _ => false,
                }
            }
        };
        // The digests first (they need the memory), then the extends and the log.
        let mut events = Events::default();
        if new {
            events.push(0, tcg_log::EV_S_CRTM_VERSION, Digests::of(banks, sha, VERSION.as_bytes()), Data::Version);
            let image = Digests::of(banks, sha, self.platform.rom_image());
            events.push(0, tcg_log::EV_POST_CODE, image, Data::Text(b"pvhfw ROM image\0"));
        }
        let kernel = self.kernel_digests(banks, sha, what);
        events.push(4, tcg_log::EV_IPL, kernel, Data::Text(b"pvhfw: kernel\0"));
        if new {
            for pcr in 0..8 {
                events.push(pcr, tcg_log::EV_SEPARATOR, Digests::of(banks, sha, &[0; 4]), Data::Separator);
            }
        }
        events.push(8, tcg_log::EV_IPL, Digests::of(banks, sha, what.cmdline), Data::Cmdline);
        if let Some(initrd) = what.initrd {
            let range = Range { start: initrd.paddr, end: initrd.paddr + initrd.size };
            events.push(9, tcg_log::EV_EVENT_TAG, Digests::of(banks, sha, self.platform.phys(range)), Data::Initrd);
        }
        // The log holds exactly what was extended, also when an extend fails.
        let mut tpm = Tpm::open(self.platform)?;
        let mut extended = 0;
        let mut failed = Ok(());
        for e in events.iter() {
            let mut command = tpm::pcr_extend(e.pcr, banks, &e.digests.in_bank_order()[..banks.count()]);
            if let Err(e) = tpm.execute("TPM2_PCR_Extend", command.bytes(), &mut response, &[]) {
                failed = Err(e);
                break;
            }
            extended += 1;
        }
        tpm.close();
        let dropped = self.log_events(log, banks, &events, extended, what.cmdline);
        failed.map(|()| Made { events: extended as u32, dropped, hashed_with: sha.name })
    }

    /// The kernel's digests, as the module's documentation says.
    fn kernel_digests(&mut self, banks: Banks, sha: ShaBlocks, what: &Measured) -> Digests {
        let mut h = Hasher::new(banks, sha);
        match what.kernel {
            KernelBytes::Range(range) => h.update(self.platform.phys(range)),
            KernelBytes::Segments => {
                let (loads, n, ..) = elf_segments::<MAX_SEGMENTS>(what.head).unwrap_or_default();
                // Within what the boot checked, whatever the headers claim: each segment's
                // memory (`memsz`), which a valid ELF's file bytes never exceed.
                for s in &loads[..n] {
                    if let Some(bytes) = Range::from_len(s.paddr, s.filesz.min(s.memsz)) {
                        h.update(self.platform.phys(bytes));
                    }
                }
            }
        }
        h.finish()
    }

    /// Writes the log of the first `count` of `events`; returns how many did not fit.
    fn log_events(&mut self, area: LogArea, banks: Banks, events: &Events, count: usize, cmdline: &[u8]) -> u32 {
        let mut log = match area {
            LogArea::New(area) => EventLog::start(self.platform.phys(area), banks),
            LogArea::Previous(area) => {
                let bytes = self.platform.phys(area);
                // Resumed when there is a log (its banks are the TPM's, checked), else new.
                match EventLog::resume(bytes) {
                    Some(log) => log,
                    None => EventLog::start(self.platform.phys(area), banks),
                }
            }
        };
        for e in events.iter().take(count) {
            let tag_size = 13u32.to_le_bytes();
            let data: &[&[u8]] = match e.data {
                Data::Version => &[VERSION.as_bytes()],
                Data::Text(text) => &[text],
                Data::Separator => &[&[0; 4]],
                Data::Cmdline => &[b"kernel_cmdline: ", cmdline, b"\0"],
                Data::Initrd => &[&INITRD_TAG.to_le_bytes(), &tag_size, b"Linux initrd\0"],
            };
            log.append(e.pcr, e.kind, &e.digests, data);
        }
        log.dropped()
    }
}

/// What an event's data is (written into the log once everything is extended).
#[derive(Clone, Copy)]
enum Data {
    Version,
    Text(&'static [u8]),
    Separator,
    Cmdline,
    Initrd,
}

#[derive(Clone, Copy)]
struct Event {
    pcr: u32,
    kind: u32,
    digests: Digests,
    data: Data,
}

/// The boot's events, in order.
#[derive(Default)]
struct Events {
    list: [Option<Event>; 16],
    len: usize,
}

impl Events {
    fn push(&mut self, pcr: u32, kind: u32, digests: Digests, data: Data) {
        if let Some(slot) = self.list.get_mut(self.len) {
            *slot = Some(Event { pcr, kind, digests, data });
            self.len += 1;
        }
    }

    fn iter(&self) -> impl Iterator<Item = &Event> {
        self.list.iter().flatten()
    }
}

/// Whether `range` may be read for the previous stage's tables and log: inside one entry of
/// the incoming memory map, below the ROM, clear of pvhfw's own memory, not at address 0.
fn readable(regions: &[Region], range: Range) -> bool {
    let mine = range.overlaps(&FIRMWARE_RAM) || range.overlaps(&ELF_IMAGE);
    let mapped = regions.iter().any(|r| r.range.contains(&range));
    range.start != 0 && range.end <= IMAGE_BASE && !mine && mapped
}
