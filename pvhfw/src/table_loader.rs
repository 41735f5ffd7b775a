//! QEMU's ACPI table loader (`etc/table-loader`): a script of 128-byte commands that says which
//! fw_cfg files to place in guest memory and how to link them (QEMU's `bios-linker-loader.c`).
//!
//! The script is untrusted input: every name must be a file the directory has, every offset
//! and length must stay inside its file, every pointer must fit its field. A script that breaks
//! any rule is refused as a whole with the index of the offending command.

use crate::checksum;
use crate::fw_cfg::{Directory, File, FileName, FwCfgIo, NameKey};
use crate::platform::Platform;
use crate::table_memory::{self, Bump};
use crate::{Error, Range};
use zerocopy::little_endian::U32;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

pub const LOADER_FILE: &str = "etc/table-loader";
pub const LOADER: NameKey = NameKey::new_const(&FileName::new(LOADER_FILE));
/// The file holding the RSDP; where it lands is what the kernel gets as `rsdp_paddr`.
const RSDP: FileName = FileName::new("etc/acpi/rsdp");
/// The TPM's event log area, which QEMU allocates (and its TPM2 table points at) only when the
/// machine has a TPM.
const TPM_LOG: FileName = FileName::new("etc/tpm/log");

/// What a script placed that the boot uses further.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Placed {
    /// Where the RSDP went.
    pub rsdp: Option<u64>,
    /// The TPM event log's area, if the machine has a TPM.
    pub tpm_log: Option<Range>,
}
/// Largest script accepted: 128 commands (QEMU sends 13 to about 30).
pub const MAX_SCRIPT: usize = 16 * 1024;
pub const COMMAND_SIZE: usize = 128;
/// Files one script may allocate (QEMU's x86 scripts: RSDP and tables, and with the devices
/// that need them a TPM log, the vmgenid buffer, NVDIMM's DSM buffer).
const MAX_ALLOCATIONS: usize = 6;

/// Command 1: load a whole file into memory.
#[repr(C)]
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
struct Allocate {
    file: FileName,
    align: U32,
    zone: u8,
}

/// Command 2: add the address of `src` to the `size`-byte integer at `dest + offset`.
#[repr(C)]
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
struct AddPointer {
    dest: FileName,
    src: FileName,
    offset: U32,
    size: u8,
}

/// Command 3: set the byte at `offset` so that `[start, start + length)` sums to zero.
#[repr(C)]
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
struct AddChecksum {
    file: FileName,
    offset: U32,
    start: U32,
    length: U32,
}

/// Command 4: write the address of `src + src_offset` into the fw_cfg file `dest` at
/// `dst_offset` (QEMU learns where e.g. the vmgenid buffer went).
#[repr(C)]
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
struct WritePointer {
    dest: FileName,
    src: FileName,
    dst_offset: U32,
    src_offset: U32,
    size: u8,
}

