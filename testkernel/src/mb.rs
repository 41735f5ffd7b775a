//! The multiboot entry (version 1): what a firmware must hand a multiboot kernel, with the
//! layout of the information written out here independently of the firmware's.
//!
//! Prints `pvhtest: multiboot MEM_LOWER MEM_UPPER`, the memory map (as for PVH), the command
//! line in hex, `pvhtest: modules N` and `pvhtest: module I SIZE HASH CMDLINE-HEX` per module,
//! for the host to compare with what it gave QEMU.

use crate::{check_platform_and_exit, check_registers, check_stack, dec, hex, in_ram, out, peek, report_memmap};
use crate::{Checker, Entry, EntryState, RAM};

const BOOT_MAGIC: u32 = 0x2bad_b002;
/// Flags pvhfw (as QEMU's option ROM) sets: memory, boot device, command line, modules,
/// memory map, boot loader name.
const FLAGS: u32 = 1 | 1 << 1 | 1 << 2 | 1 << 3 | 1 << 6 | 1 << 9;

pub(crate) fn kmain_multiboot(state: &EntryState) -> ! {
    let mut c = Checker { failures: 0 };
    out(b"pvhtest: entry multiboot\n");
    out(b"pvhtest: tsc ");
    dec(state.tsc);
    out(b"\n");
    c.check(state.multiboot_eax == BOOT_MAGIC, "multiboot-magic", state.multiboot_eax.into());
    check_registers(&mut c, state);
    let mbi = u64::from(state.ebx);
    let flags: u32 = peek(mbi);
    c.check(flags & FLAGS == FLAGS, "multiboot-flags", flags.into());
    let map_len: u32 = peek(mbi + 44);
    let map_addr = u64::from(peek::<u32>(mbi + 48));
    // Entries are `size` (of the rest) then base, length, type; walked by their sizes.
    let mut starts = [0u64; 128];
    let mut n = 0;
    let mut at = map_addr;
    while at < map_addr + u64::from(map_len) && n < starts.len() {
        starts[n] = at;
        n += 1;
        at += 4 + u64::from(peek::<u32>(at));
    }
    c.check(n > 0 && at == map_addr + u64::from(map_len), "multiboot-mmap-length", map_len.into());
    let mut map = [Entry { addr: 0, size: 0, kind: 0 }; 128];
    let read = |i: usize| Entry { addr: peek(starts[i] + 4), size: peek(starts[i] + 12), kind: peek(starts[i] + 20) };
    report_memmap(&mut c, &mut map[..n], read);
    let map = &map[..n];
    c.check(!crate::touches_ram(map, mbi, mbi + 88), "multiboot-info-in-ram", mbi);
    let (lower, upper): (u32, u32) = (peek(mbi + 4), peek(mbi + 8));
    out(b"pvhtest: multiboot ");
    dec(lower.into());
    out(b" ");
    dec(upper.into());
    out(b"\n");
    c.check(in_ram(map, 0x10_0000, 0x10_0000 + u64::from(upper) * 1024), "mem-upper-not-ram", upper.into());
    let upper_end = map.iter().find(|e| e.kind == RAM && e.addr <= 0x10_0000 && 0x10_0000 < e.addr + e.size);
    c.check(
        upper_end.is_some_and(|e| e.addr + e.size == 0x10_0000 + u64::from(upper) * 1024),
        "mem-upper",
        upper.into(),
    );
    c.check((1..=640).contains(&lower), "mem-lower", lower.into());
    out(b"pvhtest: cmdline ");
    out_hex_string(u64::from(peek::<u32>(mbi + 16)));
    out(b"\n");
    report_modules(&mut c, mbi, map);
    check_stack(&mut c, map, state.esp.into());
    crate::tables::check_acpi(&mut c, find_rsdp(), map);
    check_platform_and_exit(c, map)
}

/// Each module's size, FNV-1a hash and command line; each must lie in RAM.
fn report_modules(c: &mut Checker, mbi: u64, map: &[Entry]) {
    let (count, list): (u32, u32) = (peek(mbi + 20), peek(mbi + 24));
    out(b"pvhtest: modules ");
    dec(count.into());
    out(b"\n");
    for i in 0..u64::from(count.min(16)) {
        let m = u64::from(list) + 16 * i;
        let (start, end): (u32, u32) = (peek(m), peek(m + 4));
        let (start, end) = (u64::from(start), u64::from(end));
        c.check(end >= start && in_ram(map, start, end), "module-not-in-ram", start);
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for a in start..end.max(start) {
            h = (h ^ u64::from(peek::<u8>(a))).wrapping_mul(0x100_0000_01b3);
        }
        out(b"pvhtest: module ");
        dec(i);
        out(b" ");
        dec(end.saturating_sub(start));
        out(b" ");
        hex(h);
        out(b" ");
        out_hex_string(u64::from(peek::<u32>(m + 8)));
        out(b"\n");
    }
}

/// The NUL-terminated string at `addr`, in hex (at most 4 KiB of it).
fn out_hex_string(addr: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for a in addr..addr + 4096 {
        let b: u8 = peek(a);
        if b == 0 {
            break;
        }
        out(&[DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 0xf)]]);
    }
}

/// The RSDP where a multiboot kernel looks for it, in the BIOS area 0xE0000-0xFFFFF on a
/// 16-byte boundary; 0 if there is none.
fn find_rsdp() -> u64 {
    (0xe_0000..0x10_0000u64).step_by(16).find(|&a| &peek::<[u8; 8]>(a) == b"RSD PTR ").unwrap_or(0)
}
