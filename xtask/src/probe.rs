//! A "probe" copy of a bzImage for the benchmark: the protected-mode payload gets, at its 32-bit
//! entry (payload offset 0, `code32_start`) and at its 64-bit entry (offset 0x200), a stub that
//! reports the guest's time-stamp counter on COM1 and ends QEMU through isa-debug-exit. Under
//! TCG with `-icount shift=0,sleep=off` the counter is the number of guest instructions since
//! reset, so the stub measures a firmware up to the kernel's own protected- or long-mode code,
//! whichever entry the firmware (or the kernel's real-mode setup it runs) takes. The real-mode
//! setup part stays as it is: qboot and SeaBIOS run it, and it jumps to the 32-bit entry.

use crate::Result;
use anyhow::bail;

/// The stub. The same bytes mean the same in 32-bit and in 64-bit mode (no REX prefixes,
/// 0x40-0x4f): `as --32` and `as --64` both assemble this source to exactly these bytes.
///
/// ```text
///  0: 0f 31             rdtsc
///  2: 89 c6             mov    esi, eax
///  4: 89 d7             mov    edi, edx           ; edi:esi = TSC
///  6: 66 ba f8 03       mov    dx, 0x3f8          ; COM1
/// 10: b9 10 00 00 00    mov    ecx, 16
/// 15: 89 f8             mov    eax, edi           ; loop: the top nibble
/// 17: c1 e8 1c          shr    eax, 28
/// 20: 0f a4 f7 04       shld   edi, esi, 4        ; edi:esi <<= 4
/// 24: c1 e6 04          shl    esi, 4
/// 27: 3c 0a             cmp    al, 10
/// 29: 72 02             jb     +2
/// 31: 04 07             add    al, 7              ; 'A' - '0' - 10
/// 33: 04 30             add    al, '0'
/// 35: ee                out    dx, al
/// 36: 83 e9 01          sub    ecx, 1
/// 39: 75 e6             jnz    loop
/// 41: b0 0a             mov    al, '\n'
/// 43: ee                out    dx, al
/// 44: b0 00             mov    al, 0
/// 46: e6 f4             out    0xf4, al           ; isa-debug-exit: QEMU exits with status 1
/// 48: f4                hlt
/// 49: eb fd             jmp    48
/// ```
pub const STUB: [u8; 51] = [
    0x0f, 0x31, 0x89, 0xc6, 0x89, 0xd7, 0x66, 0xba, 0xf8, 0x03, 0xb9, 0x10, 0x00, 0x00, 0x00, 0x89, 0xf8, 0xc1, 0xe8,
    0x1c, 0x0f, 0xa4, 0xf7, 0x04, 0xc1, 0xe6, 0x04, 0x3c, 0x0a, 0x72, 0x02, 0x04, 0x07, 0x04, 0x30, 0xee, 0x83, 0xe9,
    0x01, 0x75, 0xe6, 0xb0, 0x0a, 0xee, 0xb0, 0x00, 0xe6, 0xf4, 0xf4, 0xeb, 0xfd,
];

/// VM exits the stub itself makes: one per port write, 16 digits, the newline and the exit.
pub const STUB_EXITS: u64 = 18;

/// The 64-bit entry's offset in the payload (`startup_64`).
const ENTRY_64: usize = 0x200;

/// File offset of a bzImage's protected-mode payload: after the boot sector and `setup_sects`
/// sectors of setup (byte 0x1f1; 0 means 4).
pub fn payload_offset(bz: &[u8]) -> Result<usize> {
    if bz.get(0x202..0x206) != Some(b"HdrS") {
        bail!("not a bzImage (no HdrS)");
    }
    let setup_sects = match bz[0x1f1] {
        0 => 4,
        n => n as usize,
    };
    Ok((setup_sects + 1) * 512)
}

/// `bz` with [`STUB`] at both entries of its payload.
pub fn patch(bz: &[u8]) -> Result<Vec<u8>> {
    let payload = payload_offset(bz)?;
    if bz.len() < payload + ENTRY_64 + STUB.len() {
        bail!("bzImage payload too short for the probe");
    }
    let mut out = bz.to_vec();
    for entry in [payload, payload + ENTRY_64] {
        out[entry..entry + STUB.len()].copy_from_slice(&STUB);
    }
    Ok(out)
}

