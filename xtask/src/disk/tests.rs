//! Every test disk, built with small stand-in kernels and initrds, read back through the
//! library's own readers (`pvhfw::disk`: partition tables, ext4, FAT, the entry parsers) the
//! way the firmware walks a disk: BLS entries, then extlinux, then grub.cfg, then the
//! /vmlinuz links. The entry found must be the one the layout says a firmware boots, with
//! its command line, kernel and initrds byte for byte. This checks the images (and the tools
//! that made them) independently of the firmware.

use super::image::{Damage, Layout};
use super::layouts::{self, Disk, Payload, PvhPayload};
use crate::work_dir;
use pvhfw::disk::entries::{bls, extlinux, grub, Entry};
use pvhfw::disk::ext4::Ext4;
use pvhfw::disk::fat::Fat;
use pvhfw::disk::partition::{Kind, Partition, Table};
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
enum Fs {
    Ext(Ext4),
    Fat(Fat),
}

impl Fs {
    fn open(disk: &mut FileDisk, p: &Partition) -> Option<Fs> {
        match p.kind {
            Kind::Esp | Kind::Fat => Fat::open(disk, p.start).ok().map(Fs::Fat),
            Kind::BiosBoot => None,
            _ => Ext4::open(disk, p.start, p.sectors)
                .ok()
                .map(Fs::Ext)
                .or_else(|| Fat::open(disk, p.start).ok().map(Fs::Fat)),
        }
    }

    /// The file at `path`, or `None` if there is none.
    fn read(&self, disk: &mut FileDisk, path: &[u8]) -> Option<Vec<u8>> {
        match self {
            Fs::Ext(fs) => {
                let inode = fs.lookup(disk, path).ok()?;
                let mut buf = vec![0; inode.size as usize];
                let n = fs.read(disk, &inode, 0, &mut buf).unwrap();
                assert_eq!(n, buf.len());
                Some(buf)
            }
            Fs::Fat(fs) => {
                let file = fs.lookup(disk, path).ok()?;
                let mut buf = vec![0; file.size as usize];
                fs.read_file(disk, &file, &mut buf).unwrap();
                Some(buf)
            }
        }
    }

    /// The names in directory `path` (none if it does not exist).
    fn list(&self, disk: &mut FileDisk, path: &[u8]) -> Vec<Vec<u8>> {
        let mut names = Vec::new();
        match self {
            Fs::Ext(fs) => {
                let Ok(dir) = fs.lookup(disk, path) else { return names };
                let mut entries = fs.dir(&dir).unwrap();
                while let Some(e) = entries.next(disk).unwrap() {
                    names.push(e.name().to_vec());
                }
            }
            Fs::Fat(fs) => {
                let Ok(dir) = fs.lookup(disk, path) else { return names };
                fs.list(disk, &dir, |name, _| names.push(name.to_vec())).unwrap();
            }
        }
        names
    }

    fn uuid(&self) -> Option<String> {
        let Fs::Ext(fs) = self else { return None };
        let u: String = fs.uuid().iter().map(|b| format!("{b:02x}")).collect();
        Some(format!("{}-{}-{}-{}-{}", &u[..8], &u[8..12], &u[12..16], &u[16..20], &u[20..]))
    }
}

/// An opened disk: its table and each partition with its filesystem.
struct Opened {
    disk: FileDisk,
    table: Table,
    parts: Vec<(Partition, Option<Fs>)>,
}

fn open(image: &Path) -> Result<Opened, DiskError> {
    let mut disk = FileDisk::open(image);
    let table = Table::read(&mut disk)?;
    let list: Vec<Partition> = table.partitions(&mut disk).collect::<Result<_, _>>()?;
    let parts = list.into_iter().map(|p| (p, Fs::open(&mut disk, &p))).collect();
    Ok(Opened { disk, table, parts })
}

/// What the walk found: where, and the entry's command line, kernel and initrds.
#[derive(Debug)]
struct Found {
    source: &'static str,
    cmdline: String,
    kernel: Vec<u8>,
    initrds: Vec<Vec<u8>>,
}

fn text(t: &pvhfw::disk::entries::Text<'_>) -> Vec<u8> {
    t.bytes().collect()
}

fn cmdline(e: &Entry<'_>) -> String {
    let mut buf = [0u8; 4096];
    let n = e.cmdline(&mut buf).unwrap();
    String::from_utf8(buf[..n].to_vec()).unwrap()
}

impl Opened {
    /// The entry a firmware boots (or the one `wanted` names): the first format found wins.
    fn find(&mut self, wanted: Option<&str>) -> Option<Found> {
        let wanted = wanted.map(str::as_bytes);
        self.bls(wanted).or_else(|| self.extlinux(wanted)).or_else(|| self.grub(wanted)).or_else(|| self.links())
    }

