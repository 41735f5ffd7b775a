//! The fw_cfg transport: DMA, and the selector and data ports as the fallback.
//!
//! The functions are `#[inline]` (all but the cold fallbacks): the boot is instantiated over these types in each
//! binary's crate, and only inline functions can be inlined there before link-time
//! optimisation, as the boot's instruction count relies on.

use core::arch::asm;
use core::sync::atomic::{compiler_fence, Ordering};
use pvhfw::fw_cfg::{self, key, DmaAccess, FwCfgIo};
use pvhfw::Error;
use x86_64::instructions::port::{PortReadOnly, PortWriteOnly};

/// fw_cfg, through DMA when QEMU offers it, else through the byte-wide data port.
///
/// DMA is assumed rather than probed, which would cost a VM exit: every machine type of the
/// last years has it. Without the DMA registers the port write goes nowhere and the descriptor
/// comes back untouched, so a failed read falls back to the port interface, if its "QEMU"
/// signature answers (a DMA read that fails for another reason is then simply redone there).
#[derive(Clone, Copy)]
pub enum FwCfg {
    Dma,
    Ports,
}

impl FwCfg {
    /// After a failed DMA read: the port interface from now on, if there is one.
    #[inline]
    fn without_dma(&mut self) -> Result<(), Error> {
        let mut sig = [0u8; 4];
        FwCfg::Ports.read(key::SIGNATURE, &mut sig)?;
        if sig != *b"QEMU" {
            return Err(Error::NoFwCfg);
        }
        *self = FwCfg::Ports;
        Ok(())
    }

    /// Out of line, like the next: the DMA path stays a small inlined call.
    #[cold]
    #[inline(never)]
    fn read_without_dma(&mut self, key: u16, buf: &mut [u8]) -> Result<(), Error> {
        self.without_dma()?;
        self.read(key, buf)
    }

    #[cold]
    #[inline(never)]
    fn read_to_phys_without_dma(&mut self, key: u16, paddr: u64, len: u32) -> Result<(), Error> {
        self.without_dma()?;
        self.read_to_phys(key, paddr, len)
    }

    /// Selects `key` and moves its cursor to byte `offset`: one DMA, or reading past the bytes.
    #[inline]
    fn select_at(&self, key: u16, offset: u32) -> Result<(), Error> {
        match self {
            FwCfg::Dma => dma(DmaAccess::select_skip(key, offset), key),
            FwCfg::Ports => {
                FwCfg::select(key);
                (0..offset).for_each(|_| _ = FwCfg::data_byte());
                Ok(())
            }
        }
    }

    /// Copies the selected item's next `len` bytes from the data port to physical memory at
    /// `paddr`, one port read a byte.
    #[inline]
    fn data_to_phys(paddr: u64, len: u32) {
        for i in 0..u64::from(len) {
            // SAFETY: every caller (read_to_phys, read_to_phys_at) has [paddr, paddr + len)
            // checked by the library to be RAM below 4 GiB that holds neither the firmware nor
            // the kernel; it is identity-mapped.
            unsafe { core::ptr::write_volatile((paddr + i) as *mut u8, FwCfg::data_byte()) }
        }
    }

    #[inline]
    fn select(key: u16) {
        // SAFETY: selecting an item only changes fw_cfg's internal cursor.
        unsafe { PortWriteOnly::<u16>::new(fw_cfg::PORT_SELECTOR).write(key) }
    }

    #[inline]
    fn data_byte() -> u8 {
        // SAFETY: reading the data port only advances fw_cfg's cursor.
        unsafe { PortReadOnly::<u8>::new(fw_cfg::PORT_DATA).read() }
    }
}

/// One DMA transfer, synchronous: QEMU completes it before the port write returns.
#[inline]
fn dma(mut desc: DmaAccess, key: u16) -> Result<(), Error> {
    let desc_addr = core::ptr::addr_of_mut!(desc) as u64;
    compiler_fence(Ordering::SeqCst);
    // SAFETY: the descriptor is on the stack, in identity-mapped RAM below 4 GiB (so writing
    // only the low address half is enough), and lives until QEMU has finished. Its buffer is
    // one the caller owns (a Rust buffer, or a range the library checked to be free RAM). The
    // asm is not `nomem` (unlike x86_64's Port), so the compiler assumes memory changed.
    unsafe {
        asm!("out dx, eax", in("dx") fw_cfg::PORT_DMA_LOW, in("eax") (desc_addr as u32).swap_bytes(),
             options(nostack, preserves_flags));
    }
    compiler_fence(Ordering::SeqCst);
    // SAFETY: `desc` is a live local; the volatile read sees what QEMU wrote back.
    let control = unsafe { core::ptr::read_volatile(core::ptr::addr_of!(desc.control)) };
    DmaAccess::check(control.get(), key)
}

#[inline]
fn dma_read(key: u16, address: u64, length: u32) -> Result<(), Error> {
    dma(DmaAccess::select_read(key, length, address), key)
}

impl FwCfgIo for FwCfg {
    #[inline]
    fn read(&mut self, key: u16, buf: &mut [u8]) -> Result<(), Error> {
        match self {
            FwCfg::Dma => match dma_read(key, buf.as_mut_ptr() as u64, buf.len() as u32) {
                Ok(()) => Ok(()),
                Err(_) => self.read_without_dma(key, buf),
            },
            FwCfg::Ports => {
                FwCfg::select(key);
                buf.iter_mut().for_each(|b| *b = FwCfg::data_byte());
                Ok(())
            }
        }
    }

    #[inline]
    fn read_at(&mut self, key: u16, offset: u32, buf: &mut [u8]) -> Result<(), Error> {
        self.select_at(key, offset)?;
        match self {
            FwCfg::Dma => dma(DmaAccess::read(buf.len() as u32, buf.as_mut_ptr() as u64), key),
            FwCfg::Ports => {
                buf.iter_mut().for_each(|b| *b = FwCfg::data_byte());
                Ok(())
            }
        }
    }

    #[inline]
    fn read_to_phys_at(&mut self, key: u16, offset: u32, paddr: u64, len: u32) -> Result<(), Error> {
        self.select_at(key, offset)?;
        match self {
            FwCfg::Dma => dma(DmaAccess::read(len, paddr), key),
            FwCfg::Ports => {
                FwCfg::data_to_phys(paddr, len);
                Ok(())
            }
        }
    }

    #[inline]
    fn has_dma(&self) -> bool {
        matches!(self, FwCfg::Dma)
    }

    #[inline]
    fn write(&mut self, key: u16, offset: u32, data: &[u8]) -> Result<(), Error> {
        let FwCfg::Dma = self else { return Err(Error::FwCfgWriteNeedsDma { key }) };
        let (address, len) = (data.as_ptr() as u64, data.len() as u32);
        if offset == 0 {
            return dma(DmaAccess::write(Some(key), len, address), key);
        }
        dma(DmaAccess::select_skip(key, offset), key)?;
        dma(DmaAccess::write(None, len, address), key)
    }

    #[inline]
    fn read_to_phys(&mut self, key: u16, paddr: u64, len: u32) -> Result<(), Error> {
        match self {
            FwCfg::Dma => match dma_read(key, paddr, len) {
                Ok(()) => Ok(()),
                Err(_) => self.read_to_phys_without_dma(key, paddr, len),
            },
            FwCfg::Ports => {
                FwCfg::select(key);
                FwCfg::data_to_phys(paddr, len);
                Ok(())
            }
        }
    }
}
