//! The identity map of the first 4 GiB, as constant data in ROM.
//!
//! Four page directories of 2 MiB pages cover 0..4 GiB: the firmware's ROM just below 4 GiB, its
//! low-RAM window, and everywhere the kernel, the initrd or tables may land. Computing them at
//! build time costs no instructions at boot; presetting Accessed and Dirty means the CPU never
//! tries to update them, so read-only ROM is fine. (The PML4 and PDPT above them hold addresses
//! of these tables, so the reset code writes those five entries to RAM.)

const PRESENT: u64 = 1 << 0;
const WRITABLE: u64 = 1 << 1;
const ACCESSED: u64 = 1 << 5;
const DIRTY: u64 = 1 << 6;
const HUGE_PAGE: u64 = 1 << 7;
const PAGE_2M: u64 = 2 << 20;

#[repr(C, align(4096))]
pub struct PageDirectories([[u64; 512]; 4]);

#[link_section = ".rom.page_directories"]
pub static PAGE_DIRECTORIES: PageDirectories = identity_map();

const fn identity_map() -> PageDirectories {
    let mut pd = [[0u64; 512]; 4];
    let mut i = 0;
    while i < 4 * 512 {
        pd[i / 512][i % 512] = (i as u64 * PAGE_2M) | PRESENT | WRITABLE | ACCESSED | DIRTY | HUGE_PAGE;
        i += 1;
    }
    PageDirectories(pd)
}
