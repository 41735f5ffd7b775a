# Reset: real mode -> 32-bit flat protected mode -> long_mode.s -> Rust.
#
# Operands from main.rs: {stack_top} the top of the firmware's low-RAM window, and
# long_mode.s's (among them the selectors {code32} and {data}).

# The CPU's CS.base from reset until the first far jump: architectural, whatever the image's
# size (the GDT, kept with this code in the top 64 KiB, is reachable from it).
.set RESET_CS_BASE, 0xffff0000

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
    lgdtl %cs:gdt_pointer - RESET_CS_BASE
    # CR0 comes out of reset with CD and NW set (caches off): this write enables protected mode
    # and caching in one go.
    movl $0x11, %eax                # PE | ET
    movl %eax, %cr0
    ljmpl ${code32}, $start32

.code32
start32:
    movw ${data}, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movw %ax, %fs
    movw %ax, %gs

    # The firmware's RAM window (page tables, handoff, scratch, stack) must be RAM: with
    # `max-ram-below-4g` under its top, writes there vanish and the stack with them. QEMU's low
    # RAM is one block from 0, so the window's last word tells.
    movl $0x5aa5c33c, {stack_top} - 4
    cmpl $0x5aa5c33c, {stack_top} - 4
    jne no_ram
    xorl %ebp, %ebp                 # main's argument: no start info came with the reset
    jmp long_mode

.section .text.no_ram, "ax", @progbits
.code32
no_ram:
    movl $no_ram_message, %esi
    jmp fail32

.section .rodata.no_ram, "a", @progbits
no_ram_message:
    .ascii "pvhfw: error: no RAM at 0x1000-0x30000, where pvhfw keeps its state; "
    .ascii "max-ram-below-4g is too small\n"
    .asciz "pvhfw: halted\n"
