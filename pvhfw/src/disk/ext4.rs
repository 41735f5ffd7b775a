//! A read-only reader of ext2, ext3 and ext4 filesystems (the kernel's
//! Documentation/filesystems/ext4/ describes the layout): enough to find a kernel, an initrd
//! and boot entries by path and read them.
//!
//! Everything is read on demand, a sector or a caller's buffer at a time: no structure is
//! held whole, and nothing is allocated. Checksums (`metadata_csum`) are not verified.
//! Directories are read linearly, hashed (`dir_index`) ones included: their index blocks
//! look like empty entries to a linear reader. Every walk over what the disk says is bounded:
//! extent tree depth, symlinks followed, path components, directory size.

use super::{BlockRead, DiskError, SECTOR};
use core::mem::{offset_of, size_of};
use zerocopy::little_endian::{U16, U32};
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout};

/// `s_magic`.
const MAGIC: u16 = 0xef53;
/// The superblock's byte offset in the filesystem, and its size.
const SUPERBLOCK: u64 = 1024;
/// The root directory's inode.
pub const ROOT: u32 = 2;
/// Symlinks followed in one lookup, as Linux allows (ELOOP beyond).
pub const MAX_SYMLINKS: u32 = 40;
/// Path components walked in one lookup, those symlinks add included.
pub const MAX_COMPONENTS: u32 = 256;
/// The longest path, with the symlink targets it expands to, a lookup holds.
pub const MAX_PATH: usize = 1024;
/// The largest directory read (a directory of 100 000 boot entries is a few MiB).
const MAX_DIR_BYTES: u64 = 16 << 20;
/// ext4's own bound on extent tree depth (EXT4_MAX_EXTENT_DEPTH).
const MAX_EXTENT_DEPTH: u16 = 5;
/// Mapping steps merged into one [`Run`] (each a block-map block or an extent).
const MAX_RUN_STEPS: u32 = 1024;

/// Incompatible features (`s_feature_incompat`) and what this reader makes of them.
mod incompat {
    pub const COMPRESSION: u32 = 0x1;
    pub const FILETYPE: u32 = 0x2;
    /// The journal needs replaying: read as it stands, as GRUB does.
    pub const RECOVER: u32 = 0x4;
    pub const JOURNAL_DEV: u32 = 0x8;
    pub const META_BG: u32 = 0x10;
    pub const EXTENTS: u32 = 0x40;
    pub const BIT64: u32 = 0x80;
    pub const MMP: u32 = 0x100;
    pub const FLEX_BG: u32 = 0x200;
    pub const EA_INODE: u32 = 0x400;
    pub const DIRDATA: u32 = 0x1000;
    pub const CSUM_SEED: u32 = 0x2000;
    pub const LARGEDIR: u32 = 0x4000;
    pub const INLINE_DATA: u32 = 0x8000;
    /// Only encrypted inodes are refused (by their flag).
    pub const ENCRYPT: u32 = 0x10000;
    pub const CASEFOLD: u32 = 0x20000;
    pub const UNDERSTOOD: u32 =
        FILETYPE | RECOVER | EXTENTS | BIT64 | MMP | FLEX_BG | EA_INODE | CSUM_SEED | LARGEDIR | ENCRYPT | CASEFOLD;
    /// Those refused, by name.
    pub const REFUSED: [(u32, &str); 5] = [
        (COMPRESSION, "ext4: unsupported feature compression"),
        (JOURNAL_DEV, "ext4: unsupported feature journal_dev (an external journal, no files)"),
        (META_BG, "ext4: unsupported feature meta_bg"),
        (DIRDATA, "ext4: unsupported feature dirdata"),
        (INLINE_DATA, "ext4: unsupported feature inline_data"),
    ];
}

/// Inode flags (`i_flags`).
const EXTENTS_FL: u32 = 0x8_0000;
const INLINE_DATA_FL: u32 = 0x1000_0000;
const ENCRYPT_FL: u32 = 0x800;

/// The superblock, its fields this reader uses.
#[repr(C)]
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct Superblock {
    inodes_count: U32,
    blocks_count_lo: U32,
    _counts: [u8; 12],
    first_data_block: U32,
    log_block_size: U32,
    _log_cluster_size: U32,
    blocks_per_group: U32,
    _clusters_per_group: U32,
    inodes_per_group: U32,
    _times: [u8; 12],
    magic: U16,
    _state: [u8; 18],
    rev_level: U32,
    _def_resuid: U32,
    _first_ino: U32,
    inode_size: U16,
    _block_group_nr: U16,
    _feature_compat: U32,
    feature_incompat: U32,
    _feature_ro_compat: U32,
    uuid: [u8; 16],
    _volume_name: [u8; 16],
    _between: [u8; 118],
    desc_size: U16,
    _between2: [u8; 80],
    blocks_count_hi: U32,
    _rest: [u8; 684],
}
const _: () = assert!(size_of::<Superblock>() == 1024);
const _: () = assert!(offset_of!(Superblock, first_data_block) == 0x14);
const _: () = assert!(offset_of!(Superblock, inodes_per_group) == 0x28);
const _: () = assert!(offset_of!(Superblock, magic) == 0x38);
const _: () = assert!(offset_of!(Superblock, rev_level) == 0x4c);
const _: () = assert!(offset_of!(Superblock, inode_size) == 0x58);
const _: () = assert!(offset_of!(Superblock, feature_incompat) == 0x60);
const _: () = assert!(offset_of!(Superblock, uuid) == 0x68);
const _: () = assert!(offset_of!(Superblock, desc_size) == 0xfe);
const _: () = assert!(offset_of!(Superblock, blocks_count_hi) == 0x150);

/// A block group descriptor (32 bytes, or 64 and more with `64bit`), up to the inode table's
/// high half.
#[repr(C)]
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct GroupDesc {
    _bitmaps: [u8; 8],
    inode_table_lo: U32,
    _middle: [u8; 28],
    inode_table_hi: U32,
    _rest: [u8; 20],
}
const _: () = assert!(size_of::<GroupDesc>() == 64);
const _: () = assert!(offset_of!(GroupDesc, inode_table_lo) == 0x08);
const _: () = assert!(offset_of!(GroupDesc, inode_table_hi) == 0x28);

