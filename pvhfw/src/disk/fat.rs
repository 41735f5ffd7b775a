//! Read-only FAT12, FAT16 and FAT32, as Microsoft's "FAT: General Overview of On-Disk Format"
//! describes them: the EFI system partition and `/boot` partitions that hold boot entries.
//!
//! A volume is [`Fat::open`]ed on a [`BlockRead`] at the disk sector where it starts. A path
//! [`Fat::lookup`] gives a [`File`]; a small file is read wholly with [`Fat::read_file`], a
//! large one streamed through its [`Runs`] of contiguous sectors, and a directory's names come
//! from [`Fat::list`]. Every walk is bounded: a cluster chain longer than the volume has
//! clusters (the only way a chain can revisit a cluster) is [`DiskError::Corrupt`].

use super::{BlockRead, DiskError, SECTOR};
use zerocopy::little_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

/// The BIOS parameter block that starts every FAT volume's first sector (the spec's `BPB_*`
/// fields after `BS_jmpBoot` and `BS_OEMName`).
#[repr(C)]
#[derive(FromBytes, Immutable, KnownLayout, Unaligned)]
struct Bpb {
    jmp_boot: [u8; 3],
    oem_name: [u8; 8],
    bytes_per_sec: U16,
    sec_per_clus: u8,
    rsvd_sec_cnt: U16,
    num_fats: u8,
    root_ent_cnt: U16,
    tot_sec16: U16,
    media: u8,
    fat_sz16: U16,
    sec_per_trk: U16,
    num_heads: U16,
    hidd_sec: U32,
    tot_sec32: U32,
}
const _: () = assert!(size_of::<Bpb>() == 36);

/// The FAT32 part of the BPB, right after [`Bpb`].
#[repr(C)]
#[derive(FromBytes, Immutable, KnownLayout, Unaligned)]
struct Bpb32 {
    fat_sz32: U32,
    ext_flags: U16,
    fs_ver: U16,
    root_clus: U32,
    fs_info: U16,
    bk_boot_sec: U16,
    reserved: [u8; 12],
    drv_num: u8,
    reserved1: u8,
    boot_sig: u8,
    vol_id: U32,
    vol_lab: [u8; 11],
    fil_sys_type: [u8; 8],
}
const _: () = assert!(size_of::<Bpb32>() == 54);

/// A 32-byte directory entry (`DIR_*`).
#[repr(C)]
#[derive(FromBytes, Immutable, KnownLayout, Unaligned)]
struct DirEntry {
    name: [u8; 11],
    attr: u8,
    nt_res: u8,
    crt_time_tenth: u8,
    crt_time: U16,
    crt_date: U16,
    lst_acc_date: U16,
    fst_clus_hi: U16,
    wrt_time: U16,
    wrt_date: U16,
    fst_clus_lo: U16,
    file_size: U32,
}
const _: () = assert!(size_of::<DirEntry>() == DIR_ENTRY);

/// A long-name (VFAT) directory entry (`LDIR_*`): 13 UCS-2 characters of the name.
#[repr(C)]
#[derive(FromBytes, Immutable, KnownLayout, Unaligned)]
struct LongEntry {
    ord: u8,
    name1: [U16; 5],
    attr: u8,
    kind: u8,
    chksum: u8,
    name2: [U16; 6],
    fst_clus_lo: U16,
    name3: [U16; 2],
}
const _: () = assert!(size_of::<LongEntry>() == DIR_ENTRY);

const DIR_ENTRY: usize = 32;
const ATTR_VOLUME_ID: u8 = 0x08;
const ATTR_DIRECTORY: u8 = 0x10;
const ATTR_LONG_NAME: u8 = 0x0f;
const ATTR_LONG_NAME_MASK: u8 = 0x3f;
/// `LDIR_Ord` of the last (first stored) long-name entry.
const LAST_LONG_ENTRY: u8 = 0x40;
/// `DIR_NTRes` bits Windows NT and Linux set for an all-lower-case base name or extension.
const NT_LOWER_BASE: u8 = 0x08;
const NT_LOWER_EXT: u8 = 0x10;
/// Characters in a long name: at most 20 entries of 13.
const LONG_NAME_UNITS: usize = 20 * 13;
/// Disk sectors the FAT cache and directory reads fetch at once.
const WINDOW: usize = 8;

