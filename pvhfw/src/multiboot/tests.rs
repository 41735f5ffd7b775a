use super::*;
use std::vec::Vec;

const BASE: u64 = 0x20_0000;

/// A kernel item as QEMU lays it out: 4 KiB of kernel, the module list, the command lines and
/// the boot loader's name, then each module; and the information pointing into it.
fn image(modules: &[&[u8]]) -> (Vec<u8>, Info) {
    let mut image = std::vec![0x90u8; 4096];
    let list = image.len();
    image.resize(list + 16 * modules.len(), 0);
    let cmdline = image.len();
    image.extend_from_slice(b"kernel console=ttyS0\0");
    let name = image.len();
    image.extend_from_slice(b"qemu\0");
    let mut entries = Vec::new();
    for (i, m) in modules.iter().enumerate() {
        let arg = image.len();
        image.extend_from_slice(std::format!("module{i} arg\0").as_bytes());
        let start = image.len().next_multiple_of(4096);
        image.resize(start, 0);
        image.extend_from_slice(m);
        let at = |o: usize| (BASE + o as u64) as u32;
        entries.push(Module { start: at(start), end: at(start + m.len()), cmdline: at(arg), reserved: 0 });
    }
    image[list..list + 16 * modules.len()].copy_from_slice(entries.as_bytes());
    let info = Info {
        flags: 0x24f,
        boot_device: 0x8000_ffff,
        cmdline: (BASE + cmdline as u64) as u32,
        mods_count: modules.len() as u32,
        mods_addr: (BASE + list as u64) as u32,
        boot_loader_name: (BASE + name as u64) as u32,
        ..Info::default()
    };
    (image, info)
}

#[test]
fn qemu_layout_passes() {
    let (img, info) = image(&[b"first module", b"", b"third"]);
    assert_eq!(check(&info, &img, BASE), Ok(()));
    let (img, info) = image(&[]);
    assert_eq!(check(&info, &img, BASE), Ok(()));
}

#[test]
fn pointers_outside_the_item_are_named() {
    let (img, info) = image(&[b"module"]);
    let outside = |what| Err(InfoError::Outside { what });
    assert_eq!(check(&Info { cmdline: BASE as u32 - 1, ..info }, &img, BASE), outside("command line"));
    assert_eq!(check(&Info { boot_loader_name: 0xffff_ffff, ..info }, &img, BASE), outside("boot loader name"));
    assert_eq!(
        check(&Info { mods_addr: (BASE as u32) + img.len() as u32 - 8, ..info }, &img, BASE),
        outside("module list")
    );
    assert_eq!(check(&Info { mods_count: 65, ..info }, &img, BASE), Err(InfoError::TooManyModules { count: 65 }));
    // Ignored where the flags do not announce it.
    assert_eq!(check(&Info { cmdline: 0, flags: info.flags & !FLAG_CMDLINE, ..info }, &img, BASE), Ok(()));
    // A string without its NUL in the item.
    let mut unterminated = img.clone();
    let name = (info.boot_loader_name as u64 - BASE) as usize;
    let len = unterminated.len();
    unterminated[name..].iter_mut().for_each(|b| *b = b'x');
    unterminated.truncate(len);
    let only_name = Info { flags: FLAG_BOOT_LOADER_NAME, ..info };
    assert_eq!(check(&only_name, &unterminated, BASE), outside("boot loader name"));
}

#[test]
fn modules_outside_the_item_are_named() {
    let (mut img, info) = image(&[b"module"]);
    let list = (info.mods_addr as u64 - BASE) as usize;
    let mut module = Module::read_from_bytes(&img[list..list + 16]).unwrap();
    let good = module;
    module.end = (BASE as u32) + img.len() as u32 + 1;
    img[list..list + 16].copy_from_slice(module.as_bytes());
    assert_eq!(check(&info, &img, BASE), Err(InfoError::Outside { what: "module" }));
    module = Module { end: good.start - 1, ..good };
    img[list..list + 16].copy_from_slice(module.as_bytes());
    assert_eq!(check(&info, &img, BASE), Err(InfoError::BadModule));
    module = Module { cmdline: 0x1000, ..good };
    img[list..list + 16].copy_from_slice(module.as_bytes());
    assert_eq!(check(&info, &img, BASE), Err(InfoError::Outside { what: "module command line" }));
}

#[test]
fn completes_memory_fields_from_the_map() {
    let map = [
        MemmapEntry { addr: 0, size: 0x1000, kind: 1, reserved: 0 },
        MemmapEntry { addr: 0x1000, size: 0x2f000, kind: 2, reserved: 0 },
        MemmapEntry { addr: 0x30000, size: 0x6e000, kind: 1, reserved: 0 },
        MemmapEntry { addr: 0x9e000, size: 0x2000, kind: 2, reserved: 0 },
        MemmapEntry { addr: 0x10_0000, size: 0x7ef_0000, kind: 1, reserved: 0 },
        MemmapEntry { addr: 0x7ff_0000, size: 0x1_0000, kind: 2, reserved: 0 },
    ];
    let (_, mut info) = image(&[]);
    let mut out = [MmapEntry::default(); 8];
    assert_eq!(complete(&mut info, &map, &mut out, 0x3060), 6);
    assert_eq!(info.mem_lower, 632);
    assert_eq!(info.mem_upper, 0x7ef_0000 / 1024);
    assert_eq!((info.mmap_addr, info.mmap_length), (0x3060, 6 * 24));
    assert_eq!(info.flags, 0x24f);
    assert_eq!(
        out[2],
        MmapEntry { size: U32::new(20), addr: U64::new(0x30000), len: U64::new(0x6e000), kind: U32::new(1) }
    );
    // A map longer than the room: as many entries as fit, and the length says so.
    let mut short = [MmapEntry::default(); 2];
    assert_eq!(complete(&mut info, &map, &mut short, 0x3060), 2);
    assert_eq!(info.mmap_length, 48);
    // No RAM at 1 MiB: no upper memory.
    complete(&mut info, &map[..4], &mut out, 0x3060);
    assert_eq!(info.mem_upper, 0);
}
