//! The test disks: each boot configuration pvhfw reads, laid out as the tools that write it
//! lay it out, with Debian 12's kernel and the tests' busybox initrd (or the `pvhtest` kernel),
//! and the entry a firmware must pick with its command line ([`Expected`]).
//!
//! Every entry's command line carries a marker (`pvhfw.entry=...`, `pvhfw.from=grub`) so that
//! the command line init reports tells which entry was booted.

use super::image::{Content, Damage, Filesystem, Label, Layout, Node, PartType, Partition};
use crate::debian::DebianKernel;
use crate::Result;
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};

/// What Linux needs on the command line for the tests to see init's report.
pub const CONSOLE: &str = "console=ttyS0 panic=-1";

/// The root filesystem's UUID on the GRUB disk (`mke2fs -U`), which grub.cfg searches for.
pub const GRUB_ROOT_UUID: &str = "2f1b6a52-5d3e-4c1a-9b7e-1f0c2d3e4a5b";
/// The links-only disk's partition GUID, which pvhfw passes as `root=PARTUUID=`.
pub const LINKS_PARTUUID: &str = "6c3a1e2d-8b4f-4d5e-a1c2-3b4d5e6f7a8b";
/// The BLS disk's root partition GUID, which its entries name as `root=PARTUUID=`.
const BLS_ROOT_PARTUUID: &str = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
/// The extlinux disk's DOS disk signature; its partition is `5eed1e55-01` to Linux.
const EXTLINUX_SIGNATURE: u32 = 0x5eed_1e55;
/// systemd's machine ID, which names the BLS entries and their directory on the ESP.
const MACHINE_ID: &str = "f0e1d2c3b4a5968778695a4b3c2d1e0f";
/// The older kernel version the second BLS entry names.
const OLD_VERSION: &str = "6.1.0-9-amd64";

/// What the second BLS initrd's /extra.txt says (init prints it as `extra`).
pub const EXTRA_TEXT: &str = "from the second initrd";

/// A Debian kernel and initrd to put on a disk.
#[derive(Clone, Debug)]
pub struct Payload {
    /// `uname -r`, as Debian names the files: `6.1.0-57-amd64`.
    pub version: String,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    /// A second initrd (a cpio holding /extra.txt) for the entries that name two.
    pub extra_initrd: PathBuf,
}

impl Payload {
    /// Debian's bzImage and the tests' initrd; the version from the bzImage's header.
    pub fn debian(k: &DebianKernel) -> Result<Payload> {
        let bz = std::fs::read(&k.bzimage)?;
        let version = kernel_version(&bz).with_context(|| format!("{}: no version string", k.bzimage.display()))?;
        let extra_initrd = crate::work_dir().join("disks/extra-initrd.cpio");
        std::fs::create_dir_all(extra_initrd.parent().expect("has parent"))?;
        let mut cpio = crate::cpio::Cpio::new();
        cpio.file("extra.txt", 0o644, format!("{EXTRA_TEXT}\n").as_bytes());
        std::fs::write(&extra_initrd, cpio.finish())?;
        Ok(Payload { version, kernel: k.bzimage.clone(), initrd: k.initrd.clone(), extra_initrd })
    }
}

/// The first word of a bzImage's kernel version string (the setup header's `kernel_version`
/// points at it, 0x200 bytes off).
pub fn kernel_version(bz: &[u8]) -> Option<String> {
    let at = usize::from(u16::from_le_bytes([*bz.get(0x20e)?, *bz.get(0x20f)?])) + 0x200;
    let text = bz.get(at..)?;
    let end = text.iter().position(|&b| b == 0 || b == b' ')?;
    let v = std::str::from_utf8(&text[..end]).ok()?;
    (!v.is_empty()).then(|| v.to_string())
}

/// An entry a firmware must boot: its command line, kernel and initrds (in order).
#[derive(Clone, Debug)]
pub struct Expected {
    pub cmdline: String,
    pub kernel: PathBuf,
    pub initrds: Vec<PathBuf>,
}