/// The FAT variant, decided by the count of data clusters as the spec says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Fat12,
    Fat16,
    Fat32,
}

/// A FAT volume's geometry, all in disk sectors ([`SECTOR`] bytes).
#[derive(Clone, Copy, Debug)]
pub struct Fat {
    kind: Kind,
    /// Disk sectors in a cluster.
    cluster_sectors: u64,
    /// The first disk sector of the active FAT, and its size in bytes.
    fat: u64,
    fat_bytes: u64,
    /// FAT12/16: the fixed root directory's first disk sector and its size in bytes.
    root_sector: u64,
    root_bytes: u64,
    /// FAT32: the root directory's first cluster.
    root_cluster: u32,
    /// The disk sector of cluster 2, the first data cluster.
    data: u64,
    /// Data clusters: valid cluster numbers are `2..clusters + 2`.
    clusters: u32,
}

/// A file or directory found by [`Fat::lookup`] or [`Fat::list`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct File {
    /// Bytes in a file (0 for a directory).
    pub size: u32,
    pub dir: bool,
    /// The first cluster; 0 for an empty file and for the fixed root directory of FAT12/16.
    first: u32,
}

/// A stretch of a file on consecutive disk sectors: `bytes` of it start at disk sector
/// `sector`. The last run of a file may end inside a sector; reading that whole sector is safe
/// (it lies within the file's cluster).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    pub sector: u64,
    pub bytes: u64,
}

fn corrupt(what: &'static str) -> DiskError {
    DiskError::Corrupt { what }
}

impl Fat {
    /// Reads and checks the BPB of the volume that starts at disk sector `start`.
    pub fn open<B: BlockRead>(disk: &mut B, start: u64) -> Result<Fat, DiskError> {
        let mut sector = [0u8; SECTOR];
        disk.read(start, &mut sector)?;
        if sector[510..] != [0x55, 0xaa] {
            return Err(corrupt("FAT boot sector signature"));
        }
        let (bpb, rest) = Bpb::ref_from_prefix(&sector).map_err(|_| corrupt("FAT BPB"))?;
        let (bpb32, _) = Bpb32::ref_from_prefix(rest).map_err(|_| corrupt("FAT BPB"))?;
        let fat = Self::geometry(bpb, bpb32, start)?;
        let end = fat.data.checked_add(u64::from(fat.clusters) * fat.cluster_sectors);
        if end.is_none_or(|end| end > disk.sectors()) {
            return Err(corrupt("FAT volume larger than its disk"));
        }
        Ok(fat)
    }

