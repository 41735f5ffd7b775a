use super::*;
use crate::platform::fake::{Banks, FakeDevice, FakePlatform};
use crate::platform::Width;

/// A function's configuration space whose BARs answer the sizing probe: `sizes[i]` is BAR i's
/// size (0: none), `kinds[i]` its low bits (1: I/O, 0: 32-bit memory, 4: 64-bit memory).
struct Function {
    f: PciFn,
    regs: [u32; 64],
    sizes: [u64; 6],
}

impl Function {
    fn new(f: PciFn, header: u32, class: u32, bars: &[(usize, u64, u32)], pin: u8) -> Function {
        let mut regs = [0u32; 64];
        regs[0] = 0x1234_1af4;
        regs[2] = class << 16;
        regs[3] = header << 16;
        regs[15] = u32::from(pin) << 8;
        let mut sizes = [0; 6];
        for &(i, size, kind) in bars {
            sizes[i] = size;
            regs[4 + i] = kind;
        }
        Function { f, regs, sizes }
    }

    fn bar(&self, i: usize) -> u64 {
        let low = u64::from(self.regs[4 + i] & !0xf);
        match self.regs[4 + i] & 7 {
            4 => low | u64::from(self.regs[5 + i]) << 32,
            k if k & 1 == 1 => u64::from(self.regs[4 + i] & !3),
            _ => low,
        }
    }
}

impl FakeDevice for Function {
    fn pci(&self) -> Option<PciFn> {
        Some(self.f)
    }
    fn config_read(&mut self, offset: u8) -> u32 {
        self.regs[usize::from(offset / 4)]
    }
    fn config_write(&mut self, offset: u8, value: u32, width: Width) {
        let i = usize::from(offset / 4);
        if width == Width::U8 {
            let shift = 8 * (offset % 4);
            self.regs[i] = self.regs[i] & !(0xff << shift) | (value & 0xff) << shift;
            return;
        }
        // A BAR keeps its type bits and only the address bits its size leaves; the upper half
        // of a 64-bit BAR takes the size's upper bits.
        let bar = i.wrapping_sub(4);
        self.regs[i] = match (bar < 6).then(|| (self.sizes.get(bar).copied(), bar)) {
            Some((Some(size), _)) if size > 0 => {
                let kind = self.regs[i] & if self.regs[i] & 1 == 1 { 3 } else { 0xf };
                (value & !(size as u32).wrapping_sub(1) & !0xf | kind) & if kind & 1 == 1 { !2 } else { !0 }
            }
            Some((_, b)) if b > 0 && self.sizes[b - 1] > 0 && self.regs[i - 1] & 7 == 4 => {
                value & !((self.sizes[b - 1] - 1) >> 32) as u32
            }
            Some(_) => 0,
            None => value,
        };
    }
    fn claims(&self, _: bool, _: u64) -> bool {
        false
    }
    fn read(&mut self, _: bool, _: u64, _: Width) -> u32 {
        0
    }
    fn write(&mut self, _: bool, _: u64, _: Width, _: u32, _: &mut Banks) {}
    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

fn machine(functions: std::vec::Vec<Function>) -> FakePlatform {
    functions.into_iter().fold(FakePlatform::default(), FakePlatform::with_fake_device)
}

#[test]
fn bars_are_placed_largest_first_and_enabled() {
    let host = Function::new(PciFn::new(0, 0), 0, 0x0600, &[], 0);
    let virtio = Function::new(PciFn::new(3, 0), 0, 0x0100, &[(0, 64, 1), (1, 0x1000, 0), (4, 0x4000, 4)], 1);
    let nic = Function::new(PciFn::new(4, 0), 0, 0x0200, &[(0, 0x2_0000, 0), (1, 32, 1)], 2);
    let mut p = machine(std::vec![host, virtio, nic]);
    assert_eq!(assign(&mut p, Chipset::I440fx), Assigned { bars: 5, unplaced: 0 });
    let virtio = p.device::<Function>(1);
    assert_eq!((virtio.bar(0), virtio.bar(1), virtio.bar(4)), (0xc000, 0xe002_4000, 0xe002_0000));
    assert_eq!(virtio.regs[1] & 7, 7, "I/O, memory and bus master on");
    // Slot 3, INTA through PIIX3's swizzle: link C, IRQ 11.
    assert_eq!(virtio.regs[15] & 0xff, 11);
    let nic = p.device::<Function>(2);
    assert_eq!((nic.bar(0), nic.bar(1)), (0xe000_0000, 0xc040));
    // The host bridge is left alone.
    assert_eq!(p.device::<Function>(0).regs[1], 0);
}

#[test]
fn what_does_not_fit_or_is_a_bridge_stays_unassigned() {
    let big = Function::new(PciFn::new(2, 0), 0, 0x0500, &[(0, 1 << 30, 4), (2, 0x1000, 0)], 0);
    let bridge = Function::new(PciFn::new(5, 0), 1, 0x0604, &[(0, 0x100, 0)], 1);
    let mut p = machine(std::vec![big, bridge]);
    assert_eq!(assign(&mut p, Chipset::Q35), Assigned { bars: 1, unplaced: 1 });
    let big = p.device::<Function>(0);
    assert_eq!((big.bar(0), big.bar(2)), (0, 0xc000_0000), "1 GiB does not fit below the IOAPIC");
    assert_eq!(p.device::<Function>(1).bar(0), 0);
}