enum Command<'a> {
    Allocate(&'a Allocate),
    AddPointer(&'a AddPointer),
    AddChecksum(&'a AddChecksum),
    WritePointer(&'a WritePointer),
    /// 0 is padding; anything else is a command this firmware does not know (ignored, as
    /// SeaBIOS does, so a newer QEMU does not stop the boot).
    Other,
}

/// Zones of an ALLOCATE command.
pub const ZONE_HIGH: u8 = 1;
pub const ZONE_F_SEGMENT: u8 = 2;

fn commands(script: &[u8]) -> impl Iterator<Item = (u16, Command<'_>)> {
    script.chunks_exact(COMMAND_SIZE).enumerate().map(|(i, c)| {
        let (kind, body) = U32::read_from_prefix(c).unwrap_or_default();
        let command = match kind.get() {
            1 => Allocate::ref_from_prefix(body).map(|(a, _)| Command::Allocate(a)).ok(),
            2 => AddPointer::ref_from_prefix(body).map(|(a, _)| Command::AddPointer(a)).ok(),
            3 => AddChecksum::ref_from_prefix(body).map(|(a, _)| Command::AddChecksum(a)).ok(),
            4 => WritePointer::ref_from_prefix(body).map(|(a, _)| Command::WritePointer(a)).ok(),
            _ => None,
        };
        (i as u16, command.unwrap_or(Command::Other))
    })
}

/// What the script asks of memory, for choosing where the tables go before running it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Needs {
    /// Bytes of high memory, with room for every alignment.
    pub high: u64,
    /// The largest alignment a high allocation asks for.
    pub high_align: u64,
}

/// One command's problem, with its index in the script.
fn bad(index: u16, problem: &'static str) -> Error {
    Error::TableLoader { index, problem }
}

fn check_align(index: u16, align: u32) -> Result<u64, Error> {
    let align = u64::from(align.max(1));
    if !align.is_power_of_two() || align > table_memory::MAX_ALIGN {
        return Err(bad(index, "alignment is not a power of two up to 64 KiB"));
    }
    Ok(align)
}

/// Checks every ALLOCATE against the directory and sums the memory they need, so the caller
/// can choose where the tables go before anything is loaded.
pub fn needs(script: &[u8], dir: &Directory) -> Result<Needs, Error> {
    let mut n = Needs { high_align: 1, ..Needs::default() };
    let mut count = 0;
    for (i, c) in commands(script) {
        let Command::Allocate(a) = c else { continue };
        let (file, align) = resolve(i, a, dir, count)?;
        count += 1;
        let bytes = table_memory::worst_case(file.size.into(), align);
        if a.zone == ZONE_HIGH {
            (n.high, n.high_align) = (n.high.saturating_add(bytes), n.high_align.max(align));
        }
    }
    Ok(n)
}

/// Checks ALLOCATE number `count` (from 0) of a script: its file, alignment and zone.
fn resolve(i: u16, a: &Allocate, dir: &Directory, count: usize) -> Result<(File, u64), Error> {
    let file = dir.find_name(&a.file).ok_or(bad(i, "allocates a file fw_cfg does not have"))?;
    if count >= MAX_ALLOCATIONS {
        return Err(bad(i, "allocates more than 6 files"));
    }
    if a.zone != ZONE_HIGH && a.zone != ZONE_F_SEGMENT {
        return Err(bad(i, "allocates in an unknown zone"));
    }
    Ok((file, check_align(i, a.align.get())?))
}

/// Runs the script: loads files with fw_cfg DMA, patches pointers and checksums in place.
/// Returns where the RSDP and the TPM log went, if the script placed them. When the high area is too small the
/// error is [`Error::NoRoomForTables`], so the caller can try a larger one.
pub fn run(
    script: &[u8],
    dir: &Directory,
    io: &mut (impl FwCfgIo + ?Sized),
    p: &mut (impl Platform + ?Sized),
    mut areas: Zones,
) -> Result<Placed, Error> {
    let empty = LoadedFile::new(&EMPTY_NAME, 0, Range::default());
    let mut placed = Loaded { files: [empty; MAX_ALLOCATIONS], len: 0 };
    for (i, command) in commands(script) {
        match command {
            Command::Allocate(a) => allocate(i, a, dir, io, p, &mut placed, &mut areas)?,
            Command::AddPointer(a) => add_pointer(i, a, &placed, p)?,
            Command::AddChecksum(a) => add_checksum(i, a, &placed, p)?,
            Command::WritePointer(w) => write_pointer(i, w, dir, &placed, io)?,
            Command::Other => {}
        }
    }
    Ok(placed.rsdp_and_tpm_log())
}

const EMPTY_NAME: FileName = FileName([0; 56]);

/// A file placed in memory, with its name's [`FileName::head`] for quick lookups.
#[derive(Clone, Copy)]
struct LoadedFile<'a> {
    name: &'a FileName,
    head: [u64; 2],
    /// The name [`FileName::ends_in_head`].
    short: bool,
    /// The fw_cfg file it came from.
    select: u16,
    range: Range,
}

impl<'a> LoadedFile<'a> {
    fn new(name: &'a FileName, select: u16, range: Range) -> LoadedFile<'a> {
        LoadedFile { name, head: name.head(), short: name.ends_in_head(), select, range }
    }
}

/// Where the script's files went.
struct Loaded<'a> {
    files: [LoadedFile<'a>; MAX_ALLOCATIONS],
    len: usize,
}

impl Loaded<'_> {
    /// Every command names one or two files, so this runs a few dozen times per boot: the
    /// [`FileName::head`] fast path first (measured: ~800 instructions a boot less than
    /// a [`NameKey`] per loaded file), then the exact comparison.
    #[inline]
    fn find(&self, name: &FileName) -> Option<Range> {
        let files = &self.files[..self.len];
        let head = name.head();
        match files.iter().rev().find(|f| f.short && f.head == head) {
            Some(f) => Some(f.range),
            None => Self::find_by_c_string(files, name),
        }
    }

    /// Where the RSDP and the TPM log went, in one pass: most machines have no TPM, and a
    /// search of its own cost them some 30 instructions (measured). By the names' heads, which
    /// hold the NULs of both (QEMU pads names with NULs); an RSDP named otherwise is then
    /// found as [`Self::find`] would.
    fn rsdp_and_tpm_log(&self) -> Placed {
        let files = &self.files[..self.len];
        let (mut rsdp, mut tpm_log) = (None, None);
        for f in files {
            if f.head == RSDP.head() {
                rsdp = Some(f.range);
            } else if f.head == TPM_LOG.head() {
                tpm_log = Some(f.range);
            }
        }
        let rsdp = rsdp.or_else(|| Self::find_by_c_string(files, &RSDP));
        Placed { rsdp: rsdp.map(|r| r.start), tpm_log }
    }

    /// The exact comparison, for names with bytes after their NUL or longer than 16 bytes,
    /// and for misses. Kept out of line so the fast path above needs no saved registers.
    #[cold]
    #[inline(never)]
    fn find_by_c_string(files: &[LoadedFile], name: &FileName) -> Option<Range> {
        let key = NameKey::new(name);
        files.iter().find(|f| key.matches(f.name)).map(|f| f.range)
    }
}

/// The memory a script may place files in.
pub struct Zones<'m> {
    pub high: &'m mut Bump,
    pub f_segment: &'m mut Bump,
}