/// An inode's first 128 bytes (all of it on ext2 revision 0; later fields are not needed).
#[repr(C)]
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct RawInode {
    mode: U16,
    _uid: U16,
    size_lo: U32,
    _times: [u8; 16],
    _gid: U16,
    _links: U16,
    blocks_lo: U32,
    flags: U32,
    _osd1: U32,
    block: [u8; 60],
    _generation: U32,
    file_acl_lo: U32,
    size_high: U32,
    _faddr: U32,
    _blocks_high: U16,
    file_acl_high: U16,
    _rest: [u8; 8],
}
const _: () = assert!(size_of::<RawInode>() == 128);
const _: () = assert!(offset_of!(RawInode, flags) == 0x20);
const _: () = assert!(offset_of!(RawInode, block) == 0x28);
const _: () = assert!(offset_of!(RawInode, size_high) == 0x6c);
const _: () = assert!(offset_of!(RawInode, file_acl_high) == 0x76);

/// The header of an extent tree node (in `i_block`, or starting a block).
#[repr(C)]
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct ExtentHeader {
    magic: U16,
    entries: U16,
    max: U16,
    depth: U16,
    _generation: U32,
}
const EXTENT_MAGIC: u16 = 0xf30a;

/// An index entry: the subtree from logical block `block` on.
#[repr(C)]
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct ExtentIdx {
    block: U32,
    leaf_lo: U32,
    leaf_hi: U16,
    _unused: U16,
}

/// A leaf entry: `len` logical blocks from `block` on, at `start`.
#[repr(C)]
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct Extent {
    block: U32,
    len: U16,
    start_hi: U16,
    start_lo: U32,
}
/// Node entries, header included, are all this size.
const EXTENT_ENTRY: usize = 12;
const _: () = assert!(size_of::<ExtentHeader>() == EXTENT_ENTRY);
const _: () = assert!(size_of::<ExtentIdx>() == EXTENT_ENTRY);
const _: () = assert!(size_of::<Extent>() == EXTENT_ENTRY);
/// `ee_len` above this marks an unwritten extent (reads as zeros), `ee_len - 32768` long.
const EXTENT_INIT_MAX: u16 = 32768;

/// A directory entry's fixed part; the name follows.
#[repr(C)]
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct DirEntryHead {
    inode: U32,
    rec_len: U16,
    name_len: u8,
    file_type: u8,
}
const _: () = assert!(size_of::<DirEntryHead>() == 8);

fn corrupt(what: &'static str) -> DiskError {
    DiskError::Corrupt { what }
}

/// What an inode is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileType {
    File,
    Dir,
    Symlink,
    Other,
}

impl FileType {
    fn from_mode(mode: u16) -> FileType {
        match mode & 0xf000 {
            0x8000 => FileType::File,
            0x4000 => FileType::Dir,
            0xa000 => FileType::Symlink,
            _ => FileType::Other,
        }
    }

    /// From a directory entry's `file_type` (with the `filetype` feature).
    fn from_dirent(t: u8) -> FileType {
        match t {
            1 => FileType::File,
            2 => FileType::Dir,
            7 => FileType::Symlink,
            _ => FileType::Other,
        }
    }
}

/// An inode, as a handle to read it by.
#[derive(Clone, Copy, Debug)]
pub struct Inode {
    pub ino: u32,
    pub kind: FileType,
    /// Size in bytes.
    pub size: u64,
    flags: u32,
    /// `i_block`: extent tree root, block map, or a fast symlink's target.
    block: [u8; 60],
    /// 512-byte units allocated (to tell fast symlinks from slow ones).
    blocks_lo: u32,
    file_acl: u64,
}

/// A stretch of a file: `bytes` bytes from file offset `offset`, at disk sector `sector`
/// (the whole disk's numbering) or, for a hole or unwritten extent, zeros (`None`). Only a
/// stretch asked for from an unaligned offset starts inside its sector, at `offset % 512`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    pub offset: u64,
    pub sector: Option<u64>,
    pub bytes: u64,
}

/// A mapping of logical blocks: `count` of them from the one asked for, at physical block
/// `phys` on, or a hole.
#[derive(Clone, Copy, Debug)]
struct Map {
    phys: Option<u64>,
    count: u64,
}

/// The last sector read by one walk, so that neighbouring small reads cost one disk read.
struct Cache {
    sector: Option<u64>,
    data: [u8; SECTOR],
}

impl Cache {
    const fn new() -> Cache {
        Cache { sector: None, data: [0; SECTOR] }
    }
}

/// An open filesystem.
#[derive(Clone, Copy, Debug)]
pub struct Ext4 {
    /// First sector of the partition.
    start: u64,
    block_size: u64,
    blocks: u64,
    first_data_block: u64,
    inodes_per_group: u64,
    inodes: u64,
    inode_size: u64,
    desc_size: u64,
    groups: u64,
    incompat: u32,
    uuid: [u8; 16],
}