    fn geometry(bpb: &Bpb, bpb32: &Bpb32, start: u64) -> Result<Fat, DiskError> {
        let bytes_per_sec = bpb.bytes_per_sec.get();
        let spc = bpb.sec_per_clus;
        if !matches!(bpb.jmp_boot[0], 0xeb | 0xe9)
            || !matches!(bytes_per_sec, 512 | 1024 | 2048 | 4096)
            || !spc.is_power_of_two()
            || bpb.rsvd_sec_cnt.get() == 0
            || bpb.num_fats == 0
            || !matches!(bpb.media, 0xf0 | 0xf8..=0xff)
        {
            return Err(corrupt("FAT BPB"));
        }
        let per = u64::from(bytes_per_sec) / SECTOR as u64;
        let fat_sz = match bpb.fat_sz16.get() {
            0 => bpb32.fat_sz32.get(),
            n => u32::from(n),
        };
        let tot_sec = match bpb.tot_sec16.get() {
            0 => bpb.tot_sec32.get(),
            n => u32::from(n),
        };
        let root_entries = u64::from(bpb.root_ent_cnt.get());
        let root_secs = (root_entries * DIR_ENTRY as u64).div_ceil(u64::from(bytes_per_sec));
        let fat_secs = u64::from(bpb.num_fats) * u64::from(fat_sz);
        let meta = u64::from(bpb.rsvd_sec_cnt.get()) + fat_secs + root_secs;
        let data_secs = u64::from(tot_sec).checked_sub(meta).filter(|&d| d > 0 && fat_sz > 0);
        let clusters = data_secs.ok_or(corrupt("FAT BPB sizes"))? / u64::from(spc);
        let kind = match clusters {
            0 => return Err(corrupt("FAT BPB sizes")),
            1..4085 => Kind::Fat12,
            4085..65525 => Kind::Fat16,
            // The upper 4 bits of a FAT32 entry are reserved; 0x0ffffff7 marks a bad cluster.
            65525..=0x0fff_fff5 => Kind::Fat32,
            _ => return Err(corrupt("FAT BPB sizes")),
        };
        let clusters = clusters as u32;
        let entry_bits: u64 = match kind {
            Kind::Fat12 => 12,
            Kind::Fat16 => 16,
            Kind::Fat32 => 32,
        };
        let fat_bytes = u64::from(fat_sz) * u64::from(bytes_per_sec);
        if fat_bytes * 8 < (u64::from(clusters) + 2) * entry_bits {
            return Err(corrupt("FAT smaller than its volume's clusters"));
        }
        let is32 = kind == Kind::Fat32;
        if is32 != (root_entries == 0) || (is32 && bpb.fat_sz16.get() != 0) {
            return Err(corrupt("FAT BPB root directory"));
        }
        let root_cluster = if is32 { bpb32.root_clus.get() } else { 0 };
        if is32 && !(2..u64::from(clusters) + 2).contains(&u64::from(root_cluster)) {
            return Err(corrupt("FAT32 root cluster"));
        }
        // FAT32 may keep only one FAT current (`BPB_ExtFlags` bit 7, the active one in 0-3).
        let flags = bpb32.ext_flags.get();
        let active = if is32 && flags & 0x80 != 0 { u64::from(flags & 0xf) } else { 0 };
        if active >= u64::from(bpb.num_fats) {
            return Err(corrupt("FAT32 active FAT"));
        }
        let fat = start + u64::from(bpb.rsvd_sec_cnt.get()) * per;
        let root_sector = fat + fat_secs * per;
        Ok(Fat {
            kind,
            cluster_sectors: u64::from(spc) * per,
            fat: fat + active * u64::from(fat_sz) * per,
            fat_bytes,
            root_sector,
            root_bytes: root_entries * DIR_ENTRY as u64,
            root_cluster,
            data: root_sector + root_secs * per,
            clusters,
        })
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The root directory.
    pub fn root(&self) -> File {
        File { size: 0, dir: true, first: self.root_cluster }
    }

    fn cluster_bytes(&self) -> u64 {
        self.cluster_sectors * SECTOR as u64
    }

    fn cluster_sector(&self, cluster: u32) -> u64 {
        self.data + u64::from(cluster - 2) * self.cluster_sectors
    }

    fn in_volume(&self, cluster: u32) -> bool {
        (2..u64::from(self.clusters) + 2).contains(&u64::from(cluster))
    }

    /// The cluster after `cluster` in its chain, `None` at the chain's end.
    fn next_cluster<B: BlockRead>(
        &self,
        disk: &mut B,
        cache: &mut FatCache,
        cluster: u32,
    ) -> Result<Option<u32>, DiskError> {
        let c = u64::from(cluster);
        let (value, end) = match self.kind {
            Kind::Fat12 => {
                let pair = cache.read_u16(self, disk, c + c / 2)?;
                (u32::from(if c % 2 == 1 { pair >> 4 } else { pair & 0xfff }), 0xff8)
            }
            Kind::Fat16 => (u32::from(cache.read_u16(self, disk, c * 2)?), 0xfff8),
            Kind::Fat32 => (cache.read_u32(self, disk, c * 4)? & 0x0fff_ffff, 0x0fff_fff8),
        };
        if value >= end {
            Ok(None)
        } else if self.in_volume(value) {
            Ok(Some(value))
        } else {
            Err(corrupt("FAT chain leaves the volume (free, bad or out-of-range cluster)"))
        }
    }

    /// The runs of contiguous sectors holding `file` (or directory), in order.
    pub fn runs(&self, file: &File) -> Result<Runs<'_>, DiskError> {
        let fixed_root = file.dir && file.first == 0;
        let (cur, left) = match (file.dir, file.size, file.first) {
            (true, _, 0) => (None, None),
            (true, _, first) => (Some(first), None),
            (false, 0, _) => (None, Some(0)),
            (false, _, 0) => return Err(corrupt("FAT file without clusters")),
            (false, size, first) => (Some(first), Some(u64::from(size))),
        };
        if cur.is_some_and(|c| !self.in_volume(c)) {
            return Err(corrupt("FAT first cluster outside the volume"));
        }
        Ok(Runs { fat: self, cur, left, fixed_root, steps: 0, cache: FatCache::new() })
    }