fn allocate<'s>(
    i: u16,
    a: &'s Allocate,
    dir: &Directory,
    io: &mut (impl FwCfgIo + ?Sized),
    p: &mut (impl Platform + ?Sized),
    placed: &mut Loaded<'s>,
    areas: &mut Zones,
) -> Result<(), Error> {
    let (file, align) = resolve(i, a, dir, placed.len)?;
    // Two names of one file resolve to one directory entry.
    if placed.files[..placed.len].iter().any(|f| f.select == file.select) {
        return Err(bad(i, "allocates a file twice"));
    }
    let size = u64::from(file.size);
    let range = if a.zone == ZONE_HIGH {
        areas.high.alloc(size, align).ok_or(Error::NoRoomForTables { size })?
    } else {
        areas.f_segment.alloc(size, align).ok_or(bad(i, "does not fit in the F segment"))?
    };
    if !range.is_empty() {
        io.read(file.select, p.phys(range))?;
    }
    // `resolve` checked that a slot is left.
    placed.files[placed.len] = LoadedFile::new(&a.file, file.select, range);
    placed.len += 1;
    Ok(())
}

/// `[offset, offset + size)` inside `file`, for a pointer of 1, 2, 4 or 8 bytes.
fn field(i: u16, file: Range, offset: u32, size: u8) -> Result<Range, Error> {
    if !matches!(size, 1 | 2 | 4 | 8) {
        return Err(bad(i, "pointer size is not 1, 2, 4 or 8"));
    }
    let start = file.start + u64::from(offset);
    let r = Range { start, end: start + u64::from(size) };
    if r.end > file.end {
        return Err(bad(i, "pointer lies outside its file"));
    }
    Ok(r)
}

/// `value`, if it fits in a `size`-byte field.
fn fit(i: u16, value: u64, size: u8) -> Result<u64, Error> {
    if size < 8 && value >> (8 * u32::from(size)) != 0 {
        return Err(bad(i, "pointer value does not fit its field"));
    }
    Ok(value)
}

/// A little-endian field of 1, 2, 4 or 8 bytes, with fixed-width loads (a variable-length
/// copy would be a memcpy call per pointer).
fn read_le(bytes: &[u8]) -> u64 {
    if let Ok(b) = <[u8; 8]>::try_from(bytes) {
        u64::from_le_bytes(b)
    } else if let Ok(b) = <[u8; 4]>::try_from(bytes) {
        u32::from_le_bytes(b).into()
    } else if let Ok(b) = <[u8; 2]>::try_from(bytes) {
        u16::from_le_bytes(b).into()
    } else {
        bytes.first().copied().unwrap_or(0).into()
    }
}

