//! `cargo xtask seeds`: the fuzz targets' seed corpus (`fuzz/corpus/TARGET/`) from the QEMU
//! captures in `pvhfw/testdata`: QEMU 7.2's under the variant's name, QEMU 10.0's as
//! `qemu-10.0-VARIANT`. The item format the inputs use is described in `fuzz/src/lib.rs`;
//! `chain`'s seeds and the `crash-*` and `regression-*` inputs are kept as they are.

use crate::qemu::Version;
use crate::{root, Result};
use anyhow::Context;
use pvhfw::fw_cfg::{encode_directory, key};
use std::path::Path;

/// The captured variants of each QEMU.
const VARIANTS: [&str; 5] = ["pc", "q35", "q35-smbios3", "microvm", "pc-vmgenid-smp4"];

const MIB: u64 = 1 << 20;

/// A capture's fw_cfg files in `files.txt`'s order: name and contents at the size QEMU
/// published (zero-filled past what was captured).
type Files = Vec<(String, Vec<u8>)>;

fn capture(dir: &Path) -> Result<Files> {
    let list = std::fs::read_to_string(dir.join("files.txt")).with_context(|| format!("{}", dir.display()))?;
    let mut files = Vec::new();
    for line in list.lines() {
        let (name, size) = line.rsplit_once(' ').with_context(|| format!("{line:?} in {}", dir.display()))?;
        let mut size: usize = size.trim().parse()?;
        let mut data = std::fs::read(dir.join(name.replace('/', "_")))?;
        // Full size, except for the bulk of zeros after the ACPI tables and the loader
        // script's padding: small seeds fuzz faster.
        let keep = match name {
            "etc/acpi/tables" => Some(4096),
            "etc/table-loader" => Some(128),
            _ => None,
        };
        if let Some(keep) = keep {
            size = size.min(data.len().div_ceil(keep) * keep);
        }
        if data.len() < size {
            data.resize(size, 0);
        }
        files.push((name.to_string(), data));
    }
    Ok(files)
}

fn file(files: &Files, name: &str) -> Option<usize> {
    files.iter().position(|(n, _)| n == name)
}

/// An fw_cfg file item: name length, name, data length (LE), data.
fn file_item(name: &str, data: &[u8]) -> Vec<u8> {
    let mut out = vec![u8::try_from(name.len()).expect("short name")];
    out.extend(name.as_bytes());
    out.extend((data.len() as u32).to_le_bytes());
    out.extend(data);
    out
}

/// A raw key item: 0, key (LE), data length (LE), data.
fn key_item(key: u16, data: &[u8]) -> Vec<u8> {
    let mut out = vec![0];
    out.extend(key.to_le_bytes());
    out.extend((data.len() as u32).to_le_bytes());
    out.extend(data);
    out
}

fn items<'a>(files: impl IntoIterator<Item = &'a (String, Vec<u8>)>) -> Vec<u8> {
    files.into_iter().flat_map(|(n, d)| file_item(n, d)).collect()
}

/// The file directory (key 0x19) QEMU would publish for `files`, selectors from 0x20.
fn directory(files: &Files) -> Vec<u8> {
    let mut out = Vec::new();
    let entries = files.iter().enumerate().map(|(i, (name, data))| (name.as_str(), data.len() as u32, 0x20 + i as u16));
    encode_directory(entries, &mut out);
    out
}

/// E820 entries as QEMU's `etc/e820` holds them: address, length (u64 LE), type (u32 LE).
fn e820(entries: &[(u64, u64, u32)]) -> Vec<u8> {
    entries.iter().flat_map(|&(a, l, t)| [&a.to_le_bytes()[..], &l.to_le_bytes(), &t.to_le_bytes()].concat()).collect()
}

/// Little-endian u32s, concatenated.
fn le32(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Writes `fuzz/corpus/TARGET/NAME`.
fn write(target: &str, name: &str, data: &[u8]) -> Result<()> {
    let dir = root().join("fuzz/corpus").join(target);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(name), data)?;
    Ok(())
}

