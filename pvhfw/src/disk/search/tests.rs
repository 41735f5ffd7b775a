//! The search over the images of pvhfw/testdata/disk/ (make-boot.sh, make.sh).

use super::*;
use crate::disk::testimg::image;
use crate::disk::PhysRead;
use std::vec::Vec;

/// A disk image with 1 MiB of "physical memory" from address 0 to read into.
struct Machine<'a> {
    disk: &'a [u8],
    mem: Vec<u8>,
    reads: usize,
}

impl<'a> Machine<'a> {
    fn new(disk: &'a [u8]) -> Self {
        Machine { disk, mem: std::vec![0xee; 1 << 20], reads: 0 }
    }
}

impl BlockRead for Machine<'_> {
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), DiskError> {
        self.reads += 1;
        self.disk.read(sector, buf)
    }
    fn sectors(&self) -> u64 {
        self.disk.sectors()
    }
}

impl PhysRead for Machine<'_> {
    fn read_phys(&mut self, sector: u64, sectors: u64, phys: u64) -> Result<(), DiskError> {
        let (at, len) = (phys as usize, sectors as usize * 512);
        let mut disk = self.disk;
        disk.read(sector, &mut self.mem[at..at + len])
    }
    fn write_phys(&mut self, phys: u64, bytes: &[u8]) -> Result<(), DiskError> {
        self.mem[phys as usize..phys as usize + bytes.len()].copy_from_slice(bytes);
        Ok(())
    }
    fn zero_phys(&mut self, phys: u64, len: u64) -> Result<(), DiskError> {
        self.mem[phys as usize..(phys + len) as usize].fill(0);
        Ok(())
    }
}

/// What a disk boots: the format, the kernel's and initrds' contents, the command line.
#[derive(Debug, PartialEq)]
struct Booted {
    format: Format,
    kernel: Vec<u8>,
    initrds: Vec<Vec<u8>>,
    cmdline: std::string::String,
}

fn boot(img: &[u8], wanted: Option<&str>) -> Result<Option<Booted>, SearchError> {
    boot_with(img, wanted, &mut [0u8; 2048])
}

fn boot_with(img: &[u8], wanted: Option<&str>, cmdline: &mut [u8]) -> Result<Option<Booted>, SearchError> {
    let mut m = Machine::new(img);
    let mut text = std::vec![0u8; 64 * 1024];
    let Some((volumes, found)) = search(&mut m, &mut text, wanted.map(str::as_bytes), cmdline)? else {
        return Ok(None);
    };
    let v = *volumes.get(found.volume).unwrap();
    let mut read = |h: &Handle| {
        let mut buf = std::vec![0u8; h.size() as usize];
        v.read_at(&mut m, h, 0, &mut buf).unwrap();
        // The same bytes straight to "physical memory", from an unaligned address.
        v.read_to_phys(&mut m, h, 0, 0x1003, h.size()).unwrap();
        assert_eq!(m.mem[0x1003..0x1003 + buf.len()], buf[..]);
        buf
    };
    Ok(Some(Booted {
        format: found.format,
        kernel: read(&found.kernel),
        initrds: found.initrds.iter().flatten().map(&mut read).collect(),
        cmdline: std::string::String::from_utf8(cmdline[..found.cmdline_len].to_vec()).unwrap(),
    }))
}

fn booted(format: Format, kernel: &str, initrds: &[&str], cmdline: &str) -> Booted {
    Booted {
        format,
        kernel: kernel.as_bytes().to_vec(),
        initrds: initrds.iter().map(|i| i.as_bytes().to_vec()).collect(),
        cmdline: cmdline.into(),
    }
}

#[test]
fn grub_cfg_on_a_separate_boot_wins_over_the_links() {
    let img = image("boot-grub.img");
    let want = booted(
        Format::Grub,
        "kernel 6.1.0-2\n",
        &["initrd 6.1.0-2\n"],
        "root=UUID=9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a ro quiet",
    );
    assert_eq!(boot(&img, None).unwrap(), Some(want));
    let advanced = "Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux 6.1.0-1-amd64";
    let want =
        booted(Format::Grub, "kernel 6.1.0-1\n", &[], "root=UUID=9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a ro single");
    assert_eq!(boot(&img, Some(advanced)).unwrap(), Some(want));
}

