//! Every test disk, built with small stand-in kernels and initrds, searched by the firmware's
//! own code (`pvhfw::disk::search`: partition tables, ext4, FAT, the entry formats in their
//! order of precedence) over the image file. The entry found must be the one the layout says
//! the firmware boots, with its command line, kernel and initrds byte for byte. This checks
//! the images (and the tools that made them) on the host, before any QEMU boot.

use super::image::{Damage, Layout};
use super::layouts::{self, Disk, Payload, PvhPayload};
use crate::work_dir;
use pvhfw::disk::partition::Table;
use pvhfw::disk::search::{self, Format, SearchError};
use pvhfw::disk::{BlockRead, DiskError, SECTOR};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// An image file as a disk.
struct FileDisk {
    file: std::fs::File,
    sectors: u64,
}

impl FileDisk {
    fn open(path: &Path) -> FileDisk {
        let file = std::fs::File::open(path).unwrap();
        let sectors = file.metadata().unwrap().len() / SECTOR as u64;
        FileDisk { file, sectors }
    }
}

impl BlockRead for FileDisk {
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), DiskError> {
        let err = DiskError::Read { sector };
        if sector + (buf.len() / SECTOR) as u64 > self.sectors {
            return Err(err);
        }
        self.file.read_exact_at(buf, sector * SECTOR as u64).map_err(|_| err)
    }

    fn sectors(&self) -> u64 {
        self.sectors
    }
}

/// A filesystem the library opened on a partition.
/// What the search found: the format, and the entry's command line, kernel and initrds.
#[derive(Debug)]
struct Found {
    source: &'static str,
    cmdline: String,
    kernel: Vec<u8>,
    initrds: Vec<Vec<u8>>,
}

/// The entry the firmware boots from `image` (or the one `wanted` names), read back.
fn find(image: &Path, wanted: Option<&str>) -> Result<Option<Found>, SearchError> {
    let mut disk = FileDisk::open(image);
    let (mut text, mut cmdline) = (vec![0u8; 64 * 1024], vec![0u8; 4096]);
    let Some((volumes, found)) = search::search(&mut disk, &mut text, wanted.map(str::as_bytes), &mut cmdline)? else {
        return Ok(None);
    };
    let volume = *volumes.get(found.volume).expect("the entry's volume");
    let mut read = |h: &pvhfw::disk::volume::Handle| {
        let mut bytes = vec![0u8; h.size() as usize];
        volume.read_at(&mut disk, h, 0, &mut bytes).expect("reading a file the entry names");
        bytes
    };
    let source = match found.format {
        Format::Bls => "bls",
        Format::Extlinux => "extlinux",
        Format::Grub => "grub",
        Format::Links => "links",
    };
    Ok(Some(Found {
        source,
        cmdline: String::from_utf8(cmdline[..found.cmdline_len].to_vec()).unwrap(),
        kernel: read(&found.kernel),
        initrds: found.initrds.iter().flatten().map(&mut read).collect(),
    }))
}

/// Stand-ins for the kernels and initrds (the readers do not care what they hold), with
/// `seed` in their bytes so that each file differs.
fn stand_in(name: &str, seed: u8, size: usize) -> PathBuf {
    let dir = work_dir().join("disk-unit");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let data: Vec<u8> = (0..size).map(|i| (i * 7 + i / 4096) as u8 ^ seed).collect();
    // Tests run at once and share these files: never leave one half-written.
    if std::fs::read(&path).ok() != Some(data.clone()) {
        let tmp = dir.join(format!("{name}.{:?}", std::thread::current().id()));
        std::fs::write(&tmp, data).unwrap();
        std::fs::rename(tmp, &path).unwrap();
    }
    path
}

fn payload() -> Payload {
    Payload {
        version: "6.1.0-99-amd64".into(),
        kernel: stand_in("vmlinuz", 1, 300_001),
        initrd: stand_in("initrd", 2, 120_000),
        extra_initrd: stand_in("extra", 3, 512),
    }
}

