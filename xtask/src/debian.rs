//! Debian's stock kernel and a busybox initramfs, fetched with `apt-get download`.

use crate::cpio::Cpio;
use crate::qemu::{self, Qemu};
use crate::{build, work_dir, Result};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What a Debian boot needs.
pub struct DebianKernel {
    /// The PVH ELF extracted from the bzImage.
    pub vmlinux: PathBuf,
    /// The bzImage as Debian ships it.
    pub bzimage: PathBuf,
    /// busybox initramfs whose /init reports and ends the boot.
    pub initrd: PathBuf,
}

/// The initrd's /hello.txt, which /init prints and the tests look for.
pub const HELLO_TEXT: &str = "hello from the initrd";

const INIT: &str = r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "pvhfw-init: cmdline: $(cat /proc/cmdline)"
echo "pvhfw-init: file: $(cat /hello.txt)"
echo "pvhfw-init: cpus: $(grep -c ^processor /proc/cpuinfo)"
if grep -q pvhfw.shell /proc/cmdline; then
    echo "pvhfw-init: busybox shell; 'poweroff -f' or Ctrl-A X leaves"
    exec setsid cttyhack sh
fi
echo "pvhfw-init: done"
reboot -f
"#;

pub fn fetch() -> Result<DebianKernel> {
    let dir = work_dir().join("debian");
    std::fs::create_dir_all(&dir)?;
    let vmlinux = dir.join("vmlinux");
    let bzimage = dir.join("vmlinuz");
    let initrd = dir.join("initrd.cpio");
    if !vmlinux.exists() || !bzimage.exists() {
        let image_pkg = kernel_package(&dir)?;
        let deb = download(&dir, &image_pkg)?;
        let vmlinuz = extract_vmlinuz(&deb, &dir)?;
        std::fs::write(&vmlinux, decompress_bzimage(&std::fs::read(&vmlinuz)?)?)?;
        std::fs::rename(vmlinuz, &bzimage)?;
    }
    if !initrd.exists() {
        std::fs::write(&initrd, busybox_initrd(&dir)?)?;
    }
    Ok(DebianKernel { vmlinux, bzimage, initrd })
}

/// `linux-image-amd64` is a metapackage; its dependency names the real kernel package.
fn kernel_package(dir: &Path) -> Result<String> {
    let meta = download(dir, "linux-image-amd64")?;
    let out = Command::new("dpkg-deb").arg("-f").arg(&meta).arg("Depends").output()?;
    let depends = String::from_utf8(out.stdout)?;
    let pkg = depends
        .split(',')
        .map(|d| d.split_whitespace().next().unwrap_or(""))
        .find(|d| d.starts_with("linux-image-"))
        .ok_or("linux-image-amd64 names no kernel package")?;
    Ok(pkg.to_string())
}

/// `apt-get download PKG` into `dir`, refreshing the package lists once if apt does not know it.
fn download(dir: &Path, pkg: &str) -> Result<PathBuf> {
    if let Some(deb) = find_deb(dir, pkg)? {
        return Ok(deb);
    }
    let get = || Command::new("apt-get").arg("download").arg(pkg).current_dir(dir).status();
    if !get()?.success() {
        qemu::apt(&["update", "-qq"])?;
        if !get()?.success() {
            return Err(format!("apt-get download {pkg} failed").into());
        }
    }
    find_deb(dir, pkg)?.ok_or_else(|| format!("apt-get download {pkg} left no .deb").into())
}

fn find_deb(dir: &Path, pkg: &str) -> Result<Option<PathBuf>> {
    for e in std::fs::read_dir(dir)? {
        let path = e?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with(&format!("{pkg}_")) && name.ends_with(".deb") {
            return Ok(Some(path));
        }
    }
    Ok(None)
}

