//! `cargo xtask capture`: what QEMU publishes through fw_cfg, read over qtest with the
//! library's own fw_cfg code.
//!
//! `--fixtures` stores the files the firmware consumes (ACPI, SMBIOS, e820, vmgenid) for a few
//! machine configurations under `pvhfw/testdata/qemu-<version>/<variant>/`, one set per QEMU,
//! so host unit tests run the table loader and SMBIOS code over exactly what each QEMU hands
//! over. Files are stored with trailing zeros trimmed; `files.txt` keeps every file's real size.

use crate::qemu::{Version, VMGENID_GUID};
use crate::qtest::Qtest;
use crate::{root, Result};
use pvhfw::fw_cfg::{self, FileName, FwCfgIo, DIR_BYTES};

/// The fw_cfg file directory: (name, select, size) of each file, in directory order.
fn files(q: &mut Qtest) -> Result<Vec<(String, u16, u32)>> {
    let mut buf = Box::new([0u8; DIR_BYTES]);
    let dir = fw_cfg::read_directory(q, &mut buf).map_err(|e| q.error(e))?;
    Ok(dir.entries().map(|(name, f)| (name_str(name), f.select, f.size)).collect())
}

/// A file name as text: up to its NUL (all 56 bytes if it has none).
fn name_str(name: &FileName) -> String {
    let len = name.0.iter().position(|&b| b == 0).unwrap_or(name.0.len());
    String::from_utf8_lossy(&name.0[..len]).into_owned()
}

/// Prints the fw_cfg file directory of `machine` on QEMU `v`.
pub fn list(v: Version, machine: &str, extra: &[String]) -> Result<()> {
    v.ensure_installed()?;
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let mut q = Qtest::start(v, machine, &extra)?;
    for (name, select, size) in files(&mut q)? {
        println!("{select:#06x} {size:>8} {name}");
    }
    Ok(())
}

/// (variant, machine, extra QEMU arguments)
fn variants() -> [(&'static str, &'static str, Vec<String>); 5] {
    let vmgenid = ["-device".into(), format!("vmgenid,guid={VMGENID_GUID}"), "-smp".into(), "4".into()];
    [
        ("pc", "pc", vec![]),
        ("q35", "q35", vec![]),
        ("microvm", "microvm", vec![]),
        ("pc-vmgenid-smp4", "pc", vmgenid.to_vec()),
        ("q35-smbios3", "q35,smbios-entry-point-type=64", vec![]),
    ]
}

/// Files a firmware reads; anything else in the directory is ignored.
const WANTED: &[&str] = &[
    "etc/table-loader",
    "etc/acpi/tables",
    "etc/acpi/rsdp",
    "etc/smbios/smbios-anchor",
    "etc/smbios/smbios-tables",
    "etc/e820",
    "etc/vmgenid_guid",
    "etc/vmgenid_addr",
    "etc/tpm/log",
];

/// Rewrites the fixtures of each QEMU in `versions`.
pub fn fixtures(versions: &[Version]) -> Result<()> {
    for &v in versions {
        v.ensure_installed()?;
        for (variant, machine, extra) in variants() {
            capture_variant(v, variant, machine, &extra)?;
        }
    }
    Ok(())
}

/// Captures one variant's files on QEMU `v` into `pvhfw/testdata/qemu-VERSION/VARIANT/`.
fn capture_variant(v: Version, variant: &str, machine: &str, extra: &[String]) -> Result<()> {
    let dir = root().join("pvhfw/testdata").join(v.tag()).join(variant);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let mut q = Qtest::start(v, machine, &extra)?;
    program_chipset(&mut q)?;
    let mut manifest = String::new();
    for (name, select, size) in files(&mut q)? {
        if !WANTED.contains(&name.as_str()) {
            continue;
        }
        let mut data = vec![0; size as usize];
        q.read(select, &mut data).map_err(|e| q.error(e))?;
        let used = data.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        std::fs::write(dir.join(name.replace('/', "_")), &data[..used])?;
        manifest.push_str(&format!("{name} {size}\n"));
    }
    std::fs::write(dir.join("files.txt"), manifest)?;
    println!("{}", dir.display());
    Ok(())
}

/// What pvhfw programs before its first ACPI read (QEMU builds the tables from it): the
/// library's own chipset code, run over qtest.
fn program_chipset(q: &mut Qtest) -> Result<()> {
    pvhfw::chipset::Chipset::detect(q).setup(q);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pvhfw::fw_cfg::{Directory, File};

    /// A directory image as QEMU serves it: big-endian count, then 64-byte entries.
    fn directory(files: &[(&str, u16, u32)]) -> Vec<u8> {
        let mut raw = (files.len() as u32).to_be_bytes().to_vec();
        for (name, select, size) in files {
            raw.extend_from_slice(&size.to_be_bytes());
            raw.extend_from_slice(&select.to_be_bytes());
            raw.extend_from_slice(&[0, 0]);
            raw.extend_from_slice(&FileName::new(name).0);
        }
        raw
    }

    #[test]
    fn lists_directory_entries_in_order() {
        let long = "n".repeat(56);
        let raw = directory(&[("etc/e820", 0x25, 40), ("bootorder", 0x20, 0), (&long, 0x30, 7)]);
        let dir = Directory::parse(&raw);
        let listed: Vec<(String, File)> = dir.entries().map(|(n, f)| (name_str(n), f)).collect();
        assert_eq!(
            listed,
            [
                ("etc/e820".to_string(), File { select: 0x25, size: 40 }),
                ("bootorder".to_string(), File { select: 0x20, size: 0 }),
                (long, File { select: 0x30, size: 7 }),
            ]
        );
    }
}
