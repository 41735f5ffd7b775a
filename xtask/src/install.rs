//! `cargo xtask install`: pvhfw where QEMU looks for firmware, like SeaBIOS and qboot.
//!
//! Under a prefix (default `/usr`):
//!
//! - `share/qemu/pvhfw.bin`: the ROM image, for `-bios pvhfw.bin` by name (QEMU searches its
//!   data directories, `-L help` lists them; Debian's QEMU searches `/usr/share/qemu`);
//! - `share/qemu/pvhfw.elf`: the same firmware as a PVH ELF (`-kernel`, which takes a path);
//! - `share/qemu/firmware/90-pvhfw.json`: a firmware descriptor (QEMU's
//!   `docs/interop/firmware.json`) for management tools such as libvirt.
//!
//! Management tools read every descriptor in `/usr/share/qemu/firmware`, `/etc/qemu/firmware`
//! (and the user's `~/.config/qemu/firmware`), sort them by file name and take the first that
//! matches what a VM asks for. `90` sorts pvhfw after the distributions' own descriptors
//! (Debian 12's OVMF ships `40-`, `50-` and `60-`; QEMU's schema gives `50-seabios-256k.json`
//! as the example for a BIOS), so that a generic request for a BIOS still gets the
//! distribution's SeaBIOS wherever it ships a descriptor, and an administrator's own entries in
//! `/etc/qemu/firmware` can still come before or after it.

use crate::build::Artifacts;
use crate::{qemu, Result};
use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The descriptor's file name: its number places it after the distributions' firmware.
pub const DESCRIPTOR: &str = "90-pvhfw.json";

/// The prefix a distribution's QEMU searches.
pub const DEFAULT_PREFIX: &str = "/usr";

/// The machine types pvhfw runs on, as descriptor globs (`pc` and `q35` are aliases of the
/// newest `pc-i440fx-X.Y` and `pc-q35-X.Y`, which tools resolve before matching).
const MACHINES: [&str; 3] = ["pc-i440fx-*", "pc-q35-*", "microvm"];

/// QEMU's data directory under `prefix`.
pub fn data_dir(prefix: &Path) -> PathBuf {
    prefix.join("share/qemu")
}

/// A firmware descriptor as QEMU's schema has it (`docs/interop/firmware.json`, `Firmware`),
/// members in the schema's order. Reading one checks it as QAPI would: every member present
/// with its type, the enumerations' values, and no unknown member ([`Descriptor::parse`]).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Descriptor {
    description: String,
    interface_types: Vec<Interface>,
    pub mapping: Mapping,
    targets: Vec<Target>,
    features: Vec<Feature>,
    tags: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Interface {
    Bios,
    Openfirmware,
    Uboot,
    Uefi,
}

