//! virtio-blk disks: finding them (PCI on `pc`/`q35`, virtio-mmio on `microvm`), ordering them
//! as QEMU's `bootorder` says, and reading them through one polled split virtqueue.
//!
//! Every value a device or QEMU gives is untrusted: sizes, offsets, ring entries and status
//! bytes are checked, and a device that stops answering times out. The driver's RAM is the
//! fixed window [`crate::layout::DISK_RAM`], so only one disk may be open at a time: reset it
//! before opening the next.

mod blk;
#[cfg(any(test, feature = "fakes"))]
pub mod fake;
mod mmio;
mod order;
mod pci;
mod queue;
#[cfg(test)]
mod tests;

use crate::chipset::Chipset;
use crate::platform::{PciFn, Platform, Width};

pub use blk::{Disk, VirtioBlk};
pub use order::order;

/// Device status bits (virtio 1.x section 2.1), in the order a driver sets them.
const STATUS_ACKNOWLEDGE: u8 = 1;
const STATUS_DRIVER: u8 = 2;
const STATUS_DRIVER_OK: u8 = 4;
const STATUS_FEATURES_OK: u8 = 8;
const STATUS_FAILED: u8 = 0x80;

/// The one feature pvhfw accepts: the virtio 1.x layout, which modern transports require
/// (feature bit 32, bit 0 of the high half).
const F_VERSION_1: u64 = 1 << 32;
const F_VERSION_1_HIGH: u32 = (F_VERSION_1 >> 32) as u32;

/// virtio device id of a block device (virtio-mmio's DeviceID; PCI's modern id is 0x1040 + it).
const DEVICE_BLOCK: u32 = 2;

/// How many disks [`find_disks`] reports at most; more are ignored (in scan order).
pub const MAX_DISKS: usize = 16;

/// Where a virtio device sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// A function on PCI bus 0.
    Pci(PciFn),
    /// A virtio-mmio transport at this address.
    Mmio(u64),
}

/// The disks of a machine, in boot order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Disks {
    list: [Transport; MAX_DISKS],
    len: usize,
}

impl Disks {
    fn new() -> Disks {
        Disks { list: [Transport::Mmio(0); MAX_DISKS], len: 0 }
    }

    /// Adds `t` unless it is known already or the list is full.
    fn push(&mut self, t: Transport) {
        if self.len < MAX_DISKS && !self.as_slice().contains(&t) {
            self.list[self.len] = t;
            self.len += 1;
        }
    }

    pub fn as_slice(&self) -> &[Transport] {
        &self.list[..self.len]
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn iter(&self) -> core::iter::Copied<core::slice::Iter<'_, Transport>> {
        self.as_slice().iter().copied()
    }
}

impl<'a> IntoIterator for &'a Disks {
    type Item = Transport;
    type IntoIter = core::iter::Copied<core::slice::Iter<'a, Transport>>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// The virtio-blk devices of this machine, in boot order (bootorder file contents if any):
/// those `bootorder` names first, in its order, then the others in PCI slot or virtio-mmio
/// transport order.
pub fn find_disks<P: Platform + ?Sized>(p: &mut P, chipset: Chipset, bootorder: Option<&[u8]>) -> Disks {
    let mut disks = Disks::new();
    match chipset {
        Chipset::I440fx | Chipset::Q35 => pci::scan(p, &mut disks),
        Chipset::Microvm => mmio::scan(p, bootorder.unwrap_or_default(), &mut disks),
    }
    if let Some(b) = bootorder {
        order(&mut disks.list[..disks.len], b);
    }
    disks
}

/// The registers of an opened device, by transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Regs {
    /// virtio-pci's legacy interface in an I/O BAR at `port`.
    Legacy { port: u16 },
    /// virtio-pci's modern interface: common configuration, the queue's notify register and
    /// the device configuration, in memory BARs.
    Modern { common: u64, notify: u64, device: u64 },
    /// virtio-mmio version 1 (legacy) or 2.
    Mmio { base: u64, version: u32 },
}

