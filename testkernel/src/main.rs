//! pvhtest: the project's PVH test kernel.
//!
//! It checks what a PVH firmware must hand over (Xen's PVH ABI plus what Linux relies on), prints
//! what it received on COM1 so the host can compare it byte for byte with what it passed to
//! QEMU, and ends QEMU through `isa-debug-exit` (0 = all checks passed). The start info layout
//! is written out here independently of the firmware's definitions: this is the oracle.
#![no_std]
#![no_main]
#![deny(clippy::undocumented_unsafe_blocks)]

use core::arch::{asm, global_asm};

mod bz;
mod fw_cfg;
mod mb;
mod tables;

global_asm!(
    include_str!("entry.s"),
    record = sym RECORD,
    kmain = sym kmain,
    pml4 = sym PML4,
    pdpt = sym PDPT,
    pd = sym PD,
    stack = sym STACK,
    stack_size = const STACK_SIZE,
    options(att_syntax),
);

/// The state at entry, as `entry.s` stores it.
#[repr(C)]
pub(crate) struct EntryState {
    pub(crate) tsc: u64,
    pub(crate) ebx: u32,
    cr0: u32,
    cr4: u32,
    eflags: u32,
    selectors: [u16; 6], // cs ds es ss fs gs
    gdtr: [u16; 3],      // limit, base (low, high): what sgdt stores in 32-bit mode
    pub(crate) esp: u32,
    /// `EAX` at the multiboot entry, 0 at the PVH entry.
    pub(crate) multiboot_eax: u32,
}
const _: () = assert!(core::mem::offset_of!(EntryState, selectors) == 24);
const _: () = assert!(core::mem::offset_of!(EntryState, gdtr) == 36);
const _: () = assert!(core::mem::offset_of!(EntryState, esp) == 44);
const _: () = assert!(core::mem::offset_of!(EntryState, multiboot_eax) == 48);

#[repr(C, align(4096))]
struct Page([u64; 512]);
const STACK_SIZE: usize = 32 * 1024;

static mut RECORD: EntryState =
    EntryState { tsc: 0, ebx: 0, cr0: 0, cr4: 0, eflags: 0, selectors: [0; 6], gdtr: [0; 3], esp: 0, multiboot_eax: 0 };
static mut PML4: Page = Page([0; 512]);
static mut PDPT: Page = Page([0; 512]);
static mut PD: [Page; 4] = [const { Page([0; 512]) }; 4];
static mut STACK: [u8; STACK_SIZE] = [0; STACK_SIZE];

const MAGIC: u32 = 0x336e_c578;
pub(crate) const RAM: u32 = 1;
const RESERVED: u32 = 2;
pub(crate) const KERNEL_START: u64 = 0x10_0000;

pub(crate) fn out(bytes: &[u8]) {
    for &b in bytes {
        // SAFETY: COM1's transmit register.
        unsafe { asm!("out dx, al", in("dx") 0x3f8u16, in("al") b, options(nomem, nostack)) }
    }
}

pub(crate) fn hex(v: u64) {
    let mut buf = [0u8; 16];
    for (i, b) in buf.iter_mut().enumerate() {
        *b = b"0123456789abcdef"[((v >> (60 - 4 * i)) & 0xf) as usize];
    }
    let first = buf.iter().position(|&b| b != b'0').unwrap_or(15);
    out(b"0x");
    out(&buf[first..]);
}

pub(crate) fn dec(mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = 20;
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out(&buf[i..]);
}

/// Reads physical memory (identity-mapped by entry.s).
pub(crate) fn peek<T: Copy>(addr: u64) -> T {
    // SAFETY: the test kernel maps all of the low 4 GiB and only reads what the start info
    // points at; a bad pointer there is exactly what this kernel exists to catch (as a fault).
    unsafe { core::ptr::read_unaligned(addr as *const T) }
}

pub(crate) struct Checker {
    pub(crate) failures: u32,
}

impl Checker {
    pub(crate) fn check(&mut self, ok: bool, what: &str, value: u64) {
        if !ok {
            self.failures += 1;
            out(b"pvhtest: FAIL ");
            out(what.as_bytes());
            out(b" ");
            hex(value);
            out(b"\n");
        }
    }
}

#[derive(Clone, Copy)]
pub(crate) struct Entry {
    pub(crate) addr: u64,
    pub(crate) size: u64,
    pub(crate) kind: u32,
}

pub(crate) fn in_ram(map: &[Entry], start: u64, end: u64) -> bool {
    map.iter().any(|e| e.kind == RAM && e.addr <= start && end <= e.addr + e.size)
}

pub(crate) fn touches_ram(map: &[Entry], start: u64, end: u64) -> bool {
    map.iter().any(|e| e.kind == RAM && e.addr < end && start < e.addr + e.size)
}

