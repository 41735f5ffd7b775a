# Reset: real mode -> 32-bit flat protected mode -> long mode -> Rust.
#
# Operands from main.rs: {main} the Rust entry, {page_directories} the ROM page directories,
# {pml4} {pdpt} {stack_top} fixed low-RAM addresses from pvhfw::layout.

# Selectors of the GDT below. CODE64 and DATA are also what Linux's 64-bit boot protocol asks
# for (__BOOT_CS = 0x10, __BOOT_DS = 0x18), so the firmware enters a bzImage as it runs.
.set CODE32, 0x08
.set CODE64, 0x10
.set DATA, 0x18
.set ROM_BASE, 0xffff0000

# The CPU's first instruction, at 0xFFFFFFF0 (CS.base 0xFFFF0000, IP 0xFFF0).
.section .reset_vector, "ax", @progbits
.code16
.globl reset_vector
reset_vector:
    jmp reset16
    .fill 16 - (. - reset_vector), 1, 0xcc

.section .reset16, "ax", @progbits
.code16
reset16:
    # The GDT is in ROM; CS.base is 0xFFFF0000 until the far jump, so address it CS-relative.
    lgdtl %cs:gdt_pointer - ROM_BASE
    # CR0 comes out of reset with CD and NW set (caches off): this write enables protected mode
    # and caching in one go.
    movl $0x11, %eax                # PE | ET
    movl %eax, %cr0
    ljmpl $CODE32, $start32

.code32
start32:
    movw $DATA, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movw %ax, %fs
    movw %ax, %gs

    # Long mode and PAE (which its page tables need), or the wrmsr below triple-faults and a
    # CPU without them (-cpu qemu32, -M isapc) resets forever in silence. The largest extended
    # leaf must be 0x80000001..0x8000FFFF: past its last leaf a CPU answers with basic-leaf data.
    movl $0x80000000, %eax
    cpuid
    subl $0x80000001, %eax
    cmpl $0xfffe, %eax
    ja no_long_mode
    movl $0x80000001, %eax
    cpuid
    btl $29, %edx                   # LM
    jnc no_long_mode
    movl $1, %eax
    cpuid
    btl $6, %edx                    # PAE
    jnc no_long_mode

    # The firmware's RAM window (page tables, handoff, scratch, stack) must be RAM: with
    # `max-ram-below-4g` under its top, writes there vanish and the stack with them. QEMU's low
    # RAM is one block from 0, so the window's last word tells.
    movl $0x5aa5c33c, {stack_top} - 4
    cmpl $0x5aa5c33c, {stack_top} - 4
    jne no_ram

    # PML4[0] -> PDPT, PDPT[0..4] -> the four ROM page directories. Both tables are in RAM that
    # may hold anything after a reboot, so the high halves are written too. 0x23 = present,
    # writable, accessed (preset so the CPU has nothing to write back).
    movl ${pdpt} + 0x23, {pml4}
    movl $0, {pml4} + 4
    movl ${page_directories} + 0x0023, {pdpt}
    movl $0, {pdpt} + 4
    movl ${page_directories} + 0x1023, {pdpt} + 8
    movl $0, {pdpt} + 12
    movl ${page_directories} + 0x2023, {pdpt} + 16
    movl $0, {pdpt} + 20
    movl ${page_directories} + 0x3023, {pdpt} + 24
    movl $0, {pdpt} + 28

    movl $0x20, %eax                # CR4.PAE
    movl %eax, %cr4
    movl ${pml4}, %eax
    movl %eax, %cr3
    movl $0xc0000080, %ecx          # EFER: at reset 0, so no read-modify-write
    movl $0x100, %eax               # LME
    xorl %edx, %edx
    wrmsr
    movl $0x80000011, %eax          # PG | ET | PE
    movl %eax, %cr0
    ljmpl $CODE64, $start64

.code64
start64:
    movl ${stack_top}, %esp
    call {main}
    ud2

# No long mode: the error on COM1 and the debug console, as main.rs's fail() prints errors,
# then halt. No `-boot reboot-timeout` here: honouring it would take a fw_cfg directory walk
# and a timer in 32-bit assembly, and a reset cannot give the CPU long mode; halting with the
# message is the useful end.
.section .text.no_long_mode, "ax", @progbits
.code32
no_long_mode:
    movl $no_long_mode_message, %esi
    jmp fail32
no_ram:
    movl $no_ram_message, %esi
# Prints the message at ESI, then halts (DF is 0 after reset).
fail32:
1:  lodsb
    testb %al, %al
    jz 2f
    movw $0x3f8, %dx
    outb %al, %dx
    outb %al, $0xe9
    jmp 1b
2:  cli
    hlt
    jmp 2b

.section .rodata.no_long_mode, "a", @progbits
no_long_mode_message:
    .ascii "pvhfw: error: this CPU has no long mode (64-bit); pvhfw needs x86-64\n"
    .asciz "pvhfw: halted\n"
no_ram_message:
    .ascii "pvhfw: error: no RAM at 0x1000-0x20000, where pvhfw keeps its state; "
    .ascii "max-ram-below-4g is too small\n"
    .asciz "pvhfw: halted\n"

# Flat segments with the Accessed bit preset: the CPU never writes to this ROM copy.
.section .rodata.gdt, "a", @progbits
.balign 8
gdt:
    .quad 0
    .quad 0x00cf9b000000ffff        # CODE32: base 0, 4 GiB, 32-bit, execute/read
    .quad 0x00af9b000000ffff        # CODE64: long mode, execute/read
    .quad 0x00cf93000000ffff        # DATA: base 0, 4 GiB, read/write
gdt_end:
gdt_pointer:
    .word gdt_end - gdt - 1
    .long gdt

.text
.code64
