//! The transport: the ports, the [`FwCfgIo`] trait the firmware implements over them,
//! [`read_u32`] for numeric items, and the DMA descriptor.

use crate::Error;
use zerocopy::big_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Selector port: 16-bit write of the item key.
pub const PORT_SELECTOR: u16 = 0x510;
/// Data port: 8-bit reads of the selected item.
pub const PORT_DATA: u16 = 0x511;
/// DMA address, low half (big-endian); writing it starts the transfer.
pub const PORT_DMA_LOW: u16 = 0x518;

/// A transport that can read fw_cfg items.
pub trait FwCfgIo {
    /// Selects `key` and fills `buf` from the item's start (QEMU zero-fills past its end).
    fn read(&mut self, key: u16, buf: &mut [u8]) -> Result<(), Error>;
    /// Selects `key` and fills `buf` from byte `offset` of the item on.
    fn read_at(&mut self, key: u16, offset: u32, buf: &mut [u8]) -> Result<(), Error>;
    /// Selects `key` and copies its first `len` bytes to physical memory at `paddr`.
    /// Callers check that the target is free RAM first.
    fn read_to_phys(&mut self, key: u16, paddr: u64, len: u32) -> Result<(), Error>;
    /// Selects `key` and copies `len` bytes from byte `offset` on to physical memory at
    /// `paddr`. Callers check that the target is free RAM first.
    fn read_to_phys_at(&mut self, key: u16, offset: u32, paddr: u64, len: u32) -> Result<(), Error>;
    /// Selects `key` and overwrites `data.len()` bytes at `offset` (only items QEMU made
    /// writable accept this; it needs DMA).
    fn write(&mut self, key: u16, offset: u32, data: &[u8]) -> Result<(), Error>;
    /// Whether reads are DMA transfers, whose cost does not grow with their length (the port
    /// interface costs a VM exit per byte).
    fn has_dma(&self) -> bool;
}

/// Reads a little-endian `u32` item.
pub fn read_u32(io: &mut (impl FwCfgIo + ?Sized), key: u16) -> Result<u32, Error> {
    let mut b = [0u8; 4];
    io.read(key, &mut b)?;
    Ok(u32::from_le_bytes(b))
}

/// The control bits of a DMA descriptor.
pub mod dma {
    pub const ERROR: u32 = 0x01;
    pub const READ: u32 = 0x02;
    pub const SKIP: u32 = 0x04;
    pub const SELECT: u32 = 0x08;
    pub const WRITE: u32 = 0x10;
}

/// The 16-byte DMA descriptor; all fields big-endian. It must sit in RAM QEMU can write,
/// because QEMU reports completion by rewriting `control`.
#[repr(C)]
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned, Clone, Copy, Debug)]
pub struct DmaAccess {
    pub control: U32,
    pub length: U32,
    pub address: U64,
}
const _: () = assert!(core::mem::size_of::<DmaAccess>() == 16);

impl DmaAccess {
    /// Select `key` and read `length` bytes to `address`, in one transfer.
    pub fn select_read(key: u16, length: u32, address: u64) -> DmaAccess {
        DmaAccess {
            control: U32::new((u32::from(key) << 16) | dma::SELECT | dma::READ),
            length: U32::new(length),
            address: U64::new(address),
        }
    }

    /// Read `length` bytes to `address` from the current position of the selected item.
    pub fn read(length: u32, address: u64) -> DmaAccess {
        DmaAccess { control: U32::new(dma::READ), length: U32::new(length), address: U64::new(address) }
    }

    /// Select `key` and skip `length` bytes, to position a following read or write.
    pub fn select_skip(key: u16, length: u32) -> DmaAccess {
        DmaAccess {
            control: U32::new((u32::from(key) << 16) | dma::SELECT | dma::SKIP),
            length: U32::new(length),
            address: U64::new(0),
        }
    }

    /// Write `length` bytes from `address` at the current position; selects `key` first when
    /// given.
    pub fn write(key: Option<u16>, length: u32, address: u64) -> DmaAccess {
        let select = key.map_or(0, |k| (u32::from(k) << 16) | dma::SELECT);
        DmaAccess { control: U32::new(select | dma::WRITE), length: U32::new(length), address: U64::new(address) }
    }

    /// Interprets the control word QEMU wrote back: 0 means done, anything else failed
    /// (the error bit, or a transfer QEMU did not finish — it is synchronous, so never "later").
    pub fn check(control_after: u32, key: u16) -> Result<(), Error> {
        if control_after == 0 {
            Ok(())
        } else {
            Err(Error::DmaFailed { key })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_is_big_endian() {
        let d = DmaAccess::select_read(0x19, 0x1004, 0x1234_5678);
        assert_eq!(d.as_bytes(), &[0, 0x19, 0, 0x0a, 0, 0, 0x10, 0x04, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78]);
        assert!(DmaAccess::check(0, 1).is_ok());
        assert_eq!(DmaAccess::check(dma::ERROR, 7), Err(Error::DmaFailed { key: 7 }));
        assert!(DmaAccess::check(dma::READ, 7).is_err());
    }
}
