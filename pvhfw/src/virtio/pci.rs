//! virtio over PCI on bus 0: finding the disks, their legacy I/O BAR or modern capabilities,
//! and giving a BAR an address when nothing did.
//!
//! Only bus 0 is scanned: bridges (`pcie-root-port`, `pci-bridge`) are not followed, since
//! nothing has numbered the buses behind them yet (the PCI assignment, which does, comes after
//! the disk's kernel is loaded). From the reset vector every BAR is unassigned; behind SeaBIOS
//! (`pvhfw.elf`) they are assigned and kept.

use super::{Disks, Regs, Transport};
use crate::disk::DiskError;
use crate::pci::{
    self, read, BAR0, CAPABILITIES, COMMAND, COMMAND_IO, COMMAND_MASTER, COMMAND_MEMORY, ID, STATUS_CAPABILITIES,
};
use crate::platform::{PciFn, Platform};

const VENDOR_VIRTIO: u32 = 0x1af4;
/// Transitional (legacy and modern, QEMU's default) and modern-only virtio-blk.
const DEVICE_BLK_TRANSITIONAL: u32 = 0x1001;
const DEVICE_BLK_MODERN: u32 = 0x1042;

/// The vendor capability of virtio 1.x (`struct virtio_pci_cap`) and its types.
const CAP_VENDOR: u32 = 0x09;
const CAP_COMMON: u8 = 1;
const CAP_NOTIFY: u8 = 2;
const CAP_DEVICE: u8 = 4;
/// The common configuration structure's size (virtio 1.x, up to `queue_device`).
const COMMON_LENGTH: u32 = 0x38;
/// More capabilities than configuration space holds (192 bytes / 4): a list that loops.
const MAX_CAPS: usize = 48;

/// Where pvhfw puts a memory BAR nobody assigned: 32 KiB per function (QEMU's modern BAR is
/// 16 KiB) from 0xFE000000, 8 MiB for all 256 functions of bus 0. Inside the 32-bit PCI hole
/// both `pc` and `q35` describe to the guest (from the end of low RAM, at most 3.5 GiB, to the
/// IOAPIC at 0xFEC00000), clear of the IOAPIC, HPET (0xFED00000), ICH9's RCBA (0xFED1C000) and
/// the LAPIC (0xFEE00000), and below 4 GiB, which is all pvhfw maps.
const MEM_BASE: u64 = 0xfe00_0000;
const MEM_PER_FUNCTION: u64 = 0x8000;
/// Where an I/O BAR goes: 512 ports per slot from 0xC000 (as SeaBIOS starts), 128 for each of
/// functions 0-3 (QEMU's legacy virtio BAR is 128 ports); 0xC000-0xFFFF is in both
/// machines' PCI I/O window.
const IO_BASE: u64 = 0xc000;
const IO_PER_SLOT: u64 = 0x200;
const IO_PER_FUNCTION: u64 = 0x80;

/// Every virtio-blk function of bus 0, in slot and function order.
#[inline(never)]
pub fn scan<P: Platform + ?Sized>(p: &mut P, disks: &mut Disks) {
    pci::for_each_function(p, 0, |_, f, id| {
        if is_blk(id) {
            disks.push(Transport::Pci(f));
        }
    });
}

fn is_blk(id: u32) -> bool {
    id & 0xffff == VENDOR_VIRTIO && matches!(id >> 16, DEVICE_BLK_TRANSITIONAL | DEVICE_BLK_MODERN)
}

/// A register block in a BAR, from a virtio capability.
#[derive(Clone, Copy, Default)]
struct Cap {
    bar: u8,
    offset: u32,
    length: u32,
}

/// The modern interface's capabilities.
#[derive(Default)]
struct Caps {
    common: Option<Cap>,
    notify: Option<(Cap, u32)>,
    device: Option<Cap>,
}

/// The opened function's registers, the command register to restore at reset, and (modern)
/// the notify structure's multiplier and length.
pub struct Opened {
    pub regs: Regs,
    pub command: u16,
    pub notify: (u32, u32),
}

