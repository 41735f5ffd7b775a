//! Builds the firmware: the reset-vector ELF flattened into `target/pvhfw.bin`, and
//! `target/pvhfw.elf`, the firmware entered through its PVH note.
//!
//! Reproducible: the pinned toolchain, `Cargo.lock` and the flags below fully determine both
//! images, wherever the checkout and cargo's home are (their paths are remapped, so the ELF's
//! line tables name `./pvhfw/src/...` and `/cargo/registry/...`); nothing else (time, host,
//! user) enters them.

use crate::cmd::Checked;
use crate::{root, Result};
use anyhow::{anyhow, Context};
use object::elf::PT_LOAD;
use object::read::elf::{ElfFile64, ProgramHeader};
use object::Endianness;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The image QEMU maps so that it ends at 4 GiB: from the library's layout, which the firmware
/// is linked for.
const IMAGE_BASE: u64 = pvhfw::layout::IMAGE_BASE;
/// Its size, which QEMU wants to be a multiple of 64 KiB.
pub const IMAGE_SIZE: u64 = (1 << 32) - IMAGE_BASE;
const _: () = assert!(IMAGE_SIZE > 0 && IMAGE_SIZE.is_multiple_of(64 * 1024), "the ROM image must be whole 64 KiB");

#[derive(Clone)]
pub struct Artifacts {
    pub firmware: PathBuf,
    /// `pvhfw.elf`: the same firmware entered through its PVH note.
    pub firmware_elf: PathBuf,
    pub testkernel: PathBuf,
    /// The same test kernel as a bzImage (64-bit boot protocol).
    pub testkernel_bzimage: PathBuf,
    /// The same test kernel as a multiboot kernel.
    pub testkernel_multiboot: PathBuf,
}

/// The built-in bare-metal target the firmware and pvhtest are built for.
pub const TARGET: &str = "x86_64-unknown-none";

/// rustup installs a toolchain file's targets only when it installs the toolchain itself; a
/// machine that already had this Rust version lacks the bare-metal standard library.
pub fn ensure_target() -> Result<()> {
    let sysroot = Command::new("rustc").current_dir(root()).args(["--print", "sysroot"]).checked_stdout()?;
    let sysroot = PathBuf::from(sysroot.trim());
    if sysroot.join("lib/rustlib").join(TARGET).is_dir() {
        return Ok(());
    }
    eprintln!("xtask: adding the {TARGET} target to the pinned toolchain");
    Command::new("rustup").current_dir(root()).args(["target", "add", TARGET]).checked()
}

pub fn build() -> Result<Artifacts> {
    ensure_target()?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    Command::new(cargo)
        .current_dir(root())
        .args(["build", "--release", "--target", TARGET, "-p", "pvhfw-firmware", "-p", "pvhtest"])
        .env("CARGO_ENCODED_RUSTFLAGS", reproducible_rustflags())
        .env_remove("RUSTFLAGS")
        .checked()
        .context("building the firmware failed")?;
    let out = root().join("target").join(TARGET).join("release");
    let image = flatten(&std::fs::read(out.join("pvhfw"))?)?;
    if let Some((at, sig)) = table_signature_in_alias(&image) {
        return Err(anyhow!(
            "pvhfw.bin holds {} at {at:#x}, in the part QEMU shows below 1 MiB where guests scan for \
             it: move that constant out of the image's last 128 KiB (firmware/linker.ld)",
            String::from_utf8_lossy(sig)
        ));
    }
    let firmware = root().join("target/pvhfw.bin");
    std::fs::write(&firmware, image)?;
    let firmware_elf = root().join("target/pvhfw.elf");
    std::fs::copy(out.join("pvhfw-elf"), &firmware_elf)?;
    crate::bzimage::write_all(&out.join("pvhtest"))?;
    crate::multiboot::write(&out.join("pvhtest"))?;
    Ok(Artifacts {
        firmware,
        firmware_elf,
        testkernel: out.join("pvhtest"),
        testkernel_bzimage: crate::bzimage::path(),
        testkernel_multiboot: crate::multiboot::path(),
    })
}

