//! What a test disk is made of, and making it: a partition table written by `sfdisk` into a
//! sparse file, each filesystem built as a file of its own (`mke2fs -d`, or `mkfs.fat` filled
//! with `mmd` and `mcopy`) and copied into its partition's place. No loop devices, no mounts:
//! it all runs unprivileged on plain files. A built disk is kept under `target/xtask/disks/`,
//! named after a hash of everything it is made from, so a second build is a lookup.

use super::tools::Tools;
use crate::cmd::Checked;
use crate::{work_dir, Result};
use anyhow::{bail, Context};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

pub const MIB: u64 = 1 << 20;
/// Where the first partition starts, as partitioning tools align it.
const FIRST: u64 = MIB;
/// Room left after the last partition: GPT's backup entries and header need 33 sectors.
const GPT_TAIL: u64 = MIB;

/// What a file on a test filesystem holds.
#[derive(Clone, Debug)]
pub enum Content {
    Text(String),
    /// A host file's bytes (hashed by content for the cache key, not by name).
    File(PathBuf),
}

/// A file or symbolic link, by its path from the filesystem's root.
#[derive(Clone, Debug)]
pub enum Node {
    File(String, Content),
    Symlink(String, String),
}

/// The filesystem in a partition.
#[derive(Clone, Debug)]
pub enum Filesystem {
    /// None: a BIOS boot partition, or a blank one.
    None,
    /// ext2, ext3 or ext4 (`kind`), with this block size and UUID.
    Ext { kind: &'static str, block_size: u32, uuid: &'static str, label: &'static str },
    /// FAT12, 16 or 32 (`bits`) with this volume ID.
    Fat { bits: u8, volume_id: u32, label: &'static str },
}

/// A partition's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartType {
    BiosBoot,
    Esp,
    Xbootldr,
    Linux,
}

impl PartType {
    fn gpt(self) -> &'static str {
        match self {
            PartType::BiosBoot => "21686148-6449-6E6F-744E-656564454649",
            PartType::Esp => "C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
            PartType::Xbootldr => "BC13C2FF-59E6-4262-A352-B275FD6F7172",
            PartType::Linux => "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
        }
    }

    fn mbr(self) -> &'static str {
        match self {
            PartType::Esp => "ef",
            PartType::Xbootldr => "ea",
            PartType::BiosBoot | PartType::Linux => "83",
        }
    }
}

/// One partition (or with [`Label::None`], the whole disk).
#[derive(Clone, Debug)]
pub struct Partition {
    pub name: &'static str,
    pub kind: PartType,
    /// GPT unique partition GUID (sfdisk picks a random one without it).
    pub uuid: Option<&'static str>,
    pub mib: u64,
    pub fs: Filesystem,
    pub files: Vec<Node>,
}

/// The partition table.
#[derive(Clone, Debug)]
pub enum Label {
    Gpt {
        disk_guid: &'static str,
    },
    /// A DOS label with this disk signature; the first partition is marked active.
    Mbr {
        signature: u32,
    },
    /// No table: the one partition's filesystem fills the disk from sector 0.
    None,
}

/// Damage done to the disk after it is built, for the firmware's fallbacks and refusals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Damage {
    None,
    /// A byte of the primary GPT header flipped: its CRC32 no longer matches.
    PrimaryGpt,
    /// The same in both the primary and the backup header.
    BothGpts,
}

/// A whole test disk.
#[derive(Clone, Debug)]
pub struct Layout {
    pub name: String,
    pub label: Label,
    pub parts: Vec<Partition>,
    pub damage: Damage,
}

impl Layout {
    /// The partitions' first bytes and the disk's size.
    pub fn geometry(&self) -> (Vec<u64>, u64) {
        let (mut at, tail) = match self.label {
            Label::None => (0, 0),
            Label::Mbr { .. } => (FIRST, 0),
            Label::Gpt { .. } => (FIRST, GPT_TAIL),
        };
        let mut starts = Vec::new();
        for p in &self.parts {
            starts.push(at);
            at += p.mib * MIB;
        }
        (starts, at + tail)
    }

