//! The input is a disk image: the whole search for its boot entry as the firmware runs it
//! (partition table, every filesystem, BLS, extlinux, grub.cfg, the /vmlinuz links), then the
//! first bytes of each file the entry names. Every walk must end and every read stay in its
//! buffer; what the search returns must point into those buffers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pvhfw::disk::search::{search, SearchError};

fuzz_target!(|data: &[u8]| {
    let mut disk = data;
    let (mut text, mut cmdline) = (vec![0u8; 64 * 1024], [0u8; 2048]);
    let (volumes, found) = match search(&mut disk, &mut text, None, &mut cmdline) {
        Ok(Some(found)) => found,
        Err(SearchError::Missing { path_len, .. }) => return assert!(path_len <= cmdline.len()),
        Ok(None) | Err(_) => return,
    };
    assert!(found.cmdline_len <= cmdline.len());
    let volume = volumes.get(found.volume).expect("the entry's volume");
    for file in std::iter::once(found.kernel).chain(found.initrds.into_iter().flatten()) {
        let mut head = [0u8; 4096];
        let n = file.size().min(head.len() as u64) as usize;
        let _ = volume.read_at(&mut disk, &file, 0, &mut head[..n]);
    }
});
