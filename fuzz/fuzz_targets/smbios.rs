//! SMBIOS: the anchor and tables files (items format, see the crate's docs) installed as the
//! boot does, with the high zone and the F segment as the fake platform's only RAM. An entry
//! point that is accepted must come out with valid checksums, pointing at the structures (with
//! or without the BIOS information pvhfw puts first).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pvhfw::checksum;
use pvhfw::fw_cfg::{read_directory, DIR_BYTES};
use pvhfw::platform::fake::FakePlatform;
use pvhfw::smbios::{Smbios, ANCHOR, BIOS_INFORMATION_LEN, TABLES};
use pvhfw::table_memory::Bump;
use pvhfw::Range;
use pvhfw_fuzz::{fw_cfg, items, sizes_are_sane};

const HIGH: Range = Range { start: 0x0f00_0000, end: 0x1000_0000 };
const FSEG: Range = Range { start: 0xf_4000, end: 0xf_4200 };

fuzz_target!(|data: &[u8]| {
    let mut f = fw_cfg(&items(data));
    if !sizes_are_sane(&f) {
        return;
    }
    let mut buf = Box::new([0u8; DIR_BYTES]);
    let Ok(dir) = read_directory(&mut f, &mut buf) else { return };
    let (Some(anchor), Some(tables)) = (dir.find(&ANCHOR), dir.find(&TABLES)) else { return };
    let s = Smbios::new(anchor, tables);
    let mut p =
        FakePlatform::default().with_bank(HIGH.start, (HIGH.end - HIGH.start) as usize).with_bank(FSEG.start, 0x200);
    let (mut high, mut fseg) = (Bump::new(HIGH), Bump::new(FSEG));
    let Ok(at) = s.install(&mut f, &mut p, &mut high, &mut fseg) else { return };
    let ep = p.read(Range { start: at, end: at + u64::from(anchor.size) });
    assert_eq!(checksum::sum(&ep), 0, "{ep:x?}");
    // pvhfw's BIOS information comes first, unless QEMU's structures have their own.
    let first = HIGH.start.next_multiple_of(16);
    let ok = |at: u64| at == first || at == first + BIOS_INFORMATION_LEN as u64;
    match &ep[..4] {
        b"_SM_" => {
            assert_eq!(checksum::sum(&ep[0x10..]), 0);
            assert!(ok(u32::from_le_bytes(ep[0x18..0x1c].try_into().unwrap()).into()));
        }
        b"_SM3" => assert!(ok(u64::from_le_bytes(ep[0x10..0x18].try_into().unwrap()))),
        other => panic!("accepted an anchor starting {other:x?}"),
    }
});
