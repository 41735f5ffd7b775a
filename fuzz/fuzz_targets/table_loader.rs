//! The ACPI table loader over a fake fw_cfg: `needs` then `run`, as the boot does, with the
//! high zone and the F segment as RAM banks of the fake platform (any access outside them
//! panics). The input is a set of items (see the crate's docs); the file `etc/table-loader` is
//! the script. Everything placed must stay inside the zones, and the high zone, sized from what
//! `needs` said, must be enough.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pvhfw::fw_cfg::{read_directory, DIR_BYTES};
use pvhfw::platform::fake::FakePlatform;
use pvhfw::table_loader::{needs, run, Zones, LOADER_FILE};
use pvhfw::table_memory::Bump;
use pvhfw::Range;
use pvhfw_fuzz::{fw_cfg, items, sizes_are_sane, Item};

const HIGH: Range = Range { start: 0x0f00_0000, end: 0x1000_0000 };
const FSEG: Range = Range { start: 0xf_4000, end: 0xf_4200 };

fuzz_target!(|data: &[u8]| {
    let items = items(data);
    let script: Vec<u8> = items
        .iter()
        .find_map(|i| match i {
            Item::File(n, d) if n == LOADER_FILE => Some(d.to_vec()),
            _ => None,
        })
        .unwrap_or_default();
    let mut f = fw_cfg(&items);
    if !sizes_are_sane(&f) {
        return;
    }
    let mut buf = Box::new([0u8; DIR_BYTES]);
    let Ok(dir) = read_directory(&mut f, &mut buf) else { return };
    let Ok(n) = needs(&script, &dir) else { return };
    // The boot sizes the high area from `needs` (whole pages, aligned to the largest
    // alignment); give it exactly that, so using more than promised fails.
    let size = n.high.max(1).next_multiple_of(4096);
    if size > HIGH.end - HIGH.start {
        return;
    }
    let area = Range { start: HIGH.start, end: HIGH.start + size };
    assert!(area.start.is_multiple_of(n.high_align));
    let mut p = FakePlatform::default().with_bank(area.start, size as usize).with_bank(FSEG.start, 0x200);
    let (mut high, mut fseg) = (Bump::new(area), Bump::new(FSEG));
    let result = run(&script, &dir, &mut f, &mut p, Zones { high: &mut high, f_segment: &mut fseg });
    assert!(area.contains(&high.used()) && FSEG.contains(&fseg.used()));
    if let Ok(Some(rsdp)) = result.map(|placed| placed.rsdp) {
        assert!((area.start..area.end).contains(&rsdp) || (FSEG.start..FSEG.end).contains(&rsdp), "{rsdp:#x}");
    }
    if let Ok(Some(log)) = result.map(|placed| placed.tpm_log) {
        assert!(area.contains(&log) || FSEG.contains(&log), "TPM log at {log:x?}");
    }
    // Only the high zone reports NoRoomForTables, and it is as large as `needs` said.
    assert!(!matches!(result, Err(pvhfw::Error::NoRoomForTables { .. })), "needs() under-estimated: {n:?}");
});
