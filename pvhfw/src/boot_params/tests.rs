use super::*;
use crate::bzimage::tests::debian12;
use crate::e820;
use std::boxed::Box;

fn entry(addr: u64, size: u64, kind: u32) -> MemmapEntry {
    MemmapEntry { addr, size, kind, reserved: 0 }
}

const MAP: [MemmapEntry; 3] = [
    MemmapEntry { addr: 0, size: 0x9_f000, kind: e820::RAM, reserved: 0 },
    MemmapEntry { addr: 0x10_0000, size: 0x7ef_0000, kind: e820::RAM, reserved: 0 },
    MemmapEntry { addr: 0x1_0000_0000, size: 0x4000_0000, kind: e820::RAM, reserved: 0 },
];

fn handoff(setup: &[u8]) -> Contents<'_> {
    Contents {
        setup,
        memmap: &MAP,
        cmdline_addr: 0x1_2000_0010,
        cmdline_len: 19,
        initrd: Some(Range { start: 0x1_0000_0000, end: 0x1_0000_1234 }),
        rsdp: Some(0xf_4000),
        setup_data: 0x8000,
    }
}

fn dirty() -> Box<BootParams> {
    let mut bp = crate::boxed_zeroed::<BootParams>();
    bp.as_mut_bytes().fill(0xff);
    bp
}

fn le(bytes: &[u8], at: usize, n: usize) -> u64 {
    let mut b = [0u8; 8];
    b[..n].copy_from_slice(&bytes[at..at + n]);
    u64::from_le_bytes(b)
}

#[test]
fn fills_the_zero_page() {
    let setup = debian12();
    let mut bp = dirty();
    bp.fill(&handoff(&setup)).unwrap();
    let b = bp.as_bytes();
    assert_eq!(le(b, 0x070, 8), 0xf_4000);
    assert_eq!(le(b, 0x228, 4) | le(b, 0x0c8, 4) << 32, 0x1_2000_0010);
    assert_eq!(le(b, 0x218, 4) | le(b, 0x0c0, 4) << 32, 0x1_0000_0000);
    assert_eq!(le(b, 0x21c, 4) | le(b, 0x0c4, 4) << 32, 0x1234);
    assert_eq!(le(b, 0x250, 8), 0x8000);
    assert_eq!(b[0x210], 0xb0);
    assert_eq!(b[0x1e8], 3);
    for (i, e) in MAP.iter().enumerate() {
        let at = 0x2d0 + 20 * i;
        assert_eq!((le(b, at, 8), le(b, at + 8, 8), le(b, at + 16, 4)), (e.addr, e.size, e.kind.into()));
    }
    // The rest of the header is the kernel's, byte for byte.
    let patched = [0x210..0x211, 0x218..0x220, 0x228..0x22c, 0x250..0x258];
    for i in 0x1f1..0x26c {
        if !patched.iter().any(|r| r.contains(&i)) {
            assert_eq!(b[i], setup[i], "header byte {i:#x}");
        }
    }
    // Everything not set is zero, whatever was there before.
    let set = [0x070..0x078, 0x0c0..0x0cc, 0x1e8..0x1e9, 0x1f1..0x26c, 0x2d0..0x2d0 + 3 * 20];
    for (i, &byte) in b.iter().enumerate() {
        if !set.iter().any(|r| r.contains(&i)) {
            assert_eq!(byte, 0, "byte {i:#x}");
        }
    }
}

#[test]
fn no_initrd_no_rsdp() {
    let setup = debian12();
    let mut bp = dirty();
    bp.fill(&Contents { initrd: None, rsdp: None, setup_data: 0, cmdline_addr: 0x2_0000, ..handoff(&setup) }).unwrap();
    assert_eq!(bp.acpi_rsdp_addr.get(), 0);
    assert_eq!((bp.hdr.ramdisk_image.get(), bp.hdr.ramdisk_size.get()), (0, 0));
    assert_eq!((bp.ext_ramdisk_image.get(), bp.ext_ramdisk_size.get()), (0, 0));
    assert_eq!((bp.hdr.cmd_line_ptr.get(), bp.ext_cmd_line_ptr.get()), (0x2_0000, 0));
    assert_eq!(bp.hdr.setup_data.get(), 0);
}

#[test]
fn refuses() {
    let setup = debian12();
    let mut bp = dirty();
    let long = Contents { cmdline_len: 2048, ..handoff(&setup) };
    assert_eq!(bp.fill(&long), Err(Error::CmdlineTooLong { len: 2048, max: 2047 }));
    let map = [entry(0, 0x1000, e820::RAM); E820_MAX + 1];
    assert_eq!(bp.fill(&Contents { memmap: &map, ..handoff(&setup) }), Err(Error::MemoryMapTooLarge));
    assert!(bp.fill(&Contents { memmap: &map[..E820_MAX], ..handoff(&setup) }).is_ok());
    assert_eq!(bp.e820_entries, 128);
    let mut old = setup.clone();
    old[0x206] = 0x0b;
    assert_eq!(bp.fill(&handoff(&old)), Err(Error::BzImageProtocolTooOld { version: 0x020b }));
    // No 4 GiB flag: an initrd above initrd_addr_max is refused.
    let mut low_only = setup.clone();
    low_only[0x236] = XLF_KERNEL_64_BYTE;
    let high_initrd = bp.fill(&handoff(&low_only));
    assert!(matches!(high_initrd, Err(Error::InitrdAboveLimit { .. })));
}

const XLF_KERNEL_64_BYTE: u8 = crate::bzimage::XLF_KERNEL_64 as u8;
