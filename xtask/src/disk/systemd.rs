//! A real Debian 12 system on a disk image, booted from its disk: systemd as PID 1, Debian's
//! stock kernel and initramfs, and GRUB installed by Debian's own `grub-install` and
//! `update-grub`, so that its `/boot/grub/grub.cfg` is exactly what a Debian install has.
//!
//! The image is built without loop devices or mounts on the host:
//! 1. `mmdebstrap` (Debian 12's, fetched with `apt-get download` and run from its extracted
//!    tree: the machine gets nothing installed) writes a `minbase` system with systemd, udev,
//!    `linux-image-amd64` and `grub-pc` into a directory; the kernel's postinst runs
//!    initramfs-tools, which writes `/boot/initrd.img-VERSION`;
//! 2. the host tool adds the configuration (fstab by UUID, a fixed machine-id, GRUB's defaults,
//!    a unit that reports `systemctl is-system-running --wait` on the serial console and powers
//!    off);
//! 3. `sfdisk` writes a GPT into a sparse file, laid out as Debian's installer does for BIOS
//!    machines (a 1 MiB BIOS boot partition, then the ext4 root), and `mke2fs -d` writes the
//!    root file system into its partition (`-E offset=`);
//! 4. one boot of that disk under QEMU 7.2 (SeaBIOS with `-kernel`, the image's own kernel
//!    and initramfs) runs `grub-install /dev/vda` and `update-grub` inside the guest in place
//!    of init, then powers off: boot.img lands in the MBR, core.img in the BIOS boot
//!    partition, the modules and grub.cfg in `/boot/grub`, as on a machine Debian installed.
//!
//! The result is cached under `target/xtask/disks/`, named after a hash of everything above
//! ([`recipe`]): a second run reuses it, a change to the recipe builds a new one. Guests boot
//! it with `snapshot=on`, so no boot changes the cached file.

use crate::apt::{find_file, Apt};
use crate::cmd::Checked;
use crate::qemu::{self, Outcome, Qemu, Version};
use crate::{work_dir, Result};
use anyhow::{bail, ensure, Context};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// The packages beyond `minbase`: systemd as init, udev for the devices, Debian's kernel (its
/// dependencies bring initramfs-tools) and GRUB for BIOS machines.
const PACKAGES: &str = "systemd-sysv,udev,linux-image-amd64,grub-pc";

/// The suite and mirror: the release's main archive only, so the image changes at point
/// releases rather than with every security upload.
const SUITE: &str = "bookworm";
const MIRROR: &str = "http://deb.debian.org/debian";

/// File times in the tree and the file system, and the guest's clock while GRUB is installed.
const EPOCH: u64 = 1_700_000_000;
const EPOCH_RTC: &str = "2023-11-14T22:13:20";

/// Fixed identities, so that the disk, the fstab and grub.cfg come out the same on every build.
pub const ROOT_UUID: &str = "8d1c1a64-3a0f-4e5c-9b0e-6f7076686677";
const DISK_GUID: &str = "5F0A3C2E-7B14-4D6A-9E85-70766866772D";
const BIOS_PART_GUID: &str = "5F0A3C2E-7B14-4D6A-9E85-707668660001";
const ROOT_PART_GUID: &str = "5F0A3C2E-7B14-4D6A-9E85-707668660002";
/// A machine-id: an empty one makes systemd treat every boot as the first
/// (`systemd-firstboot` would prompt on the console).
const MACHINE_ID: &str = "7076686673797374656d640000000001";

/// GPT type GUIDs: GRUB's BIOS boot partition, Linux file system.
const BIOS_BOOT_TYPE: &str = "21686148-6449-6E6F-744E-656564454649";
const LINUX_FS_TYPE: &str = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";

/// Partition layout in 512-byte sectors: GPT, 1 MiB BIOS boot partition at 1 MiB, the root
/// file system from 2 MiB, and a MiB at the end for the backup GPT.
const SECTOR: u64 = 512;
const BIOS_START: u64 = 2048;
const BIOS_SECTORS: u64 = 2048;
const ROOT_START: u64 = BIOS_START + BIOS_SECTORS;
/// The installed system takes about 700 MiB (400 of them the kernel's modules).
const ROOT_MIB: u64 = 1536;
const DISK_MIB: u64 = ROOT_START * SECTOR / (1 << 20) + ROOT_MIB + 1;
// The backup GPT needs 33 sectors after the root partition.
const _: () = assert!(DISK_MIB * 2048 >= ROOT_START + ROOT_MIB * 2048 + 33);

