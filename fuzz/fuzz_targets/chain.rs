//! `pvhfw.elf`'s boot (`Incoming::read`, then `Boot::prepare_chained`) over a previous stage's
//! memory and a fake fw_cfg, both from the input. Byte 0: bits 0-1 the chipset (none, i440FX,
//! Q35), bit 2 fw_cfg without DMA; bytes 1-2 (LE) the length of a blob that is guest memory
//! from 0x1000, where the start info is; the items follow it (see the crate's docs; the kernel
//! is the file `opt/org.pvhfw/kernel`).
//!
//! Whatever the input, the library never touches the firmware's own RAM or `pvhfw.elf`'s image
//! through the platform; when the boot succeeds, everything fw_cfg DMA wrote (segments, initrd)
//! is RAM in the map the kernel gets, clear of both, and the initrd overlaps no segment.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pvhfw::boot::{Boot, Incoming, KERNEL_FILE};
use pvhfw::e820;
use pvhfw::handoff::Handoff;
use pvhfw::layout::{ELF_IMAGE, FIRMWARE_RAM};
use pvhfw::scratch::Scratch;
use pvhfw::Range;
use pvhfw_fuzz::{fw_cfg, handed_over_map, items, sizes_are_sane, AnyRam, Item, Sink};
use zerocopy::FromZeros;

/// Where the previous stage's memory (the blob) starts.
const BLOB: u64 = 0x1000;

fuzz_target!(|data: &[u8]| {
    let [flags, lo, hi, ref rest @ ..] = *data else { return };
    let (blob, rest) = rest.split_at(usize::from(u16::from_le_bytes([lo, hi])).min(rest.len()));
    let items = items(rest);
    // The harness's RAM holds at most 64 MiB at once: skip kernels with larger segments.
    let huge = items.iter().any(|i| match i {
        Item::File(name, bytes) if name == KERNEL_FILE => {
            let mut head = [0u8; pvhfw::kernel::HEAD_BYTES];
            let n = bytes.len().min(head.len());
            head[..n].copy_from_slice(&bytes[..n]);
            pvhfw::kernel::elf_segments::<8>(&head)
                .is_some_and(|(loads, n, _, _)| loads[..n].iter().any(|s| s.memsz > 16 << 20))
        }
        _ => false,
    });
    let mut f = fw_cfg(&items);
    if huge || !sizes_are_sane(&f) {
        return;
    }
    f.port_io = flags & 4 != 0;
    let mut read = |at: u64, buf: &mut [u8]| {
        let Some(offset) = at.checked_sub(BLOB) else { return false };
        match blob.get(offset as usize..).and_then(|b| b.get(..buf.len())) {
            Some(bytes) => {
                buf.copy_from_slice(bytes);
                true
            }
            None => false,
        }
    };
    let Ok(incoming) = Incoming::read(BLOB, &mut read) else { return };
    let mut p = AnyRam::with_chipset(flags);
    let mut area = Box::new(Handoff::new_zeroed());
    let mut scratch = Box::new(Scratch::new_zeroed());
    let result = Boot::new(&mut f, &mut Sink, &mut p).prepare_chained(&incoming, &mut area, 0x3000, &mut scratch);
    for r in &p.touched {
        assert!(!r.overlaps(&FIRMWARE_RAM) && !r.overlaps(&ELF_IMAGE), "platform access to firmware memory: {r:x?}");
    }
    let Some(map) = handed_over_map(&result, &area) else { return };
    assert!(!e820::is_ram(map, ELF_IMAGE), "pvhfw.elf's image is RAM in the map: {map:x?}");
    for &(r, _) in &f.phys_writes {
        assert!(r.end <= 1 << 32 && e820::is_ram(map, r), "DMA outside RAM: {r:x?} {map:x?}");
        assert!(!r.overlaps(&FIRMWARE_RAM) && !r.overlaps(&ELF_IMAGE), "DMA onto firmware memory: {r:x?}");
    }
    if let Some(initrd) = (area.start_info.nr_modules > 0).then(|| area.modlist[0]) {
        let initrd = Range { start: initrd.paddr, end: initrd.paddr + initrd.size };
        let segments = f.phys_writes.iter().map(|(r, _)| *r).filter(|r| *r != initrd);
        for s in segments {
            assert!(!s.overlaps(&initrd), "initrd {initrd:x?} overlaps segment {s:x?}");
        }
    }
});
