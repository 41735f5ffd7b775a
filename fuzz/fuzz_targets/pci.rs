//! The PCI resource assignment over whatever configuration space QEMU shows: any values in any
//! registers of any functions on any buses (bridges everywhere, capability lists that loop,
//! BARs of every size). Input: a chipset byte, then 8-byte records (bus, device and function,
//! register, unused, then the register's little-endian value). Whatever it reads, the
//! assignment ends, keeps within its bookkeeping and numbers at most its 32 buses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pvhfw::chipset::Chipset;
use pvhfw::platform::fake::FakePlatform;

fuzz_target!(|data: &[u8]| {
    let Some((&chipset, records)) = data.split_first() else { return };
    let chipset = if chipset & 1 == 0 { Chipset::I440fx } else { Chipset::Q35 };
    let mut p = FakePlatform::default();
    for r in records.chunks_exact(8) {
        let f = u16::from_le_bytes([r[1], r[0]]);
        p.config.insert((f, r[2] & 0xfc), u32::from_le_bytes([r[4], r[5], r[6], r[7]]));
    }
    let assigned = pvhfw::pci::assign(&mut p, chipset, 1 << 32);
    assert!(assigned.buses <= 32);
});
