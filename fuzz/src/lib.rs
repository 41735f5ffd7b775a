//! What the fuzz targets share: a byte format for a set of fw_cfg items, so that one input can
//! describe a whole fw_cfg (and seeds can be made from QEMU captures), and a platform whose RAM
//! appears wherever the library asks for it and records where that was.
//!
//! Items format, repeated to the end of the input: a name length `n` (u8); if `n` is 0 a raw
//! key (u16 LE), else an fw_cfg file of that name (`n` bytes, at most 56 used); then a data
//! length (u32 LE) and that many bytes (fewer if the input ends). A raw key 0x19 replaces the
//! directory the files produce, so sizes, selectors and names can all lie.

use pvhfw::console::Console;
use pvhfw::fw_cfg::fake::FakeFwCfg;
use pvhfw::fw_cfg::key;
use pvhfw::platform::fake::FakePlatform;
use pvhfw::platform::{PciConfig, PciFn, Platform, Width};
use pvhfw::Range;

/// One item of an input.
pub enum Item<'a> {
    File(String, &'a [u8]),
    Key(u16, &'a [u8]),
}

/// The first `n` bytes of `data` (fewer if it is shorter), taken off it.
fn take<'a>(data: &mut &'a [u8], n: usize) -> &'a [u8] {
    let (a, b) = data.split_at(n.min(data.len()));
    *data = b;
    a
}

/// Splits `data` into items (a truncated tail is dropped).
pub fn items(mut data: &[u8]) -> Vec<Item<'_>> {
    let mut out = Vec::new();
    while let Some(&n) = data.first() {
        data = &data[1..];
        let want = if n == 0 { 2 } else { n.into() };
        let name = take(&mut data, want);
        let (true, Ok(len)) = (name.len() == want, <[u8; 4]>::try_from(take(&mut data, 4))) else { break };
        let bytes = take(&mut data, u32::from_le_bytes(len) as usize);
        out.push(if n == 0 {
            Item::Key(u16::from_le_bytes([name[0], name[1]]), bytes)
        } else {
            Item::File(name.iter().take(56).map(|&b| (b & 0x7f) as char).collect(), bytes)
        });
    }
    out
}

/// A fake fw_cfg serving `items`; a raw directory item wins over the one files produce.
pub fn fw_cfg(items: &[Item]) -> FakeFwCfg {
    let mut f = FakeFwCfg::default();
    for item in items {
        if let Item::File(name, data) = item {
            f.add_file(name, data);
        }
    }
    for item in items {
        if let Item::Key(k, data) = item {
            f.set(*k, data);
        }
    }
    f
}

/// The largest file a forged directory may claim before an input is skipped: every byte of a
/// table file is read into (fake) RAM, and gigabytes of it would only test the host's memory.
pub const MAX_CLAIMED: u32 = 16 << 20;

/// Whether the directory `f` serves claims only files the harness can hold.
pub fn sizes_are_sane(f: &FakeFwCfg) -> bool {
    let raw = f.items.get(&key::FILE_DIR).map(|v| v.as_slice()).unwrap_or(&[]);
    pvhfw::fw_cfg::Directory::parse(raw).entries().all(|(_, file)| file.size <= MAX_CLAIMED)
}

/// A console that drops everything.
pub struct Sink;
impl Console for Sink {
    fn write(&mut self, _: &[u8]) {}
}

/// A platform whose RAM is made on first use: every `phys` range is noted in `touched` and
/// backed by zeroed memory (banks grow and merge as needed). PCI and CPUID come from `inner`.
#[derive(Default)]
pub struct AnyRam {
    pub inner: FakePlatform,
    pub touched: Vec<Range>,
    banks: Vec<(u64, Vec<u8>)>,
}

impl AnyRam {
    pub fn new(inner: FakePlatform) -> AnyRam {
        AnyRam { inner, ..AnyRam::default() }
    }

    /// A machine whose chipset input bits 0-1 of `flags` choose: none (microvm), i440FX, Q35.
    pub fn with_chipset(flags: u8) -> AnyRam {
        let host_bridge = [None, Some(0x1237_8086), Some(0x29c0_8086), None][usize::from(flags & 3)];
        let mut inner = FakePlatform::default();
        if let Some(id) = host_bridge {
            inner = inner.with_device(PciFn::new(0, 0), id);
        }
        AnyRam::new(inner)
    }

    /// Puts `bytes` at `start` (as DMA would), without noting it as touched.
    pub fn preload(&mut self, start: u64, bytes: &[u8]) {
        let r = Range { start, end: start + bytes.len() as u64 };
        self.phys(r).copy_from_slice(bytes);
        self.touched.pop();
    }

