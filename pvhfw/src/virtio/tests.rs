//! The driver over the fake device model: each transport, reads, the error paths.

use super::fake::{FakeBlk, Faults, Pci};
use super::*;
use crate::disk::{BlockRead, DiskError, PhysRead};
use crate::layout::DISK_RAM;
use crate::platform::fake::FakePlatform;
use crate::Range;
use std::vec::Vec;

const MIB: u64 = 1 << 20;
/// Where read_phys tests read to.
const TARGET: u64 = 0x100_0000;

/// A disk image whose every 4-byte word holds its own offset / 4.
fn image(bytes: usize) -> Vec<u8> {
    let words: Vec<u32> = (0..(bytes / 4) as u32).collect();
    zerocopy::IntoBytes::as_bytes(words.as_slice()).to_vec()
}

fn machine(device: FakeBlk, target: usize) -> FakePlatform {
    FakePlatform::default()
        .with_bank(DISK_RAM.start, (DISK_RAM.end - DISK_RAM.start) as usize)
        .with_bank(TARGET, target)
        .with_fake_device(device)
}

fn slot3() -> PciFn {
    PciFn::new(3, 0)
}

/// Every transport with a 16 MiB image: (device, where it is).
fn every_transport() -> Vec<(FakeBlk, Transport)> {
    let img = || image(16 * MIB as usize);
    std::vec![
        (FakeBlk::pci_kind(slot3(), Pci::Transitional, img()), Transport::Pci(slot3())),
        (FakeBlk::pci_kind(slot3(), Pci::Modern, img()), Transport::Pci(slot3())),
        (FakeBlk::pci_kind(slot3(), Pci::Legacy, img()), Transport::Pci(slot3())),
        (FakeBlk::mmio(23, 1, img()), Transport::Mmio(mmio::transport(23))),
        (FakeBlk::mmio(23, 2, img()), Transport::Mmio(mmio::transport(23))),
    ]
}

#[test]
fn opens_and_reads_on_every_transport() {
    for (device, t) in every_transport() {
        let mut p = machine(device, 8 * MIB as usize);
        let mut blk = VirtioBlk::open(&mut p, t).unwrap();
        assert_eq!(blk.sectors(), 32768, "{t:?}");
        let mut buf = [0u8; 1024];
        blk.disk(&mut p).read(5, &mut buf).unwrap();
        assert_eq!(buf[..8], [0x80, 2, 0, 0, 0x81, 2, 0, 0], "{t:?}");
        // More than the bounce buffer: several rounds.
        let mut big = std::vec![0u8; 200 * 1024];
        blk.disk(&mut p).read(1, &mut big).unwrap();
        assert_eq!(big, image(16 * MIB as usize)[512..512 + 200 * 1024], "{t:?}");
        // Several MiB straight to memory, at an odd address, in one notification.
        let before = p.device::<FakeBlk>(0).notifications;
        blk.disk(&mut p).read_phys(2048, 6 * 2048 + 3, TARGET + 1).unwrap();
        assert_eq!(p.device::<FakeBlk>(0).notifications - before, 1, "{t:?}");
        let got = p.read(Range { start: TARGET + 1, end: TARGET + 1 + 6 * MIB + 1536 });
        assert!(got == image(16 * MIB as usize)[MIB as usize..(7 * MIB + 1536) as usize], "{t:?}");
        blk.reset(&mut p);
        assert_eq!(p.device::<FakeBlk>(0).status, 0);
    }
}

#[test]
fn negotiates_only_version_1() {
    for (device, t) in every_transport() {
        // Transitional devices are driven through their modern interface.
        let legacy = matches!(device.pci, Some((_, Pci::Legacy))) || matches!(device.mmio, Some((_, 1)));
        let modern = !legacy;
        let mut p = machine(device, 0);
        VirtioBlk::open(&mut p, t).unwrap();
        let d = p.device::<FakeBlk>(0);
        assert_eq!(d.driver_features, if modern { F_VERSION_1 } else { 0 }, "{t:?}");
        let ok = STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_DRIVER_OK;
        assert_eq!(d.status & ok, ok);
    }
}

