//! Test disks for pvhfw's boot from a virtio-blk disk: partition tables, filesystems and boot
//! entries laid out as Debian's and systemd's tools lay them out ([`layouts`]), built from
//! plain files with `sfdisk`, `mke2fs`, `mkfs.fat` and mtools ([`image`], [`tools`]), and a
//! real Debian 12 system with GRUB installed ([`systemd`]); all cached under
//! `target/xtask/disks/`.

mod grub_cfg;
pub mod image;
pub mod layouts;
pub mod systemd;
pub mod tools;

#[cfg(test)]
mod tests;

pub use image::Damage;
pub use layouts::{Disk, Payload, PvhPayload};