fn extract_vmlinuz(deb: &Path, dir: &Path) -> Result<PathBuf> {
    let tree = dir.join("tree");
    std::fs::create_dir_all(&tree)?;
    let script = format!(
        "dpkg-deb --fsys-tarfile '{}' | tar -x -C '{}' --wildcards './boot/vmlinuz-*'",
        deb.display(),
        tree.display()
    );
    if !Command::new("sh").arg("-c").arg(&script).status()?.success() {
        return Err(format!("could not extract the kernel from {}", deb.display()).into());
    }
    let boot = tree.join("boot");
    let vmlinuz = std::fs::read_dir(&boot)?.next().ok_or("no /boot/vmlinuz-* in the package")??.path();
    Ok(vmlinuz)
}

/// The ELF inside a bzImage: the payload the setup header points at, xz-compressed on Debian.
pub fn decompress_bzimage(bz: &[u8]) -> Result<Vec<u8>> {
    let le32 = |o: usize| bz.get(o..o + 4).map(|b| u32::from_le_bytes(b.try_into().unwrap()) as usize);
    if bz.get(0x202..0x206) != Some(b"HdrS") {
        return Err("not a bzImage".into());
    }
    let setup_sects = match bz[0x1f1] {
        0 => 4,
        n => n as usize,
    };
    let start = (setup_sects + 1) * 512 + le32(0x248).ok_or("short header")?;
    let payload = bz.get(start..).ok_or("payload offset beyond the file")?;
    if !payload.starts_with(b"\xfd7zXZ\0") {
        return Err("kernel payload is not xz-compressed".into());
    }
    // The stream ends before the file does (the payload carries its size behind it).
    let mut out = Vec::new();
    liblzma::read::XzDecoder::new(payload).read_to_end(&mut out)?;
    if !out.starts_with(b"\x7fELF") {
        return Err("kernel payload is not an ELF".into());
    }
    Ok(out)
}

fn busybox_initrd(dir: &Path) -> Result<Vec<u8>> {
    let deb = download(dir, "busybox-static")?;
    let tree = dir.join("busybox");
    if !Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&tree).status()?.success() {
        return Err("could not unpack busybox-static".into());
    }
    let busybox = std::fs::read(tree.join("bin/busybox"))?;
    let mut cpio = Cpio::new();
    for d in ["bin", "dev", "proc", "sys", "tmp", "sbin", "usr", "usr/bin", "usr/sbin"] {
        cpio.dir(d);
    }
    cpio.file("bin/busybox", 0o755, &busybox);
    cpio.file("init", 0o755, INIT.as_bytes());
    cpio.file("hello.txt", 0o644, format!("{HELLO_TEXT}\n").as_bytes());
    Ok(cpio.finish())
}

/// QEMU for a Debian boot on `machine` (TCG: the software KVM here cannot run full Linux).
pub fn boot(name: &str, machine: &str, firmware: &Path, kernel: &Debian, append: &str) -> Qemu {
    let (machine_arg, extra) = match machine {
        "microvm" => ("microvm,pit=on,rtc=on".to_string(), format!(" tsc_early_khz={}", qemu::host_khz())),
        m => (m.to_string(), String::new()),
    };
    let cmdline = format!("console=ttyS0 panic=-1 {append}{extra}");
    Qemu::new(name, &machine_arg, firmware)
        .args(&["-accel", "tcg", "-cpu", "max", "-m", "512M"])
        .arg_path("-kernel", &kernel.vmlinux)
        .arg_path("-initrd", &kernel.initrd)
        .args(&["-append", cmdline.trim()])
}

type Debian = DebianKernel;

/// `cargo xtask run`: boot to the busybox shell (or, without a terminal, to init's report).
pub fn run(machine: &str, kernel: Option<PathBuf>, append: &str) -> Result<()> {
    qemu::ensure_installed()?;
    let artifacts = build::build()?;
    let mut debian = fetch()?;
    if let Some(k) = kernel {
        debian.vmlinux = k;
    }
    let interactive = std::io::IsTerminal::is_terminal(&std::io::stdin());
    let append = if interactive { format!("pvhfw.shell {append}") } else { append.to_string() };
    let q = boot("run", machine, &artifacts.firmware, &debian, &append);
    eprintln!("xtask: {}", q.command_line());
    let status = q.run_interactive()?;
    if !status.success() {
        return Err(format!("QEMU exited with {status}").into());
    }
    Ok(())
}
