//! The bare-metal half of pvhfw that both images share: the hardware, one module per job, the
//! identity map, the GDT selectors and how a failed boot ends.
//!
//! The two binaries are thin: `main.rs` (`pvhfw`, the ROM entered at the reset vector) and
//! `elf.rs` (`pvhfw-elf`, entered through a PVH note) each bring their entry assembly and a
//! `main` that runs the `pvhfw` library's boot over this crate's hardware. Every `unsafe` block
//! of the firmware is in this crate, each with a `// SAFETY:` comment
//! (`clippy::undocumented_unsafe_blocks` is denied in Cargo.toml). The machine is one CPU with
//! interrupts off, identity-mapped memory and nothing else running, so port I/O has no
//! concurrency to guard against; each `unsafe` block says what else it relies on.
#![no_std]

pub mod console;
pub mod end;
pub mod exit;
pub mod fw_cfg;
pub mod gdt;
pub mod halt;
pub mod paging;
pub mod platform;
pub mod sha;
pub mod timer;
