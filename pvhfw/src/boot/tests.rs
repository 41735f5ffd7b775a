use super::*;
use crate::console::testing::Buffer;
use crate::fw_cfg::fake::FakeFwCfg;
use std::boxed::Box;
use std::vec::Vec;
use zerocopy::FromZeros;

const AREA: u32 = 0x3000;
const M: u64 = 1 << 20;

fn e820(entries: &[(u64, u64, u32)]) -> Vec<u8> {
    let mut v = Vec::new();
    for &(a, l, t) in entries {
        v.extend_from_slice(&a.to_le_bytes());
        v.extend_from_slice(&l.to_le_bytes());
        v.extend_from_slice(&t.to_le_bytes());
    }
    v
}

/// What QEMU publishes for `-M pc -m 128M -kernel pvh.elf -initrd x -append ...`.
fn pvh_machine() -> FakeFwCfg {
    let mut f = FakeFwCfg::default();
    f.add_file("etc/e820", &e820(&[(0, 128 * M, 1)]));
    f.add_file("etc/boot-fail-wait", &(-1i32).to_le_bytes());
    let mut head = std::vec![0u8; 64];
    head[..4].copy_from_slice(b"\x7fELF");
    f.set(key::SETUP_DATA, &head);
    f.set(key::KERNEL_ENTRY, &0x10_0040u32.to_le_bytes());
    f.set(key::KERNEL_ADDR, &0x10_0000u32.to_le_bytes());
    f.set(key::KERNEL_SIZE, &0x2_0000u32.to_le_bytes());
    f.set(key::CMDLINE_SIZE, &12u32.to_le_bytes());
    f.set(key::CMDLINE_DATA, b"console=tty\0");
    f.set(key::INITRD_SIZE, &5u32.to_le_bytes());
    f.set(key::INITRD_ADDR, &0x7f0_0000u32.to_le_bytes());
    f.set(key::INITRD_DATA, b"hello");
    f
}

fn prepare(f: &mut FakeFwCfg) -> (Result<PvhEntry, Error>, Box<HandoffArea>, std::string::String) {
    let mut area = HandoffArea::new_box_zeroed().unwrap();
    let mut con = Buffer::default();
    let mut scratch = Scratch::new_box_zeroed().unwrap();
    let r = Boot::new(f, &mut con).prepare_pvh(&mut area, AREA, &mut scratch);
    (r, area, con.text().into())
}

#[test]
fn pvh_boot_fills_start_info() {
    let mut f = pvh_machine();
    let (r, area, out) = prepare(&mut f);
    assert_eq!(r, Ok(PvhEntry { entry: 0x10_0040, start_info: AREA }));
    assert_eq!(out, "", "quiet by default");
    let si = area.start_info;
    let addrs = HandoffAddrs::at(AREA.into());
    assert_eq!((si.magic, si.version, si.flags, si.rsdp_paddr), (MAGIC, 1, 0, 0));
    assert_eq!((si.nr_modules, si.modlist_paddr), (1, addrs.modlist));
    assert_eq!(area.modlist[0].paddr, 0x7f0_0000);
    assert_eq!(area.modlist[0].size, 5);
    assert_eq!(si.cmdline_paddr, addrs.cmdline);
    assert_eq!(&area.cmdline[..13], b"console=tty\0\0");
    assert_eq!(si.memmap_paddr, addrs.memmap);
    let map: Vec<_> = area.memmap[..si.memmap_entries as usize].iter().map(|e| (e.addr, e.size, e.kind)).collect();
    assert_eq!(
        map,
        [(0, 0x1000, 1), (0x1000, 0x1f000, 2), (0x20000, 0x80000, 1), (0xa0000, 0x60000, 2), (M, 127 * M, 1)]
    );
    assert_eq!(f.phys_writes, [(Range { start: 0x7f0_0000, end: 0x7f0_0005 }, b"hello".to_vec())]);
}

