use super::*;
use crate::checksum;
use crate::fw_cfg::{read_directory, DIR_BYTES};
use crate::platform::fake::FakePlatform;
use crate::testdata;
use std::vec::Vec;

const HIGH: Range = Range { start: 0x0ff0_0000, end: 0x1000_0000 };
const FSEG: Range = Range { start: 0xf_4000, end: 0xf_4200 };

fn platform() -> FakePlatform {
    FakePlatform::default().with_bank(HIGH.start, (HIGH.end - HIGH.start) as usize).with_bank(FSEG.start, 0x200)
}

struct Outcome {
    result: Result<Option<u64>, Error>,
    p: FakePlatform,
    f: crate::fw_cfg::fake::FakeFwCfg,
    high_used: Range,
}

fn run_script(
    f: &mut crate::fw_cfg::fake::FakeFwCfg,
    script: &[u8],
) -> (Result<Option<u64>, Error>, FakePlatform, Range) {
    let mut buf = std::boxed::Box::new([0u8; DIR_BYTES]);
    let dir = read_directory(f, &mut buf).unwrap();
    let mut p = platform();
    let (mut high, mut fseg) = (Bump::new(HIGH), Bump::new(FSEG));
    let result = needs(script, &dir).and_then(|n| {
        assert!(n.high <= HIGH.end - HIGH.start, "{n:?}");
        let areas = Zones { high: &mut high, f_segment: &mut fseg };
        run(script, &dir, f, &mut p, areas).map(|placed| placed.rsdp)
    });
    (result, p, high.used())
}

/// QEMU's own script for `variant`, as `qemu` (one of [`testdata::QEMUS`]) published it.
fn qemu(qemu: &str, variant: &str) -> Outcome {
    let mut f = testdata::fw_cfg(qemu, variant);
    let script = testdata::load(qemu, variant).remove(LOADER_FILE).unwrap();
    let (result, p, high_used) = run_script(&mut f, &script);
    Outcome { result, p, f, high_used }
}

fn le(b: &[u8]) -> u64 {
    b.iter().rev().fold(0, |v, &x| v << 8 | u64::from(x))
}

/// Reads the ACPI table at `addr`, checking its checksum; returns (signature, bytes).
fn table(p: &mut FakePlatform, addr: u64) -> ([u8; 4], Vec<u8>) {
    let head = p.read(Range { start: addr, end: addr + 8 });
    let len = le(&head[4..8]);
    let t = p.read(Range { start: addr, end: addr + len });
    assert_eq!(checksum::sum(&t), 0, "checksum of {:?} at {addr:#x}", std::str::from_utf8(&t[..4]));
    (t[..4].try_into().unwrap(), t)
}

/// Walks RSDP -> RSDT/XSDT -> tables -> DSDT/FACS, checking every checksum and that every
/// pointer lands in the area the loader used. Returns the signatures found.
fn walk_acpi(p: &mut FakePlatform, rsdp: u64, high: Range) -> Vec<String> {
    let r = p.read(Range { start: rsdp, end: rsdp + 20 });
    assert_eq!(&r[..8], b"RSD PTR ");
    assert_eq!(checksum::sum(&r), 0);
    let (root, entry) = if r[15] >= 2 {
        let r2 = p.read(Range { start: rsdp, end: rsdp + 36 });
        assert_eq!(checksum::sum(&r2), 0);
        (le(&r2[24..32]), 8)
    } else {
        (le(&r[16..20]), 4)
    };
    let inside = |a: u64| assert!(high.start <= a && a < high.end, "{a:#x} outside {high:x?}");
    inside(root);
    let (_, root_table) = table(p, root);
    let mut found = Vec::new();
    for ptr in root_table[36..].chunks_exact(entry) {
        let addr = le(ptr);
        inside(addr);
        let (sig, t) = table(p, addr);
        found.push(String::from_utf8_lossy(&sig).into_owned());
        if &sig == b"FACP" {
            // The 64-bit fields (ACPI 2.0+) win where set; hardware-reduced FADTs have no FACS.
            let wide = |at: usize, narrow: usize| match t.get(at..at + 8).map(le) {
                Some(v) if v != 0 => v,
                _ => le(&t[narrow..narrow + 4]),
            };
            let dsdt = wide(140, 40);
            inside(dsdt);
            found.push(String::from_utf8_lossy(&table(p, dsdt).0).into_owned());
            let facs = wide(132, 36);
            if facs != 0 {
                inside(facs);
                assert_eq!(&p.read(Range { start: facs, end: facs + 4 })[..], b"FACS");
            }
        }
    }
    found
}

