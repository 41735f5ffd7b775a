//! QEMU's firmware configuration interface (`fw_cfg`), protocol side.
//!
//! The firmware implements [`FwCfgIo`] over the I/O ports (DMA, or byte-wise port reads where
//! DMA is off); everything above that is here and runs against a fake in host tests:
//! [`names`] (item keys, file names), [`directory`] (the file directory and lookups),
//! [`transport`] (the ports, the trait, DMA descriptors) and `fake` (host tests and fuzzing only).

pub mod directory;
pub mod names;
pub mod transport;

#[cfg(any(test, feature = "fakes"))]
pub mod fake;

pub use directory::{
    encode_directory, read_directory, Directory, File, FileEntry, DIR_BYTES, MAX_DIR_ENTRIES, MAX_FILES,
};
pub use names::{key, FileName, NameKey};
pub use transport::{dma, read_u32, DmaAccess, FwCfgIo, PORT_DATA, PORT_DMA_LOW, PORT_SELECTOR};
