//! PCI resources for kernels that cannot assign their own, the way SeaBIOS assigns them: bus
//! numbers for every bridge and PCIe port, each BAR sized and placed, bridge windows around
//! what lies behind them (with the room a port's hotplug reservation asks for), decoding and
//! bus mastering on, and each interrupt line register set to the ISA IRQ the chipset routes
//! the function's pin to.
//!
//! A 64-bit Linux assigns what the firmware leaves unassigned, from QEMU's ACPI `_CRS`, and
//! puts a 64-bit BAR above 4 GiB; a 32-bit kernel cannot reach it there and loses the device
//! (a virtio device's modern BAR is 64-bit). So pvhfw assigns for the kernels that run in 32
//! bits, and when asked (`opt/org.pvhfw/pci`).
//!
//! The steps: number the buses depth first, collecting BARs on the way; size each bridge's
//! three windows (I/O, memory, prefetchable memory) from the deepest bus up; place from bus 0
//! down, largest alignment first, so that each entry starts naturally aligned where the one
//! before ended. Memory goes in the hole below 4 GiB; when it does not all fit, prefetchable
//! memory that can (64-bit BARs, and bridge windows holding only those) goes to the window
//! above RAM instead, as SeaBIOS moves it. Option ROM BARs stay off.
//!
//! The bookkeeping has fixed room (QEMU's configuration is untrusted and there is no heap):
//! a bridge beyond [`MAX_BUSES`] is left alone, a BAR beyond [`MAX_BARS`] unassigned.

use super::{find_capability, for_each_function, read, BAR0, CLASS, COMMAND, HEADER_TYPE, INTERRUPT};
use super::{COMMAND_IO, COMMAND_MASTER, COMMAND_MEMORY};
use crate::chipset::Chipset;
use crate::platform::{PciFn, Platform};
use crate::Range;

/// Buses numbered, bus 0 included.
const MAX_BUSES: usize = 32;
/// BARs kept for placement: six per function of a few dozen functions.
const MAX_BARS: usize = 128;
/// What one bus can hold: its own BARs and its bridges' windows.
const MAX_ENTRIES: usize = MAX_BARS + 3 * MAX_BUSES;

/// Class and subclass of a host bridge, which has no BARs to assign.
const HOST_BRIDGE: u32 = 0x0600;
/// Header types: an endpoint, a PCI-to-PCI bridge (or PCIe port).
const HEADER_ENDPOINT: u32 = 0;
const HEADER_BRIDGE: u32 = 1;

/// Bridge registers: bus numbers (primary, secondary, subordinate), the windows' base and
/// limit (I/O, memory, prefetchable memory and its upper halves), the I/O window's upper halves.
const BUS_NUMBERS: u8 = 0x18;
const SUBORDINATE_BUS: u8 = 0x1a;
const IO_WINDOW: u8 = 0x1c;
const MEMORY_WINDOW: u8 = 0x20;
const PREFETCHABLE_WINDOW: u8 = 0x24;
const PREFETCHABLE_BASE_HIGH: u8 = 0x28;
const PREFETCHABLE_LIMIT_HIGH: u8 = 0x2c;
const IO_WINDOW_HIGH: u8 = 0x30;

/// QEMU's resource reservation capability (of its `pcie-root-port` and `pci-bridge`, when
/// one of their `*-reserve` properties is set): a vendor-specific capability of Red Hat's
/// (vendor 0x1b36) with type 1 and 32 bytes. Its fields: buses (u32 at 4), I/O (u64 at 8),
/// memory (u32 at 16), 32-bit and 64-bit prefetchable memory (u32 at 20, u64 at 24); all ones
/// means the field is not set.
const CAP_VENDOR: u8 = 0x09;
const RED_HAT: u32 = 0x1b36;
const RESERVE_TYPE_AND_LENGTH: u32 = 0x0120;
/// The last offset where the capability (its length is the low byte of the above) still ends
/// inside the 256 bytes of configuration space: one placed beyond it is malformed and ignored.
const RESERVE_LAST_OFFSET: u8 = (0x100 - (RESERVE_TYPE_AND_LENGTH & 0xff)) as u8;
const _: () = assert!(RESERVE_LAST_OFFSET == 0xe0);
/// The PCI Express capability: a port whose capabilities say "slot implemented" takes hotplug
/// (as SeaBIOS decides: QEMU's root ports all have a slot).
const CAP_EXPRESS: u8 = 0x10;
const EXPRESS_SLOT_IMPLEMENTED: u32 = 1 << 24;
/// The standard hotplug controller of a conventional bridge (QEMU's `pci-bridge` has one).
const CAP_SHPC: u8 = 0x0c;