/// What the report unit prints on the serial console; the state follows it.
pub const STATE: &str = "pvhfw-systemd: state: ";
/// The failed units, listed before the state, for a `degraded` to be read from the log.
pub const FAILED: &str = "pvhfw-systemd: failed: ";

/// Reports the system's state once the boot has finished and powers off. `Type=simple`: the
/// boot job of a oneshot unit would only end with the unit, and `--wait` would then wait
/// for itself.
const REPORT_UNIT: &str = r#"[Unit]
Description=Report the system state on the serial console, then power off

[Service]
Type=simple
ExecStart=/bin/sh -c 'state=$(systemctl is-system-running --wait); echo "pvhfw-systemd: failed: $(systemctl --failed --no-legend --plain | cut -d" " -f1 | tr "\\n" " ")" > /dev/ttyS0; echo "pvhfw-systemd: state: $state" > /dev/ttyS0; systemctl poweroff'

[Install]
WantedBy=multi-user.target
"#;

/// Runs in place of init on the one boot that installs GRUB: Debian's own tools on the real
/// disk, the root file system made read-only (so that it is clean when QEMU ends), then a
/// power-off (sysrq works without an init to ask). It stays in the image: deleting it while
/// it runs would keep `/` busy for the remount. Any failure ends init, and `panic=-1` QEMU.
const INSTALL_GRUB: &str = r#"#!/bin/sh
set -e
mount -t proc proc /proc 2>/dev/null || true
mount -t sysfs sysfs /sys 2>/dev/null || true
mount -t devtmpfs devtmpfs /dev 2>/dev/null || true
grub-install --target=i386-pc /dev/vda
update-grub
sync
mount -o remount,ro /
echo "pvhfw-grub: installed"
echo o > /proc/sysrq-trigger
"#;
const INSTALL_GRUB_PATH: &str = "usr/local/sbin/pvhfw-install-grub";
const INSTALLED: &str = "pvhfw-grub: installed";

/// `/etc/default/grub` settings changed from Debian's: no menu delay (the benchmark's
/// `timeout 0`), the kernel's console on the serial port and not `quiet` (the boot is read
/// from it), and GRUB's own text console instead of `gfxterm`, which waits forever on a
/// machine without a graphics card (`-nodefaults`).
const GRUB_DEFAULTS: [(&str, &str); 4] = [
    ("GRUB_TIMEOUT", "0"),
    ("GRUB_CMDLINE_LINUX_DEFAULT", "\"\""),
    ("GRUB_CMDLINE_LINUX", "\"console=ttyS0\""),
    ("#GRUB_TERMINAL", "console"),
];

/// Everything the image is made of, as text: its hash names the cached file.
fn recipe() -> String {
    let grub: Vec<String> = GRUB_DEFAULTS.iter().map(|(k, v)| format!("{k}={v}")).collect();
    [
        PACKAGES,
        SUITE,
        MIRROR,
        &EPOCH.to_string(),
        ROOT_UUID,
        DISK_GUID,
        BIOS_PART_GUID,
        ROOT_PART_GUID,
        MACHINE_ID,
        &format!("{BIOS_START} {BIOS_SECTORS} {ROOT_START} {ROOT_MIB} {DISK_MIB}"),
        REPORT_UNIT,
        INSTALL_GRUB,
        &grub.join("\n"),
        &fstab(),
        &install_append(),
    ]
    .join("\n--\n")
}

fn fstab() -> String {
    format!("UUID={ROOT_UUID} / ext4 errors=remount-ro 0 1\n")
}

fn disks_dir() -> PathBuf {
    work_dir().join("disks")
}

/// Where the image for the current recipe is (or will be).
pub fn path() -> PathBuf {
    let hash = Sha256::digest(recipe().as_bytes());
    let tag: String = hash[..4].iter().map(|b| format!("{b:02x}")).collect();
    disks_dir().join(format!("deb12-systemd-{tag}.img"))
}

/// The image's kernel as a file beside it (the benchmark patches a copy of the disk where this
/// file lies).
pub fn kernel_path() -> PathBuf {
    path().with_extension("vmlinuz")
}

/// The image, built first if the cache has none for this recipe.
pub fn ensure() -> Result<PathBuf> {
    let disk = path();
    if disk.exists() && kernel_path().exists() {
        return Ok(disk);
    }
    let start = Instant::now();
    eprintln!("xtask: building the Debian 12 systemd disk image {}", disk.display());
    build(&disk).with_context(|| format!("building {}", disk.display()))?;
    eprintln!("xtask: built {} in {:.0} s", disk.display(), start.elapsed().as_secs_f64());
    Ok(disk)
}

