//! The tables: the chipset QEMU's ACPI describes, QEMU's loader script and SMBIOS placed below
//! 640 KiB when they fit there, else at the top of RAM below 4 GiB, and the MP table (its CPUs
//! from the MADT of the tables just placed).

use super::files::Files;
use super::memory::{page_up, PAGE};
use super::Boot;
use crate::chipset::Chipset;
use crate::console::Line;
use crate::fw_cfg::{self, key, Directory, File, FwCfgIo};
use crate::layout::{F_SEGMENT_WINDOW, LOW_TABLES, MP_TABLE};
use crate::mptable::{self, Topology};
use crate::platform::Platform;
use crate::smbios::{self, Smbios};
use crate::start_info::{MemmapEntry, MAX_MEMMAP};
use crate::table_loader::{self, Needs, Zones};
use crate::table_memory::{self, Bump};
use crate::{e820, madt, Error, Range};

/// What QEMU publishes for the tables: the directory as it stands after the loader script is
/// read, the script, and SMBIOS.
pub(super) struct Published<'s> {
    pub(super) dir: Directory<'s>,
    pub(super) script: Option<&'s [u8]>,
    pub(super) smbios: Option<Smbios>,
}

/// What decides where the ACPI and SMBIOS tables go.
pub(super) struct Tables<'d> {
    pub(super) dir: &'d Directory<'d>,
    pub(super) script: Option<&'d [u8]>,
    pub(super) smbios: Option<Smbios>,
    pub(super) chipset: Chipset,
    /// The kernel's ranges, the initrd and `pvhfw.elf`'s image.
    pub(super) avoid: &'d [Range],
    /// `pvhfw.elf`'s image (empty from the reset vector), reserved in the map.
    pub(super) image: Range,
}

impl Tables<'_> {
    fn any(&self) -> bool {
        self.script.is_some() || self.smbios.is_some()
    }
}

/// Tables placed: the RSDP's address and the memory to reserve for them.
#[derive(Clone, Copy)]
pub(super) struct PlacedTables {
    pub(super) rsdp: Option<u64>,
    pub(super) reserved: Range,
    /// The TPM event log's area.
    pub(super) tpm_log: Option<Range>,
}

impl PlacedTables {
    /// Tables a previous stage left in memory, at `rsdp`: where the rest lies is not known.
    pub(super) fn in_memory(rsdp: u64) -> PlacedTables {
        PlacedTables { rsdp: Some(rsdp), reserved: Range::default(), tpm_log: None }
    }
}