/// Where I/O BARs go: from 0xC000, where SeaBIOS starts, to the end of the port space.
const IO_SPACE: Range = Range { start: 0xc000, end: 0x1_0000 };
/// The end of the memory window below 4 GiB: the IOAPIC.
const MEMORY_END: u64 = 0xfec0_0000;
/// The window above RAM starts on this boundary, as QEMU's own `pci-hole64` does.
pub const HIGH_WINDOW_ALIGN: u64 = 1 << 30;
/// Its end: 1 TiB, within the 40 physical address bits of QEMU's default CPUs.
const HIGH_END: u64 = 1 << 40;

/// A bridge window's granule, as SeaBIOS's: 4 KiB of ports, 2 MiB of memory.
const GRANULE: [u64; 3] = [0x1000, 0x20_0000, 0x20_0000];
/// What a hotplug-capable bridge reserves at least, as SeaBIOS does: a granule of memory and
/// of prefetchable memory; I/O only behind a conventional bridge (PCI Express makes it optional).
const HOTPLUG_EXPRESS: [u64; 3] = [0, GRANULE[1], GRANULE[2]];
const HOTPLUG_SHPC: [u64; 3] = GRANULE;
/// Memory BARs take at least a page, as under SeaBIOS: no two devices share one.
const MIN_MEMORY_BAR: u64 = 0x1000;

/// The three address spaces a bridge forwards: every BAR is in one, every bridge has a window
/// in each.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Space {
    #[default]
    Io = 0,
    Memory = 1,
    Prefetchable = 2,
}

const SPACES: [Space; 3] = [Space::Io, Space::Memory, Space::Prefetchable];

#[derive(Clone, Copy, Debug, Default)]
struct Bar {
    f: PciFn,
    reg: u8,
    space: Space,
    /// A 64-bit memory BAR: it can go above 4 GiB, and its upper half is written.
    wide: bool,
    /// Index of its bus in [`Assignment::buses`].
    bus: u8,
    size: u64,
    /// Where it was placed (0: nowhere).
    at: u64,
}

/// A window of a bridge: its size and alignment once sized, its base once placed.
#[derive(Clone, Copy, Debug, Default)]
struct Window {
    size: u64,
    align: u64,
    base: Option<u64>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Bus {
    /// The bridge whose secondary bus this is (bus 0: none) and the index of its own bus.
    bridge: PciFn,
    parent: u8,
    number: u8,
    /// What a hotplug reservation asks each window to hold beyond what is found.
    reserve: [u64; 3],
    /// Whether the bridge has an I/O window and a prefetchable one.
    has_io: bool,
    has_prefetchable: bool,
    /// Whether the bridge's prefetchable window can lie above 4 GiB (a 64-bit window, and only
    /// 64-bit BARs behind it).
    prefetchable_64: bool,
    windows: [Window; 3],
}

/// An entry of a bus to place: a BAR of a function on it, or a window of a bridge on it.
#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    size: u64,
    align: u64,
    /// A BAR's index, or [`MAX_BARS`] + a bus's index for that bus's window.
    item: u16,
    space: Space,
}

struct Assignment {
    chipset: Chipset,
    buses: [Bus; MAX_BUSES],
    n_buses: usize,
    bars: [Bar; MAX_BARS],
    n_bars: usize,
    /// The last bus number given out.
    last_number: u8,
    /// BARs without room in [`Assignment::bars`], bridges without room in [`Assignment::buses`].
    dropped: u32,
}

/// What [`assign`] did: BARs placed, those that did not fit, and buses numbered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Assigned {
    pub bars: u32,
    pub unplaced: u32,
    pub buses: u32,
}

/// Numbers the buses of `chipset` and sizes, places and enables every BAR, as described
/// above; `high` is the window above RAM for what does not fit below 4 GiB.
pub fn assign<P: Platform + ?Sized>(p: &mut P, chipset: Chipset, high_start: u64) -> Assigned {
    let mut a = Assignment {
        chipset,
        buses: [Bus::default(); MAX_BUSES],
        n_buses: 1,
        bars: [Bar::default(); MAX_BARS],
        n_bars: 0,
        last_number: 0,
        dropped: 0,
    };
    scan_bus(p, &mut a, 0);
    for bus in (1..a.n_buses).rev() {
        a.size_windows(bus);
    }
    let unplaced = a.place(chipset, high_start);
    a.program(p);
    let placed = a.bars[..a.n_bars].iter().filter(|b| b.at != 0).count() as u32;
    Assigned { bars: placed, unplaced: unplaced + a.dropped, buses: a.n_buses as u32 }
}