fn build(disk: &Path) -> Result<()> {
    let dir = disks_dir();
    let root = dir.join("systemd-root");
    let partial = disk.with_extension("partial");
    std::fs::create_dir_all(&dir)?;
    remove_tree(&root)?;
    let mmdebstrap = fetch_mmdebstrap(&dir)?;
    bootstrap(&mmdebstrap, &root)?;
    configure(&root)?;
    let boot = root.join("boot");
    let kernel = find_file(&boot, "vmlinuz-")?;
    let initrd = find_file(&boot, "initrd.img-")?;
    std::fs::copy(&kernel, kernel_path())?;
    std::fs::copy(&initrd, dir.join("systemd-initrd.img"))?;
    assemble(&root, &partial)?;
    remove_tree(&root)?;
    install_grub(&partial, &kernel_path(), &dir.join("systemd-initrd.img"))?;
    std::fs::remove_file(dir.join("systemd-initrd.img"))?;
    std::fs::rename(&partial, disk)?;
    Ok(())
}

fn remove_tree(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e).context(format!("removing {}", dir.display())),
        _ => Ok(()),
    }
}

/// Debian 12's mmdebstrap, unpacked under `dir` (a Perl script: it runs from there with the
/// host's apt and dpkg).
fn fetch_mmdebstrap(dir: &Path) -> Result<PathBuf> {
    let tree = dir.join("mmdebstrap");
    let script = tree.join("usr/bin/mmdebstrap");
    if !script.exists() {
        let apt =
            Apt::with_suites(SUITE, &[("debian", SUITE.into()), ("debian-security", format!("{SUITE}-security"))])?;
        apt.unpack("mmdebstrap", &tree).context("fetching mmdebstrap")?;
    }
    Ok(script)
}

/// The Debian system in `root`. Root mode: this tool runs as root, so mmdebstrap uses a plain
/// chroot (with /proc, /sys and /dev mounted inside it while the packages install).
fn bootstrap(mmdebstrap: &Path, root: &Path) -> Result<()> {
    Command::new("perl")
        .arg(mmdebstrap)
        .args(["--quiet", "--mode=root", "--variant=minbase", &format!("--include={PACKAGES}"), SUITE])
        .arg(root)
        .arg(MIRROR)
        .env("SOURCE_DATE_EPOCH", EPOCH.to_string())
        .stdin(Stdio::null())
        .checked_stdout()
        .context("mmdebstrap")?;
    Ok(())
}

/// The host tool's additions to the installed system.
fn configure(root: &Path) -> Result<()> {
    let write = |rel: &str, text: &str| {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().expect("a file under root"))?;
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    };
    write("etc/fstab", &fstab())?;
    write("etc/machine-id", &format!("{MACHINE_ID}\n"))?;
    write("etc/hostname", "pvhfw-systemd\n")?;
    write("etc/systemd/system/pvhfw-report.service", REPORT_UNIT)?;
    let wants = root.join("etc/systemd/system/multi-user.target.wants/pvhfw-report.service");
    std::os::unix::fs::symlink("/etc/systemd/system/pvhfw-report.service", wants)?;
    write(INSTALL_GRUB_PATH, INSTALL_GRUB)?;
    set_mode(&root.join(INSTALL_GRUB_PATH), 0o755)?;
    let defaults = root.join("etc/default/grub");
    let text = std::fs::read_to_string(&defaults).context("grub-pc's /etc/default/grub")?;
    write("etc/default/grub", &grub_defaults(&text)?)
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).context("chmod")
}

/// Debian's `/etc/default/grub` with [`GRUB_DEFAULTS`]: each setting's line replaced (a
/// commented-out one uncommented); every setting must have a line.
fn grub_defaults(text: &str) -> Result<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for (key, value) in GRUB_DEFAULTS {
        let line = lines
            .iter_mut()
            .find(|l| l.starts_with(&format!("{key}=")))
            .with_context(|| format!("/etc/default/grub has no {key} line"))?;
        *line = format!("{}={value}", key.trim_start_matches('#'));
    }
    Ok(lines.join("\n") + "\n")
}