/// Checks that selector `sel` (register `i`: cs ds es ss fs gs) indexes a flat 4 GiB descriptor
/// of the GDT at `gdt_base`; returns the descriptor.
pub(crate) fn flat_descriptor(c: &mut Checker, gdt_base: u64, gdt_limit: u16, i: usize, sel: u16) -> Option<u64> {
    let idx = u64::from(sel & !7);
    let ok = sel & 4 == 0 && idx != 0 && idx + 7 <= u64::from(gdt_limit);
    c.check(ok, "selector", (i as u64) << 16 | u64::from(sel));
    if !ok {
        return None;
    }
    let d: u64 = peek(gdt_base + idx);
    let base = (d >> 16 & 0xff_ffff) | (d >> 56) << 24;
    let limit = (d & 0xffff) | (d >> 48 & 0xf) << 16;
    let (present, system, granular) = (d >> 47 & 1, d >> 44 & 1, d >> 55 & 1);
    c.check(base == 0 && limit == 0xf_ffff && granular == 1 && present == 1 && system == 1, "flat", d);
    if i != 0 {
        c.check(d >> 43 & 1 == 0 && d >> 41 & 1 == 1, "data-writable", d);
    }
    Some(d)
}

pub(crate) fn check_registers(c: &mut Checker, s: &EntryState) {
    let (gdt_limit, gdt_base) = (s.gdtr[0], u64::from(s.gdtr[1]) | u64::from(s.gdtr[2]) << 16);
    c.check(s.cr0 & !0x10 == 1, "cr0", s.cr0.into());
    c.check(s.cr4 == 0, "cr4", s.cr4.into());
    c.check(s.eflags & (1 << 9 | 1 << 8 | 1 << 17) == 0, "eflags", s.eflags.into());
    for (i, &sel) in s.selectors.iter().enumerate() {
        if let Some(d) = flat_descriptor(c, gdt_base, gdt_limit, i, sel) {
            if i == 0 {
                c.check(d >> 43 & 1 == 1 && d >> 54 & 1 == 1 && d >> 53 & 1 == 0, "cs-32bit-code", d);
            }
        }
    }
}

/// Checks the stack pointer the firmware handed over (`pvhtest: stack SP`): neither protocol
/// promises a stack, but guests written against qboot and SeaBIOS push at once. At least 1 KiB
/// below it must be memory the map reserves (not RAM given to the kernel) and writable (not ROM).
pub(crate) fn check_stack(c: &mut Checker, map: &[Entry], sp: u64) {
    const ROOM: u64 = 1024;
    out(b"pvhtest: stack ");
    hex(sp);
    out(b"\n");
    let bottom = sp.wrapping_sub(ROOM);
    let reserved = sp >= ROOM && map.iter().any(|e| e.kind == RESERVED && e.addr <= bottom && sp <= e.addr + e.size);
    c.check(reserved, "stack-not-reserved", sp);
    if reserved {
        for a in [bottom, sp - 8] {
            // SAFETY: reserved memory below 4 GiB (checked above), identity-mapped; the firmware
            // gave it up at the jump and nothing of pvhtest's lives there.
            let back = unsafe {
                core::ptr::write_volatile(a as *mut u64, 0x5a5a_a5a5_0f0f_f0f0);
                core::ptr::read_volatile(a as *const u64)
            };
            c.check(back == 0x5a5a_a5a5_0f0f_f0f0, "stack-not-writable", a);
        }
    }
}

fn check_memmap(c: &mut Checker, si: u64, map: &mut [Entry; 128]) -> usize {
    let paddr: u64 = peek(si + 40);
    let n: u32 = peek(si + 48);
    c.check((1..=127).contains(&n), "memmap-entries", n.into());
    c.check(paddr != 0 && paddr + 24 * u64::from(n) <= 1 << 30, "memmap-below-1g", paddr);
    let n = (n as usize).min(127);
    let read = |i: usize| {
        let a = paddr + 24 * i as u64;
        Entry { addr: peek(a), size: peek(a + 8), kind: peek(a + 16) }
    };
    report_memmap(c, &mut map[..n], read);
    n
}

/// Prints the memory map (`pvhtest: memmap N`, an `e820` line per entry, `ram` total), read
/// entry by entry through `read`, and checks it is sorted, disjoint and leaves the legacy hole.
pub(crate) fn report_memmap(c: &mut Checker, map: &mut [Entry], read: impl Fn(usize) -> Entry) {
    let mut ram = 0;
    out(b"pvhtest: memmap ");
    dec(map.len() as u64);
    out(b"\n");
    for (i, e) in map.iter_mut().enumerate() {
        *e = read(i);
        out(b"pvhtest: e820 ");
        hex(e.addr);
        out(b" ");
        hex(e.size);
        out(b" ");
        dec(e.kind.into());
        out(b"\n");
        c.check(e.size > 0, "memmap-empty-entry", e.addr);
        if e.kind == RAM {
            ram += e.size;
        }
    }
    for w in map.windows(2) {
        c.check(w[0].addr.saturating_add(w[0].size) <= w[1].addr, "memmap-sorted-disjoint", w[1].addr);
    }
    c.check(!touches_ram(map, 0xa_0000, 0x10_0000), "legacy-hole-is-ram", 0xa_0000);
    out(b"pvhtest: ram ");
    dec(ram);
    out(b"\n");
}