fn pvh_payload() -> PvhPayload {
    PvhPayload {
        elf: stand_in("pvhtest", 4, 70_000),
        bzimage: stand_in("pvhtest.bzImage", 5, 90_000),
        initrds: [stand_in("initrd-a", 6, 8192), stand_in("initrd-b", 7, 4096)],
    }
}

/// Builds `d` under a name of its own (the real disks keep theirs cached).
fn build(d: &Disk) -> PathBuf {
    let layout = Layout { name: format!("unit-{}", d.layout.name), ..d.layout.clone() };
    layout.build().unwrap()
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

/// `d` boots its default entry from `source`, and each of its other entries by name.
fn boots(d: &Disk, source: &str) {
    let image = build(d);
    let check = |wanted: Option<&str>, want: &layouts::Expected| {
        let found = find(&image, wanted).unwrap();
        let found = found.unwrap_or_else(|| panic!("{}: no entry for {wanted:?}", d.layout.name));
        assert_eq!(found.source, source, "{}", d.layout.name);
        assert_eq!(found.cmdline, want.cmdline, "{} {wanted:?}", d.layout.name);
        assert!(found.kernel == read(&want.kernel), "{} {wanted:?}: another kernel", d.layout.name);
        let initrds: Vec<Vec<u8>> = want.initrds.iter().map(|i| read(i)).collect();
        assert!(found.initrds == initrds, "{} {wanted:?}: other initrds", d.layout.name);
    };
    check(None, d.boot.as_ref().unwrap());
    for (name, want) in &d.others {
        check(Some(name), want);
    }
}

#[test]
fn grub_cfg_wins_over_the_links() {
    boots(&layouts::debian_grub(&payload()), "grub");
}

#[test]
fn bls_newest_version_wins() {
    boots(&layouts::bls_esp(&payload()), "bls");
}

#[test]
fn extlinux_default_label_wins() {
    boots(&layouts::extlinux_mbr(&payload()), "extlinux");
}

#[test]
fn links_only_boot_their_partition() {
    let d = layouts::links_only(&payload());
    boots(&d, "links");
    assert!(d.boot.unwrap().cmdline.contains(layouts::LINKS_PARTUUID));
}

#[test]
fn pvhtest_loader_conf_default_wins() {
    boots(&layouts::pvhtest(&pvh_payload()), "bls");
}

/// A damaged primary GPT header leaves the backup, which still finds the entry.
#[test]
fn damaged_primary_gpt_reads_the_backup() {
    let d = layouts::pvhtest(&pvh_payload()).damaged(Damage::PrimaryGpt, "primary-gpt");
    boots(&d, "bls");
    let table = Table::read(&mut FileDisk::open(&build(&d))).unwrap();
    assert!(matches!(table, Table::Gpt { backup: true, .. }));
}

#[test]
fn both_gpts_damaged_is_refused() {
    let d = layouts::pvhtest(&pvh_payload()).damaged(Damage::BothGpts, "both-gpts");
    assert!(matches!(find(&build(&d), None), Err(SearchError::Disk(DiskError::Corrupt { .. }))));
}

/// The disks with nothing to boot: no entry is found, and the missing kernel is named.
#[test]
fn nothing_to_boot() {
    for d in [layouts::data(), layouts::blank()] {
        assert!(find(&build(&d), None).unwrap().is_none(), "{}", d.layout.name);
    }
    let missing = find(&build(&layouts::missing_kernel()), None);
    assert!(matches!(missing, Err(SearchError::Missing { what: "kernel", .. })), "{missing:?}");
}

#[test]
fn kernel_version_from_the_setup_header() {
    let mut bz = vec![0u8; 0x400];
    bz[0x20e..0x210].copy_from_slice(&0x100u16.to_le_bytes());
    let text = b"6.1.0-57-amd64 (debian-kernel@lists.debian.org) #1 SMP";
    bz[0x300..0x300 + text.len()].copy_from_slice(text);
    assert_eq!(layouts::kernel_version(&bz).as_deref(), Some("6.1.0-57-amd64"));
    assert_eq!(layouts::kernel_version(&[0; 16]), None);
}
