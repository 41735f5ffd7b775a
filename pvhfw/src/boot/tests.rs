use super::*;
use crate::console::testing::Buffer;
use crate::e820;
use crate::fw_cfg::fake::FakeFwCfg;
use crate::fw_cfg::key;
use crate::handoff::{HandoffAddrs, CMDLINE_MAX};
use crate::layout::{ELF_IMAGE, F_SEGMENT_WINDOW, LOW_TABLES};
use crate::multiboot as mb;
use crate::platform::fake::FakePlatform;
use crate::platform::PciFn;
use crate::start_info::MAGIC;
use crate::testdata;
use crate::Range;
use incoming::INCOMING_CMDLINE_MAX;
use std::boxed::Box;
use std::vec::Vec;
use zerocopy::{FromBytes, IntoBytes};

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

/// RAM the library may touch in a 128 MiB machine: the table window below 640 KiB, the MP table
/// area, the F-segment window, and the top MiB for tables that do not fit below 640 KiB.
fn platform() -> FakePlatform {
    FakePlatform::default()
        .with_bank(LOW_TABLES.start, (LOW_TABLES.end - LOW_TABLES.start) as usize)
        .with_bank(crate::layout::MP_TABLE.start, 0x2000)
        .with_bank(F_SEGMENT_WINDOW.start, 0x200)
        .with_bank(127 * M, M as usize)
}

fn prepare_on(
    f: &mut FakeFwCfg,
    p: &mut FakePlatform,
) -> (Result<KernelEntry, Error>, Box<Handoff>, std::string::String) {
    let mut area = crate::boxed_zeroed::<Handoff>();
    let mut con = Buffer::default();
    let mut scratch = crate::boxed_zeroed::<Scratch>();
    let r = Boot::new(f, &mut con, p).prepare(&mut area, AREA, &mut scratch);
    (r, area, con.text().into())
}

fn prepare(f: &mut FakeFwCfg) -> (Result<KernelEntry, Error>, Box<Handoff>, std::string::String) {
    prepare_on(f, &mut platform())
}

fn memmap(area: &Handoff) -> Vec<(u64, u64, u32)> {
    area.memmap[..area.start_info.memmap_entries as usize].iter().map(|e| (e.addr, e.size, e.kind)).collect()
}

#[test]
fn pvh_boot_fills_start_info() {
    let mut f = pvh_machine();
    let (r, area, out) = prepare(&mut f);
    assert_eq!(
        r,
        Ok(KernelEntry::Pvh { entry: 0x10_0040, start_info: HandoffAddrs::at(AREA.into()).start_info as u32 })
    );
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
    // An MP table at 0x9e000-0xa0000, reserved with the legacy hole.
    assert_eq!(
        memmap(&area),
        [(0, 0x1000, 1), (0x1000, 0x2f000, 2), (0x30000, 0x6e000, 1), (0x9e000, 0x62000, 2), (M, 127 * M, 1)]
    );
    assert_eq!(f.phys_writes, [(Range { start: 0x7f0_0000, end: 0x7f0_0005 }, b"hello".to_vec())]);
}

#[test]
fn no_initrd_no_cmdline() {
    let mut f = pvh_machine();
    f.items.remove(&key::INITRD_SIZE);
    f.items.remove(&key::CMDLINE_SIZE);
    f.items.remove(&key::CMDLINE_DATA);
    let (r, area, _) = prepare(&mut f);
    assert!(r.is_ok());
    assert_eq!((area.start_info.nr_modules, area.start_info.modlist_paddr), (0, 0));
    // Without a command line item the kernel gets an empty one.
    assert_eq!((area.start_info.cmdline_paddr, area.cmdline[0]), (HandoffAddrs::at(AREA.into()).cmdline, 0));
    assert!(f.phys_writes.is_empty());
}

#[test]
fn log_file_turns_on_info_lines() {
    let mut f = pvh_machine();
    f.add_file(LOG_FILE, b"info");
    let (r, _, out) = prepare(&mut f);
    assert!(r.is_ok());
    assert!(out.starts_with("pvhfw: PVH kernel loaded at 0x100000-0x120000, entry 0x100040\n"), "{out}");
    assert!(!out.contains("tsc"), "{out}");
    assert!(out.contains("pvhfw: initrd: 5 bytes at 0x7f00000\n"), "{out}");
}

