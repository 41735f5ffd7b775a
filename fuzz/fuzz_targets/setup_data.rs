//! The bzImage's `setup_data` list, rebuilt from the kernel data QEMU publishes into the
//! firmware's room. Input: the list head (u64), then the kernel data, which lies at 1 MiB.
//! A rebuilt list must lie inside the room, each record where the previous one points.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pvhfw::setup_data::{kernel_data_reader, rebuild, MAX_RECORDS};
use pvhfw::table_loader::MAX_SCRIPT;

const KERNEL_ADDR: u64 = 0x10_0000;
const ROOM: u64 = 0x1_5000;

fuzz_target!(|data: &[u8]| {
    let Some((head, kernel)) = data.split_first_chunk::<8>() else { return };
    // Small heads land in the kernel data more often.
    let head = u64::from_le_bytes(*head);
    let head = if head >> 63 != 0 { KERNEL_ADDR + (head & 0xffff) } else { head };
    let mut room = vec![0xaa; MAX_SCRIPT];
    let mut read = kernel_data_reader(KERNEL_ADDR, kernel);
    let Ok((new_head, used)) = rebuild(head, &mut read, &mut room, ROOM) else { return };
    assert!(used <= room.len());
    let (mut at, mut records) = (new_head, 0);
    while at != 0 {
        records += 1;
        assert!(records <= MAX_RECORDS);
        let off = at.checked_sub(ROOM).expect("record below the room") as usize;
        assert!(off.is_multiple_of(8) && off + 16 <= used, "{off:#x} {used:#x}");
        let len = u32::from_le_bytes(room[off + 12..off + 16].try_into().unwrap()) as usize;
        assert!(off + 16 + len <= used);
        at = u64::from_le_bytes(room[off..off + 8].try_into().unwrap());
    }
    assert_eq!(records == 0, head == 0);
});