    /// The disk image, built unless an identical one was built before.
    pub fn build(&self) -> Result<PathBuf> {
        let dir = work_dir().join("disks");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{}-{}.img", self.name, self.key()?));
        if path.exists() {
            return Ok(path);
        }
        // Several threads may build at once (the unit tests): a directory of its own each.
        static BUILDS: AtomicUsize = AtomicUsize::new(0);
        let n = BUILDS.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!("tmp-{}-{}-{n}", self.name, std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp)?;
        let disk = tmp.join("disk.img");
        self.make(&Tools::get()?, &tmp, &disk).with_context(|| format!("building the test disk {}", self.name))?;
        remove_stale(&dir, &self.name)?;
        std::fs::rename(&disk, &path)?;
        std::fs::remove_dir_all(&tmp)?;
        Ok(path)
    }

    /// What the image depends on: the layout and the contents of the host files it copies.
    fn key(&self) -> Result<String> {
        let mut h = Sha256::new();
        h.update(format!("{self:?}"));
        for node in self.parts.iter().flat_map(|p| &p.files) {
            if let Node::File(_, Content::File(f)) = node {
                h.update(std::fs::read(f).with_context(|| format!("reading {}", f.display()))?);
            }
        }
        Ok(h.finalize()[..8].iter().map(|b| format!("{b:02x}")).collect())
    }

    fn make(&self, tools: &Tools, tmp: &Path, disk: &Path) -> Result<()> {
        let (starts, size) = self.geometry();
        std::fs::File::create(disk)?.set_len(size)?;
        if !matches!(self.label, Label::None) {
            let script = self.sfdisk_script(&starts);
            let mut sfdisk = tools.command("sfdisk");
            sfdisk.args(["--no-reread", "--no-tell-kernel", "-q"]).arg(disk);
            with_stdin(&mut sfdisk, &script)?;
        }
        for (i, (p, &start)) in self.parts.iter().zip(&starts).enumerate() {
            let fs = tmp.join(format!("part{}.fs", i + 1));
            let stage = tmp.join(format!("part{}", i + 1));
            if p.make_fs(tools, &fs, &stage)? {
                place(disk, start, &fs)?;
            }
        }
        damage(disk, self.damage, size)
    }

    /// sfdisk's input: the label, then one line per partition, in sectors.
    fn sfdisk_script(&self, starts: &[u64]) -> String {
        let mut s = match self.label {
            Label::Gpt { disk_guid } => format!("label: gpt\nlabel-id: {disk_guid}\nunit: sectors\n"),
            Label::Mbr { signature } => format!("label: dos\nlabel-id: {signature:#010x}\nunit: sectors\n"),
            Label::None => unreachable!("no table, no script"),
        };
        for (i, (p, start)) in self.parts.iter().zip(starts).enumerate() {
            let (start, size) = (start / 512, p.mib * MIB / 512);
            s += &match self.label {
                Label::Gpt { .. } => {
                    let uuid = p.uuid.map(|u| format!(", uuid={u}")).unwrap_or_default();
                    format!("start={start}, size={size}, type={}{uuid}, name=\"{}\"\n", p.kind.gpt(), p.name)
                }
                _ => {
                    let active = if i == 0 { ", bootable" } else { "" };
                    format!("start={start}, size={size}, type={}{active}\n", p.kind.mbr())
                }
            };
        }
        s
    }
}

impl Partition {
    /// Builds the partition's filesystem into the file `fs` (staging its tree in `stage`);
    /// whether there is one.
    fn make_fs(&self, tools: &Tools, fs: &Path, stage: &Path) -> Result<bool> {
        match self.fs {
            Filesystem::None => Ok(false),
            Filesystem::Ext { kind, block_size, uuid, label } => {
                stage_tree(&self.files, stage)?;
                tools
                    .command("mke2fs")
                    .args(["-q", "-F", "-t", kind, "-b", &block_size.to_string(), "-U", uuid, "-L", label])
                    .args(["-E", "root_owner=0:0", "-d"])
                    .arg(stage)
                    .arg(fs)
                    .arg(format!("{}M", self.mib))
                    .checked_stdout()?;
                Ok(true)
            }
            Filesystem::Fat { bits, volume_id, label } => {
                let kib = (self.mib * MIB / 1024).to_string();
                tools
                    .command("mkfs.fat")
                    .args(["-F", &bits.to_string(), "-i", &format!("{volume_id:08x}"), "-n", label, "-C"])
                    .arg(fs)
                    .arg(kib)
                    .checked_stdout()?;
                fill_fat(tools, &self.files, fs, stage)?;
                Ok(true)
            }
        }
    }
}