impl Ext4 {
    /// Opens the filesystem on the `sectors` sectors from `start`, checking its superblock.
    pub fn open<D: BlockRead>(disk: &mut D, start: u64, sectors: u64) -> Result<Ext4, DiskError> {
        let mut raw = [0u8; SUPERBLOCK as usize];
        let sb_sector = start.checked_add(SUPERBLOCK / SECTOR as u64).ok_or(corrupt("ext4: partition"))?;
        if sectors < (2 * SUPERBLOCK) / SECTOR as u64 {
            return Err(corrupt("ext4: partition too small"));
        }
        disk.read(sb_sector, &mut raw)?;
        let sb = Superblock::read_from_bytes(&raw).map_err(|_| corrupt("ext4: superblock"))?;
        if sb.magic.get() != MAGIC {
            return Err(corrupt("ext4: superblock magic"));
        }
        let log = sb.log_block_size.get();
        if log > 6 {
            return Err(corrupt("ext4: block size over 64 KiB"));
        }
        let block_size = 1024u64 << log;
        let incompat = sb.feature_incompat.get();
        for (bit, what) in incompat::REFUSED {
            if incompat & bit != 0 {
                return Err(corrupt(what));
            }
        }
        if incompat & !incompat::UNDERSTOOD != 0 {
            return Err(corrupt("ext4: unknown incompatible feature"));
        }
        let bit64 = incompat & incompat::BIT64 != 0;
        let inode_size = if sb.rev_level.get() == 0 { 128 } else { u64::from(sb.inode_size.get()) };
        if !inode_size.is_power_of_two() || inode_size < 128 || inode_size > block_size {
            return Err(corrupt("ext4: inode size"));
        }
        let desc_size = if bit64 { u64::from(sb.desc_size.get()) } else { 32 };
        if !desc_size.is_power_of_two() || !(32..=1024).contains(&desc_size) {
            return Err(corrupt("ext4: group descriptor size"));
        }
        let hi = if bit64 { u64::from(sb.blocks_count_hi.get()) } else { 0 };
        let blocks = hi << 32 | u64::from(sb.blocks_count_lo.get());
        let first_data_block = u64::from(sb.first_data_block.get());
        let blocks_per_group = u64::from(sb.blocks_per_group.get());
        let inodes_per_group = u64::from(sb.inodes_per_group.get());
        if blocks_per_group == 0 || inodes_per_group == 0 || first_data_block >= blocks {
            return Err(corrupt("ext4: group geometry"));
        }
        let groups = (blocks - first_data_block).div_ceil(blocks_per_group);
        let bytes = blocks.checked_mul(block_size).ok_or(corrupt("ext4: block count"))?;
        if bytes > sectors.saturating_mul(SECTOR as u64) {
            return Err(corrupt("ext4: filesystem larger than its partition"));
        }
        let fs = Ext4 {
            start,
            block_size,
            blocks,
            first_data_block,
            inodes_per_group,
            inodes: u64::from(sb.inodes_count.get()),
            inode_size,
            desc_size,
            groups,
            incompat,
            uuid: sb.uuid,
        };
        Ok(fs)
    }

    /// The filesystem's UUID (`root=UUID=`), as stored (big-endian, as its text reads).
    pub fn uuid(&self) -> [u8; 16] {
        self.uuid
    }

    /// Block size in bytes.
    pub fn block_size(&self) -> u64 {
        self.block_size
    }

    /// The byte offset in the partition of `block`, which must exist.
    fn block_byte(&self, block: u64) -> Result<u64, DiskError> {
        if block >= self.blocks {
            return Err(corrupt("ext4: block number outside the filesystem"));
        }
        Ok(block * self.block_size)
    }

    /// Reads `out.len()` bytes at partition byte `byte` through `cache`. Callers check that
    /// the bytes lie inside a block that exists (so inside the partition).
    // Not inlined (nor the disk's read): every structure reader calls it, and a copy in each
    // costs the ROM kilobytes.
    #[inline(never)]
    fn read_bytes<D: BlockRead>(
        &self,
        disk: &mut D,
        cache: &mut Cache,
        byte: u64,
        out: &mut [u8],
    ) -> Result<(), DiskError> {
        let mut done = 0;
        while done < out.len() {
            let at = byte + done as u64;
            let sector = self.start.checked_add(at / SECTOR as u64).ok_or(corrupt("ext4: sector"))?;
            if cache.sector != Some(sector) {
                cache.sector = None;
                disk.read(sector, &mut cache.data)?;
                cache.sector = Some(sector);
            }
            let off = (at % SECTOR as u64) as usize;
            let n = (SECTOR - off).min(out.len() - done);
            out[done..done + n].copy_from_slice(&cache.data[off..off + n]);
            done += n;
        }
        Ok(())
    }

    /// Reads a `T` at byte `off` of `block`, which must hold it whole.
    fn read_in_block<D: BlockRead, T: FromBytes + IntoBytes>(
        &self,
        disk: &mut D,
        cache: &mut Cache,
        block: u64,
        off: u64,
    ) -> Result<T, DiskError> {
        let mut t = T::new_zeroed();
        if off + size_of::<T>() as u64 > self.block_size {
            return Err(corrupt("ext4: structure crosses a block"));
        }
        self.read_bytes(disk, cache, self.block_byte(block)? + off, t.as_mut_bytes())?;
        Ok(t)
    }

    /// The inode table's first block for `group`.
    fn inode_table<D: BlockRead>(&self, disk: &mut D, group: u64) -> Result<u64, DiskError> {
        // The descriptor table follows the superblock's block.
        let byte = group * self.desc_size;
        let block = self.first_data_block + 1 + byte / self.block_size;
        let mut raw = [0u8; 64];
        let len = self.desc_size.min(64) as usize;
        let mut cache = Cache::new();
        let at = self.block_byte(block)? + byte % self.block_size;
        self.read_bytes(disk, &mut cache, at, &mut raw[..len])?;
        let d = GroupDesc::read_from_bytes(&raw).map_err(|_| corrupt("ext4: group descriptor"))?;
        let hi = if self.desc_size >= 64 && self.incompat & incompat::BIT64 != 0 { d.inode_table_hi.get() } else { 0 };
        Ok(u64::from(hi) << 32 | u64::from(d.inode_table_lo.get()))
    }

    /// Reads inode `ino`.
    pub fn inode<D: BlockRead>(&self, disk: &mut D, ino: u32) -> Result<Inode, DiskError> {
        let index = u64::from(ino).checked_sub(1).filter(|&i| i < self.inodes).ok_or(corrupt("ext4: inode number"))?;
        let group = index / self.inodes_per_group;
        if group >= self.groups {
            return Err(corrupt("ext4: inode number"));
        }
        let table = self.inode_table(disk, group)?;
        let byte = (index % self.inodes_per_group) * self.inode_size;
        let block = table.checked_add(byte / self.block_size).ok_or(corrupt("ext4: inode table"))?;
        let raw: RawInode = self.read_in_block(disk, &mut Cache::new(), block, byte % self.block_size)?;
        Ok(Inode {
            ino,
            kind: FileType::from_mode(raw.mode.get()),
            size: u64::from(raw.size_high.get()) << 32 | u64::from(raw.size_lo.get()),
            flags: raw.flags.get(),
            block: raw.block,
            blocks_lo: raw.blocks_lo.get(),
            file_acl: u64::from(raw.file_acl_high.get()) << 32 | u64::from(raw.file_acl_lo.get()),
        })
    }
}

