//! QEMU's ACPI table loader (`etc/table-loader`): a script of 128-byte commands that says which
//! fw_cfg files to place in guest memory and how to link them (QEMU's `bios-linker-loader.c`).
//!
//! The script is untrusted input: every name must be a file the directory has, every offset
//! and length must stay inside its file, every pointer must fit its field. A script that breaks
//! any rule is refused as a whole with the index of the offending command.

use crate::checksum;
use crate::fw_cfg::{Directory, File, FwCfgIo};
use crate::platform::Platform;
use crate::table_memory::{self, Area};
use crate::{Error, Range};
use zerocopy::little_endian::U32;
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

pub const LOADER_FILE: &str = "etc/table-loader";
/// The file holding the RSDP; where it lands is what the kernel gets as `rsdp_paddr`.
pub const RSDP_FILE: &str = "etc/acpi/rsdp";
/// Largest script accepted: 128 commands (QEMU sends 13 to about 30).
pub const MAX_SCRIPT: usize = 16 * 1024;
const COMMAND_SIZE: usize = 128;
/// Files one script may allocate (QEMU: up to 4 or so).
const MAX_FILES: usize = 16;

type FileName = [u8; 56];

/// Command 1: load a whole file into memory.
#[repr(C)]
#[derive(FromBytes, KnownLayout, Immutable, Unaligned)]
struct Allocate {
    file: FileName,
    align: U32,
    zone: u8,
}

/// Command 2: add the address of `src` to the `size`-byte integer at `dest + offset`.
#[repr(C)]
#[derive(FromBytes, KnownLayout, Immutable, Unaligned)]
struct AddPointer {
    dest: FileName,
    src: FileName,
    offset: U32,
    size: u8,
}

/// Command 3: set the byte at `offset` so that `[start, start + length)` sums to zero.
#[repr(C)]
#[derive(FromBytes, KnownLayout, Immutable, Unaligned)]
struct AddChecksum {
    file: FileName,
    offset: U32,
    start: U32,
    length: U32,
}

/// Command 4: write the address of `src + src_offset` into the fw_cfg file `dest` at
/// `dst_offset` (QEMU learns where e.g. the vmgenid buffer went).
#[repr(C)]
#[derive(FromBytes, KnownLayout, Immutable, Unaligned)]
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
const ZONE_HIGH: u8 = 1;
const ZONE_F_SEGMENT: u8 = 2;

fn commands(script: &[u8]) -> impl Iterator<Item = (u16, Command<'_>)> {
    script.chunks_exact(COMMAND_SIZE).enumerate().map(|(i, c)| {
        let (kind, body) = c.split_at(4);
        let command = match kind {
            [1, 0, 0, 0] => Allocate::ref_from_prefix(body).map(|(a, _)| Command::Allocate(a)).ok(),
            [2, 0, 0, 0] => AddPointer::ref_from_prefix(body).map(|(a, _)| Command::AddPointer(a)).ok(),
            [3, 0, 0, 0] => AddChecksum::ref_from_prefix(body).map(|(a, _)| Command::AddChecksum(a)).ok(),
            [4, 0, 0, 0] => WritePointer::ref_from_prefix(body).map(|(a, _)| Command::WritePointer(a)).ok(),
            _ => None,
        };
        (i as u16, command.unwrap_or(Command::Other))
    })
}

/// A file name: up to its first NUL (all 56 bytes if there is none).
fn name(raw: &FileName) -> &[u8] {
    let len = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    &raw[..len]
}

/// What the script asks of memory, for choosing where the tables go before running it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Needs {
    /// Bytes of high memory, with room for every alignment.
    pub high: u64,
    /// The largest alignment a high allocation asks for.
    pub high_align: u64,
    /// Bytes of the F segment window, likewise.
    pub f_segment: u64,
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

/// Sums the memory every ALLOCATE needs.
pub fn needs(script: &[u8], dir: &Directory) -> Result<Needs, Error> {
    let mut n = Needs { high: 0, high_align: 1, f_segment: 0 };
    for (i, c) in commands(script) {
        let Command::Allocate(a) = c else { continue };
        let file = dir.find_bytes(name(&a.file)).ok_or(bad(i, "allocates a file fw_cfg does not have"))?;
        let align = check_align(i, a.align.get())?;
        let bytes = table_memory::worst_case(file.size.into(), align);
        match a.zone {
            ZONE_HIGH => {
                n.high = n.high.saturating_add(bytes);
                n.high_align = n.high_align.max(align);
            }
            ZONE_F_SEGMENT => n.f_segment = n.f_segment.saturating_add(bytes),
            _ => return Err(bad(i, "allocates in an unknown zone")),
        }
    }
    Ok(n)
}

/// A file placed in memory.
#[derive(Clone, Copy)]
struct Placed<'a> {
    name: &'a [u8],
    range: Range,
}

/// Where the script's files went.
pub struct Placement<'a> {
    files: [Placed<'a>; MAX_FILES],
    len: usize,
}

