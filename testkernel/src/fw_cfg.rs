//! fw_cfg through the port interface, written independently of the firmware's: the test kernel
//! reads back what the firmware told QEMU.

use core::arch::asm;

fn select(key: u16) {
    // SAFETY: the fw_cfg selector port.
    unsafe { asm!("out dx, ax", in("dx") 0x510u16, in("ax") key, options(nomem, nostack)) }
}

fn byte() -> u8 {
    let b: u8;
    // SAFETY: the fw_cfg data port.
    unsafe { asm!("in al, dx", in("dx") 0x511u16, out("al") b, options(nomem, nostack)) }
    b
}

pub fn read(key: u16, buf: &mut [u8]) {
    select(key);
    buf.iter_mut().for_each(|b| *b = byte());
}

/// (select, size) of the file called `name`.
pub fn find(name: &[u8]) -> Option<(u16, u32)> {
    let mut count = [0u8; 4];
    read(0x19, &mut count);
    for _ in 0..u32::from_be_bytes(count) {
        let mut entry = [0u8; 64];
        entry.iter_mut().for_each(|b| *b = byte());
        let len = entry[8..].iter().position(|&b| b == 0).unwrap_or(56);
        if &entry[8..8 + len] == name {
            let size = u32::from_be_bytes([entry[0], entry[1], entry[2], entry[3]]);
            return Some((u16::from_be_bytes([entry[4], entry[5]]), size));
        }
    }
    None
}
