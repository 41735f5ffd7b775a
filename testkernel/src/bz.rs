//! pvhtest as a bzImage: the 64-bit boot protocol's entry (`bzentry.s`) and the checks of
//! `boot_params` (the "zero page"). It reports on COM1 in the same lines as the PVH entry (memory
//! map, command line, initrd, ACPI, SMBIOS, MP table, vmgenid) through the same code, so the
//! host's checks apply unchanged; `pvhtest: entry bzimage64` tells the paths apart. Offsets are
//! written out from Linux's `bootparam.h` independently of pvhfw's definitions.

use crate::{
    check_cmdline, check_platform_and_exit, check_stack, dec, flat_descriptor, hex, in_ram, kernel_end, out, peek,
    report_initrd, report_memmap, tables, touches_ram, Checker, Entry, KERNEL_START,
};
use core::arch::global_asm;

global_asm!(
    include_str!("bzentry.s"),
    record = sym RECORD,
    kmain = sym kmain_bz,
    pml4 = sym crate::PML4,
    pdpt = sym crate::PDPT,
    pd = sym crate::PD,
    stack = sym crate::STACK,
    stack_size = const crate::STACK_SIZE,
    options(att_syntax),
);

/// The state at the 64-bit entry, as `bzentry.s` stores it.
#[repr(C)]
struct BzEntryState {
    tsc: u64,
    rsi: u64,
    cr0: u64,
    cr4: u64,
    efer: u64,
    rflags: u64,
    selectors: [u16; 6], // cs ds es ss fs gs
    gdtr: [u16; 5],      // limit, base (four 16-bit parts): what sgdt stores in long mode
    rsp: u64,
}
const _: () = assert!(core::mem::offset_of!(BzEntryState, selectors) == 48);
const _: () = assert!(core::mem::offset_of!(BzEntryState, gdtr) == 60);
const _: () = assert!(core::mem::offset_of!(BzEntryState, rsp) == 72);

static mut RECORD: BzEntryState =
    BzEntryState { tsc: 0, rsi: 0, cr0: 0, cr4: 0, efer: 0, rflags: 0, selectors: [0; 6], gdtr: [0; 5], rsp: 0 };

/// `__BOOT_CS` and `__BOOT_DS`, the selectors the protocol requires.
const BOOT_CS: u16 = 0x10;
const BOOT_DS: u16 = 0x18;
/// The protocol version pvhtest.bzImage's header declares (xtask writes it).
const PROTOCOL: u16 = 0x020f;

fn check_registers(c: &mut Checker, s: &BzEntryState) {
    let gdt_limit = s.gdtr[0];
    let gdt_base = s.gdtr[1..].iter().rev().fold(0u64, |b, &w| b << 16 | u64::from(w));
    c.check(s.cr0 & (1 << 31 | 1) == 1 << 31 | 1, "cr0-pe-pg", s.cr0);
    c.check(s.cr4 & 1 << 5 != 0, "cr4-pae", s.cr4);
    c.check(s.efer & (1 << 8 | 1 << 10) == 1 << 8 | 1 << 10, "efer-lme-lma", s.efer);
    c.check(s.rflags & (1 << 9 | 1 << 8) == 0, "rflags", s.rflags);
    // cs, ds, es, ss as the protocol demands; fs and gs are not specified.
    for (i, &sel) in s.selectors.iter().enumerate().take(4) {
        let want = if i == 0 { BOOT_CS } else { BOOT_DS };
        c.check(sel == want, "boot-selector", (i as u64) << 16 | u64::from(sel));
        if let Some(d) = flat_descriptor(c, gdt_base, gdt_limit, i, sel) {
            if i == 0 {
                c.check(d >> 43 & 1 == 1 && d >> 53 & 1 == 1 && d >> 54 & 1 == 0, "cs-64bit-code", d);
            }
        }
    }
}

/// A 32-bit field and its `ext_` high half.
fn wide(bp: u64, low: u64, ext: u64) -> u64 {
    u64::from(peek::<u32>(bp + low)) | u64::from(peek::<u32>(bp + ext)) << 32
}

extern "sysv64" fn kmain_bz(state: &BzEntryState) -> ! {
    let mut c = Checker { failures: 0 };
    out(b"pvhtest: entry bzimage64\n");
    out(b"pvhtest: tsc ");
    dec(state.tsc);
    out(b"\n");
    let bp = state.rsi;
    out(b"pvhtest: boot_params ");
    hex(bp);
    out(b"\n");
    // The header does not set XLF_CAN_BE_LOADED_ABOVE_4G.
    c.check(bp != 0 && bp + 4096 <= 1 << 32, "boot-params-below-4g", bp);
    check_registers(&mut c, state);
    c.check(peek::<[u8; 4]>(bp + 0x202) == *b"HdrS", "boot-params-header", bp);
    let version: u16 = peek(bp + 0x206);
    c.check(version == PROTOCOL, "boot-params-version", version.into());
    let loader: u8 = peek(bp + 0x210);
    c.check(loader != 0, "type-of-loader", loader.into());

    let n: u8 = peek(bp + 0x1e8);
    c.check((1..=128).contains(&n), "e820-entries", n.into());
    let mut map = [Entry { addr: 0, size: 0, kind: 0 }; 128];
    let n = usize::from(n).min(128);
    let read = |i: usize| {
        let a = bp + 0x2d0 + 20 * i as u64;
        Entry { addr: peek(a), size: peek(a + 8), kind: peek(a + 16) }
    };
    report_memmap(&mut c, &mut map[..n], read);
    let map = &map[..n];
    c.check(!touches_ram(map, bp, bp + 4096), "boot-params-in-ram", bp);
    let kernel_end = kernel_end();
    c.check(in_ram(map, KERNEL_START, kernel_end), "kernel-not-in-ram", KERNEL_START);
    check_cmdline(&mut c, wide(bp, 0x228, 0xc8), map);
    let (initrd, initrd_size) = (wide(bp, 0x218, 0xc0), wide(bp, 0x21c, 0xc4));
    if initrd_size == 0 {
        out(b"pvhtest: initrd none\n");
    } else {
        report_initrd(&mut c, map, initrd, initrd_size, kernel_end);
    }
    check_stack(&mut c, map, state.rsp);
    tables::check_acpi(&mut c, peek(bp + 0x070), map);
    check_platform_and_exit(c, map)
}
