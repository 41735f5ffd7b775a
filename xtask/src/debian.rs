//! Debian's stock kernels and a busybox initramfs, fetched with `apt-get download`.
//!
//! Each release gets its own apt configuration under `target/xtask/apt-<suite>`: the machine's
//! own sources stay untouched, and Debian 13 is reachable from a Debian 12 host. ([`Apt`] also
//! fetches QEMU 10.0 from `bookworm-backports`.)

use crate::cpio::Cpio;
use crate::qemu::{self, Qemu, Version};
use crate::{work_dir, Result};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

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
    /// The PVH ELF extracted from the bzImage; what [`boot`] boots.
    pub vmlinux: PathBuf,
    /// The bzImage as Debian ships it.
    pub bzimage: PathBuf,
    /// busybox initramfs with the virtio modules; its /init reports and powers off.
    pub initrd: PathBuf,
}

/// The initrd's /hello.txt, which /init prints and the tests look for.
pub const HELLO_TEXT: &str = "hello from the initrd";

/// Virtio modules in dependency order (from their `.modinfo` `depends=`); whichever the kernel
/// has built in are simply absent.
const MODULES: &[&str] = &[
    "drivers/virtio/virtio_ring.ko",
    "drivers/virtio/virtio.ko",
    "drivers/virtio/virtio_pci_legacy_dev.ko",
    "drivers/virtio/virtio_pci_modern_dev.ko",
    "drivers/virtio/virtio_pci.ko",
    "drivers/virtio/virtio_mmio.ko",
    "drivers/block/virtio_blk.ko",
    "net/core/failover.ko",
    "drivers/net/net_failover.ko",
    "drivers/net/virtio_net.ko",
    // Q35's ICH9 watchdog, which needs the chipset's RCBA enabled by the firmware.
    "drivers/watchdog/watchdog.ko",
    "drivers/watchdog/iTCO_vendor_support.ko",
    "drivers/mfd/lpc_ich.ko",
    "drivers/mfd/intel_pmc_bxt.ko",
    "drivers/watchdog/iTCO_wdt.ko",
];

/// /init: prints `pvhfw-init: KEY: VALUE` lines the tests parse, then powers off (or gives a
/// shell with `pvhfw.shell` on the command line).
const INIT: &str = r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules.order); do insmod /$m 2>/dev/null; done
say() { echo "pvhfw-init: $1: $2"; }
say cmdline "$(cat /proc/cmdline)"
say file "$(cat /hello.txt)"
say cpus "$(cat /sys/devices/system/cpu/online)"
say sys_vendor "$(cat /sys/class/dmi/id/sys_vendor 2>/dev/null)"
say bios_vendor "$(cat /sys/class/dmi/id/bios_vendor 2>/dev/null)"
say acpi_tables "$(ls /sys/firmware/acpi/tables 2>/dev/null | grep -v -e dynamic -e data | tr '\n' ' ')"
say disk "$(head -c 32 /dev/vda 2>/dev/null)"
say net "$(ls /sys/class/net | tr '\n' ' ')"
say watchdog "$(ls /sys/class/watchdog 2>/dev/null | tr '\n' ' ')"
if grep -q pvhfw.shell /proc/cmdline; then
    echo "pvhfw-init: busybox shell; 'poweroff -f' or Ctrl-A X leaves"
    exec setsid cttyhack sh
fi
say done yes
poweroff -f
"#;

pub fn fetch(release: Release) -> Result<DebianKernel> {
    let dir = work_dir().join(release.tag());
    std::fs::create_dir_all(&dir)?;
    let vmlinux = dir.join("vmlinux");
    let bzimage = dir.join("vmlinuz");
    // Named after its /init and module list, so that changing either rebuilds it.
    let init_hash = INIT
        .bytes()
        .chain(MODULES.iter().flat_map(|m| m.bytes()))
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    let initrd = dir.join(format!("initrd-{:08x}.cpio", init_hash as u32));
    if [&vmlinux, &bzimage, &initrd].iter().all(|p| p.exists()) {
        return Ok(DebianKernel { release, vmlinux, bzimage, initrd });
    }
    eprintln!("xtask: fetching Debian {}'s kernel", release.suite());
    let apt = Apt::new(release)?;
    let image_pkg = apt.kernel_package()?;
    let tree = dir.join("tree");
    let _ = std::fs::remove_dir_all(&tree);
    apt.unpack(&image_pkg, &tree)?;
    let vmlinuz = find_file(&tree.join("boot"), "vmlinuz-")?;
    let bz = std::fs::read(&vmlinuz)?;
    std::fs::write(&vmlinux, decompress_bzimage(&bz)?)?;
    std::fs::write(&bzimage, &bz)?;
    let busybox_tree = dir.join("busybox");
    apt.unpack("busybox-static", &busybox_tree)?;
    std::fs::write(&initrd, busybox_initrd(&busybox_tree, &tree)?)?;
    let _ = std::fs::remove_dir_all(&tree);
    Ok(DebianKernel { release, vmlinux, bzimage, initrd })
}