/// Data: mapping file blocks to disk blocks.
impl Ext4 {
    /// Where logical block `lblock` of `inode` is, and how many blocks on from it are
    /// contiguous the same way (or a hole).
    fn map<D: BlockRead>(
        &self,
        disk: &mut D,
        caches: &mut [Cache; 3],
        inode: &Inode,
        lblock: u64,
    ) -> Result<Map, DiskError> {
        if inode.flags & (INLINE_DATA_FL | ENCRYPT_FL) != 0 {
            return Err(corrupt("ext4: inline or encrypted file data"));
        }
        let m = if inode.flags & EXTENTS_FL != 0 {
            self.map_extents(disk, caches, inode, lblock)?
        } else {
            self.map_blocks(disk, caches, inode, lblock)?
        };
        if let Some(p) = m.phys {
            if p.checked_add(m.count).is_none_or(|end| end > self.blocks) {
                return Err(corrupt("ext4: file data outside the filesystem"));
            }
        }
        Ok(m)
    }

    /// Extent tree walk, descending from the root in `i_block` by binary search at each
    /// level. `upper` is where the subtree being searched ends (the next sibling's start),
    /// which bounds a hole found at its end.
    fn map_extents<D: BlockRead>(
        &self,
        disk: &mut D,
        caches: &mut [Cache; 3],
        inode: &Inode,
        lblock: u64,
    ) -> Result<Map, DiskError> {
        let Ok(target) = u32::try_from(lblock) else {
            return Ok(Map { phys: None, count: u64::MAX - lblock });
        };
        let mut upper = 1u64 << 32;
        // The node being searched: None for the root (in the inode), else its block.
        let mut node: Option<u64> = None;
        let mut want_depth = None;
        for level in 0..=usize::from(MAX_EXTENT_DEPTH) {
            let cache = &mut caches[level.min(2)];
            let h: ExtentHeader = self.node_entry(disk, cache, inode, node, 0)?;
            let (entries, depth) = (h.entries.get(), h.depth.get());
            let size = node.map_or(inode.block.len() as u64, |_| self.block_size);
            if h.magic.get() != EXTENT_MAGIC
                || entries > h.max.get()
                || (u64::from(h.max.get()) + 1) * EXTENT_ENTRY as u64 > size
                || depth > MAX_EXTENT_DEPTH
                || want_depth.is_some_and(|d| d != depth)
            {
                return Err(corrupt("ext4: extent tree node"));
            }
            // The last entry starting at or before the target, and where the next one starts.
            let starts = |fs: &Self, disk: &mut D, cache: &mut Cache, i: u16| -> Result<u32, DiskError> {
                let e: ExtentIdx = fs.node_entry(disk, cache, inode, node, i)?;
                Ok(e.block.get())
            };
            let (mut lo, mut hi) = (0u16, entries);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if starts(self, disk, cache, mid + 1)? <= target {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            // lo = entries starting at or before the target.
            let next_start = if lo < entries { u64::from(starts(self, disk, cache, lo + 1)?) } else { upper };
            let hole_to = next_start.min(upper);
            if lo == 0 {
                return Ok(Map { phys: None, count: hole_to.saturating_sub(lblock).max(1) });
            }
            if depth == 0 {
                let e: Extent = self.node_entry(disk, cache, inode, node, lo)?;
                let len = e.len.get();
                let (len, unwritten) = if len > EXTENT_INIT_MAX { (len - EXTENT_INIT_MAX, true) } else { (len, false) };
                let end = u64::from(e.block.get()) + u64::from(len);
                if lblock >= end {
                    return Ok(Map { phys: None, count: hole_to.saturating_sub(lblock).max(1) });
                }
                let count = end - lblock;
                if unwritten {
                    return Ok(Map { phys: None, count });
                }
                let start = u64::from(e.start_hi.get()) << 32 | u64::from(e.start_lo.get());
                let phys = start + (lblock - u64::from(e.block.get()));
                return Ok(Map { phys: Some(phys), count });
            }
            let e: ExtentIdx = self.node_entry(disk, cache, inode, node, lo)?;
            upper = hole_to;
            let child = u64::from(e.leaf_hi.get()) << 32 | u64::from(e.leaf_lo.get());
            self.block_byte(child)?;
            node = Some(child);
            want_depth = Some(depth - 1);
        }
        Err(corrupt("ext4: extent tree too deep"))
    }

    /// Entry `i` of an extent node (0 the header, 1.. the entries) in block `node`, or in the
    /// inode's `i_block` for the root.
    fn node_entry<D: BlockRead, T: FromBytes + IntoBytes>(
        &self,
        disk: &mut D,
        cache: &mut Cache,
        inode: &Inode,
        node: Option<u64>,
        i: u16,
    ) -> Result<T, DiskError> {
        let off = usize::from(i) * EXTENT_ENTRY;
        match node {
            None => {
                let raw = inode.block.get(off..off + EXTENT_ENTRY).ok_or(corrupt("ext4: extent tree root"))?;
                T::read_from_bytes(raw).map_err(|_| corrupt("ext4: extent tree root"))
            }
            Some(block) => self.read_in_block(disk, cache, block, off as u64),
        }
    }

    /// Classic block map: 12 direct pointers, then single, double and triple indirect blocks
    /// of 32-bit pointers. A zero pointer is a hole as large as what it would point to.
    fn map_blocks<D: BlockRead>(
        &self,
        disk: &mut D,
        caches: &mut [Cache; 3],
        inode: &Inode,
        lblock: u64,
    ) -> Result<Map, DiskError> {
        let ptr_at = |i: usize| {
            u64::from(u32::from_le_bytes([
                inode.block[4 * i],
                inode.block[4 * i + 1],
                inode.block[4 * i + 2],
                inode.block[4 * i + 3],
            ]))
        };
        if lblock < 12 {
            let p = ptr_at(lblock as usize);
            return Ok(if p == 0 { Map { phys: None, count: 1 } } else { Map { phys: Some(p), count: 1 } });
        }
        let per = self.block_size / 4;
        let mut rel = lblock - 12;
        let mut span = per;
        let mut levels = 1;
        while rel >= span {
            rel -= span;
            levels += 1;
            if levels > 3 {
                // Past what a block map reaches: a hole to the end.
                return Ok(Map { phys: None, count: u64::MAX - lblock });
            }
            span *= per;
        }
        let mut ptr = ptr_at(11 + levels);
        for cache in caches.iter_mut().take(levels) {
            if ptr == 0 {
                return Ok(Map { phys: None, count: span - rel % span });
            }
            span /= per;
            let index = (rel / span) % per;
            let p: U32 = self.read_in_block(disk, cache, ptr, index * 4)?;
            ptr = u64::from(p.get());
        }
        Ok(if ptr == 0 { Map { phys: None, count: 1 } } else { Map { phys: Some(ptr), count: 1 } })
    }

    /// The file's data as [`Run`]s from byte `offset` on.
    pub fn runs(&self, inode: &Inode, offset: u64) -> Runs<'_> {
        Runs { fs: self, inode: *inode, pos: offset, caches: [Cache::new(), Cache::new(), Cache::new()] }
    }

