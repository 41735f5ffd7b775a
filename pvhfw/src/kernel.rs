//! What kind of kernel QEMU was given, judged from the head of its file.
//!
//! QEMU publishes the first bytes of the `-kernel` file as the setup data: for a bzImage the
//! real-mode header (with "HdrS" at 0x202), for a PVH ELF the ELF header. A multiboot kernel
//! gets no setup data at all.

use crate::Range;

/// Bytes of the setup data read: enough to tell the formats apart, for a bzImage's whole setup
/// header and for a PVH ELF's header with a dozen or more program headers.
pub const HEAD_BYTES: usize = 0x400;

/// Where a PVH ELF's loadable segments lie, from its program headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ElfLoad {
    /// From the lowest segment's physical address to the highest's end (QEMU's own
    /// `KERNEL_SIZE` is a 32-bit difference that wraps for a segment above 4 GiB).
    pub range: Range,
    /// Whether the entry lies in one of them.
    pub entry_in_segment: bool,
}

/// The little-endian field of `n` (2, 4 or 8) bytes at `at` in `head`. Fixed-width loads: a
/// byte loop here costs a hundred instructions a boot.
fn le(head: &[u8], at: usize, n: usize) -> Option<u64> {
    let b = head.get(at..at.checked_add(n)?)?;
    Some(match n {
        8 => u64::from_le_bytes(b.try_into().ok()?),
        4 => u32::from_le_bytes(b.try_into().ok()?).into(),
        _ => u16::from_le_bytes(b.try_into().ok()?).into(),
    })
}

/// Reads the program headers of the ELF in `head` (ELF64 or ELF32); `None` if they do not lie
/// within it or it has no loadable segment. (The same walk as [`elf_segments`], kept apart on
/// purpose: this one runs on every reset-vector boot, and reading only the two fields it needs
/// saves about 60 instructions there.)
pub fn elf_load(head: &[u8], entry: u64) -> Option<ElfLoad> {
    let le = |at, n| le(head, at, n);
    // (program header offset, size, count) in the ELF header; (paddr, memsz) in each entry.
    let (phoff, phentsize, phnum, paddr, memsz) = match head.get(4)? {
        2 => (le(0x20, 8)?, le(0x36, 2)?, le(0x38, 2)?, (0x18, 8), (0x28, 8)),
        1 => (le(0x1c, 4)?, le(0x2a, 2)?, le(0x2c, 2)?, (0x0c, 4), (0x14, 4)),
        _ => return None,
    };
    let (mut range, mut entry_in_segment) = (None::<Range>, false);
    for i in 0..phnum {
        let at = usize::try_from(phoff.checked_add(i.checked_mul(phentsize)?)?).ok()?;
        let (start, size) = (le(at.checked_add(paddr.0)?, paddr.1)?, le(at.checked_add(memsz.0)?, memsz.1)?);
        if le(at, 4)? != PT_LOAD || size == 0 {
            continue;
        }
        let segment = Range::from_len(start, size)?;
        entry_in_segment |= segment.start <= entry && entry < segment.end;
        range = Some(range.map_or(segment, |r| Range { start: r.start.min(start), end: r.end.max(segment.end) }));
    }
    Some(ElfLoad { range: range?, entry_in_segment })
}

const PT_LOAD: u64 = 1;
const PT_NOTE: u64 = 4;

/// One program header of an ELF file, as `pvhfw.elf` loads a kernel itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Segment {
    pub offset: u64,
    pub filesz: u64,
    pub paddr: u64,
    pub memsz: u64,
}

/// The ELF's loadable segments and note segments (`PT_LOAD`, `PT_NOTE`), from its program
/// headers in `head`; `None` for a header that is not an ELF's or whose program headers are
/// not all in `head`. At most `N` of each kind; more is `None` too.
pub fn elf_segments<const N: usize>(head: &[u8]) -> Option<([Segment; N], usize, [Segment; N], usize)> {
    let le = |at, n| le(head, at, n);
    if head.get(..4)? != b"\x7fELF" {
        return None;
    }
    // Field (offset, width) in the ELF header, then in each program header: offset, filesz,
    // paddr, memsz.
    let (phoff, phentsize, phnum, fields) = match head.get(4)? {
        2 => (le(0x20, 8)?, le(0x36, 2)?, le(0x38, 2)?, [(0x08, 8), (0x20, 8), (0x18, 8), (0x28, 8)]),
        1 => (le(0x1c, 4)?, le(0x2a, 2)?, le(0x2c, 2)?, [(0x04, 4), (0x10, 4), (0x0c, 4), (0x14, 4)]),
        _ => return None,
    };
    let (mut loads, mut notes) = ([Segment::default(); N], [Segment::default(); N]);
    let (mut n_loads, mut n_notes) = (0, 0);
    for i in 0..phnum {
        let at = usize::try_from(phoff.checked_add(i.checked_mul(phentsize)?)?).ok()?;
        let [offset, filesz, paddr, memsz] = fields.map(|(f, w)| le(at.checked_add(f)?, w));
        let segment = Segment { offset: offset?, filesz: filesz?, paddr: paddr?, memsz: memsz? };
        let (list, n) = match le(at, 4)? {
            PT_LOAD => (&mut loads, &mut n_loads),
            PT_NOTE => (&mut notes, &mut n_notes),
            _ => continue,
        };
        *list.get_mut(*n)? = segment;
        *n += 1;
    }
    Some((loads, n_loads, notes, n_notes))
}