/// The seeds of one captured variant, named `name`.
fn variant_seeds(mut files: Files, variant: &str, name: &str, bzimage: &[u8]) -> Result<()> {
    write("fw_cfg_directory", name, &directory(&files))?;
    let map = &files[file(&files, "etc/e820").context("a capture without etc/e820")?].1;
    write("e820", name, &[&[(map.len() / 20) as u8][..], map].concat())?;
    if file(&files, "etc/table-loader").is_some() {
        write("table_loader", name, &items(&files))?;
    }
    if file(&files, "etc/smbios/smbios-anchor").is_some() {
        write("smbios", name, &items(files.iter().filter(|(n, _)| n.contains("smbios"))))?;
    }
    // The boot target's first byte: the chipset (none, i440FX, Q35).
    let chipset = match variant {
        "pc" | "pc-vmgenid-smp4" => 1,
        "q35" | "q35-smbios3" => 2,
        _ => 0,
    };
    let e820_at = file(&files, "etc/e820").expect("found above");
    files[e820_at].1 = e820(&[(0, 128 * MIB, 1)]);
    let elf = [&b"\x7fELF"[..], &[0; 60]].concat();
    for (kind, head, entry, addr, size) in
        [("pvh", &elf[..], 0x10_0040, 0x10_0000, 0x2_0000), ("bzimage", bzimage, 0, 0x10_0000, 0x1000)]
    {
        let kernel = [
            key_item(key::SETUP_DATA, head),
            key_item(key::KERNEL_ENTRY, &le32(&[entry])),
            key_item(key::KERNEL_ADDR, &le32(&[addr])),
            key_item(key::KERNEL_SIZE, &le32(&[size])),
            key_item(key::CMDLINE_SIZE, &le32(&[12])),
            key_item(key::CMDLINE_DATA, b"console=tty\0"),
            key_item(key::INITRD_SIZE, &le32(&[5])),
            key_item(key::INITRD_ADDR, &le32(&[0x7f0_0000])),
            key_item(key::INITRD_DATA, b"hello"),
            key_item(key::NB_CPUS, &2u16.to_le_bytes()),
        ]
        .concat();
        write("boot", &format!("{name}-{kind}"), &[&[chipset, 0][..], &items(&files), &kernel].concat())?;
    }
    Ok(())
}

/// `cargo xtask seeds`.
pub fn run() -> Result<()> {
    let testdata = root().join("pvhfw/testdata");
    let bzimage = std::fs::read(testdata.join("qemu-7.2/bzimage/debian12-q35-setup-head.bin"))?;
    for v in Version::ALL {
        let prefix = if v == Version::V7_2 { String::new() } else { format!("{}-", v.tag()) };
        for variant in VARIANTS {
            let files = capture(&testdata.join(v.tag()).join(variant))?;
            variant_seeds(files, variant, &format!("{prefix}{variant}"), &bzimage)?;
        }
    }
    let overlaps = e820(&[(0, 0xa_0000, 1), (0x9_f000, 0x1000, 2), (MIB, 127 * MIB, 1), (0x1000, 0x1_f000, 2)]);
    write("e820", "overlaps", &[&[3][..], &overlaps].concat())?;
    for (initrd_addr, initrd_size) in [(0x7f0_0000, 5), (0x20_0000, 0x1000)] {
        let header = le32(&[0x10_0000, initrd_addr, initrd_size, 100]);
        write("kernel_header", &format!("debian12-{initrd_addr:x}"), &[&header[..], &bzimage].concat())?;
    }
    // setup_data: the first record's address, then records (next, type, length, data).
    let record = |next: u64, kind: u32, data: &[u8]| {
        [&next.to_le_bytes()[..], &kind.to_le_bytes(), &(data.len() as u32).to_le_bytes(), data].concat()
    };
    let mut dtb = record(0x10_0000 + 0x40, 2, b"dtb-data");
    dtb.resize(0x40, 0);
    let two = [&0x10_0000u64.to_le_bytes()[..], &dtb, &record(0, 3, b"next")].concat();
    write("setup_data", "two-records", &two)?;
    write("setup_data", "empty", &0u64.to_le_bytes())?;
    let corpus = root().join("fuzz/corpus");
    println!("wrote the seeds under {}", corpus.display());
    Ok(())
}