    /// Reads `file` wholly into the start of `buf`; returns its size.
    pub fn read_file<B: BlockRead>(&self, disk: &mut B, file: &File, buf: &mut [u8]) -> Result<usize, DiskError> {
        if file.dir {
            return Err(DiskError::NotFound);
        }
        let size = file.size as usize;
        let buf = buf.get_mut(..size).ok_or(DiskError::TooLarge { what: "FAT file" })?;
        let mut runs = self.runs(file)?;
        let mut at = 0usize;
        while let Some(run) = runs.next(disk)? {
            let bytes = usize::try_from(run.bytes).map_err(|_| corrupt("FAT run"))?;
            let end = at.checked_add(bytes).filter(|&e| e <= size).ok_or(corrupt("FAT run"))?;
            super::read_bytes(disk, run.sector, 0, &mut buf[at..end])?;
            at = end;
        }
        Ok(size)
    }

    /// Calls `visit` with the name (the long name as UTF-8 when it has one) and the file of
    /// every entry of directory `dir`, but `.` and `..`.
    pub fn list<B: BlockRead>(
        &self,
        disk: &mut B,
        dir: &File,
        mut visit: impl FnMut(&[u8], &File),
    ) -> Result<(), DiskError> {
        self.scan(disk, dir, &mut |name, file| {
            visit(name.preferred(), file);
            false
        })?;
        Ok(())
    }

    /// The file at `path` ('/'-separated, from the root; names compare case-insensitively as
    /// FAT's do for ASCII, against both the long and the short name).
    pub fn lookup<B: BlockRead>(&self, disk: &mut B, path: &[u8]) -> Result<File, DiskError> {
        let mut cur = self.root();
        for part in path.split(|&b| b == b'/').filter(|p| !p.is_empty()) {
            if !cur.dir {
                return Err(DiskError::NotFound);
            }
            let mut found = None;
            self.scan(disk, &cur, &mut |name, file| {
                let hit = name.matches(part);
                if hit {
                    found = Some(*file);
                }
                hit
            })?;
            cur = found.ok_or(DiskError::NotFound)?;
        }
        Ok(cur)
    }