/// A test disk and what booting it must give.
#[derive(Clone, Debug)]
pub struct Disk {
    pub layout: Layout,
    /// The entry booted when nothing is chosen; `None` for a disk that has none.
    pub boot: Option<Expected>,
    /// Other entries, by what `opt/org.pvhfw/entry` names them with.
    pub others: Vec<(String, Expected)>,
}

impl Disk {
    fn new(name: &str, label: Label, parts: Vec<Partition>) -> Disk {
        let layout = Layout { name: name.into(), label, parts, damage: Damage::None };
        Disk { layout, boot: None, others: Vec::new() }
    }

    /// The same disk with `damage` done to it (named after it).
    pub fn damaged(&self, damage: Damage, suffix: &str) -> Disk {
        let mut d = self.clone();
        d.layout.damage = damage;
        d.layout.name = format!("{}-{suffix}", self.layout.name);
        d
    }

    pub fn build(&self) -> Result<PathBuf> {
        self.layout.build()
    }
}

fn file(path: &str, from: &Path) -> Node {
    Node::File(path.into(), Content::File(from.to_path_buf()))
}

fn text(path: &str, text: String) -> Node {
    Node::File(path.into(), Content::Text(text))
}

fn ext4(uuid: &'static str, label: &'static str) -> Filesystem {
    Filesystem::Ext { kind: "ext4", block_size: 4096, uuid, label }
}

/// `/vmlinuz` and `/initrd.img` as Debian's kernel packages link them (relative, into /boot).
fn debian_links(version: &str) -> [Node; 2] {
    [
        Node::Symlink("vmlinuz".into(), format!("boot/vmlinuz-{version}")),
        Node::Symlink("initrd.img".into(), format!("boot/initrd.img-{version}")),
    ]
}

/// `/boot/vmlinuz-VERSION` and `/boot/initrd.img-VERSION`.
fn debian_boot_files(p: &Payload) -> [Node; 2] {
    [
        file(&format!("boot/vmlinuz-{}", p.version), &p.kernel),
        file(&format!("boot/initrd.img-{}", p.version), &p.initrd),
    ]
}

/// GPT with a BIOS boot partition and an ext4 root holding Debian's /boot with the grub.cfg
/// `grub-mkconfig` writes, and the /vmlinuz links (which must lose to grub.cfg).
pub fn debian_grub(p: &Payload) -> Disk {
    let mut files = debian_boot_files(p).to_vec();
    files.extend(debian_links(&p.version));
    files.push(text("boot/grub/grub.cfg", super::grub_cfg::debian(&p.version, GRUB_ROOT_UUID)));
    let parts = vec![
        Partition { name: "bios", kind: PartType::BiosBoot, uuid: None, mib: 1, fs: Filesystem::None, files: vec![] },
        Partition { name: "root", kind: PartType::Linux, uuid: None, mib: 32, fs: ext4(GRUB_ROOT_UUID, "root"), files },
    ];
    let mut d = Disk::new("debian-grub", Label::Gpt { disk_guid: "1c6e2a0b-7d3f-4e5a-9b1c-2d3e4f5a6b7c" }, parts);
    let expected = |cmdline: String| Expected { cmdline, kernel: p.kernel.clone(), initrds: vec![p.initrd.clone()] };
    d.boot = Some(expected(super::grub_cfg::default_cmdline(GRUB_ROOT_UUID)));
    let recovery = super::grub_cfg::recovery_path(&p.version, GRUB_ROOT_UUID);
    d.others.push((recovery, expected(super::grub_cfg::recovery_cmdline(GRUB_ROOT_UUID))));
    d
}