/// The counter the stub printed: the first line of exactly 16 hex digits on the console.
pub fn parse_tsc(serial: &str) -> Option<u64> {
    serial.lines().map(|l| l.trim_end_matches('\r')).find_map(|l| {
        (l.len() == 16 && l.bytes().all(|b| b.is_ascii_hexdigit())).then(|| u64::from_str_radix(l, 16).ok())?
    })
}

/// VM exits before the kernel's entry, from all the `kvm_run_exit` lines of a run the stub
/// ended; `None` if there are fewer than the stub's own (it cannot have run).
pub fn exits_before_entry(trace_exits: u64) -> Option<u64> {
    trace_exits.checked_sub(STUB_EXITS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bzImage-shaped file: `HdrS`, `setup_sects`, then `payload_len` bytes of payload.
    fn image(setup_sects: u8, payload_len: usize) -> Vec<u8> {
        let sects = if setup_sects == 0 { 4 } else { setup_sects as usize };
        let mut bz = vec![0x11; (sects + 1) * 512 + payload_len];
        bz[0x1f1] = setup_sects;
        bz[0x202..0x206].copy_from_slice(b"HdrS");
        bz
    }

    #[test]
    fn payload_follows_the_setup_sectors() {
        assert_eq!(payload_offset(&image(0, 0)).unwrap(), 5 * 512);
        assert_eq!(payload_offset(&image(1, 0)).unwrap(), 2 * 512);
        assert_eq!(payload_offset(&image(27, 0)).unwrap(), 28 * 512);
        let mut not = image(1, 0);
        not[0x202] = b'X';
        assert!(payload_offset(&not).is_err());
        assert!(payload_offset(&[0; 16]).is_err());
    }

    #[test]
    fn stub_lands_at_both_entries_and_nowhere_else() {
        for sects in [0u8, 1, 27] {
            let bz = image(sects, 0x400);
            let p = patch(&bz).unwrap();
            let payload = payload_offset(&bz).unwrap();
            assert_eq!(p.len(), bz.len());
            assert_eq!(p[payload..payload + STUB.len()], STUB, "setup_sects {sects}");
            assert_eq!(p[payload + 0x200..payload + 0x200 + STUB.len()], STUB, "setup_sects {sects}");
            let changed: Vec<usize> = (0..bz.len()).filter(|&i| p[i] != bz[i]).collect();
            assert!(changed
                .iter()
                .all(|&i| (payload..payload + 51).contains(&i) || (payload + 0x200..payload + 0x233).contains(&i)));
        }
        assert!(patch(&image(1, 0x200 + 50)).is_err());
        assert!(patch(&image(1, 0x200 + 51)).is_ok());
    }

    #[test]
    fn stub_has_no_rex_prefix_byte() {
        // Not even as an operand: no byte of the stub is 0x40-0x4f.
        assert!(STUB.iter().all(|b| !(0x40..=0x4f).contains(b)));
    }

    #[test]
    fn tsc_is_parsed_from_the_console() {
        assert_eq!(parse_tsc("000000000000212A\n"), Some(0x212a));
        assert_eq!(parse_tsc("SeaBIOS (version 1.16)\r\nBooting\r\n00000000005750FD\n"), Some(0x5750fd));
        assert_eq!(parse_tsc("FFFFFFFFFFFFFFFF\n"), Some(u64::MAX));
        assert_eq!(parse_tsc("0123456789ABCDE\n"), None);
        assert_eq!(parse_tsc("0123456789ABCDEFG\n"), None);
        assert_eq!(parse_tsc("0123456789ABCDEG\n"), None);
        assert_eq!(parse_tsc(""), None);
    }

    #[test]
    fn stub_exits_are_subtracted() {
        assert_eq!(exits_before_entry(44), Some(26));
        assert_eq!(exits_before_entry(18), Some(0));
        assert_eq!(exits_before_entry(17), None);
    }
}