/// `XEN_ELFNOTE_PHYS32_ENTRY` in the "Xen" notes of `notes` (the bytes of a `PT_NOTE`
/// segment): the 32-bit physical PVH entry.
pub fn pvh_entry(notes: &[u8]) -> Option<u32> {
    const PHYS32_ENTRY: u32 = 18;
    let word = |at: usize| Some(u32::from_le_bytes(notes.get(at..at.checked_add(4)?)?.try_into().ok()?));
    let align = |n: u32| (n as usize).checked_add(3).map(|n| n & !3);
    let mut at = 0;
    while at + 12 <= notes.len() {
        let (namesz, descsz, kind) = (word(at)?, word(at + 4)?, word(at + 8)?);
        let name = at + 12;
        let desc = name.checked_add(align(namesz)?)?;
        if kind == PHYS32_ENTRY && notes.get(name..name + namesz as usize)? == b"Xen\0" && descsz >= 4 {
            return word(desc);
        }
        at = desc.checked_add(align(descsz)?)?;
    }
    None
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// An ELF with a PVH note, already loaded by QEMU; enter at `KERNEL_ENTRY`.
    Pvh,
    /// A Linux bzImage.
    BzImage,
    /// An ELF QEMU published without a PVH entry: on current machine types QEMU refuses an ELF
    /// without the PVH note itself, so this is a machine type from before PVH (QEMU 3.1 and
    /// older), which did not load it, or an entry note at or above 4 GiB that QEMU cut to 0.
    ElfNotLoaded,
    Unknown,
}

/// Whether the head is an ELF's (which has a PVH entry to read, if QEMU loaded it as PVH).
pub fn is_elf(head: &[u8; HEAD_BYTES]) -> bool {
    head[..4] == *b"\x7fELF"
}