/// How QEMU loads the firmware: `device` says which members follow.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "device", rename_all = "lowercase", deny_unknown_fields)]
pub enum Mapping {
    Flash {
        mode: Option<FlashMode>,
        executable: FlashFile,
        #[serde(rename = "nvram-template")]
        nvram_template: Option<FlashFile>,
    },
    Kernel {
        filename: String,
    },
    Memory {
        filename: String,
    },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlashMode {
    Split,
    Combined,
    Stateless,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlashFile {
    filename: String,
    format: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Target {
    architecture: Architecture,
    machines: Vec<String>,
}

/// QAPI's `SysEmuTarget`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Architecture {
    Aarch64,
    Alpha,
    Arm,
    Avr,
    Cris,
    Hppa,
    I386,
    Loongarch64,
    M68k,
    Microblaze,
    Microblazeel,
    Mips,
    Mips64,
    Mips64el,
    Mipsel,
    Nios2,
    Or1k,
    Ppc,
    Ppc64,
    Riscv32,
    Riscv64,
    Rx,
    S390x,
    Sh4,
    Sh4eb,
    Sparc,
    Sparc64,
    Tricore,
    X86_64,
    Xtensa,
    Xtensaeb,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Feature {
    AcpiS3,
    AcpiS4,
    AmdSev,
    AmdSevEs,
    AmdSevSnp,
    IntelTdx,
    EnrolledKeys,
    RequiresSmm,
    SecureBoot,
    HostUefiVars,
    VerboseDynamic,
    VerboseStatic,
}

impl Descriptor {
    /// Reads and checks a descriptor; the lists the schema requires non-empty must be.
    pub fn parse(json: &str) -> Result<Descriptor> {
        let d: Descriptor = serde_json::from_str(json)?;
        if d.interface_types.is_empty() {
            bail!("interface-types is empty");
        }
        if d.targets.is_empty() {
            bail!("targets is empty");
        }
        if d.targets.iter().any(|t| t.machines.is_empty()) {
            bail!("a target lists no machines");
        }
        Ok(d)
    }
}

/// The descriptor for `pvhfw.bin` installed under `prefix`, as JSON text.
pub fn descriptor(prefix: &Path) -> String {
    let d = Descriptor {
        description: "pvhfw: boots the Linux kernel given with -kernel (a PVH vmlinux or a bzImage) \
                      straight from the reset vector; no BIOS services, no disk or network boot"
            .into(),
        interface_types: vec![Interface::Bios],
        mapping: Mapping::Memory { filename: data_dir(prefix).join("pvhfw.bin").display().to_string() },
        targets: vec![Target { architecture: Architecture::X86_64, machines: MACHINES.map(String::from).to_vec() }],
        features: vec![],
        tags: vec![format!("pvhfw-{VERSION}"), "direct-kernel-boot-only".into()],
    };
    serde_json::to_string_pretty(&d).expect("serialisable") + "\n"
}

/// The workspace's version (`Cargo.toml`'s `workspace.package`), which the firmware's crate
/// and this one share.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The files to install under `prefix`: path relative to it, contents.
pub fn files(a: &Artifacts, prefix: &Path) -> Result<Vec<(PathBuf, Vec<u8>)>> {
    let json = descriptor(prefix);
    Descriptor::parse(&json).context("our own descriptor")?;
    Ok(vec![
        (PathBuf::from("share/qemu/pvhfw.bin"), std::fs::read(&a.firmware)?),
        (PathBuf::from("share/qemu/pvhfw.elf"), std::fs::read(&a.firmware_elf)?),
        (PathBuf::from("share/qemu/firmware").join(DESCRIPTOR), json.into_bytes()),
    ])
}

/// Installs [`files`] under `destdir` + `prefix` (`prefix` is what the descriptor names; a
/// packager's `destdir` is not). Files are written beside their place and renamed into it,
/// so a QEMU starting meanwhile maps the old image or the new one, never a mix. Returns the
/// paths written.
pub fn install(a: &Artifacts, prefix: &Path, destdir: Option<&Path>) -> Result<Vec<PathBuf>> {
    if !prefix.is_absolute() {
        bail!("the prefix {} is not absolute", prefix.display());
    }
    let root = match destdir {
        Some(d) => d.join(prefix.strip_prefix("/").expect("absolute")),
        None => prefix.to_path_buf(),
    };
    let mut written = Vec::new();
    for (rel, data) in files(a, prefix)? {
        let path = root.join(&rel);
        let dir = path.parent().expect("files lie in directories");
        create_dirs(dir)?;
        let tmp = dir.join(format!(".{}.tmp", rel.file_name().and_then(|n| n.to_str()).expect("file name")));
        std::fs::write(&tmp, data)?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644))?;
        std::fs::rename(&tmp, &path)?;
        written.push(path);
    }
    Ok(written)
}

/// `create_dir_all`, each new directory `0755` whatever the umask.
fn create_dirs(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dirs(parent)?;
    }
    std::fs::create_dir(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

/// `cargo xtask install`: build, install, and say how QEMU finds the image.
pub fn run(prefix: &Path, destdir: Option<&Path>) -> Result<()> {
    let prefix = std::path::absolute(prefix)?;
    let a = crate::build::build()?;
    for path in install(&a, &prefix, destdir)? {
        println!("installed {}", path.display());
    }
    if destdir.is_some() {
        return Ok(());
    }
    let dir = data_dir(&prefix);
    let searched = qemu::data_dirs(&[]).unwrap_or_default();
    if searched.iter().any(|d| std::fs::canonicalize(&dir).is_ok_and(|c| c == *d)) {
        println!("QEMU finds it by name: qemu-system-x86_64 -bios pvhfw.bin -kernel vmlinux");
    } else {
        println!(
            "QEMU does not search {} by itself (qemu-system-x86_64 -L help); name it: qemu-system-x86_64 -L {} -bios pvhfw.bin -kernel vmlinux",
            dir.display(),
            dir.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn ours() -> Value {
        serde_json::from_str(&descriptor(Path::new("/usr"))).unwrap()
    }

    fn parse(v: &Value) -> Result<Descriptor> {
        Descriptor::parse(&v.to_string())
    }

    #[test]
    fn descriptor_validates_and_names_the_image() {
        let d = ours();
        parse(&d).unwrap();
        assert_eq!(d["mapping"]["filename"], "/usr/share/qemu/pvhfw.bin");
        assert_eq!(d["interface-types"][0], "bios");
        assert_eq!(d["mapping"]["device"], "memory");
        assert_eq!(d["targets"][0]["machines"], json!(["pc-i440fx-*", "pc-q35-*", "microvm"]));
    }

    #[test]
    fn validator_refuses_what_the_schema_does() {
        type Change = fn(&mut Value);
        let broken: [(&str, Change); 11] = [
            ("a missing member", |d| {
                d.as_object_mut().unwrap().remove("features");
            }),
            ("an unknown member", |d| d["firmware"] = "x".into()),
            ("an unknown interface", |d| d["interface-types"] = json!(["legacy"])),
            ("no interface", |d| d["interface-types"] = json!([])),
            ("an unknown device", |d| d["mapping"]["device"] = "rom".into()),
            ("a memory mapping without file", |d| {
                d["mapping"].as_object_mut().unwrap().remove("filename");
            }),
            ("an unknown member in the mapping", |d| d["mapping"]["mode"] = "split".into()),
            ("an unknown architecture", |d| d["targets"][0]["architecture"] = "x86-64".into()),
            ("a target without machines", |d| d["targets"][0]["machines"] = json!([])),
            ("an unknown feature", |d| d["features"] = json!(["fast"])),
            ("a tag that is not a string", |d| d["tags"] = json!([1])),
        ];
        for (what, change) in broken {
            let mut d = ours();
            change(&mut d);
            assert!(parse(&d).is_err(), "accepted {what}");
        }
    }

    /// A distribution's OVMF descriptor (Debian 12's `60-edk2-x86_64.json`, abridged).
    #[test]
    fn validator_accepts_a_flash_descriptor() {
        let ovmf = json!({
            "description": "UEFI firmware for x86_64",
            "interface-types": ["uefi"],
            "mapping": {
                "device": "flash",
                "executable": {"filename": "/usr/share/OVMF/OVMF_CODE_4M.fd", "format": "raw"},
                "nvram-template": {"filename": "/usr/share/OVMF/OVMF_VARS_4M.fd", "format": "raw"}
            },
            "targets": [{"architecture": "x86_64", "machines": ["pc-i440fx-*", "pc-q35-*"]}],
            "features": ["acpi-s3", "amd-sev", "verbose-dynamic"],
            "tags": []
        });
        parse(&ovmf).unwrap();
        let mut broken = ovmf.clone();
        broken["mapping"]["executable"]["size"] = 4.into();
        assert!(parse(&broken).is_err(), "accepted an unknown member in a flash file");
        let mut broken = ovmf;
        broken["mapping"].as_object_mut().unwrap().remove("executable");
        assert!(parse(&broken).is_err(), "accepted a flash mapping without executable");
    }

    #[test]
    fn version_is_the_firmware_crates() {
        assert!(VERSION.split('.').count() == 3, "{VERSION}");
        let firmware = std::fs::read_to_string(crate::root().join("firmware/Cargo.toml")).unwrap();
        assert!(firmware.contains("\nversion.workspace = true\n"), "the firmware's crate has a version of its own");
    }
}
