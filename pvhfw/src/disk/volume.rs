//! A disk's filesystems as one kind of thing: a [`Volume`] is a partition (or the whole disk)
//! holding ext4 or FAT, and a [`Handle`] a file on it, read into a buffer or straight into
//! physical memory.

use super::ext4::{self, Ext4};
use super::fat::{self, Fat};
use super::partition::{Kind, Partition};
use super::{BlockRead, DiskError, PhysRead, SECTOR};

/// An open filesystem.
#[derive(Clone, Copy, Debug)]
pub enum Fs {
    Ext4(Ext4),
    Fat(Fat),
}

/// A file found on a [`Volume`].
#[derive(Clone, Copy, Debug)]
pub enum Handle {
    Ext4(ext4::Inode),
    Fat(fat::File),
}

impl Handle {
    pub fn size(&self) -> u64 {
        match self {
            Handle::Ext4(inode) => inode.size,
            Handle::Fat(file) => file.size.into(),
        }
    }

    fn is_dir(&self) -> bool {
        match self {
            Handle::Ext4(inode) => inode.kind == ext4::FileType::Dir,
            Handle::Fat(file) => file.dir,
        }
    }
}

/// A partition with a filesystem pvhfw reads.
#[derive(Clone, Copy, Debug)]
pub struct Volume {
    pub fs: Fs,
    pub partition: Partition,
}

/// The errors that say "this is not that filesystem", as opposed to "this one is damaged".
fn is_foreign(e: &DiskError) -> bool {
    matches!(
        e,
        DiskError::Corrupt { what: "ext4: superblock magic" | "ext4: partition too small" }
            | DiskError::Corrupt { what: "FAT boot sector signature" | "FAT BPB" }
    )
}

impl Volume {
    /// The filesystem on `partition`: `None` when it holds neither ext4 nor FAT (a BIOS boot
    /// partition, swap, an empty disk); an error when it holds one that is damaged.
    #[inline(never)]
    pub fn open<D: BlockRead>(disk: &mut D, partition: Partition) -> Result<Option<Volume>, DiskError> {
        if matches!(partition.kind, Kind::BiosBoot) {
            return Ok(None);
        }
        let fs = match Ext4::open(disk, partition.start, partition.sectors) {
            Ok(fs) => Fs::Ext4(fs),
            Err(e) if !is_foreign(&e) => return Err(e),
            Err(_) => match Fat::open(disk, partition.start) {
                Ok(fs) => Fs::Fat(fs),
                Err(e) if is_foreign(&e) => return Ok(None),
                Err(e) => return Err(e),
            },
        };
        Ok(Some(Volume { fs, partition }))
    }

    /// The file at `path` (from the filesystem's root, following ext4's symlinks); a
    /// directory is not a file.
    pub fn lookup<D: BlockRead>(&self, disk: &mut D, path: &[u8]) -> Result<Handle, DiskError> {
        let handle = self.lookup_any(disk, path)?;
        match handle.is_dir() {
            true => Err(DiskError::NotFound),
            false => Ok(handle),
        }
    }

    /// The file or directory at `path`.
    #[inline(never)]
    pub fn lookup_any<D: BlockRead>(&self, disk: &mut D, path: &[u8]) -> Result<Handle, DiskError> {
        match &self.fs {
            Fs::Ext4(fs) => fs.lookup(disk, path).map(Handle::Ext4),
            Fs::Fat(fs) => fs.lookup(disk, path).map(Handle::Fat),
        }
    }