/// The GPT (sfdisk) and the root file system from `root` (mke2fs -d at the root partition's
/// offset) in the sparse file `disk`.
fn assemble(root: &Path, disk: &Path) -> Result<()> {
    let _ = std::fs::remove_file(disk);
    let f = std::fs::File::create(disk)?;
    f.set_len(DISK_MIB << 20)?;
    drop(f);
    let mut sfdisk = Command::new("sfdisk")
        .args(["--quiet", "--no-reread", "--no-tell-kernel"])
        .arg(disk)
        .stdin(Stdio::piped())
        .spawn()
        .context("sfdisk (package fdisk)")?;
    sfdisk.stdin.take().expect("piped").write_all(sfdisk_script().as_bytes())?;
    ensure!(sfdisk.wait()?.success(), "sfdisk failed on {}", disk.display());
    let offset = ROOT_START * SECTOR;
    Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext4", "-U", ROOT_UUID, "-E"])
        .arg(format!("offset={offset},hash_seed={ROOT_UUID},nodiscard"))
        .arg("-d")
        .arg(root)
        .arg(disk)
        .arg(format!("{}k", ROOT_MIB * 1024))
        .env("E2FSPROGS_FAKE_TIME", EPOCH.to_string())
        .checked_stdout()
        .context("mke2fs (package e2fsprogs)")?;
    Ok(())
}

/// The partition table, with fixed GUIDs.
fn sfdisk_script() -> String {
    let root_sectors = ROOT_MIB * (1 << 20) / SECTOR;
    format!(
        "label: gpt\nlabel-id: {DISK_GUID}\nunit: sectors\n\
         start={BIOS_START}, size={BIOS_SECTORS}, type={BIOS_BOOT_TYPE}, uuid={BIOS_PART_GUID}, name=\"BIOS boot\"\n\
         start={ROOT_START}, size={root_sectors}, type={LINUX_FS_TYPE}, uuid={ROOT_PART_GUID}, name=\"root\"\n"
    )
}

/// The one boot that installs GRUB: SeaBIOS loads the image's own kernel and initramfs with
/// `-kernel`, and [`INSTALL_GRUB`] runs as init on the disk.
fn install_grub(disk: &Path, kernel: &Path, initrd: &Path) -> Result<()> {
    let v = Version::V7_2;
    v.ensure_installed()?;
    let append = install_append();
    let q = Qemu::new(v, "disk-systemd-install-grub", "pc", &v.firmware(qemu::SEABIOS)?)
        .args(&["-accel", "tcg,thread=single", "-cpu", "max", "-m", "1G", "-rtc", &format!("base={EPOCH_RTC}")])
        .arg_path("-kernel", kernel)
        .arg_path("-initrd", initrd)
        .args(&["-append", &append])
        .args(&drive_args(disk, false))
        .timeout(600);
    let o = q.run()?;
    // A QEMU killed by a signal also ends with status 0: the line says the guest got there.
    if o.status != Some(0) || !o.serial.contains(INSTALLED) {
        bail!("installing GRUB in the guest failed (status {:?}); see {}", o.status, o.log.display());
    }
    Ok(())
}

/// The kernel command line of the boot that installs GRUB.
fn install_append() -> String {
    format!("root=UUID={ROOT_UUID} rw console=ttyS0 quiet panic=-1 init=/{INSTALL_GRUB_PATH}")
}

/// The disk as a virtio-blk-pci device; `snapshot` keeps the guest's writes out of the file.
pub fn drive_args(disk: &Path, snapshot: bool) -> Vec<String> {
    let snap = if snapshot { ",snapshot=on" } else { "" };
    vec![
        "-drive".into(),
        format!("file={},format=raw,if=none,id=d0{snap}", disk.display()),
        "-device".into(),
        "virtio-blk-pci,drive=d0".into(),
    ]
}

/// QEMU `v` booting the image from its disk with `firmware` on `machine`, under TCG (the
/// software KVM here cannot run full Linux), until the report unit powers it off.
pub fn boot(v: Version, name: &str, machine: &str, firmware: &Path, disk: &Path) -> Qemu {
    // pvhfw halts when it cannot boot: its last line ends the run at once.
    Qemu::new(v, name, machine, firmware).args(&tcg_args(disk)).timeout(420).until("pvhfw: halted")
}

/// What a boot of the image adds to QEMU's base arguments and firmware: single-threaded TCG
/// (as Debian's kernels are booted elsewhere here), 1 GiB, the disk not written.
pub fn tcg_args(disk: &Path) -> Vec<String> {
    let mut args: Vec<String> = ["-accel", "tcg,thread=single", "-cpu", "max", "-m", "1G"].map(String::from).to_vec();
    args.extend(drive_args(disk, true));
    args
}

