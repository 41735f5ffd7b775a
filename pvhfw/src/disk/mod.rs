//! Reading a boot disk: partition tables, filesystems and boot entries, over any
//! [`BlockRead`] (virtio-blk in the firmware, a byte slice in tests and fuzzing).

/// Bytes in a logical block as virtio-blk and the partition tables count them.
pub const SECTOR: usize = 512;

/// Why reading the disk failed; each names what was wrong so the user can fix the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskError {
    /// The device could not read `sector`.
    Read { sector: u64 },
    /// A structure is damaged or unsupported: `what` names it.
    Corrupt { what: &'static str },
    /// A path or file the boot needs does not exist.
    NotFound,
    /// Something is larger than the reader's buffers allow.
    TooLarge { what: &'static str },
    /// The disk's device misbehaved or is unsupported: `what` names what it got wrong.
    Device { what: &'static str },
}

/// A disk, read in whole sectors.
pub trait BlockRead {
    /// Fills `buf` (a multiple of [`SECTOR`] bytes) from `sector` on.
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), DiskError>;
    /// The disk's size in sectors.
    fn sectors(&self) -> u64;
}

/// A disk that can also read straight into physical memory (the firmware's virtio-blk), for
/// the kernel and initrds, which go to their final place without a copy.
pub trait PhysRead: BlockRead {
    /// Reads `sectors` sectors from `sector` on to physical address `phys` (RAM the caller
    /// checked is free).
    fn read_phys(&mut self, sector: u64, sectors: u64, phys: u64) -> Result<(), DiskError>;
    /// Copies `bytes` to physical address `phys` (a sector only partly wanted).
    fn write_phys(&mut self, phys: u64, bytes: &[u8]) -> Result<(), DiskError>;
    /// Zero-fills `len` bytes from `phys` (a hole in a file).
    fn zero_phys(&mut self, phys: u64, len: u64) -> Result<(), DiskError>;
}

/// A disk image in memory, for tests and fuzzing.
impl BlockRead for &[u8] {
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), DiskError> {
        let err = DiskError::Read { sector };
        let start = usize::try_from(sector).ok().and_then(|s| s.checked_mul(SECTOR)).ok_or(err)?;
        let end = start.checked_add(buf.len()).ok_or(err)?;
        if !buf.len().is_multiple_of(SECTOR) {
            return Err(err);
        }
        buf.copy_from_slice(self.get(start..end).ok_or(err)?);
        Ok(())
    }

    fn sectors(&self) -> u64 {
        (self.len() / SECTOR) as u64
    }
}

mod crc32;
/// Reads `out.len()` bytes that start `skip` bytes into disk sector `sector` into `out`:
/// whole sectors straight in, a partial first or last one through a sector buffer. Every
/// reader of file data (ext4, FAT, [`volume::Volume`]) goes through here.
pub(crate) fn read_bytes<D: BlockRead>(disk: &mut D, sector: u64, skip: u64, out: &mut [u8]) -> Result<(), DiskError> {
    let err = DiskError::Read { sector };
    let mut sector = sector.checked_add(skip / SECTOR as u64).ok_or(err)?;
    let skip = (skip % SECTOR as u64) as usize;
    let mut out = out;
    let mut bounce = [0u8; SECTOR];
    if skip != 0 || out.len() < SECTOR {
        disk.read(sector, &mut bounce)?;
        let n = (SECTOR - skip).min(out.len());
        out[..n].copy_from_slice(&bounce[skip..skip + n]);
        out = &mut out[n..];
        sector = sector.checked_add(1).ok_or(err)?;
    }
    let whole = out.len() / SECTOR * SECTOR;
    if whole > 0 {
        disk.read(sector, &mut out[..whole])?;
        sector = sector.checked_add((whole / SECTOR) as u64).ok_or(err)?;
    }
    let tail = &mut out[whole..];
    if !tail.is_empty() {
        disk.read(sector, &mut bounce)?;
        tail.copy_from_slice(&bounce[..tail.len()]);
    }
    Ok(())
}

pub mod entries;
pub mod ext4;
pub mod fat;
pub mod partition;
pub mod search;
pub mod volume;

#[cfg(test)]
mod testimg;
