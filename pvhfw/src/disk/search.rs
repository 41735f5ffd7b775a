//! What a disk boots: its volumes searched for a boot entry, in the order of precedence the
//! issue settled, the first that exists winning:
//!
//! 1. Boot Loader Specification type 1 entries, `/loader/entries/*.conf` on any volume (the
//!    ESP, an XBOOTLDR partition) or `/boot/loader/entries/*.conf` on a root filesystem;
//! 2. `extlinux.conf`, in `/boot/extlinux/` or `/extlinux/`;
//! 3. GRUB's generated `grub.cfg`, in `/boot/grub/` or `/grub/` (a separate /boot);
//! 4. Debian's `/vmlinuz` and `/initrd.img` symlinks, booted with `root=PARTUUID=` of their
//!    partition.
//!
//! Configuration text is read into the caller's buffer; the entry's files are resolved to
//! [`Handle`]s before this returns, so the text is not needed once the boot loads them.

use super::entries::{bls, extlinux, grub, Entry, EntryError, Text, MAX_INITRDS};
use super::partition::Table;
use super::volume::{Fs, Handle, Listed, Volume};
use super::{BlockRead, DiskError};

/// Volumes of one disk searched (partitions with ext4 or FAT); more are ignored.
pub const MAX_VOLUMES: usize = 8;
/// Partitions of one disk looked at (GPT's and MBR's in table order, empty slots skipped).
pub const MAX_PARTITIONS: usize = 16;
/// BLS entry files read from one directory; more are an error.
pub const MAX_BLS_ENTRIES: usize = 32;
/// Longest path an entry may name.
pub const MAX_PATH: usize = 256;
/// The root device given to a kernel found through the `/vmlinuz` links: its partition.
const LINKS_OPTIONS: &[u8] = b" ro";

/// Which kind of configuration the entry came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Bls,
    Extlinux,
    Grub,
    Links,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Bls => "BLS entry",
            Format::Extlinux => "extlinux.conf",
            Format::Grub => "grub.cfg",
            Format::Links => "/vmlinuz",
        }
    }
}

/// Why a disk's boot entry could not be followed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SearchError {
    Disk(DiskError),
    Entry {
        format: Format,
        error: EntryError,
    },
    /// The entry names a file (`what`: "kernel" or "initrd") that is not there; its path is
    /// left in the first `path_len` bytes of the command-line buffer, for the message (kept
    /// out of the error, which every `?` would copy).
    Missing {
        format: Format,
        what: &'static str,
        path_len: usize,
    },
}

impl From<DiskError> for SearchError {
    fn from(e: DiskError) -> Self {
        SearchError::Disk(e)
    }
}

/// The disk's volumes, in partition table order.
#[derive(Clone, Copy)]
pub struct Volumes {
    list: [Option<Volume>; MAX_VOLUMES],
}

impl Volumes {
    pub fn get(&self, index: usize) -> Option<&Volume> {
        self.list.get(index)?.as_ref()
    }

    fn iter(&self) -> impl Iterator<Item = (usize, &Volume)> {
        self.list.iter().enumerate().filter_map(|(i, v)| Some((i, v.as_ref()?)))
    }
}

/// The entry a disk boots: its kernel and initrds, on volume `volume`, and (written to the
/// caller's buffer) its command line.
#[derive(Clone, Copy, Debug)]
pub struct Found {
    pub format: Format,
    pub volume: usize,
    pub kernel: Handle,
    pub initrds: [Option<Handle>; MAX_INITRDS],
    pub cmdline_len: usize,
}

/// Searches `disk`: `Ok(None)` when it has no volume pvhfw reads or no boot entry (a data
/// disk, which the boot skips). `text` holds configuration files while they are parsed;
/// `wanted` is `opt/org.pvhfw/entry`; the entry's command line goes to `cmdline`.
#[inline(never)]
pub fn search<D: BlockRead>(
    disk: &mut D,
    text: &mut [u8],
    wanted: Option<&[u8]>,
    cmdline: &mut [u8],
) -> Result<Option<(Volumes, Found)>, SearchError> {
    let (volumes, damaged) = open_volumes(disk)?;
    let found = find_entry(disk, &volumes, text, wanted, cmdline)?;
    match (found, damaged) {
        (Some(f), _) => Ok(Some((volumes, f))),
        // A damaged filesystem may have held the entry: say so rather than "no entry".
        (None, Some(e)) => Err(e.into()),
        (None, None) => Ok(None),
    }
}