#[test]
fn a_60_mib_initrd_costs_one_notification() {
    let device = FakeBlk::pci(slot3(), image(64 * MIB as usize));
    let mut p = machine(device, 60 * MIB as usize);
    let mut blk = VirtioBlk::open(&mut p, Transport::Pci(slot3())).unwrap();
    let exits = p.exits;
    blk.disk(&mut p).read_phys(0, 60 * 2048, TARGET).unwrap();
    assert_eq!(p.device::<FakeBlk>(0).notifications, 1);
    assert_eq!(p.device::<FakeBlk>(0).requests, 60);
    assert_eq!(p.exits - exits, 1);
    // 65 MiB: two batches, of 64 chains and of 1.
    let device = FakeBlk::mmio(23, 2, image(66 * MIB as usize));
    let mut p = machine(device, 65 * MIB as usize);
    let mut blk = VirtioBlk::open(&mut p, Transport::Mmio(mmio::transport(23))).unwrap();
    blk.disk(&mut p).read_phys(0, 65 * 2048, TARGET).unwrap();
    assert_eq!(p.device::<FakeBlk>(0).notifications, 2);
}

#[test]
fn a_small_legacy_queue_takes_more_notifications() {
    // queue-size=4: one chain of 3 descriptors per batch.
    let device = FakeBlk::pci_kind(slot3(), Pci::Legacy, image(8 * MIB as usize)).with_queue(4);
    let mut p = machine(device, 4 * MIB as usize);
    let mut blk = VirtioBlk::open(&mut p, Transport::Pci(slot3())).unwrap();
    blk.disk(&mut p).read_phys(0, 3 * 2048, TARGET).unwrap();
    assert_eq!(p.device::<FakeBlk>(0).notifications, 3);
    assert_eq!(p.read(Range { start: TARGET + 4, end: TARGET + 8 }), 1u32.to_le_bytes());
}

fn open_err(device: FakeBlk, t: Transport) -> DiskError {
    let mut p = machine(device, 0);
    let e = VirtioBlk::open(&mut p, t).unwrap_err();
    assert_eq!(p.device::<FakeBlk>(0).status & STATUS_FAILED, STATUS_FAILED, "{e:?}");
    e
}

#[test]
fn bogus_queue_sizes() {
    let t = Transport::Pci(slot3());
    let bad = DiskError::Device { what: "virtio queue size" };
    for size in [0, 2, 100, 2048, 0x1_0000] {
        let legacy = FakeBlk::pci_kind(slot3(), Pci::Legacy, image(4096)).with_queue(size);
        assert_eq!(open_err(legacy, t), bad, "{size}");
    }
    for size in [0, 2, 100] {
        let modern = FakeBlk::pci_kind(slot3(), Pci::Modern, image(4096)).with_queue(size);
        assert_eq!(open_err(modern, t), bad, "{size}");
    }
    // A modern or MMIO device's large maximum is fine: pvhfw picks 256.
    let mut p = machine(FakeBlk::mmio(0, 1, image(4096)).with_queue(32768), 0);
    VirtioBlk::open(&mut p, Transport::Mmio(mmio::transport(0))).unwrap();
}

#[test]
fn features_refused() {
    let refuse = Faults { refuse_features: true, ..Faults::default() };
    let t = Transport::Pci(slot3());
    let e = open_err(FakeBlk::pci_kind(slot3(), Pci::Modern, image(4096)).with_faults(refuse), t);
    assert_eq!(e, DiskError::Device { what: "virtio device refused the features" });
    let no_v1 = Faults { no_version_1: true, ..Faults::default() };
    let e = open_err(FakeBlk::mmio(5, 2, image(4096)).with_faults(no_v1), Transport::Mmio(mmio::transport(5)));
    assert_eq!(e, DiskError::Device { what: "virtio device without VERSION_1" });
}

