# Exits from long mode to a kernel.
#
# exit32: to a 32-bit entry, Xen's PVH ABI, Linux's 32-bit boot protocol or multiboot: protected mode,
# paging off, CR0 = PE (and ET), CR4 = 0, IF = 0, a GDT whose selector {boot_cs} is flat 32-bit
# code and {boot_ds} flat read/write data (Linux's __BOOT_CS and __BOOT_DS; the PVH ABI only asks
# for flat segments), CS = {boot_cs}, DS/ES/SS/FS/GS = {boot_ds}, EBX and ESI as given, ESP =
# {stack_top}, the top of the firmware's stack, EAX = 0 (exit32) or as given (exit32_eax: a
# multiboot kernel's magic). The selectors are gdt.rs's.
#
# extern "sysv64" fn exit32(entry: u32 /* edi */, ebx: u32 /* esi */, esi: u32 /* edx */) -> !
# extern "sysv64" fn exit32_eax(entry: u32 /* edi */, ebx: u32 /* esi */, esi: u32 /* edx */,
#                               eax: u32 /* ecx */) -> !
#
# linux64: to Linux's 64-bit entry: long mode with the firmware's identity map, IF = 0,
# CS = __BOOT_CS (64-bit code) and DS/ES/SS = __BOOT_DS as long_mode.s left them, RSI =
# boot_params, RSP still inside the firmware's stack.
#
# extern "sysv64" fn linux64(entry: u64 /* rdi */, boot_params: u64 /* rsi */) -> !

.section .text.exit32, "ax", @progbits
.code64
.globl exit32
.globl exit32_eax
exit32:
    xorl %ecx, %ecx
exit32_eax:
    cli
    movl %ecx, %ebp                 # EAX to be, kept where the mode switch leaves it alone
    movl %esi, %ebx
    movl %edx, %esi
    # Far return into the firmware's CODE32: compatibility mode, still paged, still
    # identity-mapped.
    pushq ${code32}
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
    lgdtl gdt32_pointer
    ljmpl ${boot_cs}, $2f
2:
    movl ${boot_ds}, %eax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movw %ax, %fs
    movw %ax, %gs
    # Leave nothing of the firmware's in the registers the protocols do not define.
    movl %ebp, %eax
    xorl %ecx, %ecx
    xorl %edx, %edx
    xorl %ebp, %ebp
    # Neither protocol promises a stack, but qboot and SeaBIOS leave a usable one and guests
    # written against them push at once (with ESP = 0 a push lands in the ROM below 4 GiB).
    # The top of the firmware's own stack (pvhfw::layout::STACK_TOP): reserved in the memory
    # map, and free now that the firmware is done with it.
    movl ${stack_top}, %esp
    jmp *%edi

.section .text.linux64, "ax", @progbits
.code64
.globl linux64
linux64:
    # RSP stays the firmware's own stack pointer, inside its stack (pvhfw::layout::STACK_BOTTOM
    # to STACK_TOP), which the memory map reserves: the protocol promises no stack, and this
    # one is usable and free from here on.
    cli
    cld
    xorl %eax, %eax
    xorl %ebx, %ebx
    xorl %ecx, %ecx
    xorl %edx, %edx
    xorl %ebp, %ebp
    jmp *%rdi

# The GDT of the 32-bit entries, in ROM with the Accessed bits preset (the CPU never writes
# back), each descriptor at its selector's offset. CODE32 is the code segment exit32 runs on
# while it loads this table.
.section .rodata.gdt32, "a", @progbits
.balign 8
gdt32:
    .quad 0
    .org gdt32 + {code32}
    .quad 0x00cf9b000000ffff        # CODE32: flat 32-bit code
    .org gdt32 + {boot_cs}
    .quad 0x00cf9b000000ffff        # __BOOT_CS: flat 32-bit code
    .org gdt32 + {boot_ds}
    .quad 0x00cf93000000ffff        # __BOOT_DS: flat read/write data
gdt32_end:
gdt32_pointer:
    .word gdt32_end - gdt32 - 1
    .long gdt32

.text
.code64
