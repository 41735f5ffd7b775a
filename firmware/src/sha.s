# SHA-1 and SHA-256 block functions with the CPU's SHA extensions (FIPS 180-4 over the
# instructions of Intel's SHA extensions), for the measured boot: the Rust in sha.rs checks the
# CPU has them and turns SSE on around each call. Self-contained (the constants are below), so
# the host tool's tests assemble this file too and check it against RustCrypto's software.
#
# Both: System V, rdi = the state words (u32 each, in FIPS order), rsi = the blocks, rdx = their
# count (at least 1). Only xmm0-xmm10 and the flags are clobbered besides the argument registers.
# Intel syntax (Rust's default for global_asm!).

# ---------------------------------------------------------------------------------------------
# SHA-256. The rounds instruction keeps the state as ABEF and CDGH (A in the top dword); each
# group of four rounds adds four message words and their constants in xmm0, which SHA256RNDS2
# reads implicitly, low pair first. Registers: xmm1 ABEF, xmm2 CDGH, xmm3-xmm6 the message
# words of the last four groups, xmm7 scratch, xmm8/xmm9 the state at the block's start,
# xmm10 the byte order mask.

# Four rounds with message words \w and constants at \k.
.macro sha256_rounds w, k
    movdqa xmm0, \w
    paddd xmm0, xmmword ptr [rip + .Lsha256_k + \k]
    sha256rnds2 xmm2, xmm1, xmm0
    pshufd xmm0, xmm0, 0x0e
    sha256rnds2 xmm1, xmm2, xmm0
.endm

# The next four message words into \w16 (which held those 16 back), from those 12, 8 and 4 back:
# W[t] = s1(W[t-2]) + W[t-7] + s0(W[t-15]) + W[t-16].
.macro sha256_schedule w16, w12, w8, w4
    sha256msg1 \w16, \w12
    movdqa xmm7, \w4
    palignr xmm7, \w8, 4
    paddd \w16, xmm7
    sha256msg2 \w16, \w4
.endm

.macro sha256_load w, offset
    movdqu \w, xmmword ptr [rsi + \offset]
    pshufb \w, xmm10
.endm

.section .text.pvhfw_sha256_blocks, "ax"
.global pvhfw_sha256_blocks
pvhfw_sha256_blocks:
    movdqa xmm10, xmmword ptr [rip + .Lsha256_byte_order]
    # [a b c d] [e f g h] (dword 0 first) to ABEF = [f e b a] and CDGH = [h g d c].
    movdqu xmm1, xmmword ptr [rdi]
    movdqu xmm2, xmmword ptr [rdi + 16]
    pshufd xmm1, xmm1, 0xb1
    pshufd xmm2, xmm2, 0x1b
    movdqa xmm7, xmm1
    palignr xmm1, xmm2, 8
    pblendw xmm2, xmm7, 0xf0
1:
    movdqa xmm8, xmm1
    movdqa xmm9, xmm2
    sha256_load xmm3, 0
    sha256_load xmm4, 16
    sha256_load xmm5, 32
    sha256_load xmm6, 48
    sha256_rounds xmm3, 0
    sha256_rounds xmm4, 16
    sha256_rounds xmm5, 32
    sha256_rounds xmm6, 48
    sha256_schedule xmm3, xmm4, xmm5, xmm6
    sha256_rounds xmm3, 64
    sha256_schedule xmm4, xmm5, xmm6, xmm3
    sha256_rounds xmm4, 80
    sha256_schedule xmm5, xmm6, xmm3, xmm4
    sha256_rounds xmm5, 96
    sha256_schedule xmm6, xmm3, xmm4, xmm5
    sha256_rounds xmm6, 112
    sha256_schedule xmm3, xmm4, xmm5, xmm6
    sha256_rounds xmm3, 128
    sha256_schedule xmm4, xmm5, xmm6, xmm3
    sha256_rounds xmm4, 144
    sha256_schedule xmm5, xmm6, xmm3, xmm4
    sha256_rounds xmm5, 160
    sha256_schedule xmm6, xmm3, xmm4, xmm5
    sha256_rounds xmm6, 176
    sha256_schedule xmm3, xmm4, xmm5, xmm6
    sha256_rounds xmm3, 192
    sha256_schedule xmm4, xmm5, xmm6, xmm3
    sha256_rounds xmm4, 208
    sha256_schedule xmm5, xmm6, xmm3, xmm4
    sha256_rounds xmm5, 224
    sha256_schedule xmm6, xmm3, xmm4, xmm5
    sha256_rounds xmm6, 240
    paddd xmm1, xmm8
    paddd xmm2, xmm9
    add rsi, 64
    dec rdx
    jnz 1b
    # Back to [a b c d] [e f g h].
    pshufd xmm1, xmm1, 0x1b
    pshufd xmm2, xmm2, 0xb1
    movdqa xmm7, xmm1
    pblendw xmm1, xmm2, 0xf0
    palignr xmm2, xmm7, 8
    movdqu xmmword ptr [rdi], xmm1
    movdqu xmmword ptr [rdi + 16], xmm2
    ret

# ---------------------------------------------------------------------------------------------
# SHA-1. The state is ABCD (A in the top dword) and E, kept in the top dword of the register
# that SHA1RNDS4 adds to the message words of its four rounds (SHA1NEXTE makes the next one
# from A four rounds back). Registers: xmm1 ABCD, xmm2/xmm3 E plus message words (alternately),
# xmm4-xmm7 the message words of the last four groups, xmm8/xmm9 the state at the block's
# start, xmm10 the byte order mask (the first word of a group in the top dword).

