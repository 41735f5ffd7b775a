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
use anyhow::{anyhow, bail};
use serde::Serialize;
use serde_json::Value;
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

/// The firmware descriptor, members in the schema's order.
#[derive(Serialize)]
struct Descriptor {
    description: String,
    #[serde(rename = "interface-types")]
    interface_types: Vec<&'static str>,
    mapping: Mapping,
    targets: Vec<Target>,
    features: Vec<&'static str>,
    tags: Vec<String>,
}

#[derive(Serialize)]
struct Mapping {
    device: &'static str,
    filename: String,
}

#[derive(Serialize)]
struct Target {
    architecture: &'static str,
    machines: Vec<&'static str>,
}

/// The descriptor for `pvhfw.bin` installed under `prefix`, as JSON text.
pub fn descriptor(prefix: &Path) -> String {
    let d = Descriptor {
        description: "pvhfw: boots the Linux kernel given with -kernel (a PVH vmlinux or a bzImage) \
                      straight from the reset vector; no BIOS services, no disk or network boot"
            .into(),
        interface_types: vec!["bios"],
        mapping: Mapping { device: "memory", filename: data_dir(prefix).join("pvhfw.bin").display().to_string() },
        targets: vec![Target { architecture: "x86_64", machines: MACHINES.to_vec() }],
        features: vec![],
        tags: vec![format!("pvhfw-{}", crate_version()), "direct-kernel-boot-only".into()],
    };
    serde_json::to_string_pretty(&d).expect("serialisable") + "\n"
}

/// The firmware crate's version (`firmware/Cargo.toml`).
pub fn crate_version() -> String {
    const MANIFEST: &str = include_str!("../../firmware/Cargo.toml");
    MANIFEST
        .lines()
        .find_map(|l| l.strip_prefix("version = \"")?.strip_suffix('"'))
        .expect("firmware/Cargo.toml has a version")
        .to_string()
}

/// Checks a descriptor against QEMU's schema (`docs/interop/firmware.json`, `Firmware`): every
/// member present with its type, the enumerations' values, and no unknown member (QAPI refuses
/// those).
pub fn validate_descriptor(v: &Value) -> std::result::Result<(), String> {
    const INTERFACES: &[&str] = &["bios", "openfirmware", "uboot", "uefi"];
    const FEATURES: &[&str] = &[
        "acpi-s3",
        "acpi-s4",
        "amd-sev",
        "amd-sev-es",
        "amd-sev-snp",
        "intel-tdx",
        "enrolled-keys",
        "requires-smm",
        "secure-boot",
        "host-uefi-vars",
        "verbose-dynamic",
        "verbose-static",
    ];
    // QAPI's SysEmuTarget.
    const ARCHITECTURES: &[&str] = &[
        "aarch64",
        "alpha",
        "arm",
        "avr",
        "cris",
        "hppa",
        "i386",
        "loongarch64",
        "m68k",
        "microblaze",
        "microblazeel",
        "mips",
        "mips64",
        "mips64el",
        "mipsel",
        "nios2",
        "or1k",
        "ppc",
        "ppc64",
        "riscv32",
        "riscv64",
        "rx",
        "s390x",
        "sh4",
        "sh4eb",
        "sparc",
        "sparc64",
        "tricore",
        "x86_64",
        "xtensa",
        "xtensaeb",
    ];
    let root = members(v, "descriptor", &["description", "interface-types", "mapping", "targets", "features", "tags"])?;
    string(&root["description"], "description")?;
    let interfaces = array(&root["interface-types"], "interface-types")?;
    if interfaces.is_empty() {
        return Err("interface-types is empty".into());
    }
    for i in interfaces {
        one_of(i, "interface-types", INTERFACES)?;
    }
    let mapping = root["mapping"].as_object().ok_or("mapping is not an object")?;
    let device = mapping.get("device").ok_or("mapping has no device")?;
    match one_of(device, "mapping.device", &["flash", "kernel", "memory"])? {
        "memory" | "kernel" => {
            members(&root["mapping"], "mapping", &["device", "filename"])?;
            string(&mapping["filename"], "mapping.filename")?;
        }
        _ => {
            let known = ["device", "mode", "executable", "nvram-template"];
            if let Some(k) = mapping.keys().find(|k| !known.contains(&k.as_str())) {
                return Err(format!("mapping has an unknown member {k:?}"));
            }
            if let Some(mode) = mapping.get("mode") {
                one_of(mode, "mapping.mode", &["split", "combined", "stateless"])?;
            }
            for file in ["executable", "nvram-template"] {
                let Some(f) = mapping.get(file) else {
                    if file == "executable" {
                        return Err("flash mapping has no executable".into());
                    }
                    continue;
                };
                let f = members(f, file, &["filename", "format"])?;
                string(&f["filename"], "filename")?;
                string(&f["format"], "format")?;
            }
        }
    }
    let targets = array(&root["targets"], "targets")?;
    if targets.is_empty() {
        return Err("targets is empty".into());
    }
    for t in targets {
        let t = members(t, "target", &["architecture", "machines"])?;
        one_of(&t["architecture"], "architecture", ARCHITECTURES)?;
        let machines = array(&t["machines"], "machines")?;
        if machines.is_empty() {
            return Err("a target lists no machines".into());
        }
        for m in machines {
            string(m, "machines")?;
        }
    }
    for f in array(&root["features"], "features")? {
        one_of(f, "features", FEATURES)?;
    }
    for t in array(&root["tags"], "tags")? {
        string(t, "tags")?;
    }
    Ok(())
}

