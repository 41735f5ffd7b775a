//! A TPM 2.0 behind QEMU's `tpm-tis` or `tpm-crb` at `0xFED40000`, locality 0, polled: the
//! commands a measured boot needs (`TPM2_Startup`, the PCR banks from `TPM2_GetCapability`,
//! `TPM2_PCR_Extend`) over either interface.
//!
//! TIS moves a command through a FIFO register (four bytes per access, each a VM exit); CRB
//! has a command buffer QEMU keeps in RAM, so only its control registers exit. The interface
//! ID register tells them apart. The TPM is untrusted like everything QEMU hands over: every
//! wait is bounded, every response length checked.

use crate::platform::{Platform, Width};

/// Locality 0's registers.
pub const BASE: u64 = 0xfed4_0000;
/// The interface ID register (both interfaces): its low nibble is 0 for TIS with a TPM 2.0, 1
/// for CRB.
const INTERFACE_ID: u64 = BASE + 0x30;

/// TIS registers and bits.
mod tis {
    pub const ACCESS: u64 = super::BASE;
    pub const STS: u64 = super::BASE + 0x18;
    pub const FIFO: u64 = super::BASE + 0x24;
    pub const ACCESS_VALID: u32 = 1 << 7;
    pub const ACCESS_ACTIVE: u32 = 1 << 5;
    pub const ACCESS_REQUEST_USE: u32 = 1 << 1;
    pub const STS_VALID: u32 = 1 << 7;
    pub const STS_COMMAND_READY: u32 = 1 << 6;
    pub const STS_GO: u32 = 1 << 5;
    pub const STS_DATA_AVAILABLE: u32 = 1 << 4;
}

/// CRB registers and bits.
mod crb {
    pub const LOC_STATE: u64 = super::BASE;
    pub const LOC_CTRL: u64 = super::BASE + 0x08;
    pub const CTRL_STS: u64 = super::BASE + 0x44;
    pub const CTRL_START: u64 = super::BASE + 0x4c;
    pub const CMD_SIZE: u64 = super::BASE + 0x58;
    pub const CMD_ADDR: u64 = super::BASE + 0x5c;
    pub const RSP_SIZE: u64 = super::BASE + 0x64;
    pub const RSP_ADDR: u64 = super::BASE + 0x68;
    /// The command and response buffer lies within locality 0's 4 KiB.
    pub const BUFFER_END: u64 = super::BASE + 0x1000;
    pub const LOC_ASSIGNED: u32 = 1 << 1;
    pub const LOC_VALID: u32 = 1 << 7;
    pub const REQUEST_ACCESS: u32 = 1 << 0;
    pub const RELINQUISH: u32 = 1 << 1;
    pub const STS_FATAL: u32 = 1 << 0;
}

/// Register reads a wait takes at most: seconds of polling, however the VM exits are timed.
const MAX_POLLS: u32 = if cfg!(test) { 10_000 } else { 20_000_000 };

/// A TPM command or response fits in this (QEMU's CRB buffer is 3968 bytes; these commands
/// take under 300).
pub const MAX_MESSAGE: usize = 1024;

/// The TPM's interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interface {
    Tis,
    Crb,
}