    /// Reads `inode`'s bytes from `offset` into `buf`, whole sectors straight into it where
    /// they line up; returns how many (fewer than `buf` holds only at the end of the file).
    pub fn read<D: BlockRead>(
        &self,
        disk: &mut D,
        inode: &Inode,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize, DiskError> {
        let want = inode.size.saturating_sub(offset).min(buf.len() as u64) as usize;
        let mut runs = self.runs(inode, offset);
        let mut done = 0;
        while done < want {
            let run = runs.next(disk)?.ok_or(corrupt("ext4: file ends early"))?;
            let n = (want - done).min(usize::try_from(run.bytes).unwrap_or(usize::MAX));
            let out = &mut buf[done..done + n];
            match run.sector {
                None => out.fill(0),
                Some(sector) => super::read_bytes(disk, sector, run.offset % SECTOR as u64, out)?,
            }
            done += n;
        }
        Ok(done)
    }

    /// Reads the whole of a small file (a configuration) into `buf`, returning its bytes.
    pub fn read_all<'b, D: BlockRead>(
        &self,
        disk: &mut D,
        inode: &Inode,
        buf: &'b mut [u8],
    ) -> Result<&'b [u8], DiskError> {
        if inode.size > buf.len() as u64 {
            return Err(DiskError::TooLarge { what: "file" });
        }
        let n = self.read(disk, inode, 0, buf)?;
        Ok(&buf[..n])
    }
}

/// A walk over a file's data, a [`Run`] at a time (see [`Ext4::runs`]).
pub struct Runs<'a> {
    fs: &'a Ext4,
    inode: Inode,
    pos: u64,
    caches: [Cache; 3],
}

impl Runs<'_> {
    /// The next run, as long as the file stays contiguous on disk (or a hole), or `None` at
    /// the end of the file.
    pub fn next<D: BlockRead>(&mut self, disk: &mut D) -> Result<Option<Run>, DiskError> {
        let (fs, size, bs) = (self.fs, self.inode.size, self.fs.block_size);
        if self.pos >= size {
            return Ok(None);
        }
        let first = self.pos / bs;
        let m = fs.map(disk, &mut self.caches, &self.inode, first)?;
        let mut blocks = m.count;
        for _ in 0..MAX_RUN_STEPS {
            let next = first.saturating_add(blocks);
            if next.saturating_mul(bs) >= size {
                break;
            }
            let n = fs.map(disk, &mut self.caches, &self.inode, next)?;
            let contiguous = match (m.phys, n.phys) {
                (None, None) => true,
                (Some(a), Some(b)) => a.checked_add(blocks) == Some(b),
                _ => false,
            };
            if !contiguous {
                break;
            }
            blocks = blocks.saturating_add(n.count);
        }
        let within = self.pos % bs;
        let end = first.saturating_add(blocks).saturating_mul(bs).min(size);
        let run = Run {
            offset: self.pos,
            sector: m.phys.map(|p| fs.start.saturating_add((p * bs + within) / SECTOR as u64)),
            bytes: end - self.pos,
        };
        self.pos = end;
        Ok(Some(run))
    }
}

/// A directory entry.
#[derive(Clone, Copy)]
pub struct DirEntry {
    pub ino: u32,
    /// From the entry (`filetype` feature), else [`FileType::Other`]: read the inode to know.
    pub kind: FileType,
    name: [u8; 255],
    len: u8,
}

impl DirEntry {
    pub fn name(&self) -> &[u8] {
        &self.name[..usize::from(self.len)]
    }
}

impl core::fmt::Debug for DirEntry {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} {:?} {:?}", self.ino, self.kind, core::str::from_utf8(self.name()))
    }
}

/// A walk over a directory's entries, in the order they are stored (see [`Ext4::dir`]).
pub struct Dir<'a> {
    fs: &'a Ext4,
    inode: Inode,
    pos: u64,
    /// The block under `pos` and its partition byte offset (None: a hole).
    block: Option<(u64, Option<u64>)>,
    caches: [Cache; 3],
    cache: Cache,
}

impl Ext4 {
    /// The entries of directory `inode`.
    pub fn dir(&self, inode: &Inode) -> Result<Dir<'_>, DiskError> {
        if inode.kind != FileType::Dir {
            return Err(DiskError::NotFound);
        }
        if inode.size > MAX_DIR_BYTES {
            return Err(DiskError::TooLarge { what: "ext4 directory" });
        }
        let caches = [Cache::new(), Cache::new(), Cache::new()];
        Ok(Dir { fs: self, inode: *inode, pos: 0, block: None, caches, cache: Cache::new() })
    }

    /// The inode number `name` has in directory `dir`.
    fn find<D: BlockRead>(&self, disk: &mut D, dir: &Inode, name: &[u8]) -> Result<u32, DiskError> {
        let mut entries = self.dir(dir)?;
        while let Some(e) = entries.next(disk)? {
            if e.name() == name {
                return Ok(e.ino);
            }
        }
        Err(DiskError::NotFound)
    }
}