fn read_err(faults: Faults) -> (DiskError, FakePlatform, VirtioBlk) {
    let device = FakeBlk::pci(slot3(), image(8 * MIB as usize)).with_faults(faults);
    let mut p = machine(device, 4 * MIB as usize);
    p.tsc_step = 1 << 30;
    let mut blk = VirtioBlk::open(&mut p, Transport::Pci(slot3())).unwrap();
    let e = blk.disk(&mut p).read_phys(10, 4 * 2048, TARGET).unwrap_err();
    (e, p, blk)
}

#[test]
fn io_error_status() {
    let (e, mut p, mut blk) = read_err(Faults { io_error_sector: Some(3000), ..Faults::default() });
    assert_eq!(e, DiskError::Read { sector: 2058 });
    // The device returned every chain: the disk stays usable.
    let mut buf = [0u8; 512];
    blk.disk(&mut p).read(0, &mut buf).unwrap();
}

#[test]
fn a_device_that_never_answers_times_out() {
    let (e, mut p, mut blk) = read_err(Faults { never_complete: true, ..Faults::default() });
    assert_eq!(e, DiskError::Read { sector: 10 });
    // It may still write the ring: nothing more is posted.
    let mut buf = [0u8; 512];
    assert_eq!(blk.disk(&mut p).read(0, &mut buf), Err(DiskError::Read { sector: 0 }));
    assert_eq!(p.device::<FakeBlk>(0).notifications, 1);
}

#[test]
fn bad_used_ring_entries() {
    for id in [1, 3 * 64, u32::MAX] {
        let (e, ..) = read_err(Faults { used_id: Some(id), ..Faults::default() });
        assert_eq!(e, DiskError::Device { what: "virtio used ring id" }, "{id}");
    }
    // Every element names chain 0.
    let (e, ..) = read_err(Faults { used_id: Some(0), ..Faults::default() });
    assert_eq!(e, DiskError::Device { what: "virtio used ring id" });
    let (e, ..) = read_err(Faults { used_len: Some(512), ..Faults::default() });
    assert_eq!(e, DiskError::Device { what: "virtio used ring length" });
}

#[test]
fn reads_beyond_the_disk_or_over_the_driver() {
    let mut p = machine(FakeBlk::pci(slot3(), image(MIB as usize)), MIB as usize);
    let mut blk = VirtioBlk::open(&mut p, Transport::Pci(slot3())).unwrap();
    let mut buf = [0u8; 1024];
    assert_eq!(blk.disk(&mut p).read(2047, &mut buf), Err(DiskError::Read { sector: 2047 }));
    assert_eq!(blk.disk(&mut p).read(0, &mut buf[..100]), Err(DiskError::Read { sector: 0 }));
    let over = blk.disk(&mut p).read_phys(0, 2, DISK_RAM.start - 512);
    assert!(matches!(over, Err(DiskError::TooLarge { .. })));
    assert_eq!(blk.disk(&mut p).read_phys(u64::MAX, 2, TARGET), Err(DiskError::Read { sector: u64::MAX }));
    assert_eq!(p.device::<FakeBlk>(0).notifications, 0);
}

#[test]
fn assigns_unassigned_bars_and_restores_the_command_register() {
    // Modern: BAR 4 at 0xFE000000 + 32 KiB per function; memory decode and bus mastering.
    let f = PciFn::new(5, 2);
    let mut p = machine(FakeBlk::pci(f, image(4096)), 0);
    let mut blk = VirtioBlk::open(&mut p, Transport::Pci(f)).unwrap();
    let d = p.device::<FakeBlk>(0);
    assert_eq!((d.config[8], d.config[9]), (0xfe15_000c, 0));
    assert_eq!(*d.command_writes.last().unwrap(), 6);
    blk.reset(&mut p);
    assert_eq!(*p.device::<FakeBlk>(0).command_writes.last().unwrap(), 0);
    // Legacy: BAR 0 at 0xC000 + 512 per slot + 128 per function; I/O decode.
    let mut p = machine(FakeBlk::pci_kind(f, Pci::Legacy, image(4096)), 0);
    VirtioBlk::open(&mut p, Transport::Pci(f)).unwrap();
    let d = p.device::<FakeBlk>(0);
    assert_eq!(d.config[4], 0xc000 + 5 * 0x200 + 2 * 0x80 + 1);
    assert_eq!(*d.command_writes.last().unwrap(), 5);
}

