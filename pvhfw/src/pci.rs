//! PCI resources for kernels that cannot assign their own: every BAR of every function on bus 0
//! sized and placed below 4 GiB, decoding and bus mastering turned on, and the interrupt line
//! register set to the ISA IRQ the chipset routes the function's pin to, as SeaBIOS does.
//!
//! A 64-bit Linux assigns what the firmware leaves unassigned, from QEMU's ACPI `_CRS`, and
//! puts a 64-bit BAR above 4 GiB; a 32-bit kernel cannot reach it there and loses the device
//! (a virtio device's modern BAR is 64-bit). So pvhfw assigns for the kernels that run in 32
//! bits: a bzImage entered at its 32-bit entry, a 32-bit PVH ELF, a multiboot kernel.
//!
//! Bus 0 only, so far: bridges and PCIe root ports are not followed (their own functions are
//! left alone too), and a BAR too large for the window below 4 GiB stays unassigned.

use crate::chipset::Chipset;
use crate::platform::{PciFn, Platform};
use crate::Range;

/// Configuration space registers (the dword holding them) and bits, for this module and the
/// virtio-pci driver.
pub(crate) const ID: u8 = 0x00;
pub(crate) const COMMAND: u8 = 0x04;
const CLASS: u8 = 0x08;
pub(crate) const HEADER_TYPE: u8 = 0x0c;
pub(crate) const BAR0: u8 = 0x10;
const INTERRUPT: u8 = 0x3c;
pub(crate) const COMMAND_IO: u32 = 1 << 0;
pub(crate) const COMMAND_MEMORY: u32 = 1 << 1;
pub(crate) const COMMAND_MASTER: u32 = 1 << 2;
/// In the header type dword: function 0 of a multi-function device.
pub(crate) const MULTIFUNCTION: u32 = 0x80 << 16;
/// Class and subclass of a host bridge, which has no BARs to assign.
const HOST_BRIDGE: u32 = 0x0600;

/// Where I/O BARs go: from 0xC000, where SeaBIOS starts, to the end of the port space.
const IO_WINDOW: Range = Range { start: 0xc000, end: 0x1_0000 };
/// The end of the memory window: the IOAPIC.
const MEMORY_END: u64 = 0xfec0_0000;

/// BARs kept for placement at once: six per function of a few dozen functions.
const MAX_BARS: usize = 96;

/// The memory window below 4 GiB: above the most RAM QEMU keeps below 4 GiB (3.5 GiB on
/// `pc`; on `q35` 2.75 GiB, then the MMCONFIG window) and below the IOAPIC.
fn memory_window(chipset: Chipset) -> Range {
    let start = match chipset {
        Chipset::Q35 => 0xc000_0000,
        _ => 0xe000_0000,
    };
    Range { start, end: MEMORY_END }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Bar {
    f: PciFn,
    reg: u8,
    size: u64,
    io: bool,
    wide: bool,
}

/// Calls `visit` with each function present on bus 0 and its vendor and device id: function 0
/// of every slot, the others only where function 0 says its device has more.
pub(crate) fn for_each_function<P: Platform + ?Sized>(p: &mut P, mut visit: impl FnMut(&mut P, PciFn, u32)) {
    // black_box: the loops run once per boot, and unrolled they cost ROM space.
    for slot in 0..core::hint::black_box(32) {
        let id = read(p, PciFn::new(slot, 0), ID);
        if id & 0xffff == 0xffff {
            continue;
        }
        let functions = if read(p, PciFn::new(slot, 0), HEADER_TYPE) & MULTIFUNCTION != 0 { 8 } else { 1 };
        visit(p, PciFn::new(slot, 0), id);
        for function in 1..core::hint::black_box(functions) {
            let f = PciFn::new(slot, function);
            let id = read(p, f, ID);
            if id & 0xffff != 0xffff {
                visit(p, f, id);
            }
        }
    }
}

/// A configuration dword: two VM exits, kept out of line (the loops over functions and
/// registers would unroll it).
#[inline(never)]
pub(crate) fn read<P: Platform + ?Sized>(p: &mut P, f: PciFn, offset: u8) -> u32 {
    p.pci_read32(f, offset)
}

/// What [`assign`] did: BARs placed and those that did not fit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Assigned {
    pub bars: u32,
    pub unplaced: u32,
}

