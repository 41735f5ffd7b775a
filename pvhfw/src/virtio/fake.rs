//! A virtio-blk device model for host tests, backed by a disk image: PCI (transitional, modern
//! only, legacy only) and virtio-mmio (versions 1 and 2), laid out as QEMU lays them out. On a
//! notification it walks the available ring in the fake's RAM banks, copies the image into
//! the data buffers and fills the used ring, as QEMU does.
//!
//! A machine with a disk: `FakePlatform::default().with_bank(DISK_RAM.start, len)` (plus RAM
//! for `read_phys` targets), then `.with_fake_device(FakeBlk::pci(PciFn::new(slot, 0), image))`
//! or `.with_fake_device(FakeBlk::mmio(i, 2, image))`.

use super::mmio;
use crate::platform::fake::{bank_slice, Banks, FakeDevice};
use crate::platform::{PciFn, Width};
use crate::Range;
use std::any::Any;
use std::vec::Vec;

/// Which interfaces a PCI device offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pci {
    /// 0x1001 with both (QEMU's default).
    Transitional,
    /// 0x1042, `disable-legacy=on`.
    Modern,
    /// 0x1001 without the modern capabilities, `disable-modern=on`.
    Legacy,
}

/// Ways the device misbehaves, for the error paths.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// FEATURES_OK does not stick.
    pub refuse_features: bool,
    /// Notifications are ignored: no request ever completes.
    pub never_complete: bool,
    /// Requests touching this sector complete with VIRTIO_BLK_S_IOERR.
    pub io_error_sector: Option<u64>,
    /// Used elements carry this id instead of the chain's head.
    pub used_id: Option<u32>,
    /// Used elements carry this length instead of the bytes written.
    pub used_len: Option<u32>,
    /// VERSION_1 is not offered.
    pub no_version_1: bool,
    /// Modern `queue_notify_off` of queue 0 (QEMU's is 0).
    pub notify_off: u32,
}

const LEGACY_BAR_SIZE: u32 = 0x80;
const MODERN_BAR_SIZE: u32 = 0x4000;
/// QEMU's modern BAR 4 layout: common, ISR, device, notify structures 4 KiB apart.
const COMMON: u64 = 0x0000;
const DEVICE: u64 = 0x2000;
const NOTIFY: u64 = 0x3000;
const NOTIFY_MULTIPLIER: u32 = 4;

pub struct FakeBlk {
    pub image: Vec<u8>,
    pub pci: Option<(PciFn, Pci)>,
    /// virtio-mmio: base and version.
    pub mmio: Option<(u64, u32)>,
    /// virtio device id (DeviceID of virtio-mmio): 2, a block device, unless changed.
    pub device_id: u32,
    /// The queue size (legacy PCI) or its maximum.
    pub queue_max: u32,
    pub faults: Faults,
    /// Notifications received: each a VM exit.
    pub notifications: u32,
    /// Requests completed.
    pub requests: u32,
    /// Device status as last written.
    pub status: u8,
    /// Features the driver accepted.
    pub driver_features: u64,
    /// Configuration space dwords (PCI), with the BARs as written.
    pub config: [u32; 64],
    /// Every write to the PCI command register.
    pub command_writes: Vec<u16>,
    feature_select: u32,
    driver_feature_select: u32,
    queue_size: u32,
    /// desc, avail, used (legacy: from the PFN), and whether the queue is live.
    rings: [u64; 3],
    ready: bool,
    page_size: u32,
    queue_align: u32,
    last_avail: u16,
    used_idx: u16,
}

impl FakeBlk {
    fn new(image: Vec<u8>) -> FakeBlk {
        FakeBlk {
            image,
            pci: None,
            mmio: None,
            device_id: 2,
            queue_max: 256,
            faults: Faults::default(),
            notifications: 0,
            requests: 0,
            status: 0,
            driver_features: 0,
            config: [0; 64],
            command_writes: Vec::new(),
            feature_select: 0,
            driver_feature_select: 0,
            queue_size: 0,
            rings: [0; 3],
            ready: false,
            page_size: 4096,
            queue_align: 4096,
            last_avail: 0,
            used_idx: 0,
        }
    }

