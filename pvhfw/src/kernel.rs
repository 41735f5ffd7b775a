//! What kind of kernel QEMU was given, judged from the head of its file.
//!
//! QEMU publishes the first bytes of the `-kernel` file as the setup data: for a bzImage the
//! real-mode header (with "HdrS" at 0x202), for a PVH ELF the ELF header. A multiboot kernel
//! gets no setup data at all.

/// Bytes of the setup data needed to tell the formats apart.
pub const HEAD_BYTES: usize = 0x290;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// An ELF with a PVH note, already loaded by QEMU; enter at `KERNEL_ENTRY`.
    Pvh,
    /// A Linux bzImage.
    BzImage,
    /// An ELF QEMU did not load as PVH: on current machine types QEMU refuses an ELF without
    /// the PVH note itself, so this is a machine type from before PVH (QEMU 3.1 and older).
    ElfNotLoaded,
    Unknown,
}

/// Whether the head is an ELF's (which has a PVH entry to read, if QEMU loaded it as PVH).
pub fn is_elf(head: &[u8; HEAD_BYTES]) -> bool {
    head[..4] == *b"\x7fELF"
}

pub fn detect(head: &[u8; HEAD_BYTES], entry: u32) -> Format {
    if &head[0x202..0x206] == b"HdrS" {
        Format::BzImage
    } else if &head[..4] == b"\x7fELF" {
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
mod tests {
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
}
