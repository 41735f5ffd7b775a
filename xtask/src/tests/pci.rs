//! PCI resources as pvhfw assigns them when asked (`opt/org.pvhfw/pci=assign`), for Debian's
//! 64-bit kernel under TCG, next to SeaBIOS's assignment of the same machine: devices on bus 0,
//! behind a `pci-bridge` (pc) and behind `pcie-root-port`s (q35) — virtio-blk, e1000, NVMe,
//! virtio-scsi and a 2 GiB 64-bit BAR (`ivshmem-plain`, which fits only above 4 GiB) — each
//! with a driver bound and its BARs where the firmware put them (Linux reassigns none); on q35
//! a virtio-blk disk hot-plugged into an empty root port after boot (QMP `device_add`) must
//! appear in the guest, in the room the port's windows keep for it.

use super::linux::{expect_report, DISK_SIGNATURE};
use super::{Case, Verdict};
use crate::debian::{DebianKernel, HELLO_TEXT};
use crate::linux;
use crate::qemu::{self, Outcome, Version};
use crate::Result;
use std::collections::BTreeMap;
use std::path::Path;

/// Vendor and device ids as sysfs lists them.
const VIRTIO_BLK: &str = "0x1af4:0x1001";
const VIRTIO_SCSI: &str = "0x1af4:0x1004";
const E1000: &str = "0x8086:0x100e";
const NVME: &str = "0x1b36:0x0010";
const IVSHMEM: &str = "0x1af4:0x1110";

/// The devices, where each goes on `machine`, and on q35 the empty root port for hotplug.
fn devices(machine: &str, disk: &Path) -> Vec<String> {
    let ro = |id: &str| format!("file={},format=raw,if=none,id={id},readonly=on", disk.display());
    let mut args: Vec<String> =
        ["-drive", &ro("d0"), "-drive", &ro("d1"), "-drive", &ro("d2"), "-drive", &ro("hp")].map(String::from).to_vec();
    args.extend(["-object", "memory-backend-ram,id=shm,size=2G"].map(String::from));
    args.extend(["-netdev", "user,id=n0"].map(String::from));
    let (blk, nvme, scsi, shm, nic) = if machine == "pc" {
        args.extend(["-device", "pci-bridge,id=br1,chassis_nr=1"].map(String::from));
        (",bus=br1,addr=1", "", ",bus=br1,addr=3", "", ",bus=br1,addr=2")
    } else {
        for (id, chassis) in [("rp1", 1), ("rp2", 2), ("rp3", 3), ("rp4", 4), ("rp5", 5)] {
            args.extend(["-device".into(), format!("pcie-root-port,id={id},chassis={chassis},slot={chassis}")]);
        }
        (",bus=rp1", ",bus=rp2", ",bus=rp3", ",bus=rp4", "")
    };
    for device in [
        format!("virtio-blk-pci,drive=d0,disable-legacy=off{blk}"),
        format!("nvme,drive=d1,serial=pvhfw{nvme}"),
        format!("virtio-scsi-pci,id=scsi0,disable-legacy=off{scsi}"),
        "scsi-hd,drive=d2,bus=scsi0.0".into(),
        format!("ivshmem-plain,memdev=shm{shm}"),
        format!("e1000,netdev=n0{nic}"),
    ] {
        args.extend(["-device".into(), device]);
    }
    args
}

/// The hotplug: a virtio-blk disk into q35's empty root port `rp5`.
const HOTPLUG: &str =
    r#"{"execute":"device_add","arguments":{"driver":"virtio-blk-pci","drive":"hp","bus":"rp5","id":"hp0"}}"#;