pub fn detect(head: &[u8; HEAD_BYTES], entry: u32) -> Format {
    if crate::bzimage::has_magic(head) {
        Format::BzImage
    } else if is_elf(head) {
        if entry != 0 {
            Format::Pvh
        } else {
            Format::ElfNotLoaded
        }
    } else {
        Format::Unknown
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn formats() {
        let mut head = [0u8; HEAD_BYTES];
        assert_eq!(detect(&head, 0x100000), Format::Unknown);
        head[..4].copy_from_slice(b"\x7fELF");
        assert_eq!(detect(&head, 0x100000), Format::Pvh);
        assert_eq!(detect(&head, 0), Format::ElfNotLoaded);
        head[0x202..0x206].copy_from_slice(b"HdrS");
        assert_eq!(detect(&head, 0), Format::BzImage);
    }

    /// An ELF head (class 2 = 64-bit, 1 = 32-bit) with program headers at 0x40: (type, paddr,
    /// memsz) each.
    pub(crate) fn elf(class: u8, phdrs: &[(u32, u64, u64)]) -> std::vec::Vec<u8> {
        let mut h = std::vec![0u8; HEAD_BYTES];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = class;
        let n = phdrs.len() as u16;
        let size = if class == 2 { 56u16 } else { 32 };
        for (i, &(kind, paddr, memsz)) in phdrs.iter().enumerate() {
            let at = 0x40 + i * usize::from(size);
            h[at..at + 4].copy_from_slice(&kind.to_le_bytes());
            if class == 2 {
                h[at + 0x18..at + 0x20].copy_from_slice(&paddr.to_le_bytes());
                h[at + 0x28..at + 0x30].copy_from_slice(&memsz.to_le_bytes());
            } else {
                h[at + 0x0c..at + 0x10].copy_from_slice(&(paddr as u32).to_le_bytes());
                h[at + 0x14..at + 0x18].copy_from_slice(&(memsz as u32).to_le_bytes());
            }
        }
        if class == 2 {
            h[0x20..0x28].copy_from_slice(&0x40u64.to_le_bytes());
            h[0x36..0x38].copy_from_slice(&size.to_le_bytes());
            h[0x38..0x3a].copy_from_slice(&n.to_le_bytes());
        } else {
            h[0x1c..0x20].copy_from_slice(&0x40u32.to_le_bytes());
            h[0x2a..0x2c].copy_from_slice(&size.to_le_bytes());
            h[0x2c..0x2e].copy_from_slice(&n.to_le_bytes());
        }
        h
    }

    #[test]
    fn pvh_entry_notes() {
        let note = |name: &[u8], kind: u32, desc: &[u8]| {
            let mut n = std::vec::Vec::new();
            n.extend_from_slice(&(name.len() as u32).to_le_bytes());
            n.extend_from_slice(&(desc.len() as u32).to_le_bytes());
            n.extend_from_slice(&kind.to_le_bytes());
            n.extend_from_slice(name);
            n.resize(n.len().next_multiple_of(4), 0);
            n.extend_from_slice(desc);
            n.resize(n.len().next_multiple_of(4), 0);
            n
        };
        let mut notes = note(b"Xen\0", 6, b"linux\0");
        notes.extend(note(b"GNU\0", 18, &[1, 2, 3, 4]));
        assert_eq!(pvh_entry(&notes), None);
        notes.extend(note(b"Xen\0", 18, &0x0100_0000u32.to_le_bytes()));
        assert_eq!(pvh_entry(&notes), Some(0x0100_0000));
        assert_eq!(pvh_entry(&notes[..notes.len() - 2]), None);
        assert_eq!(pvh_entry(&[0xff; 40]), None);
    }

    #[test]
    fn elf_segments_of_both_classes() {
        for class in [1, 2] {
            let h = elf(class, &[(1, 0x100_0000, 0x2000), (4, 0x100_1000, 0x20), (1, 0x200_0000, 0x1000), (6, 0, 0)]);
            let (loads, n, notes, m) = super::elf_segments::<4>(&h).unwrap();
            assert_eq!((n, m), (2, 1));
            assert_eq!((loads[0].paddr, loads[0].memsz, loads[1].paddr), (0x100_0000, 0x2000, 0x200_0000));
            assert_eq!(notes[0].paddr, 0x100_1000);
            assert!(super::elf_segments::<1>(&h).is_none(), "more segments than room");
            assert!(super::elf_segments::<4>(&h[..0x50]).is_none(), "program headers cut off");
        }
        assert!(super::elf_segments::<4>(&[0u8; 64]).is_none());
    }

    #[test]
    fn elf_segments() {
        for class in [2, 1] {
            let h = elf(class, &[(4, 0, 0x100), (1, 0x20_0000, 0x1000), (1, 0x10_0000, 0x8000), (1, 0x40_0000, 0)]);
            let load = |entry| elf_load(&h, entry).unwrap();
            assert_eq!(load(0x10_0040).range, Range { start: 0x10_0000, end: 0x20_1000 });
            assert!(load(0x10_0040).entry_in_segment && load(0x20_0fff).entry_in_segment);
            assert!(!load(0x10_8000).entry_in_segment, "between the segments");
            assert!(!load(0x40_0000).entry_in_segment, "an empty segment holds nothing");
        }
        // Above 4 GiB, where QEMU's 32-bit KERNEL_SIZE wraps.
        let high = elf(2, &[(1, 0x1_0000_0000, 0x1000), (1, 0xff00_0000, 0x1000)]);
        assert_eq!(elf_load(&high, 0xff00_0000).unwrap().range, Range { start: 0xff00_0000, end: 0x1_0000_1000 });
        // Headers past the head, no loadable segment, an ELF of no known class.
        let mut far = elf(2, &[(1, 0x10_0000, 0x1000)]);
        far[0x20..0x28].copy_from_slice(&0x1000u64.to_le_bytes());
        assert_eq!(elf_load(&far, 0x10_0000), None);
        assert_eq!(elf_load(&elf(2, &[(4, 0x10_0000, 0x1000)]), 0x10_0000), None);
        let mut odd = elf(2, &[(1, 0x10_0000, 0x1000)]);
        odd[4] = 9;
        assert_eq!(elf_load(&odd, 0x10_0000), None);
        assert_eq!(elf_load(&elf(2, &[(1, u64::MAX, 2)]), 0), None, "wraps");
    }
}