    /// The bytes at `r`, without noting it as touched.
    pub fn peek(&mut self, r: Range) -> Vec<u8> {
        let v = self.phys(r).to_vec();
        self.touched.pop();
        v
    }
}

impl PciConfig for AnyRam {
    fn pci_read32(&mut self, function: PciFn, offset: u8) -> u32 {
        self.inner.pci_read32(function, offset)
    }
    fn pci_write32(&mut self, function: PciFn, offset: u8, value: u32) {
        self.inner.pci_write32(function, offset, value)
    }
    fn pci_write8(&mut self, function: PciFn, offset: u8, value: u8) {
        self.inner.pci_write8(function, offset, value)
    }
    fn mmio_write32(&mut self, addr: u64, value: u32) {
        self.inner.mmio_write32(addr, value)
    }
    fn mmio_write8(&mut self, addr: u64, value: u8) {
        self.inner.mmio_write8(addr, value)
    }
}

impl Platform for AnyRam {
    fn phys(&mut self, r: Range) -> &mut [u8] {
        assert!(r.start <= r.end && r.end <= 1 << 32, "physical access beyond 4 GiB: {r:x?}");
        assert!(r.end - r.start <= 64 << 20, "physical access of more than 64 MiB: {r:x?}");
        self.touched.push(r);
        let end = |b: &(u64, Vec<u8>)| b.0 + b.1.len() as u64;
        // Merge every bank that overlaps or touches `r` into one.
        let (mut start, mut stop) = (r.start, r.end);
        let mut merged = Vec::new();
        let mut i = 0;
        while i < self.banks.len() {
            let b = &self.banks[i];
            if b.0 <= stop && start <= end(b) {
                (start, stop) = (start.min(b.0), stop.max(end(b)));
                merged.push(self.banks.swap_remove(i));
            } else {
                i += 1;
            }
        }
        let bank = match merged.len() {
            1 if merged[0].0 == start && end(&merged[0]) == stop => merged.pop().unwrap(),
            _ => {
                let mut bytes = vec![0; (stop - start) as usize];
                for (s, b) in merged {
                    bytes[(s - start) as usize..][..b.len()].copy_from_slice(&b);
                }
                (start, bytes)
            }
        };
        self.banks.push(bank);
        let (s, bytes) = self.banks.last_mut().unwrap();
        &mut bytes[(r.start - *s) as usize..(r.end - *s) as usize]
    }
    fn cpuid(&mut self, leaf: u32, subleaf: u32) -> [u32; 4] {
        self.inner.cpuid(leaf, subleaf)
    }
    fn tsc(&mut self) -> u64 {
        0
    }
    fn rdmsr(&mut self, msr: u32) -> u64 {
        self.inner.rdmsr(msr)
    }
    fn wrmsr(&mut self, msr: u32, value: u64) {
        self.inner.wrmsr(msr, value)
    }
    fn io_read(&mut self, port: u16, width: Width) -> u32 {
        self.inner.io_read(port, width)
    }
    fn io_write(&mut self, port: u16, width: Width, value: u32) {
        self.inner.io_write(port, width, value)
    }
    fn mem_read(&mut self, addr: u64, width: Width) -> u32 {
        self.inner.mem_read(addr, width)
    }
    fn mem_write(&mut self, addr: u64, width: Width, value: u32) {
        self.inner.mem_write(addr, width, value)
    }
    fn dma_read32(&mut self, addr: u64) -> u32 {
        u32::from_le_bytes(self.peek(Range { start: addr, end: addr + 4 }).try_into().unwrap())
    }
    fn rom_image(&mut self) -> &[u8] {
        self.inner.rom_image()
    }
}

/// The memory map a successful boot handed the kernel (in the start info's or `boot_params`'
/// count), checked to be within Linux's limit; `None` when the boot failed.
pub fn handed_over_map<'a>(
    result: &Result<pvhfw::boot::KernelEntry, pvhfw::Error>,
    area: &'a pvhfw::handoff::Handoff,
) -> Option<&'a [pvhfw::start_info::MemmapEntry]> {
    let len = match result {
        Ok(pvhfw::boot::KernelEntry::Pvh { .. }) => area.start_info.memmap_entries as usize,
        Ok(_) => usize::from(area.boot_params.e820_entries),
        Err(_) => return None,
    };
    assert!(len > 0 && len <= pvhfw::start_info::MAX_MEMMAP);
    Some(&area.memmap[..len])
}
