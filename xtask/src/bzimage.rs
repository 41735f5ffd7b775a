//! pvhtest as a bzImage (`target/xtask/pvhtest.bzImage`), for the 64-bit boot protocol.
//!
//! The file is what Linux's `Documentation/arch/x86/boot.rst` describes: `setup_sects + 1`
//! sectors of real-mode part holding the setup header at 0x1f1, then the protected-mode payload
//! that a boot loader copies to the load address (1 MiB here). pvhtest's ELF is linked at 1 MiB
//! with its bzImage entries first (`testkernel/linker.ld`), so the payload is simply its image:
//! the loadable segment from 0x100000 with `.bss` as zeros (a boot loader clears nothing), the
//! 32-bit entry at the load address and the 64-bit one at + 0x200. There is no real-mode setup
//! code; the real-mode entry (0x200 of the setup) just halts.
//!
//! The header's fields are written out by offset, independently of pvhfw's definitions, which
//! they test; only where the header and its magic lie and how long the setup is come from
//! `pvhfw::bzimage`, their one home (QEMU, which reads this file itself, checks those).
//! Broken variants for failure tests are written beside it (see [`Broken`]).

use crate::{work_dir, Result};
use anyhow::{anyhow, bail, Context};
use object::elf::PT_LOAD;
use object::read::elf::{ElfFile64, ProgramHeader};
use object::Endianness;
use pvhfw::bzimage::{setup_len, HEADER_OFFSET, MAGIC, MAGIC_OFFSET};
use std::path::{Path, PathBuf};

/// Where the payload is loaded and linked: QEMU's `KERNEL_ADDR` for a protocol >= 2.02 kernel
/// with `LOADED_HIGH`.
pub(crate) const LOAD_ADDR: u64 = 0x10_0000;
/// One sector of setup code after the boot sector: room for the header and the halt stub.
const SETUP_SECTS: u8 = 1;
const PROTOCOL: u16 = 0x020f;
const LOADED_HIGH: u8 = 1;
const XLF_KERNEL_64: u16 = 1;
/// The longest command line pvhfw passes (64 KiB with its NUL).
const CMDLINE_SIZE: u32 = 0xffff;
/// pvhtest maps the low 4 GiB, so the initrd may end anywhere below it; boot_params, command
/// line and initrd must not lie above it (no XLF_CAN_BE_LOADED_ABOVE_4G).
const INITRD_ADDR_MAX: u32 = 0xffff_ffff;

/// Header variants a firmware must refuse.
#[derive(Clone, Copy, Debug)]
pub enum Broken {
    /// Protocol 2.11: no `xloadflags` yet.
    OldProtocol,
    /// Neither `XLF_KERNEL_64` nor `LOADED_HIGH`: no entry pvhfw can use.
    NoEntry,
    /// `init_size` of 1 GiB: more than the test machines' RAM.
    HugeInitSize,
}

impl Broken {
    pub const ALL: [Broken; 3] = [Broken::OldProtocol, Broken::NoEntry, Broken::HugeInitSize];

    pub fn name(self) -> &'static str {
        match self {
            Broken::OldProtocol => "old-protocol",
            Broken::NoEntry => "no-entry",
            Broken::HugeInitSize => "huge-init-size",
        }
    }

    pub fn path(self) -> PathBuf {
        work_dir().join(format!("pvhtest-{}.bzImage", self.name()))
    }
}

pub fn path() -> PathBuf {
    work_dir().join("pvhtest.bzImage")
}

/// Writes `pvhtest.bzImage` and its broken variants from the linked pvhtest ELF.
pub fn write_all(elf: &Path) -> Result<()> {
    let payload = payload(&std::fs::read(elf)?)?;
    std::fs::create_dir_all(work_dir())?;
    std::fs::write(path(), bzimage(&payload, None))?;
    for b in Broken::ALL {
        std::fs::write(b.path(), bzimage(&payload, Some(b)))?;
    }
    Ok(())
}

/// The loadable image from `LOAD_ADDR` to the end of `.bss`.
pub(crate) fn payload(elf: &[u8]) -> Result<Vec<u8>> {
    let file = ElfFile64::<Endianness>::parse(elf)?;
    let endian = file.endian();
    let mut image = Vec::new();
    for ph in file.elf_program_headers() {
        if ph.p_type(endian) != PT_LOAD {
            continue;
        }
        let offset = ph.p_paddr(endian).checked_sub(LOAD_ADDR).context("pvhtest segment below 1 MiB")? as usize;
        let end = offset + ph.p_memsz(endian) as usize;
        if image.len() < end {
            image.resize(end, 0);
        }
        let data = ph.data(endian, elf).map_err(|()| anyhow!("bad pvhtest segment"))?;
        image[offset..offset + data.len()].copy_from_slice(data);
    }
    if image.len() <= 0x200 {
        bail!("pvhtest has no image at 1 MiB");
    }
    Ok(image)
}