/// Flags for the bare-metal crates (with `--target`, cargo gives them to neither build scripts
/// nor proc macros): the checkout's and cargo's home directory remapped, so that two checkouts
/// of one commit build byte-identical ELFs. They replace any RUSTFLAGS of the caller's, which
/// would make the images differ.
fn reproducible_rustflags() -> String {
    let mut flags = Vec::new();
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    if let Some(home) = home {
        flags.push(format!("--remap-path-prefix={}=/cargo", home.display()));
    }
    // Last, so that it wins should cargo's home lie inside the checkout.
    flags.push(format!("--remap-path-prefix={}=.", root().display()));
    flags.join("\x1f")
}

/// The SHA-256 of `data`, in hex.
pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

/// `HASH  PATH` lines as `sha256sum` prints them (so that `sha256sum -c` checks them), each
/// path relative to the workspace root where it lies inside it.
pub fn sha256_lines(paths: &[&Path]) -> Result<String> {
    let mut out = String::new();
    for p in paths {
        let shown = p.strip_prefix(root()).unwrap_or(p);
        out.push_str(&format!("{}  {}\n", sha256_hex(&std::fs::read(p)?), shown.display()));
    }
    Ok(out)
}

/// Signatures that guests look for on 16-byte boundaries in 0xE0000-0xFFFFF: ACPI's RSDP, the
/// MP floating pointer, SMBIOS's and DMI's entry points, the PCI IRQ routing table and the
/// BIOS32 service directory (which a 32-bit Linux calls into).
const SCANNED_SIGNATURES: [&[u8]; 7] = [b"RSD PTR ", b"_MP_", b"_SM_", b"_SM3_", b"_DMI_", b"$PIR", b"_32_"];

/// The first scanned-for signature in the image's last 128 KiB (the part QEMU shows at
/// 0xE0000), as its address there and the signature: a constant of the firmware's that a
/// guest's scan would take for a table.
fn table_signature_in_alias(image: &[u8]) -> Option<(u64, &'static [u8])> {
    let alias_size = pvhfw::layout::IMAGE_ALIAS_SIZE as usize;
    let alias = &image[image.len().saturating_sub(alias_size)..];
    alias.chunks(16).enumerate().find_map(|(i, chunk)| {
        let sig = SCANNED_SIGNATURES.iter().find(|s| chunk.starts_with(s))?;
        Some((pvhfw::layout::IMAGE_ALIAS + 16 * i as u64, *sig))
    })
}

/// Places every loadable segment at its physical address inside the ROM image.
fn flatten(elf: &[u8]) -> Result<Vec<u8>> {
    let file = ElfFile64::<Endianness>::parse(elf)?;
    let endian = file.endian();
    let mut image = vec![0u8; IMAGE_SIZE as usize];
    for ph in file.elf_program_headers() {
        if ph.p_type(endian) != PT_LOAD || ph.p_filesz(endian) == 0 {
            continue;
        }
        let paddr = ph.p_paddr(endian);
        let data = ph.data(endian, elf).map_err(|()| anyhow!("bad segment"))?;
        let offset = paddr.checked_sub(IMAGE_BASE).context("segment below the ROM")? as usize;
        let dest = image.get_mut(offset..offset + data.len()).context("segment beyond 4 GiB")?;
        dest.copy_from_slice(data);
    }
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_on_a_paragraph_below_1_mib_is_found() {
        let mut image = vec![0u8; IMAGE_SIZE as usize];
        assert_eq!(table_signature_in_alias(&image), None);
        // Below the alias, and off a 16-byte boundary: not scanned.
        image[..8].copy_from_slice(b"RSD PTR ");
        let off = image.len() - 0x1000 + 4;
        image[off..off + 4].copy_from_slice(b"_MP_");
        assert_eq!(table_signature_in_alias(&image), None);
        let off = image.len() - 0x4010;
        image[off..off + 5].copy_from_slice(b"_SM3_");
        assert_eq!(table_signature_in_alias(&image), Some((0xfbff0, &b"_SM3_"[..])));
    }
}
