//! The input is a disk image: `Table::read` (GPT with its CRC32s and backup, MBR with its
//! extended partition's chain, or none), a walk over the partitions, and on each an ext4
//! open, a lookup and a read. Partitions must lie on the disk; walks must end.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pvhfw::disk::ext4::Ext4;
use pvhfw::disk::partition::{Kind, Table};
use pvhfw::disk::{BlockRead, SECTOR};

fuzz_target!(|data: &[u8]| {
    let mut disk = data;
    let sectors = disk.sectors();
    let Ok(table) = Table::read(&mut disk) else { return };
    let mut found = Vec::new();
    for p in table.partitions(&mut disk).take(1024) {
        let Ok(p) = p else { continue };
        assert!(p.start.checked_add(p.sectors).is_some_and(|end| end <= sectors));
        let uuid = p.uuid.as_str();
        assert!(uuid.is_empty() == (p.kind == Kind::WholeDisk));
        let _ = p.name_chars().count();
        found.push(p);
    }
    let mut disk = data;
    for p in found.iter().take(8) {
        let Ok(fs) = Ext4::open(&mut disk, p.start, p.sectors) else { continue };
        let Ok(inode) = fs.lookup(&mut disk, b"/vmlinuz") else { continue };
        let mut buf = [0u8; 4096];
        let _ = fs.read(&mut disk, &inode, 0, &mut buf);
    }
    assert!(data.len() >= SECTOR || found.is_empty());
});
