//! An in-memory fw_cfg for host tests and the fuzz targets.

use super::directory::encode_directory;
use super::{key, FwCfgIo};
use crate::Error;
use std::collections::BTreeMap;
use std::string::String;
use std::vec::Vec;

#[derive(Default)]
pub struct FakeFwCfg {
    pub items: BTreeMap<u16, Vec<u8>>,
    pub files: Vec<(String, u16)>,
    /// Physical memory writes done by `read_to_phys`: the target range and the item's
    /// bytes that landed there (QEMU zero-fills the rest of the range; not stored, so a
    /// 4 GiB request costs nothing).
    pub phys_writes: Vec<(crate::Range, Vec<u8>)>,
    /// Keys whose reads fail as a DMA error would.
    pub failing: Vec<u16>,
    /// Writes: (key, offset, bytes).
    pub writes: Vec<(u16, u32, Vec<u8>)>,
    /// Behave like the port interface (no DMA).
    pub port_io: bool,
}

impl FakeFwCfg {
    pub fn set(&mut self, key: u16, data: &[u8]) {
        self.items.insert(key, data.to_vec());
    }
    /// Adds a file, or replaces the contents of one with that name.
    pub fn add_file(&mut self, name: &str, data: &[u8]) {
        let select = match self.files.iter().find(|(n, _)| n == name) {
            Some(&(_, select)) => select,
            None => {
                let select = 0x20 + self.files.len() as u16;
                self.files.push((name.into(), select));
                select
            }
        };
        self.items.insert(select, data.to_vec());
        let mut dir = Vec::new();
        let files = self.files.iter().map(|(name, select)| (name.as_str(), self.items[select].len() as u32, *select));
        encode_directory(files, &mut dir);
        self.items.insert(key::FILE_DIR, dir);
    }
}

impl FwCfgIo for FakeFwCfg {
    fn read(&mut self, key: u16, buf: &mut [u8]) -> Result<(), Error> {
        if self.failing.contains(&key) {
            return Err(Error::DmaFailed { key });
        }
        let item = self.items.get(&key).map(|v| v.as_slice()).unwrap_or(&[]);
        for (i, b) in buf.iter_mut().enumerate() {
            *b = item.get(i).copied().unwrap_or(0);
        }
        Ok(())
    }
    fn read_at(&mut self, key: u16, offset: u32, buf: &mut [u8]) -> Result<(), Error> {
        let item = self.items.get(&key).map(|v| v.as_slice()).unwrap_or(&[]);
        let rest = item.get(offset as usize..).unwrap_or(&[]).to_vec();
        let mut fake = FakeFwCfg::default();
        fake.items.insert(key, rest);
        fake.failing = self.failing.clone();
        fake.read(key, buf)
    }
    fn read_to_phys(&mut self, key: u16, paddr: u64, len: u32) -> Result<(), Error> {
        self.read_to_phys_at(key, 0, paddr, len)
    }
    fn read_to_phys_at(&mut self, key: u16, offset: u32, paddr: u64, len: u32) -> Result<(), Error> {
        if self.failing.contains(&key) {
            return Err(Error::DmaFailed { key });
        }
        let item = self.items.get(&key).map(|v| v.as_slice()).unwrap_or(&[]);
        let item = item.get(offset as usize..).unwrap_or(&[]);
        let data = item[..item.len().min(len as usize)].to_vec();
        self.phys_writes.push((crate::Range { start: paddr, end: paddr + u64::from(len) }, data));
        Ok(())
    }
    fn write(&mut self, key: u16, offset: u32, data: &[u8]) -> Result<(), Error> {
        if self.failing.contains(&key) {
            return Err(Error::DmaFailed { key });
        }
        self.writes.push((key, offset, data.to_vec()));
        Ok(())
    }
    fn has_dma(&self) -> bool {
        !self.port_io
    }
}
