use super::*;
use crate::platform::fake::{Banks as RamBanks, FakeDevice, FakePlatform};
use crate::platform::PciFn;
use sha2::Digest;
use std::vec::Vec;

/// A TPM 2.0 model behind TIS or CRB: enough of both interfaces and of `TPM2_Startup`,
/// `TPM2_GetCapability(PCRS)` and `TPM2_PCR_Extend` (SHA-1 and SHA-256 banks) for the driver.
pub(crate) struct FakeTpm {
    pub crb: bool,
    /// TIS: locality active, commandReady, a response being read. CRB: locality assigned.
    active: bool,
    ready: bool,
    command: Vec<u8>,
    response: Vec<u8>,
    read_at: usize,
    crb_buffer: Vec<u8>,
    started: bool,
    /// The SHA-256 bank's PCRs.
    pub pcrs: [[u8; 32]; 24],
    /// Answer nothing (a TPM that hangs).
    pub silent: bool,
    /// Response code for every PCR_Extend.
    pub extend_error: u32,
    pub extends: u32,
}

impl FakeTpm {
    pub(crate) fn new(crb: bool) -> FakeTpm {
        FakeTpm {
            crb,
            active: false,
            ready: false,
            command: Vec::new(),
            response: Vec::new(),
            read_at: 0,
            crb_buffer: std::vec![0; 0xf80],
            started: false,
            pcrs: [[0; 32]; 24],
            silent: false,
            extend_error: 0,
            extends: 0,
        }
    }

    fn process(&mut self) {
        let c = &self.command;
        let code = u32::from_be_bytes([c[6], c[7], c[8], c[9]]);
        let mut body = Vec::new();
        let rc = match code {
            0x144 if self.started => 0x100,
            0x144 => {
                self.started = true;
                0
            }
            0x17a => {
                body.extend([0, 0, 0, 0, 5, 0, 0, 0, 2]);
                body.extend([0, 4, 3, 0xff, 0xff, 0xff, 0, 0xb, 3, 0xff, 0xff, 0xff]);
                0
            }
            0x182 => {
                self.extends += 1;
                let pcr = u32::from_be_bytes([c[10], c[11], c[12], c[13]]) as usize;
                let auth = u32::from_be_bytes([c[14], c[15], c[16], c[17]]) as usize;
                let mut at = 18 + auth + 4;
                while at + 2 <= c.len() {
                    let alg = u16::from_be_bytes([c[at], c[at + 1]]);
                    let size = if alg == 4 { 20 } else { 32 };
                    if alg == 0xb {
                        let mut h = sha2::Sha256::new();
                        h.update(self.pcrs[pcr]);
                        h.update(&c[at + 2..at + 2 + size]);
                        self.pcrs[pcr].copy_from_slice(&h.finalize());
                    }
                    at += 2 + size;
                }
                self.extend_error
            }
            _ => 0x143,
        };
        let mut r = Vec::from([0x80, 0x01]);
        r.extend(((10 + body.len()) as u32).to_be_bytes());
        r.extend(rc.to_be_bytes());
        r.extend(body);
        self.response = r;
        self.read_at = 0;
        self.command.clear();
    }

    fn declared(&self) -> usize {
        let c = &self.command;
        if c.len() < 6 {
            return usize::MAX;
        }
        u32::from_be_bytes([c[2], c[3], c[4], c[5]]) as usize
    }
}

