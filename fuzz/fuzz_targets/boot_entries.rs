//! The three boot-entry parsers over hostile text. The input, split at NUL bytes: the entry
//! asked for (empty: none), the text given to the GRUB and extlinux parsers and as BLS's
//! `loader.conf`, then BLS entry files. A selected entry must respect the tables' bounds and
//! the choice asked for; the version comparison must be an order.
#![no_main]

use core::cmp::Ordering;
use libfuzzer_sys::fuzz_target;
use pvhfw::disk::entries::{bls, extlinux, grub, Entry, EntryError, MAX_INITRDS, MAX_OPTIONS};

const NAMES: [&str; 6] = ["a.conf", "b+0-2.conf", "c-6.1.0.conf", "d+3.conf", "e", "f-1~rc1.conf"];

fn check(e: Result<Entry<'_>, EntryError>, wanted: Option<&[u8]>) {
    let Ok(e) = e else { return };
    assert!(e.initrds().len() <= MAX_INITRDS && e.options().len() <= MAX_OPTIONS);
    let mut buf = [0u8; 4096];
    if let Ok(n) = e.cmdline(&mut buf) {
        assert!(n <= buf.len());
    }
    let _ = e.kernel.write_to(&mut buf);
    if let Some(want) = wanted {
        assert!(e.is_named(want));
    }
}

fuzz_target!(|data: &[u8]| {
    let mut pieces = data.split(|&b| b == 0);
    let wanted = pieces.next().filter(|w| !w.is_empty());
    let text = pieces.next().unwrap_or_default();
    let files: Vec<(&[u8], &[u8])> = NAMES.iter().map(|n| n.as_bytes()).zip(pieces).collect();
    let _ = grub::select(text, wanted);
    let _ = grub::select(text, None).map(|e| check(Ok(e), None));
    check(extlinux::select(text, wanted), wanted);
    let picked = bls::select(files.iter().copied(), Some(text), wanted);
    if let (Ok(e), Some(want)) = (&picked, wanted) {
        // Named by id or title, or by its file name.
        assert!(e.is_named(want) || NAMES.iter().any(|n| n.as_bytes() == want));
    }
    check(picked, None);
    for (a, b) in files.iter().map(|f| f.1).zip(files.iter().skip(1).map(|f| f.1)) {
        assert_eq!(bls::version_cmp(a, b), bls::version_cmp(b, a).reverse());
        assert_eq!(bls::version_cmp(a, a), Ordering::Equal);
        let _ = bls::glob(a, b);
    }
});