    /// A transitional virtio-blk-pci function, as QEMU's default.
    pub fn pci(f: PciFn, image: Vec<u8>) -> FakeBlk {
        FakeBlk::pci_kind(f, Pci::Transitional, image)
    }

    pub fn pci_kind(f: PciFn, kind: Pci, image: Vec<u8>) -> FakeBlk {
        let mut d = FakeBlk::new(image);
        d.pci = Some((f, kind));
        let device = if kind == Pci::Modern { 0x1042 } else { 0x1001 };
        d.config[0] = device << 16 | 0x1af4;
        if kind != Pci::Modern {
            d.config[4] = 1; // BAR0: I/O
        }
        if kind != Pci::Legacy {
            d.config[1] = 1 << 20; // capability list
            d.config[8] = 0xc; // BAR4: 64-bit prefetchable memory
            d.config[0x34 / 4] = 0x40;
            let caps: [(u8, u8, u32, u32, u8); 3] = [
                (1, 0x40, COMMON as u32, 0x1000, 0x50),
                (4, 0x50, DEVICE as u32, 0x1000, 0x60),
                (2, 0x60, NOTIFY as u32, 0x1000, 0),
            ];
            for (kind, at, offset, length, next) in caps {
                let i = usize::from(at / 4);
                d.config[i] = u32::from(kind) << 24 | 0x10 << 16 | u32::from(next) << 8 | 9;
                d.config[i + 1] = 4;
                d.config[i + 2] = offset;
                d.config[i + 3] = length;
                if kind == 2 {
                    d.config[i + 4] = NOTIFY_MULTIPLIER;
                }
            }
        }
        d
    }

    /// A virtio-blk-device on microvm transport `i` (0 = 0xFEB00000), version 1 or 2.
    pub fn mmio(i: u64, version: u32, image: Vec<u8>) -> FakeBlk {
        let mut d = FakeBlk::new(image);
        d.mmio = Some((mmio::transport(i), version));
        d.queue_max = 1024;
        d
    }

    pub fn with_queue(mut self, max: u32) -> FakeBlk {
        self.queue_max = max;
        self
    }

    pub fn with_faults(mut self, faults: Faults) -> FakeBlk {
        self.faults = faults;
        self
    }

    fn modern(&self) -> bool {
        match (self.pci, self.mmio) {
            (Some((_, kind)), _) => kind != Pci::Legacy,
            (_, Some((_, version))) => version == 2,
            _ => false,
        }
    }

    fn features(&self) -> u64 {
        let version_1 = if self.modern() && !self.faults.no_version_1 { 1 << 32 } else { 0 };
        // Plus a few QEMU offers and pvhfw must not take: SEG_MAX, BLK_SIZE, FLUSH.
        version_1 | 1 << 2 | 1 << 6 | 1 << 9
    }

    /// Where the register window an access goes to starts: the transport's, or the legacy I/O
    /// BAR (0) or the modern memory BAR (4).
    fn base(&self, io: bool) -> u64 {
        match (self.mmio, io) {
            (Some((b, _)), _) => b,
            (None, true) => self.bar(0),
            (None, false) => self.bar(4),
        }
    }

    fn bar(&self, i: usize) -> u64 {
        u64::from(self.config[4 + i] & !0xf) | if i == 4 { u64::from(self.config[9]) << 32 } else { 0 }
    }

    fn set_status(&mut self, value: u8) {
        if value == 0 {
            let (image, pci, mmio, max, faults) =
                (std::mem::take(&mut self.image), self.pci, self.mmio, self.queue_max, self.faults);
            let (config, writes, n, r) =
                (self.config, std::mem::take(&mut self.command_writes), self.notifications, self.requests);
            *self = FakeBlk {
                pci,
                mmio,
                device_id: self.device_id,
                queue_max: max,
                faults,
                config,
                command_writes: writes,
                notifications: n,
                requests: r,
                ..FakeBlk::new(image)
            };
            return;
        }
        let features_ok = value & 8 != 0 && self.status & 8 == 0;
        self.status = if features_ok && self.faults.refuse_features { value & !8 } else { value };
    }

