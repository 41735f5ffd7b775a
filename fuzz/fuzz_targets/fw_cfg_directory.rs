//! The fw_cfg directory (key 0x19) and every kind of lookup in it. The input is the raw
//! directory; the names looked up are the boot's own and every name the input itself holds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pvhfw::fw_cfg::{Directory, FileName, NameKey};

fuzz_target!(|raw: &[u8]| {
    let dir = Directory::parse(raw);
    assert!(dir.len() * 64 + 4 <= raw.len().max(4));
    let fixed = ["etc/e820", "etc/table-loader", "etc/smbios/smbios-anchor", "opt/org.pvhfw/log", "", "x"];
    let names: Vec<FileName> = fixed.iter().map(|n| FileName::new(n)).chain(dir.entries().map(|(n, _)| *n)).collect();
    for name in &names {
        let key = NameKey::new(name);
        let (a, b) = (dir.find(&key), dir.find_name(name));
        // Both find a file of this name (C-string equality); the last one in directory order
        // for `find` and `find_all`, possibly another equal one for `find_name`'s fast path.
        assert_eq!(a.is_some(), b.is_some(), "{name:?}");
        let [c, d] = dir.find_all([&key, &NameKey::new(&FileName::new("etc/e820"))]);
        assert_eq!(a, c);
        assert_eq!(d, dir.find(&NameKey::new(&FileName::new("etc/e820"))));
    }
});
