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

/// A device register, whatever the transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Status,
    DeviceFeatureSelect,
    DeviceFeature,
    DriverFeatureSelect,
    DriverFeature,
    QueueSelect,
    /// The selected queue's largest size (legacy PCI: its size).
    QueueMax,
    /// The size the driver gives the selected queue.
    QueueSize,
    QueueEnable,
    QueueNotifyOff,
    /// Legacy queue setup: page size, used-ring alignment, page number.
    PageSize,
    QueueAlign,
    QueuePfn,
    /// Modern queue addresses: desc, driver (avail), device (used); low then high halves.
    QueueAddress(u8),
    Notify,
    /// 32 bits of the device configuration at this offset.
    Config(u8),
}

/// A register's place: a port or an address, and its width.
#[derive(Clone, Copy)]
enum Place {
    Port(u16, Width),
    Mem(u64, Width),
}

impl Regs {
    fn is_legacy(self) -> bool {
        matches!(self, Regs::Legacy { .. } | Regs::Mmio { version: 1, .. })
    }

    /// Where `field` is on this transport, or `None` if it has no such register.
    fn place(self, field: Field) -> Option<Place> {
        use Width::{U16, U32, U8};
        match self {
            // virtio 0.9.5's I/O registers (device configuration at 0x14 without MSI-X, which
            // pvhfw never enables).
            Regs::Legacy { port } => {
                let (offset, width) = match field {
                    Field::DriverFeature => (0x04, U32),
                    Field::QueuePfn => (0x08, U32),
                    Field::QueueMax => (0x0c, U16),
                    Field::QueueSelect => (0x0e, U16),
                    Field::Notify => (0x10, U16),
                    Field::Status => (0x12, U8),
                    Field::Config(o) => (0x14 + u16::from(o), U32),
                    _ => return None,
                };
                Some(Place::Port(port + offset, width))
            }
            // The common configuration structure (virtio 1.x section 4.1.4.3).
            Regs::Modern { common, notify, device } => Some(match field {
                Field::DeviceFeatureSelect => Place::Mem(common, U32),
                Field::DeviceFeature => Place::Mem(common + 0x04, U32),
                Field::DriverFeatureSelect => Place::Mem(common + 0x08, U32),
                Field::DriverFeature => Place::Mem(common + 0x0c, U32),
                Field::Status => Place::Mem(common + 0x14, U8),
                Field::QueueSelect => Place::Mem(common + 0x16, U16),
                Field::QueueMax | Field::QueueSize => Place::Mem(common + 0x18, U16),
                Field::QueueEnable => Place::Mem(common + 0x1c, U16),
                Field::QueueNotifyOff => Place::Mem(common + 0x1e, U16),
                Field::QueueAddress(i) => Place::Mem(common + 0x20 + 4 * u64::from(i), U32),
                Field::Notify => Place::Mem(notify, U16),
                Field::Config(o) => Place::Mem(device + u64::from(o), U32),
                _ => return None,
            }),
            Regs::Mmio { base, version } => {
                let legacy = version == 1;
                let offset = match field {
                    Field::DeviceFeature => mmio::DEVICE_FEATURES,
                    Field::DeviceFeatureSelect => mmio::DEVICE_FEATURES_SEL,
                    Field::DriverFeature => mmio::DRIVER_FEATURES,
                    Field::DriverFeatureSelect => mmio::DRIVER_FEATURES_SEL,
                    Field::PageSize if legacy => mmio::GUEST_PAGE_SIZE,
                    Field::QueueSelect => mmio::QUEUE_SEL,
                    Field::QueueMax => mmio::QUEUE_NUM_MAX,
                    Field::QueueSize => mmio::QUEUE_NUM,
                    Field::QueueAlign if legacy => mmio::QUEUE_ALIGN,
                    Field::QueuePfn if legacy => mmio::QUEUE_PFN,
                    Field::QueueEnable if !legacy => mmio::QUEUE_READY,
                    Field::Notify => mmio::QUEUE_NOTIFY,
                    Field::Status => mmio::STATUS,
                    Field::QueueAddress(i) if !legacy => {
                        mmio::QUEUE_DESC + 0x10 * u64::from(i / 2) + 4 * u64::from(i % 2)
                    }
                    Field::Config(o) => mmio::CONFIG + u64::from(o),
                    _ => return None,
                };
                Some(Place::Mem(base + offset, U32))
            }
        }
    }