/// The state the report unit printed, if it did.
pub fn state(serial: &str) -> Option<&str> {
    serial.lines().find_map(|l| l.strip_prefix(STATE)).map(|s| s.trim_end_matches('\r').trim())
}

/// A test case: the image booted by QEMU, and whether GRUB boots it.
pub struct DiskCase {
    pub name: &'static str,
    pub qemu: Qemu,
    pub via_grub: bool,
}

/// The test cases: the image booted by SeaBIOS and the GRUB on the disk
/// (`disk-systemd-seabios-grub`), and by pvhfw straight from the disk (`disk-systemd-pvhfw`,
/// no `-kernel`), both on `pc`, each to systemd's `running` ([`check`]).
pub fn cases(v: Version, pvhfw: &Path) -> Result<Vec<DiskCase>> {
    let disk = path();
    let seabios = v.firmware(qemu::SEABIOS)?;
    let runs = [("disk-systemd-seabios-grub", seabios.as_path(), true), ("disk-systemd-pvhfw", pvhfw, false)];
    Ok(runs
        .into_iter()
        .map(|(name, firmware, via_grub)| DiskCase { name, qemu: boot(v, name, "pc", firmware, &disk), via_grub })
        .collect())
}

/// systemd reached `running` with the command line of grub.cfg's first entry, and powered
/// off (QEMU status 0). Through GRUB, the command line starts with the `BOOT_IMAGE=` GRUB
/// adds.
pub fn check(o: &Outcome, grub: bool) -> std::result::Result<(), String> {
    if let Some(l) = o.serial.lines().find(|l| l.starts_with("pvhfw: error")) {
        return Err(l.trim().to_string());
    }
    let cmdline = o.serial.lines().find_map(|l| l.split("Command line: ").nth(1)).unwrap_or("");
    if !cmdline.contains(&format!("root=UUID={ROOT_UUID} ro console=ttyS0")) {
        return Err(format!("the kernel's command line is {cmdline:?}, not grub.cfg's first entry's"));
    }
    if grub && !cmdline.starts_with("BOOT_IMAGE=/boot/vmlinuz-") {
        return Err(format!("no BOOT_IMAGE= from GRUB in {cmdline:?}"));
    }
    match state(&o.serial) {
        Some("running") => {}
        Some(s) => {
            let failed = o.serial.lines().find_map(|l| l.strip_prefix(FAILED)).unwrap_or("").trim();
            return Err(format!("systemd is {s:?}, failed units: {failed:?}"));
        }
        None => return Err(format!("no {STATE:?} line (QEMU status {:?})", o.status)),
    }
    if o.status != Some(0) {
        return Err(format!("QEMU status {:?}; the report unit's poweroff should end it with 0", o.status));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grub_defaults_replace_debians_lines() {
        let debian = "GRUB_DEFAULT=0\nGRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\n\
                      GRUB_CMDLINE_LINUX=\"\"\n#GRUB_TERMINAL=console\n";
        let ours = grub_defaults(debian).unwrap();
        assert_eq!(
            ours,
            "GRUB_DEFAULT=0\nGRUB_TIMEOUT=0\nGRUB_CMDLINE_LINUX_DEFAULT=\"\"\n\
             GRUB_CMDLINE_LINUX=\"console=ttyS0\"\nGRUB_TERMINAL=console\n"
        );
        assert!(grub_defaults("GRUB_DEFAULT=0\n").is_err());
    }

    #[test]
    fn layout_is_debians_bios_gpt() {
        let script = sfdisk_script();
        assert!(script.contains("start=2048, size=2048, type=21686148-6449-6E6F-744E-656564454649"));
        assert!(script.contains(&format!("start=4096, size={}, type={LINUX_FS_TYPE}", ROOT_MIB * 2048)));
    }

    #[test]
    fn state_is_read_from_the_console() {
        assert_eq!(state("x\r\npvhfw-systemd: state: running\r\n"), Some("running"));
        assert_eq!(state("pvhfw-systemd: state: degraded\n"), Some("degraded"));
        assert_eq!(state("nothing"), None);
    }

    #[test]
    fn the_name_follows_the_recipe() {
        let name = path().file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("deb12-systemd-") && name.ends_with(".img"), "{name}");
        assert_eq!(path(), path());
    }
}
