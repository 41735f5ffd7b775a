//! Randomised tests of every parser of untrusted input, on stable Rust: a seeded generator
//! throws structured and unstructured garbage at them and the properties below must hold for
//! every case (no panic is one of them). Seeds are fixed, so failures reproduce.

use crate::boot::{Boot, KernelEntry};
use crate::console::testing::Buffer;
use crate::e820::{self, Region, Regions};
use crate::fw_cfg::{fake::FakeFwCfg, key, Directory};
use crate::handoff::Handoff;
use crate::platform::fake::FakePlatform;
use crate::scratch::Scratch;
use crate::start_info::{MemmapEntry, MAX_MEMMAP};
use crate::Range;
use std::vec::Vec;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    /// Addresses clustered where bugs live: near zero, near 4 GiB, near the top, anywhere.
    fn addr(&mut self) -> u64 {
        match self.below(4) {
            0 => self.below(0x20_0000) & !0xfff,
            1 => (1 << 32) - self.below(1 << 30),
            2 => u64::MAX - self.below(1 << 20),
            _ => self.next(),
        }
    }
}

fn raw_e820(rng: &mut Rng, n: usize) -> Vec<u8> {
    let mut v = Vec::new();
    for _ in 0..n {
        v.extend_from_slice(&rng.addr().to_le_bytes());
        let len = if rng.below(3) == 0 { rng.next() } else { rng.below(1 << 34) };
        v.extend_from_slice(&len.to_le_bytes());
        let kind = [1, 1, 2, 3, 4, 0xefff_ffff, rng.next() as u32][rng.below(7) as usize];
        v.extend_from_slice(&kind.to_le_bytes());
    }
    v
}

#[test]
fn e820_build_properties() {
    let mut rng = Rng(0x5eed_e820);
    let mut regions = crate::boxed_zeroed::<Regions>();
    for _ in 0..20_000 {
        let n = rng.below(12) as usize;
        let mut raw = raw_e820(&mut rng, n);
        raw.truncate(raw.len() - rng.below(3) as usize * (n.min(1)));
        if regions.from_e820(&raw).is_err() {
            continue;
        }
        for _ in 0..rng.below(3) {
            let start = rng.addr();
            regions.push(Region::new(Range { start, end: start.saturating_add(rng.below(1 << 22)) }, 2));
        }
        let inputs: Vec<Region> = regions.as_slice().to_vec();
        let mut out = [MemmapEntry::default(); MAX_MEMMAP];
        let Ok(len) = e820::build(&mut regions, &mut out) else { continue };
        e820::assert_built_from(&out[..len], &inputs);
    }
}

#[test]
fn directory_parse_never_panics() {
    let mut rng = Rng(0xd1_4ec7);
    for _ in 0..20_000 {
        let len = rng.below(600) as usize;
        let mut raw = rng.bytes(len);
        if len >= 4 && rng.below(2) == 0 {
            raw[..4].copy_from_slice(&(rng.below(12) as u32).to_be_bytes());
        }
        let dir = Directory::parse(&raw);
        assert!(dir.len() * 64 + 4 <= raw.len().max(4));
        for name in ["etc/e820", "", "x", "opt/org.pvhfw/log"] {
            let _ = dir.find(&crate::fw_cfg::NameKey::new(&crate::fw_cfg::FileName::new(name)));
        }
    }
}

#[test]
fn pvh_boot_survives_random_fw_cfg() {
    let mut rng = Rng(0xb007);
    let mut area = crate::boxed_zeroed::<Handoff>();
    let mut scratch = crate::boxed_zeroed::<Scratch>();
    for _ in 0..5_000 {
        let mut f = FakeFwCfg::default();
        let n = rng.below(6) as usize;
        f.add_file("etc/e820", &raw_e820(&mut rng, n));
        if rng.below(4) == 0 {
            let len = rng.below(40) as usize;
            f.add_file("opt/org.pvhfw/log", &rng.bytes(len));
        }
        let head_len = rng.below(0x300) as usize;
        let mut head = rng.bytes(head_len);
        match rng.below(3) {
            0 if head.len() >= 4 => head[..4].copy_from_slice(b"\x7fELF"),
            // Debian's bzImage header with a few fields (protocol, flags, init_size, the
            // setup_data pointer, addresses, alignment) overwritten at random.
            1 => {
                head = crate::bzimage::tests::debian12();
                for _ in 0..rng.below(4) {
                    let at = [0x206, 0x211, 0x230, 0x234, 0x236, 0x250, 0x258, 0x260][rng.below(8) as usize];
                    let v = rng.next().to_le_bytes();
                    head[at..at + 4].copy_from_slice(&v[..4]);
                }
            }
            _ => {}
        }
        f.set(key::SETUP_DATA, &head);
        f.set(key::KERNEL_DATA, b"kernel");
        for k in [key::KERNEL_ENTRY, key::KERNEL_ADDR, key::KERNEL_SIZE, key::INITRD_ADDR, key::INITRD_SIZE] {
            let v = if rng.below(2) == 0 { rng.below(1 << 28) as u32 } else { rng.next() as u32 };
            f.set(k, &v.to_le_bytes());
        }
        let cmdline_len = rng.below(300) as usize;
        let oversize = (rng.below(2) as u32) << 20;
        f.set(key::CMDLINE_SIZE, &((cmdline_len as u32) ^ oversize).to_le_bytes());
        f.set(key::CMDLINE_DATA, &rng.bytes(cmdline_len));
        f.set(key::INITRD_DATA, &[]);
        let mut con = Buffer::default();
        let mut p = FakePlatform::default().with_bank(crate::layout::MP_TABLE.start, 0x2000);
        if crate::bzimage::has_magic(&head) {
            // A bzImage's setup_data list is read back from where its kernel was loaded.
            let size = rng.below(0x1_0000);
            f.set(key::KERNEL_SIZE, &(size as u32).to_le_bytes());
            let addr = u32::from_le_bytes(f.items[&key::KERNEL_ADDR][..4].try_into().unwrap());
            p = p.with_bank(addr.into(), size as usize);
        }
        let result = Boot::new(&mut f, &mut con, &mut p).prepare(&mut area, 0x3000, &mut scratch);
        let map_len = match result {
            Ok(KernelEntry::Pvh { .. }) => area.start_info.memmap_entries as usize,
            Ok(_) => usize::from(area.boot_params.e820_entries),
            Err(_) => continue,
        };
        let map = &area.memmap[..map_len];
        assert!(!map.is_empty() && map.len() <= MAX_MEMMAP);
        // Whatever was written to RAM went to free RAM below 4 GiB, outside the firmware.
        for &(r, _) in &f.phys_writes {
            assert!(r.end <= 1 << 32 && e820::is_ram(map, r), "{r:x?} {map:x?}");
            assert!(!r.overlaps(&crate::layout::FIRMWARE_RAM));
        }
        if let [(a, _), (b, _)] = &f.phys_writes[..] {
            assert!(!a.overlaps(b), "initrd and kernel overlap: {a:x?} {b:x?}");
        }
    }
}