#[test]
fn keeps_assigned_bars_and_avoids_one_above_4g() {
    // SeaBIOS assigned BAR 4 below 4 GiB: kept.
    let mut device = FakeBlk::pci(slot3(), image(4096));
    device.config[8] = 0xc000_400c;
    device.config[1] |= 2;
    let mut p = machine(device, 0);
    VirtioBlk::open(&mut p, Transport::Pci(slot3())).unwrap();
    assert_eq!(p.device::<FakeBlk>(0).config[8], 0xc000_400c);
    assert!(p.exits > 0);
    // Above 4 GiB with a legacy interface: the legacy one, at its assigned port.
    let mut device = FakeBlk::pci(slot3(), image(4096));
    (device.config[4], device.config[8], device.config[9]) = (0xc041, 0x400c, 0x8);
    device.config[1] |= 3;
    let mut p = machine(device, 0);
    VirtioBlk::open(&mut p, Transport::Pci(slot3())).unwrap();
    let d = p.device::<FakeBlk>(0);
    assert_eq!((d.config[8], d.config[9], d.driver_features), (0x400c, 8, 0));
    // Above 4 GiB without one: moved below.
    let mut device = FakeBlk::pci_kind(slot3(), Pci::Modern, image(4096));
    (device.config[8], device.config[9]) = (0x400c, 0x8);
    let mut p = machine(device, 0);
    VirtioBlk::open(&mut p, Transport::Pci(slot3())).unwrap();
    let d = p.device::<FakeBlk>(0);
    assert_eq!((d.config[8], d.config[9]), (0xfe0c_000c, 0));
}

#[test]
fn finds_pci_disks_in_bootorder() {
    let mut p = machine(FakeBlk::pci(PciFn::new(2, 0), image(4096)), 0)
        .with_fake_device(FakeBlk::pci_kind(PciFn::new(6, 3), Pci::Modern, image(4096)))
        .with_fake_device(FakeBlk::pci(PciFn::new(5, 0), image(4096)))
        .with_device(PciFn::new(0, 0), 0x1237_8086)
        .with_device(PciFn::new(6, 0), 0x1000_1af4); // virtio-net, multifunction
    p.config.insert((PciFn::new(6, 0).0, 0x0c), 0x80_0000);
    let f = |s, f| Transport::Pci(PciFn::new(s, f));
    let none = find_disks(&mut p, Chipset::I440fx, None);
    assert_eq!(none.as_slice(), [f(2, 0), f(5, 0), f(6, 3)]);
    let bootorder = b"/pci@i0cf8/scsi@6,3/disk@0,0\n/pci@i0cf8/scsi@5/disk@0,0\0";
    let ordered = find_disks(&mut p, Chipset::Q35, Some(bootorder));
    assert_eq!(ordered.iter().collect::<Vec<_>>(), [f(6, 3), f(5, 0), f(2, 0)]);
}

#[test]
fn finds_mmio_disks_from_the_top_down() {
    let at = |i| Transport::Mmio(mmio::transport(i));
    // Transport 22 holds a virtio-net device; 20 is empty, so 3 is not reached: 4 exits.
    let mut net = FakeBlk::mmio(22, 1, image(0));
    net.device_id = 1;
    let mut p = machine(FakeBlk::mmio(23, 1, image(4096)), 0)
        .with_fake_device(net)
        .with_fake_device(FakeBlk::mmio(21, 1, image(4096)))
        .with_fake_device(FakeBlk::mmio(3, 2, image(4096)));
    let found = find_disks(&mut p, Chipset::Microvm, None);
    assert_eq!(found.as_slice(), [at(23), at(21)]);
    assert_eq!(p.exits, 4);
    // Named in bootorder, transport 3 is found too, and first.
    let bootorder = b"/virtio-mmio@00000000feb00600/disk@0,0\0";
    let found = find_disks(&mut p, Chipset::Microvm, Some(bootorder));
    assert_eq!(found.as_slice(), [at(3), at(23), at(21)]);
}

