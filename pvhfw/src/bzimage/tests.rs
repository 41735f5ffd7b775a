use super::*;
use crate::console::testing::Buffer;
use std::vec::Vec;

/// The first KiB of `SETUP_DATA` that QEMU 7.2 (Debian 12) published on `q35` for Debian 12's
/// `vmlinuz` (6.1) with an initrd and `-append "console=ttyS0 hello"`: the kernel's own header
/// with QEMU's patches (loader 0xB0, command line at 0x20000, heap, initrd at 0xfd74000).
pub(crate) fn debian12() -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/qemu-7.2/bzimage/debian12-q35-setup-head.bin");
    std::fs::read(path).expect("fixture")
}

/// The fixture with fields changed: protocol version, loadflags, xloadflags.
fn forged(version: u16, loadflags: u8, xloadflags: u16) -> Vec<u8> {
    let mut s = debian12();
    s[0x206..0x208].copy_from_slice(&version.to_le_bytes());
    s[0x211] = loadflags;
    s[0x236..0x238].copy_from_slice(&xloadflags.to_le_bytes());
    s
}

fn message(e: Error) -> std::string::String {
    let mut b = Buffer::default();
    e.report(&mut b);
    b.text().into()
}

#[test]
fn debian12_header() {
    let h = SetupHeader::parse(&debian12()).unwrap();
    assert_eq!(h.protocol(), 0x020f);
    assert_eq!(h.copy_len(), 0x26c - 0x1f1);
    assert_eq!(h.setup_sects, 39);
    assert_eq!(h.type_of_loader, 0xb0);
    assert_eq!(h.cmd_line_ptr.get(), 0x20000);
    assert_eq!((h.ramdisk_image.get(), h.ramdisk_size.get()), (0xfd7_4000, 0x26_31e8));
    assert_eq!(h.init_size(), 0x3f9_8000);
    assert_eq!(h.pref_address(), 0x100_0000);
    assert_eq!(h.kernel_alignment(), 0x20_0000);
    assert_eq!(h.xloadflags(), 0x7f);
    assert_eq!(h.cmdline_size(), 2047);
    assert_eq!(h.initrd_addr_max(), 0x7fff_ffff);
    assert_eq!(h.setup_data(), 0);
    assert_eq!(h.code32_start(), 0x10_0000);
    assert_eq!(h.entry(), Ok(Entry::Bits64));
    assert_eq!(Entry::Bits64.address(0x10_0000), 0x10_0200);
    // Relocatable: QEMU's 1 MiB load address runs from pref_address (16 MiB).
    assert_eq!(h.runtime_range(0x10_0000), Range::from_len(0x100_0000, 0x3f9_8000));
    assert_eq!(h.runtime_range(0x110_0000), Range::from_len(0x120_0000, 0x3f9_8000));
}

#[test]
fn not_a_bzimage() {
    let mut s = debian12();
    s[0x202] = b'X';
    assert_eq!(SetupHeader::parse(&s), Err(Error::BzImageNoMagic));
    assert_eq!(SetupHeader::parse(&debian12()[..0x204]), Err(Error::BzImageNoMagic));
    assert_eq!(SetupHeader::parse(&[]), Err(Error::BzImageNoMagic));
    assert_eq!(
        message(Error::BzImageNoMagic),
        "pvhfw: error: kernel setup header has no \"HdrS\" signature at 0x202\n"
    );
}

#[test]
fn protocol_too_old() {
    let e = SetupHeader::parse(&forged(0x020b, LOADED_HIGH, XLF_KERNEL_64)).unwrap_err();
    assert_eq!(e, Error::BzImageProtocolTooOld { version: 0x020b });
    assert_eq!(
        message(e),
        "pvhfw: error: bzImage boot protocol 2.11 is too old; pvhfw needs 2.12 or newer (64-bit entry)\n"
    );
    assert!(SetupHeader::parse(&forged(0x020c, LOADED_HIGH, XLF_KERNEL_64)).is_ok());
}

