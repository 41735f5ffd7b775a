# pvhfw.elf's entry: Xen's PVH ABI (32-bit flat protected mode, paging off, EBX = the
# incoming hvm_start_info) -> long_mode.s -> Rust.

# The note that makes this ELF a PVH kernel: XEN_ELFNOTE_PHYS32_ENTRY (18), name "Xen", the
# 32-bit physical entry. linker-elf.ld puts it in a PT_NOTE segment, where QEMU looks.
.section .note.Xen, "a", @note
.balign 4
    .long 4                         # name size
    .long 4                         # descriptor size
    .long 18                        # XEN_ELFNOTE_PHYS32_ENTRY
    .asciz "Xen"
    .long pvh_entry

.section .text.pvh_entry, "ax", @progbits
.code32
.globl pvh_entry
pvh_entry:
    cli
    cld
    # The previous stage's GDT may be anywhere (and be overwritten later): load ours, whose
    # selectors exit.s relies on, and reload every segment from it.
    lgdtl gdt_pointer
    ljmpl ${code32}, $1f
1:  movw ${data}, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movw %ax, %fs
    movw %ax, %gs
    movl %ebx, %ebp                 # main's argument, kept through CPUID
    jmp long_mode