/// How talking to the TPM failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TpmError {
    /// Neither TIS for a TPM 2.0 nor CRB at `0xFED40000`: the interface ID register's value.
    NoInterface { id: u32 },
    /// A wait for `what` ran out.
    Timeout { what: &'static str },
    /// The TPM answered `command` with this response code.
    Response { command: &'static str, code: u32 },
    /// A response that is not a TPM's (`what` says how).
    Malformed { what: &'static str },
}

/// The TPM at [`BASE`], over `platform`.
pub struct Tpm<'p, P: Platform + ?Sized> {
    platform: &'p mut P,
    interface: Interface,
}

impl<'p, P: Platform + ?Sized> Tpm<'p, P> {
    /// The TPM QEMU maps at [`BASE`], with locality 0 requested.
    pub fn open(platform: &'p mut P) -> Result<Self, TpmError> {
        let id = platform.mem_read(INTERFACE_ID, Width::U32);
        let interface = match id & 0xf {
            0 if id != u32::MAX => Interface::Tis,
            1 => Interface::Crb,
            _ => return Err(TpmError::NoInterface { id }),
        };
        let mut tpm = Tpm { platform, interface };
        match interface {
            Interface::Tis => {
                tpm.write(tis::ACCESS, Width::U8, tis::ACCESS_REQUEST_USE);
                let active = tis::ACCESS_VALID | tis::ACCESS_ACTIVE;
                tpm.wait(tis::ACCESS, Width::U8, active, active, "TIS locality 0")?;
            }
            Interface::Crb => {
                tpm.write(crb::LOC_CTRL, Width::U32, crb::REQUEST_ACCESS);
                let assigned = crb::LOC_VALID | crb::LOC_ASSIGNED;
                tpm.wait(crb::LOC_STATE, Width::U32, assigned, assigned, "CRB locality 0")?;
            }
        }
        Ok(tpm)
    }

    pub fn interface(&self) -> Interface {
        self.interface
    }

    /// Gives locality 0 back, as the kernel's driver expects to find it.
    pub fn close(self) {
        match self.interface {
            Interface::Tis => self.platform.mem_write(tis::ACCESS, Width::U8, tis::ACCESS_ACTIVE),
            Interface::Crb => self.platform.mem_write(crb::LOC_CTRL, Width::U32, crb::RELINQUISH),
        }
    }

    /// Sends `command` (a whole TPM 2.0 command) and returns the response's length in
    /// `response`, its header checked: a well-formed size and response code 0 (or one of
    /// `also_ok`).
    pub fn execute(
        &mut self,
        name: &'static str,
        command: &[u8],
        response: &mut [u8; MAX_MESSAGE],
        also_ok: &[u32],
    ) -> Result<usize, TpmError> {
        let len = match self.interface {
            Interface::Tis => self.tis_execute(command, response)?,
            Interface::Crb => self.crb_execute(command, response)?,
        };
        let header = response.get(..HEADER).filter(|_| len >= HEADER).ok_or(TpmError::Malformed { what: "short" })?;
        let code = u32::from_be_bytes([header[6], header[7], header[8], header[9]]);
        if code != 0 && !also_ok.contains(&code) {
            return Err(TpmError::Response { command: name, code });
        }
        Ok(len)
    }

    fn tis_execute(&mut self, command: &[u8], response: &mut [u8; MAX_MESSAGE]) -> Result<usize, TpmError> {
        use tis::*;
        self.write(STS, Width::U32, STS_COMMAND_READY);
        self.wait(STS, Width::U32, STS_COMMAND_READY, STS_COMMAND_READY, "TIS commandReady")?;
        let mut sent = 0;
        while sent < command.len() {
            // The burst count is in bytes: that many go in before asking again.
            let mut budget = self.burst_count()? as usize;
            while budget > 0 && sent < command.len() {
                // Whole words where they fit (one exit for four bytes), then single bytes.
                let rest = &command[sent..];
                let n = if rest.len() >= 4 && budget >= 4 { 4 } else { 1 };
                let mut word = [0u8; 4];
                word[..n].copy_from_slice(&rest[..n]);
                self.write(FIFO, if n == 4 { Width::U32 } else { Width::U8 }, u32::from_le_bytes(word));
                (sent, budget) = (sent + n, budget - n);
            }
        }
        self.wait(STS, Width::U32, STS_VALID, STS_VALID, "TIS stsValid")?;
        self.write(STS, Width::U32, STS_GO);
        let ready = STS_VALID | STS_DATA_AVAILABLE;
        self.wait(STS, Width::U32, ready, ready, "the TPM's response")?;
        // The header, then as much as it says, in words while four bytes remain (a FIFO read
        // gives up to four); the status then says whether the TPM had exactly that much.
        let (mut len, mut want) = (0, HEADER);
        while len < want {
            let n = if want - len >= 4 { 4 } else { 1 };
            let bytes = self.read(FIFO, if n == 4 { Width::U32 } else { Width::U8 }).to_le_bytes();
            response[len..len + n].copy_from_slice(&bytes[..n]);
            len += n;
            if want == HEADER && len >= HEADER {
                want = response_size(response)?;
            }
        }
        let more = self.read(STS, Width::U32) & STS_DATA_AVAILABLE != 0;
        self.write(STS, Width::U32, STS_COMMAND_READY);
        if more {
            return Err(TpmError::Malformed { what: "response longer than its size" });
        }
        Ok(len)
    }

    /// TIS's burst count: how many bytes the FIFO takes now.
    fn burst_count(&mut self) -> Result<u32, TpmError> {
        for _ in 0..MAX_POLLS {
            let burst = self.read(tis::STS, Width::U32) >> 8 & 0xffff;
            if burst != 0 {
                return Ok(burst);
            }
        }
        Err(TpmError::Timeout { what: "TIS burst count" })
    }

    fn crb_execute(&mut self, command: &[u8], response: &mut [u8; MAX_MESSAGE]) -> Result<usize, TpmError> {
        use crb::*;
        let buffer = |addr: u32, size: u32| {
            let (start, end) = (u64::from(addr), u64::from(addr) + u64::from(size));
            (start >= BASE && end <= BUFFER_END).then_some((start, end))
        };
        let (cmd_addr, cmd_size) = (self.read(CMD_ADDR, Width::U32), self.read(CMD_SIZE, Width::U32));
        let (cmd, cmd_end) = buffer(cmd_addr, cmd_size).ok_or(TpmError::Malformed { what: "CRB command buffer" })?;
        if command.len() as u64 > cmd_end - cmd {
            return Err(TpmError::Malformed { what: "command larger than the CRB buffer" });
        }
        for (i, chunk) in command.chunks(4).enumerate() {
            let mut word = [0u8; 4];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write(cmd + 4 * i as u64, Width::U32, u32::from_le_bytes(word));
        }
        self.write(CTRL_START, Width::U32, 1);
        self.wait(CTRL_START, Width::U32, 1, 0, "the TPM's response")?;
        if self.read(CTRL_STS, Width::U32) & STS_FATAL != 0 {
            return Err(TpmError::Malformed { what: "CRB reports a fatal error" });
        }
        let (rsp_addr, rsp_size) = (self.read(RSP_ADDR, Width::U32), self.read(RSP_SIZE, Width::U32));
        let (rsp, rsp_end) = buffer(rsp_addr, rsp_size).ok_or(TpmError::Malformed { what: "CRB response buffer" })?;
        // Whole words (the buffer is RAM: no exits), then the size the header gives.
        let (mut len, mut want) = (0, HEADER);
        while len < want {
            if rsp + len as u64 + 4 > rsp_end {
                return Err(TpmError::Malformed { what: "response larger than the CRB buffer" });
            }
            let word = self.read(rsp + len as u64, Width::U32).to_le_bytes();
            response[len..len + 4].copy_from_slice(&word);
            len += 4;
            if want == HEADER && len >= HEADER {
                want = response_size(response)?;
            }
        }
        Ok(want)
    }

    /// Polls `reg` until its bits under `mask` equal `value`.
    fn wait(&mut self, reg: u64, width: Width, mask: u32, value: u32, what: &'static str) -> Result<(), TpmError> {
        for _ in 0..MAX_POLLS {
            if self.read(reg, width) & mask == value {
                return Ok(());
            }
        }
        Err(TpmError::Timeout { what })
    }

    fn read(&mut self, addr: u64, width: Width) -> u32 {
        self.platform.mem_read(addr, width)
    }

    fn write(&mut self, addr: u64, width: Width, value: u32) {
        self.platform.mem_write(addr, width, value)
    }
}

/// A command's or response's header: tag, size, command or response code.
pub const HEADER: usize = 10;

/// The size a response header in `response` gives, checked against [`MAX_MESSAGE`].
fn response_size(response: &[u8; MAX_MESSAGE]) -> Result<usize, TpmError> {
    let size = u32::from_be_bytes([response[2], response[3], response[4], response[5]]) as usize;
    if !(HEADER..=MAX_MESSAGE).contains(&size) {
        return Err(TpmError::Malformed { what: "response size" });
    }
    Ok(size)
}

/// The hash algorithms pvhfw measures with (TCG algorithm ids), in the order the log lists
/// them; a TPM's other banks (SM3, SHA-3) are left alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alg {
    Sha1 = 0x0004,
    Sha256 = 0x000b,
    Sha384 = 0x000c,
    Sha512 = 0x000d,
}