#[test]
fn bls_default_from_loader_conf_else_by_name() {
    let img = image("boot-bls.img");
    let want = booted(
        Format::Bls,
        "kernel 6.2\n",
        &["ucode\n", "initrd 6.2\n"],
        "root=PARTUUID=0a1b2c3d-4e5f-4061-8273-9485a6b7c8d9 quiet",
    );
    assert_eq!(boot(&img, None).unwrap(), Some(want));
    let want = booted(
        Format::Bls,
        "kernel 6.10\n",
        &["initrd 6.10\n"],
        "root=PARTUUID=0a1b2c3d-4e5f-4061-8273-9485a6b7c8d9 newest",
    );
    assert_eq!(boot(&img, Some("debian-6.10")).unwrap(), Some(want));
    assert_eq!(
        boot(&img, Some("nothing")).unwrap_err(),
        SearchError::Entry { format: Format::Bls, error: EntryError::DefaultNotFound }
    );
}

#[test]
fn extlinux_paths_are_relative_to_its_directory() {
    let img = image("boot-extlinux.img");
    let want = booted(Format::Extlinux, "kernel extlinux\n", &["initrd extlinux\n"], "root=/dev/vda1 ro quiet");
    assert_eq!(boot(&img, None).unwrap(), Some(want));
}

#[test]
fn links_boot_with_their_partition_uuid() {
    let img = image("gpt-ext4.img");
    let b = boot(&img, None).unwrap().unwrap();
    assert_eq!(
        (b.format, b.cmdline.as_str()),
        (Format::Links, "root=PARTUUID=0a1b2c3d-4e5f-4061-8273-9485a6b7c8d9 ro")
    );
    assert_eq!((b.kernel.len(), b.initrds.len(), b.initrds[0].len()), (5000, 1, 300000));
}

#[test]
fn a_disk_without_a_filesystem_has_nothing_to_boot() {
    assert_eq!(boot(&std::vec![0u8; 1 << 20], None).unwrap(), None);
    // An ext4 volume without any entry.
    assert_eq!(boot(&image("mbr-ext2.img"), None).unwrap(), None);
}

#[test]
fn a_missing_kernel_is_named() {
    let mut img = image("boot-grub.img");
    let at = img.windows(22).position(|w| w == b"vmlinuz-6.1.0-2-amd64 ").unwrap();
    img[at + 14] = b'9';
    let mut cmdline = [0u8; 2048];
    let Err(SearchError::Missing { format, what, path_len }) = boot_with(&img, None, &mut cmdline) else { panic!() };
    assert_eq!((format, what, &cmdline[..path_len]), (Format::Grub, "kernel", &b"/vmlinuz-6.1.0-9-amd64"[..]));
}

#[test]
fn a_damaged_gpt_falls_back_to_its_backup_and_both_damaged_is_an_error() {
    let mut img = image("boot-grub.img");
    img[512..1024].fill(0);
    assert_eq!(boot(&img, None).unwrap().unwrap().format, Format::Grub);
    let last = img.len() - 512;
    img[last..].fill(0);
    assert!(matches!(boot(&img, None), Err(SearchError::Disk(DiskError::Corrupt { .. }))), "{:?}", boot(&img, None));
}

#[test]
fn a_grub_search_for_another_disk_is_an_error() {
    let mut img = image("boot-grub.img");
    // The UUID in grub.cfg's search lines (not the filesystem's superblock).
    let uuid = b"3b6f0a52-8c1d-4e2f-9a7b-1c2d3e4f5a6b";
    let mut from = 0;
    while let Some(at) = img[from..].windows(uuid.len()).position(|w| w == uuid) {
        img[from + at] = b'0';
        from += at + 1;
    }
    assert!(matches!(
        boot(&img, None),
        Err(SearchError::Entry { format: Format::Grub, error: EntryError::Unsupported { .. } })
    ));
}
