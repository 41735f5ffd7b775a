//! pvhtest as a multiboot kernel (`target/xtask/pvhtest.multiboot`), version 1 with the
//! header's address fields (the "a.out kludge"): QEMU refuses 64-bit ELFs as multiboot
//! kernels, and this form needs none. The file is pvhtest's image from 1 MiB, as the bzImage
//! payload is ([`crate::bzimage::payload`]), with the 32-byte header written into the room
//! pvhtest leaves for it (`multiboot_header`, zeros in the ELF so that QEMU never takes the
//! ELF itself for a multiboot kernel) and the entry at `multiboot_entry`.
//!
//! The header is written out here by offset, independently of pvhfw's definitions.

use crate::bzimage::{payload, LOAD_ADDR};
use crate::{work_dir, Result};
use anyhow::Context;
use object::{Object, ObjectSymbol};
use std::path::{Path, PathBuf};

const MAGIC: u32 = 0x1bad_b002;
/// Modules page-aligned (bit 0), memory information wanted (bit 1), the address fields valid
/// (bit 16).
const FLAGS: u32 = 1 | 1 << 1 | 1 << 16;

pub fn path() -> PathBuf {
    work_dir().join("pvhtest.multiboot")
}

/// Writes `pvhtest.multiboot` from the linked pvhtest ELF.
pub fn write(elf: &Path) -> Result<()> {
    let data = std::fs::read(elf)?;
    let file = object::File::parse(&*data)?;
    let symbol = |name: &str| {
        file.symbols().find(|s| s.name() == Ok(name)).map(|s| s.address()).context(format!("pvhtest lacks {name}"))
    };
    let (header, entry) = (symbol("multiboot_header")?, symbol("multiboot_entry")?);
    let mut image = payload(&data)?;
    let at = (header - LOAD_ADDR) as usize;
    // QEMU looks for the header in the file's first 8 KiB.
    anyhow::ensure!(at + 32 <= 8192 && image[at..at + 32].iter().all(|&b| b == 0), "no room for the header");
    let fields = [MAGIC, FLAGS, MAGIC.wrapping_add(FLAGS).wrapping_neg(), header as u32, LOAD_ADDR as u32, 0, 0];
    let fields = fields.iter().chain(&[entry as u32]).flat_map(|w| w.to_le_bytes()).collect::<Vec<u8>>();
    image[at..at + 32].copy_from_slice(&fields);
    std::fs::write(path(), image)?;
    Ok(())
}
