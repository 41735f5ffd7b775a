//! The logic of pvhfw, free of hardware access so that it runs in host tests.
//!
//! The firmware binary (`firmware/`) owns the CPU, the ports and physical memory; it hands this
//! library a [`fw_cfg::FwCfgIo`] transport, a [`console::Console`] and the RAM areas it reserved,
//! and gets back what to jump to.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(any(test, feature = "fakes"))]
extern crate std;

pub mod acpi;
pub mod boot;
pub mod boot_params;
pub mod bzimage;
pub mod checksum;
pub mod chipset;
pub mod console;
pub mod disk;
pub mod e820;
mod error;
pub mod fw_cfg;
pub mod handoff;
pub mod kernel;
pub mod layout;
mod madt;
mod message;
mod mptable;
mod mtrr;
pub mod multiboot;
pub mod pci;
pub mod platform;
pub mod scratch;
pub mod setup_data;
pub mod sha;
pub mod smbios;
pub mod start_info;
pub mod table_loader;
pub mod table_memory;
pub mod tcg_log;
pub mod timer;
pub mod tpm;
pub mod virtio;

pub use error::Error;

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod testdata;

/// A half-open physical address range `[start, end)`.
#[repr(C)]
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    zerocopy::FromBytes,
    zerocopy::IntoBytes,
    zerocopy::Immutable,
    zerocopy::KnownLayout,
)]
pub struct Range {
    pub start: u64,
    pub end: u64,
}

impl Range {
    /// `[start, start + len)`, or `None` if it wraps past the end of the address space.
    pub fn from_len(start: u64, len: u64) -> Option<Range> {
        Some(Range { start, end: start.checked_add(len)? })
    }

    pub fn is_empty(&self) -> bool {
        self.start >= self.end
    }

    pub fn overlaps(&self, other: &Range) -> bool {
        !self.is_empty() && !other.is_empty() && self.start < other.end && other.start < self.end
    }

    pub fn contains(&self, other: &Range) -> bool {
        self.start <= other.start && other.end <= self.end
    }
}

/// A zeroed `T` on the heap, for tests (zerocopy's own needs its `alloc` feature, which would
/// reach the bare-metal firmware through feature unification).
#[cfg(test)]
fn boxed_zeroed<T: zerocopy::FromZeros>() -> std::boxed::Box<T> {
    std::boxed::Box::new(T::new_zeroed())
}
