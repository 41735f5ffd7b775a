//! Disk images for booting from a disk.
//!
//! - [`systemd`]: a real Debian 12 system with GRUB installed, booted to systemd's `running`.

pub mod systemd;