/// Collects the BARs of the functions on bus `index`, sets their interrupt lines, and numbers
/// the buses behind its bridges (depth first, as SeaBIOS and Linux number them).
fn scan_bus<P: Platform + ?Sized>(p: &mut P, a: &mut Assignment, index: usize) {
    let number = a.buses[index].number;
    for_each_function(p, number, |p, f, _| {
        let header = read(p, f, HEADER_TYPE) >> 16 & 0x7f;
        let bars = match header {
            HEADER_ENDPOINT if read(p, f, CLASS) >> 16 != HOST_BRIDGE => 6,
            HEADER_BRIDGE => 2,
            _ => return,
        };
        collect_bars(p, a, f, index, bars);
        if header == HEADER_BRIDGE {
            number_bridge(p, a, f, index);
        }
        set_interrupt_line(p, a, f, index);
    });
}

/// Gives the bridge `f` on bus `parent` its secondary bus and those behind it, with the extra
/// bus numbers its hotplug reservation asks for. Its windows start closed (base above limit).
fn number_bridge<P: Platform + ?Sized>(p: &mut P, a: &mut Assignment, f: PciFn, parent: usize) {
    let Some(number) = a.last_number.checked_add(1).filter(|&n| n < 0xff && a.n_buses < MAX_BUSES) else {
        a.dropped += 1;
        return;
    };
    let index = a.n_buses;
    a.n_buses += 1;
    a.last_number = number;
    let parent_number = a.buses[parent].number;
    // The subordinate bus stays wide open while the buses behind are scanned, so that their
    // configuration cycles get through.
    p.pci_write32(f, BUS_NUMBERS, u32::from(parent_number) | u32::from(number) << 8 | 0xff << 16);
    // A window the bridge lacks reads back zero (QEMU's root port without I/O, for one).
    p.pci_write32(f, IO_WINDOW, 0xf0);
    p.pci_write32(f, MEMORY_WINDOW, 0xfff0);
    p.pci_write32(f, PREFETCHABLE_WINDOW, 0xfff0);
    let has_io = read(p, f, IO_WINDOW) & 0xff != 0;
    let prefetchable = read(p, f, PREFETCHABLE_WINDOW) & 0xffff;
    let (reserve, buses) = reservation(p, f);
    a.buses[index] = Bus {
        bridge: f,
        parent: parent as u8,
        number,
        reserve,
        has_io,
        has_prefetchable: prefetchable != 0,
        prefetchable_64: prefetchable & 0xf == 1,
        ..Bus::default()
    };
    scan_bus(p, a, index);
    let reserved = u32::from(number).saturating_add(buses).min(0xfe) as u8;
    a.last_number = a.last_number.max(reserved);
    p.pci_write8(f, SUBORDINATE_BUS, a.last_number);
}

/// What the bridge `f` reserves for hotplug beyond what is behind it: each window's bytes and
/// the extra buses. A hotplug-capable bridge reserves SeaBIOS's minimum; QEMU's capability,
/// when present, asks for more.
fn reservation<P: Platform + ?Sized>(p: &mut P, f: PciFn) -> ([u64; 3], u32) {
    let express = find_capability(p, f, CAP_EXPRESS, |_, _| true);
    let mut reserve = match express {
        Some(at) if read(p, f, at) & EXPRESS_SLOT_IMPLEMENTED != 0 => HOTPLUG_EXPRESS,
        None if find_capability(p, f, CAP_SHPC, |_, _| true).is_some() => HOTPLUG_SHPC,
        _ => [0; 3],
    };
    let qemu = (read(p, f, super::ID) & 0xffff == RED_HAT)
        .then(|| {
            find_capability(p, f, CAP_VENDOR, |p, at| {
                at <= RESERVE_LAST_OFFSET && read(p, f, at) >> 16 == RESERVE_TYPE_AND_LENGTH
            })
        })
        .flatten();
    let Some(at) = qemu else { return (reserve, 0) };
    let dword = |p: &mut P, o: u8| read(p, f, at + o);
    let qword = |p: &mut P, o: u8| u64::from(dword(p, o)) | u64::from(dword(p, o + 4)) << 32;
    let set = |v: u64, bits: u32| (v != u64::MAX >> (64 - bits)).then_some(v);
    let buses = set(dword(p, 4).into(), 32).unwrap_or(0) as u32;
    let asked =
        [set(qword(p, 8), 64), set(dword(p, 16).into(), 32), set(dword(p, 20).into(), 32).or(set(qword(p, 24), 64))];
    for (r, asked) in reserve.iter_mut().zip(asked) {
        *r = (*r).max(asked.unwrap_or(0));
    }
    (reserve, buses)
}

