use super::*;
use crate::platform::fake::{Banks, FakeDevice, FakePlatform};
use crate::platform::Width;

const HIGH: u64 = 0x1_8000_0000;

/// A function's configuration space whose BARs answer the sizing probe: `sizes[i]` is BAR i's
/// size (0: none), its low bits `kind` (1: I/O, 0: 32-bit memory, 4: 64-bit memory, 0xc:
/// 64-bit prefetchable). A bridge (header type 1) has two BARs and its windows; `io_window`
/// false makes its I/O window read-only zero, as on QEMU's root port with `io-reserve=0`.
struct Function {
    f: PciFn,
    regs: [u32; 64],
    sizes: [u64; 6],
    io_window: bool,
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
        if header == 1 {
            // A 64-bit prefetchable window.
            regs[9] = 0x0001_0001;
        }
        Function { f, regs, sizes, io_window: true }
    }

    fn device(f: PciFn, bars: &[(usize, u64, u32)], pin: u8) -> Function {
        Function::new(f, 0, 0x0100, bars, pin)
    }

    fn bridge(f: PciFn, bars: &[(usize, u64, u32)]) -> Function {
        Function::new(f, 1, 0x0604, bars, 1)
    }

    /// A PCI Express root port with a slot, and QEMU's reservation capability when `reserve`
    /// says (buses, I/O, memory, 64-bit prefetchable; all ones: not set).
    fn root_port(f: PciFn, reserve: Option<(u32, u64, u32, u64)>) -> Function {
        let mut port = Function::bridge(f, &[]);
        port.regs[0] = 0x000c_1b36;
        port.regs[1] = 1 << 20;
        port.regs[13] = 0x40;
        port.regs[16] = 0x0142_0010 | if reserve.is_some() { 0x50 << 8 } else { 0 };
        if let Some((buses, io, memory, prefetchable)) = reserve {
            port.regs[20] = 0x0120_0009;
            port.regs[21] = buses;
            (port.regs[22], port.regs[23]) = (io as u32, (io >> 32) as u32);
            (port.regs[24], port.regs[25]) = (memory, !0);
            (port.regs[26], port.regs[27]) = (prefetchable as u32, (prefetchable >> 32) as u32);
        }
        port
    }

    fn bar(&self, i: usize) -> u64 {
        let low = u64::from(self.regs[4 + i] & !0xf);
        match self.regs[4 + i] & 7 {
            4 => low | u64::from(self.regs[5 + i]) << 32,
            k if k & 1 == 1 => u64::from(self.regs[4 + i] & !3),
            _ => low,
        }
    }

    fn byte(&self, offset: usize) -> u8 {
        (self.regs[offset / 4] >> (8 * (offset % 4))) as u8
    }

    /// A bridge's windows as (base, limit): I/O, memory, prefetchable memory.
    fn windows(&self) -> [(u64, u64); 3] {
        let io = (u64::from(self.byte(0x1c) & 0xf0) << 8, u64::from(self.byte(0x1d) & 0xf0) << 8 | 0xfff);
        let memory = |r: u32| (u64::from(r & 0xfff0) << 16, u64::from(r >> 16 & 0xfff0) << 16 | 0xf_ffff);
        let m = memory(self.regs[8]);
        let p = memory(self.regs[9]);
        let p = (p.0 | u64::from(self.regs[10]) << 32, p.1 | u64::from(self.regs[11]) << 32);
        [io, m, p]
    }

    fn is_bridge(&self) -> bool {
        self.regs[3] >> 16 & 0x7f == 1
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
        let bars = if self.is_bridge() { 2 } else { 6 };
        let bar = i.wrapping_sub(4);
        self.regs[i] = match i {
            // The status register is read-only here (its bits are read-only or write-1-to-clear).
            1 => self.regs[1] & 0xffff_0000 | value & 0xffff,
            7 if !self.io_window => value & 0xffff_0000,
            // The prefetchable window keeps its type bits.
            9 if self.is_bridge() => value & 0xfff0_fff0 | 0x0001_0001,
            // A BAR keeps its type bits and only the address bits its size leaves; the upper
            // half of a 64-bit BAR takes the size's upper bits.
            _ if bar < bars => match self.sizes[bar] {
                size if size > 0 => {
                    let kind = self.regs[i] & if self.regs[i] & 1 == 1 { 3 } else { 0xf };
                    (value & !(size as u32).wrapping_sub(1) & !0xf | kind) & if kind & 1 == 1 { !2 } else { !0 }
                }
                _ if bar > 0 && self.sizes[bar - 1] > 0 && self.regs[i - 1] & 7 == 4 => {
                    value & !((self.sizes[bar - 1] - 1) >> 32) as u32
                }
                _ => 0,
            },
            _ => value,
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
    let virtio = Function::device(PciFn::new(3, 0), &[(0, 64, 1), (1, 0x1000, 0), (4, 0x4000, 0xc)], 1);
    let nic = Function::device(PciFn::new(4, 0), &[(0, 0x2_0000, 0), (1, 32, 1), (2, 16, 0)], 2);
    let mut p = machine(std::vec![host, virtio, nic]);
    assert_eq!(assign(&mut p, Chipset::I440fx, HIGH), Assigned { bars: 6, unplaced: 0, buses: 1 });
    let virtio = p.device::<Function>(1);
    assert_eq!((virtio.bar(0), virtio.bar(1), virtio.bar(4)), (0xc000, 0xe002_4000, 0xe002_0000));
    assert_eq!(virtio.regs[1] & 7, 7, "I/O, memory and bus master on");
    // Slot 3, INTA through PIIX3's swizzle: link C, IRQ 11.
    assert_eq!(virtio.regs[15] & 0xff, 11);
    let nic = p.device::<Function>(2);
    // The 16-byte BAR takes a page of its own.
    assert_eq!((nic.bar(0), nic.bar(1), nic.bar(2)), (0xe000_0000, 0xc040, 0xe002_5000));
    // The host bridge is left alone.
    assert_eq!(p.device::<Function>(0).regs[1], 0);
}

#[test]
fn what_does_not_fit_below_4g_goes_above_if_it_can() {
    // 2 GiB prefetchable and 64-bit: above 4 GiB. 1 GiB of 64-bit memory that is not
    // prefetchable: nowhere (it stays below 4 GiB, where there is no room for it).
    let big = Function::device(PciFn::new(2, 0), &[(0, 1 << 31, 0xc), (2, 1 << 30, 4), (4, 0x1000, 0)], 0);
    let small = Function::device(PciFn::new(3, 0), &[(4, 0x4000, 0xc)], 0);
    let mut p = machine(std::vec![big, small]);
    assert_eq!(assign(&mut p, Chipset::Q35, HIGH), Assigned { bars: 3, unplaced: 1, buses: 1 });
    let big = p.device::<Function>(0);
    assert_eq!((big.bar(0), big.bar(2), big.bar(4)), (HIGH, 0, 0xc000_0000));
    assert_eq!(p.device::<Function>(1).bar(4), HIGH + (1 << 31));
}

#[test]
fn everything_stays_below_4g_when_it_fits() {
    let big = Function::device(PciFn::new(2, 0), &[(0, 1 << 28, 0xc)], 0);
    let mut p = machine(std::vec![big]);
    assert_eq!(assign(&mut p, Chipset::Q35, HIGH).unplaced, 0);
    assert_eq!(p.device::<Function>(0).bar(0), 0xc000_0000);
}

#[test]
fn bridges_get_bus_numbers_depth_first_and_windows_around_their_devices() {
    // Bus 0: bridge A (slot 5) to bus 1, bridge C (slot 6) to the last bus. Bus 1: a device in
    // slot 2 and bridge B (slot 3) to bus 2, with a device in slot 1.
    let a = Function::bridge(PciFn::new(5, 0), &[(0, 0x100, 4)]);
    let behind_a = Function::device(PciFn::on_bus(1, 2, 0), &[(0, 0x100, 1), (1, 0x3000, 0), (4, 0x4000, 0xc)], 1);
    let b = Function::bridge(PciFn::on_bus(1, 3, 0), &[]);
    let behind_b = Function::device(PciFn::on_bus(2, 1, 0), &[(1, 0x10_0000, 0)], 2);
    let c = Function::bridge(PciFn::new(6, 0), &[]);
    let mut p = machine(std::vec![a, behind_a, b, behind_b, c]);
    let assigned = assign(&mut p, Chipset::I440fx, HIGH);
    assert_eq!(assigned, Assigned { bars: 5, unplaced: 0, buses: 4 });
    let [a, behind_a, b, behind_b, c] =
        [0, 1, 2, 3, 4].map(|i| std::mem::replace(p.device::<Function>(i), Function::device(PciFn::new(0, 0), &[], 0)));
    // Primary, secondary, subordinate.
    let numbers = |f: &Function| (f.byte(0x18), f.byte(0x19), f.byte(0x1a));
    assert_eq!([numbers(&a), numbers(&b), numbers(&c)], [(0, 1, 2), (1, 2, 2), (0, 3, 3)]);
    // A's windows hold B's and the device's BARs; C, with nothing behind it, forwards nothing.
    let [io, memory, prefetchable] = a.windows();
    assert_eq!(io, (0xc000, 0xcfff));
    assert!(memory.0 <= behind_b.bar(1) && behind_b.bar(1) + 0x10_0000 - 1 <= memory.1);
    assert!(memory.0 <= behind_a.bar(1) && behind_a.bar(1) + 0x3000 - 1 <= memory.1);
    assert!(prefetchable.0 <= behind_a.bar(4) && behind_a.bar(4) + 0x4000 - 1 <= prefetchable.1);
    assert_eq!(behind_a.bar(0), 0xc000);
    let b_memory = b.windows()[1];
    assert!(b_memory.0 <= behind_b.bar(1) && b_memory.1 <= memory.1 && b_memory.0 >= memory.0);
    assert!(c.windows().iter().all(|(base, limit)| base > limit), "{:x?}", c.windows());
    // A's own BAR lies outside its windows, on bus 0.
    assert!(a.bar(0) < memory.0 || a.bar(0) > memory.1);
    assert!(a.regs[1] & 3 == 3 && behind_b.regs[1] & 2 == 2);
    // Interrupts: the device behind B (slot 1, INTB) swizzles through B (slot 3) to INTB at A
    // (its device number shifts the pin), routed at slot 5: (5 + 1 + 3) % 4 = link B, IRQ 10.
    // pin INTB=1: (1 + 1) % 4 = 2 at B's level, (2 + 3) % 4 = 1 at A's, PIIX: (5 + 1 + 3) % 4.
    assert_eq!(behind_b.regs[15] & 0xff, u32::from(Chipset::I440fx.pci_irq(5, 1).unwrap()));
    assert_eq!(behind_a.regs[15] & 0xff, u32::from(Chipset::I440fx.pci_irq(5, 2).unwrap()));
}

#[test]
fn root_ports_reserve_for_hotplug() {
    // An empty root port: memory and prefetchable memory for a hot-plugged device, no I/O.
    let empty = Function::root_port(PciFn::new(2, 0), None);
    // One asking through QEMU's capability for 2 more buses, 8 KiB of I/O and 4 MiB of memory.
    let mut asking = Function::root_port(PciFn::new(3, 0), Some((2, 0x2000, 0x40_0000, !0)));
    asking.io_window = true;
    // One whose I/O window is read-only zero.
    let mut no_io = Function::root_port(PciFn::new(4, 0), None);
    no_io.io_window = false;
    let device = Function::device(PciFn::on_bus(5, 0, 0), &[(0, 0x40, 1)], 1);
    let mut p = machine(std::vec![empty, asking, no_io, device]);
    assert_eq!(assign(&mut p, Chipset::Q35, HIGH), Assigned { bars: 0, unplaced: 0, buses: 4 });
    let windows = |p: &mut FakePlatform, i| p.device::<Function>(i).windows();
    let size = |(base, limit): (u64, u64)| if base > limit { 0 } else { limit + 1 - base };
    assert_eq!(windows(&mut p, 0).map(size), [0, 0x20_0000, 0x20_0000]);
    assert_eq!(windows(&mut p, 1).map(size), [0x2000, 0x40_0000, 0x20_0000]);
    let numbers = |p: &mut FakePlatform, i| {
        let f = p.device::<Function>(i);
        (f.byte(0x19), f.byte(0x1a))
    };
    assert_eq!([numbers(&mut p, 0), numbers(&mut p, 1), numbers(&mut p, 2)], [(1, 1), (2, 4), (5, 5)]);
    // The device behind the port without I/O window cannot be placed; its BAR stays off.
    assert_eq!(p.device::<Function>(3).bar(0), 0);
}

/// QEMU's reservation capability too close to the end of configuration space to hold its 32
/// bytes is ignored (its fields would lie past offset 0xff), as when it is absent.
#[test]
fn reservation_past_configuration_space_is_ignored() {
    let mut port = Function::root_port(PciFn::new(2, 0), None);
    port.regs[16] |= 0xf0 << 8;
    port.regs[60] = 0x0120_0009;
    (port.regs[61], port.regs[62], port.regs[63]) = (200, 0x2000, 0);
    let mut p = machine(std::vec![port]);
    assert_eq!(assign(&mut p, Chipset::Q35, HIGH), Assigned { bars: 0, unplaced: 0, buses: 2 });
    let f = p.device::<Function>(0);
    assert_eq!((f.byte(0x19), f.byte(0x1a)), (1, 1));
}

/// Whatever QEMU's configuration space says, the assignment ends and keeps its bookkeeping in
/// bounds: bridges everywhere (more than [`MAX_BUSES`]), capability lists that loop.
#[test]
fn hostile_configuration_space_ends() {
    let mut functions = std::vec::Vec::new();
    for bus in 0..40u8 {
        for slot in 0..2 {
            let mut f = Function::root_port(PciFn::on_bus(bus, slot, 0), Some((200, 0, !0, !0)));
            f.regs[16] = 0x0142_4010; // the capability points at itself
            functions.push(f);
        }
        functions.push(Function::device(PciFn::on_bus(bus, 3, 0), &[(0, 1 << 31, 0xc), (2, 0x1000, 0)], 1));
    }
    let mut p = machine(functions);
    let assigned = assign(&mut p, Chipset::Q35, HIGH);
    assert_eq!(assigned.buses as usize, MAX_BUSES);
}