use std::string::String;

#[test]
fn qemu_pc_script_builds_valid_tables() {
    for q in testdata::QEMUS {
        let mut o = qemu(q, "pc");
        let rsdp = o.result.unwrap().expect("an RSDP");
        assert!((FSEG.start..FSEG.end).contains(&rsdp) && rsdp.is_multiple_of(16));
        let found = walk_acpi(&mut o.p, rsdp, o.high_used);
        assert_eq!(found, ["FACP", "DSDT", "APIC", "HPET", "WAET"], "{q}");
        assert!(o.f.writes.is_empty());
    }
}

#[test]
fn qemu_q35_script_builds_valid_tables() {
    for q in testdata::QEMUS {
        for variant in ["q35", "q35-smbios3"] {
            let mut o = qemu(q, variant);
            let rsdp = o.result.unwrap().unwrap();
            let found = walk_acpi(&mut o.p, rsdp, o.high_used);
            assert_eq!(found, ["FACP", "DSDT", "APIC", "HPET", "MCFG", "WAET"], "{q} {variant}");
        }
    }
}

#[test]
fn qemu_microvm_script_builds_valid_tables() {
    for q in testdata::QEMUS {
        let mut o = qemu(q, "microvm");
        let rsdp = o.result.unwrap().unwrap();
        let found = walk_acpi(&mut o.p, rsdp, o.high_used);
        assert_eq!(found, ["FACP", "DSDT", "APIC"], "{q}");
    }
}

#[test]
fn vmgenid_address_is_written_back() {
    for q in testdata::QEMUS {
        let mut o = qemu(q, "pc-vmgenid-smp4");
        let rsdp = o.result.unwrap().unwrap();
        assert!(walk_acpi(&mut o.p, rsdp, o.high_used).contains(&"SSDT".into()), "{q}");
        let sel = o.f.files.iter().find(|(n, _)| n == "etc/vmgenid_addr").unwrap().1;
        assert_eq!(o.f.writes.len(), 1);
        let (key, offset, bytes) = &o.f.writes[0];
        assert_eq!((*key, *offset, bytes.len()), (sel, 0, 8));
        let guid = le(bytes) - 40;
        assert!(o.high_used.start <= guid && guid.is_multiple_of(4096) && guid + 4096 <= o.high_used.end);
    }
}

use super::encode::{add_checksum, add_pointer, allocate, command, write_pointer};

fn small_machine() -> crate::fw_cfg::fake::FakeFwCfg {
    let mut f = crate::fw_cfg::fake::FakeFwCfg::default();
    f.add_file("t", &[1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0]);
    f.add_file("u", &[9; 32]);
    f.add_file("big", &[0; 0x300]);
    f.add_file("w", &[0; 8]);
    f
}

fn script(cmds: &[[u8; COMMAND_SIZE]]) -> Vec<u8> {
    cmds.concat()
}