/// Sizes the first `count` BARs of `f` on bus `bus` with decoding off (so the all-ones probe
/// address is never decoded), restoring the command register after, and keeps them.
fn collect_bars<P: Platform + ?Sized>(p: &mut P, a: &mut Assignment, f: PciFn, bus: usize, count: u8) {
    let command = read(p, f, COMMAND) & 0xffff;
    p.pci_write32(f, COMMAND, command & !(COMMAND_IO | COMMAND_MEMORY));
    let mut i = 0;
    while i < count {
        let bar = size_bar(p, f, BAR0 + 4 * i, i + 1 < count);
        i += if bar.is_some_and(|b| b.wide) { 2 } else { 1 };
        let Some(bar) = bar else { continue };
        match a.bars.get_mut(a.n_bars) {
            Some(slot) => {
                *slot = Bar { bus: bus as u8, ..bar };
                a.n_bars += 1;
            }
            None => a.dropped += 1,
        }
    }
    p.pci_write32(f, COMMAND, command);
}

/// BAR `reg` of `f`, if implemented; `may_be_wide`: a 64-bit BAR can start here.
fn size_bar<P: Platform + ?Sized>(p: &mut P, f: PciFn, reg: u8, may_be_wide: bool) -> Option<Bar> {
    let probe = |p: &mut P, reg: u8| {
        let original = read(p, f, reg);
        p.pci_write32(f, reg, !0);
        let mask = read(p, f, reg);
        p.pci_write32(f, reg, original);
        (original, mask)
    };
    let (original, low) = probe(p, reg);
    if low == 0 {
        return None;
    }
    if original & 1 != 0 {
        let size = u64::from(!(low & !0x3) & 0xffff) + 1;
        return Some(Bar { f, reg, space: Space::Io, size, ..Bar::default() });
    }
    let wide = may_be_wide && original >> 1 & 3 == 2;
    let space = if original & 8 != 0 { Space::Prefetchable } else { Space::Memory };
    let high = if wide { probe(p, reg + 4).1 } else { !0 };
    let mask = u64::from(high) << 32 | u64::from(low & !0xf);
    let size = (!mask).wrapping_add(1);
    (size != 0).then_some(Bar { f, reg, space, wide, size: size.max(MIN_MEMORY_BAR), ..Bar::default() })
}

/// The interrupt line register of `f` on bus `bus`: its pin, swizzled through each bridge up
/// to bus 0 (the pin moves by the device number at each level), then routed by the chipset.
fn set_interrupt_line<P: Platform + ?Sized>(p: &mut P, a: &Assignment, f: PciFn, bus: usize) {
    let pin = (read(p, f, INTERRUPT) >> 8 & 0xff) as u8;
    let Some(mut pin) = pin.checked_sub(1).filter(|&pin| pin < 4) else { return };
    let (mut bus, mut device) = (bus, f.device());
    while bus != 0 {
        pin = (pin + device) % 4;
        let b = a.buses[bus];
        (bus, device) = (usize::from(b.parent), b.bridge.device());
    }
    if let Some(irq) = a.chipset.pci_irq(device, pin) {
        p.pci_write8(f, INTERRUPT, irq);
    }
}

