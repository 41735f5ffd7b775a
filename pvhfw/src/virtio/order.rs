//! QEMU's `bootorder` fw_cfg file: which disks come first.
//!
//! One OpenFirmware device path per line (`-device ...,bootindex=N`, in `bootindex` order),
//! the file ending in a NUL instead of a newline. QEMU 7.2 and 10.0 write, for virtio-blk
//! (`hw/core/qdev.c` `qdev_get_fw_dev_path`; the PCI name is the class's, "scsi"):
//!
//! - `pc` and `q35`: `/pci@i0cf8/scsi@5/disk@0,0`, and for function 3 of slot 6
//!   `/pci@i0cf8/scsi@6,3/disk@0,0` (slot and function in hex);
//! - `microvm`: `/virtio-mmio@00000000feb02e00/disk@0,0` (the transport's address, 16 hex
//!   digits).

use super::Transport;
use crate::platform::PciFn;

const PCI_ROOT: &[u8] = b"/pci@i0cf8/";
const MMIO_ROOT: &[u8] = b"/virtio-mmio@";
const DISK: &[u8] = b"/disk@";

/// Sorts `disks`: those a `bootorder` line names first, in its order, then the others as they
/// were.
#[inline(never)]
pub fn order(disks: &mut [Transport], bootorder: &[u8]) {
    let mut keyed = [(usize::MAX, 0, Transport::Mmio(0)); super::MAX_DISKS];
    let n = disks.len().min(keyed.len());
    for (i, &t) in disks[..n].iter().enumerate() {
        keyed[i] = (rank(t, bootorder), i, t);
    }
    // (rank, scan index) is unique, so the unstable sort is stable here.
    keyed[..n].sort_unstable_by_key(|&(rank, i, _)| (rank, i));
    for (d, k) in disks.iter_mut().zip(&keyed[..n]) {
        *d = k.2;
    }
}

/// The index of the first `bootorder` line naming `t`, or `usize::MAX`.
fn rank(t: Transport, bootorder: &[u8]) -> usize {
    let text = bootorder.split(|&b| b == 0).next().unwrap_or_default();
    let named = |line: &[u8]| match t {
        Transport::Pci(f) => pci_function(line) == Some(f),
        Transport::Mmio(addr) => mmio_address(line) == Some(addr),
    };
    text.split(|&b| b == b'\n').position(named).unwrap_or(usize::MAX)
}

/// The bus-0 function a `/pci@i0cf8/NAME@SLOT[,FUNCTION]/disk@...` line names.
#[inline(never)]
fn pci_function(line: &[u8]) -> Option<PciFn> {
    let rest = line.strip_prefix(PCI_ROOT)?;
    let end = rest.iter().position(|&b| b == b'/')?;
    if !rest[end..].starts_with(DISK) {
        return None;
    }
    let unit = rest[..end].split(|&b| b == b'@').nth(1)?;
    let mut parts = unit.split(|&b| b == b',');
    let slot = hex(parts.next()?)?;
    let function = parts.next().map_or(Some(0), hex)?;
    (slot < 32 && function < 8 && parts.next().is_none()).then(|| PciFn::new(slot as u8, function as u8))
}

/// The transport address a `/virtio-mmio@ADDRESS/disk@...` line names.
#[inline(never)]
pub fn mmio_address(line: &[u8]) -> Option<u64> {
    let rest = line.strip_prefix(MMIO_ROOT)?;
    let end = rest.iter().position(|&b| b == b'/')?;
    if !rest[end..].starts_with(DISK) {
        return None;
    }
    hex(&rest[..end])
}

/// A hex number of 1 to 16 digits.
fn hex(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    digits.iter().try_fold(0u64, |v, &d| Some(v << 4 | u64::from((d as char).to_digit(16)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `bootorder` as QEMU 7.2 and 10.0 wrote it for `-device virtio-blk-pci,addr=5.0,
    /// bootindex=2`, `addr=6.3,multifunction=on,bootindex=1` and `addr=0x1e,bootindex=3`, on
    /// `pc` and on `q35` (the same bytes).
    const PCI: &[u8] = b"/pci@i0cf8/scsi@6,3/disk@0,0\n/pci@i0cf8/scsi@5/disk@0,0\n/pci@i0cf8/scsi@1e/disk@0,0\0";
    /// microvm with two `virtio-blk-device`s, the first `bootindex=2`, the second `bootindex=1`.
    const MICROVM: &[u8] = b"/virtio-mmio@00000000feb02c00/disk@0,0\n/virtio-mmio@00000000feb02e00/disk@0,0\0";

    fn pci(slot: u8, function: u8) -> Transport {
        Transport::Pci(PciFn::new(slot, function))
    }

    #[test]
    fn pci_disks_in_bootorder_then_slot_order() {
        let mut d = [pci(2, 0), pci(5, 0), pci(6, 3), pci(7, 0), pci(0x1e, 0)];
        order(&mut d, PCI);
        assert_eq!(d, [pci(6, 3), pci(5, 0), pci(0x1e, 0), pci(2, 0), pci(7, 0)]);
    }

    #[test]
    fn microvm_disks_in_bootorder() {
        let (a, b, c) = (Transport::Mmio(0xfeb0_2e00), Transport::Mmio(0xfeb0_2c00), Transport::Mmio(0xfeb0_2a00));
        let mut d = [a, c, b];
        order(&mut d, MICROVM);
        assert_eq!(d, [b, a, c]);
    }

    #[test]
    fn lines_that_name_no_disk() {
        for line in [
            &b"/pci@i0cf8/pci-bridge@3/scsi@1/disk@0,0"[..],
            b"/pci@i0cf8/ethernet@3/ethernet-phy@0",
            b"/pci@i0cf8/scsi@20/disk@0,0",
            b"/pci@i0cf8/scsi@3,8/disk@0,0",
            b"/pci@i0cf8/scsi@/disk@0,0",
            b"/pci@i0cf8/scsi@3,1,2/disk@0,0",
            b"/pci@i0cf8/isa@1/fdc@03f0/floppy@0",
            b"",
        ] {
            assert_eq!(pci_function(line), None, "{}", core::str::from_utf8(line).unwrap());
        }
        assert_eq!(pci_function(b"/pci@i0cf8/scsi@1f,7/disk@0,0"), Some(PciFn::new(0x1f, 7)));
        assert_eq!(mmio_address(b"/virtio-mmio@00000000feb02e00/disk@0,0"), Some(0xfeb0_2e00));
        assert_eq!(mmio_address(b"/virtio-mmio@000000000000000000feb02e00/disk@0,0"), None);
        assert_eq!(mmio_address(b"/virtio-mmio@feb02e00/ethernet@0"), None);
    }

    #[test]
    fn no_bootorder_keeps_scan_order() {
        let mut d = [pci(3, 0), pci(2, 0)];
        order(&mut d, b"");
        assert_eq!(d, [pci(3, 0), pci(2, 0)]);
    }
}