    fn legacy_rings(&mut self, pfn: u32) {
        let n = u64::from(self.queue_size);
        let desc = u64::from(pfn) * u64::from(self.page_size);
        let avail = desc + 16 * n;
        let align = u64::from(self.queue_align.max(1));
        let used = (avail + 6 + 2 * n).next_multiple_of(align);
        self.rings = [desc, avail, used];
        self.ready = pfn != 0;
    }

    /// Common register semantics, by name.
    fn reg_read(&mut self, reg: Reg) -> u32 {
        match reg {
            Reg::DeviceFeatures => (self.features() >> (32 * self.feature_select.min(1))) as u32,
            Reg::QueueMax => self.queue_max,
            Reg::QueueSize => {
                if self.queue_size == 0 {
                    self.queue_max
                } else {
                    self.queue_size
                }
            }
            Reg::Status => self.status.into(),
            Reg::Config(off) => {
                let capacity = (self.image.len() / 512) as u64;
                let bytes = capacity.to_le_bytes();
                let at = off as usize;
                if at + 4 <= 8 {
                    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
                } else {
                    0
                }
            }
            Reg::Magic => 0x7472_6976,
            Reg::Version => self.mmio.map_or(0, |m| m.1),
            Reg::DeviceId => self.device_id,
            Reg::NotifyOff => self.faults.notify_off,
            _ => 0,
        }
    }

    fn reg_write(&mut self, reg: Reg, value: u32, ram: &mut Banks) {
        let set_half = |v: &mut u64, high: bool, value: u32| {
            *v =
                if high { (*v & 0xffff_ffff) | u64::from(value) << 32 } else { (*v & !0xffff_ffff) | u64::from(value) };
        };
        match reg {
            Reg::DeviceFeaturesSel => self.feature_select = value,
            Reg::DriverFeaturesSel => self.driver_feature_select = value,
            Reg::DriverFeatures => {
                let high = self.driver_feature_select == 1;
                set_half(&mut self.driver_features, high, value);
            }
            Reg::QueueSize => self.queue_size = value,
            Reg::Status => self.set_status(value as u8),
            Reg::Pfn => {
                if self.queue_size == 0 {
                    self.queue_size = self.queue_max;
                }
                self.legacy_rings(value);
            }
            Reg::PageSize => self.page_size = value,
            Reg::Align => self.queue_align = value,
            Reg::Ring(i, high) => set_half(&mut self.rings[i], high, value),
            Reg::Ready => self.ready = value == 1,
            Reg::Notify => self.notify(ram),
            _ => {}
        }
    }

    fn notify(&mut self, ram: &mut Banks) {
        self.notifications += 1;
        if self.faults.never_complete || !self.ready || self.queue_size == 0 {
            return;
        }
        let n = self.queue_size as u16;
        let [desc, avail, used] = self.rings;
        let avail_idx = u16::from_le_bytes(read(ram, avail + 2, 2).try_into().unwrap());
        while self.last_avail != avail_idx {
            let slot = avail + 4 + 2 * u64::from(self.last_avail % n);
            let head = u16::from_le_bytes(read(ram, slot, 2).try_into().unwrap());
            let written = self.request(ram, desc, head);
            let elem = used + 4 + 8 * u64::from(self.used_idx % n);
            let id = self.faults.used_id.unwrap_or(head.into());
            let len = self.faults.used_len.unwrap_or(written);
            write(ram, elem, &id.to_le_bytes());
            write(ram, elem + 4, &len.to_le_bytes());
            self.used_idx = self.used_idx.wrapping_add(1);
            self.last_avail = self.last_avail.wrapping_add(1);
            self.requests += 1;
        }
        write(ram, used + 2, &self.used_idx.to_le_bytes());
    }

