//! Over the images of `testdata/disk/make-fat.sh`, and copies of them damaged in memory.

use super::*;
use crate::disk::testimg::image;

use std::vec::Vec;

const IMAGES: [(&str, Kind); 3] = [("fat12.img", Kind::Fat12), ("fat16.img", Kind::Fat16), ("fat32.img", Kind::Fat32)];

/// The content make-fat.sh writes to its large files.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 31 + i / 1021) % 251) as u8).collect()
}

fn read(fat: &Fat, disk: &mut &[u8], path: &str) -> Result<Vec<u8>, DiskError> {
    let file = fat.lookup(disk, path.as_bytes())?;
    let mut buf = std::vec![0u8; file.size as usize];
    let n = fat.read_file(disk, &file, &mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

/// A file read through its runs, as the firmware streams a kernel; and how many runs it took.
fn read_by_runs(fat: &Fat, disk: &mut &[u8], file: &File) -> Result<(Vec<u8>, usize), DiskError> {
    let mut out = Vec::new();
    let mut runs = fat.runs(file)?;
    let mut count = 0;
    while let Some(run) = runs.next(disk)? {
        let mut buf = std::vec![0u8; (run.bytes as usize).div_ceil(SECTOR) * SECTOR];
        disk.read(run.sector, &mut buf)?;
        out.extend_from_slice(&buf[..run.bytes as usize]);
        count += 1;
    }
    Ok((out, count))
}

#[test]
fn reads_nested_long_names_in_every_kind() {
    for (name, kind) in IMAGES {
        let img = image(name);
        let disk = &mut &img[..];
        let fat = Fat::open(disk, 0).unwrap();
        assert_eq!(fat.kind(), kind, "{name}");
        let conf = read(&fat, disk, "/loader/entries/debian-6.1.0.conf").unwrap();
        assert!(conf.starts_with(b"title Debian\nversion 6.1.0\n"), "{name}");
        assert_eq!(read(&fat, disk, "LOADER//Entries/DEBIAN-6.1.0.CONF/").unwrap(), conf);
        assert_eq!(read(&fat, disk, "/loader/entries/DEBIAN~1.CON").unwrap(), conf);
        assert_eq!(read(&fat, disk, "/loader/loader.conf").unwrap(), b"timeout 0\ndefault debian-*\n");
        assert_eq!(read(&fat, disk, "/upper.txt").unwrap(), b"short name only\n");
        assert_eq!(read(&fat, disk, "/many-names-37.txt").unwrap(), b"file 37\n");
    }
}

#[test]
fn reads_large_and_fragmented_files() {
    for (name, _) in IMAGES {
        let img = image(name);
        let disk = &mut &img[..];
        let fat = Fat::open(disk, 0).unwrap();
        assert_eq!(read(&fat, disk, "/big file with a long name.BIN").unwrap(), pattern(100_000));
        let big = fat.lookup(disk, b"/Big File With A Long Name.bin").unwrap();
        assert_eq!(read_by_runs(&fat, disk, &big).unwrap(), (pattern(100_000), 1), "{name}");
        let frag = fat.lookup(disk, b"/FRAG.BIN").unwrap();
        let (data, runs) = read_by_runs(&fat, disk, &frag).unwrap();
        assert_eq!(data, pattern(30_000), "{name}");
        assert!(runs >= 3, "{name}: FRAG.BIN in {runs} runs");
        assert_eq!(read(&fat, disk, "/frag.bin").unwrap(), data);
    }
}

#[test]
fn lists_directories() {
    for (name, _) in IMAGES {
        let img = image(name);
        let disk = &mut &img[..];
        let fat = Fat::open(disk, 0).unwrap();
        let mut names = Vec::new();
        fat.list(disk, &fat.root(), |n, f| names.push((n.to_vec(), f.dir))).unwrap();
        let has = |n: &str, dir: bool| names.contains(&(n.as_bytes().to_vec(), dir));
        assert!(has("loader", true) && has("UPPER.TXT", false) && has("FRAG.BIN", false));
        assert!(has("Big File With A Long Name.bin", false) && has("many-names-40.txt", false));
        assert!(!names.iter().any(|(n, _)| n.starts_with(b"GAP") || n.starts_with(b".")));
        assert_eq!(names.len(), 1 + 1 + 1 + 40 + 2 + 1, "{name}");
        let entries = fat.lookup(disk, b"/loader/entries").unwrap();
        let mut names = Vec::new();
        fat.list(disk, &entries, |n, _| names.push(n.to_vec())).unwrap();
        assert_eq!(names, [b"debian-6.1.0.conf".to_vec()], "{name}");
    }
}

#[test]
fn names_missing_files_and_small_buffers() {
    let img = image("fat16.img");
    let disk = &mut &img[..];
    let fat = Fat::open(disk, 0).unwrap();
    assert_eq!(fat.lookup(disk, b"/loader/nope.conf"), Err(DiskError::NotFound));
    assert_eq!(fat.lookup(disk, b"/UPPER.TXT/x"), Err(DiskError::NotFound));
    assert_eq!(fat.lookup(disk, b"/loader/..").map(|_| ()), Err(DiskError::NotFound));
    let big = fat.lookup(disk, b"/FRAG.BIN").unwrap();
    let mut small = [0u8; 100];
    assert_eq!(fat.read_file(disk, &big, &mut small), Err(DiskError::TooLarge { what: "FAT file" }));
    let dir = fat.lookup(disk, b"/loader").unwrap();
    assert_eq!(fat.read_file(disk, &dir, &mut small), Err(DiskError::NotFound));
    assert_eq!(fat.root(), fat.lookup(disk, b"/").unwrap());
}

#[test]
fn opens_a_volume_inside_a_disk() {
    let img = image("fat12.img");
    let mut disk = std::vec![0u8; 2048 * SECTOR];
    disk.extend_from_slice(&img);
    let disk = &mut &disk[..];
    let fat = Fat::open(disk, 2048).unwrap();
    assert_eq!(read(&fat, disk, "/FRAG.BIN").unwrap(), pattern(30_000));
    assert!(matches!(Fat::open(disk, 0), Err(DiskError::Corrupt { .. })));
}

/// Writes `value` into entry `cluster` of the active FAT of `img`.
fn set_fat(img: &mut [u8], fat: &Fat, cluster: u32, value: u32) {
    let base = fat.fat as usize * SECTOR;
    let c = cluster as usize;
    match fat.kind {
        Kind::Fat12 => {
            let at = base + c + c / 2;
            let old = u16::from_le_bytes([img[at], img[at + 1]]);
            let new =
                if c % 2 == 1 { (old & 0x000f) | (value as u16) << 4 } else { (old & 0xf000) | (value as u16 & 0xfff) };
            img[at..at + 2].copy_from_slice(&new.to_le_bytes());
        }
        Kind::Fat16 => img[base + 2 * c..][..2].copy_from_slice(&(value as u16).to_le_bytes()),
        Kind::Fat32 => img[base + 4 * c..][..4].copy_from_slice(&value.to_le_bytes()),
    }
}

fn corrupt_what(r: Result<impl core::fmt::Debug, DiskError>) -> &'static str {
    match r {
        Err(DiskError::Corrupt { what }) => what,
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn damaged_chains_are_corrupt() {
    for (name, _) in IMAGES {
        let clean = image(name);
        let fat = Fat::open(&mut &clean[..], 0).unwrap();
        let big = fat.lookup(&mut &clean[..], b"/Big File With A Long Name.bin").unwrap();
        let eoc = 0x0fff_ffff;
        let cases: [(u32, u32, &str); 5] = [
            (big.first + 5, big.first + 2, "FAT chain loops"),
            (big.first + 5, big.first + 5, "FAT chain loops"),
            (big.first + 5, fat.clusters + 2, "FAT chain leaves the volume (free, bad or out-of-range cluster)"),
            (big.first + 5, 0, "FAT chain leaves the volume (free, bad or out-of-range cluster)"),
            (big.first + 5, eoc, "FAT chain shorter than its file"),
        ];
        for (cluster, value, what) in cases {
            let mut img = clean.clone();
            set_fat(&mut img, &fat, cluster, value);
            let disk = &mut &img[..];
            assert_eq!(corrupt_what(read(&fat, disk, "/Big File With A Long Name.bin")), what, "{name}");
            assert_eq!(corrupt_what(read_by_runs(&fat, disk, &big)), what, "{name}");
        }
        // Past the file's end the chain must still end.
        let mut img = clean.clone();
        let last = big.first + (100_000u32).div_ceil(fat.cluster_bytes() as u32) - 1;
        set_fat(&mut img, &fat, last, big.first);
        assert_eq!(corrupt_what(read(&fat, &mut &img[..], "/Big File With A Long Name.bin")), "FAT chain loops");
    }
}

#[test]
fn a_looping_directory_is_corrupt() {
    let clean = image("fat32.img");
    let fat = Fat::open(&mut &clean[..], 0).unwrap();
    // The root directory's second cluster points back to its first.
    let mut cache = FatCache::new();
    let second = fat.next_cluster(&mut &clean[..], &mut cache, fat.root_cluster).unwrap().unwrap();
    let mut img = clean.clone();
    set_fat(&mut img, &fat, second, fat.root_cluster);
    assert_eq!(corrupt_what(fat.lookup(&mut &img[..], b"/none")), "FAT chain loops");
    set_fat(&mut img, &fat, fat.root_cluster, fat.root_cluster);
    assert_eq!(corrupt_what(fat.lookup(&mut &img[..], b"/none")), "FAT chain loops");
}

#[test]
fn damaged_boot_sectors_are_corrupt() {
    let clean = image("fat16.img");
    let patches: [(usize, &[u8], &str); 8] = [
        (510, &[0, 0], "FAT boot sector signature"),
        (0, &[0], "FAT BPB"),
        (11, &[0x2c, 0x01], "FAT BPB"),
        (13, &[3], "FAT BPB"),
        (16, &[0], "FAT BPB"),
        (22, &[0, 0], "FAT BPB sizes"),
        (19, &[20, 0], "FAT BPB sizes"),
        (22, &[1, 0], "FAT smaller than its volume's clusters"),
    ];
    for (at, bytes, what) in patches {
        let mut img = clean.clone();
        img[at..at + bytes.len()].copy_from_slice(bytes);
        assert_eq!(corrupt_what(Fat::open(&mut &img[..], 0)), what, "patch at {at}");
    }
    // A volume that claims more sectors than the disk holds.
    let short = &clean[..clean.len() / 2];
    assert_eq!(corrupt_what(Fat::open(&mut &short[..], 0)), "FAT volume larger than its disk");
    let mut img = image("fat32.img");
    img[44..48].copy_from_slice(&1u32.to_le_bytes());
    assert_eq!(corrupt_what(Fat::open(&mut &img[..], 0)), "FAT32 root cluster");
    assert_eq!(Fat::open(&mut &img[..8], 0).map(|_| ()), Err(DiskError::Read { sector: 0 }));
}