fn write_le(bytes: &mut [u8], value: u64) {
    if let Ok(b) = <&mut [u8; 8]>::try_from(&mut *bytes) {
        *b = value.to_le_bytes();
    } else if let Ok(b) = <&mut [u8; 4]>::try_from(&mut *bytes) {
        *b = (value as u32).to_le_bytes();
    } else if let Ok(b) = <&mut [u8; 2]>::try_from(&mut *bytes) {
        *b = (value as u16).to_le_bytes();
    } else if let [b] = bytes {
        *b = value as u8;
    }
}

#[inline(always)]
fn placed_file(i: u16, placed: &Loaded, name: &FileName) -> Result<Range, Error> {
    placed.find(name).ok_or(bad(i, "refers to a file not allocated before"))
}

fn add_pointer(i: u16, a: &AddPointer, placed: &Loaded, p: &mut (impl Platform + ?Sized)) -> Result<(), Error> {
    let dest = placed_file(i, placed, &a.dest)?;
    let src = placed_file(i, placed, &a.src)?;
    let at = field(i, dest, a.offset.get(), a.size)?;
    let bytes = p.phys(at);
    let sum = read_le(bytes).checked_add(src.start).ok_or(bad(i, "pointer value does not fit its field"))?;
    write_le(bytes, fit(i, sum, a.size)?);
    Ok(())
}

fn add_checksum(i: u16, a: &AddChecksum, placed: &Loaded, p: &mut (impl Platform + ?Sized)) -> Result<(), Error> {
    let file = placed_file(i, placed, &a.file)?;
    let start = file.start + u64::from(a.start.get());
    let range = Range { start, end: start + u64::from(a.length.get()) };
    let at = file.start + u64::from(a.offset.get());
    if !file.contains(&range) || !range.contains(&Range { start: at, end: at + 1 }) {
        return Err(bad(i, "checksum range lies outside its file"));
    }
    checksum::fix(p.phys(range), (at - range.start) as usize);
    Ok(())
}

fn write_pointer(
    i: u16,
    w: &WritePointer,
    dir: &Directory,
    placed: &Loaded,
    io: &mut (impl FwCfgIo + ?Sized),
) -> Result<(), Error> {
    let dest: File = dir.find_name(&w.dest).ok_or(bad(i, "writes to a file fw_cfg does not have"))?;
    let src = placed_file(i, placed, &w.src)?;
    let dest_range = Range { start: 0, end: dest.size.into() };
    let at = field(i, dest_range, w.dst_offset.get(), w.size)?;
    if u64::from(w.src_offset.get()) > src.end - src.start {
        return Err(bad(i, "pointer lies outside its file"));
    }
    let value = fit(i, src.start + u64::from(w.src_offset.get()), w.size)?.to_le_bytes();
    io.write(dest.select, at.start as u32, &value[..usize::from(w.size)])
}

/// Commands in their wire format, for hand-written scripts: the unit tests' and the host
/// tool's failure boots.
pub mod encode {
    use super::*;

    /// A command of any kind (0 is padding) with `body` after its kind.
    pub fn command(kind: u32, body: &[u8]) -> [u8; COMMAND_SIZE] {
        let mut c = [0u8; COMMAND_SIZE];
        c[..4].copy_from_slice(&kind.to_le_bytes());
        c[4..4 + body.len()].copy_from_slice(body);
        c
    }

    pub fn allocate(file: &str, align: u32, zone: u8) -> [u8; COMMAND_SIZE] {
        command(1, Allocate { file: FileName::new(file), align: U32::new(align), zone }.as_bytes())
    }

    pub fn add_pointer(dest: &str, src: &str, offset: u32, size: u8) -> [u8; COMMAND_SIZE] {
        let a = AddPointer { dest: FileName::new(dest), src: FileName::new(src), offset: U32::new(offset), size };
        command(2, a.as_bytes())
    }

    pub fn add_checksum(file: &str, offset: u32, start: u32, length: u32) -> [u8; COMMAND_SIZE] {
        let (offset, start, length) = (U32::new(offset), U32::new(start), U32::new(length));
        command(3, AddChecksum { file: FileName::new(file), offset, start, length }.as_bytes())
    }

    pub fn write_pointer(dest: &str, src: &str, dst_offset: u32, src_offset: u32, size: u8) -> [u8; COMMAND_SIZE] {
        let (dest, src) = (FileName::new(dest), FileName::new(src));
        let (dst_offset, src_offset) = (U32::new(dst_offset), U32::new(src_offset));
        command(4, WritePointer { dest, src, dst_offset, src_offset, size }.as_bytes())
    }
}

#[cfg(test)]
mod tests;