    /// Serves the chain at `head`: header, data buffers, status byte. Returns the bytes written.
    fn request(&mut self, ram: &mut Banks, desc: u64, head: u16) -> u32 {
        let mut chain = Vec::new();
        let mut i = head;
        for _ in 0..self.queue_size {
            let d = read(ram, desc + 16 * u64::from(i), 16);
            let (addr, len) =
                (u64::from_le_bytes(d[..8].try_into().unwrap()), u32::from_le_bytes(d[8..12].try_into().unwrap()));
            let (flags, next) = (u16::from_le_bytes([d[12], d[13]]), u16::from_le_bytes([d[14], d[15]]));
            chain.push((addr, len, flags));
            if flags & 1 == 0 {
                break;
            }
            i = next;
        }
        assert!(chain.len() >= 2, "a virtio-blk request needs a header and a status");
        let header = read(ram, chain[0].0, 16);
        assert_eq!(u32::from_le_bytes(header[..4].try_into().unwrap()), 0, "only reads");
        let sector = u64::from_le_bytes(header[8..].try_into().unwrap());
        let (status_addr, status_len, status_flags) = chain[chain.len() - 1];
        assert!(status_len >= 1 && status_flags & 2 != 0);
        let mut at = sector * 512;
        let mut ok = true;
        let mut written = 0u32;
        for &(addr, len, flags) in &chain[1..chain.len() - 1] {
            assert!(flags & 2 != 0, "data buffers of a read are device-writable");
            let end = at + u64::from(len);
            let bad = self.faults.io_error_sector.is_some_and(|s| (at..end).contains(&(s * 512)));
            match self.image.get(at as usize..end as usize) {
                Some(bytes) if !bad => write(ram, addr, bytes),
                _ => ok = false,
            }
            (at, written) = (end, written + len);
        }
        write(ram, status_addr, &[if ok { 0 } else { 1 }]);
        written + 1
    }

    /// The register an access at `offset` of this device's region means.
    fn decode(&self, io: bool, offset: u64) -> Reg {
        if self.mmio.is_some() {
            return Reg::mmio(offset);
        }
        if io {
            return Reg::legacy(offset);
        }
        match offset {
            o if o < DEVICE => Reg::common(o - COMMON),
            o if o < NOTIFY => Reg::Config(o - DEVICE),
            o if o < NOTIFY + 0x1000 => Reg::Notify,
            _ => Reg::None,
        }
    }
}

/// A register, whatever the transport.
#[derive(Clone, Copy, Debug)]
enum Reg {
    Magic,
    Version,
    DeviceId,
    DeviceFeatures,
    DeviceFeaturesSel,
    DriverFeatures,
    DriverFeaturesSel,
    QueueMax,
    QueueSize,
    Pfn,
    PageSize,
    Align,
    /// desc (0), avail (1), used (2); high half?
    Ring(usize, bool),
    Ready,
    NotifyOff,
    Notify,
    Status,
    Config(u64),
    None,
}

impl Reg {
    fn legacy(offset: u64) -> Reg {
        match offset {
            0x00 => Reg::DeviceFeatures,
            0x04 => Reg::DriverFeatures,
            0x08 => Reg::Pfn,
            0x0c => Reg::QueueMax,
            0x10 => Reg::Notify,
            0x12 => Reg::Status,
            o if o >= 0x14 => Reg::Config(o - 0x14),
            _ => Reg::None,
        }
    }

    fn common(offset: u64) -> Reg {
        match offset {
            0x00 => Reg::DeviceFeaturesSel,
            0x04 => Reg::DeviceFeatures,
            0x08 => Reg::DriverFeaturesSel,
            0x0c => Reg::DriverFeatures,
            0x14 => Reg::Status,
            0x18 => Reg::QueueSize,
            0x1c => Reg::Ready,
            0x1e => Reg::NotifyOff,
            0x20..=0x37 => Reg::Ring(((offset - 0x20) / 8) as usize, offset % 8 == 4),
            _ => Reg::None,
        }
    }

