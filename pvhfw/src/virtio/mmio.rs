//! virtio-mmio on `microvm`: QEMU's transports, their registers, and finding the disks.
//!
//! QEMU's microvm (`hw/i386/microvm.c`) creates 24 transports of 512 bytes from 0xFEB00000, in
//! increasing address order. A `-device virtio-*-device` without `bus=` goes to the free
//! transport QEMU finds first, which is the *highest* one (qdev prepends each new bus to the
//! list it searches): measured on QEMU 7.2 and 10.0, the first device is at 0xFEB02E00 and the
//! second at 0xFEB02C00. So "transport order" is from the top down, and the scan stops at the
//! first empty transport: no device QEMU assigned can follow it. A device placed with
//! `bus=virtio-mmio-bus.N` below such a hole is found only when `bootorder` names it
//! (`bootindex=`); that saves up to 23 VM exits on every microvm boot.

use super::{Disks, Transport, DEVICE_BLOCK};
use crate::disk::DiskError;
use crate::platform::{Platform, Width};

pub const BASE: u64 = 0xfeb0_0000;
pub const STRIDE: u64 = 512;
pub const TRANSPORTS: u64 = 24;

pub const MAGIC: u64 = 0x000;
pub const VERSION: u64 = 0x004;
pub const DEVICE_ID: u64 = 0x008;
pub const DEVICE_FEATURES: u64 = 0x010;
pub const DEVICE_FEATURES_SEL: u64 = 0x014;
pub const DRIVER_FEATURES: u64 = 0x020;
pub const DRIVER_FEATURES_SEL: u64 = 0x024;
pub const GUEST_PAGE_SIZE: u64 = 0x028;
pub const QUEUE_SEL: u64 = 0x030;
pub const QUEUE_NUM_MAX: u64 = 0x034;
pub const QUEUE_NUM: u64 = 0x038;
pub const QUEUE_ALIGN: u64 = 0x03c;
pub const QUEUE_PFN: u64 = 0x040;
pub const QUEUE_READY: u64 = 0x044;
pub const QUEUE_NOTIFY: u64 = 0x050;
pub const STATUS: u64 = 0x070;
/// QueueDescLow/High; QueueDriverLow/High and QueueDeviceLow/High follow 16 bytes apart.
pub const QUEUE_DESC: u64 = 0x080;
pub const CONFIG: u64 = 0x100;

/// "virt", little-endian.
const MAGIC_VALUE: u32 = 0x7472_6976;

/// The address of transport `i`.
pub fn transport(i: u64) -> u64 {
    BASE + STRIDE * i
}

/// Whether `addr` is one of QEMU's microvm transports.
pub fn is_transport(addr: u64) -> bool {
    addr >= BASE && addr < transport(TRANSPORTS) && (addr - BASE).is_multiple_of(STRIDE)
}

/// The block devices: first those `bootorder` names (wherever they are), then from the top
/// transport down to the first empty one. One VM exit (DeviceID) per transport read.
#[inline(never)]
pub fn scan<P: Platform + ?Sized>(p: &mut P, bootorder: &[u8], disks: &mut Disks) {
    for line in bootorder.split(|&b| b == b'\n') {
        if let Some(addr) = super::order::mmio_address(line).filter(|&a| is_transport(a)) {
            if device_id(p, addr) == DEVICE_BLOCK {
                disks.push(Transport::Mmio(addr));
            }
        }
    }
    // Disks::push keeps the order of the first sighting; `order` sorts them afterwards.
    // black_box: the loop runs once per boot, and unrolled it costs ROM space.
    for i in (0..core::hint::black_box(TRANSPORTS)).rev() {
        match device_id(p, transport(i)) {
            0 => break,
            DEVICE_BLOCK => disks.push(Transport::Mmio(transport(i))),
            _ => {}
        }
    }
}

/// The DeviceID of the transport at `base` (0: no device): one VM exit, kept out of line (the
/// scan's loop would unroll it).
#[inline(never)]
fn device_id<P: Platform + ?Sized>(p: &mut P, base: u64) -> u32 {
    p.mem_read(base + DEVICE_ID, Width::U32)
}

/// Checks that `base` is a virtio-mmio block device; returns its version (1 legacy, 2).
#[inline(never)]
pub fn open<P: Platform + ?Sized>(p: &mut P, base: u64) -> Result<u32, DiskError> {
    if p.mem_read(base + MAGIC, Width::U32) != MAGIC_VALUE {
        return Err(DiskError::Device { what: "no virtio-mmio transport there" });
    }
    let version = p.mem_read(base + VERSION, Width::U32);
    if !matches!(version, 1 | 2) {
        return Err(DiskError::Device { what: "virtio-mmio version" });
    }
    if p.mem_read(base + DEVICE_ID, Width::U32) != DEVICE_BLOCK {
        return Err(DiskError::Device { what: "no virtio-blk device there" });
    }
    Ok(version)
}