/// One BLS entry as systemd's `kernel-install` writes it, its files under
/// `/MACHINE-ID/VERSION/` on the ESP.
fn bls_entry(version: &str, options: &[&str], initrds: &[&str]) -> String {
    let mut e = format!(
        "title      Debian GNU/Linux 12 (bookworm)\nversion    {version}\nmachine-id {MACHINE_ID}\nsort-key   debian\n"
    );
    for o in options {
        e += &format!("options    {o}\n");
    }
    e += &format!("linux      /{MACHINE_ID}/{version}/linux\n");
    for i in initrds {
        e += &format!("initrd     /{MACHINE_ID}/{version}/{i}\n");
    }
    e
}

/// GPT with a FAT32 ESP holding BLS entries for two kernel versions (the newer wins; the
/// newer names two initrds and two `options` lines) and an ext4 root.
pub fn bls_esp(p: &Payload) -> Disk {
    let (new, old) = (p.version.as_str(), OLD_VERSION);
    let root = format!("root=PARTUUID={BLS_ROOT_PARTUUID} ro");
    let new_options = format!("{CONSOLE} pvhfw.entry=bls-new");
    let old_options = format!("{root} {CONSOLE} pvhfw.entry=bls-old");
    let entries = "loader/entries";
    let mut esp = vec![
        text("loader/loader.conf", "timeout 3\nconsole-mode keep\n".into()),
        text(
            &format!("{entries}/{MACHINE_ID}-{new}.conf"),
            bls_entry(new, &[&root, &new_options], &["initrd", "extra"]),
        ),
        text(&format!("{entries}/{MACHINE_ID}-{old}.conf"), bls_entry(old, &[&old_options], &["initrd"])),
    ];
    for v in [new, old] {
        esp.push(file(&format!("{MACHINE_ID}/{v}/linux"), &p.kernel));
        esp.push(file(&format!("{MACHINE_ID}/{v}/initrd"), &p.initrd));
    }
    esp.push(file(&format!("{MACHINE_ID}/{new}/extra"), &p.extra_initrd));
    let root_files = vec![text("etc/hostname", "bls\n".into())];
    let parts = vec![
        Partition {
            name: "EFI System Partition",
            kind: PartType::Esp,
            uuid: None,
            mib: 64,
            fs: Filesystem::Fat { bits: 32, volume_id: 0x1e5a_b0de, label: "ESP" },
            files: esp,
        },
        Partition {
            name: "root",
            kind: PartType::Linux,
            uuid: Some(BLS_ROOT_PARTUUID),
            mib: 8,
            fs: ext4("0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e", "root"),
            files: root_files,
        },
    ];
    let mut d = Disk::new("bls-esp", Label::Gpt { disk_guid: "5b4a3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d" }, parts);
    d.boot = Some(Expected {
        cmdline: format!("{root} {new_options}"),
        kernel: p.kernel.clone(),
        initrds: vec![p.initrd.clone(), p.extra_initrd.clone()],
    });
    let old_expected = Expected { cmdline: old_options, kernel: p.kernel.clone(), initrds: vec![p.initrd.clone()] };
    d.others.push((format!("{MACHINE_ID}-{old}"), old_expected));
    d
}

/// The extlinux disk's entry id (`LABEL`) that `DEFAULT` does not name.
pub const EXTLINUX_RESCUE: &str = "rescue";