#[test]
fn timeline_prints_each_phase() {
    let mut f = pvh_machine();
    f.add_file(LOG_FILE, b"timeline");
    let (r, _, out) = prepare(&mut f);
    assert!(r.is_ok());
    let phases: Vec<&str> = out.lines().map(|l| l.rsplit_once(' ').unwrap().1).collect();
    assert_eq!(phases, ["fw_cfg", "chipset", "map", "initrd", "table", "jump"], "{out}");
}

#[test]
fn kernel_formats() {
    let mut f = pvh_machine();
    let mut bz = std::vec![0u8; 0x210];
    bz[0x202..0x206].copy_from_slice(b"HdrS");
    f.set(key::SETUP_DATA, &bz);
    assert_eq!(prepare(&mut f).0, Err(Error::BzImageProtocolTooOld { version: 0 }));
    f.set(key::SETUP_DATA, b"MZ");
    assert_eq!(prepare(&mut f).0, Err(Error::UnknownKernelFormat));
    for k in [key::SETUP_DATA, key::KERNEL_ENTRY, key::KERNEL_ADDR, key::KERNEL_SIZE] {
        f.items.remove(&k);
    }
    assert_eq!(prepare(&mut f).0, Err(Error::NoKernel));
}

#[test]
fn elf_without_an_entry_names_why() {
    // QEMU loaded it (KERNEL_ADDR/SIZE are its segments' span) but cut its entry to 0.
    let mut f = pvh_machine();
    f.set(key::SETUP_DATA, &crate::kernel::tests::elf(2, &[(1, 0x10_0000, 0x2_0000)]));
    f.set(key::KERNEL_ENTRY, &0u32.to_le_bytes());
    assert_eq!(prepare(&mut f).0, Err(Error::PvhEntryAbove4G));
    // A machine type from before PVH: an old kernel at 0x10000, nothing loaded.
    f.set(key::KERNEL_ADDR, &0x1_0000u32.to_le_bytes());
    assert_eq!(prepare(&mut f).0, Err(Error::PvhNotLoaded));
}