/// The volumes with a filesystem, and the first damaged one's error.
#[inline(never)]
fn open_volumes<D: BlockRead>(disk: &mut D) -> Result<(Volumes, Option<DiskError>), DiskError> {
    let table = Table::read(disk)?;
    // The table's walk holds the disk: its partitions first, then their filesystems.
    let mut partitions = [None; MAX_PARTITIONS];
    for (slot, p) in partitions.iter_mut().zip(table.partitions(disk)) {
        *slot = Some(p);
    }
    let mut volumes = Volumes { list: [None; MAX_VOLUMES] };
    let (mut n, mut damaged) = (0, None);
    for partition in partitions.into_iter().flatten() {
        let opened = partition.and_then(|p| Volume::open(disk, p));
        match opened {
            Ok(Some(v)) if n < MAX_VOLUMES => {
                volumes.list[n] = Some(v);
                n += 1;
            }
            Ok(_) => {}
            Err(DiskError::Read { sector }) => return Err(DiskError::Read { sector }),
            Err(e) => damaged = damaged.or(Some(e)),
        }
    }
    Ok((volumes, damaged))
}

#[inline(never)]
fn find_entry<D: BlockRead>(
    disk: &mut D,
    volumes: &Volumes,
    text: &mut [u8],
    wanted: Option<&[u8]>,
    cmdline: &mut [u8],
) -> Result<Option<Found>, SearchError> {
    for (i, v) in volumes.iter() {
        for dir in [&b"/loader/entries"[..], b"/boot/loader/entries"] {
            if let Some(found) = bls_entry(disk, i, v, dir, text, wanted, cmdline)? {
                return Ok(Some(found));
            }
        }
    }
    for (i, v) in volumes.iter() {
        for (path, base) in
            [(&b"/boot/extlinux/extlinux.conf"[..], &b"/boot/extlinux"[..]), (b"/extlinux/extlinux.conf", b"/extlinux")]
        {
            let Some(len) = read_config(disk, v, path, text)? else { continue };
            let entry = extlinux::select(&text[..len], wanted).map_err(|error| entry_error(Format::Extlinux, error))?;
            return resolve(disk, Format::Extlinux, i, v, base, &entry, cmdline).map(Some);
        }
    }
    for (i, v) in volumes.iter() {
        for path in [&b"/boot/grub/grub.cfg"[..], b"/grub/grub.cfg"] {
            let Some(len) = read_config(disk, v, path, text)? else { continue };
            let entry = grub::select(&text[..len], wanted).map_err(|error| entry_error(Format::Grub, error))?;
            let root = grub_root(volumes, i, &entry)?;
            let Some(rv) = volumes.get(root) else { continue };
            return resolve(disk, Format::Grub, root, rv, b"", &entry, cmdline).map(Some);
        }
    }
    for (i, v) in volumes.iter() {
        if let Some(found) = links(disk, i, v, cmdline)? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

fn entry_error(format: Format, error: EntryError) -> SearchError {
    SearchError::Entry { format, error }
}

/// Reads the configuration file at `path` into `text`, if the volume has it.
#[inline(never)]
fn read_config<D: BlockRead>(
    disk: &mut D,
    v: &Volume,
    path: &[u8],
    text: &mut [u8],
) -> Result<Option<usize>, DiskError> {
    let Some(file) = v.find(disk, path)? else { return Ok(None) };
    v.read_all(disk, &file, text).map(Some)
}

/// The BLS entry directory `dir` of volume `v`, if it has `.conf` files: their names and
/// contents read into `text`, the entry chosen as the specification says.
#[inline(never)]
fn bls_entry<D: BlockRead>(
    disk: &mut D,
    index: usize,
    v: &Volume,
    dir: &[u8],
    text: &mut [u8],
    wanted: Option<&[u8]>,
    cmdline: &mut [u8],
) -> Result<Option<Found>, SearchError> {
    let dir_handle = match v.lookup_any(disk, dir) {
        Ok(h) => h,
        Err(DiskError::NotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    // Names first, packed at the start of `text`; each file's contents after them.
    let mut listed = [(0usize, 0usize, None::<Listed>); MAX_BLS_ENTRIES];
    let (mut count, mut used, mut overflow) = (0, 0, false);
    v.list(disk, &dir_handle, |name, entry| {
        let is_conf = name.len() > 5 && name.ends_with(b".conf");
        let room = text.get_mut(used..used + name.len());
        match (is_conf, listed.get_mut(count), room) {
            (false, _, _) => {}
            (true, Some(slot), Some(room)) => {
                room.copy_from_slice(name);
                *slot = (used, name.len(), Some(entry));
                used += name.len();
                count += 1;
            }
            _ => overflow = true,
        }
    })?;
    if overflow {
        return Err(entry_error(Format::Bls, EntryError::TooMany { what: "BLS entry files" }));
    }
    if count == 0 {
        return Ok(None);
    }
    let mut spans = [(0usize, 0usize, 0usize, 0usize); MAX_BLS_ENTRIES];
    for (span, &(name_at, name_len, entry)) in spans.iter_mut().zip(&listed[..count]) {
        let file = v.open_listed(disk, entry.ok_or(DiskError::NotFound)?)?;
        let n = v.read_all(disk, &file, text.get_mut(used..).unwrap_or_default())?;
        *span = (name_at, name_len, used, n);
        used += n;
    }
    // loader.conf sits beside the entries directory (`/loader/loader.conf`).
    let conf_path = dir.strip_suffix(b"/entries").unwrap_or(dir);
    let mut conf_buf = [0u8; 1024];
    let conf = loader_conf(disk, v, conf_path, &mut conf_buf)?;
    let text = &*text;
    let files = spans[..count].iter().map(|&(na, nl, ta, tl)| (&text[na..na + nl], &text[ta..ta + tl]));
    let entry = bls::select(files, conf, wanted).map_err(|error| entry_error(Format::Bls, error))?;
    resolve(disk, Format::Bls, index, v, b"", &entry, cmdline).map(Some)
}

/// `loader.conf` in directory `dir`, read into `buf` if it fits (only its `default` matters).
fn loader_conf<'b, D: BlockRead>(
    disk: &mut D,
    v: &Volume,
    dir: &[u8],
    buf: &'b mut [u8; 1024],
) -> Result<Option<&'b [u8]>, DiskError> {
    let mut path = [0u8; 64];
    let Some(path) = join(&mut path, dir, b"loader.conf") else { return Ok(None) };
    let Some(file) = v.find(disk, path)? else { return Ok(None) };
    match v.read_all(disk, &file, buf) {
        Ok(n) => Ok(Some(&buf[..n])),
        Err(DiskError::TooLarge { .. }) => Err(DiskError::TooLarge { what: "loader.conf" }),
        Err(e) => Err(e),
    }
}

/// `dir/name` in `buf`.
fn join<'b>(buf: &'b mut [u8], dir: &[u8], name: &[u8]) -> Option<&'b [u8]> {
    let len = dir.len() + 1 + name.len();
    let out = buf.get_mut(..len)?;
    out[..dir.len()].copy_from_slice(dir);
    out[dir.len()] = b'/';
    out[dir.len() + 1..].copy_from_slice(name);
    Some(out)
}

