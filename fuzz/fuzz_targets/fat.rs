//! The FAT reader over a hostile volume: the input is the start of a 64 MiB disk whose other
//! sectors read as zeros (so that a small input can describe a large volume). Opening, path
//! lookups, whole-file reads, run walks and directory listings must end, without panicking, in
//! a file or an error; a file read wholly has its size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pvhfw::disk::fat::{Fat, File};
use pvhfw::disk::{BlockRead, DiskError, SECTOR};

const DISK_SECTORS: u64 = 64 << 11;

struct Padded<'a>(&'a [u8]);

impl BlockRead for Padded<'_> {
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), DiskError> {
        let end = sector.checked_add((buf.len() / SECTOR) as u64);
        if !buf.len().is_multiple_of(SECTOR) || end.is_none_or(|e| e > DISK_SECTORS) {
            return Err(DiskError::Read { sector });
        }
        buf.fill(0);
        let start = sector as usize * SECTOR;
        if let Some(have) = self.0.get(start..) {
            let n = have.len().min(buf.len());
            buf[..n].copy_from_slice(&have[..n]);
        }
        Ok(())
    }

    fn sectors(&self) -> u64 {
        DISK_SECTORS
    }
}

fn walk(fat: &Fat, disk: &mut Padded<'_>, file: &File) {
    let Ok(mut runs) = fat.runs(file) else { return };
    let mut total = 0u64;
    while let Ok(Some(run)) = runs.next(disk) {
        assert!(run.bytes > 0);
        total += run.bytes;
    }
    if !file.dir {
        assert!(total <= u64::from(file.size));
    }
}

fuzz_target!(|data: &[u8]| {
    let mut disk = Padded(data);
    let Ok(fat) = Fat::open(&mut disk, 0) else { return };
    let mut buf = vec![0u8; 64 << 10];
    for path in ["/loader/entries/debian-6.1.0.conf", "/loader/loader.conf", "/FRAG.BIN", "/a/b/c/d"] {
        let Ok(file) = fat.lookup(&mut disk, path.as_bytes()) else { continue };
        if let Ok(n) = fat.read_file(&mut disk, &file, &mut buf) {
            assert_eq!(n, file.size as usize);
        }
        walk(&fat, &mut disk, &file);
    }
    let root = fat.root();
    let mut names = 0usize;
    let listed = fat.list(&mut disk, &root, |name, _| {
        assert!(name.len() <= 255 * 3);
        names += 1;
    });
    if listed.is_ok() {
        walk(&fat, &mut disk, &root);
    }
});