/// Prints the NUL-terminated command line at `paddr` in hex (`pvhtest: cmdline ...`).
pub(crate) fn check_cmdline(c: &mut Checker, paddr: u64, map: &[Entry]) {
    if paddr == 0 {
        out(b"pvhtest: cmdline none\n");
        return;
    }
    c.check(!touches_ram(map, paddr, paddr + 1), "cmdline-in-ram", paddr);
    out(b"pvhtest: cmdline ");
    let mut len = 0u64;
    while len < 64 * 1024 {
        let b: u8 = peek(paddr + len);
        if b == 0 {
            break;
        }
        out(&[b"0123456789abcdef"[usize::from(b >> 4)], b"0123456789abcdef"[usize::from(b & 0xf)]]);
        len += 1;
    }
    out(b"\n");
    c.check(len < 64 * 1024, "cmdline-unterminated", paddr);
}

fn check_initrd(c: &mut Checker, si: u64, map: &[Entry], kernel_end: u64) {
    let nr: u32 = peek(si + 12);
    let list: u64 = peek(si + 16);
    if nr == 0 {
        out(b"pvhtest: initrd none\n");
        return;
    }
    c.check(nr == 1 && list != 0 && list < 1 << 30, "modlist", list);
    c.check(!touches_ram(map, list, list + 32), "modlist-in-ram", list);
    report_initrd(c, map, peek(list), peek(list + 8), kernel_end);
}

/// Checks the initrd's placement and prints its size and FNV-1a hash (`pvhtest: initrd N H`).
pub(crate) fn report_initrd(c: &mut Checker, map: &[Entry], addr: u64, size: u64, kernel_end: u64) {
    let end = addr + size;
    c.check(end <= 1 << 32 && in_ram(map, addr, end), "initrd-not-in-ram", addr);
    c.check(end <= KERNEL_START || addr >= kernel_end, "initrd-overlaps-kernel", addr);
    // FNV-1a, 64-bit: the host computes the same over the file it passed with -initrd.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for i in 0..size {
        h = (h ^ u64::from(peek::<u8>(addr + i))).wrapping_mul(0x100_0000_01b3);
    }
    out(b"pvhtest: initrd ");
    dec(size);
    out(b" ");
    hex(h);
    out(b"\n");
}

extern "sysv64" fn kmain(state: &EntryState) -> ! {
    if state.multiboot_eax != 0 {
        mb::kmain_multiboot(state);
    }
    let mut c = Checker { failures: 0 };
    out(b"pvhtest: tsc ");
    dec(state.tsc);
    out(b"\n");
    let si = u64::from(state.ebx);
    out(b"pvhtest: start_info ");
    hex(si);
    out(b"\n");
    c.check(si != 0 && si + 56 <= 1 << 30, "start-info-below-1g", si);
    let (magic, version): (u32, u32) = (peek(si), peek(si + 4));
    c.check(magic == MAGIC, "magic", magic.into());
    c.check(version >= 1, "version", version.into());
    check_registers(&mut c, state);
    let mut map = [Entry { addr: 0, size: 0, kind: 0 }; 128];
    let n = check_memmap(&mut c, si, &mut map);
    let map = &map[..n];
    c.check(!touches_ram(map, si, si + 56), "start-info-in-ram", si);
    let kernel_end = kernel_end();
    c.check(in_ram(map, KERNEL_START, kernel_end), "kernel-not-in-ram", KERNEL_START);
    check_cmdline(&mut c, peek(si + 24), map);
    check_initrd(&mut c, si, map, kernel_end);
    check_stack(&mut c, map, state.esp.into());
    tables::check_acpi(&mut c, peek(si + 32), map);
    check_platform_and_exit(c, map)
}

/// The checks both entries share after their own: SMBIOS, MP table, vmgenid; then the verdict.
pub(crate) fn check_platform_and_exit(mut c: Checker, map: &[Entry]) -> ! {
    tables::check_smbios(&mut c, map);
    tables::check_mptable(&mut c, map);
    tables::check_vmgenid(&mut c, map);
    out(if c.failures == 0 { b"pvhtest: PASS\n" } else { b"pvhtest: FAILED\n" });
    exit(c.failures.min(1))
}

/// The end of the image: the stack is the last thing in .bss.
pub(crate) fn kernel_end() -> u64 {
    core::ptr::addr_of!(STACK) as u64 + STACK_SIZE as u64
}

/// Ends QEMU through `-device isa-debug-exit,iobase=0xf4` (exit status `code * 2 + 1`); halts
/// where that device is absent.
pub(crate) fn exit(code: u32) -> ! {
    // SAFETY: port 0xf4 is the debug-exit device or nothing.
    unsafe { asm!("out dx, eax", in("dx") 0xf4u16, in("eax") code, options(nomem, nostack)) }
    loop {
        // SAFETY: stops the CPU; nothing else runs.
        unsafe { asm!("cli; hlt", options(nomem, nostack)) }
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    out(b"pvhtest: FAIL panic\n");
    exit(1)
}