    fn mmio(offset: u64) -> Reg {
        match offset {
            mmio::MAGIC => Reg::Magic,
            mmio::VERSION => Reg::Version,
            mmio::DEVICE_ID => Reg::DeviceId,
            mmio::DEVICE_FEATURES => Reg::DeviceFeatures,
            mmio::DEVICE_FEATURES_SEL => Reg::DeviceFeaturesSel,
            mmio::DRIVER_FEATURES => Reg::DriverFeatures,
            mmio::DRIVER_FEATURES_SEL => Reg::DriverFeaturesSel,
            mmio::GUEST_PAGE_SIZE => Reg::PageSize,
            mmio::QUEUE_NUM_MAX => Reg::QueueMax,
            mmio::QUEUE_NUM => Reg::QueueSize,
            mmio::QUEUE_ALIGN => Reg::Align,
            mmio::QUEUE_PFN => Reg::Pfn,
            mmio::QUEUE_READY => Reg::Ready,
            mmio::QUEUE_NOTIFY => Reg::Notify,
            mmio::STATUS => Reg::Status,
            0x80..=0xa7 => Reg::Ring(((offset - 0x80) / 0x10) as usize, offset % 8 == 4),
            o if o >= mmio::CONFIG => Reg::Config(o - mmio::CONFIG),
            _ => Reg::None,
        }
    }
}

fn read(ram: &mut Banks, addr: u64, len: u64) -> Vec<u8> {
    let r = Range { start: addr, end: addr + len };
    bank_slice(ram, r).unwrap_or_else(|| panic!("device read outside RAM: {r:x?}")).to_vec()
}

fn write(ram: &mut Banks, addr: u64, bytes: &[u8]) {
    let r = Range { start: addr, end: addr + bytes.len() as u64 };
    bank_slice(ram, r).unwrap_or_else(|| panic!("device write outside RAM: {r:x?}")).copy_from_slice(bytes);
}

impl FakeDevice for FakeBlk {
    fn pci(&self) -> Option<PciFn> {
        self.pci.map(|p| p.0)
    }

    fn config_read(&mut self, offset: u8) -> u32 {
        self.config[usize::from(offset / 4)]
    }

    fn config_write(&mut self, offset: u8, value: u32, width: Width) {
        let i = usize::from(offset / 4);
        if width != Width::U32 {
            return;
        }
        let kind = self.pci.map(|p| p.1);
        match offset {
            0x04 => {
                self.command_writes.push(value as u16);
                self.config[1] = (self.config[1] & 0xffff_0000) | (value & 0xffff);
            }
            0x10 if kind != Some(Pci::Modern) => self.config[4] = (value & !(LEGACY_BAR_SIZE - 1)) | 1,
            0x20 if kind != Some(Pci::Legacy) => self.config[8] = (value & !(MODERN_BAR_SIZE - 1)) | 0xc,
            0x24 if kind != Some(Pci::Legacy) => self.config[9] = value,
            0x10..=0x27 => {}
            _ => self.config[i] = value,
        }
    }

    fn claims(&self, io: bool, addr: u64) -> bool {
        if let Some((base, _)) = self.mmio {
            return !io && (base..base + mmio::STRIDE).contains(&addr);
        }
        let command = self.config[1];
        if io {
            let bar = self.bar(0);
            command & 1 != 0 && bar != 0 && (bar..bar + u64::from(LEGACY_BAR_SIZE)).contains(&addr)
        } else {
            let bar = self.bar(4);
            command & 2 != 0 && bar != 0 && (bar..bar + u64::from(MODERN_BAR_SIZE)).contains(&addr)
        }
    }

    fn read(&mut self, io: bool, addr: u64, _width: Width) -> u32 {
        let reg = self.decode(io, addr - self.base(io));
        self.reg_read(reg)
    }

    fn write(&mut self, io: bool, addr: u64, _width: Width, value: u32, ram: &mut Banks) {
        let reg = self.decode(io, addr - self.base(io));
        self.reg_write(reg, value, ram);
    }

    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}