#[test]
fn kernel_over_firmware_memory_is_refused() {
    for start in [0x1_0000u32, 0x9_0000, 0xe_0000] {
        let mut f = pvh_machine();
        f.set(key::KERNEL_ADDR, &start.to_le_bytes());
        let end = u64::from(start) + 0x2_0000;
        assert_eq!(prepare(&mut f).0, Err(Error::KernelOverlapsFirmware { start: start.into(), end }));
    }
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
fn long_command_lines_and_port_io() {
    for port_io in [false, true] {
        for len in [0, 1, 2046, 2047, 2048, 5000, CMDLINE_MAX - 2] {
            let mut f = pvh_machine();
            f.port_io = port_io;
            let line: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            f.set(key::CMDLINE_SIZE, &(len as u32 + 1).to_le_bytes());
            f.set(key::CMDLINE_DATA, &[&line[..], b"\0"].concat());
            let (r, area, _) = prepare(&mut f);
            assert!(r.is_ok(), "{len} {port_io}: {r:?}");
            assert_eq!(&area.cmdline[..=len], &[&line[..], b"\0"].concat()[..], "{len} {port_io}");
        }
    }
}

#[test]
fn bad_inputs_end_in_errors() {
    let mut f = pvh_machine();
    let too_long = std::vec![b'x'; CMDLINE_MAX];
    f.set(key::CMDLINE_SIZE, &(CMDLINE_MAX as u32 + 1).to_le_bytes());
    f.set(key::CMDLINE_DATA, &too_long);
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
    let mut scratch = crate::boxed_zeroed::<Scratch>();
    let mut f = pvh_machine();
    assert_eq!(boot_fail_wait(&mut f, &mut scratch), None);
    let mut f = FakeFwCfg::default();
    f.add_file(BOOT_FAIL_WAIT_FILE, &1500i32.to_le_bytes());
    assert_eq!(boot_fail_wait(&mut f, &mut scratch), Some(1500));
    assert_eq!(boot_fail_wait(&mut FakeFwCfg::default(), &mut scratch), None);
}

/// A 128 MiB machine publishing what `qemu`'s `variant` publishes (ACPI, SMBIOS), plus the
/// kernel items of [`pvh_machine`].
fn qemu_machine(qemu: &str, variant: &str) -> FakeFwCfg {
    let mut f = testdata::fw_cfg(qemu, variant);
    let base = pvh_machine();
    for (k, v) in base.items.iter().filter(|(k, _)| **k < 0x20) {
        f.set(*k, v);
    }
    f.add_file("etc/e820", &e820(&[(0, 128 * M, 1)]));
    f
}

fn host_bridge(id: u32) -> FakePlatform {
    platform().with_device(PciFn::new(0, 0), id)
}

#[test]
fn pc_gets_acpi_smbios_and_a_reserved_table_block() {
    for q in testdata::QEMUS {
        let mut f = qemu_machine(q, "pc");
        let mut p = host_bridge(0x1237_8086);
        let (r, area, _) = prepare_on(&mut f, &mut p);
        assert!(r.is_ok(), "{q}: {r:?}");
        let rsdp = area.start_info.rsdp_paddr;
        assert!((F_SEGMENT_WINDOW.start..F_SEGMENT_WINDOW.end).contains(&rsdp));
        assert_eq!(&p.read(Range { start: rsdp, end: rsdp + 8 })[..], b"RSD PTR ");
        // The SMBIOS entry point follows the RSDP in the window, 16-byte aligned.
        let anchor = (rsdp + 20 + 15) & !15;
        assert_eq!(&p.read(Range { start: anchor, end: anchor + 4 })[..], b"_SM_");
        // The tables (128 KiB of ACPI, SMBIOS) sit right above the firmware's RAM, reserved
        // exactly as far as they reach; the rest below the MP table stays RAM.
        let map = memmap(&area);
        let low = [(0, 0x1000, 1), (0x1000, 0x50000, 2), (0x51000, 0x4d000, 1), (0x9e000, 0x62000, 2)];
        assert_eq!(map[..4], low, "{q}");
        assert_eq!(map[4], (M, 127 * M, 1));
        // PM base, interrupt routing, and the one PAM write for the F segment.
        assert_eq!(p.config_writes.len(), 4);
        assert_eq!(p.config_writes[3], (0, 0x59, 0x30, 1));
    }
}

#[test]
fn q35_reserves_mmconfig() {
    for q in testdata::QEMUS {
        let mut f = qemu_machine(q, "q35-smbios3");
        let mut p = host_bridge(0x29c0_8086);
        let (r, area, _) = prepare_on(&mut f, &mut p);
        assert!(r.is_ok(), "{q}: {r:?}");
        assert!(memmap(&area).contains(&(0xb000_0000, 0x1000_0000, e820::RESERVED)));
        let rsdp = area.start_info.rsdp_paddr;
        let anchor = (rsdp + 20 + 15) & !15;
        assert_eq!(&p.read(Range { start: anchor, end: anchor + 5 })[..], b"_SM3_", "{q}");
    }
}

#[test]
fn microvm_gets_acpi_without_pci_or_smbios() {
    for q in testdata::QEMUS {
        let mut f = qemu_machine(q, "microvm");
        let mut p = platform();
        let (r, area, _) = prepare_on(&mut f, &mut p);
        assert!(r.is_ok(), "{q}: {r:?}");
        assert!(p.config_writes.is_empty());
        assert_ne!(area.start_info.rsdp_paddr, 0);
    }
}

#[test]
fn a_broken_rsdp_is_refused() {
    for q in testdata::QEMUS {
        let mut f = qemu_machine(q, "microvm");
        let mut rsdp = testdata::load(q, "microvm").remove("etc/acpi/rsdp").unwrap();
        rsdp[0] = b'X';
        f.add_file("etc/acpi/rsdp", &rsdp);
        let (r, _, _) = prepare_on(&mut f, &mut platform());
        let problem = "its signature is not \"RSD PTR \"";
        assert!(matches!(r, Err(Error::BadRsdp { problem: p, .. }) if p == problem), "{q}: {r:?}");
    }
}

#[test]
fn tables_without_room_are_refused() {
    // All RAM above 1 MiB is taken by the initrd: the 128 KiB table blob cannot go anywhere.
    for q in testdata::QEMUS {
        let mut f = qemu_machine(q, "pc");
        f.add_file("etc/e820", &e820(&[(M, 8 * M, 1)]));
        f.set(key::KERNEL_ADDR, &(8 * M as u32).to_le_bytes());
        f.set(key::KERNEL_SIZE, &(M as u32).to_le_bytes());
        f.set(key::INITRD_ADDR, &(M as u32).to_le_bytes());
        f.set(key::INITRD_SIZE, &(7 * M as u32).to_le_bytes());
        let (r, _, _) = prepare_on(&mut f, &mut host_bridge(0x1237_8086));
        assert!(matches!(r, Err(Error::NoRoomForTables { .. })), "{q}: {r:?}");
    }
}

#[test]
fn tables_too_big_for_640k_go_to_the_top_of_ram() {
    for q in testdata::QEMUS {
        let mut f = qemu_machine(q, "pc");
        let mut tables = testdata::load(q, "pc").remove("etc/acpi/tables").unwrap();
        tables.resize(600 * 1024, 0);
        f.add_file("etc/acpi/tables", &tables);
        let mut p = host_bridge(0x1237_8086);
        let (r, area, _) = prepare_on(&mut f, &mut p);
        assert!(r.is_ok(), "{q}: {r:?}");
        let map = memmap(&area);
        // Nothing reserved below 640 KiB but the firmware's RAM; the block at the top is.
        assert_eq!(map[..3], [(0, 0x1000, 1), (0x1000, 0x2f000, 2), (0x30000, 0x6e000, 1)], "{q}");
        let top = map.iter().find(|e| e.2 == e820::RESERVED && e.0 > M).unwrap();
        assert_eq!(top.0 + top.1, 128 * M);
        assert!(top.1 >= 600 * 1024 && top.1 % 4096 == 0);
        let rsdp = area.start_info.rsdp_paddr;
        let rsdt_at = Range { start: rsdp + 16, end: rsdp + 20 };
        let rsdt = u64::from(u32::from_le_bytes(p.read(rsdt_at).try_into().unwrap()));
        assert!(top.0 <= rsdt && rsdt < 128 * M, "{q}: {rsdt:#x}");
    }
}

/// What QEMU publishes for `-M pc -m 128M -kernel vmlinuz -initrd x -append ...`: Debian 12's
/// patched setup header, 8 MiB of protected-mode kernel for 1 MiB.
fn bzimage_machine() -> FakeFwCfg {
    let mut f = pvh_machine();
    f.set(key::SETUP_DATA, &crate::bzimage::tests::debian12());
    bz_initrd(&mut f, 0x7f0_0000, 5);
    f.items.remove(&key::KERNEL_ENTRY);
    f.set(key::KERNEL_SIZE, &(8 * M as u32).to_le_bytes());
    f.set(key::KERNEL_DATA, b"kernel");
    f
}

/// Where QEMU placed the initrd, as it patches it into a bzImage's header.
fn bz_initrd(f: &mut FakeFwCfg, addr: u32, size: u32) {
    let mut setup = f.items[&key::SETUP_DATA].clone();
    setup[0x218..0x21c].copy_from_slice(&addr.to_le_bytes());
    setup[0x21c..0x220].copy_from_slice(&size.to_le_bytes());
    f.set(key::SETUP_DATA, &setup);
}

#[test]
fn bzimage_boot_fills_boot_params() {
    let mut f = bzimage_machine();
    let (r, area, _) = prepare(&mut f);
    let addrs = HandoffAddrs::at(AREA.into());
    assert_eq!(r, Ok(KernelEntry::Linux64 { entry: 0x10_0200, boot_params: addrs.boot_params }));
    let bp = &area.boot_params;
    assert_eq!(bp.hdr.header, *b"HdrS");
    assert_eq!(bp.hdr.type_of_loader, 0xb0);
    assert_eq!((bp.hdr.cmd_line_ptr.get(), bp.ext_cmd_line_ptr.get()), (addrs.cmdline as u32, 0));
    assert_eq!(&area.cmdline[..12], b"console=tty\0");
    assert_eq!((bp.hdr.ramdisk_image.get(), bp.hdr.ramdisk_size.get()), (0x7f0_0000, 5));
    assert_eq!((bp.acpi_rsdp_addr.get(), bp.hdr.setup_data.get()), (0, 0));
    // The same memory map as a PVH boot gets, as e820 entries.
    let e820: Vec<(u64, u64, u32)> = bp.e820_table[..usize::from(bp.e820_entries)]
        .iter()
        .map(|e| (e.addr.get(), e.size.get(), e.kind.get()))
        .collect();
    assert_eq!(
        e820,
        [(0, 0x1000, 1), (0x1000, 0x2f000, 2), (0x30000, 0x6e000, 1), (0x9e000, 0x62000, 2), (M, 127 * M, 1)]
    );
    // The initrd, then one DMA of the protected-mode part to KERNEL_ADDR.
    assert_eq!(f.phys_writes[1], (Range { start: M, end: 9 * M }, b"kernel".to_vec()));
}

#[test]
fn bzimage_that_does_not_fit_is_refused() {
    // Debian's kernel runs from 16 MiB and needs init_size (~64 MiB) there: not in 64 MiB.
    let mut f = bzimage_machine();
    f.add_file("etc/e820", &e820(&[(0, 64 * M, 1)]));
    bz_initrd(&mut f, 0x3f0_0000, 5);
    let (r, _, _) = prepare_on(&mut f, &mut platform().with_bank(63 * M, M as usize));
    assert_eq!(r, Err(Error::KernelNotInRam { start: 16 * M, end: 16 * M + 0x3f9_8000 }));
    assert!(f.phys_writes.is_empty(), "nothing loaded");
    // An initrd QEMU put inside the kernel's span.
    let mut f = bzimage_machine();
    bz_initrd(&mut f, 20 * M as u32, 5);
    assert_eq!(prepare(&mut f).0, Err(Error::InitrdDoesNotFit { addr: 20 * M, size: 5 }));
}

#[test]
fn bzimage_command_line_over_its_limit_is_refused() {
    let mut f = bzimage_machine();
    let line = [&[b'x'; 2048][..], b"\0"].concat();
    f.set(key::CMDLINE_SIZE, &(line.len() as u32).to_le_bytes());
    f.set(key::CMDLINE_DATA, &line);
    assert_eq!(prepare(&mut f).0, Err(Error::CmdlineTooLong { len: 2048, max: 2047 }));
}

#[test]
fn pvh_command_line_beyond_linux_limit_gets_one_warning() {
    for (len, warned) in [(2047, false), (2048, true), (3000, true)] {
        for port_io in [false, true] {
            let mut f = pvh_machine();
            f.port_io = port_io;
            let line = [&std::vec![b'x'; len][..], b"\0"].concat();
            f.set(key::CMDLINE_SIZE, &(line.len() as u32).to_le_bytes());
            f.set(key::CMDLINE_DATA, &line);
            let (r, area, out) = prepare(&mut f);
            assert!(r.is_ok(), "{r:?}");
            assert_eq!(&area.cmdline[..=len], &line[..], "passed on whole");
            let warning = std::format!("pvhfw: warning: command line of {len} bytes is longer than the 2047");
            assert_eq!(out.starts_with(&warning), warned, "{len} {port_io}: {out}");
            assert_eq!(out.lines().count(), usize::from(warned));
        }
    }
}

#[test]
fn pvh_kernel_from_its_program_headers() {
    // The segments span 1 MiB to 2 MiB + 4 KiB whatever KERNEL_SIZE says, and hold the entry.
    let mut f = pvh_machine();
    f.set(key::SETUP_DATA, &crate::kernel::tests::elf(2, &[(1, 0x10_0000, 0x8000), (1, 0x20_0000, 0x1000)]));
    assert!(prepare(&mut f).0.is_ok());
    f.set(key::KERNEL_ENTRY, &0x10_8000u32.to_le_bytes());
    assert_eq!(prepare(&mut f).0, Err(Error::PvhEntryOutsideKernel { entry: 0x10_8000 }));
    // A segment beyond RAM (QEMU dropped it): named, not entered.
    f.set(key::KERNEL_ENTRY, &0x10_0040u32.to_le_bytes());
    f.set(key::SETUP_DATA, &crate::kernel::tests::elf(2, &[(1, 0x10_0000, 0x8000), (1, 0x900_0000, 0x1000)]));
    assert_eq!(prepare(&mut f).0, Err(Error::KernelNotInRam { start: 0x10_0000, end: 0x900_1000 }));
    // No loadable segment: QEMU loads it, and says it spans 0xffffffff-0x100000000.
    f.set(key::SETUP_DATA, &crate::kernel::tests::elf(2, &[(4, 0x10_0000, 0x20)]));
    f.set(key::KERNEL_ADDR, &u32::MAX.to_le_bytes());
    f.set(key::KERNEL_SIZE, &1u32.to_le_bytes());
    assert_eq!(prepare(&mut f).0, Err(Error::ElfMalformed { problem: "no loadable segment" }));
}

/// A PVH ELF file as `pvhfw.elf` finds it in fw_cfg: one loadable segment at 16 MiB (0x100
/// bytes of 0xab in the file, 8 KiB in memory), its entry note, and `extra` loadable segments
/// of 0x10 bytes (paddr each).
fn chained_elf(extra: &[u64]) -> Vec<u8> {
    let mut phdrs = std::vec![(1, 0x100_0000, 0x2000), (4, 0x100_1100, 0x14)];
    phdrs.extend(extra.iter().map(|&paddr| (1, paddr, 0x10)));
    let mut file = crate::kernel::tests::elf(2, &phdrs);
    // Offsets and file sizes: the segment at 0x1000, the note at 0x1100, the extra ones at 0x1000.
    for (i, (offset, filesz)) in
        [(0x1000u64, 0x100u64), (0x1100, 0x14)].into_iter().chain(extra.iter().map(|_| (0x1000, 0x10))).enumerate()
    {
        let at = 0x40 + i * 56;
        file[at + 8..at + 16].copy_from_slice(&offset.to_le_bytes());
        file[at + 0x20..at + 0x28].copy_from_slice(&filesz.to_le_bytes());
    }
    file.resize(0x1000, 0);
    file.extend_from_slice(&[0xab; 0x100]);
    let mut note = Vec::new();
    for word in [4u32, 4, 18] {
        note.extend_from_slice(&word.to_le_bytes());
    }
    note.extend_from_slice(b"Xen\0");
    note.extend_from_slice(&0x100_0010u32.to_le_bytes());
    file.extend_from_slice(&note);
    file
}

/// What a previous stage hands over on a 128 MiB machine without ACPI.
fn incoming(cmdline: &[u8]) -> Incoming {
    let mut i = Incoming {
        memmap: [MemmapEntry::default(); crate::e820::MAX_INPUT],
        memmap_len: 2,
        cmdline: [0; INCOMING_CMDLINE_MAX],
        cmdline_len: cmdline.len(),
        initrd: None,
        rsdp: None,
    };
    i.memmap[0] = MemmapEntry { addr: 0, size: 0x9fc00, kind: 1, reserved: 0 };
    i.memmap[1] = MemmapEntry { addr: M, size: 127 * M, kind: 1, reserved: 0 };
    i.cmdline[..cmdline.len()].copy_from_slice(cmdline);
    i
}

fn prepare_chained(f: &mut FakeFwCfg, cmdline: &[u8]) -> (Result<KernelEntry, Error>, Box<Handoff>) {
    let mut area = crate::boxed_zeroed::<Handoff>();
    let mut con = Buffer::default();
    let mut scratch = crate::boxed_zeroed::<Scratch>();
    let mut p = platform().with_bank(16 * M, 0x2000);
    let r = Boot::new(f, &mut con, &mut p).prepare_chained(&incoming(cmdline), &mut area, AREA, &mut scratch);
    (r, area)
}

#[test]
fn chained_pvh_elf_loaded_from_its_file() {
    let mut f = FakeFwCfg::default();
    f.add_file(chain::KERNEL_FILE, &chained_elf(&[]));
    let (r, area) = prepare_chained(&mut f, b"from the option rom");
    assert!(matches!(r, Ok(KernelEntry::Pvh { entry: 0x100_0010, .. })), "{r:?}");
    assert_eq!(f.phys_writes, [(Range { start: 16 * M, end: 16 * M + 0x100 }, std::vec![0xab; 0x100])]);
    assert_eq!(&area.cmdline[..20], b"from the option rom\0", "the incoming command line without a file");
    // pvhfw.elf's image stays reserved.
    assert!(memmap(&area).contains(&(ELF_IMAGE.start, ELF_IMAGE.end - ELF_IMAGE.start, 2)), "{:?}", memmap(&area));

    f.add_file(chain::CMDLINE_FILE, b"console=ttyS0");
    let (_, area) = prepare_chained(&mut f, b"from the option rom");
    assert_eq!(&area.cmdline[..14], b"console=ttyS0\0", "the file's command line first");
}

#[test]
fn chained_failures_name_the_problem() {
    let mut f = FakeFwCfg::default();
    assert_eq!(prepare_chained(&mut f, b"").0, Err(Error::NoKernel));
    f.add_file(chain::KERNEL_FILE, &chained_elf(&[0xf0_0000]));
    let on_pvhfw = Err(Error::KernelOverlapsFirmware { start: 0xf0_0000, end: 0xf0_0010 });
    assert_eq!(prepare_chained(&mut f, b"").0, on_pvhfw);
    f.add_file(chain::KERNEL_FILE, &chained_elf(&[200 * M]));
    assert_eq!(prepare_chained(&mut f, b"").0, Err(Error::KernelNotInRam { start: 200 * M, end: 200 * M + 0x10 }));
    let mut truncated = chained_elf(&[]);
    truncated.truncate(0x1110);
    f.add_file(chain::KERNEL_FILE, &truncated);
    let malformed = Error::ElfMalformed { problem: "note segment too large or beyond the end of the file" };
    assert_eq!(prepare_chained(&mut f, b"").0, Err(malformed));
    truncated.truncate(0x1080);
    f.add_file(chain::KERNEL_FILE, &truncated);
    assert!(matches!(prepare_chained(&mut f, b"").0, Err(Error::ElfMalformed { .. })));
    f.add_file(chain::KERNEL_FILE, &[0x55; 4096]);
    assert_eq!(prepare_chained(&mut f, b"").0, Err(Error::UnknownKernelFormat));
    // An initrd file larger than any free RAM clear of the kernel (at 16 MiB, in 128 MiB).
    f.add_file(chain::KERNEL_FILE, &chained_elf(&[]));
    f.add_file(chain::INITRD_FILE, &std::vec![0; 113 << 20]);
    let no_room = Error::NoRoomForInitrd { size: 113 << 20, below: 1 << 32 };
    assert_eq!(prepare_chained(&mut f, b"").0, Err(no_room));
    f.add_file(chain::INITRD_FILE, &std::vec![0; 100 << 20]);
    assert!(prepare_chained(&mut f, b"").0.is_ok(), "fits above the kernel");
    // A bzImage that ends with its setup, or within it.
    let mut setup = crate::bzimage::tests::debian12();
    for len in [crate::bzimage::setup_len(setup[crate::bzimage::HEADER_OFFSET]) as usize, setup.len()] {
        setup.resize(len, 0);
        f.add_file(chain::KERNEL_FILE, &setup);
        assert_eq!(prepare_chained(&mut f, b"").0, Err(Error::BzImageEmpty), "{len}");
    }
}

/// What QEMU publishes for a multiboot `-kernel` with one module (`-initrd "mod arg"`): the
/// kernel item at 2 MiB (kernel, module list, command lines, boot loader name, the module),
/// the information for its option ROM as the initrd item; and a platform where the item's
/// DMA has landed.
fn multiboot_machine() -> (FakeFwCfg, FakePlatform, Vec<u8>) {
    let mut f = pvh_machine();
    let base = 0x20_0000u32;
    let mut image = std::vec![0xf4u8; 0x1000];
    let module = mb::Module { start: base + 0x2000, end: base + 0x2005, cmdline: base + 0x1010, reserved: 0 };
    image.extend_from_slice(module.as_bytes());
    image.extend_from_slice(b"mod arg\0kernel x\0qemu\0");
    image.resize(0x2000, 0);
    image.extend_from_slice(b"hello");
    let info = mb::Info {
        flags: 0x24f,
        cmdline: base + 0x1018,
        mods_count: 1,
        mods_addr: base + 0x1000,
        boot_loader_name: base + 0x1021,
        ..mb::Info::default()
    };
    f.items.remove(&key::SETUP_DATA);
    f.set(key::KERNEL_ADDR, &base.to_le_bytes());
    f.set(key::KERNEL_SIZE, &(image.len() as u32).to_le_bytes());
    f.set(key::KERNEL_ENTRY, &(base + 0x10).to_le_bytes());
    f.set(key::KERNEL_DATA, &image);
    f.set(key::INITRD_ADDR, &0x9500u32.to_le_bytes());
    f.set(key::INITRD_SIZE, &88u32.to_le_bytes());
    f.set(key::INITRD_DATA, info.as_bytes());
    let mut p = platform().with_bank(0, 0x500).with_bank(base.into(), image.len());
    p.phys(Range { start: base.into(), end: u64::from(base) + image.len() as u64 }).copy_from_slice(&image);
    (f, p, image)
}

#[test]
fn multiboot_kernel_gets_completed_information() {
    let (mut f, mut p, image) = multiboot_machine();
    let (r, area, _) = prepare_on(&mut f, &mut p);
    let addrs = HandoffAddrs::at(AREA.into());
    assert_eq!(r, Ok(KernelEntry::Multiboot { entry: 0x20_0010, info: addrs.boot_params as u32 }));
    // The whole kernel item, in one DMA to its address.
    assert!(f.phys_writes.contains(&(Range { start: 0x20_0000, end: 0x20_0000 + image.len() as u64 }, image)));
    let page = area.boot_params.as_bytes();
    let info = mb::Info::read_from_bytes(&page[..88]).unwrap();
    assert_eq!((info.flags, info.mods_count, info.cmdline), (0x24f, 1, 0x20_1018));
    assert_eq!((info.mem_lower, info.mem_upper), (632, 127 * 1024));
    assert_eq!((info.mmap_addr, info.mmap_length), (addrs.boot_params as u32 + 88, 5 * 24));
    let first = mb::MmapEntry::read_from_bytes(&page[88..112]).unwrap();
    assert_eq!((first.size.get(), first.addr.get(), first.len.get(), first.kind.get()), (20, 0, 0x1000, 1));
    // The BIOS data area agrees: base memory 632 KiB, EBDA at its end.
    let bda = p.phys(Range { start: 0x40e, end: 0x415 }).to_vec();
    assert_eq!((&bda[..2], &bda[5..7]), (&0x9e00u16.to_le_bytes()[..], &632u16.to_le_bytes()[..]));
    // BIOS calls (int 15h here) land on a service that fails: stc; retf 2.
    let int15 = u32::from_le_bytes(p.phys(Range { start: 0x54, end: 0x58 }).try_into().unwrap());
    let service = u64::from(int15 >> 16) * 16 + u64::from(int15 & 0xffff);
    assert_eq!(p.phys(Range { start: service, end: service + 4 }), [0xf9, 0xca, 0x02, 0x00]);
}

#[test]
fn multiboot_failures_name_the_problem() {
    let (mut f, mut p, _) = multiboot_machine();
    f.set(key::KERNEL_ENTRY, &0x10_0000u32.to_le_bytes());
    let problem = "the entry lies outside the kernel";
    assert_eq!(prepare_on(&mut f, &mut p).0, Err(Error::Multiboot { problem }));
    let (mut f, mut p, _) = multiboot_machine();
    let mut bad = mb::Info::read_from_bytes(&f.items[&key::INITRD_DATA]).unwrap();
    bad.mods_addr = 0x1000;
    f.set(key::INITRD_DATA, bad.as_bytes());
    let error = mb::InfoError::Outside { what: "module list" };
    assert_eq!(prepare_on(&mut f, &mut p).0, Err(Error::MultibootInfo { error }));
    // Not QEMU's multiboot information: no kernel pvhfw knows.
    let (mut f, mut p, _) = multiboot_machine();
    f.set(key::INITRD_SIZE, &5u32.to_le_bytes());
    assert_eq!(prepare_on(&mut f, &mut p).0, Err(Error::UnknownKernelFormat));
}

#[test]
fn chained_elf_with_more_segments_than_ranges() {
    // Six loadable segments for four ranges: the last range spans the last three, so a
    // segment beyond RAM among them is still found.
    let mut f = FakeFwCfg::default();
    f.add_file(chain::KERNEL_FILE, &chained_elf(&[0x200_0000, 0x300_0000, 0x400_0000, 0x500_0000, 0x600_0000]));
    let (r, _) = prepare_chained(&mut f, b"");
    assert!(matches!(r, Ok(KernelEntry::Pvh { .. })), "{r:?}");
    f.add_file(chain::KERNEL_FILE, &chained_elf(&[0x200_0000, 0x300_0000, 0x400_0000, 0x500_0000, 0x9000_0000]));
    let (r, _) = prepare_chained(&mut f, b"");
    assert_eq!(r, Err(Error::KernelNotInRam { start: 0x400_0000, end: 0x9000_0010 }));
}