/// The legacy I/O registers (virtio 0.9.5; device configuration at 0x14 without MSI-X, which
/// pvhfw never enables).
mod legacy {
    pub const DRIVER_FEATURES: u16 = 0x04;
    pub const QUEUE_PFN: u16 = 0x08;
    pub const QUEUE_SIZE: u16 = 0x0c;
    pub const QUEUE_SELECT: u16 = 0x0e;
    pub const QUEUE_NOTIFY: u16 = 0x10;
    pub const STATUS: u16 = 0x12;
    pub const CONFIG: u16 = 0x14;
}

/// The modern common configuration structure's registers.
mod common {
    pub const DEVICE_FEATURE_SELECT: u64 = 0x00;
    pub const DEVICE_FEATURE: u64 = 0x04;
    pub const DRIVER_FEATURE_SELECT: u64 = 0x08;
    pub const DRIVER_FEATURE: u64 = 0x0c;
    pub const STATUS: u64 = 0x14;
    pub const QUEUE_SELECT: u64 = 0x16;
    pub const QUEUE_SIZE: u64 = 0x18;
    pub const QUEUE_ENABLE: u64 = 0x1c;
    pub const QUEUE_NOTIFY_OFF: u64 = 0x1e;
    pub const QUEUE_DESC: u64 = 0x20;
    pub const QUEUE_DRIVER: u64 = 0x28;
    pub const QUEUE_DEVICE: u64 = 0x30;
}

impl Regs {
    fn is_legacy(self) -> bool {
        matches!(self, Regs::Legacy { .. } | Regs::Mmio { version: 1, .. })
    }

    fn status<P: Platform + ?Sized>(self, p: &mut P) -> u8 {
        match self {
            Regs::Legacy { port } => p.io_read(port + legacy::STATUS, Width::U8) as u8,
            Regs::Modern { common, .. } => p.mem_read(common + common::STATUS, Width::U8) as u8,
            Regs::Mmio { base, .. } => p.mem_read(base + mmio::STATUS, Width::U32) as u8,
        }
    }

    fn set_status<P: Platform + ?Sized>(self, p: &mut P, status: u8) {
        match self {
            Regs::Legacy { port } => p.io_write(port + legacy::STATUS, Width::U8, status.into()),
            Regs::Modern { common, .. } => p.mem_write(common + common::STATUS, Width::U8, status.into()),
            Regs::Mmio { base, .. } => p.mem_write(base + mmio::STATUS, Width::U32, status.into()),
        }
    }

    /// The device's feature bits 32 to 63, where VERSION_1 is (modern and virtio-mmio 2 only).
    fn features_high<P: Platform + ?Sized>(self, p: &mut P) -> u32 {
        match self {
            Regs::Legacy { .. } => 0,
            Regs::Modern { common, .. } => {
                p.mem_write(common + common::DEVICE_FEATURE_SELECT, Width::U32, 1);
                p.mem_read(common + common::DEVICE_FEATURE, Width::U32)
            }
            Regs::Mmio { base, .. } => {
                p.mem_write(base + mmio::DEVICE_FEATURES_SEL, Width::U32, 1);
                p.mem_read(base + mmio::DEVICE_FEATURES, Width::U32)
            }
        }
    }

    /// Accepts feature bits 32 to 63 `high` (modern, virtio-mmio 2), or no features (legacy).
    /// The low half stays 0 as the reset left it.
    fn set_features<P: Platform + ?Sized>(self, p: &mut P, high: u32) {
        match self {
            Regs::Legacy { port } => p.io_write(port + legacy::DRIVER_FEATURES, Width::U32, 0),
            Regs::Mmio { base, version: 1 } => p.mem_write(base + mmio::DRIVER_FEATURES, Width::U32, 0),
            Regs::Modern { common, .. } => {
                p.mem_write(common + common::DRIVER_FEATURE_SELECT, Width::U32, 1);
                p.mem_write(common + common::DRIVER_FEATURE, Width::U32, high);
            }
            Regs::Mmio { base, .. } => {
                p.mem_write(base + mmio::DRIVER_FEATURES_SEL, Width::U32, 1);
                p.mem_write(base + mmio::DRIVER_FEATURES, Width::U32, high);
            }
        }
    }

