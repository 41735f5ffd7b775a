//! The block device: opening it (status sequence, features, queue), reads in batches of
//! request chains with one notification each, and reset.

use super::queue::{self, Ring, BOUNCE, DESCRIPTORS_PER_CHAIN};
use super::{mmio, pci, Regs, Transport};
use super::{F_VERSION_1_HIGH, STATUS_ACKNOWLEDGE, STATUS_DRIVER, STATUS_DRIVER_OK, STATUS_FAILED, STATUS_FEATURES_OK};
use crate::disk::{BlockRead, DiskError, PhysRead, SECTOR};
use crate::layout::DISK_RAM;
use crate::platform::{PciFn, Platform};
use crate::Range;
use core::sync::atomic::{fence, Ordering};

/// Sectors per request: 1 MiB, far below what QEMU takes in one descriptor (its block layer
/// splits at the backend's limit, and `virtio_blk_sect_range_ok` refuses only requests over
/// 2 GiB) and what it maps in one go. With a batch of 64 chains one notification reads 64 MiB.
const REQUEST_SECTORS: u64 = 2048;
/// virtio-blk request type: read.
const VIRTIO_BLK_T_IN: u32 = 0;
/// The status byte the device writes for a request that succeeded.
const VIRTIO_BLK_S_OK: u8 = 0;
/// What the status slots hold until the device writes them: no valid status.
const STATUS_UNSET: u32 = 0xffff_ffff;

/// Time-stamp counter ticks without any request completing after which the device counts as
/// dead: 2^33, about 3 s at 3 GHz and 8 s at 1 GHz. A 1 MiB request from a cold host file takes
/// milliseconds; this is only for a device that will never answer. Under `-icount` the counter
/// counts instructions, and the poll loop's few instructions per round reach it after about as
/// many seconds.
const TIMEOUT_TICKS: u64 = 1 << 33;
/// Polls without progress after which the wait ends even if the counter is stuck (about
/// 10 s at 10 ns a poll: each is a read of RAM, no VM exit).
const MAX_POLLS: u32 = 1 << 30;

/// An open virtio-blk device: plain data, so the boot can keep it anywhere.
#[derive(Clone, Copy, Debug)]
pub struct VirtioBlk {
    regs: Regs,
    ring: Ring,
    /// The PCI function and the command register it had, to restore at reset.
    pci: Option<(PciFn, u16)>,
    sectors: u64,
    /// The next free available-ring index, and the next used-ring index to read.
    avail_idx: u16,
    used_idx: u16,
    /// Set when the device timed out or broke the protocol: it may still own the ring, so
    /// nothing is posted any more.
    broken: bool,
}

/// An open disk with the platform it is read through.
pub struct Disk<'a, P: Platform + ?Sized> {
    blk: &'a mut VirtioBlk,
    p: &'a mut P,
}

/// One chain of a batch: `sectors` from `sector` into `phys`.
#[derive(Clone, Copy, Default)]
struct Request {
    sector: u64,
    sectors: u64,
    phys: u64,
}