#[test]
fn entries() {
    let h = SetupHeader::parse(&forged(0x020c, LOADED_HIGH, 0)).unwrap();
    assert_eq!(h.entry(), Ok(Entry::Bits32));
    assert_eq!(Entry::Bits32.address(0x10_0000), 0x10_0000);
    let e = SetupHeader::parse(&forged(0x020f, 0, XLF_CAN_BE_LOADED_ABOVE_4G)).unwrap_err();
    assert_eq!(e, Error::BzImageNoEntry);
    assert!(message(e).contains("no 64-bit entry (XLF_KERNEL_64)"));
}

#[test]
fn header_length() {
    let mut s = debian12();
    s[0x201] = 0x40; // ends at 0x242, before setup_data, pref_address and init_size
    assert_eq!(SetupHeader::parse(&s), Err(Error::BzImageHeaderTruncated { len: 0x51 }));
    // Bytes past a 2.12 header's end (0x264) read as zero, not as the setup code behind it.
    s[0x201] = 0x62;
    let h = SetupHeader::parse(&s).unwrap();
    assert_eq!((h.copy_len(), h.handover_offset.get(), h.kernel_info_offset.get()), (0x73, 0, 0));
    // A longer header of a later protocol is copied up to the room boot_params has.
    s[0x201] = 0xff;
    assert_eq!(SetupHeader::parse(&s).unwrap().copy_len(), MAX_HEADER_LEN);
}

#[test]
fn runtime_range_follows_boot_rst() {
    // Relocatable: the larger of load address and pref_address, aligned; init_size from there.
    let h = SetupHeader::parse(&debian12()).unwrap();
    assert_eq!(h.runtime_range(0x10_0000), Range::from_len(0x100_0000, 0x3f9_8000));
    assert_eq!(h.runtime_range(0x110_0001), Range::from_len(0x120_0000, 0x3f9_8000));
    assert_eq!(h.runtime_range(u64::MAX - 4), None);
    // Not relocatable: pref_address regardless of the load address.
    let mut s = debian12();
    s[0x234] = 0;
    s[0x258..0x260].copy_from_slice(&0x500_0000u64.to_le_bytes());
    let fixed = SetupHeader::parse(&s).unwrap();
    assert_eq!(fixed.runtime_range(0x10_0000), Range::from_len(0x500_0000, 0x3f9_8000));
}

#[test]
fn initrd_limit() {
    let no_high = SetupHeader::parse(&forged(0x020f, LOADED_HIGH, XLF_KERNEL_64)).unwrap();
    let top = Range { start: 0x7fff_0000, end: 0x8000_0000 };
    assert_eq!(no_high.check_initrd(top), Ok(()));
    let over = Range { start: 0x7fff_0000, end: 0x8000_0001 };
    let e = no_high.check_initrd(over).unwrap_err();
    assert_eq!(e, Error::InitrdAboveLimit { start: 0x7fff_0000, end: 0x8000_0001, max: 0x7fff_ffff });
    assert_eq!(
        message(e),
        "pvhfw: error: initrd at 0x7fff0000-0x80000001 lies above the kernel's initrd_addr_max 0x7fffffff\n"
    );
    let high = SetupHeader::parse(&debian12()).unwrap();
    assert_eq!(high.check_initrd(Range { start: 1 << 32, end: (1 << 32) + 4096 }), Ok(()));
}

#[test]
fn cmdline_limit() {
    let h = SetupHeader::parse(&debian12()).unwrap();
    assert_eq!(h.check_cmdline(2047), Ok(()));
    let e = h.check_cmdline(2048).unwrap_err();
    assert_eq!(e, Error::CmdlineTooLong { len: 2048, max: 2047 });
    assert_eq!(
        message(e),
        "pvhfw: error: command line of 2048 bytes is longer than the kernel's cmdline_size of 2047\n"
    );
}

#[test]
fn magic_and_setup_length() {
    let head = debian12();
    assert!(has_magic(&head) && !has_magic(&head[..MAGIC_OFFSET + 3]));
    assert_eq!(setup_len(head[HEADER_OFFSET]), 40 * 512);
    assert_eq!(setup_len(0), 5 * 512, "0 counts as 4");
}