fn problem(cmds: &[[u8; COMMAND_SIZE]]) -> (u16, &'static str) {
    match run_script(&mut small_machine(), &script(cmds)).0 {
        Err(Error::TableLoader { index, problem }) => (index, problem),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn hand_written_script_links_and_checksums() {
    let mut f = small_machine();
    let s = script(&[
        allocate("t", 16, 1),
        allocate("u", 64, 1),
        add_pointer("t", "u", 0, 4),
        add_pointer("u", "t", 24, 8),
        add_checksum("t", 15, 0, 16),
        command(0, &[]),
        command(99, &[]), // unknown: ignored
        write_pointer("w", "u", 4, 2, 4),
    ]);
    let (result, mut p, used) = run_script(&mut f, &s);
    assert_eq!(result, Ok(None));
    let (t, u) = (HIGH.start, HIGH.start + 64);
    assert_eq!(used, Range { start: HIGH.start, end: u + 32 });
    let tb = p.read(Range { start: t, end: t + 16 });
    assert_eq!(le(&tb[..4]), 0x0403_0201 + u);
    assert_eq!(checksum::sum(&tb), 0);
    assert_eq!(le(&p.read(Range { start: u + 24, end: u + 32 })), 0x0909_0909_0909_0909 + t);
    assert_eq!(f.writes, [(0x23, 4, (u as u32 + 2).to_le_bytes().to_vec())]);
}

#[test]
fn broken_scripts_are_refused_with_the_command() {
    assert_eq!(problem(&[allocate("nope", 1, 1)]), (0, "allocates a file fw_cfg does not have"));
    assert_eq!(problem(&[allocate("t", 1, 1), allocate("t", 1, 1)]), (1, "allocates a file twice"));
    assert_eq!(problem(&[allocate("t", 1, 3)]), (0, "allocates in an unknown zone"));
    assert_eq!(problem(&[allocate("t", 3, 1)]), (0, "alignment is not a power of two up to 64 KiB"));
    assert_eq!(problem(&[allocate("t", 1 << 17, 1)]), (0, "alignment is not a power of two up to 64 KiB"));
    assert_eq!(problem(&[allocate("big", 1, 2)]), (0, "does not fit in the F segment"));
    let t = || allocate("t", 1, 1);
    assert_eq!(problem(&[add_pointer("t", "t", 0, 4)]), (0, "refers to a file not allocated before"));
    assert_eq!(problem(&[t(), add_pointer("t", "t", 13, 4)]), (1, "pointer lies outside its file"));
    assert_eq!(problem(&[t(), add_pointer("t", "t", u32::MAX, 8)]), (1, "pointer lies outside its file"));
    assert_eq!(problem(&[t(), add_pointer("t", "t", 0, 3)]), (1, "pointer size is not 1, 2, 4 or 8"));
    assert_eq!(problem(&[t(), add_pointer("t", "t", 0, 1)]), (1, "pointer value does not fit its field"));
    assert_eq!(problem(&[t(), add_checksum("t", 0, 8, 9)]), (1, "checksum range lies outside its file"));
    assert_eq!(problem(&[t(), add_checksum("t", 7, 8, 4)]), (1, "checksum range lies outside its file"));
    assert_eq!(problem(&[t(), add_checksum("t", 0, u32::MAX, 2)]), (1, "checksum range lies outside its file"));
    assert_eq!(problem(&[t(), write_pointer("nope", "t", 0, 0, 4)]), (1, "writes to a file fw_cfg does not have"));
    assert_eq!(problem(&[t(), write_pointer("w", "t", 5, 0, 4)]), (1, "pointer lies outside its file"));
    assert_eq!(problem(&[t(), write_pointer("w", "t", 0, 17, 4)]), (1, "pointer lies outside its file"));
    assert_eq!(problem(&[t(), write_pointer("w", "nope", 0, 0, 4)]), (1, "refers to a file not allocated before"));
    let names = ["f0", "f1", "f2", "f3", "f4", "f5", "f6"];
    let mut f = small_machine();
    names.iter().for_each(|n| f.add_file(n, &[1; 8]));
    let many: Vec<[u8; COMMAND_SIZE]> = names.iter().map(|n| allocate(n, 1, 1)).collect();
    match run_script(&mut f, &script(&many)).0 {
        Err(Error::TableLoader { index, problem }) => assert_eq!((index, problem), (6, "allocates more than 6 files")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn dma_errors_and_missing_dma_end_the_run() {
    let mut f = small_machine();
    f.failing.push(0x20);
    assert_eq!(run_script(&mut f, &script(&[allocate("t", 1, 1)])).0, Err(Error::DmaFailed { key: 0x20 }));
}

/// Random scripts over QEMU's own files: whatever they say, nothing panics and nothing is
/// touched outside the two areas (the fake platform panics on any other address).
#[test]
fn random_scripts_stay_inside_their_areas() {
    let names = ["etc/acpi/tables", "etc/acpi/rsdp", "etc/vmgenid_guid", "etc/vmgenid_addr", "nope", ""];
    let mut x = 0x243f_6a88_85a3_08d3u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..3000 {
        let mut f = testdata::fw_cfg(testdata::QEMUS[i % testdata::QEMUS.len()], "pc-vmgenid-smp4");
        let mut cmds = Vec::new();
        for _ in 0..next() % 12 {
            let name = |r: u64| names[(r % names.len() as u64) as usize];
            let offset = if next() % 2 == 0 { (next() % 0x2_0010) as u32 } else { next() as u32 };
            let size = [1, 2, 4, 8, 3, 0][(next() % 6) as usize];
            cmds.push(match next() % 5 {
                0 => allocate(name(next()), 1 << (next() % 14), 1 + (next() % 2) as u8),
                1 => add_pointer(name(next()), name(next()), offset, size),
                2 => add_checksum(name(next()), offset, (next() % 0x2_0000) as u32, (next() % 0x800) as u32),
                3 => write_pointer(name(next()), name(next()), offset % 16, offset, size),
                _ => command((next() % 6) as u32, &next().to_le_bytes()),
            });
        }
        let _ = run_script(&mut f, &script(&cmds));
    }
}