#[test]
fn no_initrd_no_cmdline() {
    let mut f = pvh_machine();
    f.items.remove(&key::INITRD_SIZE);
    f.items.remove(&key::CMDLINE_SIZE);
    let (r, area, _) = prepare(&mut f);
    assert!(r.is_ok());
    assert_eq!((area.start_info.nr_modules, area.start_info.modlist_paddr, area.start_info.cmdline_paddr), (0, 0, 0));
    assert!(f.phys_writes.is_empty());
}

#[test]
fn log_file_turns_on_info_lines() {
    let mut f = pvh_machine();
    f.add_file(LOG_FILE, b"info");
    let (r, _, out) = prepare(&mut f);
    assert!(r.is_ok());
    assert!(out.starts_with("pvhfw: PVH kernel loaded at 0x100000-0x120000, entry 0x100040\n"), "{out}");
    assert!(out.contains("pvhfw: initrd: 5 bytes at 0x7f00000\n"), "{out}");
}

#[test]
fn kernel_formats() {
    let mut f = pvh_machine();
    let mut bz = std::vec![0u8; 0x210];
    bz[0x202..0x206].copy_from_slice(b"HdrS");
    f.set(key::SETUP_DATA, &bz);
    assert_eq!(prepare(&mut f).0, Err(Error::BzImageUnsupported));
    f.set(key::SETUP_DATA, b"MZ");
    assert_eq!(prepare(&mut f).0, Err(Error::UnknownKernelFormat));
    for k in [key::SETUP_DATA, key::KERNEL_ENTRY, key::KERNEL_ADDR, key::KERNEL_SIZE] {
        f.items.remove(&k);
    }
    assert_eq!(prepare(&mut f).0, Err(Error::NoKernel));
}

#[test]
fn kernel_over_firmware_ram_is_refused() {
    let mut f = pvh_machine();
    f.set(key::KERNEL_ADDR, &0x1_0000u32.to_le_bytes());
    assert_eq!(prepare(&mut f).0, Err(Error::KernelOverlapsFirmware { start: 0x1_0000, end: 0x3_0000 }));
}

#[test]
fn initrd_must_be_free_ram() {
    for (addr, size) in [(0x7ff_fffe, 5), (0x9_0000, 0x20000), (0x10_0000, 0x10), (0x1000, 5), (0xffff_fff0, 0x100)] {
        let mut f = pvh_machine();
        f.set(key::INITRD_ADDR, &(addr as u32).to_le_bytes());
        f.set(key::INITRD_SIZE, &(size as u32).to_le_bytes());
        assert_eq!(prepare(&mut f).0, Err(Error::InitrdDoesNotFit { addr, size }), "{addr:#x}+{size:#x}");
        assert!(f.phys_writes.is_empty());
    }
}

#[test]
fn bad_inputs_end_in_errors() {
    let mut f = pvh_machine();
    f.set(key::CMDLINE_SIZE, &(CMDLINE_MAX as u32).to_le_bytes());
    assert!(matches!(prepare(&mut f).0, Err(Error::TooLarge { what: "command line", .. })));

    let mut f = pvh_machine();
    f.failing.push(key::INITRD_DATA);
    assert_eq!(prepare(&mut f).0, Err(Error::DmaFailed { key: key::INITRD_DATA }));

    let mut f = FakeFwCfg::default();
    f.add_file("etc/other", b"x");
    let mut g = pvh_machine();
    g.items.insert(key::FILE_DIR, f.items[&key::FILE_DIR].clone());
    assert_eq!(prepare(&mut g).0, Err(Error::MissingFile { name: "etc/e820" }));
}

#[test]
fn boot_fail_wait_values() {
    let mut scratch = Scratch::new_box_zeroed().unwrap();
    let mut f = pvh_machine();
    assert_eq!(boot_fail_wait(&mut f, &mut scratch), None);
    let mut f = FakeFwCfg::default();
    f.add_file(BOOT_FAIL_WAIT_FILE, &1500i32.to_le_bytes());
    assert_eq!(boot_fail_wait(&mut f, &mut scratch), Some(1500));
    assert_eq!(boot_fail_wait(&mut FakeFwCfg::default(), &mut scratch), None);
}