fn put(buf: &mut [u8], at: usize, bytes: &[u8]) {
    buf[at..at + bytes.len()].copy_from_slice(bytes);
}

/// The setup sectors with their header, then the payload.
fn bzimage(payload: &[u8], broken: Option<Broken>) -> Vec<u8> {
    let mut setup = vec![0u8; setup_len(SETUP_SECTS) as usize];
    let init_size = (payload.len() as u32).next_multiple_of(4096);
    let (mut protocol, mut loadflags, mut xloadflags, mut init) = (PROTOCOL, LOADED_HIGH, XLF_KERNEL_64, init_size);
    match broken {
        None => {}
        Some(Broken::OldProtocol) => protocol = 0x020b,
        Some(Broken::NoEntry) => (loadflags, xloadflags) = (0, 0),
        Some(Broken::HugeInitSize) => init = 0x4000_0000,
    }
    let h = &mut setup;
    h[HEADER_OFFSET] = SETUP_SECTS;
    put(h, 0x1f4, &(payload.len().div_ceil(16) as u32).to_le_bytes()); // syssize, 16-byte units
    put(h, 0x1fe, &0xaa55u16.to_le_bytes()); // boot_flag
    put(h, 0x200, &[0xeb, 0x6a]); // jump over the header, which ends at 0x26c
    put(h, MAGIC_OFFSET, &MAGIC);
    put(h, 0x206, &protocol.to_le_bytes());
    h[0x211] = loadflags;
    put(h, 0x214, &(LOAD_ADDR as u32).to_le_bytes()); // code32_start
    put(h, 0x22c, &INITRD_ADDR_MAX.to_le_bytes());
    put(h, 0x230, &4096u32.to_le_bytes()); // kernel_alignment
    h[0x234] = 0; // relocatable_kernel: no, it runs where it is linked
    h[0x235] = 12; // min_alignment: 4 KiB
    put(h, 0x236, &xloadflags.to_le_bytes());
    put(h, 0x238, &CMDLINE_SIZE.to_le_bytes());
    put(h, 0x258, &LOAD_ADDR.to_le_bytes()); // pref_address
    put(h, 0x260, &init.to_le_bytes());
    // The real-mode entry (setup + 0x200 jumps here): cli; hlt; jmp back to the hlt.
    put(h, 0x26c, &[0xfa, 0xf4, 0xeb, 0xfd]);
    let mut file = setup;
    file.extend_from_slice(payload);
    file
}

#[cfg(test)]
mod tests {
    use super::*;
    use pvhfw::bzimage::{Entry, SetupHeader};
    use pvhfw::Error;

    fn image(broken: Option<Broken>) -> Vec<u8> {
        let mut payload = vec![0u8; 0x16030];
        payload[0x200] = 0xf;
        bzimage(&payload, broken)
    }

    #[test]
    fn pvhfw_accepts_the_header() {
        let file = image(None);
        let h = SetupHeader::parse(&file).unwrap();
        assert_eq!(h.entry(), Ok(Entry::Bits64));
        assert_eq!(h.copy_len(), 0x26c - 0x1f1);
        assert_eq!((h.init_size(), h.pref_address(), h.code32_start()), (0x17000, 0x10_0000, 0x10_0000));
        assert_eq!(h.runtime_range(0x10_0000), pvhfw::Range::from_len(0x10_0000, 0x17000));
        // The payload's 64-bit entry is 0x200 into the payload, after the setup.
        assert_eq!(file[setup_len(SETUP_SECTS) as usize + 0x200], 0xf);
        assert_eq!(h.syssize.get() as usize * 16, 0x16030usize.next_multiple_of(16));
    }

    #[test]
    fn broken_variants_are_refused() {
        let parse = |b| SetupHeader::parse(&image(Some(b)));
        assert_eq!(parse(Broken::OldProtocol), Err(Error::BzImageProtocolTooOld { version: 0x020b }));
        assert_eq!(parse(Broken::NoEntry), Err(Error::BzImageNoEntry));
        let huge = parse(Broken::HugeInitSize).unwrap();
        assert_eq!(huge.runtime_range(0x10_0000), pvhfw::Range::from_len(0x10_0000, 0x4000_0000));
    }
}