impl Assignment {
    /// The entries of bus `bus` in the spaces `spaces` says, largest alignment first; `high`:
    /// only the prefetchable ones that can go above 4 GiB (`Some(true)`), only the others
    /// (`Some(false)`), or all (`None`).
    fn entries<'e>(
        &self,
        bus: usize,
        spaces: [bool; 3],
        high: Option<bool>,
        out: &'e mut [Entry; MAX_ENTRIES],
    ) -> &'e mut [Entry] {
        let mut n = 0;
        // Behind a bridge without a prefetchable window, prefetchable memory goes in its
        // memory window.
        let b = &self.buses[bus];
        let folded = bus != 0 && !b.has_prefetchable;
        let goes_high = |space: Space, wide: bool| space == Space::Prefetchable && wide;
        let wanted = |space: Space, wide: bool| {
            let space = if folded && space == Space::Prefetchable { Space::Memory } else { space };
            spaces[space as usize] && high.is_none_or(|h| h == goes_high(space, wide))
        };
        for (i, bar) in self.bars[..self.n_bars].iter().enumerate() {
            if usize::from(bar.bus) == bus && wanted(bar.space, bar.wide) {
                out[n] = Entry { size: bar.size, align: bar.size, item: i as u16, space: bar.space };
                n += 1;
            }
        }
        for (i, child) in self.buses[..self.n_buses].iter().enumerate().skip(1) {
            if usize::from(child.parent) != bus {
                continue;
            }
            for space in SPACES {
                let w = child.windows[space as usize];
                if w.size != 0 && wanted(space, child.prefetchable_64) {
                    out[n] = Entry { size: w.size, align: w.align, item: (MAX_BARS + i) as u16, space };
                    n += 1;
                }
            }
        }
        let entries = &mut out[..n];
        entries.sort_unstable_by_key(|e| core::cmp::Reverse(e.align));
        entries
    }

    /// Sizes the windows of the bridge leading to bus `bus` from what lies behind it (its
    /// buses' windows already sized), at least its hotplug reservation, in whole granules.
    fn size_windows(&mut self, bus: usize) {
        let mut entries = [Entry::default(); MAX_ENTRIES];
        let mut all_wide = true;
        for space in SPACES {
            let mut spaces = [false; 3];
            spaces[space as usize] = true;
            let list = self.entries(bus, spaces, None, &mut entries);
            let granule = GRANULE[space as usize];
            let align = list.first().map_or(granule, |e| e.align.max(granule));
            let end = pack(list, 0, u64::MAX, |_, _| {});
            let b = &self.buses[bus];
            let exists = match space {
                Space::Io => b.has_io,
                Space::Memory => true,
                Space::Prefetchable => b.has_prefetchable,
            };
            // A size past 2^64 (BARs or a reservation QEMU made up) is one no window can hold.
            let needed = end.max(b.reserve[space as usize]).checked_next_multiple_of(granule);
            let size = if exists { needed.unwrap_or(u64::MAX) } else { 0 };
            if space == Space::Prefetchable {
                all_wide = list.iter().all(|e| self.is_wide(e));
            }
            self.buses[bus].windows[space as usize] = Window { size, align, base: None };
        }
        self.buses[bus].prefetchable_64 &= all_wide;
    }

    /// Whether entry `e` (prefetchable) can go above 4 GiB.
    fn is_wide(&self, e: &Entry) -> bool {
        match usize::from(e.item).checked_sub(MAX_BARS) {
            None => self.bars[usize::from(e.item)].wide,
            Some(bus) => self.buses[bus].prefetchable_64,
        }
    }

    /// Places everything from bus 0 down; returns how many entries found no room.
    fn place(&mut self, chipset: Chipset, high_start: u64) -> u32 {
        let low_start = match chipset {
            // Above QEMU's most RAM below 4 GiB (3.5 GiB on pc; on q35 2.75 GiB, then the
            // MMCONFIG window).
            Chipset::Q35 => 0xc000_0000,
            _ => 0xe000_0000,
        };
        let mut entries = [Entry::default(); MAX_ENTRIES];
        let mut unplaced = 0;
        let io = self.entries(0, [true, false, false], None, &mut entries);
        unplaced += self.place_list(io, IO_SPACE.start, IO_SPACE.end);
        // Memory below 4 GiB, all of it if it fits, else without what can go above.
        let all = self.entries(0, [false, true, true], None, &mut entries);
        let mut misses = 0;
        pack(all, low_start, MEMORY_END, |_, at| misses += u32::from(at.is_none()));
        let fits = misses == 0;
        let low = self.entries(0, [false, true, true], if fits { None } else { Some(false) }, &mut entries);
        unplaced += self.place_list(low, low_start, MEMORY_END);
        if !fits {
            let high = self.entries(0, [false, false, true], Some(true), &mut entries);
            unplaced += self.place_list(high, high_start, HIGH_END);
        }
        // Then each bridge's windows, parents before children.
        for bus in 1..self.n_buses {
            for space in SPACES {
                let mut spaces = [false; 3];
                spaces[space as usize] = true;
                let window = self.buses[bus].windows[space as usize];
                let Some(base) = window.base else { continue };
                let list = self.entries(bus, spaces, None, &mut entries);
                unplaced += self.place_list(list, base, base + window.size);
            }
        }
        unplaced
    }

    /// Places `list` in `[start, end)` in order, recording each BAR's address and each
    /// window's base; returns how many did not fit.
    fn place_list(&mut self, list: &[Entry], start: u64, end: u64) -> u32 {
        let mut unplaced = 0;
        pack(list, start, end, |e, at| match (at, usize::from(e.item).checked_sub(MAX_BARS)) {
            (None, _) => unplaced += 1,
            (Some(at), None) => self.bars[usize::from(e.item)].at = at,
            (Some(at), Some(bus)) => self.buses[bus].windows[e.space as usize].base = Some(at),
        });
        unplaced
    }

    /// Writes the placement: BARs, bridge windows and command registers.
    fn program<P: Platform + ?Sized>(&self, p: &mut P) {
        let mut enable = 0;
        for (i, bar) in self.bars[..self.n_bars].iter().enumerate() {
            if bar.at != 0 {
                p.pci_write32(bar.f, bar.reg, bar.at as u32);
                if bar.wide {
                    p.pci_write32(bar.f, bar.reg + 4, (bar.at >> 32) as u32);
                }
                enable |= if bar.space == Space::Io { COMMAND_IO } else { COMMAND_MEMORY };
            }
            // The BARs of one function are together: its command register once, after the last.
            let last_of_function = self.bars.get(i + 1).is_none_or(|next| i + 1 == self.n_bars || next.f != bar.f);
            if last_of_function && enable != 0 {
                let command = read(p, bar.f, COMMAND) & 0xffff;
                p.pci_write32(bar.f, COMMAND, command | enable | COMMAND_MASTER);
                enable = 0;
            }
        }
        for bus in &self.buses[1..self.n_buses] {
            program_windows(p, bus);
        }
    }
}