/// Under pvhfw (assignment asked for) and SeaBIOS, on `pc` and `q35`.
pub(super) fn cases(v: Version, firmware: &Path, k: &DebianKernel) -> Result<Vec<Case>> {
    let disk = super::linux::test_disk()?;
    let seabios = v.firmware(qemu::SEABIOS)?;
    let mut cases = Vec::new();
    for machine in ["pc", "q35"] {
        for (who, bios) in [("pvhfw", firmware), ("seabios", seabios.as_path())] {
            let name = format!("deb12-pci-{who}-{machine}");
            let hotplug = machine == "q35";
            let token = format!("pvhfw.token={}-{name}-{}", v.tag(), std::process::id());
            let append = format!("{token} pvhfw.pci{}", if hotplug { " pvhfw.hotplug" } else { "" });
            let k = DebianKernel { initrd: k.devices_initrd.clone(), ..k.clone() };
            let mut q = linux::boot(v, &name, machine, bios, &k, &append)
                .args(&devices(machine, &disk))
                .args(&["-fw_cfg", "name=opt/org.pvhfw/pci,string=assign"])
                .timeout(300);
            if hotplug {
                q = q.qmp_when("pvhfw-init: waiting: hotplug", &[HOTPLUG]);
            }
            cases.push(Case { name, run: q.into(), check: Box::new(move |o| check(o, &token, hotplug)) });
        }
    }
    Ok(cases)
}

/// Every device has its driver (the ivshmem device, which has none, its 2 GiB BAR above 4 GiB),
/// its disks and interface are there, Linux assigned no BAR itself, and the hot-plugged disk
/// reads.
fn check(o: &Outcome, token: &str, hotplug: bool) -> Verdict {
    let want = [("file", HELLO_TEXT), ("disk", DISK_SIGNATURE), ("pci_assigned", "0"), ("done", "yes")];
    let report = expect_report(o, token, &want)?;
    let devices = pci_devices(&report);
    for (id, driver) in [(VIRTIO_BLK, "virtio-pci"), (VIRTIO_SCSI, "virtio-pci"), (E1000, "e1000"), (NVME, "nvme")] {
        if !devices.values().any(|(i, d, _)| i == id && d == driver) {
            return Err(format!("no {id} device with driver {driver}: {devices:?}"));
        }
    }
    let shm = devices.values().find(|(i, ..)| i == IVSHMEM).ok_or("no ivshmem device")?;
    let bar2 = shm.2.get(2).copied().unwrap_or(0);
    if bar2 < 1 << 32 {
        return Err(format!("ivshmem's 2 GiB BAR 2 at {bar2:#x}, want it above 4 GiB"));
    }
    let block = report.get("block").map(String::as_str).unwrap_or_default();
    for disk in ["vda", "nvme0n1", "sda"] {
        if !block.split(' ').any(|b| b == disk) {
            return Err(format!("no {disk} among the block devices: {block:?}"));
        }
    }
    super::linux::expect_eth0(&report)?;
    if hotplug && report.get("hotplug").map(String::as_str) != Some(DISK_SIGNATURE) {
        return Err(format!("the hot-plugged disk reads {:?}", report.get("hotplug")));
    }
    if o.status != Some(0) {
        return Err(format!("QEMU status {:?}; init's poweroff -f should end it with 0", o.status));
    }
    Ok(())
}

/// init's `pci` line: `ADDRESS=VENDOR:DEVICE:DRIVER:BAR0,...,BAR5,` per function, as (id,
/// driver, BAR addresses) by address.
fn pci_devices(report: &BTreeMap<String, String>) -> BTreeMap<String, (String, String, Vec<u64>)> {
    let line = report.get("pci").map(String::as_str).unwrap_or_default();
    line.split_whitespace()
        .filter_map(|d| {
            let (address, rest) = d.split_once('=')?;
            let mut parts = rest.splitn(4, ':');
            let id = format!("{}:{}", parts.next()?, parts.next()?);
            let driver = parts.next()?.to_string();
            let bars = parts
                .next()?
                .split(',')
                .filter(|b| !b.is_empty())
                .map(|b| u64::from_str_radix(b.trim_start_matches("0x"), 16).unwrap_or(0))
                .collect();
            Some((address.to_string(), (id, driver, bars)))
        })
        .collect()
}
