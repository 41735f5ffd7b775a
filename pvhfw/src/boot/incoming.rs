//! What a previous stage hands `pvhfw.elf` in its PVH start info (`hvm_start_info`), copied
//! out before the firmware writes its own memory.

use crate::e820;
use crate::start_info::{MemmapEntry, ModlistEntry, StartInfo, MAGIC};
use crate::{Error, Range};
use zerocopy::{FromZeros, IntoBytes};

/// Longest incoming command line `pvhfw.elf` takes over (Linux keeps 2 KiB of it).
pub const INCOMING_CMDLINE_MAX: usize = 4096;

/// What a previous stage handed `pvhfw.elf` in its start info, copied out before the firmware
/// writes its own low-RAM window (where a previous stage may keep it: QEMU's PVH option ROM
/// does). Everything in it is untrusted.
pub struct Incoming {
    pub memmap: [MemmapEntry; e820::MAX_INPUT],
    pub memmap_len: usize,
    pub cmdline: [u8; INCOMING_CMDLINE_MAX],
    pub cmdline_len: usize,
    /// Module 0, taken as the initrd.
    pub initrd: Option<Range>,
    pub rsdp: Option<u64>,
}

impl Incoming {
    /// Reads the start info at `paddr` and what it points to through `read` (physical
    /// address, buffer; false when the range cannot be read).
    pub fn read(paddr: u64, read: &mut dyn FnMut(u64, &mut [u8]) -> bool) -> Result<Incoming, crate::Error> {
        let unreadable = |what: &'static str, addr: u64| Error::StartInfoUnreadable { what, addr };
        let mut info = StartInfo::new_zeroed();
        if !read(paddr, info.as_mut_bytes()) {
            return Err(unreadable("start info", paddr));
        }
        if info.magic != MAGIC {
            return Err(Error::BadStartInfo { magic: info.magic });
        }
        let mut incoming = Incoming {
            memmap: [MemmapEntry::default(); e820::MAX_INPUT],
            memmap_len: 0,
            cmdline: [0; INCOMING_CMDLINE_MAX],
            cmdline_len: 0,
            initrd: None,
            rsdp: (info.rsdp_paddr != 0).then_some(info.rsdp_paddr),
        };
        // Version 0 has no memory map fields.
        let entries = if info.version >= 1 { info.memmap_entries as usize } else { 0 };
        if entries > incoming.memmap.len() {
            let max = incoming.memmap.len() as u64;
            return Err(Error::TooLarge { what: "incoming memory map", size: entries as u64, max });
        }
        if entries > 0 && !read(info.memmap_paddr, incoming.memmap[..entries].as_mut_bytes()) {
            return Err(unreadable("memory map", info.memmap_paddr));
        }
        incoming.memmap_len = entries;
        if info.cmdline_paddr != 0 {
            incoming.cmdline_len = read_string(info.cmdline_paddr, &mut incoming.cmdline, read)
                .ok_or(unreadable("command line", info.cmdline_paddr))?;
        }
        if info.nr_modules > 0 {
            let mut module = ModlistEntry::new_zeroed();
            if !read(info.modlist_paddr, module.as_mut_bytes()) {
                return Err(unreadable("module list", info.modlist_paddr));
            }
            let end = module.paddr.checked_add(module.size).ok_or(unreadable("module", module.paddr))?;
            incoming.initrd = (module.size > 0).then_some(Range { start: module.paddr, end });
        }
        Ok(incoming)
    }

    pub fn cmdline(&self) -> &[u8] {
        &self.cmdline[..self.cmdline_len]
    }
}

