//! QEMU's qtest protocol: the host does the guest's port I/O and memory accesses, with no guest
//! code at all. Used to capture what QEMU publishes through fw_cfg (test fixtures) exactly as a
//! firmware would read it.

use crate::qemu::{self, Version};
use crate::Result;
use anyhow::{anyhow, bail};
use pvhfw::fw_cfg::{DmaAccess, FwCfgIo, PORT_DMA_LOW};
use pvhfw::platform::{PciConfig, PciFn};
use pvhfw::Error;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use zerocopy::IntoBytes;

pub struct Qtest {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
    /// Why the last fw_cfg transfer failed, when the qtest exchange (not QEMU) failed: the
    /// library's error type has no room for it.
    failure: Option<String>,
}

/// Guest-physical scratch: DMA descriptors, and the buffer reads and writes go through.
const DESCRIPTOR: u64 = 0x1000;
const BUFFER: u64 = 0x10_0000;

impl Qtest {
    /// Starts `machine` on QEMU `v` with `extra` arguments under qtest control.
    pub fn start(v: Version, machine: &str, extra: &[&str]) -> Result<Qtest> {
        let mut child = v
            .command()
            .args(qemu::base_args(machine))
            .args(["-accel", "tcg", "-S", "-m", "256M", "-qtest", "stdio"])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let input = child.stdin.take().expect("piped");
        let output = BufReader::new(child.stdout.take().expect("piped"));
        Ok(Qtest { child, input, output, failure: None })
    }

    /// Sends one command; returns what follows "OK" in the reply.
    fn cmd(&mut self, line: &str) -> Result<String> {
        writeln!(self.input, "{line}")?;
        loop {
            let mut reply = String::new();
            if self.output.read_line(&mut reply)? == 0 {
                bail!("qtest: QEMU ended at {line:?}");
            }
            // Asynchronous IRQ notifications may come in between.
            if reply.starts_with("IRQ") {
                continue;
            }
            return match reply.trim_end().strip_prefix("OK") {
                Some(rest) => Ok(rest.trim().to_string()),
                None => Err(anyhow!("qtest: {line:?} -> {reply:?}")),
            };
        }
    }

    pub fn outl(&mut self, port: u16, value: u32) -> Result<()> {
        self.cmd(&format!("outl {port:#x} {value:#x}")).map(drop)
    }

    pub fn outb(&mut self, port: u16, value: u8) -> Result<()> {
        self.cmd(&format!("outb {port:#x} {value:#x}")).map(drop)
    }

    pub fn inl(&mut self, port: u16) -> Result<u32> {
        let v = self.cmd(&format!("inl {port:#x}"))?;
        Ok(u32::from_str_radix(v.trim_start_matches("0x"), 16)?)
    }

    fn write_mem(&mut self, addr: u64, data: &[u8]) -> Result<()> {
        let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
        self.cmd(&format!("write {addr:#x} {:#x} 0x{hex}", data.len())).map(drop)
    }

    fn read_mem(&mut self, addr: u64, len: usize) -> Result<Vec<u8>> {
        let hex = self.cmd(&format!("read {addr:#x} {len:#x}"))?;
        let hex = hex.trim_start_matches("0x");
        (0..len).map(|i| Ok(u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)?)).collect()
    }

    /// One DMA transfer, as the firmware does it: the descriptor in guest RAM below 4 GiB, its
    /// address to the low half of the DMA register, the control word QEMU wrote back.
    fn dma(&mut self, desc: DmaAccess) -> Result<u32> {
        self.write_mem(DESCRIPTOR, desc.as_bytes())?;
        self.outl(PORT_DMA_LOW, (DESCRIPTOR as u32).swap_bytes())?;
        let control = self.read_mem(DESCRIPTOR, 4)?;
        Ok(u32::from_be_bytes(control[..4].try_into()?))
    }

    /// `dma` as the library sees it: a qtest failure is kept for [`Qtest::error`] and reported
    /// as a failed transfer.
    fn transfer(&mut self, desc: DmaAccess, key: u16) -> std::result::Result<(), Error> {
        match self.dma(desc) {
            Ok(control) => DmaAccess::check(control, key),
            Err(e) => {
                self.failure = Some(e.to_string());
                Err(Error::DmaFailed { key })
            }
        }
    }

    /// Turns a library error from this transport into one for the user, with the qtest failure
    /// behind it if there was one.
    pub fn error(&mut self, e: Error) -> anyhow::Error {
        match self.failure.take() {
            Some(why) => anyhow!("qtest: {why}"),
            None => anyhow!("fw_cfg over qtest: {e:?}"),
        }
    }

    /// Reads `len` bytes of guest memory, keeping a qtest failure as [`Qtest::transfer`] does.
    fn read_buffer(&mut self, addr: u64, buf: &mut [u8], key: u16) -> std::result::Result<(), Error> {
        match self.read_mem(addr, buf.len()) {
            Ok(data) => {
                buf.copy_from_slice(&data);
                Ok(())
            }
            Err(e) => {
                self.failure = Some(e.to_string());
                Err(Error::DmaFailed { key })
            }
        }
    }
}

