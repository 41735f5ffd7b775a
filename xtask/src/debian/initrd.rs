//! The busybox initramfs Debian's kernels boot into: busybox, an /init that reports what Linux
//! found as `pvhfw-init: KEY: VALUE` lines ([`init_report`] reads them back), a file to print, and
//! the kernel's virtio modules.

use crate::cpio::Cpio;
use crate::Result;
use anyhow::Context;
use std::io::Read;
use std::path::Path;

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

/// The drivers of the PCI assignment tests' devices (NVMe, e1000, virtio-scsi and their disks),
/// in the initramfs those tests boot only: 1.7 MB more, which moves the initrd SeaBIOS's
/// `microvm` image places onto its own ACPI tables (its comparison boot then stalls).
const DEVICE_MODULES: &[&str] = &[
    "crypto/crct10dif_common.ko",
    "crypto/crct10dif_generic.ko",
    "lib/crc-t10dif.ko",
    "lib/crc64.ko",
    "crypto/crc64_rocksoft_generic.ko",
    "lib/crc64-rocksoft.ko",
    "block/t10-pi.ko",
    "drivers/nvme/host/nvme-core.ko",
    "drivers/nvme/host/nvme.ko",
    "drivers/net/ethernet/intel/e1000/e1000.ko",
    "drivers/scsi/scsi_common.ko",
    "drivers/scsi/scsi_mod.ko",
    "drivers/scsi/sd_mod.ko",
    "drivers/scsi/virtio_scsi.ko",
];

/// The modules of the initramfs: the virtio ones, and with `devices` those of the PCI tests.
fn module_list(devices: bool) -> impl Iterator<Item = &'static str> {
    MODULES.iter().chain(if devices { DEVICE_MODULES } else { &[] }).copied()
}

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
say block "$(ls /sys/class/block 2>/dev/null | tr '\n' ' ')"
say extra "$(cat /extra.txt 2>/dev/null)"
say net "$(ls /sys/class/net | tr '\n' ' ')"
say watchdog "$(ls /sys/class/watchdog 2>/dev/null | tr '\n' ' ')"
if grep -q pvhfw.pci /proc/cmdline; then
    for d in /sys/bus/pci/devices/*; do
        driver=$(basename "$(readlink $d/driver)" 2>/dev/null)
        echo "$(basename $d)=$(cat $d/vendor):$(cat $d/device):$driver:$(head -n 6 $d/resource | cut -d' ' -f1 | tr '\n' ',')"
    done | tr '\n' ' ' > /tmp/pci
    say pci "$(cat /tmp/pci)"
    say pci_assigned "$(dmesg | grep -c -E 'BAR [0-5][ :].*assigned')"
fi
if grep -q pvhfw.tpm /proc/cmdline; then
    mount -t securityfs securityfs /sys/kernel/security
    say tpm_log "$(od -An -v -tx1 /sys/kernel/security/tpm0/binary_bios_measurements | tr -d ' \n')"
    for b in sha1 sha256 sha384 sha512; do
        say pcrs_$b "$(for i in 0 1 2 3 4 5 6 7 8 9; do cat /sys/class/tpm/tpm0/pcr-$b/$i 2>/dev/null || echo -; done | tr '\n' ' ')"
    done
fi
if grep -q pvhfw.hotplug /proc/cmdline; then
    say waiting hotplug
    i=0
    while [ ! -e /dev/vdb ] && [ $i -lt 900 ]; do sleep 0.1; i=$((i+1)); done
    say hotplug "$(head -c 32 /dev/vdb 2>/dev/null)"
fi
if grep -q pvhfw.shell /proc/cmdline; then
    echo "pvhfw-init: busybox shell; 'poweroff -f' or Ctrl-A X leaves"
    exec setsid cttyhack sh
fi
say done yes
poweroff -f
"#;

/// The initramfs file's name, after its /init and module list, so that changing either rebuilds
/// it.
pub(super) fn file_name(devices: bool) -> String {
    let hash = INIT
        .bytes()
        .chain(module_list(devices).flat_map(|m| m.bytes()))
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    format!("initrd-{:08x}.cpio", hash as u32)
}

/// The initramfs: busybox, /init, a file to print and the kernel's virtio modules
/// (decompressed: busybox's insmod takes plain ELF objects).
pub(super) fn busybox(busybox: &Path, kernel_tree: &Path, devices: bool) -> Result<Vec<u8>> {
    let mut cpio = Cpio::new();
    for d in ["bin", "dev", "proc", "sys", "tmp", "sbin", "usr", "usr/bin", "usr/sbin", "modules"] {
        cpio.dir(d);
    }
    let busybox = ["bin/busybox", "usr/bin/busybox"]
        .iter()
        .map(|p| busybox.join(p))
        .find(|p| p.exists())
        .context("busybox-static has no busybox binary")?;
    cpio.file("bin/busybox", 0o755, &std::fs::read(busybox)?);
    cpio.file("init", 0o755, INIT.as_bytes());
    cpio.file("hello.txt", 0o644, format!("{HELLO_TEXT}\n").as_bytes());
    let modules = ["lib/modules", "usr/lib/modules"]
        .iter()
        .map(|d| kernel_tree.join(d))
        .find(|d| d.is_dir())
        .context("the kernel package has no modules directory")?;
    let modules = std::fs::read_dir(&modules)?.next().context("no module tree")??.path().join("kernel");
    let mut order = String::new();
    for m in module_list(devices) {
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

/// Parses init's `pvhfw-init: KEY: VALUE` lines.
pub fn init_report(serial: &str) -> std::collections::BTreeMap<String, String> {
    serial
        .lines()
        .filter_map(|l| l.trim_end_matches('\r').split_once("pvhfw-init: ")?.1.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}
