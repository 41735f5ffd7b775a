//! Debian's stock kernels and a busybox initramfs ([`initrd`]), fetched with `apt-get download`
//! (each release through its own private apt configuration, [`Apt`]). How QEMU boots them:
//! [`crate::linux`].

mod initrd;

pub use initrd::{init_report, HELLO_TEXT};

use crate::apt::{find_file, Apt};
use crate::{work_dir, Result};
use anyhow::{bail, Context};
use std::io::Read;
use std::path::PathBuf;

/// A Debian release whose stock kernel the tests boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Release {
    Bookworm,
    Trixie,
}

impl Release {
    pub const ALL: [Release; 2] = [Release::Bookworm, Release::Trixie];

    fn suite(self) -> &'static str {
        match self {
            Release::Bookworm => "bookworm",
            Release::Trixie => "trixie",
        }
    }

    /// The release's main and security suites, through a private apt configuration.
    pub(crate) fn apt(self) -> Result<Apt> {
        let suite = self.suite();
        Apt::with_suites(suite, &[("debian", suite.to_string()), ("debian-security", format!("{suite}-security"))])
    }

    /// Short name for test cases and logs.
    pub fn tag(self) -> &'static str {
        match self {
            Release::Bookworm => "deb12",
            Release::Trixie => "deb13",
        }
    }
}

/// What a Debian boot needs.
#[derive(Clone)]
pub struct DebianKernel {
    pub release: Release,
    /// The PVH ELF extracted from the bzImage; what [`crate::linux::boot`] boots.
    pub vmlinux: PathBuf,
    /// The bzImage as Debian ships it.
    pub bzimage: PathBuf,
    /// busybox initramfs with the virtio modules; its /init reports and powers off.
    pub initrd: PathBuf,
    /// The same with the drivers of the PCI tests' devices.
    pub devices_initrd: PathBuf,
}

pub fn fetch(release: Release) -> Result<DebianKernel> {
    let dir = work_dir().join(release.tag());
    std::fs::create_dir_all(&dir)?;
    let vmlinux = dir.join("vmlinux");
    let bzimage = dir.join("vmlinuz");
    let (initrd, devices_initrd) = (dir.join(initrd::file_name(false)), dir.join(initrd::file_name(true)));
    if [&vmlinux, &bzimage, &initrd, &devices_initrd].iter().all(|p| p.exists()) {
        return Ok(DebianKernel { release, vmlinux, bzimage, initrd, devices_initrd });
    }
    eprintln!("xtask: fetching Debian {}'s kernel", release.suite());
    let apt = release.apt()?;
    let image_pkg = kernel_package(&apt)?;
    let tree = dir.join("tree");
    let _ = std::fs::remove_dir_all(&tree);
    apt.unpack(&image_pkg, &tree)?;
    let vmlinuz = find_file(&tree.join("boot"), "vmlinuz-")?;
    let bz = std::fs::read(&vmlinuz)?;
    std::fs::write(&vmlinux, decompress_bzimage(&bz)?)?;
    std::fs::write(&bzimage, &bz)?;
    let busybox_tree = dir.join("busybox");
    apt.unpack("busybox-static", &busybox_tree)?;
    std::fs::write(&initrd, initrd::busybox(&busybox_tree, &tree, false)?)?;
    std::fs::write(&devices_initrd, initrd::busybox(&busybox_tree, &tree, true)?)?;
    let _ = std::fs::remove_dir_all(&tree);
    Ok(DebianKernel { release, vmlinux, bzimage, initrd, devices_initrd })
}

/// `linux-image-amd64` is a metapackage; its dependency names the real kernel package.
fn kernel_package(apt: &Apt) -> Result<String> {
    flavour_package(apt, "amd64")
}

/// The real kernel package behind Debian's `linux-image-FLAVOUR` metapackage.
fn flavour_package(apt: &Apt, flavour: &str) -> Result<String> {
    let meta = format!("linux-image-{flavour}");
    let depends = apt.depends(&meta)?;
    depends
        .iter()
        .find(|p| p.starts_with("linux-image-") && p.ends_with(&format!("-{flavour}")))
        .cloned()
        .with_context(|| format!("{meta} names no kernel package: {depends:?}"))
}

/// Debian 12's 32-bit kernel (`linux-image-686-pae`, i386): its bzImage, which has no 64-bit
/// entry, the 32-bit PVH ELF inside it, and the busybox initramfs built from `busybox-static`
/// for i386 and that kernel's modules. From Debian's main suite only: its i386 security index
/// is not needed for a kernel that boots to init.
pub fn fetch_686() -> Result<DebianKernel> {
    let dir = work_dir().join("deb12-686");
    std::fs::create_dir_all(&dir)?;
    let vmlinux = dir.join("vmlinux");
    let bzimage = dir.join("vmlinuz");
    let initrd = dir.join(initrd::file_name(false));
    let devices_initrd = initrd.clone();
    let kernel = DebianKernel { release: Release::Bookworm, vmlinux, bzimage, initrd, devices_initrd };
    if [&kernel.vmlinux, &kernel.bzimage, &kernel.initrd].iter().all(|p| p.exists()) {
        return Ok(kernel);
    }
    eprintln!("xtask: fetching Debian bookworm's 686-pae kernel");
    let apt = Apt::with_suites_for("bookworm-i386", &[("debian", "bookworm".into())], Some("i386"))?;
    let tree = dir.join("tree");
    let _ = std::fs::remove_dir_all(&tree);
    apt.unpack(&flavour_package(&apt, "686-pae")?, &tree)?;
    let bz = std::fs::read(find_file(&tree.join("boot"), "vmlinuz-")?)?;
    std::fs::write(&kernel.vmlinux, decompress_bzimage(&bz)?)?;
    std::fs::write(&kernel.bzimage, &bz)?;
    let busybox_tree = dir.join("busybox");
    apt.unpack("busybox-static", &busybox_tree)?;
    std::fs::write(&kernel.initrd, initrd::busybox(&busybox_tree, &tree, false)?)?;
    let _ = std::fs::remove_dir_all(&tree);
    Ok(kernel)
}

/// The ELF inside a bzImage: the payload the setup header points at (xz on Debian 12, zstd on
/// Debian 13).
pub fn decompress_bzimage(bz: &[u8]) -> Result<Vec<u8>> {
    let le32 = |o: usize| bz.get(o..o + 4).map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize);
    if bz.get(0x202..0x206) != Some(b"HdrS") {
        bail!("not a bzImage");
    }
    let setup_sects = match bz[0x1f1] {
        0 => 4,
        n => n as usize,
    };
    let start = (setup_sects + 1) * 512 + le32(0x248).context("short header")?;
    let payload = bz.get(start..).context("payload offset beyond the file")?;
    // Each stream ends before the payload does (a size trailer follows), so read one stream.
    let mut out = Vec::new();
    if payload.starts_with(b"\xfd7zXZ\0") {
        liblzma::read::XzDecoder::new(payload).read_to_end(&mut out)?;
    } else if payload.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        ruzstd::decoding::StreamingDecoder::new(payload)?.read_to_end(&mut out)?;
    } else {
        bail!("kernel payload is neither xz nor zstd");
    }
    if !out.starts_with(b"\x7fELF") {
        bail!("kernel payload is not an ELF");
    }
    Ok(out)
}