/// The volume `search --fs-uuid --set=root` names (ext4's UUID), else the one holding
/// `grub.cfg`.
fn grub_root(volumes: &Volumes, cfg_volume: usize, entry: &Entry<'_>) -> Result<usize, SearchError> {
    let Some(uuid) = entry.root_uuid else { return Ok(cfg_volume) };
    let mut want = [0u8; 64];
    let len = uuid.write_to(&mut want).map_err(|error| entry_error(Format::Grub, error))?;
    let found = volumes.iter().find(|(_, v)| match v.fs {
        Fs::Ext4(fs) => uuid_text(&fs.uuid()).eq_ignore_ascii_case(&want[..len]),
        Fs::Fat(_) => false,
    });
    let unknown = EntryError::Unsupported { what: "search --fs-uuid names no ext4 filesystem on this disk" };
    found.map(|(i, _)| i).ok_or(entry_error(Format::Grub, unknown))
}

/// A UUID's text form, `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, from its big-endian bytes.
fn uuid_text(u: &[u8; 16]) -> [u8; 36] {
    let mut out = [0u8; 36];
    let mut at = 0;
    for (i, b) in u.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out[at] = b'-';
            at += 1;
        }
        out[at] = b"0123456789abcdef"[usize::from(b >> 4)];
        out[at + 1] = b"0123456789abcdef"[usize::from(b & 0xf)];
        at += 2;
    }
    out
}