/// A DOS-labelled disk with one ext4 partition (1 KiB blocks) holding
/// /boot/extlinux/extlinux.conf, whose `DEFAULT` names its second `LABEL`.
pub fn extlinux_mbr(p: &Payload) -> Disk {
    let v = &p.version;
    let root = format!("root=PARTUUID={EXTLINUX_SIGNATURE:08x}-01 ro");
    let cmdline = |marker: &str| format!("{root} {CONSOLE} pvhfw.entry={marker}");
    let label = |name: &str, title: &str, keyword: &str, marker: &str| {
        format!(
            "LABEL {name}\n    MENU LABEL {title}\n    {keyword} /boot/vmlinuz-{v}\n    INITRD /boot/initrd.img-{v}\n    APPEND {}\n\n",
            cmdline(marker)
        )
    };
    let conf = String::from("# extlinux.conf for the pvhfw tests\nDEFAULT debian\nTIMEOUT 30\nPROMPT 0\n\n")
        + &label(EXTLINUX_RESCUE, "Debian GNU/Linux (rescue)", "LINUX", "extlinux-rescue")
        + &label("debian", "Debian GNU/Linux", "KERNEL", "extlinux-default");
    let mut files = debian_boot_files(p).to_vec();
    files.push(text("boot/extlinux/extlinux.conf", conf));
    let fs =
        Filesystem::Ext { kind: "ext4", block_size: 1024, uuid: "3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7", label: "root" };
    let parts = vec![Partition { name: "root", kind: PartType::Linux, uuid: None, mib: 24, fs, files }];
    let mut d = Disk::new("extlinux-mbr", Label::Mbr { signature: EXTLINUX_SIGNATURE }, parts);
    let expected = |c: String| Expected { cmdline: c, kernel: p.kernel.clone(), initrds: vec![p.initrd.clone()] };
    d.boot = Some(expected(cmdline("extlinux-default")));
    d.others.push((EXTLINUX_RESCUE.into(), expected(cmdline("extlinux-rescue"))));
    d
}

/// GPT with one ext3 partition holding only Debian's /boot files and the /vmlinuz and
/// /initrd.img links: pvhfw boots them with `root=PARTUUID=` of that partition.
pub fn links_only(p: &Payload) -> Disk {
    let mut files = debian_boot_files(p).to_vec();
    files.extend(debian_links(&p.version));
    let fs =
        Filesystem::Ext { kind: "ext3", block_size: 4096, uuid: "7d8e9f0a-1b2c-4d3e-8f4a-5b6c7d8e9f0a", label: "root" };
    let parts = vec![Partition { name: "root", kind: PartType::Linux, uuid: Some(LINKS_PARTUUID), mib: 24, fs, files }];
    let mut d = Disk::new("links-only", Label::Gpt { disk_guid: "2e3f4a5b-6c7d-4e8f-9a0b-1c2d3e4f5a6b" }, parts);
    d.boot = Some(Expected {
        cmdline: format!("root=PARTUUID={LINKS_PARTUUID} ro"),
        kernel: p.kernel.clone(),
        initrds: vec![p.initrd.clone()],
    });
    d
}

/// A GPT disk with an ext2 filesystem and no boot entry, kernel or links: to be skipped.
pub fn data() -> Disk {
    let fs =
        Filesystem::Ext { kind: "ext2", block_size: 1024, uuid: "4a5b6c7d-8e9f-4a0b-9c1d-2e3f4a5b6c7d", label: "data" };
    let files = vec![text("README", "a data disk: nothing to boot here\n".into())];
    let parts = vec![Partition { name: "data", kind: PartType::Linux, uuid: None, mib: 8, fs, files }];
    Disk::new("data", Label::Gpt { disk_guid: "6f7a8b9c-0d1e-4f2a-8b3c-4d5e6f7a8b9c" }, parts)
}

/// 8 MiB of zeros.
pub fn blank() -> Disk {
    let parts = vec![Partition {
        name: "blank",
        kind: PartType::Linux,
        uuid: None,
        mib: 8,
        fs: Filesystem::None,
        files: vec![],
    }];
    Disk::new("blank", Label::None, parts)
}

/// An extlinux disk whose only entry names a kernel that is not there.
pub fn missing_kernel() -> Disk {
    let conf = "DEFAULT gone\nLABEL gone\n    LINUX /boot/vmlinuz-missing\n    APPEND console=ttyS0\n";
    let files = vec![text("boot/extlinux/extlinux.conf", conf.into())];
    let fs =
        Filesystem::Ext { kind: "ext4", block_size: 1024, uuid: "8b9c0d1e-2f3a-4b4c-9d5e-6f7a8b9c0d1e", label: "root" };
    let parts = vec![Partition { name: "root", kind: PartType::Linux, uuid: None, mib: 8, fs, files }];
    Disk::new("missing-kernel", Label::Mbr { signature: 0x0bad_f11e }, parts)
}

