# Exit from long mode to the kernel's 32-bit PVH entry (Xen's PVH ABI):
# protected mode, paging off, CR0 = PE (and ET), CR4 = 0, flat CS/DS/ES/SS/FS/GS, IF = 0,
# EBX = physical address of the hvm_start_info.
#
# extern "sysv64" fn pvh_exit(entry: u32 /* edi */, start_info: u32 /* esi */) -> !

.section .text.pvh_exit, "ax", @progbits
.code64
.globl pvh_exit
pvh_exit:
    cli
    movl %esi, %ebx
    # Far return into CODE32 (0x08): compatibility mode, still paged, still identity-mapped.
    pushq $0x08
    leaq 1f(%rip), %rax
    pushq %rax
    lretq

.code32
1:
    movl $0x11, %eax                # PE | ET: clearing PG leaves long mode
    movl %eax, %cr0
    movl $0xc0000080, %ecx          # EFER = 0: LME off
    xorl %eax, %eax
    xorl %edx, %edx
    wrmsr
    movl %eax, %cr4                 # eax is 0
    movl $0x10, %eax                # DATA32
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movw %ax, %fs
    movw %ax, %gs
    # Leave nothing of the firmware's in the registers the ABI does not define.
    xorl %eax, %eax
    xorl %ecx, %ecx
    xorl %edx, %edx
    xorl %esi, %esi
    xorl %ebp, %ebp
    xorl %esp, %esp
    jmp *%edi

.text
.code64
