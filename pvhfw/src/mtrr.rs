//! Memory type range registers, set as SeaBIOS sets them: RAM write-back, the legacy VGA window
//! uncached, the option ROM and BIOS area write-protected, and the 32-bit PCI hole (from the end
//! of low RAM to 4 GiB) uncached. At reset QEMU's MTRRs are all off, and Linux 6.1 then turns
//! PAT off too ("MTRRs disabled, skipping PAT initialization"): no write-combining for anyone.

use crate::platform::Platform;

const MTRR_CAP: u32 = 0xfe;
const MTRR_DEF_TYPE: u32 = 0x2ff;
const PHYS_BASE0: u32 = 0x200;
const FIX_64K_00000: u32 = 0x250;
const FIX_16K_80000: u32 = 0x258;
const FIX_16K_A0000: u32 = 0x259;
const FIX_4K_C0000: u32 = 0x268;

const UC: u64 = 0;
const WP: u64 = 5;
const WB: u64 = 6;
/// The same type in all eight bytes of a fixed-range register.
const fn all(kind: u64) -> u64 {
    kind * 0x0101_0101_0101_0101
}
/// `MTRRdefType`: MTRRs on, fixed ranges on, write-back by default.
const ENABLE: u64 = 1 << 11;
const FIXED_ENABLE: u64 = 1 << 10;
const VALID: u64 = 1 << 11;
const FOUR_GIB: u64 = 1 << 32;

/// Programs the MTRRs, if the CPU has them; `low_ram_end` is where RAM below 4 GiB ends.
pub fn set_up(p: &mut (impl Platform + ?Sized), low_ram_end: u64) {
    let [_, _, _, features] = p.cpuid(1, 0);
    if features & (1 << 12) == 0 {
        return;
    }
    let cap = p.rdmsr(MTRR_CAP);
    let mut def_type = ENABLE | WB;
    if cap & (1 << 8) != 0 {
        p.wrmsr(FIX_64K_00000, all(WB));
        p.wrmsr(FIX_16K_80000, all(WB));
        p.wrmsr(FIX_16K_A0000, all(UC));
        for msr in FIX_4K_C0000..FIX_4K_C0000 + 8 {
            p.wrmsr(msr, all(WP));
        }
        def_type |= FIXED_ENABLE;
    }
    let max_ext = p.cpuid(0x8000_0000, 0)[0];
    let phys_bits = if max_ext >= 0x8000_0008 { p.cpuid(0x8000_0008, 0)[0] & 0xff } else { 36 };
    let phys_mask = 1u64.checked_shl(phys_bits).map_or(u64::MAX, |b| b - 1);
    for (i, (base, size)) in uncached_blocks(low_ram_end).take((cap & 0xff) as usize).enumerate() {
        let i = i as u32;
        p.wrmsr(PHYS_BASE0 + 2 * i, base | UC);
        p.wrmsr(PHYS_BASE0 + 2 * i + 1, (!(size - 1) & phys_mask) | VALID);
    }
    p.wrmsr(MTRR_DEF_TYPE, def_type);
}

/// `[start, 4 GiB)` as naturally aligned power-of-two blocks, largest first from the top: the
/// variable MTRRs that make the PCI hole uncached. Start rounded up to 1 MiB. The blocks are
/// the bits of the hole's size, highest first: each ends where the larger ones begin, 4 GiB
/// less a sum of larger powers of two, so it is aligned to its own size.
fn uncached_blocks(start: u64) -> impl Iterator<Item = (u64, u64)> {
    let start = start.next_multiple_of(1 << 20).min(FOUR_GIB);
    let mut left = FOUR_GIB - start;
    core::iter::from_fn(move || {
        if left == 0 {
            return None;
        }
        let size = 1u64 << left.ilog2();
        left -= size;
        Some((start + left, size))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::fake::FakePlatform;
    use std::vec::Vec;

    #[test]
    fn pci_hole_blocks() {
        let blocks = |s| uncached_blocks(s).collect::<Vec<_>>();
        assert_eq!(blocks(0xe000_0000), [(0xe000_0000, 0x2000_0000)]);
        assert_eq!(blocks(0x8000_0000), [(0x8000_0000, 0x8000_0000)]);
        assert_eq!(blocks(0xb000_0000), [(0xc000_0000, 0x4000_0000), (0xb000_0000, 0x1000_0000)]);
        assert_eq!(blocks(0x0800_0000).len(), 5, "128 MiB: 2 GiB + 1 GiB + ... + 128 MiB");
        assert!(blocks(FOUR_GIB).is_empty());
        for start in [0x0123_4567u64, 0x0800_0000, 0xb000_0000, 0xfff0_0001] {
            let b = blocks(start);
            assert!(b.iter().all(|&(base, size)| size.is_power_of_two() && base.is_multiple_of(size)));
            let covered: u64 = b.iter().map(|b| b.1).sum();
            assert_eq!(covered, FOUR_GIB - start.next_multiple_of(1 << 20).min(FOUR_GIB));
        }
    }

    #[test]
    fn programs_what_the_cpu_has() {
        let mut p = FakePlatform::default();
        p.cpuid.insert((1, 0), [0, 0, 0, 1 << 12]);
        p.cpuid.insert((0x8000_0000, 0), [0x8000_0008, 0, 0, 0]);
        p.cpuid.insert((0x8000_0008, 0), [40, 0, 0, 0]);
        p.msrs.insert(MTRR_CAP, 0x508);
        set_up(&mut p, 0xb000_0000);
        assert_eq!(p.msrs[&MTRR_DEF_TYPE], 0xc06);
        assert_eq!(p.msrs[&FIX_16K_A0000], 0);
        assert_eq!(p.msrs[&FIX_64K_00000], 0x0606_0606_0606_0606);
        assert_eq!((p.msrs[&0x200], p.msrs[&0x201]), (0xc000_0000, 0xff_c000_0800));
        assert_eq!((p.msrs[&0x202], p.msrs[&0x203]), (0xb000_0000, 0xff_f000_0800));
        assert!(!p.msrs.contains_key(&0x204));
        // No MTRRs: nothing written.
        let mut none = FakePlatform::default();
        set_up(&mut none, 0x8000_0000);
        assert!(none.msrs.is_empty());
    }
}