/// fw_cfg over DMA, exactly as the firmware's transport does it, with guest RAM at [`BUFFER`]
/// as the bounce buffer. (qtest captures only run on QEMUs with fw_cfg DMA, which every
/// supported version has.)
impl FwCfgIo for Qtest {
    fn read(&mut self, key: u16, buf: &mut [u8]) -> std::result::Result<(), Error> {
        if buf.is_empty() {
            return Ok(());
        }
        self.transfer(DmaAccess::select_read(key, buf.len() as u32, BUFFER), key)?;
        self.read_buffer(BUFFER, buf, key)
    }

    fn read_at(&mut self, key: u16, offset: u32, buf: &mut [u8]) -> std::result::Result<(), Error> {
        if buf.is_empty() {
            return Ok(());
        }
        self.transfer(DmaAccess::select_skip(key, offset), key)?;
        self.transfer(DmaAccess::read(buf.len() as u32, BUFFER), key)?;
        self.read_buffer(BUFFER, buf, key)
    }

    fn read_to_phys(&mut self, key: u16, paddr: u64, len: u32) -> std::result::Result<(), Error> {
        self.transfer(DmaAccess::select_read(key, len, paddr), key)
    }

    fn read_to_phys_at(&mut self, key: u16, offset: u32, paddr: u64, len: u32) -> std::result::Result<(), Error> {
        self.transfer(DmaAccess::select_skip(key, offset), key)?;
        self.transfer(DmaAccess::read(len, paddr), key)
    }

    fn write(&mut self, key: u16, offset: u32, data: &[u8]) -> std::result::Result<(), Error> {
        if let Err(e) = self.write_mem(BUFFER, data) {
            self.failure = Some(e.to_string());
            return Err(Error::DmaFailed { key });
        }
        let len = data.len() as u32;
        if offset == 0 {
            return self.transfer(DmaAccess::write(Some(key), len, BUFFER), key);
        }
        self.transfer(DmaAccess::select_skip(key, offset), key)?;
        self.transfer(DmaAccess::write(None, len, BUFFER), key)
    }

    fn has_dma(&self) -> bool {
        true
    }
}

/// PCI configuration through ports 0xCF8/0xCFC (and MMCONFIG), as the firmware does it, so that
/// the library's own chipset code runs against QEMU. A failed qtest exchange reads as an absent device and
/// makes the capture fail later, when QEMU is gone.
impl PciConfig for Qtest {
    fn pci_read32(&mut self, function: PciFn, offset: u8) -> u32 {
        let address = function.config_address(offset);
        self.outl(0xcf8, address).and_then(|()| self.inl(0xcfc)).unwrap_or(u32::MAX)
    }

    fn pci_write32(&mut self, function: PciFn, offset: u8, value: u32) {
        let _ = self.outl(0xcf8, function.config_address(offset)).and_then(|()| self.outl(0xcfc, value));
    }

    fn pci_write8(&mut self, function: PciFn, offset: u8, value: u8) {
        let port = 0xcfc + u16::from(offset & 3);
        let _ = self.outl(0xcf8, function.config_address(offset)).and_then(|()| self.outb(port, value));
    }

    fn mmio_write32(&mut self, addr: u64, value: u32) {
        let _ = self.write_mem(addr, &value.to_le_bytes());
    }

    fn mmio_write8(&mut self, addr: u64, value: u8) {
        let _ = self.write_mem(addr, &[value]);
    }
}

impl Drop for Qtest {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