impl VirtioBlk {
    /// Takes the device at `t` through reset, feature negotiation and queue setup to
    /// DRIVER_OK. On failure after the reset the device is left FAILED.
    #[inline(never)]
    pub fn open<P: Platform + ?Sized>(p: &mut P, t: Transport) -> Result<VirtioBlk, DiskError> {
        let (regs, pci, notify) = match t {
            Transport::Pci(f) => {
                let o = pci::open(p, f)?;
                (o.regs, Some((f, o.command)), o.notify)
            }
            Transport::Mmio(base) => (Regs::Mmio { base, version: mmio::open(p, base)? }, None, (0, 0)),
        };
        regs.set_status(p, 0);
        regs.set_status(p, STATUS_ACKNOWLEDGE);
        regs.set_status(p, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
        match Self::setup(p, regs, notify) {
            Ok((regs, ring)) => {
                let lo = u64::from(regs.config32(p, 0));
                let sectors = lo | u64::from(regs.config32(p, 4)) << 32;
                regs.set_status(p, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK);
                Ok(VirtioBlk { regs, ring, pci, sectors, avail_idx: 0, used_idx: 0, broken: false })
            }
            Err(e) => {
                regs.set_status(p, STATUS_FAILED);
                if let Some((f, command)) = pci {
                    pci::close(p, f, command);
                }
                Err(e)
            }
        }
    }

    /// Features, then the queue: what may fail between DRIVER and DRIVER_OK.
    #[inline(never)]
    fn setup<P: Platform + ?Sized>(p: &mut P, regs: Regs, notify: (u32, u32)) -> Result<(Regs, Ring), DiskError> {
        if !regs.is_legacy() {
            // Modern transports require VERSION_1, and it is all pvhfw accepts.
            if regs.features_high(p) & F_VERSION_1_HIGH == 0 {
                return Err(DiskError::Device { what: "virtio device without VERSION_1" });
            }
            regs.set_features(p, F_VERSION_1_HIGH);
            regs.set_status(p, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK);
            if regs.status(p) & STATUS_FEATURES_OK == 0 {
                return Err(DiskError::Device { what: "virtio device refused the features" });
            }
        } else {
            regs.set_features(p, 0);
        }
        let max = regs.queue_max(p);
        // Legacy PCI dictates the size; the others take a smaller one.
        let size = match regs {
            Regs::Legacy { .. } => max,
            _ if max == 0 => 0,
            _ => max.min(queue::CHOSEN_SIZE),
        };
        let ring = Ring::new(size, regs.is_legacy()).ok_or(DiskError::Device { what: "virtio queue size" })?;
        let regs = pci::notify_address(p, regs, notify)?;
        p.phys(ring.range()).fill(0);
        let flags = u32::from(queue::AVAIL_F_NO_INTERRUPT);
        p.phys(ring.avail_flags_idx()).copy_from_slice(&flags.to_le_bytes());
        regs.set_queue(p, &ring);
        Ok((regs, ring))
    }

    /// The disk's size in sectors.
    pub fn sectors(&self) -> u64 {
        self.sectors
    }

    /// The disk, read through `p`.
    pub fn disk<'a, P: Platform + ?Sized>(&'a mut self, p: &'a mut P) -> Disk<'a, P> {
        Disk { blk: self, p }
    }

    /// Resets the device (status 0: it forgets the queue and stops all DMA) and restores the
    /// PCI command register, so the kernel finds the device as from reset. Call it before the
    /// kernel is entered and before another disk is opened (they share the disk RAM).
    pub fn reset<P: Platform + ?Sized>(&mut self, p: &mut P) {
        self.regs.set_status(p, 0);
        if let Some((f, command)) = self.pci {
            pci::close(p, f, command);
        }
        self.broken = true;
    }

    /// Reads `sectors` from `sector` to `phys`, in batches of chains, one notification each.
    fn transfer<P: Platform + ?Sized>(
        &mut self,
        p: &mut P,
        sector: u64,
        sectors: u64,
        phys: u64,
    ) -> Result<(), DiskError> {
        let err = DiskError::Read { sector };
        let in_disk = sector.checked_add(sectors).is_some_and(|end| end <= self.sectors);
        let in_memory = sectors.checked_mul(SECTOR as u64).and_then(|b| phys.checked_add(b)).is_some();
        if self.broken || !in_disk || !in_memory {
            return Err(err);
        }
        let (mut sector, mut left, mut phys) = (sector, sectors, phys);
        let mut batch = [Request::default(); queue::MAX_BATCH as usize];
        while left > 0 {
            let mut n = 0;
            while left > 0 && n < usize::from(self.ring.batch()) {
                let sectors = left.min(REQUEST_SECTORS);
                batch[n] = Request { sector, sectors, phys };
                (sector, left, phys) = (sector + sectors, left - sectors, phys + sectors * SECTOR as u64);
                n += 1;
            }
            self.post(p, &batch[..n]);
            let done = self.wait(p, &batch[..n]);
            if matches!(done, Err(DiskError::Device { .. } | DiskError::Read { .. })) && !self.drained(p) {
                self.broken = true;
            }
            done?;
        }
        Ok(())
    }

    /// Writes the chains of `batch` and makes them available, then notifies once.
    #[inline(never)]
    fn post<P: Platform + ?Sized>(&mut self, p: &mut P, batch: &[Request]) {
        for (i, r) in batch.iter().enumerate() {
            let i = i as u16;
            let header_at = queue::HEADERS + queue::HEADER_SIZE * u64::from(i);
            let status_at = queue::STATUS + queue::STATUS_SLOT * u64::from(i);
            let mut header = [0u8; 16];
            header[..4].copy_from_slice(&VIRTIO_BLK_T_IN.to_le_bytes());
            header[8..].copy_from_slice(&r.sector.to_le_bytes());
            p.phys(Range { start: header_at, end: header_at + 16 }).copy_from_slice(&header);
            p.phys(Range { start: status_at, end: status_at + 4 }).copy_from_slice(&STATUS_UNSET.to_le_bytes());
            let head = i * DESCRIPTORS_PER_CHAIN;
            let bytes = (r.sectors * SECTOR as u64) as u32;
            let write_next = queue::DESC_F_WRITE | queue::DESC_F_NEXT;
            let descs = [
                queue::descriptor(header_at, 16, queue::DESC_F_NEXT, head + 1),
                queue::descriptor(r.phys, bytes, write_next, head + 2),
                queue::descriptor(status_at, 1, queue::DESC_F_WRITE, 0),
            ];
            for (k, d) in descs.iter().enumerate() {
                p.phys(self.ring.descriptor(head + k as u16)).copy_from_slice(d);
            }
            p.phys(self.ring.avail_entry(self.avail_idx.wrapping_add(i))).copy_from_slice(&head.to_le_bytes());
        }
        // The device must see the descriptors and ring entries before the new index, and all
        // of them before the notification.
        fence(Ordering::SeqCst);
        self.avail_idx = self.avail_idx.wrapping_add(batch.len() as u16);
        let idx = self.ring.avail_flags_idx();
        p.phys(Range { start: idx.start + 2, end: idx.end }).copy_from_slice(&self.avail_idx.to_le_bytes());
        fence(Ordering::SeqCst);
        self.regs.notify(p);
    }

    /// Polls the used ring until every chain of `batch` completed, checking each entry.
    #[inline(never)]
    fn wait<P: Platform + ?Sized>(&mut self, p: &mut P, batch: &[Request]) -> Result<(), DiskError> {
        let mut done = 0u64; // bit i: chain i completed
        let all = if batch.len() == 64 { u64::MAX } else { (1 << batch.len()) - 1 };
        let (mut since, mut polls) = (p.tsc(), 0u32);
        while done != all {
            let used = (p.dma_read32(self.ring.used_header()) >> 16) as u16;
            if used == self.used_idx {
                polls += 1;
                if p.tsc().wrapping_sub(since) > TIMEOUT_TICKS || polls > MAX_POLLS {
                    let first = batch[(!done).trailing_zeros() as usize];
                    return Err(DiskError::Read { sector: first.sector });
                }
                continue;
            }
            let outstanding = all.count_ones() - done.count_ones();
            if u32::from(used.wrapping_sub(self.used_idx)) > outstanding {
                return Err(DiskError::Device { what: "virtio used ring index" });
            }
            while self.used_idx != used {
                done |= self.complete(p, batch, done)?;
                self.used_idx = self.used_idx.wrapping_add(1);
            }
            (since, polls) = (p.tsc(), 0);
        }
        fence(Ordering::SeqCst);
        Ok(())
    }

    /// Checks the used element at `used_idx`: a chain of this batch not done yet, its status
    /// OK and its length that of the data plus the status byte. Returns its bit.
    fn complete<P: Platform + ?Sized>(&mut self, p: &mut P, batch: &[Request], done: u64) -> Result<u64, DiskError> {
        let at = self.ring.used_entry(self.used_idx);
        let (id, len) = (p.dma_read32(at), p.dma_read32(at + 4));
        let head = usize::try_from(id).unwrap_or(usize::MAX);
        let chain = head / usize::from(DESCRIPTORS_PER_CHAIN);
        let valid = head.is_multiple_of(usize::from(DESCRIPTORS_PER_CHAIN)) && chain < batch.len();
        if !valid || done & 1 << chain != 0 {
            return Err(DiskError::Device { what: "virtio used ring id" });
        }
        let r = batch[chain];
        let status = p.dma_read32(queue::STATUS + queue::STATUS_SLOT * chain as u64) as u8;
        if status != VIRTIO_BLK_S_OK {
            return Err(DiskError::Read { sector: r.sector });
        }
        if u64::from(len) != r.sectors * SECTOR as u64 + 1 {
            return Err(DiskError::Device { what: "virtio used ring length" });
        }
        Ok(1 << chain)
    }

    /// Whether the device has returned every chain made available (so the ring may be used
    /// again after a failed request).
    fn drained<P: Platform + ?Sized>(&mut self, p: &mut P) -> bool {
        let used = (p.dma_read32(self.ring.used_header()) >> 16) as u16;
        self.used_idx = used;
        used == self.avail_idx
    }
}

impl<P: Platform + ?Sized> BlockRead for Disk<'_, P> {
    /// Reads through the bounce buffer in the disk RAM and copies out.
    #[inline(never)]
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), DiskError> {
        if !buf.len().is_multiple_of(SECTOR) {
            return Err(DiskError::Read { sector });
        }
        let chunk = (BOUNCE.end - BOUNCE.start) as usize;
        for (i, part) in buf.chunks_mut(chunk).enumerate() {
            let at = sector.checked_add((i * chunk / SECTOR) as u64).ok_or(DiskError::Read { sector })?;
            self.blk.transfer(self.p, at, (part.len() / SECTOR) as u64, BOUNCE.start)?;
            let bounce = Range { start: BOUNCE.start, end: BOUNCE.start + part.len() as u64 };
            part.copy_from_slice(self.p.phys(bounce));
        }
        Ok(())
    }

    fn sectors(&self) -> u64 {
        self.blk.sectors
    }
}