impl Dir<'_> {
    /// The next entry in use, or `None` at the end of the directory.
    pub fn next<D: BlockRead>(&mut self, disk: &mut D) -> Result<Option<DirEntry>, DiskError> {
        let (fs, bs) = (self.fs, self.fs.block_size);
        // Each turn moves `pos` on by at least one 12-byte entry or one hole.
        while self.pos < self.inode.size {
            let lblock = self.pos / bs;
            let at = match self.block {
                Some((b, at)) if b == lblock => at,
                _ => {
                    let m = fs.map(disk, &mut self.caches, &self.inode, lblock)?;
                    let at = m.phys.map(|p| p * bs);
                    self.block = Some((lblock, at));
                    if at.is_none() {
                        self.pos = lblock.saturating_add(m.count).saturating_mul(bs);
                        continue;
                    }
                    at
                }
            };
            let Some(base) = at else {
                self.pos = (lblock + 1).saturating_mul(bs);
                continue;
            };
            let off = self.pos % bs;
            let mut head = DirEntryHead::new_zeroed();
            if off + 8 > bs {
                return Err(corrupt("ext4: directory entry crosses a block"));
            }
            fs.read_bytes(disk, &mut self.cache, base + off, head.as_mut_bytes())?;
            let rec_len = match u64::from(head.rec_len.get()) {
                // 64 KiB blocks store an entry spanning the block as 0 or 65535.
                0 | 65535 if bs == 65536 => 65536,
                n => n,
            };
            let name_len = usize::from(head.name_len);
            if rec_len < 12 || rec_len % 4 != 0 || off + rec_len > bs || (8 + name_len) as u64 > rec_len {
                return Err(corrupt("ext4: directory entry length"));
            }
            self.pos += rec_len;
            let ino = head.inode.get();
            // Unused, or (damaged) nameless: nothing a path can name.
            if ino == 0 || name_len == 0 {
                continue;
            }
            let mut e = DirEntry { ino, kind: FileType::Other, name: [0; 255], len: head.name_len };
            if fs.incompat & incompat::FILETYPE != 0 {
                e.kind = FileType::from_dirent(head.file_type);
            }
            fs.read_bytes(disk, &mut self.cache, base + off + 8, &mut e.name[..name_len])?;
            return Ok(Some(e));
        }
        Ok(None)
    }
}

/// Paths.
impl Ext4 {
    /// Looks `path` up from the root directory (leading slashes or not), following symlinks
    /// on the way and at the end: relative ones from the directory holding them, absolute
    /// ones from the root. Neither `.` nor `..` are special: every directory has them.
    pub fn lookup<D: BlockRead>(&self, disk: &mut D, path: &[u8]) -> Result<Inode, DiskError> {
        // What is left to walk sits at the end of `buf`, from `rest` on; a symlink's target
        // goes in front of it.
        let mut buf = [0u8; MAX_PATH];
        let mut rest = MAX_PATH.checked_sub(path.len()).ok_or(DiskError::TooLarge { what: "path" })?;
        buf[rest..].copy_from_slice(path);
        let root = self.inode(disk, ROOT)?;
        let mut cur = root;
        let (mut symlinks, mut components) = (0, 0);
        loop {
            while buf.get(rest) == Some(&b'/') {
                rest += 1;
            }
            if rest == MAX_PATH {
                return Ok(cur);
            }
            let end = buf[rest..].iter().position(|&c| c == b'/').map_or(MAX_PATH, |i| rest + i);
            components += 1;
            if components > MAX_COMPONENTS {
                return Err(DiskError::TooLarge { what: "path components" });
            }
            let ino = self.find(disk, &cur, &buf[rest..end])?;
            rest = end;
            let child = self.inode(disk, ino)?;
            if child.kind != FileType::Symlink {
                cur = child;
                continue;
            }
            symlinks += 1;
            if symlinks > MAX_SYMLINKS {
                return Err(corrupt("ext4: too many levels of symbolic links"));
            }
            let len = usize::try_from(child.size).ok().filter(|&l| l > 0).ok_or(DiskError::NotFound)?;
            let start =
                len.checked_add(1).and_then(|l| rest.checked_sub(l)).ok_or(DiskError::TooLarge { what: "path" })?;
            self.symlink_target(disk, &child, &mut buf[start..start + len])?;
            buf[start + len] = b'/';
            rest = start;
            if buf[start] == b'/' {
                cur = root;
            }
        }
    }