impl<'a> Placement<'a> {
    fn find(&self, name: &[u8]) -> Option<Range> {
        self.files[..self.len].iter().find(|f| f.name == name).map(|f| f.range)
    }

    /// Where the RSDP went, if the script placed one.
    pub fn rsdp(&self) -> Option<u64> {
        self.find(RSDP_FILE.as_bytes()).map(|r| r.start)
    }
}

/// The memory a script may place files in.
pub struct Areas<'m> {
    pub high: &'m mut Area,
    pub f_segment: &'m mut Area,
}

/// Runs the script: loads files with fw_cfg DMA, patches pointers and checksums in place.
pub fn run<'s>(
    script: &'s [u8],
    dir: &Directory,
    io: &mut dyn FwCfgIo,
    p: &mut dyn Platform,
    mut areas: Areas,
) -> Result<Placement<'s>, Error> {
    let empty = Placed { name: &[], range: Range::default() };
    let mut placed = Placement { files: [empty; MAX_FILES], len: 0 };
    for (i, command) in commands(script) {
        match command {
            Command::Allocate(a) => allocate(i, a, dir, io, p, &mut placed, &mut areas)?,
            Command::AddPointer(a) => add_pointer(i, a, &placed, p)?,
            Command::AddChecksum(a) => add_checksum(i, a, &placed, p)?,
            Command::WritePointer(w) => write_pointer(i, w, dir, &placed, io)?,
            Command::Other => {}
        }
    }
    Ok(placed)
}

fn allocate<'s>(
    i: u16,
    a: &'s Allocate,
    dir: &Directory,
    io: &mut dyn FwCfgIo,
    p: &mut dyn Platform,
    placed: &mut Placement<'s>,
    areas: &mut Areas,
) -> Result<(), Error> {
    let file_name = name(&a.file);
    let file = dir.find_bytes(file_name).ok_or(bad(i, "allocates a file fw_cfg does not have"))?;
    if placed.find(file_name).is_some() {
        return Err(bad(i, "allocates a file twice"));
    }
    let slot = placed.files.get_mut(placed.len).ok_or(bad(i, "allocates more than 16 files"))?;
    let align = check_align(i, a.align.get())?;
    let area = match a.zone {
        ZONE_HIGH => &mut *areas.high,
        ZONE_F_SEGMENT => &mut *areas.f_segment,
        _ => return Err(bad(i, "allocates in an unknown zone")),
    };
    let range = area.alloc(file.size.into(), align).ok_or(bad(i, "does not fit in its zone"))?;
    if !range.is_empty() {
        io.read(file.select, p.phys(range))?;
    }
    *slot = Placed { name: file_name, range };
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

/// `value` as a `size`-byte little-endian integer, if it fits.
fn fit(i: u16, value: u64, size: u8) -> Result<[u8; 8], Error> {
    if size < 8 && value >> (8 * u32::from(size)) != 0 {
        return Err(bad(i, "pointer value does not fit its field"));
    }
    Ok(value.to_le_bytes())
}

fn placed_file(i: u16, placed: &Placement, raw: &FileName) -> Result<Range, Error> {
    placed.find(name(raw)).ok_or(bad(i, "refers to a file not allocated before"))
}

fn add_pointer(i: u16, a: &AddPointer, placed: &Placement, p: &mut dyn Platform) -> Result<(), Error> {
    let dest = placed_file(i, placed, &a.dest)?;
    let src = placed_file(i, placed, &a.src)?;
    let at = field(i, dest, a.offset.get(), a.size)?;
    let bytes = p.phys(at);
    let mut value = [0u8; 8];
    value[..bytes.len()].copy_from_slice(bytes);
    let sum = u64::from_le_bytes(value).checked_add(src.start).ok_or(bad(i, "pointer value does not fit its field"))?;
    let new = fit(i, sum, a.size)?;
    bytes.copy_from_slice(&new[..bytes.len()]);
    Ok(())
}

fn add_checksum(i: u16, a: &AddChecksum, placed: &Placement, p: &mut dyn Platform) -> Result<(), Error> {
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
    placed: &Placement,
    io: &mut dyn FwCfgIo,
) -> Result<(), Error> {
    let dest: File = dir.find_bytes(name(&w.dest)).ok_or(bad(i, "writes to a file fw_cfg does not have"))?;
    let src = placed_file(i, placed, &w.src)?;
    let dest_range = Range { start: 0, end: dest.size.into() };
    let at = field(i, dest_range, w.dst_offset.get(), w.size)?;
    if u64::from(w.src_offset.get()) > src.end - src.start {
        return Err(bad(i, "pointer lies outside its file"));
    }
    let value = fit(i, src.start + u64::from(w.src_offset.get()), w.size)?;
    io.write(dest.select, at.start as u32, &value[..usize::from(w.size)])
}

#[cfg(test)]
mod tests;
