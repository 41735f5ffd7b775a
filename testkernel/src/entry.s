# pvhtest's PVH entry: records the machine state the firmware left, then enters long mode
# with its own page tables and calls kmain(&record).
#
# Record layout (kept in step with `EntryState` in main.rs):
#   0 tsc (u64)   8 ebx   12 cr0   16 cr4   20 eflags   24 cs ds es ss fs gs (u16 each)
#   36 gdtr (limit u16, base u32)   44 esp   48 eax at the multiboot entry (0 at the PVH one)

.section .note.xen, "a", @note
.balign 4
    .long 4                         # name size: "Xen\0"
    .long 4                         # descriptor size
    .long 18                        # XEN_ELFNOTE_PHYS32_ENTRY
    .asciz "Xen"
    .long pvh_entry

.section .text.entry, "ax", @progbits
.code32
# The multiboot entry of pvhtest.multiboot (xtask/src/multiboot.rs writes its header): the
# same path as PVH's, with EAX (the magic) noted first; EBX is the multiboot information.
.globl multiboot_entry
multiboot_entry:
    movl %eax, {record} + 48
.globl pvh_entry
pvh_entry:
    # First instruction: under -icount shift=0 the TSC counts guest instructions since reset.
    rdtsc
    movl %eax, {record}
    movl %edx, {record} + 4
    movl %ebx, {record} + 8
    movl %cr0, %eax
    movl %eax, {record} + 12
    movl %cr4, %eax
    movl %eax, {record} + 16
    movw %cs, {record} + 24
    movw %ds, {record} + 26
    movw %es, {record} + 28
    movw %ss, {record} + 30
    movw %fs, {record} + 32
    movw %gs, {record} + 34
    sgdtl {record} + 36
    movl %esp, {record} + 44
    # Benchmarks end the run here, at the kernel's entry, before this kernel spends anything of
    # its own: a command line that starts with "pvhtest.exit-at-entry" exits through
    # isa-debug-exit (status 1) at once.
    movl 24(%ebx), %esi             # start_info.cmdline_paddr (low half)
    cmpl $0x74687670, (%esi)        # "pvht"
    jne 4f
    cmpl $0x2e747365, 4(%esi)       # "est."
    jne 4f
    cmpl $0x74697865, 8(%esi)       # "exit"
    jne 4f
    xorl %eax, %eax
    outl %eax, $0xf4
    cli
    hlt
4:
    # The ABI promises no stack; the firmware's SS must be flat and writable for this to work.
    movl ${stack} + {stack_size}, %esp
    pushfl
    popl %eax
    movl %eax, {record} + 20

    # Identity-map 4 GiB with 2 MiB pages.
    movl ${pdpt} + 3, {pml4}
    xorl %ecx, %ecx
1:  movl %ecx, %eax
    shll $12, %eax
    addl ${pd} + 3, %eax
    movl %eax, {pdpt}(,%ecx,8)
    incl %ecx
    cmpl $4, %ecx
    jne 1b
    xorl %ecx, %ecx
2:  movl %ecx, %eax
    shll $21, %eax
    orl $0x83, %eax
    movl %eax, {pd}(,%ecx,8)
    incl %ecx
    cmpl $2048, %ecx
    jne 2b

    movl $0x20, %eax                # PAE
    movl %eax, %cr4
    movl ${pml4}, %eax
    movl %eax, %cr3
    movl $0xc0000080, %ecx
    rdmsr
    orl $0x100, %eax                # LME
    wrmsr
    movl %cr0, %eax
    orl $0x80000001, %eax
    movl %eax, %cr0
    lgdtl gdt_pointer
    ljmpl $0x08, $3f

.code64
3:  movl $0x10, %eax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movl ${stack} + {stack_size}, %esp
    movl ${record}, %edi
    call {kmain}
    ud2

.section .rodata.gdt, "a", @progbits
.balign 8
gdt:
    .quad 0
    .quad 0x00af9a000000ffff        # 64-bit code
    .quad 0x00cf92000000ffff        # data
gdt_end:
gdt_pointer:
    .word gdt_end - gdt - 1
    .long gdt

.text
.code64