/// apt-get with a private source list, package lists and cache under `target/xtask/apt-NAME`:
/// the machine's own sources stay untouched.
pub struct Apt {
    dir: PathBuf,
    options: Vec<String>,
}

impl Apt {
    /// A release's main and security suites.
    fn new(release: Release) -> Result<Apt> {
        let suite = release.suite();
        Apt::with_suites(suite, &[("debian", suite.to_string()), ("debian-security", format!("{suite}-security"))])
    }

    /// The `main` component of each (archive, suite) pair, e.g. `("debian", "bookworm-backports")`,
    /// with fresh package lists.
    pub fn with_suites(name: &str, suites: &[(&str, String)]) -> Result<Apt> {
        let dir = work_dir().join(format!("apt-{name}"));
        for d in ["lists/partial", "cache/archives/partial", "debs"] {
            std::fs::create_dir_all(dir.join(d))?;
        }
        let key = "signed-by=/usr/share/keyrings/debian-archive-keyring.gpg";
        let sources: String = suites
            .iter()
            .map(|(archive, suite)| format!("deb [{key}] http://deb.debian.org/{archive} {suite} main\n"))
            .collect();
        std::fs::write(dir.join("sources.list"), sources)?;
        let d = dir.display();
        let options = [
            format!("Dir::Etc::SourceList={d}/sources.list"),
            "Dir::Etc::SourceParts=/nonexistent".into(),
            format!("Dir::State::Lists={d}/lists"),
            format!("Dir::Cache={d}/cache"),
            // Runs as root: keep apt from handing the download to its unprivileged user.
            "APT::Sandbox::User=root".into(),
        ]
        .into_iter()
        .flat_map(|o| ["-o".to_string(), o])
        .collect();
        let apt = Apt { dir, options };
        apt.run("apt-get", &["-qq", "update"], &apt.dir)?;
        Ok(apt)
    }

    fn run(&self, tool: &str, args: &[&str], cwd: &Path) -> Result<String> {
        let out = Command::new(tool).args(&self.options).args(args).current_dir(cwd).output()?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(format!("{tool} {} failed: {err}", args.join(" ")).into());
        }
        Ok(String::from_utf8(out.stdout)?)
    }

    /// `linux-image-amd64` is a metapackage; its dependency names the real kernel package.
    fn kernel_package(&self) -> Result<String> {
        let depends = self.run("apt-cache", &["depends", "linux-image-amd64"], &self.dir)?;
        depends
            .lines()
            .filter_map(|l| l.trim().strip_prefix("Depends: "))
            .find(|p| p.starts_with("linux-image-") && p.ends_with("-amd64"))
            .map(str::to_string)
            .ok_or_else(|| format!("linux-image-amd64 names no kernel package: {depends}").into())
    }

    /// Downloads `pkg` (once; `NAME/SUITE` picks the suite) and unpacks its files into `into`.
    pub fn unpack(&self, pkg: &str, into: &Path) -> Result<()> {
        let debs = self.dir.join("debs");
        let prefix = format!("{}_", pkg.split('/').next().unwrap_or(pkg));
        let deb = match find_file(&debs, &prefix) {
            Ok(deb) => deb,
            Err(_) => {
                self.run("apt-get", &["-qq", "download", pkg], &debs)?;
                find_file(&debs, &prefix)?
            }
        };
        if !Command::new("dpkg-deb").arg("-x").arg(&deb).arg(into).status()?.success() {
            return Err(format!("could not unpack {}", deb.display()).into());
        }
        Ok(())
    }
}

/// The one file in `dir` whose name starts with `prefix`.
fn find_file(dir: &Path, prefix: &str) -> Result<PathBuf> {
    for e in std::fs::read_dir(dir)? {
        let path = e?.path();
        if path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(prefix)) {
            return Ok(path);
        }
    }
    Err(format!("no {prefix}* in {}", dir.display()).into())
}

/// The ELF inside a bzImage: the payload the setup header points at (xz on Debian 12, zstd on
/// Debian 13).
pub fn decompress_bzimage(bz: &[u8]) -> Result<Vec<u8>> {
    let le32 = |o: usize| bz.get(o..o + 4).map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize);
    if bz.get(0x202..0x206) != Some(b"HdrS") {
        return Err("not a bzImage".into());
    }
    let setup_sects = match bz[0x1f1] {
        0 => 4,
        n => n as usize,
    };
    let start = (setup_sects + 1) * 512 + le32(0x248).ok_or("short header")?;
    let payload = bz.get(start..).ok_or("payload offset beyond the file")?;
    // Each stream ends before the payload does (a size trailer follows), so read one stream.
    let mut out = Vec::new();
    if payload.starts_with(b"\xfd7zXZ\0") {
        liblzma::read::XzDecoder::new(payload).read_to_end(&mut out)?;
    } else if payload.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        ruzstd::decoding::StreamingDecoder::new(payload)?.read_to_end(&mut out)?;
    } else {
        return Err("kernel payload is neither xz nor zstd".into());
    }
    if !out.starts_with(b"\x7fELF") {
        return Err("kernel payload is not an ELF".into());
    }
    Ok(out)
}