/// The test kernel's files for [`pvhtest`].
#[derive(Clone, Debug)]
pub struct PvhPayload {
    pub elf: PathBuf,
    pub bzimage: PathBuf,
    /// Two initrds of whole pages (so that no padding between them can matter).
    pub initrds: [PathBuf; 2],
}

/// The BLS entry id of the `pvhtest` bzImage (the ELF's is the default).
pub const PVHTEST_BZ_ENTRY: &str = "pvhtest-bz";

/// GPT with a FAT16 ESP holding only loader.conf, whose `default` picks the ELF entry, and an
/// ext4 XBOOTLDR partition holding both entries and their files: `pvhtest` as a PVH ELF with
/// two initrds and two `options` lines (a quoted value and a tab in them), and as a bzImage
/// with a newer version (which would win without the default).
pub fn pvhtest(p: &PvhPayload) -> Disk {
    let entry = |title: &str, version: &str, linux: &str, initrds: &[&str], options: &[&str]| {
        let mut e = format!("title {title}\nversion {version}\nlinux /{linux}\n");
        e += &initrds.iter().map(|i| format!("initrd /{i}\n")).collect::<String>();
        e + &options.iter().map(|o| format!("options {o}\n")).collect::<String>()
    };
    let elf_options = ["console=ttyS0 pvhfw.test=\"quoted value\"", "tab=\tend pvhfw.entry=elf"];
    let bz_options = ["console=ttyS0 pvhfw.entry=bz"];
    let elf = entry("pvhtest (PVH)", "1.0", "pvhtest", &["initrd-a", "initrd-b"], &elf_options);
    let bz = entry("pvhtest (bzImage)", "2.0", "pvhtest.bzImage", &["initrd-a"], &bz_options);
    let boot = vec![
        text("loader/entries/pvhtest-elf.conf", elf),
        text(&format!("loader/entries/{PVHTEST_BZ_ENTRY}.conf"), bz),
        file("pvhtest", &p.elf),
        file("pvhtest.bzImage", &p.bzimage),
        file("initrd-a", &p.initrds[0]),
        file("initrd-b", &p.initrds[1]),
    ];
    let esp = vec![text("loader/loader.conf", "default pvhtest-elf*\ntimeout 0\n".into())];
    let parts = vec![
        Partition {
            name: "ESP",
            kind: PartType::Esp,
            uuid: None,
            mib: 16,
            fs: Filesystem::Fat { bits: 16, volume_id: 0x0e5f_1600, label: "ESP" },
            files: esp,
        },
        Partition {
            name: "XBOOTLDR",
            kind: PartType::Xbootldr,
            uuid: None,
            mib: 16,
            fs: ext4("5c6d7e8f-9a0b-4c1d-ae2f-3a4b5c6d7e8f", "boot"),
            files: boot,
        },
    ];
    let mut d = Disk::new("pvhtest", Label::Gpt { disk_guid: "7a8b9c0d-1e2f-4a3b-9c4d-5e6f7a8b9c0d" }, parts);
    d.boot = Some(Expected { cmdline: elf_options.join(" "), kernel: p.elf.clone(), initrds: p.initrds.to_vec() });
    let bz = Expected { cmdline: bz_options.join(" "), kernel: p.bzimage.clone(), initrds: vec![p.initrds[0].clone()] };
    d.others.push((PVHTEST_BZ_ENTRY.into(), bz));
    d
}

/// The concatenation of `files` in `out` (what a kernel gets for several initrds).
pub fn concatenation(files: &[PathBuf], out: &Path) -> Result<PathBuf> {
    let mut data = Vec::new();
    for f in files {
        data.extend(std::fs::read(f)?);
    }
    if data.is_empty() {
        bail!("no initrd data in {files:?}");
    }
    std::fs::write(out, data)?;
    Ok(out.to_path_buf())
}
