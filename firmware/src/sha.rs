//! SHA-1 and SHA-256 with the CPU's SHA extensions (`sha.s`), for the measured boot only.
//!
//! The firmware's Rust is built without SSE, and a boot without a TPM must run no SSE
//! instruction at all (a software KVM met in practice cannot): so SSE is turned on (CR4) around
//! each call of the assembly and turned back off after it, and the library asks for these
//! functions only when it measures.

use core::arch::global_asm;
use pvhfw::sha::ShaBlocks;
use x86_64::registers::control::{Cr4, Cr4Flags};

global_asm!(include_str!("sha.s"));

extern "sysv64" {
    fn pvhfw_sha1_blocks(state: *mut [u32; 5], blocks: *const [u8; 64], count: usize);
    fn pvhfw_sha256_blocks(state: *mut [u32; 8], blocks: *const [u8; 64], count: usize);
}

/// The SHA extensions' block functions, if the CPU has them and the SSE levels their code
/// uses (SSSE3's byte shuffle, SSE4.1's word blend), by CPUID.
pub fn sha_extensions(mut cpuid: impl FnMut(u32) -> [u32; 4]) -> Option<ShaBlocks> {
    const SSSE3: u32 = 1 << 9;
    const SSE41: u32 = 1 << 19;
    const SHA: u32 = 1 << 29;
    let [max, ..] = cpuid(0);
    let [_, _, features, _] = cpuid(1);
    let has_sha = max >= 7 && cpuid(7)[1] & SHA != 0;
    (has_sha && features & (SSSE3 | SSE41) == SSSE3 | SSE41).then_some(ShaBlocks {
        name: "the SHA extensions",
        sha1,
        sha256,
    })
}

fn sha1(state: &mut [u32; 5], blocks: &[[u8; 64]]) {
    if blocks.is_empty() {
        return;
    }
    // SAFETY: only reached when sha_extensions found the instructions the assembly uses, with
    // SSE on for the call; the assembly reads `blocks` and reads and writes `state`, both
    // borrowed for the call, and clobbers only caller-saved registers (xmm0-xmm10, flags).
    with_sse(|| unsafe { pvhfw_sha1_blocks(state, blocks.as_ptr(), blocks.len()) });
}

fn sha256(state: &mut [u32; 8], blocks: &[[u8; 64]]) {
    if blocks.is_empty() {
        return;
    }
    // SAFETY: as for sha1.
    with_sse(|| unsafe { pvhfw_sha256_blocks(state, blocks.as_ptr(), blocks.len()) });
}

/// Runs `f` with SSE on (CR4.OSFXSR and OSXMMEXCPT), then puts CR4 back as it was.
fn with_sse(f: impl FnOnce()) {
    let before = Cr4::read();
    // SAFETY: the two bits only let SSE instructions run (and report their faults as #XM);
    // paging, and everything else CR4 controls, is left as it is. CR0.EM is clear in both
    // entries' long mode, so the instructions do not fault.
    unsafe { Cr4::write(before | Cr4Flags::OSFXSR | Cr4Flags::OSXMMEXCPT_ENABLE) };
    f();
    // SAFETY: the value read above.
    unsafe { Cr4::write(before) };
}
