//! Every way a boot can fail. A leaf but for the disk readers' own error types: the modules
//! that fail import it, and the message each error prints (which names those modules' limits)
//! is in [`crate::message`].

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Neither the fw_cfg DMA registers nor the "QEMU" signature answered.
    NoFwCfg,
    /// A fw_cfg DMA transfer came back with its error bit set (or never finished).
    DmaFailed { key: u16 },
    /// QEMU was started without `-kernel`.
    NoKernel,
    /// No kernel given (`-kernel`; for `pvhfw.elf` the fw_cfg file `opt/org.pvhfw/kernel`) and
    /// no virtio-blk disk to boot from.
    NoBootDisk,
    /// None of the `disks` virtio-blk disks has a boot entry.
    NoBootEntry { disks: u8 },
    /// Reading the boot disk failed, or a structure on it is damaged.
    Disk { error: crate::disk::DiskError },
    /// The disk's boot configuration (`format`) selects no entry pvhfw can follow.
    BootEntry { format: &'static str, error: crate::disk::entries::EntryError },
    /// The boot entry names a file (`what`: kernel or initrd) the disk does not have.
    EntryFileMissing { format: &'static str, what: &'static str },
    /// The PVH entry lies in none of the kernel's loadable segments.
    PvhEntryOutsideKernel { entry: u32 },
    /// An ELF kernel QEMU did not load as PVH: the machine type predates PVH.
    PvhNotLoaded,
    /// A PVH ELF QEMU loaded, whose entry note holds an address at or above 4 GiB: QEMU passes
    /// it on cut to 32 bits, as 0.
    PvhEntryAbove4G,
    /// The kernel is neither a PVH ELF, a bzImage nor a multiboot kernel.
    UnknownKernelFormat,
    /// A multiboot kernel pvhfw cannot boot (`problem` says why).
    Multiboot { problem: &'static str },
    /// QEMU's multiboot information points outside what it published.
    MultibootInfo { error: crate::multiboot::InfoError },
    /// The fw_cfg directory holds more files the firmware can look up than it keeps.
    DirectoryFull { files: u32 },
    /// The fw_cfg directory claims more files than QEMU can publish.
    DirectoryCount { files: u32 },
    /// A bzImage with nothing after its setup sectors (QEMU's `KERNEL_SIZE` is 0, or the file
    /// `pvhfw.elf` was given ends within its setup).
    BzImageEmpty,
    /// The start info `pvhfw.elf` was entered with has the wrong magic.
    BadStartInfo { magic: u32 },
    /// The start info, or something it points to, lies where it cannot be read.
    StartInfoUnreadable { what: &'static str, addr: u64 },
    /// The ELF kernel is not one pvhfw can boot (`problem` says why).
    ElfMalformed { problem: &'static str },
    /// A required fw_cfg file is absent.
    MissingFile { name: &'static str },
    /// A fw_cfg item is larger than the firmware is prepared to handle.
    TooLarge { what: &'static str, size: u64, max: u64 },
    /// `etc/e820` describes no usable RAM.
    NoRam,
    /// The sanitised memory map has more entries than Linux accepts.
    MemoryMapTooLarge,
    /// The memory the kernel takes (where it is loaded and, for a bzImage, where it runs) is
    /// not all RAM.
    KernelNotInRam { start: u64, end: u64 },
    /// A bzImage's span reaches above 4 GiB, which the firmware does not map.
    KernelAbove4G { start: u64, end: u64 },
    /// The kernel's loaded range collides with the firmware's own RAM.
    KernelOverlapsFirmware { start: u64, end: u64 },
    /// The initrd's target range is not free RAM below 4 GiB.
    InitrdDoesNotFit { addr: u64, size: u64 },
    /// No free RAM below `below` (4 GiB, or a bzImage's `initrd_addr_max` + 1) clear of the
    /// kernel is large enough for an initrd pvhfw places itself.
    NoRoomForInitrd { size: u64, below: u64 },
    /// A table-loader command breaks the rules (`problem` says how).
    TableLoader { index: u16, problem: &'static str },
    /// The RSDP the loader script placed is not one (`problem` says how): the kernel would
    /// trust it.
    BadRsdp { addr: u64, problem: &'static str },
    /// No free RAM below 4 GiB is large enough for the ACPI and SMBIOS tables.
    NoRoomForTables { size: u64 },
    /// The table loader wants to write a fw_cfg file, which needs the DMA interface.
    FwCfgWriteNeedsDma { key: u16 },
    /// The F-segment window has no room left for `what`.
    FSegmentFull { what: &'static str },
    /// The SMBIOS entry point claims more structure bytes than QEMU published.
    SmbiosTablesShort { claimed: u64, size: u64 },
    /// The SMBIOS entry point from QEMU is not one pvhfw understands.
    BadSmbiosAnchor,
    /// The kernel's setup data has no "HdrS" at 0x202: not a Linux boot-protocol header.
    BzImageNoMagic,
    /// The bzImage's boot protocol predates 2.12 (`xloadflags`, the 64-bit entry).
    BzImageProtocolTooOld { version: u16 },
    /// The setup header is shorter than its protocol version promises.
    BzImageHeaderTruncated { len: u64 },
    /// Neither `XLF_KERNEL_64` nor a usable 32-bit entry (protocol 2.02 with `LOADED_HIGH`).
    BzImageNoEntry,
    /// The initrd ends above the kernel's `initrd_addr_max`.
    InitrdAboveLimit { start: u64, end: u64, max: u64 },
    /// The command line is longer than the kernel's `cmdline_size`.
    CmdlineTooLong { len: u64, max: u64 },
    /// The `setup_data` list cannot be copied (`problem` says why).
    SetupData { problem: &'static str },
    /// `opt/org.pvhfw/pci` holds neither `assign` nor `skip`.
    PciOption,
}

impl From<crate::disk::DiskError> for Error {
    fn from(error: crate::disk::DiskError) -> Error {
        Error::Disk { error }
    }
}