    /// Reads symlink `link`'s target into `out` (as long as its size): from `i_block` for a
    /// fast symlink, else from its data.
    fn symlink_target<D: BlockRead>(&self, disk: &mut D, link: &Inode, out: &mut [u8]) -> Result<(), DiskError> {
        // A fast symlink has no blocks of its own (an extended attribute block aside).
        let xattr = if link.file_acl != 0 { self.block_size / 512 } else { 0 };
        let fast = link.flags & EXTENTS_FL == 0 && u64::from(link.blocks_lo) == xattr;
        if fast {
            let target = link.block.get(..out.len()).ok_or(corrupt("ext4: fast symlink length"))?;
            out.copy_from_slice(target);
            return Ok(());
        }
        if out.len() as u64 > self.block_size {
            return Err(corrupt("ext4: symlink length"));
        }
        if self.read(disk, link, 0, out)? != out.len() {
            return Err(corrupt("ext4: symlink length"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::partition::Table;
    use crate::disk::testimg::image;
    use std::collections::BTreeSet;
    use std::string::String;
    use std::vec::Vec;
    use std::{format, vec};

    /// The contents make.sh's `gen` writes: 512-byte pieces, each starting with
    /// `seed << 32 | index` and filled with `7 * index + seed`.
    fn content(seed: u64, len: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for k in 0..len.div_ceil(512) as u64 {
            out.extend_from_slice(&(seed << 32 | k).to_le_bytes());
            out.extend(std::iter::repeat_n((7 * k + seed) as u8, 504));
        }
        out.truncate(len);
        out
    }

    /// The filesystem on partition `number` of `img` (0: the whole disk).
    fn open(img: &[u8], number: u32) -> Ext4 {
        let mut disk = img;
        let table = Table::read(&mut disk).unwrap();
        let p = table.partitions(&mut disk).map(Result::unwrap).find(|p| p.number == number).unwrap();
        Ext4::open(&mut disk, p.start, p.sectors).unwrap()
    }

    fn read_path(fs: &Ext4, mut disk: &[u8], path: &str) -> Vec<u8> {
        let inode = fs.lookup(&mut disk, path.as_bytes()).unwrap();
        let mut buf = vec![0u8; inode.size as usize];
        assert_eq!(fs.read(&mut disk, &inode, 0, &mut buf).unwrap(), buf.len());
        buf
    }

    fn lookup_err(fs: &Ext4, mut disk: &[u8], path: &str) -> DiskError {
        fs.lookup(&mut disk, path.as_bytes()).unwrap_err()
    }

    #[test]
    fn ext4_files_and_symlinks() {
        let img = image("gpt-ext4.img");
        let fs = open(&img, 2);
        let d = img.as_slice();
        assert_eq!(fs.block_size(), 4096);
        assert_eq!(read_path(&fs, d, "/boot/vmlinuz-6.1.0-test"), content(1, 5000));
        assert_eq!(read_path(&fs, d, "boot/initrd.img-6.1.0-test"), content(2, 300000));
        // Relative, absolute, `..`-climbing and slow (target in a block) symlinks.
        assert_eq!(read_path(&fs, d, "/vmlinuz"), content(1, 5000));
        assert_eq!(read_path(&fs, d, "/initrd.img"), content(2, 300000));
        let entry = b"title Test\nlinux /boot/vmlinuz-6.1.0-test\n";
        assert_eq!(read_path(&fs, d, "/dir/sub/up"), entry);
        assert_eq!(read_path(&fs, d, "//dir/./sub/../sub/up"), entry);
        let mut disk = d;
        let root = fs.inode(&mut disk, ROOT).unwrap();
        let ino = fs.find(&mut disk, &root, b"long-link").unwrap();
        let long = fs.inode(&mut disk, ino).unwrap();
        assert!(long.kind == FileType::Symlink && long.size > 60 && long.blocks_lo > 0);
        assert_eq!(read_path(&fs, d, "/long-link"), b"long target\n");
        // read_all, and its bound.
        let mut buf = [0u8; 64];
        let conf = fs.lookup(&mut disk, b"/etc/entry.conf").unwrap();
        assert_eq!(fs.read_all(&mut disk, &conf, &mut buf).unwrap(), entry);
        assert_eq!(fs.read_all(&mut disk, &conf, &mut buf[..10]), Err(DiskError::TooLarge { what: "file" }));
        // Missing and looping paths.
        assert_eq!(lookup_err(&fs, d, "/boot/nope"), DiskError::NotFound);
        assert_eq!(lookup_err(&fs, d, "/vmlinuz/x"), DiskError::NotFound);
        assert_eq!(lookup_err(&fs, d, "/loop-a"), corrupt("ext4: too many levels of symbolic links"));
        let deep = "/dir".repeat(300);
        assert_eq!(lookup_err(&fs, d, &deep), DiskError::TooLarge { what: "path" });
        let many = "./".repeat(300);
        assert_eq!(lookup_err(&fs, d, &many), DiskError::TooLarge { what: "path components" });
    }

    #[test]
    fn ext4_reads_at_offsets_and_runs() {
        let img = image("gpt-ext4.img");
        let fs = open(&img, 2);
        let mut disk = img.as_slice();
        let want = content(2, 300000);
        let initrd = fs.lookup(&mut disk, b"/boot/initrd.img-6.1.0-test").unwrap();
        for (offset, len) in [(0, 300000), (7, 1000), (511, 2), (4095, 8193), (299990, 100), (300000, 5)] {
            let mut buf = vec![0xffu8; len];
            let n = fs.read(&mut disk, &initrd, offset as u64, &mut buf).unwrap();
            let end = (offset + len).min(300000);
            assert_eq!(n, end - offset);
            assert_eq!(buf[..n], want[offset..end], "offset {offset} len {len}");
        }
        // The runs cover the file; read from the disk directly, they give its bytes.
        let mut runs = fs.runs(&initrd, 0);
        let mut got = Vec::new();
        while let Some(run) = runs.next(&mut disk).unwrap() {
            assert_eq!(run.offset, got.len() as u64);
            let at = run.sector.unwrap() as usize * SECTOR;
            got.extend_from_slice(&img[at..at + run.bytes as usize]);
        }
        assert_eq!(got, want);
    }

    #[test]
    fn ext4_holes_and_extent_index() {
        let img = image("gpt-ext4.img");
        let fs = open(&img, 2);
        let d = img.as_slice();
        let mut want = b"head".repeat(1024);
        want.resize(4096 + (1 << 20), 0);
        want.extend_from_slice(&b"tail".repeat(1024));
        assert_eq!(read_path(&fs, d, "/hole.bin"), want);
        let mut disk = d;
        let hole = fs.lookup(&mut disk, b"/hole.bin").unwrap();
        let mut runs = fs.runs(&hole, 0);
        let mut kinds = Vec::new();
        while let Some(run) = runs.next(&mut disk).unwrap() {
            kinds.push((run.sector.is_some(), run.bytes));
        }
        assert_eq!(kinds, [(true, 4096), (false, 1 << 20), (true, 4096)]);
        // Six extents between holes: more than the inode holds, so behind an index node.
        let ext = fs.lookup(&mut disk, b"/extents.bin").unwrap();
        let root = ExtentHeader::read_from_prefix(&ext.block).unwrap().0;
        assert_eq!(root.depth.get(), 1);
        let data = content(3, 6 * 8192);
        let mut want = Vec::new();
        for chunk in data.chunks(8192) {
            want.resize(want.len() + 12288, 0);
            want.extend_from_slice(chunk);
        }
        assert_eq!(read_path(&fs, d, "/extents.bin"), want);
    }

    fn names(fs: &Ext4, mut disk: &[u8], path: &str) -> BTreeSet<String> {
        let dir = fs.lookup(&mut disk, path.as_bytes()).unwrap();
        let mut it = fs.dir(&dir).unwrap();
        let mut out = BTreeSet::new();
        while let Some(e) = it.next(&mut disk).unwrap() {
            assert!(out.insert(String::from_utf8(e.name().to_vec()).unwrap()));
        }
        out
    }

    #[test]
    fn ext4_directories() {
        let img = image("gpt-ext4.img");
        let fs = open(&img, 2);
        let d = img.as_slice();
        let mut disk = d;
        let many = fs.lookup(&mut disk, b"/many").unwrap();
        const INDEX_FL: u32 = 0x1000;
        assert!(many.flags & INDEX_FL != 0 && many.size > fs.block_size(), "not a hashed directory");
        let mut want: BTreeSet<String> = (1..=150).map(|i| format!("a-rather-long-file-name-{i}.txt")).collect();
        want.extend([".".into(), "..".into()]);
        assert_eq!(names(&fs, d, "/many"), want);
        assert_eq!(read_path(&fs, d, "/many/a-rather-long-file-name-150.txt"), b"150\n");
        let boot: Vec<String> = names(&fs, d, "/boot").into_iter().collect();
        assert_eq!(boot, [".", "..", "initrd.img-6.1.0-test", "vmlinuz-6.1.0-test"]);
        let file = fs.lookup(&mut disk, b"/vmlinuz").unwrap();
        assert!(fs.dir(&file).is_err());
    }

    #[test]
    fn ext2_block_maps() {
        for (name, number) in [("ext2.img", 0), ("mbr-ext2.img", 1)] {
            let img = image(name);
            let fs = open(&img, number);
            let d = img.as_slice();
            assert_eq!(fs.block_size(), 1024);
            // 391 blocks: direct, indirect and double-indirect ones.
            assert_eq!(read_path(&fs, d, "/big.bin"), content(4, 400000));
            assert_eq!(read_path(&fs, d, "/link"), content(4, 400000));
            assert_eq!(read_path(&fs, d, "/small.txt"), content(5, 100));
            // An inode in the second block group.
            let mut disk = d;
            let deep = fs.lookup(&mut disk, b"/sub/deep.txt").unwrap();
            assert!(u64::from(deep.ino) > fs.inodes_per_group);
            assert_eq!(read_path(&fs, d, "/sub/deep.txt"), content(6, 3000));
            let big = fs.lookup(&mut disk, b"big.bin").unwrap();
            let mut buf = vec![0u8; 5000];
            fs.read(&mut disk, &big, 268 * 1024 - 100, &mut buf).unwrap();
            assert_eq!(buf, content(4, 400000)[268 * 1024 - 100..][..5000]);
        }
    }

    /// The partition byte offset of inode `ino`.
    fn inode_byte(fs: &Ext4, mut disk: &[u8], ino: u32) -> usize {
        let index = u64::from(ino) - 1;
        let table = fs.inode_table(&mut disk, index / fs.inodes_per_group).unwrap();
        (table * fs.block_size + (index % fs.inodes_per_group) * fs.inode_size) as usize
    }

    #[test]
    fn damaged() {
        let img = image("gpt-ext4.img");
        let fs = open(&img, 2);
        let part = (fs.start as usize) * SECTOR;
        let sectors = 16384;
        let reopen = |img: &[u8]| Ext4::open(&mut &img[..], fs.start, sectors);
        // Bad magic; a feature not understood; a filesystem larger than its partition.
        let mut bad = img.clone();
        bad[part + 1024 + 0x38] = 0;
        assert_eq!(reopen(&bad).unwrap_err(), corrupt("ext4: superblock magic"));
        let mut bad = img.clone();
        bad[part + 1024 + 0x60] |= 0x10;
        assert_eq!(reopen(&bad).unwrap_err(), corrupt("ext4: unsupported feature meta_bg"));
        let mut bad = img.clone();
        bad[part + 1024 + 0x62] |= 0x80;
        assert_eq!(reopen(&bad).unwrap_err(), corrupt("ext4: unknown incompatible feature"));
        assert_eq!(
            Ext4::open(&mut &img[..], fs.start, 100).unwrap_err(),
            corrupt("ext4: filesystem larger than its partition")
        );

        let mut disk = img.as_slice();
        let ino = fs.lookup(&mut disk, b"/boot/vmlinuz-6.1.0-test").unwrap().ino;
        let at = part + inode_byte(&fs, &img, ino) + 0x28;
        // An extent pointing outside the disk.
        let mut bad = img.clone();
        bad[at + 12 + 8..at + 12 + 12].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
        let fs2 = reopen(&bad).unwrap();
        let mut buf = [0u8; 64];
        let node = fs2.lookup(&mut &bad[..], b"/vmlinuz").unwrap();
        assert_eq!(fs2.read(&mut &bad[..], &node, 0, &mut buf), Err(corrupt("ext4: file data outside the filesystem")));
        // A damaged extent header.
        let mut bad = img.clone();
        bad[at] = 0;
        let node = fs2.lookup(&mut &bad[..], b"/vmlinuz").unwrap();
        assert_eq!(fs2.read(&mut &bad[..], &node, 0, &mut buf), Err(corrupt("ext4: extent tree node")));

        // An index node whose entry points back at itself (a loop): the depth does not drop.
        let ext = fs.lookup(&mut disk, b"/extents.bin").unwrap();
        let idx = ExtentIdx::read_from_prefix(&ext.block[12..]).unwrap().0;
        let leaf = part + (u64::from(idx.leaf_lo.get()) * fs.block_size) as usize;
        let mut bad = img.clone();
        bad[leaf + 6..leaf + 8].copy_from_slice(&1u16.to_le_bytes());
        bad[leaf + 12..leaf + 16].copy_from_slice(&0u32.to_le_bytes());
        bad[leaf + 16..leaf + 20].copy_from_slice(&idx.leaf_lo.get().to_le_bytes());
        let mut buf = vec![0u8; 100_000];
        assert_eq!(fs.read(&mut &bad[..], &ext, 0, &mut buf), Err(corrupt("ext4: extent tree node")));

        // A directory entry of length 0.
        let root = fs.inode(&mut disk, ROOT).unwrap();
        let first = fs.runs(&root, 0).next(&mut disk).unwrap().unwrap().sector.unwrap() as usize * SECTOR;
        let mut bad = img.clone();
        bad[first + 4..first + 6].fill(0);
        assert_eq!(lookup_err(&fs, &bad, "/boot"), corrupt("ext4: directory entry length"));
        // An inode number beyond the filesystem's.
        let mut bad = img.clone();
        bad[first..first + 4].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
        bad[first + 8] = b'x';
        assert_eq!(lookup_err(&fs, &bad, "/x"), corrupt("ext4: inode number"));
    }
}