impl<P: Platform + ?Sized> PhysRead for Disk<'_, P> {
    /// Reads straight to `phys`, which must not overlap the driver's own RAM.
    fn read_phys(&mut self, sector: u64, sectors: u64, phys: u64) -> Result<(), DiskError> {
        let bytes = sectors.checked_mul(SECTOR as u64).ok_or(DiskError::Read { sector })?;
        let target = Range::from_len(phys, bytes).ok_or(DiskError::Read { sector })?;
        if target.overlaps(&DISK_RAM) {
            return Err(DiskError::TooLarge { what: "read over the disk driver's RAM" });
        }
        self.blk.transfer(self.p, sector, sectors, phys)
    }

    fn write_phys(&mut self, phys: u64, bytes: &[u8]) -> Result<(), DiskError> {
        let target = Range::from_len(phys, bytes.len() as u64).filter(|t| !t.overlaps(&DISK_RAM));
        let target = target.ok_or(DiskError::TooLarge { what: "write over the disk driver's RAM" })?;
        self.p.phys(target).copy_from_slice(bytes);
        Ok(())
    }

    fn zero_phys(&mut self, phys: u64, len: u64) -> Result<(), DiskError> {
        let target = Range::from_len(phys, len).filter(|t| !t.overlaps(&DISK_RAM));
        let target = target.ok_or(DiskError::TooLarge { what: "write over the disk driver's RAM" })?;
        self.p.phys(target).fill(0);
        Ok(())
    }
}