impl<F: FwCfgIo + ?Sized, P: Platform + ?Sized> Boot<'_, F, P> {
    /// Programs what QEMU builds its ACPI tables from, which it does when the loader script is
    /// first read.
    pub(super) fn set_up_chipset(&mut self) -> Chipset {
        let chipset = Chipset::detect(self.platform);
        chipset.setup(self.platform);
        chipset
    }

    /// Reads what QEMU publishes for the tables.
    pub(super) fn read_tables<'s>(
        &mut self,
        files: &Files,
        chipset: Chipset,
        dir: &'s mut [u8; fw_cfg::DIR_BYTES],
        buf: &'s mut [u8; table_loader::MAX_SCRIPT],
    ) -> Result<Published<'s>, Error> {
        let (dir, script) = self.read_loader_script(files.loader, chipset, dir, buf)?;
        let smbios = files.smbios_anchor.and_then(|anchor| Some(Smbios::new(anchor, dir.find(&smbios::TABLES)?)));
        Ok(Published { dir, script, smbios })
    }

    /// Reads `etc/table-loader`, if QEMU has ACPI tables for this machine, and returns the
    /// directory as it stands afterwards. On `pc` and `q35` the first read of an ACPI file makes
    /// QEMU rebuild the tables, which can change their sizes (a DSDT growing past the 128 KiB
    /// padding): the directory is read again then, and the script too if its size changed.
    fn read_loader_script<'s>(
        &mut self,
        file: Option<File>,
        chipset: Chipset,
        dir: &'s mut [u8; fw_cfg::DIR_BYTES],
        buf: &'s mut [u8; table_loader::MAX_SCRIPT],
    ) -> Result<(Directory<'s>, Option<&'s [u8]>), Error> {
        let Some(mut file) = file else { return Ok((Directory::parse(dir), None)) };
        self.read_file_into(file, buf)?;
        if !chipset.rebuilds_acpi_on_first_read() {
            return Ok((Directory::parse(dir), Some(&buf[..file.size as usize])));
        }
        let dir = fw_cfg::read_directory(self.io, dir)?;
        let fresh = dir.find(&table_loader::LOADER).ok_or(Error::MissingFile { name: table_loader::LOADER_FILE })?;
        if fresh.size != file.size {
            file = fresh;
            self.read_file_into(file, buf)?;
        }
        Ok((dir, Some(&buf[..file.size as usize])))
    }

    /// Reads the loader script `file` into the start of `buf`.
    fn read_file_into(&mut self, file: File, buf: &mut [u8; table_loader::MAX_SCRIPT]) -> Result<(), Error> {
        let script = buf.get_mut(..file.size as usize).ok_or(Error::TooLarge {
            what: table_loader::LOADER_FILE,
            size: file.size.into(),
            max: table_loader::MAX_SCRIPT as u64,
        })?;
        self.io.read(file.select, script)
    }

    /// ACPI and SMBIOS in the window below 640 KiB, before the memory map exists: the common
    /// case, one pass over the script. `None` when the window is not free RAM or the tables do
    /// not fit; [`Self::tables_at_top`] then places them once the map is known.
    pub(super) fn tables_below_640k(
        &mut self,
        t: &Tables,
        regions: &e820::Regions,
    ) -> Result<Option<PlacedTables>, Error> {
        let usable =
            !t.avoid.iter().any(|a| a.overlaps(&LOW_TABLES)) && e820::is_free_ram(regions.as_slice(), LOW_TABLES);
        if !t.any() || !usable {
            return Ok(None);
        }
        match self.place_tables(t, LOW_TABLES) {
            Ok(placed) => Ok(Some(placed)),
            Err(Error::NoRoomForTables { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// ACPI and SMBIOS in one block carved from the top of free RAM below 4 GiB, sized from a
    /// pass over the script. Returns the RSDP's address.
    pub(super) fn tables_at_top(
        &mut self,
        t: &Tables,
        memmap: &mut [MemmapEntry; MAX_MEMMAP],
        map_len: &mut usize,
    ) -> Result<Option<PlacedTables>, Error> {
        if !t.any() {
            return Ok(None);
        }
        let needs = match t.script {
            Some(s) => table_loader::needs(s, t.dir)?,
            None => Needs::default(),
        };
        let smbios = t.smbios.as_ref().map_or(0, |s| table_memory::worst_case(s.tables_size(), smbios::TABLES_ALIGN));
        let size = page_up(needs.high.saturating_add(smbios));
        let block = table_memory::find_high(&memmap[..*map_len], size, needs.high_align.max(PAGE), t.avoid)?;
        let placed = self.place_tables(t, block)?;
        *map_len = e820::carve(memmap, *map_len, placed.reserved, e820::RESERVED)?;
        Ok(Some(placed))
    }

    /// Runs the table loader and installs SMBIOS, with high-zone allocations in `high`.
    fn place_tables(&mut self, t: &Tables, high_zone: Range) -> Result<PlacedTables, Error> {
        t.chipset.enable_f_segment_ram(self.platform);
        let (mut high, mut f_segment) = (Bump::new(high_zone), Bump::new(F_SEGMENT_WINDOW));
        let loaded = match t.script {
            Some(s) => table_loader::run(
                s,
                t.dir,
                self.io,
                self.platform,
                Zones { high: &mut high, f_segment: &mut f_segment },
            )?,
            None => Default::default(),
        };
        let rsdp = loaded.rsdp;
        if let Some(at) = rsdp {
            check_rsdp(self.platform, at, [high.used(), f_segment.used()])?;
        }
        self.phase("ACPI");
        if let Some(s) = &t.smbios {
            let anchor = s.install(self.io, self.platform, &mut high, &mut f_segment)?;
            if let Some(l) = self.info() {
                l.str("SMBIOS entry point at ").hex(anchor).end();
            }
        }
        self.phase("SMBIOS");
        let used = high.used();
        let reserved = Range { start: used.start, end: page_up(used.end) };
        if let Some(l) = self.info() {
            l.str("tables at ")
                .hex(reserved.start)
                .str("-")
                .hex(reserved.end)
                .str(", RSDP at ")
                .hex(rsdp.unwrap_or(0))
                .end();
        }
        Ok(PlacedTables { rsdp, reserved, tpm_log: loaded.tpm_log })
    }

    /// An MP table naming every boot CPU, the IOAPIC, the ISA and the PCI interrupts.
    /// With ACPI tables (`placed`), the CPUs and the IRQ 0 override come from their MADT, else
    /// from fw_cfg. Always inlined (see [`Boot::prepare`]).
    #[inline(always)]
    pub(super) fn mptable(&mut self, placed: Option<PlacedTables>, chipset: Chipset) -> Result<(), Error> {
        let (cpus, irq0_to_pin2) = match placed.and_then(|p| self.madt(p)) {
            Some(madt) => (madt.enabled.max(1), madt.irq0_to_pin2),
            None => {
                let mut cpus = [0u8; 2];
                self.io.read(key::NB_CPUS, &mut cpus)?;
                (u16::from_le_bytes(cpus).max(1).into(), fw_cfg::read_u32(self.io, key::IRQ0_OVERRIDE)? != 0)
            }
        };
        let topology = Topology::from_cpuid(self.platform);
        let [signature, _, _, features] = self.platform.cpuid(1, 0);
        let machine = mptable::Machine { cpus, topology, signature, features, irq0_to_pin2, chipset };
        let built = mptable::build(self.platform.phys(MP_TABLE), &machine);
        if built.cpus < cpus {
            Line::new(self.con)
                .str("warning: MP table names ")
                .dec(built.cpus.into())
                .str(" of ")
                .dec(cpus.into())
                .str(" CPUs")
                .end();
        }
        Ok(())
    }

    /// The MADT of the tables just placed, through their RSDP (which is in the F segment).
    /// Not for tables a previous stage placed (`reserved` is empty): where they are is not
    /// known to be one block.
    fn madt(&mut self, placed: PlacedTables) -> Option<madt::Cpus> {
        let rsdp = placed.rsdp.filter(|_| !placed.reserved.is_empty())?;
        let mut rsdp_copy = [0u8; 36];
        // Up to 36 bytes (an RSDP of revision 2), as far as the window goes.
        let end = rsdp.checked_add(36)?.min(F_SEGMENT_WINDOW.end);
        if rsdp < F_SEGMENT_WINDOW.start || end <= rsdp {
            return None;
        }
        let rsdp_bytes = Range { start: rsdp, end };
        let len = (rsdp_bytes.end - rsdp_bytes.start) as usize;
        rsdp_copy[..len].copy_from_slice(self.platform.phys(rsdp_bytes));
        let tables = madt::Tables { base: placed.reserved.start, bytes: self.platform.phys(placed.reserved) };
        madt::cpus(&rsdp_copy[..len], &tables)
    }
}

/// Refuses a broken RSDP at `at` (the kernel trusts the one it is pointed at), which must lie
/// in what the loader allocated (`used`: the high zone's and the F segment's): a length that
/// runs past it would have the kernel read RAM that is not the tables'. Out of line, so that
/// the loader's code around it is built as without it.
#[inline(never)]
fn check_rsdp<P: Platform + ?Sized>(platform: &mut P, at: u64, used: [Range; 2]) -> Result<(), Error> {
    let [high, f_segment] = used;
    let zone = if (F_SEGMENT_WINDOW.start..F_SEGMENT_WINDOW.end).contains(&at) { f_segment } else { high };
    let problem = match (zone.start..zone.end).contains(&at) {
        true => rsdp_problem(platform.phys(Range { start: at, end: zone.end })),
        false => Some("it lies outside the tables' memory"),
    };
    match problem {
        Some(problem) => Err(Error::BadRsdp { addr: at, problem }),
        None => Ok(()),
    }
}

/// What is wrong with the RSDP at the start of `bytes` (which run to the end of its memory),
/// if anything: its signature, its checksum over the first 20 bytes, and from revision 2 its
/// length and its extended checksum over that length (ACPI 6.5, 5.2.5.3). The sums are plain
/// byte loops over 20 and 16 bytes: calling `checksum::sum` here, LLVM stops inlining it where
/// the table loader and SMBIOS sum whole tables, which costs more (measured).
fn rsdp_problem(bytes: &[u8]) -> Option<&'static str> {
    let Some(first) = bytes.get(..20) else { return Some("it lies across the end of its memory") };
    if first[..8] != *b"RSD PTR " {
        return Some("its signature is not \"RSD PTR \"");
    }
    if first.iter().fold(0u8, |s, &b| s.wrapping_add(b)) != 0 {
        return Some("its checksum is wrong");
    }
    if first[15] < 2 {
        return None;
    }
    // Past the first 20 bytes, which sum to 0 themselves.
    let len = bytes.get(20..24).map_or(0, |l| u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize);
    match bytes.get(20..len).filter(|_| len >= 36) {
        None => Some("its length is wrong"),
        Some(rest) if rest.iter().fold(0u8, |s, &b| s.wrapping_add(b)) != 0 => Some("its extended checksum is wrong"),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::rsdp_problem;

    #[test]
    fn rsdp_checks() {
        let mut v2 = [0u8; 40];
        v2[..8].copy_from_slice(b"RSD PTR ");
        v2[15] = 2;
        v2[20] = 36;
        crate::checksum::fix(&mut v2[..20], 8);
        crate::checksum::fix(&mut v2[..36], 32);
        assert_eq!(rsdp_problem(&v2), None);
        assert_eq!(rsdp_problem(&v2[..36]), None);
        assert_eq!(rsdp_problem(&v2[..35]), Some("its length is wrong"));
        let mut bad = v2;
        bad[33] ^= 1;
        assert_eq!(rsdp_problem(&bad), Some("its extended checksum is wrong"));
        bad = v2;
        bad[10] ^= 1;
        assert_eq!(rsdp_problem(&bad), Some("its checksum is wrong"));
        bad[0] = b'X';
        assert_eq!(rsdp_problem(&bad), Some("its signature is not \"RSD PTR \""));
        assert_eq!(rsdp_problem(&v2[..19]), Some("it lies across the end of its memory"));
        // Revision 0: 20 bytes, whatever follows.
        let mut v0 = v2;
        v0[15] = 0;
        crate::checksum::fix(&mut v0[..20], 8);
        v0[33] ^= 1;
        assert_eq!(rsdp_problem(&v0[..20]), None);
        assert_eq!(rsdp_problem(&v0), None);
    }
}
