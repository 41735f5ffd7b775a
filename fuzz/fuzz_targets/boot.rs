//! The whole boot (`Boot::prepare`) over a fake fw_cfg serving any items (see the crate's docs)
//! and a platform whose RAM is wherever the library reaches. Byte 0 of the input: bits 0-1 the
//! chipset (none, i440FX, Q35), bit 2 fw_cfg without DMA, bit 3 the key in byte 1 fails as a DMA
//! error would; the items follow from byte 2.
//!
//! Whatever the input, the library never touches the firmware's own RAM or memory above 4 GiB
//! through the platform; when the boot succeeds, everything fw_cfg DMA wrote (kernel, initrd)
//! is free RAM in the map the kernel gets, disjoint, and everything written through the
//! platform (tables, MP table, entry points) is not RAM in that map, and the kernel's bytes are
//! as fw_cfg put them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pvhfw::boot::Boot;
use pvhfw::e820;
use pvhfw::fw_cfg::key;
use pvhfw::handoff::Handoff;
use pvhfw::layout::FIRMWARE_RAM;
use pvhfw::scratch::Scratch;
use pvhfw::Range;
use pvhfw_fuzz::{fw_cfg, handed_over_map, items, sizes_are_sane, AnyRam, Sink};
use zerocopy::FromZeros;

fuzz_target!(|data: &[u8]| {
    let [flags, fail, ref rest @ ..] = *data else { return };
    let mut f = fw_cfg(&items(rest));
    if !sizes_are_sane(&f) {
        return;
    }
    f.port_io = flags & 4 != 0;
    if flags & 8 != 0 {
        f.failing.push(fail.into());
    }
    let mut p = AnyRam::with_chipset(flags);
    // The kernel's bytes where fw_cfg DMA would put them, for the setup_data walk to read back.
    let u32_item =
        |k| f.items.get(&k).and_then(|v| v.get(..4)).map_or(0, |b| u32::from_le_bytes(b.try_into().unwrap()));
    let load = Range { start: u32_item(key::KERNEL_ADDR).into(), end: 0 };
    let load = Range { end: load.start + u64::from(u32_item(key::KERNEL_SIZE).min(1 << 24)), ..load };
    let load = if load.end <= 1 << 32 { load } else { Range::default() };
    let mut kernel = f.items.get(&key::KERNEL_DATA).cloned().unwrap_or_default();
    kernel.resize((load.end - load.start) as usize, 0);
    p.preload(load.start, &kernel);

    let mut area = Box::new(Handoff::new_zeroed());
    let mut scratch = Box::new(Scratch::new_zeroed());
    let result = Boot::new(&mut f, &mut Sink, &mut p).prepare(&mut area, 0x3000, &mut scratch);
    for r in &p.touched {
        assert!(!r.overlaps(&FIRMWARE_RAM), "platform access to firmware RAM: {r:x?}");
    }
    let Some(map) = handed_over_map(&result, &area) else { return };
    for &(r, _) in &f.phys_writes {
        assert!(r.end <= 1 << 32 && e820::is_ram(map, r), "DMA outside RAM: {r:x?} {map:x?}");
        assert!(!r.overlaps(&FIRMWARE_RAM));
    }
    if let [(a, _), (b, _)] = &f.phys_writes[..] {
        assert!(!a.overlaps(b), "initrd and kernel overlap: {a:x?} {b:x?}");
    }
    // Tables first tried below 640 KiB and then placed at the top leave stale bytes in the
    // low window, which stays RAM: harmless, so only the final placement is checked.
    let low_tables = pvhfw::layout::LOW_TABLES;
    let went_high = p.touched.iter().any(|r| r.start >= 1 << 20 && !load.contains(r));
    let qemu_map = qemu_e820(&f);
    for &r in &p.touched {
        if r.is_empty() || load.contains(&r) {
            continue; // the setup_data walk reads the kernel; checked below
        }
        let firmware_owned = [pvhfw::layout::F_SEGMENT_WINDOW, pvhfw::layout::MP_TABLE];
        if !firmware_owned.iter().any(|w| w.contains(&r)) {
            assert!(e820::is_free_ram(qemu_map.as_slice(), r), "platform wrote {r:x?}, not free RAM in QEMU's e820");
        }
        if went_high && low_tables.contains(&r) {
            continue;
        }
        for e in map.iter().filter(|e| e.kind == e820::RAM) {
            let ram = Range { start: e.addr, end: e.addr + e.size };
            assert!(!ram.overlaps(&r), "platform wrote {r:x?}, which the map calls RAM: {map:x?}");
        }
    }
    assert!(p.peek(load) == kernel, "the kernel's bytes changed");
});

/// QEMU's `etc/e820` as the fake serves it (through whatever directory it has).
fn qemu_e820(f: &pvhfw::fw_cfg::fake::FakeFwCfg) -> Box<e820::Regions> {
    let mut regions = Box::new(e820::Regions::new_zeroed());
    let dir = f.items.get(&key::FILE_DIR).cloned().unwrap_or_default();
    let dir = pvhfw::fw_cfg::Directory::parse(&dir);
    let name = pvhfw::fw_cfg::NameKey::new(&pvhfw::fw_cfg::FileName::new("etc/e820"));
    let file = dir.find(&name).expect("the boot succeeded, so it read etc/e820");
    let mut raw = f.items.get(&file.select).cloned().unwrap_or_default();
    raw.resize(file.size as usize, 0);
    regions.from_e820(&raw).expect("the boot parsed it");
    regions
}