/// Prepares `f` for the driver: picks the modern interface when it has one whose BAR is
/// usable, the legacy one otherwise, assigns that BAR if needed, and enables decoding and bus
/// mastering.
#[inline(never)]
pub fn open<P: Platform + ?Sized>(p: &mut P, f: PciFn) -> Result<Opened, DiskError> {
    let id = read(p, f, ID);
    if !is_blk(id) {
        return Err(DiskError::Device { what: "no virtio-blk PCI function there" });
    }
    let command_status = read(p, f, COMMAND);
    let command = command_status as u16;
    let transitional = id >> 16 == DEVICE_BLK_TRANSITIONAL;
    let caps = if command_status & STATUS_CAPABILITIES != 0 { capabilities(p, f)? } else { Caps::default() };
    if let (Some(c), Some((n, mult)), Some(d)) = (caps.common, caps.notify, caps.device) {
        let bar = MemBar::read(p, f, c.bar)?;
        // pvhfw maps only the first 4 GiB: a BAR a previous firmware put above is left where it
        // is when the legacy interface can be used instead, and moved otherwise.
        if !(bar.address >= 1 << 32 && transitional) {
            let base = match bar.address {
                a if a != 0 && a < 1 << 32 => a,
                _ => bar.assign(p, f, u32::from(command))?,
            };
            // Each structure in the one BAR, as long as what the driver uses of it, and within
            // the 32 KiB pvhfw gives a BAR (QEMU's are 16 KiB), so no register lies elsewhere.
            let at = |cap: Cap, needs: u32| -> Result<u64, DiskError> {
                let inside = u64::from(cap.offset) + u64::from(needs) <= MEM_PER_FUNCTION;
                if cap.bar != c.bar || cap.length < needs || !inside {
                    return Err(DiskError::Device { what: "virtio-pci capabilities" });
                }
                Ok(base + u64::from(cap.offset))
            };
            let (notify, common, device) = (at(n, 2)?, at(c, COMMON_LENGTH)?, at(d, 8)?);
            p.pci_write32(f, COMMAND, u32::from(command) | COMMAND_MEMORY | COMMAND_MASTER);
            // The notify address depends on the queue: see `notify_address`.
            let regs = Regs::Modern { common, notify, device };
            return Ok(Opened { regs, command, notify: (mult, n.length) });
        }
    }
    if !transitional {
        return Err(DiskError::Device { what: "virtio-pci function without a usable interface" });
    }
    let port = io_bar(p, f, u32::from(command))?;
    p.pci_write32(f, COMMAND, u32::from(command) | COMMAND_IO | COMMAND_MASTER);
    Ok(Opened { regs: Regs::Legacy { port }, command, notify: (0, 0) })
}

/// The modern notify register of the selected queue (0): the notify structure's address plus
/// the queue's `queue_notify_off` times the capability's multiplier, checked to lie inside
/// the structure.
pub fn notify_address<P: Platform + ?Sized>(
    p: &mut P,
    regs: Regs,
    (mult, length): (u32, u32),
) -> Result<Regs, DiskError> {
    let Regs::Modern { common, notify, device } = regs else { return Ok(regs) };
    let off = regs.read(p, super::Field::QueueNotifyOff) & 0xffff;
    let delta = u64::from(off) * u64::from(mult);
    if delta + 2 > u64::from(length).min(MEM_PER_FUNCTION) {
        return Err(DiskError::Device { what: "virtio-pci notify offset" });
    }
    Ok(Regs::Modern { common, notify: notify + delta, device })
}

/// Walks the capability list for virtio's common, notify and device structures.
#[inline(never)]
fn capabilities<P: Platform + ?Sized>(p: &mut P, f: PciFn) -> Result<Caps, DiskError> {
    let mut caps = Caps::default();
    let mut at = read(p, f, CAPABILITIES) as u8 & 0xfc;
    for _ in 0..MAX_CAPS {
        if at == 0 {
            return Ok(caps);
        }
        // A virtio capability is 20 bytes, and must end inside the 256 bytes of configuration space.
        if !(0x40..=0xec).contains(&at) {
            break;
        }
        let head = read(p, f, at);
        // Only the three structures the driver uses are read further (two VM exits a dword).
        let wanted = match (head >> 24) as u8 {
            CAP_COMMON => caps.common.is_none(),
            CAP_NOTIFY => caps.notify.is_none(),
            CAP_DEVICE => caps.device.is_none(),
            _ => false,
        };
        if head & 0xff == CAP_VENDOR && wanted {
            let cap =
                Cap { bar: (read(p, f, at + 4) & 0xff) as u8, offset: read(p, f, at + 8), length: read(p, f, at + 12) };
            match (head >> 24) as u8 {
                CAP_COMMON => caps.common = Some(cap),
                CAP_NOTIFY => caps.notify = Some((cap, read(p, f, at + 16))),
                _ => caps.device = Some(cap),
            }
        }
        at = (head >> 8) as u8 & 0xfc;
    }
    Err(DiskError::Device { what: "virtio-pci capability list" })
}

