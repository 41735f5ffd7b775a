//! The bare-metal half of pvhfw that both images share: the hardware layer, the identity map,
//! the GDT selectors and how a failed boot ends.
//!
//! The two binaries are thin: `main.rs` (`pvhfw`, the ROM entered at the reset vector) and
//! `elf.rs` (`pvhfw-elf`, entered through a PVH note) each bring their entry assembly and a
//! `main` that runs the `pvhfw` library's boot over this crate's hardware. Every `unsafe` block
//! of the firmware is in [`hw`], each with a `// SAFETY:` comment
//! (`clippy::undocumented_unsafe_blocks` is denied in Cargo.toml).
#![no_std]

pub mod end;
pub mod gdt;
pub mod hw;
pub mod paging;