    /// Walks directory `dir` until `visit` returns true (then returns true) or its end.
    fn scan<B: BlockRead>(
        &self,
        disk: &mut B,
        dir: &File,
        visit: &mut dyn FnMut(&Name<'_>, &File) -> bool,
    ) -> Result<bool, DiskError> {
        if !dir.dir {
            return Err(DiskError::NotFound);
        }
        let mut runs = self.runs(dir)?;
        let mut long = LongName::new();
        let mut buf = [0u8; SECTOR * WINDOW];
        while let Some(run) = runs.next(disk)? {
            let mut sector = run.sector;
            let mut left = run.bytes;
            while left > 0 {
                let chunk = left.min(buf.len() as u64) as usize;
                super::read_bytes(disk, sector, 0, &mut buf[..chunk])?;
                for raw in buf[..chunk].chunks_exact(DIR_ENTRY) {
                    match self.entry(raw, &mut long) {
                        Step::End => return Ok(false),
                        Step::Skip => {}
                        Step::File(name, file) => {
                            if visit(&name.as_name(&long), &file) {
                                return Ok(true);
                            }
                        }
                    }
                }
                sector += (chunk / SECTOR) as u64;
                left -= chunk as u64;
            }
        }
        Ok(false)
    }

    /// What directory entry `raw` means, gathering long-name parts into `long`.
    fn entry(&self, raw: &[u8], long: &mut LongName) -> Step {
        let Ok(e) = DirEntry::ref_from_bytes(raw) else { return Step::End };
        match e.name[0] {
            0x00 => return Step::End,
            0xe5 => {
                long.reset();
                return Step::Skip;
            }
            _ => {}
        }
        if e.attr & ATTR_LONG_NAME_MASK == ATTR_LONG_NAME {
            if let Ok(l) = LongEntry::ref_from_bytes(raw) {
                long.add(l);
            }
            return Step::Skip;
        }
        let has_long = long.complete_for(&e.name);
        if e.attr & ATTR_VOLUME_ID != 0 || e.name == *b".          " || e.name == *b"..         " {
            long.reset();
            return Step::Skip;
        }
        let dir = e.attr & ATTR_DIRECTORY != 0;
        let mut first = u32::from(e.fst_clus_hi.get()) << 16 | u32::from(e.fst_clus_lo.get());
        if self.kind != Kind::Fat32 {
            first &= 0xffff;
        }
        if dir && first == 0 {
            first = self.root_cluster;
        }
        let size = if dir { 0 } else { e.file_size.get() };
        Step::File(ShortName::new(e, has_long), File { size, dir, first })
    }
}

enum Step {
    End,
    Skip,
    File(ShortName, File),
}

/// The last window of FAT sectors read, so that a chain costs one read per [`WINDOW`] sectors.
struct FatCache {
    /// Byte offset in the FAT of `buf[0]`, and how many bytes of `buf` are valid.
    offset: u64,
    len: usize,
    buf: [u8; SECTOR * WINDOW],
}

impl FatCache {
    fn new() -> FatCache {
        FatCache { offset: 0, len: 0, buf: [0; SECTOR * WINDOW] }
    }

    fn byte<B: BlockRead>(&mut self, fat: &Fat, disk: &mut B, at: u64) -> Result<u8, DiskError> {
        if at >= fat.fat_bytes {
            return Err(corrupt("FAT entry past the FAT"));
        }
        let hit = at.checked_sub(self.offset).filter(|&i| i < self.len as u64);
        let i = match hit {
            Some(i) => i as usize,
            None => {
                let window = (SECTOR * WINDOW) as u64;
                self.offset = at / window * window;
                let len = (fat.fat_bytes - self.offset).min(window).div_ceil(SECTOR as u64);
                self.len = 0;
                let len = len as usize * SECTOR;
                disk.read(fat.fat + self.offset / SECTOR as u64, &mut self.buf[..len])?;
                self.len = len;
                (at - self.offset) as usize
            }
        };
        self.buf.get(i).copied().ok_or(corrupt("FAT entry past the FAT"))
    }

    fn read_u16<B: BlockRead>(&mut self, fat: &Fat, disk: &mut B, at: u64) -> Result<u16, DiskError> {
        let lo = self.byte(fat, disk, at)?;
        Ok(u16::from_le_bytes([lo, self.byte(fat, disk, at + 1)?]))
    }