    /// Reads `field` (0 where the transport has none). One VM exit.
    #[inline(never)]
    fn read<P: Platform + ?Sized>(self, p: &mut P, field: Field) -> u32 {
        match self.place(field) {
            Some(Place::Port(port, width)) => p.io_read(port, width),
            Some(Place::Mem(addr, width)) => p.mem_read(addr, width),
            None => 0,
        }
    }

    /// Writes `field`, where the transport has it. One VM exit.
    #[inline(never)]
    fn write<P: Platform + ?Sized>(self, p: &mut P, field: Field, value: u32) {
        match self.place(field) {
            Some(Place::Port(port, width)) => p.io_write(port, width, value),
            Some(Place::Mem(addr, width)) => p.mem_write(addr, width, value),
            None => {}
        }
    }

    fn status<P: Platform + ?Sized>(self, p: &mut P) -> u8 {
        self.read(p, Field::Status) as u8
    }

    fn set_status<P: Platform + ?Sized>(self, p: &mut P, status: u8) {
        self.write(p, Field::Status, status.into())
    }

    /// The device's feature bits 32 to 63, where VERSION_1 is (modern and virtio-mmio 2).
    fn features_high<P: Platform + ?Sized>(self, p: &mut P) -> u32 {
        self.write(p, Field::DeviceFeatureSelect, 1);
        self.read(p, Field::DeviceFeature)
    }

    /// Accepts feature bits 32 to 63 `high`; the low half stays 0 as the reset left it. A
    /// legacy PCI interface has only the low half: it gets 0.
    fn set_features<P: Platform + ?Sized>(self, p: &mut P, high: u32) {
        self.write(p, Field::DriverFeatureSelect, 1);
        self.write(p, Field::DriverFeature, high);
    }

    /// Selects queue 0 and returns its largest size (legacy PCI: its only size).
    fn queue_max<P: Platform + ?Sized>(self, p: &mut P) -> u32 {
        self.write(p, Field::QueueSelect, 0);
        self.read(p, Field::QueueMax) & if matches!(self, Regs::Mmio { .. }) { u32::MAX } else { 0xffff }
    }

    /// Gives queue 0 (selected by [`Self::queue_max`]) its rings and enables it; each transport
    /// takes the registers it has, in this order.
    fn set_queue<P: Platform + ?Sized>(self, p: &mut P, ring: &queue::Ring) {
        let page = 1 << queue::LEGACY_ALIGN_SHIFT;
        self.write(p, Field::QueueSize, ring.size.into());
        self.write(p, Field::PageSize, page);
        self.write(p, Field::QueueAlign, page);
        self.write(p, Field::QueuePfn, (ring.desc >> queue::LEGACY_ALIGN_SHIFT) as u32);
        if !self.is_legacy() {
            for (i, addr) in [ring.desc, ring.avail, ring.used].into_iter().enumerate() {
                self.write(p, Field::QueueAddress(2 * i as u8), addr as u32);
                self.write(p, Field::QueueAddress(2 * i as u8 + 1), (addr >> 32) as u32);
            }
        }
        self.write(p, Field::QueueEnable, 1);
    }

    /// Tells the device queue 0 has new buffers: the one VM exit of a batch of requests.
    fn notify<P: Platform + ?Sized>(self, p: &mut P) {
        self.write(p, Field::Notify, 0)
    }

    /// 32 bits of the device configuration at `offset`.
    fn config32<P: Platform + ?Sized>(self, p: &mut P, offset: u8) -> u32 {
        self.read(p, Field::Config(offset))
    }
}