/// Writes `files` under `stage` as they must appear in the filesystem.
fn stage_tree(files: &[Node], stage: &Path) -> Result<()> {
    std::fs::create_dir_all(stage)?;
    for node in files {
        let (path, at) = match node {
            Node::File(p, _) | Node::Symlink(p, _) => (p, stage.join(p.trim_start_matches('/'))),
        };
        std::fs::create_dir_all(at.parent().expect("below the stage"))?;
        match node {
            Node::File(_, Content::Text(t)) => std::fs::write(&at, t)?,
            Node::File(_, Content::File(f)) => {
                std::fs::copy(f, &at).with_context(|| format!("copying {} to {path}", f.display()))?;
            }
            Node::Symlink(_, target) => std::os::unix::fs::symlink(target, &at)?,
        }
    }
    Ok(())
}

/// Copies `files` into the FAT image `fs` with mtools: each directory once (parents first),
/// then each file.
fn fill_fat(tools: &Tools, files: &[Node], fs: &Path, stage: &Path) -> Result<()> {
    let mut dirs: Vec<String> = Vec::new();
    for node in files {
        let Node::File(path, _) = node else { bail!("FAT has no symbolic links: {node:?}") };
        let mut parent = Path::new(path.trim_start_matches('/')).parent();
        while let Some(d) = parent.filter(|d| !d.as_os_str().is_empty()) {
            dirs.push(d.display().to_string());
            parent = d.parent();
        }
    }
    dirs.sort();
    dirs.dedup();
    let image = fs.display().to_string();
    let mtools = |program: &str| {
        let mut c = tools.command(program);
        // mtools checks the BPB's geometry against a floppy's unless told not to.
        c.env("MTOOLS_SKIP_CHECK", "1").args(["-i", &image]);
        c
    };
    if !dirs.is_empty() {
        mtools("mmd").args(dirs.iter().map(|d| format!("::/{d}"))).checked_stdout()?;
    }
    stage_tree(files, stage)?;
    for node in files {
        let Node::File(path, _) = node else { continue };
        let path = path.trim_start_matches('/');
        mtools("mcopy").arg(stage.join(path)).arg(format!("::/{path}")).checked_stdout()?;
    }
    Ok(())
}

/// Copies the filesystem image `fs` into `disk` at byte `offset`, skipping runs of zeros (the
/// disk file is sparse and already reads zeros there).
fn place(disk: &Path, offset: u64, fs: &Path) -> Result<()> {
    let out = std::fs::OpenOptions::new().write(true).open(disk)?;
    let mut input = std::fs::File::open(fs)?;
    let mut buf = vec![0u8; MIB as usize];
    let mut at = offset;
    loop {
        let n = read_full(&mut input, &mut buf)?;
        if n == 0 {
            return Ok(());
        }
        for (i, chunk) in buf[..n].chunks(64 * 1024).enumerate() {
            if chunk.iter().any(|&b| b != 0) {
                out.write_all_at(chunk, at + (i * 64 * 1024) as u64)?;
            }
        }
        at += n as u64;
    }
}

/// Fills `buf` from `r` as far as it goes; the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Flips a byte inside the GPT header(s) `how` names (its first usable LBA, which the header's
/// CRC32 covers), in a disk of `size` bytes.
fn damage(disk: &Path, how: Damage, size: u64) -> Result<()> {
    let headers: &[u64] = match how {
        Damage::None => &[],
        Damage::PrimaryGpt => &[512],
        Damage::BothGpts => &[512, size - 512],
    };
    let f = std::fs::OpenOptions::new().read(true).write(true).open(disk)?;
    for &header in headers {
        let mut byte = [0u8];
        f.read_exact_at(&mut byte, header + 40)?;
        f.write_all_at(&[byte[0] ^ 0xff], header + 40)?;
    }
    Ok(())
}

/// Removes earlier builds of the disk `name` (other inputs, other keys).
fn remove_stale(dir: &Path, name: &str) -> Result<()> {
    let prefix = format!("{name}-");
    for e in std::fs::read_dir(dir)? {
        let path = e?.path();
        let file = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let key = file.strip_prefix(&prefix).and_then(|k| k.strip_suffix(".img"));
        // Only `NAME-KEY.img`: another layout's name may start with this one's.
        if key.is_some_and(|k| k.len() == 16 && k.bytes().all(|b| b.is_ascii_hexdigit())) {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

/// Runs `c` with `input` on its stdin; fails with its stderr unless it succeeds.
fn with_stdin(c: &mut Command, input: &str) -> Result<()> {
    let what = format!("{c:?}");
    let mut child = c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    child.stdin.take().expect("piped").write_all(input.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("{what} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}