/// Writes the windows of the bridge leading to `bus` (an empty or unplaced window as base above
/// limit, which forwards nothing) and lets it forward and master.
fn program_windows<P: Platform + ?Sized>(p: &mut P, bus: &Bus) {
    let f = bus.bridge;
    let span = |space: Space| {
        let w = bus.windows[space as usize];
        w.base.filter(|_| w.size != 0).map(|base| (base, base + w.size - 1))
    };
    let (io_base, io_limit) = span(Space::Io).unwrap_or((0xf000, 0));
    p.pci_write32(f, IO_WINDOW, (io_base >> 8 & 0xf0 | (io_limit >> 8 & 0xf0) << 8) as u32);
    p.pci_write32(f, IO_WINDOW_HIGH, 0);
    let window = |(base, limit): (u64, u64)| (base >> 16 & 0xfff0 | (limit >> 16 & 0xfff0) << 16) as u32;
    let (memory_base, memory_limit) = span(Space::Memory).unwrap_or((0xfff0_0000, 0));
    p.pci_write32(f, MEMORY_WINDOW, window((memory_base, memory_limit)));
    let prefetchable = span(Space::Prefetchable).unwrap_or((0xfff0_0000, 0));
    p.pci_write32(f, PREFETCHABLE_WINDOW, window(prefetchable));
    p.pci_write32(f, PREFETCHABLE_BASE_HIGH, (prefetchable.0 >> 32) as u32);
    p.pci_write32(f, PREFETCHABLE_LIMIT_HIGH, (prefetchable.1 >> 32) as u32);
    let command = read(p, f, COMMAND) & 0xffff;
    p.pci_write32(f, COMMAND, command | COMMAND_IO | COMMAND_MEMORY | COMMAND_MASTER);
}

/// Lays `list` out from `start` in order, each entry aligned: calls `placed` with each entry
/// and its address, or `None` when it would cross `end` (the next entry then goes where it
/// would have). Returns where the last placed entry ends.
fn pack(list: &[Entry], start: u64, end: u64, mut placed: impl FnMut(&Entry, Option<u64>)) -> u64 {
    let mut next = start;
    for e in list {
        let at = next.checked_next_multiple_of(e.align);
        match at.and_then(|at| at.checked_add(e.size)).filter(|&e| e <= end) {
            Some(after) => {
                placed(e, at);
                next = after;
            }
            None => placed(e, None),
        }
    }
    next
}

#[cfg(test)]
mod tests;
