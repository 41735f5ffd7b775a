//! QEMU's multiboot information, checked against the kernel item it points into. Input: the
//! 88-byte information, then the item's bytes, which lie at 2 MiB. Whatever `check` accepts,
//! every pointer the flags announce leads into the item, strings end in it and modules fit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pvhfw::multiboot::{check, Info, Module, FLAG_BOOT_LOADER_NAME, FLAG_CMDLINE, FLAG_MODULES, INFO_SIZE};
use zerocopy::FromBytes;

const BASE: u64 = 0x20_0000;

fuzz_target!(|data: &[u8]| {
    let Some((info, image)) = data.split_at_checked(INFO_SIZE) else { return };
    let Ok(info) = Info::read_from_bytes(info) else { return };
    if check(&info, image, BASE).is_err() {
        return;
    }
    let at = |addr: u32| (u64::from(addr).checked_sub(BASE).expect("below the item")) as usize;
    let string = |addr: u32| assert!(image[at(addr)..].contains(&0), "string without its NUL");
    if info.flags & FLAG_CMDLINE != 0 {
        string(info.cmdline);
    }
    if info.flags & FLAG_BOOT_LOADER_NAME != 0 {
        string(info.boot_loader_name);
    }
    if info.flags & FLAG_MODULES != 0 {
        let list = &image[at(info.mods_addr)..at(info.mods_addr) + 16 * info.mods_count as usize];
        for m in list.chunks_exact(16).map(|m| Module::read_from_bytes(m).unwrap()) {
            assert!(at(m.start) <= at(m.end) && at(m.end) <= image.len(), "module outside the item");
            if m.cmdline != 0 {
                string(m.cmdline);
            }
        }
    }
});