fn is_mem64(bar: u32) -> bool {
    bar & 0x7 == 0x4
}

/// A memory BAR as found.
struct MemBar {
    bar: u8,
    low: u32,
    address: u64,
}

impl MemBar {
    fn read<P: Platform + ?Sized>(p: &mut P, f: PciFn, bar: u8) -> Result<MemBar, DiskError> {
        let bad = DiskError::Device { what: "virtio-pci memory BAR" };
        let reg = BAR0 + 4 * bar;
        let low = if bar <= 5 { read(p, f, reg) } else { 1 };
        if low & 1 != 0 || (is_mem64(low) && bar == 5) {
            return Err(bad);
        }
        let high = if is_mem64(low) { read(p, f, reg + 4) } else { 0 };
        Ok(MemBar { bar, low, address: u64::from(low & !0xf) | u64::from(high) << 32 })
    }

    /// Gives the BAR pvhfw's address for function `f`.
    fn assign<P: Platform + ?Sized>(&self, p: &mut P, f: PciFn, command: u32) -> Result<u64, DiskError> {
        let reg = BAR0 + 4 * self.bar;
        let size = size_bar(p, f, reg, command, !0xf)?;
        if size > MEM_PER_FUNCTION {
            return Err(DiskError::Device { what: "virtio-pci memory BAR larger than pvhfw's 32 KiB" });
        }
        let addr = MEM_BASE + u64::from(f.0) * MEM_PER_FUNCTION;
        p.pci_write32(f, reg, addr as u32);
        if is_mem64(self.low) && self.address >> 32 != 0 {
            p.pci_write32(f, reg + 4, 0);
        }
        Ok(addr)
    }
}

/// The port of the legacy I/O BAR 0, assigning it first when it has none.
fn io_bar<P: Platform + ?Sized>(p: &mut P, f: PciFn, command: u32) -> Result<u16, DiskError> {
    let bar = read(p, f, BAR0);
    if bar & 1 == 0 {
        return Err(DiskError::Device { what: "virtio-pci legacy BAR 0 is no I/O BAR" });
    }
    let port = bar & !0x3;
    if port != 0 {
        return u16::try_from(port).map_err(|_| DiskError::Device { what: "virtio-pci I/O BAR" });
    }
    let size = size_bar(p, f, BAR0, command, 0xffff & !0x3)?;
    let (slot, function) = (u64::from(f.device()), u64::from(f.function()));
    if size > IO_PER_FUNCTION || function >= IO_PER_SLOT / IO_PER_FUNCTION {
        return Err(DiskError::Device { what: "virtio-pci I/O BAR beyond pvhfw's window" });
    }
    let port = IO_BASE + slot * IO_PER_SLOT + function * IO_PER_FUNCTION;
    p.pci_write32(f, BAR0, port as u32);
    Ok(port as u16)
}

/// A BAR's size, from the all-ones write (with decoding off, so the probe address is never
/// live); `mask` keeps the address bits.
fn size_bar<P: Platform + ?Sized>(p: &mut P, f: PciFn, reg: u8, command: u32, mask: u32) -> Result<u64, DiskError> {
    if command & (COMMAND_IO | COMMAND_MEMORY) != 0 {
        p.pci_write32(f, COMMAND, command & !(COMMAND_IO | COMMAND_MEMORY));
    }
    p.pci_write32(f, reg, u32::MAX);
    let bits = read(p, f, reg) & mask;
    if bits == 0 {
        return Err(DiskError::Device { what: "virtio-pci BAR of size 0" });
    }
    // The lowest address bit that stays set is the size (BARs are naturally aligned).
    Ok(1 << bits.trailing_zeros())
}

/// Restores what [`open`] changed but the BAR: the command register.
pub fn close<P: Platform + ?Sized>(p: &mut P, f: PciFn, command: u16) {
    p.pci_write32(f, COMMAND, command.into());
}