    fn read_u32<B: BlockRead>(&mut self, fat: &Fat, disk: &mut B, at: u64) -> Result<u32, DiskError> {
        let lo = self.read_u16(fat, disk, at)?;
        Ok(u32::from(lo) | u32::from(self.read_u16(fat, disk, at + 2)?) << 16)
    }
}

/// The contiguous pieces of a file or directory, from [`Fat::runs`].
pub struct Runs<'f> {
    fat: &'f Fat,
    /// The next cluster to hand out.
    cur: Option<u32>,
    /// Bytes of a file still to hand out; `None` for a directory, which ends with its chain.
    left: Option<u64>,
    /// FAT12/16's root directory: one run of its fixed area.
    fixed_root: bool,
    /// Clusters walked, bounded by the volume's clusters.
    steps: u32,
    cache: FatCache,
}

impl Runs<'_> {
    /// The next run, or `None` after the last.
    pub fn next<B: BlockRead>(&mut self, disk: &mut B) -> Result<Option<Run>, DiskError> {
        if self.fixed_root {
            self.fixed_root = false;
            return Ok(Some(Run { sector: self.fat.root_sector, bytes: self.fat.root_bytes }));
        }
        let Some(first) = self.cur else { return Ok(None) };
        let cluster = self.fat.cluster_bytes();
        let (mut last, mut bytes) = (first, cluster);
        self.step()?;
        let mut next = self.fat.next_cluster(disk, &mut self.cache, last)?;
        while self.left.is_none_or(|left| bytes < left) && next == last.checked_add(1) {
            last += 1;
            bytes += cluster;
            self.step()?;
            next = self.fat.next_cluster(disk, &mut self.cache, last)?;
        }
        if let Some(left) = self.left {
            bytes = bytes.min(left);
            self.left = Some(left - bytes);
            if left == bytes {
                self.check_tail(disk, next)?;
                next = None;
            } else if next.is_none() {
                return Err(corrupt("FAT chain shorter than its file"));
            }
        }
        self.cur = next;
        Ok(Some(Run { sector: self.fat.cluster_sector(first), bytes }))
    }

    fn step(&mut self) -> Result<(), DiskError> {
        self.steps += 1;
        if self.steps > self.fat.clusters {
            return Err(corrupt("FAT chain loops"));
        }
        Ok(())
    }

    /// Follows a chain that goes on past its file's size to its end, so that a loop there is
    /// found too.
    fn check_tail<B: BlockRead>(&mut self, disk: &mut B, mut next: Option<u32>) -> Result<(), DiskError> {
        while let Some(c) = next {
            self.step()?;
            next = self.fat.next_cluster(disk, &mut self.cache, c)?;
        }
        Ok(())
    }
}

/// A directory entry's 8.3 name as it is written: `NAME.EXT`, lower-cased where `DIR_NTRes`
/// says so.
struct ShortName {
    text: [u8; 12],
    len: usize,
    has_long: bool,
}

impl ShortName {
    fn new(e: &DirEntry, has_long: bool) -> ShortName {
        let mut text = [0u8; 12];
        let mut len = 0;
        let base = trim_spaces(&e.name[..8]);
        let ext = trim_spaces(&e.name[8..]);
        for (i, &b) in base.iter().enumerate() {
            // 0x05 stands for a leading 0xe5, which marks deleted entries.
            let b = if i == 0 && b == 0x05 { 0xe5 } else { b };
            text[len] = if e.nt_res & NT_LOWER_BASE != 0 { b.to_ascii_lowercase() } else { b };
            len += 1;
        }
        if !ext.is_empty() {
            text[len] = b'.';
            len += 1;
            for &b in ext {
                text[len] = if e.nt_res & NT_LOWER_EXT != 0 { b.to_ascii_lowercase() } else { b };
                len += 1;
            }
        }
        ShortName { text, len, has_long }
    }

