//! PCI configuration space: the registers pvhfw touches and the walk over a bus's functions,
//! shared by the virtio-pci driver and the resource assignment ([`assign`]).

mod assign;

pub use assign::{assign, Assigned, HIGH_WINDOW_ALIGN};

use crate::platform::{PciFn, Platform};

/// Configuration space registers (the dword holding them) and bits.
pub(crate) const ID: u8 = 0x00;
pub(crate) const COMMAND: u8 = 0x04;
const CLASS: u8 = 0x08;
pub(crate) const HEADER_TYPE: u8 = 0x0c;
pub(crate) const BAR0: u8 = 0x10;
/// The first capability's offset (when the status register's bit 4 says there is a list).
pub(crate) const CAPABILITIES: u8 = 0x34;
const INTERRUPT: u8 = 0x3c;
pub(crate) const COMMAND_IO: u32 = 1 << 0;
pub(crate) const COMMAND_MEMORY: u32 = 1 << 1;
pub(crate) const COMMAND_MASTER: u32 = 1 << 2;
/// In the command dword: the status register's "capability list" bit.
pub(crate) const STATUS_CAPABILITIES: u32 = 1 << 20;
/// In the header type dword: function 0 of a multi-function device.
pub(crate) const MULTIFUNCTION: u32 = 0x80 << 16;

/// Calls `visit` with each function present on bus `bus` and its vendor and device id:
/// function 0 of every slot, the others only where function 0 says its device has more.
pub(crate) fn for_each_function<P: Platform + ?Sized>(p: &mut P, bus: u8, mut visit: impl FnMut(&mut P, PciFn, u32)) {
    // black_box: the loops run once per boot, and unrolled they cost ROM space.
    for slot in 0..core::hint::black_box(32) {
        let first = PciFn::on_bus(bus, slot, 0);
        let id = read(p, first, ID);
        if id & 0xffff == 0xffff {
            continue;
        }
        let functions = if read(p, first, HEADER_TYPE) & MULTIFUNCTION != 0 { 8 } else { 1 };
        visit(p, first, id);
        for function in 1..core::hint::black_box(functions) {
            let f = PciFn::on_bus(bus, slot, function);
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

/// The offset of the first capability of `f` with id `id` that `accept` takes. The list is
/// QEMU's and untrusted: a loop in it ends after 48 steps (as many as fit in its 192 bytes).
pub(crate) fn find_capability<P: Platform + ?Sized>(
    p: &mut P,
    f: PciFn,
    id: u8,
    mut accept: impl FnMut(&mut P, u8) -> bool,
) -> Option<u8> {
    if read(p, f, COMMAND) & STATUS_CAPABILITIES == 0 {
        return None;
    }
    let mut next = read(p, f, CAPABILITIES) as u8;
    for _ in 0..48 {
        if next < 0x40 {
            return None;
        }
        let at = next & 0xfc;
        let header = read(p, f, at);
        if header as u8 == id && accept(p, at) {
            return Some(at);
        }
        next = (header >> 8) as u8;
    }
    None
}
