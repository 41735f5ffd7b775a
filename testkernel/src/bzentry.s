# pvhtest's bzImage entries. The bzImage payload is this ELF's image from 0x100000, so the
# load address is bz_entry32 and load address + 0x200 is bz_entry64 (linker.ld places both).
#
# Record layout (kept in step with `BzEntryState` in bz.rs):
#   0 tsc   8 rsi   16 cr0   24 cr4   32 efer   40 rflags (u64 each)
#   48 cs ds es ss fs gs (u16 each)   60 gdtr (limit u16, base u64)   72 rsp

.section .text.bz32, "ax", @progbits
.code32
# The 32-bit entry (code32_start): pvhtest implements only the 64-bit one, so a firmware that
# takes this path gets a failure report instead of a hang.
.globl bz_entry32
bz_entry32:
    cli
    movl $bz32_message, %esi
    movw $0x3f8, %dx
1:  lodsb
    testb %al, %al
    jz 2f
    outb %al, %dx
    jmp 1b
2:  movl $1, %eax
    outl %eax, $0xf4
3:  hlt
    jmp 3b

# Room for the multiboot header (with load addresses) xtask/src/multiboot.rs writes into
# pvhtest.multiboot: zeros here, so that QEMU never takes this ELF for a multiboot kernel.
.balign 4
.globl multiboot_header
multiboot_header:
    .fill 32, 1, 0

.section .text.bz64, "ax", @progbits
.code64
# The 64-bit entry: long mode, RSI = boot_params, CS = 0x10, DS/ES/SS = 0x18, interrupts off,
# paging on with an identity map; no stack is promised.
.globl bz_entry64
bz_entry64:
    # First instruction: under -icount shift=0 the TSC counts guest instructions since reset.
    rdtsc
    movl %eax, {record}
    movl %edx, {record} + 4
    movq %rsi, {record} + 8
    movq %cr0, %rax
    movq %rax, {record} + 16
    movq %cr4, %rax
    movq %rax, {record} + 24
    movl $0xc0000080, %ecx
    rdmsr
    movl %eax, {record} + 32
    movl %edx, {record} + 36
    movw %cs, {record} + 48
    movw %ds, {record} + 50
    movw %es, {record} + 52
    movw %ss, {record} + 54
    movw %fs, {record} + 56
    movw %gs, {record} + 58
    sgdtq {record} + 60
    movq %rsp, {record} + 72
    # As at the PVH entry: a command line starting with "pvhtest.exit" ends the run at once.
    movl 0x228(%rsi), %eax          # cmd_line_ptr
    movl 0xc8(%rsi), %edx           # ext_cmd_line_ptr
    shlq $32, %rdx
    orq %rdx, %rax
    jz 4f
    cmpl $0x74687670, (%rax)        # "pvht"
    jne 4f
    cmpl $0x2e747365, 4(%rax)       # "est."
    jne 4f
    cmpl $0x74697865, 8(%rax)       # "exit"
    jne 4f
    xorl %eax, %eax
    outl %eax, $0xf4
    cli
    hlt
4:
    movl ${stack} + {stack_size}, %esp
    pushfq
    popq %rax
    movq %rax, {record} + 40

    # Own identity map of 4 GiB with 2 MiB pages (the firmware's need only cover the kernel,
    # boot_params, command line and initrd), then own GDT.
    movl ${pdpt} + 3, %eax
    movq %rax, {pml4}
    xorl %ecx, %ecx
1:  movl %ecx, %eax
    shll $12, %eax
    addl ${pd} + 3, %eax
    movq %rax, {pdpt}(,%rcx,8)
    incl %ecx
    cmpl $4, %ecx
    jne 1b
    xorl %ecx, %ecx
2:  movq %rcx, %rax
    shlq $21, %rax
    orq $0x83, %rax
    movq %rax, {pd}(,%rcx,8)
    incl %ecx
    cmpl $2048, %ecx
    jne 2b
    movl ${pml4}, %eax
    movq %rax, %cr3
    lgdtq bz_gdt_pointer
    pushq $0x08
    leaq 3f(%rip), %rax
    pushq %rax
    lretq
3:  movl $0x10, %eax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movl ${record}, %edi
    call {kmain}
    ud2

.section .rodata.bz, "a", @progbits
bz32_message:
    .asciz "pvhtest: FAIL bzimage-32bit-entry\n"
.balign 8
bz_gdt:
    .quad 0
    .quad 0x00af9a000000ffff        # 64-bit code
    .quad 0x00cf92000000ffff        # data
bz_gdt_end:
bz_gdt_pointer:
    .word bz_gdt_end - bz_gdt - 1
    .quad bz_gdt

.text
.code64