# Four rounds of kind \f (0: rounds 0-19, 1: 20-39, ...) with message words \w, where \e holds
# ABCD from four rounds back (\next receives ABCD now).
.macro sha1_rounds f, w, e, next
    sha1nexte \e, \w
    movdqa \next, xmm1
    sha1rnds4 xmm1, \e, \f
.endm

# The next four message words into \w16: W[t] = rol1(W[t-3] ^ W[t-8] ^ W[t-14] ^ W[t-16]).
.macro sha1_schedule w16, w12, w8, w4
    sha1msg1 \w16, \w12
    pxor \w16, \w8
    sha1msg2 \w16, \w4
.endm

.macro sha1_load w, offset
    movdqu \w, xmmword ptr [rsi + \offset]
    pshufb \w, xmm10
.endm

.section .text.pvhfw_sha1_blocks, "ax"
.global pvhfw_sha1_blocks
pvhfw_sha1_blocks:
    movdqa xmm10, xmmword ptr [rip + .Lsha1_byte_order]
    # [a b c d] to ABCD = [d c b a]; e to the top dword.
    movdqu xmm1, xmmword ptr [rdi]
    pshufd xmm1, xmm1, 0x1b
    movd xmm9, dword ptr [rdi + 16]
    pslldq xmm9, 12
1:
    movdqa xmm8, xmm1
    sha1_load xmm4, 0
    sha1_load xmm5, 16
    sha1_load xmm6, 32
    sha1_load xmm7, 48
    # Rounds 0-3 take E itself.
    movdqa xmm2, xmm9
    paddd xmm2, xmm4
    movdqa xmm3, xmm1
    sha1rnds4 xmm1, xmm2, 0
    sha1_rounds 0, xmm5, xmm3, xmm2
    sha1_rounds 0, xmm6, xmm2, xmm3
    sha1_rounds 0, xmm7, xmm3, xmm2
    sha1_schedule xmm4, xmm5, xmm6, xmm7
    sha1_rounds 0, xmm4, xmm2, xmm3
    sha1_schedule xmm5, xmm6, xmm7, xmm4
    sha1_rounds 1, xmm5, xmm3, xmm2
    sha1_schedule xmm6, xmm7, xmm4, xmm5
    sha1_rounds 1, xmm6, xmm2, xmm3
    sha1_schedule xmm7, xmm4, xmm5, xmm6
    sha1_rounds 1, xmm7, xmm3, xmm2
    sha1_schedule xmm4, xmm5, xmm6, xmm7
    sha1_rounds 1, xmm4, xmm2, xmm3
    sha1_schedule xmm5, xmm6, xmm7, xmm4
    sha1_rounds 1, xmm5, xmm3, xmm2
    sha1_schedule xmm6, xmm7, xmm4, xmm5
    sha1_rounds 2, xmm6, xmm2, xmm3
    sha1_schedule xmm7, xmm4, xmm5, xmm6
    sha1_rounds 2, xmm7, xmm3, xmm2
    sha1_schedule xmm4, xmm5, xmm6, xmm7
    sha1_rounds 2, xmm4, xmm2, xmm3
    sha1_schedule xmm5, xmm6, xmm7, xmm4
    sha1_rounds 2, xmm5, xmm3, xmm2
    sha1_schedule xmm6, xmm7, xmm4, xmm5
    sha1_rounds 2, xmm6, xmm2, xmm3
    sha1_schedule xmm7, xmm4, xmm5, xmm6
    sha1_rounds 3, xmm7, xmm3, xmm2
    sha1_schedule xmm4, xmm5, xmm6, xmm7
    sha1_rounds 3, xmm4, xmm2, xmm3
    sha1_schedule xmm5, xmm6, xmm7, xmm4
    sha1_rounds 3, xmm5, xmm3, xmm2
    sha1_schedule xmm6, xmm7, xmm4, xmm5
    sha1_rounds 3, xmm6, xmm2, xmm3
    sha1_schedule xmm7, xmm4, xmm5, xmm6
    sha1_rounds 3, xmm7, xmm3, xmm2
    # E after the 80 rounds, from A four rounds back, plus E at the start.
    sha1nexte xmm2, xmm9
    movdqa xmm9, xmm2
    paddd xmm1, xmm8
    add rsi, 64
    dec rdx
    jnz 1b
    pshufd xmm1, xmm1, 0x1b
    movdqu xmmword ptr [rdi], xmm1
    psrldq xmm9, 12
    movd dword ptr [rdi + 16], xmm9
    ret

.section .rodata.pvhfw_sha, "a"
.balign 16
# Big-endian message words: each dword's bytes reversed (SHA-256), or all 16 bytes reversed so
# the first word is in the top dword (SHA-1).
.Lsha256_byte_order:
    .quad 0x0405060700010203, 0x0c0d0e0f08090a0b
.Lsha1_byte_order:
    .quad 0x08090a0b0c0d0e0f, 0x0001020304050607
# The 64 round constants of SHA-256 (FIPS 180-4, 4.2.2).
.Lsha256_k:
    .long 0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5
    .long 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174
    .long 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da
    .long 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967
    .long 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85
    .long 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070
    .long 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3
    .long 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