#[test]
fn broken_pci_capabilities() {
    let t = Transport::Pci(slot3());
    // Queue 0's notify register beyond the notify structure (4 KiB, multiplier 4).
    let device = FakeBlk::pci_kind(slot3(), Pci::Modern, image(4096));
    let mut p = machine(device.with_faults(Faults { notify_off: 1024, ..Faults::default() }), 0);
    let e = VirtioBlk::open(&mut p, t).unwrap_err();
    assert_eq!(e, DiskError::Device { what: "virtio-pci notify offset" });
    // A structure outside the 32 KiB pvhfw gives the BAR.
    let mut device = FakeBlk::pci_kind(slot3(), Pci::Modern, image(4096));
    device.config[0x50 / 4 + 2] = 0x8000;
    let mut p = machine(device, 0);
    let e = VirtioBlk::open(&mut p, t).unwrap_err();
    assert_eq!(e, DiskError::Device { what: "virtio-pci capabilities" });
    // A capability list that points back at itself.
    let mut device = FakeBlk::pci_kind(slot3(), Pci::Modern, image(4096));
    device.config[0x50 / 4] = (device.config[0x50 / 4] & !0xff00) | 0x40 << 8;
    let mut p = machine(device, 0);
    let e = VirtioBlk::open(&mut p, t).unwrap_err();
    assert_eq!(e, DiskError::Device { what: "virtio-pci capability list" });
    // A function that is no virtio-blk.
    let mut p = FakePlatform::default().with_device(slot3(), 0x1000_1af4);
    let e = VirtioBlk::open(&mut p, t).unwrap_err();
    assert_eq!(e, DiskError::Device { what: "no virtio-blk PCI function there" });
}

#[test]
fn broken_mmio_transports() {
    let t = Transport::Mmio(mmio::transport(0));
    // Nothing there: reads as zero.
    let mut p = machine(FakeBlk::mmio(1, 2, image(4096)), 0);
    let e = VirtioBlk::open(&mut p, t).unwrap_err();
    assert_eq!(e, DiskError::Device { what: "no virtio-mmio transport there" });
    let mut p = machine(FakeBlk::mmio(0, 3, image(4096)), 0);
    let e = VirtioBlk::open(&mut p, t).unwrap_err();
    assert_eq!(e, DiskError::Device { what: "virtio-mmio version" });
    let mut net = FakeBlk::mmio(0, 2, image(4096));
    net.device_id = 1;
    let mut p = machine(net, 0);
    let e = VirtioBlk::open(&mut p, t).unwrap_err();
    assert_eq!(e, DiskError::Device { what: "no virtio-blk device there" });
}

#[test]
fn one_disk_after_another() {
    // The disk RAM is shared: reset one, open the next, and each reads its own image.
    let other: Vec<u8> = image(MIB as usize).iter().map(|b| !b).collect();
    let mut p = machine(FakeBlk::pci(slot3(), image(MIB as usize)), 0).with_fake_device(FakeBlk::pci_kind(
        PciFn::new(4, 0),
        Pci::Legacy,
        other,
    ));
    let mut buf = [0u8; 512];
    let mut a = VirtioBlk::open(&mut p, Transport::Pci(slot3())).unwrap();
    a.disk(&mut p).read(1, &mut buf).unwrap();
    assert_eq!(buf[..4], [0x80, 0, 0, 0]);
    a.reset(&mut p);
    let mut b = VirtioBlk::open(&mut p, Transport::Pci(PciFn::new(4, 0))).unwrap();
    b.disk(&mut p).read(1, &mut buf).unwrap();
    assert_eq!(buf[..4], [0x7f, 0xff, 0xff, 0xff]);
    // The reset one refuses reads rather than touch the shared ring.
    assert_eq!(a.disk(&mut p).read(1, &mut buf), Err(DiskError::Read { sector: 1 }));
}
