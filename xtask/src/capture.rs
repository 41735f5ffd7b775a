//! `cargo xtask capture`: what QEMU publishes through fw_cfg, read over qtest.
//!
//! `--fixtures` stores the files the firmware consumes (ACPI, SMBIOS, e820, vmgenid) for a few
//! machine configurations under `pvhfw/testdata/<variant>/`, so host unit tests run the table
//! loader and SMBIOS code over exactly what QEMU hands over. Files are stored with trailing
//! zeros trimmed; `files.txt` keeps every file's real size.

use crate::qtest::Qtest;
use crate::{root, Result};

/// Prints the fw_cfg file directory of `machine`.
pub fn list(machine: &str, extra: &[String]) -> Result<()> {
    crate::qemu::ensure_installed()?;
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let mut q = Qtest::start(machine, &extra)?;
    for (name, select, size) in q.fw_cfg_files()? {
        println!("{select:#06x} {size:>8} {name}");
    }
    Ok(())
}

/// (variant, machine, extra QEMU arguments)
const VARIANTS: &[(&str, &str, &[&str])] = &[
    ("pc", "pc", &[]),
    ("q35", "q35", &[]),
    ("microvm", "microvm", &[]),
    ("pc-vmgenid-smp4", "pc", &["-device", "vmgenid,guid=324e6eaf-d1d1-4bf6-bf41-b9bb6c91fb87", "-smp", "4"]),
    ("q35-smbios3", "q35,smbios-entry-point-type=64", &[]),
];

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

pub fn fixtures() -> Result<()> {
    crate::qemu::ensure_installed()?;
    for (variant, machine, extra) in VARIANTS {
        let dir = root().join("pvhfw/testdata").join(variant);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let mut q = Qtest::start(machine, extra)?;
        program_chipset(&mut q)?;
        let mut manifest = String::new();
        for (name, select, size) in q.fw_cfg_files()? {
            if !WANTED.contains(&name.as_str()) {
                continue;
            }
            let data = q.fw_cfg_read(select, size)?;
            let used = data.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
            std::fs::write(dir.join(name.replace('/', "_")), &data[..used])?;
            manifest.push_str(&format!("{name} {size}\n"));
        }
        std::fs::write(dir.join("files.txt"), manifest)?;
        println!("{}", dir.display());
    }
    Ok(())
}

/// What pvhfw programs before its first ACPI read (QEMU builds the tables from it): the
/// library's own chipset code, run over qtest.
fn program_chipset(q: &mut Qtest) -> Result<()> {
    pvhfw::chipset::Chipset::detect(q).setup(q);
    Ok(())
}