/// The initramfs: busybox, /init, a file to print and the kernel's virtio modules
/// (decompressed: busybox's insmod takes plain ELF objects).
fn busybox_initrd(busybox: &Path, kernel_tree: &Path) -> Result<Vec<u8>> {
    let mut cpio = Cpio::new();
    for d in ["bin", "dev", "proc", "sys", "tmp", "sbin", "usr", "usr/bin", "usr/sbin", "modules"] {
        cpio.dir(d);
    }
    let busybox = ["bin/busybox", "usr/bin/busybox"]
        .iter()
        .map(|p| busybox.join(p))
        .find(|p| p.exists())
        .ok_or("busybox-static has no busybox binary")?;
    cpio.file("bin/busybox", 0o755, &std::fs::read(busybox)?);
    cpio.file("init", 0o755, INIT.as_bytes());
    cpio.file("hello.txt", 0o644, format!("{HELLO_TEXT}\n").as_bytes());
    let modules = ["lib/modules", "usr/lib/modules"]
        .iter()
        .map(|d| kernel_tree.join(d))
        .find(|d| d.is_dir())
        .ok_or("the kernel package has no modules directory")?;
    let modules = std::fs::read_dir(&modules)?.next().ok_or("no module tree")??.path().join("kernel");
    let mut order = String::new();
    for m in MODULES {
        let name = Path::new(m).file_name().and_then(|n| n.to_str()).expect("static path");
        let plain = modules.join(m);
        let xz = modules.join(format!("{m}.xz"));
        let data = if plain.exists() {
            std::fs::read(plain)?
        } else if xz.exists() {
            let mut out = Vec::new();
            liblzma::read::XzDecoder::new(std::fs::File::open(xz)?).read_to_end(&mut out)?;
            out
        } else {
            continue; // built in
        };
        cpio.file(&format!("modules/{name}"), 0o644, &data);
        order.push_str(&format!("modules/{name}\n"));
    }
    cpio.file("modules.order", 0o644, order.as_bytes());
    Ok(cpio.finish())
}

/// QEMU `v` for a Debian boot on `machine` (TCG: the software KVM here cannot run full Linux).
/// Single-threaded TCG: with a thread per vCPU, two such boots on two host cores starved vCPUs
/// into rare soft lockups (a test run hung once in this way); one thread is also faster here.
pub fn boot(v: Version, name: &str, machine: &str, firmware: &Path, kernel: &DebianKernel, append: &str) -> Qemu {
    let (q, cmdline) = linux_under_tcg(v, name, machine, firmware, append);
    q.arg_path("-kernel", &kernel.vmlinux).arg_path("-initrd", &kernel.initrd).args(&["-append", &cmdline])
}

/// The same boot through `pvhfw.elf`: QEMU `v`'s own firmware for `machine` (SeaBIOS with
/// QEMU's PVH option ROM, qboot on `microvm`) starts `elf`, which loads the kernel, initrd and
/// command line from the fw_cfg files `opt/org.pvhfw/*`.
pub fn boot_chained(
    v: Version,
    name: &str,
    machine: &str,
    elf: &Path,
    kernel: &DebianKernel,
    append: &str,
) -> crate::Result<Qemu> {
    let anchor = if machine.starts_with("microvm") { qemu::QBOOT } else { qemu::SEABIOS };
    let (q, cmdline) = linux_under_tcg(v, name, machine, &v.firmware(anchor)?, append);
    Ok(q.arg_path("-kernel", elf).args(&qemu::chain_files(&kernel.vmlinux, Some(&kernel.initrd), &cmdline)))
}

/// What both boots share: QEMU for Linux under TCG on `machine` (with the PIT, RTC and TSC
/// frequency `microvm` needs under TCG) with `firmware`, and the kernel command line.
fn linux_under_tcg(v: Version, name: &str, machine: &str, firmware: &Path, append: &str) -> (Qemu, String) {
    let (machine_arg, extra) = if machine.starts_with("microvm") {
        (format!("{machine},pit=on,rtc=on"), format!(" tsc_early_khz={}", qemu::host_khz()))
    } else {
        (machine.to_string(), String::new())
    };
    let cmdline = format!("console=ttyS0 panic=-1 {append}{extra}").trim().to_string();
    let q =
        Qemu::new(v, name, &machine_arg, firmware).args(&["-accel", "tcg,thread=single", "-cpu", "max", "-m", "512M"]);
    (q, cmdline)
}

/// Parses init's `pvhfw-init: KEY: VALUE` lines.
pub fn init_report(serial: &str) -> std::collections::BTreeMap<String, String> {
    serial
        .lines()
        .filter_map(|l| l.trim_end_matches('\r').split_once("pvhfw-init: ")?.1.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}