/// The entry's files on volume `v` (relative paths from `base`), and its command line.
#[inline(never)]
fn resolve<D: BlockRead>(
    disk: &mut D,
    format: Format,
    index: usize,
    v: &Volume,
    base: &[u8],
    entry: &Entry<'_>,
    cmdline: &mut [u8],
) -> Result<Found, SearchError> {
    let kernel = open_path(disk, format, v, base, &entry.kernel, "kernel", cmdline)?;
    let mut initrds = [None; MAX_INITRDS];
    for (slot, path) in initrds.iter_mut().zip(entry.initrds()) {
        *slot = Some(open_path(disk, format, v, base, path, "initrd", cmdline)?);
    }
    let cmdline_len = entry.cmdline(cmdline).map_err(|error| entry_error(format, error))?;
    Ok(Found { format, volume: index, kernel, initrds, cmdline_len })
}

/// The file `path` names (unquoted; relative to `base` unless absolute). When it is not
/// there, its path goes to `missing` (see [`SearchError::Missing`]).
#[inline(never)]
fn open_path<D: BlockRead>(
    disk: &mut D,
    format: Format,
    v: &Volume,
    base: &[u8],
    path: &Text<'_>,
    what: &'static str,
    missing: &mut [u8],
) -> Result<Handle, SearchError> {
    let too_long = entry_error(format, EntryError::TooMany { what: "bytes in a path" });
    let (mut raw, mut joined) = ([0u8; MAX_PATH], [0u8; MAX_PATH]);
    let len = path.write_to(&mut raw).map_err(|_| too_long)?;
    let raw = &raw[..len];
    let path = match raw.first() {
        Some(b'/') => raw,
        _ => join(&mut joined, base, raw).ok_or(too_long)?,
    };
    if path.first() == Some(&b'(') {
        let what = "a path naming a GRUB device";
        return Err(entry_error(format, EntryError::Unsupported { what }));
    }
    match v.lookup(disk, path) {
        Ok(h) => Ok(h),
        Err(DiskError::NotFound) => {
            let path_len = path.len().min(missing.len());
            missing[..path_len].copy_from_slice(&path[..path_len]);
            Err(SearchError::Missing { format, what, path_len })
        }
        Err(e) => Err(e.into()),
    }
}

/// Debian's `/vmlinuz` and `/initrd.img` symlinks on an ext4 volume: the kernel with
/// `root=PARTUUID=` of its partition (the filesystem's `root=UUID=` on a disk without a
/// partition table, which only an initramfs resolves), mounted read-only first as Debian's
/// GRUB entries do.
#[inline(never)]
fn links<D: BlockRead>(
    disk: &mut D,
    index: usize,
    v: &Volume,
    cmdline: &mut [u8],
) -> Result<Option<Found>, SearchError> {
    let Fs::Ext4(fs) = v.fs else { return Ok(None) };
    let Some(kernel) = v.find(disk, b"/vmlinuz")? else { return Ok(None) };
    let initrd = v.find(disk, b"/initrd.img")?;
    let too_long = entry_error(Format::Links, EntryError::TooLong);
    let uuid = v.partition.uuid;
    let uuid_fs = uuid_text(&fs.uuid());
    let (key, value): (&[u8], &[u8]) = match uuid.as_str() {
        "" => (b"root=UUID=", &uuid_fs),
        u => (b"root=PARTUUID=", u.as_bytes()),
    };
    let mut len = 0;
    for part in [key, value, LINKS_OPTIONS] {
        let out = cmdline.get_mut(len..len + part.len()).ok_or(too_long)?;
        out.copy_from_slice(part);
        len += part.len();
    }
    let mut initrds = [None; MAX_INITRDS];
    initrds[0] = initrd;
    Ok(Some(Found { format: Format::Links, volume: index, kernel, initrds, cmdline_len: len }))
}

#[cfg(test)]
mod tests;