    fn as_name<'a>(&'a self, long: &'a LongName) -> Name<'a> {
        let long = if self.has_long { long.utf8() } else { &[] };
        Name { long, short: &self.text[..self.len] }
    }
}

fn trim_spaces(s: &[u8]) -> &[u8] {
    let end = s.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1);
    &s[..end]
}

/// An entry's names: the long one (empty when it has none) and the short one.
struct Name<'a> {
    long: &'a [u8],
    short: &'a [u8],
}

impl Name<'_> {
    fn preferred(&self) -> &[u8] {
        if self.long.is_empty() {
            self.short
        } else {
            self.long
        }
    }

    fn matches(&self, want: &[u8]) -> bool {
        (!self.long.is_empty() && self.long.eq_ignore_ascii_case(want)) || self.short.eq_ignore_ascii_case(want)
    }
}

/// The long name being gathered from the entries ahead of a short entry (stored last part
/// first, each with its `LDIR_Ord`), kept as UTF-8 once complete.
struct LongName {
    units: [u16; LONG_NAME_UNITS],
    /// The `LDIR_Ord` the next entry must have; 0 when no name is being gathered.
    expect: u8,
    /// Parts in the name, and the short name's checksum all of them carry.
    parts: u8,
    chksum: u8,
    /// All parts seen: the name is valid for a short entry with checksum `chksum`.
    complete: bool,
    utf8: [u8; LONG_NAME_UNITS * 3],
    utf8_len: usize,
}

impl LongName {
    fn new() -> LongName {
        LongName {
            units: [0; LONG_NAME_UNITS],
            expect: 0,
            parts: 0,
            chksum: 0,
            complete: false,
            utf8: [0; LONG_NAME_UNITS * 3],
            utf8_len: 0,
        }
    }

    fn reset(&mut self) {
        self.expect = 0;
        self.complete = false;
    }

    fn add(&mut self, l: &LongEntry) {
        let ord = l.ord & !LAST_LONG_ENTRY;
        if l.ord & LAST_LONG_ENTRY != 0 {
            if !(1..=20).contains(&ord) {
                self.reset();
                return;
            }
            self.parts = ord;
            self.chksum = l.chksum;
            self.units = [0; LONG_NAME_UNITS];
        } else if self.expect == 0 || ord != self.expect || l.chksum != self.chksum {
            self.reset();
            return;
        }
        let at = usize::from(ord - 1) * 13;
        let chars = l.name1.iter().chain(&l.name2).chain(&l.name3);
        for (slot, c) in self.units[at..at + 13].iter_mut().zip(chars) {
            *slot = c.get();
        }
        self.expect = ord - 1;
        self.complete = ord == 1;
    }

    /// Whether a complete long name belongs to the short entry `name`; if so, it is decoded.
    fn complete_for(&mut self, name: &[u8; 11]) -> bool {
        let ok = self.complete && self.chksum == short_name_checksum(name);
        self.reset();
        if ok {
            self.decode();
        }
        ok
    }

    fn decode(&mut self) {
        let len = usize::from(self.parts) * 13;
        let end = self.units[..len].iter().position(|&u| u == 0).unwrap_or(len);
        let mut at = 0;
        for c in core::char::decode_utf16(self.units[..end].iter().copied()) {
            let c = c.unwrap_or(char::REPLACEMENT_CHARACTER);
            at += c.encode_utf8(&mut self.utf8[at..]).len();
        }
        self.utf8_len = at;
    }

    fn utf8(&self) -> &[u8] {
        &self.utf8[..self.utf8_len]
    }
}

/// The checksum of an 8.3 name that its long-name entries carry (`ChkSum` in the spec).
fn short_name_checksum(name: &[u8; 11]) -> u8 {
    name.iter().fold(0u8, |sum, &b| sum.rotate_right(1).wrapping_add(b))
}

#[cfg(test)]
mod tests;