/// `v` as an object with exactly the members `want`.
fn members<'a>(
    v: &'a Value,
    what: &str,
    want: &[&str],
) -> std::result::Result<&'a serde_json::Map<String, Value>, String> {
    let o = v.as_object().ok_or(format!("{what} is not an object"))?;
    if let Some(missing) = want.iter().find(|m| !o.contains_key(**m)) {
        return Err(format!("{what} has no {missing:?}"));
    }
    if let Some(k) = o.keys().find(|k| !want.contains(&k.as_str())) {
        return Err(format!("{what} has an unknown member {k:?}"));
    }
    Ok(o)
}

fn string<'a>(v: &'a Value, what: &str) -> std::result::Result<&'a str, String> {
    v.as_str().ok_or(format!("{what}: {v} is not a string"))
}

fn array<'a>(v: &'a Value, what: &str) -> std::result::Result<&'a Vec<Value>, String> {
    v.as_array().ok_or(format!("{what} is not an array"))
}

fn one_of<'a>(v: &'a Value, what: &str, allowed: &[&str]) -> std::result::Result<&'a str, String> {
    let s = string(v, what)?;
    if !allowed.contains(&s) {
        return Err(format!("{what}: {s:?} is none of {allowed:?}"));
    }
    Ok(s)
}

/// The files to install under `prefix`: path relative to it, contents.
pub fn files(a: &Artifacts, prefix: &Path) -> Result<Vec<(PathBuf, Vec<u8>)>> {
    let json = descriptor(prefix);
    validate_descriptor(&serde_json::from_str(&json)?).map_err(|e| anyhow!("our own descriptor: {e}"))?;
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

    fn ours() -> Value {
        serde_json::from_str(&descriptor(Path::new("/usr"))).unwrap()
    }

    #[test]
    fn descriptor_validates_and_names_the_image() {
        let d = ours();
        validate_descriptor(&d).unwrap();
        assert_eq!(d["mapping"]["filename"], "/usr/share/qemu/pvhfw.bin");
        assert_eq!(d["interface-types"][0], "bios");
        assert_eq!(d["mapping"]["device"], "memory");
        assert_eq!(d["targets"][0]["machines"], serde_json::json!(["pc-i440fx-*", "pc-q35-*", "microvm"]));
    }

    #[test]
    fn validator_refuses_what_the_schema_does() {
        type Change = fn(&mut Value);
        let broken: [(&str, Change); 9] = [
            ("a missing member", |d| {
                d.as_object_mut().unwrap().remove("features");
            }),
            ("an unknown member", |d| d["firmware"] = "x".into()),
            ("an unknown interface", |d| d["interface-types"] = serde_json::json!(["legacy"])),
            ("no interface", |d| d["interface-types"] = serde_json::json!([])),
            ("an unknown device", |d| d["mapping"]["device"] = "rom".into()),
            ("a memory mapping without file", |d| {
                d["mapping"].as_object_mut().unwrap().remove("filename");
            }),
            ("an unknown architecture", |d| d["targets"][0]["architecture"] = "x86-64".into()),
            ("an unknown feature", |d| d["features"] = serde_json::json!(["fast"])),
            ("a tag that is not a string", |d| d["tags"] = serde_json::json!([1])),
        ];
        for (what, change) in broken {
            let mut d = ours();
            change(&mut d);
            assert!(validate_descriptor(&d).is_err(), "accepted {what}");
        }
    }

    /// A distribution's OVMF descriptor (Debian 12's `60-edk2-x86_64.json`, abridged).
    #[test]
    fn validator_accepts_a_flash_descriptor() {
        let ovmf = serde_json::json!({
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
        validate_descriptor(&ovmf).unwrap();
    }

    #[test]
    fn version_is_the_firmware_crates() {
        assert!(crate_version().split('.').count() == 3, "{}", crate_version());
    }
}
