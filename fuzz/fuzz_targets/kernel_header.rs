//! The kernel's head as QEMU publishes it (`SETUP_DATA`): `kernel::detect`, the bzImage setup
//! header's parse and checks, and `boot_params` filled from it. The first 16 bytes of the input
//! are a load address, an initrd (start, size) and a command-line length; the rest is the head.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pvhfw::boot_params::{BootParams, Contents};
use pvhfw::bzimage::SetupHeader;
use pvhfw::kernel::{self, Format, HEAD_BYTES};
use pvhfw::start_info::MemmapEntry;
use pvhfw::Range;
use zerocopy::FromZeros;

fuzz_target!(|data: &[u8]| {
    if data.len() < 16 {
        return;
    }
    let word = |i: usize| u32::from_le_bytes(data[4 * i..4 * i + 4].try_into().unwrap());
    let (load, initrd_start, initrd_size, cmdline_len) = (word(0), word(1), word(2), word(3) as usize & 0xffff);
    let setup = &data[16..];
    let mut head = [0u8; HEAD_BYTES];
    let n = setup.len().min(HEAD_BYTES);
    head[..n].copy_from_slice(&setup[..n]);
    let format = kernel::detect(&head, load);
    let Ok(h) = SetupHeader::parse(setup) else { return };
    assert_eq!(format, Format::BzImage);
    assert!(SetupHeader::parse(&head).is_ok(), "the first HEAD_BYTES decide");
    let entry = h.entry().expect("parse checked the entry");
    let _ = entry.address(load.into());
    let _ = h.runtime_range(load.into());
    let initrd = Range::from_len(initrd_start.into(), initrd_size.into()).unwrap();
    let ok = h.check_initrd(initrd).is_ok() && h.check_cmdline(cmdline_len).is_ok();
    let memmap = [MemmapEntry { addr: 0, size: 1 << 30, kind: 1, reserved: 0 }];
    let mut bp = Box::new(BootParams::new_zeroed());
    let contents = Contents {
        setup,
        memmap: &memmap,
        cmdline_addr: 0x20000,
        cmdline_len,
        initrd: Some(initrd),
        rsdp: None,
        setup_data: 0,
    };
    assert_eq!(bp.fill(&contents).is_ok(), ok);
});
