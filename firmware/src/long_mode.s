# 32-bit flat protected mode -> long mode -> Rust, for both entries (reset.s, pvh.s).
#
# Entered at `long_mode` with flat segments loaded and EBP = the argument for {main} (the
# incoming start info, or 0). Operands: {main} the Rust entry, {page_directories} the
# identity map's page directories, {pml4} {pdpt} two pages of RAM for the upper tables,
# {stack_top} the top of the stack, and the selectors of the GDT below (gdt.rs): {code32},
# {code64} and {data}. {code64} and {data} are also what Linux's 64-bit boot protocol asks for
# (__BOOT_CS, __BOOT_DS), so the firmware enters a bzImage as it runs.

.section .text.long_mode, "ax", @progbits
.code32
long_mode:
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

    # PML4[0] -> PDPT, PDPT[0..4] -> the four page directories. Both tables are in RAM that
    # may hold anything, so the high halves are written too. 0x23 = present, writable,
    # accessed (preset so the CPU has nothing to write back).
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
    movl $0xc0000080, %ecx          # EFER: LME, and nothing else (no read-modify-write)
    movl $0x100, %eax
    xorl %edx, %edx
    wrmsr
    movl $0x80000011, %eax          # PG | ET | PE
    movl %eax, %cr0
    ljmpl ${code64}, $start64

.code64
start64:
    movl ${stack_top}, %esp
    movl %ebp, %edi
    call {main}
    ud2

# No long mode: the error on COM1 and the debug console, as the Rust side prints errors, then
# halt. No `-boot reboot-timeout` here: honouring it would take a fw_cfg directory walk and a
# timer in 32-bit assembly, and a reset cannot give the CPU long mode; halting with the
# message is the useful end.
.section .text.no_long_mode, "ax", @progbits
.code32
no_long_mode:
    movl $no_long_mode_message, %esi
# Prints the message at ESI, then halts (DF is 0 after reset; pvh.s clears it).
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

# Flat segments with the Accessed bit preset: the CPU never writes to this copy (in ROM for
# the reset entry). Each descriptor sits at its selector's offset (.org fails the build should
# the selectors fall out of order). In .reset16.gdt: the ROM's linker script keeps it with the
# reset code in the top 64 KiB, the only part real mode reaches.
.section .reset16.gdt, "a", @progbits
.balign 8
gdt:
    .quad 0
    .org gdt + {code32}
    .quad 0x00cf9b000000ffff        # CODE32: base 0, 4 GiB, 32-bit, execute/read
    .org gdt + {code64}
    .quad 0x00af9b000000ffff        # CODE64: long mode, execute/read
    .org gdt + {data}
    .quad 0x00cf93000000ffff        # DATA: base 0, 4 GiB, read/write
gdt_end:
gdt_pointer:
    .word gdt_end - gdt - 1
    .long gdt

.text
.code64