    /// Whether `path` names a file (a missing one is no error: the caller tries the next).
    pub fn find<D: BlockRead>(&self, disk: &mut D, path: &[u8]) -> Result<Option<Handle>, DiskError> {
        match self.lookup(disk, path) {
            Ok(h) => Ok(Some(h)),
            Err(DiskError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Reads the whole of a small file into the start of `buf`; returns its length.
    #[inline(never)]
    pub fn read_all<D: BlockRead>(&self, disk: &mut D, file: &Handle, buf: &mut [u8]) -> Result<usize, DiskError> {
        match (&self.fs, file) {
            (Fs::Ext4(fs), Handle::Ext4(inode)) => fs.read_all(disk, inode, buf).map(|b| b.len()),
            (Fs::Fat(fs), Handle::Fat(f)) => fs.read_file(disk, f, buf),
            _ => Err(DiskError::NotFound),
        }
    }

    /// Calls `visit` with the name and handle of each entry of directory `dir` (ext4 handles
    /// are inode numbers until read: `visit` gets `None` for them, and `inode` reads them).
    #[inline(never)]
    pub fn list<D: BlockRead>(
        &self,
        disk: &mut D,
        dir: &Handle,
        mut visit: impl FnMut(&[u8], Listed),
    ) -> Result<(), DiskError> {
        match (&self.fs, dir) {
            (Fs::Ext4(fs), Handle::Ext4(inode)) => {
                let mut entries = fs.dir(inode)?;
                while let Some(e) = entries.next(disk)? {
                    visit(e.name(), Listed::Inode(e.ino));
                }
                Ok(())
            }
            (Fs::Fat(fs), Handle::Fat(f)) => fs.list(disk, f, |name, file| visit(name, Listed::Fat(*file))),
            _ => Err(DiskError::NotFound),
        }
    }

    /// The handle of a listed entry.
    pub fn open_listed<D: BlockRead>(&self, disk: &mut D, listed: Listed) -> Result<Handle, DiskError> {
        match (&self.fs, listed) {
            (Fs::Ext4(fs), Listed::Inode(ino)) => fs.inode(disk, ino).map(Handle::Ext4),
            (_, Listed::Fat(file)) => Ok(Handle::Fat(file)),
            _ => Err(DiskError::NotFound),
        }
    }

    /// Reads `len` bytes of `file` from byte `offset` to physical address `phys`: whole sectors
    /// straight from the disk, a sector only partly wanted (an unaligned start, the file's end)
    /// through a sector buffer, holes as zeros.
    pub fn read_to_phys<D: PhysRead>(
        &self,
        disk: &mut D,
        file: &Handle,
        offset: u64,
        phys: u64,
        len: u64,
    ) -> Result<(), DiskError> {
        self.walk(disk, file, offset, len, |disk, piece| match piece.sector {
            None => disk.zero_phys(phys + piece.at, piece.len),
            Some(s) => read_span(disk, s, piece.skip, phys + piece.at, piece.len),
        })
    }

    /// Reads `buf.len()` bytes of `file` from byte `offset` into `buf`.
    pub fn read_at<D: BlockRead>(
        &self,
        disk: &mut D,
        file: &Handle,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<(), DiskError> {
        self.walk(disk, file, offset, buf.len() as u64, |disk, piece| {
            let out = &mut buf[piece.at as usize..(piece.at + piece.len) as usize];
            match piece.sector {
                None => {
                    out.fill(0);
                    Ok(())
                }
                Some(s) => super::read_bytes(disk, s, piece.skip, out),
            }
        })
    }

    /// Calls `take` with each contiguous piece of `file`'s bytes `offset..offset + len`, in order.
    #[inline(never)]
    fn walk<D: BlockRead>(
        &self,
        disk: &mut D,
        file: &Handle,
        offset: u64,
        len: u64,
        mut take: impl FnMut(&mut D, Piece) -> Result<(), DiskError>,
    ) -> Result<(), DiskError> {
        let end = offset.checked_add(len).filter(|&e| e <= file.size());
        let end = end.ok_or(DiskError::Corrupt { what: "read beyond a file's end" })?;
        // A run of the file: `bytes` from file offset `at`, from the start of `sector` on.
        let mut run = |disk: &mut D, at: u64, sector: Option<u64>, bytes: u64| {
            let (from, to) = (at.max(offset), at.saturating_add(bytes).min(end));
            match from < to {
                true => take(disk, Piece { at: from - offset, sector, skip: from - at, len: to - from }),
                false => Ok(()),
            }
        };
        match (&self.fs, file) {
            (Fs::Ext4(fs), Handle::Ext4(inode)) => {
                let mut runs = fs.runs(inode, offset);
                while let Some(r) = runs.next(disk)? {
                    if r.offset >= end {
                        break;
                    }
                    // A run that starts inside a sector (only the first can) has that sector.
                    let within = r.offset % SECTOR as u64;
                    run(disk, r.offset - within, r.sector, r.bytes + within)?;
                }
            }
            (Fs::Fat(fs), Handle::Fat(f)) => {
                let mut runs = fs.runs(f)?;
                let mut at = 0u64;
                while let Some(r) = runs.next(disk)? {
                    if at >= end {
                        break;
                    }
                    run(disk, at, Some(r.sector), r.bytes)?;
                    at = at.saturating_add(r.bytes);
                }
            }
            _ => return Err(DiskError::NotFound),
        }
        Ok(())
    }
}

/// A contiguous piece of a read: `len` bytes for output offset `at`, from `skip` bytes into
/// disk sector `sector` on (a hole when `None`).
struct Piece {
    at: u64,
    sector: Option<u64>,
    skip: u64,
    len: u64,
}

/// A directory entry as [`Volume::list`] gives it.
#[derive(Clone, Copy, Debug)]
pub enum Listed {
    Inode(u32),
    Fat(fat::File),
}

/// Reads `len` bytes that start `skip` bytes into disk sector `sector` to `phys`, as
/// [`super::read_bytes`] does to a buffer.
fn read_span<D: PhysRead>(disk: &mut D, sector: u64, skip: u64, phys: u64, len: u64) -> Result<(), DiskError> {
    let (sector_bytes, err) = (SECTOR as u64, DiskError::Read { sector });
    let mut sector = sector.checked_add(skip / sector_bytes).ok_or(err)?;
    let (skip, mut phys, mut len) = (skip % sector_bytes, phys, len);
    if skip != 0 || len < sector_bytes {
        let n = (sector_bytes - skip).min(len);
        partial(disk, sector, skip, phys, n)?;
        (sector, phys, len) = (sector.checked_add(1).ok_or(err)?, phys + n, len - n);
    }
    let whole = len / sector_bytes;
    if whole > 0 {
        disk.read_phys(sector, whole, phys)?;
    }
    let tail = len % sector_bytes;
    if tail > 0 {
        partial(disk, sector.checked_add(whole).ok_or(err)?, 0, phys + whole * sector_bytes, tail)?;
    }
    Ok(())
}

/// `len` bytes from `skip` into `sector` to `phys`, through a sector buffer.
fn partial<D: PhysRead>(disk: &mut D, sector: u64, skip: u64, phys: u64, len: u64) -> Result<(), DiskError> {
    let mut buf = [0u8; SECTOR];
    disk.read(sector, &mut buf)?;
    disk.write_phys(phys, &buf[skip as usize..(skip + len) as usize])
}