/// Reads the NUL-terminated string at `paddr` into `buf`, a 64-byte piece at a time (so as not
/// to read far past its end); returns its length, `None` if unreadable or longer than `buf`.
fn read_string(paddr: u64, buf: &mut [u8], read: &mut dyn FnMut(u64, &mut [u8]) -> bool) -> Option<usize> {
    for (i, piece) in buf.chunks_mut(64).enumerate() {
        let at = paddr.checked_add(i as u64 * 64)?;
        if !read(at, piece) {
            return None;
        }
        if let Some(nul) = piece.iter().position(|&b| b == 0) {
            return Some(i * 64 + nul);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// 64 KiB of guest memory from 0, read as a previous stage left it.
    struct Memory(Vec<u8>);

    impl Memory {
        fn new() -> Self {
            Memory(std::vec![0; 0x10000])
        }
        fn put(&mut self, at: u64, bytes: &[u8]) {
            self.0[at as usize..at as usize + bytes.len()].copy_from_slice(bytes);
        }
        fn read(&mut self) -> impl FnMut(u64, &mut [u8]) -> bool + '_ {
            |at, buf| match self.0.get(at as usize..at as usize + buf.len()) {
                Some(bytes) => {
                    buf.copy_from_slice(bytes);
                    true
                }
                None => false,
            }
        }
    }

    /// What QEMU's PVH option ROM hands over: a map of two entries, a command line, a module.
    fn option_rom() -> Memory {
        let mut m = Memory::new();
        let info = StartInfo {
            magic: MAGIC,
            version: 1,
            nr_modules: 1,
            modlist_paddr: 0x2100,
            cmdline_paddr: 0x3000,
            rsdp_paddr: 0xf5000,
            memmap_paddr: 0x2200,
            memmap_entries: 2,
            ..Default::default()
        };
        m.put(0x2000, info.as_bytes());
        m.put(0x3000, b"console=ttyS0\0");
        let module = ModlistEntry { paddr: 0x700_0000, size: 4096, ..Default::default() };
        m.put(0x2100, module.as_bytes());
        let map = [
            MemmapEntry { addr: 0, size: 0x9fc00, kind: 1, reserved: 0 },
            MemmapEntry { addr: 0x10_0000, size: 0x7f0_0000, kind: 1, reserved: 0 },
        ];
        m.put(0x2200, map.as_bytes());
        m
    }

    #[test]
    fn reads_what_the_option_rom_hands_over() {
        let mut m = option_rom();
        let incoming = Incoming::read(0x2000, &mut m.read()).unwrap();
        assert_eq!(incoming.cmdline(), b"console=ttyS0");
        assert_eq!(incoming.rsdp, Some(0xf5000));
        assert_eq!(incoming.initrd, Some(Range { start: 0x700_0000, end: 0x700_1000 }));
        assert_eq!(incoming.memmap_len, 2);
        assert_eq!(incoming.memmap[1].size, 0x7f0_0000);
    }

    #[test]
    fn refuses_bad_magic_and_unreadable_pointers() {
        let mut m = option_rom();
        m.put(0x2000, &0x1234_5678u32.to_le_bytes());
        assert_eq!(Incoming::read(0x2000, &mut m.read()).err(), Some(Error::BadStartInfo { magic: 0x1234_5678 }));
        assert_eq!(
            Incoming::read(0xfff0, &mut m.read()).err(),
            Some(Error::StartInfoUnreadable { what: "start info", addr: 0xfff0 })
        );
        let mut m = option_rom();
        m.put(0x2000 + 16, &0x1_0000_0000u64.to_le_bytes()); // modlist_paddr
        let unreadable = Error::StartInfoUnreadable { what: "module list", addr: 0x1_0000_0000 };
        assert_eq!(Incoming::read(0x2000, &mut m.read()).err(), Some(unreadable));
        // A command line without its NUL within 4 KiB.
        let mut m = option_rom();
        m.put(0x3000, &[b'x'; INCOMING_CMDLINE_MAX]);
        let unreadable = Error::StartInfoUnreadable { what: "command line", addr: 0x3000 };
        assert_eq!(Incoming::read(0x2000, &mut m.read()).err(), Some(unreadable));
        // More map entries than the firmware takes.
        let mut m = option_rom();
        m.put(0x2000 + 48, &1000u32.to_le_bytes());
        assert!(matches!(Incoming::read(0x2000, &mut m.read()), Err(Error::TooLarge { .. })));
    }
}