    /// `entry`'s files, read from partition `at`'s filesystem.
    fn load(&mut self, at: usize, source: &'static str, e: &Entry<'_>, cmdline: String) -> Found {
        let fs = self.parts[at].1.as_ref().unwrap();
        let kernel = fs.read(&mut self.disk, &text(&e.kernel)).expect("the entry's kernel");
        let initrds = e.initrds().iter().map(|i| fs.read(&mut self.disk, &text(i)).expect("an initrd")).collect();
        Found { source, cmdline, kernel, initrds }
    }

    fn bls(&mut self, wanted: Option<&[u8]>) -> Option<Found> {
        let mut files = Vec::new();
        let mut loader_conf = None;
        for (i, (p, fs)) in self.parts.iter().enumerate() {
            let Some(fs) = fs else { continue };
            if p.kind == Kind::Esp {
                loader_conf = fs.read(&mut self.disk, b"/loader/loader.conf");
            }
            for name in fs.list(&mut self.disk, b"/loader/entries").into_iter().filter(|n| n.ends_with(b".conf")) {
                let mut path = b"/loader/entries/".to_vec();
                path.extend(&name);
                files.push((i, name, fs.read(&mut self.disk, &path).unwrap()));
            }
        }
        let pairs = files.iter().map(|(_, n, t)| (n.as_slice(), t.as_slice()));
        let e = bls::select(pairs, loader_conf.as_deref(), wanted).ok()?;
        let at = files.iter().find(|(_, n, _)| n.strip_suffix(b".conf") == Some(e.id)).unwrap().0;
        Some(self.load(at, "bls", &e, cmdline(&e)))
    }

    fn extlinux(&mut self, wanted: Option<&[u8]>) -> Option<Found> {
        for at in 0..self.parts.len() {
            let Some(fs) = &self.parts[at].1 else { continue };
            let paths: [&[u8]; 2] = [b"/boot/extlinux/extlinux.conf", b"/extlinux/extlinux.conf"];
            let Some(conf) = paths.iter().find_map(|p| fs.read(&mut self.disk, p)) else { continue };
            let e = extlinux::select(&conf, wanted).unwrap();
            return Some(self.load(at, "extlinux", &e, cmdline(&e)));
        }
        None
    }

    fn grub(&mut self, wanted: Option<&[u8]>) -> Option<Found> {
        for at in 0..self.parts.len() {
            let Some(fs) = &self.parts[at].1 else { continue };
            let Some(cfg) = fs.read(&mut self.disk, b"/boot/grub/grub.cfg") else { continue };
            let e = grub::select(&cfg, wanted).unwrap();
            // The kernel is on the filesystem `search --fs-uuid` names.
            let uuid = String::from_utf8(text(&e.root_uuid.expect("grub.cfg searches by UUID"))).unwrap();
            let root = self.parts.iter().position(|(_, f)| f.as_ref().and_then(Fs::uuid) == Some(uuid.clone()));
            return Some(self.load(root.expect("the searched filesystem"), "grub", &e, cmdline(&e)));
        }
        None
    }

    fn links(&mut self) -> Option<Found> {
        for (p, fs) in &self.parts {
            let Some(fs) = fs else { continue };
            let Some(kernel) = fs.read(&mut self.disk, b"/vmlinuz") else { continue };
            let initrds = fs.read(&mut self.disk, b"/initrd.img").into_iter().collect();
            let cmdline = format!("root=PARTUUID={}", p.uuid.as_str());
            return Some(Found { source: "links", cmdline, kernel, initrds });
        }
        None
    }
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
    let mut opened = open(&image).unwrap();
    let mut check = |wanted: Option<&str>, want: &layouts::Expected| {
        let found = opened.find(wanted).unwrap_or_else(|| panic!("{}: no entry for {wanted:?}", d.layout.name));
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
    assert!(d.boot.unwrap().cmdline.ends_with(layouts::LINKS_PARTUUID));
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
    let opened = open(&build(&d)).unwrap();
    assert!(matches!(opened.table, Table::Gpt { backup: true, .. }));
}

#[test]
fn both_gpts_damaged_is_refused() {
    let d = layouts::pvhtest(&pvh_payload()).damaged(Damage::BothGpts, "both-gpts");
    assert!(matches!(open(&build(&d)), Err(DiskError::Corrupt { .. })));
}

/// The disks with nothing to boot: no entry is found, and the missing kernel is missing.
#[test]
fn nothing_to_boot() {
    for d in [layouts::data(), layouts::blank()] {
        let found = open(&build(&d)).map(|mut o| o.find(None).is_none());
        assert!(found.unwrap_or(true), "{}", d.layout.name);
    }
    let mut opened = open(&build(&layouts::missing_kernel())).unwrap();
    let (_, fs) = &opened.parts[0];
    let conf = fs.as_ref().unwrap().read(&mut opened.disk, b"/boot/extlinux/extlinux.conf").unwrap();
    let e = extlinux::select(&conf, None).unwrap();
    assert_eq!(fs.as_ref().unwrap().read(&mut opened.disk, &text(&e.kernel)), None);
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