impl FakeDevice for FakeTpm {
    fn pci(&self) -> Option<PciFn> {
        None
    }
    fn config_read(&mut self, _: u8) -> u32 {
        !0
    }
    fn config_write(&mut self, _: u8, _: u32, _: Width) {}
    fn claims(&self, io: bool, addr: u64) -> bool {
        !io && (BASE..BASE + 0x5000).contains(&addr)
    }
    fn read(&mut self, _: bool, addr: u64, width: Width) -> u32 {
        let off = addr - BASE;
        if off == 0x30 {
            return if self.crb { 0x0002_5811 } else { 0x0000_2100 };
        }
        if self.crb {
            return match off {
                0x00 => 0x80 | u32::from(self.active) << 1,
                // A silent TPM never clears START.
                0x4c => u32::from(self.silent && self.ready),
                0x58 | 0x64 => 0xf80,
                0x5c | 0x68 => (BASE + 0x80) as u32,
                o if (0x80..0x1000).contains(&o) => {
                    let i = (o - 0x80) as usize;
                    u32::from_le_bytes(self.crb_buffer[i..i + 4].try_into().unwrap())
                }
                _ => 0,
            };
        }
        match off {
            0x00 => 0x80 | u32::from(self.active) << 5,
            0x18 => {
                let available = !self.silent && self.read_at < self.response.len();
                let expect = !self.command.is_empty() && self.command.len() < self.declared();
                0x80 | u32::from(self.ready) << 6 | u32::from(available) << 4 | u32::from(expect) << 3 | 64 << 8
            }
            0x24 => {
                let n = if width == Width::U32 { 4 } else { 1 };
                let mut word = [0u8; 4];
                for b in word.iter_mut().take(n) {
                    *b = self.response.get(self.read_at).copied().unwrap_or(0xff);
                    self.read_at += 1;
                }
                u32::from_le_bytes(word)
            }
            _ => 0,
        }
    }
    fn write(&mut self, _: bool, addr: u64, width: Width, value: u32, _: &mut RamBanks) {
        let off = addr - BASE;
        if self.crb {
            match off {
                0x08 => self.active = value & 1 != 0,
                0x4c if value == 1 && self.silent => self.ready = true,
                0x4c if value == 1 && self.active => {
                    let size = u32::from_be_bytes(self.crb_buffer[2..6].try_into().unwrap()) as usize;
                    self.command = self.crb_buffer[..size.min(0xf80)].to_vec();
                    self.process();
                    let r = std::mem::take(&mut self.response);
                    self.crb_buffer[..r.len()].copy_from_slice(&r);
                }
                o if (0x80..0x1000).contains(&o) => {
                    let i = (o - 0x80) as usize;
                    self.crb_buffer[i..i + 4].copy_from_slice(&value.to_le_bytes());
                }
                _ => {}
            }
            return;
        }
        match off {
            0x00 if value == 0x02 => self.active = true,
            0x00 if value == 0x20 => self.active = false,
            0x18 if value == 0x40 => {
                self.ready = true;
                self.command.clear();
                self.response.clear();
            }
            0x18 if value == 0x20 => self.process(),
            0x24 => {
                let n = if width == Width::U32 { 4 } else { 1 };
                self.command.extend(&value.to_le_bytes()[..n]);
            }
            _ => {}
        }
    }
    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

fn extend_twice(crb: bool) -> FakePlatform {
    let mut p = FakePlatform::default().with_fake_device(FakeTpm::new(crb));
    let mut response = [0u8; MAX_MESSAGE];
    let mut tpm = Tpm::open(&mut p).unwrap();
    assert_eq!(tpm.interface(), if crb { Interface::Crb } else { Interface::Tis });
    tpm.execute("TPM2_Startup", startup().bytes(), &mut response, &[]).unwrap();
    // A second startup answers TPM_RC_INITIALIZE, which the caller may accept.
    let again = tpm.execute("TPM2_Startup", startup().bytes(), &mut response, &[]);
    assert_eq!(again, Err(TpmError::Response { command: "TPM2_Startup", code: RC_INITIALIZE }));
    tpm.execute("TPM2_Startup", startup().bytes(), &mut response, &[RC_INITIALIZE]).unwrap();
    let len = tpm.execute("TPM2_GetCapability", get_pcr_banks().bytes(), &mut response, &[]).unwrap();
    let banks = parse_pcr_banks(&response[..len]).unwrap();
    assert_eq!(banks, Banks::default().with(Alg::Sha1).with(Alg::Sha256));
    for _ in 0..2 {
        let mut c = pcr_extend(8, banks, &[&[1; 20], &[2; 32]]);
        tpm.execute("TPM2_PCR_Extend", c.bytes(), &mut response, &[]).unwrap();
    }
    tpm.close();
    p
}

#[test]
fn extends_through_tis_and_crb() {
    let once = sha2::Sha256::digest([[0u8; 32], [2; 32]].concat());
    let twice = sha2::Sha256::digest([once.as_slice(), &[2; 32]].concat());
    for crb in [false, true] {
        let mut p = extend_twice(crb);
        let tpm = p.device::<FakeTpm>(0);
        assert_eq!(tpm.pcrs[8], twice.as_slice(), "crb {crb}");
        assert!(!tpm.active, "locality given back");
    }
}

#[test]
fn a_silent_tpm_times_out_and_a_refusal_is_named() {
    for crb in [false, true] {
        let mut fake = FakeTpm::new(crb);
        fake.silent = true;
        let mut p = FakePlatform::default().with_fake_device(fake);
        let mut response = [0u8; MAX_MESSAGE];
        let mut tpm = Tpm::open(&mut p).unwrap();
        let r = tpm.execute("TPM2_Startup", startup().bytes(), &mut response, &[]);
        assert!(matches!(r, Err(TpmError::Timeout { .. })), "{r:?}");
    }
    let mut p = FakePlatform::default();
    p.devices.push(std::boxed::Box::new(FakeTpm::new(false)));
    p.device::<FakeTpm>(0).extend_error = 0x98e;
    let mut response = [0u8; MAX_MESSAGE];
    let mut tpm = Tpm::open(&mut p).unwrap();
    let mut c = pcr_extend(0, Banks::default().with(Alg::Sha256), &[&[0; 32]]);
    let r = tpm.execute("TPM2_PCR_Extend", c.bytes(), &mut response, &[]);
    assert_eq!(r, Err(TpmError::Response { command: "TPM2_PCR_Extend", code: 0x98e }));
}

#[test]
fn no_tpm_is_named() {
    struct Nothing;
    impl FakeDevice for Nothing {
        fn pci(&self) -> Option<PciFn> {
            None
        }
        fn config_read(&mut self, _: u8) -> u32 {
            !0
        }
        fn config_write(&mut self, _: u8, _: u32, _: Width) {}
        fn claims(&self, io: bool, addr: u64) -> bool {
            !io && addr >= BASE
        }
        fn read(&mut self, _: bool, _: u64, _: Width) -> u32 {
            !0
        }
        fn write(&mut self, _: bool, _: u64, _: Width, _: u32, _: &mut RamBanks) {}
        fn as_any(&mut self) -> &mut dyn std::any::Any {
            self
        }
    }
    let mut p = FakePlatform::default().with_fake_device(Nothing);
    assert_eq!(Tpm::open(&mut p).err(), Some(TpmError::NoInterface { id: !0 }));
}

#[test]
fn pcr_bank_lists_are_bounded() {
    assert!(parse_pcr_banks(&[0; 10]).is_err());
    let mut r = std::vec![0u8; 19];
    r[18] = 3; // three selections, none there
    assert!(parse_pcr_banks(&r).is_err());
    // SM3 with PCRs, SHA-384 without: neither counts.
    r.extend([0, 0x12, 3, 0xff, 0xff, 0xff, 0, 0xc, 3, 0, 0, 0, 0, 0xd, 3, 1, 0, 0]);
    assert_eq!(parse_pcr_banks(&r), Ok(Banks::default().with(Alg::Sha512)));
}
