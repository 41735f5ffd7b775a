//! The input is a filesystem image (no partition table): `Ext4::open`, then lookups of boot
//! paths (following symlinks), directory listings, and reads of what they find, at an offset
//! and as runs. Every walk must end (the bounds on symlinks, components, extent depth and
//! directory size) and every error be a `DiskError`, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pvhfw::disk::ext4::{Ext4, FileType, ROOT};
use pvhfw::disk::{BlockRead, SECTOR};

/// Reads all of `path`'s data a few ways, checking they agree.
fn read_path(fs: &Ext4, disk: &mut &[u8], path: &[u8]) {
    let Ok(inode) = fs.lookup(disk, path) else { return };
    let mut buf = vec![0u8; 64 << 10];
    let Ok(n) = fs.read(disk, &inode, 0, &mut buf) else { return };
    assert!(n as u64 == inode.size.min(buf.len() as u64));
    let mut small = [0u8; 700];
    if let Ok(m) = fs.read(disk, &inode, 3, &mut small) {
        assert_eq!(small[..m], buf[3.min(n)..(3 + m).min(n)]);
    }
    let mut runs = fs.runs(&inode, 0);
    let mut covered = 0u64;
    for _ in 0..64 {
        match runs.next(disk) {
            Ok(Some(run)) => {
                assert_eq!(run.offset, covered);
                assert!(run.bytes > 0);
                covered += run.bytes;
                if let Some(s) = run.sector {
                    assert!(s < disk.sectors());
                }
            }
            _ => break,
        }
    }
    assert!(covered <= inode.size);
    let _ = fs.read_all(disk, &inode, &mut small);
}

/// Lists a directory (bounded), reading the inode of each entry.
fn list(fs: &Ext4, disk: &mut &[u8], path: &[u8]) {
    let Ok(dir) = fs.lookup(disk, path) else { return };
    assert!(dir.kind == FileType::Dir || fs.dir(&dir).is_err());
    let Ok(mut entries) = fs.dir(&dir) else { return };
    for _ in 0..256 {
        let Ok(Some(e)) = entries.next(disk) else { break };
        assert!(!e.name().is_empty());
        let _ = fs.inode(disk, e.ino);
    }
}

fuzz_target!(|data: &[u8]| {
    let mut disk = data;
    let Ok(fs) = Ext4::open(&mut disk, 0, (data.len() / SECTOR) as u64) else { return };
    let _ = fs.inode(&mut disk, ROOT);
    list(&fs, &mut disk, b"/");
    list(&fs, &mut disk, b"/boot");
    for path in [&b"/vmlinuz"[..], b"/long", b"/boot/vmlinuz-1", b"boot/entry.conf", b"/boot/../vmlinuz"] {
        read_path(&fs, &mut disk, path);
    }
});