/// Sizes, places and enables every BAR on bus 0 of `chipset`, as described above.
pub fn assign<P: Platform + ?Sized>(p: &mut P, chipset: Chipset) -> Assigned {
    let mut bars = [Bar::default(); MAX_BARS];
    let mut n = 0;
    let mut unplaced = 0;
    for_each_function(p, |p, f, _| {
        if read(p, f, HEADER_TYPE) >> 16 & 0x7f != 0 || read(p, f, CLASS) >> 16 == HOST_BRIDGE {
            return;
        }
        for bar in function_bars(p, f) {
            match bars.get_mut(n) {
                Some(slot) => (*slot, n) = (bar, n + 1),
                None => unplaced += 1,
            }
        }
        set_interrupt_line(p, f, chipset);
    });
    let bars = &mut bars[..n];
    // Largest first: each then starts naturally aligned where the one before ended.
    bars.sort_unstable_by_key(|b| core::cmp::Reverse(b.size));
    let (mut io, mut memory) = (IO_WINDOW.start, memory_window(chipset).start);
    let mut placed = 0;
    for bar in bars.iter() {
        let next = if bar.io { &mut io } else { &mut memory };
        let end = if bar.io { IO_WINDOW.end } else { MEMORY_END };
        let at = next.next_multiple_of(bar.size);
        if at.checked_add(bar.size).is_none_or(|e| e > end) {
            unplaced += 1;
            continue;
        }
        *next = at + bar.size;
        p.pci_write32(bar.f, bar.reg, at as u32);
        if bar.wide {
            p.pci_write32(bar.f, bar.reg + 4, 0);
        }
        let enable = if bar.io { COMMAND_IO } else { COMMAND_MEMORY };
        let command = p.pci_read32(bar.f, COMMAND) & 0xffff;
        p.pci_write32(bar.f, COMMAND, command | enable | COMMAND_MASTER);
        placed += 1;
    }
    Assigned { bars: placed, unplaced }
}

/// The implemented BARs of `f`, sized with decoding off (so the all-ones probe address is
/// never decoded) and restored.
fn function_bars<P: Platform + ?Sized>(p: &mut P, f: PciFn) -> impl Iterator<Item = Bar> {
    let command = p.pci_read32(f, COMMAND) & 0xffff;
    p.pci_write32(f, COMMAND, command & !(COMMAND_IO | COMMAND_MEMORY));
    let mut found = [None; 6];
    let mut i = 0;
    while i < 6 {
        let bar = size_bar(p, f, BAR0 + 4 * i as u8, i < 5);
        found[i] = bar;
        i += if bar.is_some_and(|b| b.wide) { 2 } else { 1 };
    }
    p.pci_write32(f, COMMAND, command);
    found.into_iter().flatten()
}

/// BAR `reg` of `f`, if implemented; `may_be_wide`: a 64-bit BAR can start here.
fn size_bar<P: Platform + ?Sized>(p: &mut P, f: PciFn, reg: u8, may_be_wide: bool) -> Option<Bar> {
    let probe = |p: &mut P, reg: u8| {
        let original = p.pci_read32(f, reg);
        p.pci_write32(f, reg, !0);
        let mask = p.pci_read32(f, reg);
        p.pci_write32(f, reg, original);
        (original, mask)
    };
    let (original, low) = probe(p, reg);
    if low == 0 {
        return None;
    }
    if original & 1 != 0 {
        let size = u64::from(!(low & !0x3) & 0xffff) + 1;
        return Some(Bar { f, reg, size, io: true, wide: false });
    }
    let wide = may_be_wide && original >> 1 & 3 == 2;
    let high = if wide { probe(p, reg + 4).1 } else { !0 };
    let mask = u64::from(high) << 32 | u64::from(low & !0xf);
    let size = (!mask).wrapping_add(1);
    (size != 0).then_some(Bar { f, reg, size, io: false, wide })
}

/// The interrupt line register of `f`: the ISA IRQ its pin reaches through `chipset`'s routing.
fn set_interrupt_line<P: Platform + ?Sized>(p: &mut P, f: PciFn, chipset: Chipset) {
    let pin = (p.pci_read32(f, INTERRUPT) >> 8 & 0xff) as u8;
    let slot = f.0 >> 3;
    if let Some(irq) = pin.checked_sub(1).filter(|&pin| pin < 4).and_then(|pin| chipset.pci_irq(slot, pin)) {
        p.pci_write8(f, INTERRUPT, irq);
    }
}

#[cfg(test)]
mod tests;