impl Alg {
    pub const ALL: [Alg; 4] = [Alg::Sha1, Alg::Sha256, Alg::Sha384, Alg::Sha512];

    pub const fn digest_size(self) -> usize {
        match self {
            Alg::Sha1 => 20,
            Alg::Sha256 => 32,
            Alg::Sha384 => 48,
            Alg::Sha512 => 64,
        }
    }

    pub fn id(self) -> u16 {
        self as u16
    }
}

/// The banks a TPM has active, of those in [`Alg::ALL`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Banks(u8);

impl Banks {
    pub fn with(self, alg: Alg) -> Banks {
        Banks(self.0 | 1 << Alg::ALL.iter().position(|&a| a == alg).unwrap_or(0))
    }

    pub fn has(self, alg: Alg) -> bool {
        Alg::ALL.iter().position(|&a| a == alg).is_some_and(|i| self.0 & 1 << i != 0)
    }

    pub fn iter(self) -> impl Iterator<Item = Alg> {
        Alg::ALL.into_iter().filter(move |&a| self.has(a))
    }

    pub fn count(self) -> usize {
        self.0.count_ones() as usize
    }
}

/// TPM 2.0 command codes, tags and the rest of what the commands below encode.
const TAG_NO_SESSIONS: u16 = 0x8001;
const TAG_SESSIONS: u16 = 0x8002;
const CC_STARTUP: u32 = 0x144;
const CC_GET_CAPABILITY: u32 = 0x17a;
const CC_PCR_EXTEND: u32 = 0x182;
const SU_CLEAR: u16 = 0;
const CAP_PCRS: u32 = 5;
/// The password session, with an empty password: PCRs 0-15 need no other authorization.
const RS_PW: u32 = 0x4000_0009;
/// `TPM2_Startup` after an earlier one (the firmware before `pvhfw.elf` started the TPM).
pub const RC_INITIALIZE: u32 = 0x100;