    /// Selects queue 0 and returns its largest size (legacy PCI: its only size).
    fn queue_max<P: Platform + ?Sized>(self, p: &mut P) -> u32 {
        match self {
            Regs::Legacy { port } => {
                p.io_write(port + legacy::QUEUE_SELECT, Width::U16, 0);
                p.io_read(port + legacy::QUEUE_SIZE, Width::U16) & 0xffff
            }
            Regs::Modern { common, .. } => {
                p.mem_write(common + common::QUEUE_SELECT, Width::U16, 0);
                p.mem_read(common + common::QUEUE_SIZE, Width::U16) & 0xffff
            }
            Regs::Mmio { base, .. } => {
                p.mem_write(base + mmio::QUEUE_SEL, Width::U32, 0);
                p.mem_read(base + mmio::QUEUE_NUM_MAX, Width::U32)
            }
        }
    }

    /// Gives queue 0 (selected by [`Self::queue_max`]) its rings and enables it.
    fn set_queue<P: Platform + ?Sized>(self, p: &mut P, ring: &queue::Ring) {
        let write64 = |p: &mut P, addr: u64, v: u64| {
            p.mem_write(addr, Width::U32, v as u32);
            p.mem_write(addr + 4, Width::U32, (v >> 32) as u32);
        };
        match self {
            Regs::Legacy { port } => {
                p.io_write(port + legacy::QUEUE_PFN, Width::U32, (ring.desc >> queue::LEGACY_ALIGN_SHIFT) as u32)
            }
            Regs::Modern { common, .. } => {
                p.mem_write(common + common::QUEUE_SIZE, Width::U16, ring.size.into());
                write64(p, common + common::QUEUE_DESC, ring.desc);
                write64(p, common + common::QUEUE_DRIVER, ring.avail);
                write64(p, common + common::QUEUE_DEVICE, ring.used);
                p.mem_write(common + common::QUEUE_ENABLE, Width::U16, 1);
            }
            Regs::Mmio { base, version: 1 } => {
                let page = 1 << queue::LEGACY_ALIGN_SHIFT;
                p.mem_write(base + mmio::GUEST_PAGE_SIZE, Width::U32, page);
                p.mem_write(base + mmio::QUEUE_NUM, Width::U32, ring.size.into());
                p.mem_write(base + mmio::QUEUE_ALIGN, Width::U32, page);
                p.mem_write(base + mmio::QUEUE_PFN, Width::U32, (ring.desc >> queue::LEGACY_ALIGN_SHIFT) as u32);
            }
            Regs::Mmio { base, .. } => {
                p.mem_write(base + mmio::QUEUE_NUM, Width::U32, ring.size.into());
                write64(p, base + mmio::QUEUE_DESC, ring.desc);
                write64(p, base + mmio::QUEUE_DRIVER, ring.avail);
                write64(p, base + mmio::QUEUE_DEVICE, ring.used);
                p.mem_write(base + mmio::QUEUE_READY, Width::U32, 1);
            }
        }
    }

    /// Tells the device queue 0 has new buffers: the one VM exit of a batch of requests.
    fn notify<P: Platform + ?Sized>(self, p: &mut P) {
        match self {
            Regs::Legacy { port } => p.io_write(port + legacy::QUEUE_NOTIFY, Width::U16, 0),
            Regs::Modern { notify, .. } => p.mem_write(notify, Width::U16, 0),
            Regs::Mmio { base, .. } => p.mem_write(base + mmio::QUEUE_NOTIFY, Width::U32, 0),
        }
    }

    /// 32 bits of the device configuration at `offset`.
    fn config32<P: Platform + ?Sized>(self, p: &mut P, offset: u16) -> u32 {
        match self {
            Regs::Legacy { port } => p.io_read(port + legacy::CONFIG + offset, Width::U32),
            Regs::Modern { device, .. } => p.mem_read(device + u64::from(offset), Width::U32),
            Regs::Mmio { base, .. } => p.mem_read(base + mmio::CONFIG + u64::from(offset), Width::U32),
        }
    }
}
