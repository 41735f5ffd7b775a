//! QEMU's qtest protocol: the host does the guest's port I/O and memory accesses, with no guest
//! code at all. Used to capture what QEMU publishes through fw_cfg (test fixtures) exactly as a
//! firmware would read it.

use crate::qemu::QEMU;
use crate::Result;
use pvhfw::platform::{PciConfig, PciFn};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

pub struct Qtest {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

/// Guest-physical scratch: a DMA descriptor and the buffer it fills.
const DESCRIPTOR: u64 = 0x1000;
const BUFFER: u64 = 0x10_0000;

impl Qtest {
    /// Starts `machine` with `extra` arguments under qtest control.
    pub fn start(machine: &str, extra: &[&str]) -> Result<Qtest> {
        let mut child = Command::new(QEMU)
            .args(["-M", machine, "-accel", "tcg", "-m", "256M", "-qtest", "stdio", "-display", "none"])
            .args(["-nodefaults", "-monitor", "none"])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let input = child.stdin.take().expect("piped");
        let output = BufReader::new(child.stdout.take().expect("piped"));
        Ok(Qtest { child, input, output })
    }

    /// Sends one command; returns what follows "OK" in the reply.
    fn cmd(&mut self, line: &str) -> Result<String> {
        writeln!(self.input, "{line}")?;
        loop {
            let mut reply = String::new();
            if self.output.read_line(&mut reply)? == 0 {
                return Err(format!("qtest: QEMU ended at {line:?}").into());
            }
            // Asynchronous IRQ notifications may come in between.
            if reply.starts_with("IRQ") {
                continue;
            }
            return match reply.trim_end().strip_prefix("OK") {
                Some(rest) => Ok(rest.trim().to_string()),
                None => Err(format!("qtest: {line:?} -> {reply:?}").into()),
            };
        }
    }

    pub fn outl(&mut self, port: u16, value: u32) -> Result<()> {
        self.cmd(&format!("outl {port:#x} {value:#x}")).map(drop)
    }

    pub fn outb(&mut self, port: u16, value: u8) -> Result<()> {
        self.cmd(&format!("outb {port:#x} {value:#x}")).map(drop)
    }

    pub fn outw(&mut self, port: u16, value: u16) -> Result<()> {
        self.cmd(&format!("outw {port:#x} {value:#x}")).map(drop)
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

    /// Reads the first `len` bytes of fw_cfg item `key` with one DMA select+read.
    pub fn fw_cfg_read(&mut self, key: u16, len: usize) -> Result<Vec<u8>> {
        if len == 0 {
            return Ok(Vec::new());
        }
        let control = u32::from(key) << 16 | 0x08 | 0x02;
        let mut desc = control.to_be_bytes().to_vec();
        desc.extend_from_slice(&(len as u32).to_be_bytes());
        desc.extend_from_slice(&BUFFER.to_be_bytes());
        self.write_mem(DESCRIPTOR, &desc)?;
        self.outl(0x518, (DESCRIPTOR as u32).swap_bytes())?;
        let status = self.read_mem(DESCRIPTOR, 4)?;
        if status != [0, 0, 0, 0] {
            return Err(format!("fw_cfg DMA of key {key:#x} failed: {status:?}").into());
        }
        self.read_mem(BUFFER, len)
    }

    /// The fw_cfg file directory: (name, select, size).
    pub fn fw_cfg_files(&mut self) -> Result<Vec<(String, u16, usize)>> {
        self.outw(0x510, 0x19)?;
        let head = self.fw_cfg_read(0x19, 4)?;
        let count = u32::from_be_bytes(head[..4].try_into()?) as usize;
        let dir = self.fw_cfg_read(0x19, 4 + 64 * count)?;
        Ok(dir[4..]
            .chunks_exact(64)
            .map(|e| {
                let size = u32::from_be_bytes(e[..4].try_into().expect("4 bytes")) as usize;
                let select = u16::from_be_bytes([e[4], e[5]]);
                let name = e[8..].split(|&b| b == 0).next().unwrap_or_default();
                (String::from_utf8_lossy(name).into_owned(), select, size)
            })
            .collect())
    }
}

/// PCI configuration through ports 0xCF8/0xCFC, as the firmware does it, so that the library's
/// own chipset code runs against QEMU. A failed qtest exchange reads as an absent device and
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
}

impl Drop for Qtest {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