/// A command being encoded: big-endian fields after a header whose size is filled in last.
pub struct Command {
    bytes: [u8; MAX_MESSAGE],
    len: usize,
}

impl Command {
    fn new(tag: u16, code: u32) -> Command {
        let mut c = Command { bytes: [0; MAX_MESSAGE], len: 0 };
        c.put(&tag.to_be_bytes()).put(&[0; 4]).put(&code.to_be_bytes());
        c
    }

    fn put(&mut self, bytes: &[u8]) -> &mut Command {
        self.bytes[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
        self
    }

    pub fn bytes(&mut self) -> &[u8] {
        let size = (self.len as u32).to_be_bytes();
        self.bytes[2..6].copy_from_slice(&size);
        &self.bytes[..self.len]
    }
}

/// `TPM2_Startup(TPM_SU_CLEAR)`.
pub fn startup() -> Command {
    let mut c = Command::new(TAG_NO_SESSIONS, CC_STARTUP);
    c.put(&SU_CLEAR.to_be_bytes());
    c
}

/// `TPM2_GetCapability(TPM_CAP_PCRS)`: the PCR banks and which PCRs each has.
pub fn get_pcr_banks() -> Command {
    let mut c = Command::new(TAG_NO_SESSIONS, CC_GET_CAPABILITY);
    c.put(&CAP_PCRS.to_be_bytes()).put(&0u32.to_be_bytes()).put(&8u32.to_be_bytes());
    c
}

/// The active banks in a `TPM2_GetCapability(TPM_CAP_PCRS)` response: those whose PCR
/// selection has a PCR in it.
pub fn parse_pcr_banks(response: &[u8]) -> Result<Banks, TpmError> {
    let malformed = TpmError::Malformed { what: "PCR bank list" };
    // Header, moreData, capability, then the count of TPMS_PCR_SELECTION.
    let count = response.get(15..19).ok_or(malformed)?;
    let count = u32::from_be_bytes([count[0], count[1], count[2], count[3]]);
    let mut at = 19;
    let mut banks = Banks::default();
    for _ in 0..count.min(16) {
        let head = response.get(at..at + 3).ok_or(malformed)?;
        let (alg, size) = (u16::from_be_bytes([head[0], head[1]]), usize::from(head[2]));
        let select = response.get(at + 3..at + 3 + size).ok_or(malformed)?;
        if let Some(a) = Alg::ALL.into_iter().find(|a| a.id() == alg) {
            if select.iter().any(|&b| b != 0) {
                banks = banks.with(a);
            }
        }
        at += 3 + size;
    }
    Ok(banks)
}

/// `TPM2_PCR_Extend(pcr, digests)` with the empty password; `digests` holds, for each of
/// `banks` in order, its digest.
pub fn pcr_extend(pcr: u32, banks: Banks, digests: &[&[u8]]) -> Command {
    let mut c = Command::new(TAG_SESSIONS, CC_PCR_EXTEND);
    c.put(&pcr.to_be_bytes());
    // The authorization area: its size, the session handle, an empty nonce, continueSession,
    // an empty password.
    c.put(&9u32.to_be_bytes()).put(&RS_PW.to_be_bytes()).put(&[0, 0, 1, 0, 0]);
    c.put(&(banks.count() as u32).to_be_bytes());
    for (alg, digest) in banks.iter().zip(digests) {
        c.put(&alg.id().to_be_bytes()).put(digest);
    }
    c
}

#[cfg(test)]
mod tests;
