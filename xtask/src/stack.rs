//! The firmware's worst-case stack depth, read off its machine code: each function's frame
//! (`sub $N, %rsp`, stack probes and pushes, plus the return address) and its direct calls
//! and tail jumps, summed along the deepest call chain from `main`. The firmware has no
//! guard page, so a stack that overflows silently overwrites the RAM below it (the scratch
//! area, then the handoff block); this check fails the tests instead. Indirect calls (the
//! console's `dyn` writes) are not followed: their callees are a few words deep.

use crate::cmd::Checked;
use crate::Result;
use anyhow::{bail, Context};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;

/// Room kept free below the deepest chain: the assembly entry stubs and what the analysis
/// cannot see.
const MARGIN: u64 = 4096;

/// A function's own frame in bytes, and whom it calls.
#[derive(Default)]
struct Function {
    frame: u64,
    calls: HashSet<String>,
}

/// Functions by name, from `objdump -d` text.
fn parse(disassembly: &str) -> HashMap<String, Function> {
    let mut functions: HashMap<String, Function> = HashMap::new();
    let mut current: Option<String> = None;
    for line in disassembly.lines() {
        if let Some(name) = line.strip_suffix(">:").and_then(|l| l.split_once(" <")).map(|(_, n)| n) {
            current = Some(name.to_string());
            functions.entry(name.to_string()).or_default().frame = 8;
            continue;
        }
        let Some(f) = current.as_ref().and_then(|c| functions.get_mut(c)) else { continue };
        let insn = line.split('\t').nth(1).unwrap_or("").trim();
        if let Some(n) = insn.strip_prefix("sub").and_then(|r| r.trim().strip_prefix("$0x")) {
            if let Some((hex, "%rsp")) = n.split_once(',') {
                f.frame += u64::from_str_radix(hex, 16).unwrap_or(0);
            }
        } else if insn.starts_with("push") {
            f.frame += 8;
        } else if insn.starts_with("call") || insn.starts_with("jmp") {
            let target = insn.split_once('<').and_then(|(_, t)| t.strip_suffix('>'));
            // `<f+0x12>` is a jump inside a function, not a call.
            if let Some(t) = target.filter(|t| !t.contains('+')) {
                f.calls.insert(t.to_string());
            }
        }
    }
    functions
}

/// The deepest chain from `root`: its bytes and the functions on it.
fn deepest(functions: &HashMap<String, Function>, root: &str) -> (u64, Vec<String>) {
    fn walk(
        functions: &HashMap<String, Function>,
        name: &str,
        on_path: &mut HashSet<String>,
        memo: &mut HashMap<String, (u64, Vec<String>)>,
    ) -> (u64, Vec<String>) {
        if let Some(done) = memo.get(name) {
            return done.clone();
        }
        let Some(f) = functions.get(name) else { return (0, Vec::new()) };
        on_path.insert(name.to_string());
        let mut best = (0, Vec::new());
        for callee in &f.calls {
            if on_path.contains(callee) {
                continue;
            }
            let below = walk(functions, callee, on_path, memo);
            if below.0 > best.0 {
                best = below;
            }
        }
        on_path.remove(name);
        let mut chain = vec![name.to_string()];
        chain.extend(best.1);
        let result = (f.frame + best.0, chain);
        memo.insert(name.to_string(), result.clone());
        result
    }
    walk(functions, root, &mut HashSet::new(), &mut HashMap::new())
}

/// Checks that the deepest chain from the function whose (mangled) name contains `root` in
/// `elf` fits `stack` bytes; returns its depth.
pub fn check(elf: &Path, root: &str, stack: u64) -> Result<u64> {
    let text = Command::new("objdump").args(["-d", "--no-show-raw-insn"]).arg(elf).checked_stdout()?;
    let functions = parse(&text);
    let name = functions.keys().find(|n| n.contains(root)).with_context(|| format!("{root} in {}", elf.display()))?;
    let (depth, chain) = deepest(&functions, name);
    if depth + MARGIN > stack {
        let chain: Vec<String> = chain.iter().map(|f| format!("{} {f}", functions[f].frame)).collect();
        bail!(
            "{}: the deepest call chain takes {depth} bytes of a {stack}-byte stack (keeping {MARGIN} free):\n  {}",
            elf.display(),
            chain.join("\n  ")
        );
    }
    Ok(depth)
}

/// `pvhfw.elf`'s stack, from its linker script's symbols: from the end of its page tables
/// (`elf_pdpt`, one page) to `elf_stack_top`.
pub fn elf_stack(elf: &Path) -> Result<u64> {
    let symbols = Command::new("nm").arg(elf).checked_stdout()?;
    let address = |name: &str| {
        let line = symbols.lines().find(|l| l.ends_with(&format!(" {name}")));
        let hex = line.and_then(|l| l.split(' ').next()).with_context(|| format!("{name} in {}", elf.display()))?;
        u64::from_str_radix(hex, 16).with_context(|| format!("{name}'s address"))
    };
    Ok(address("elf_stack_top")? - address("elf_pdpt")? - 4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "
0000000000001000 <main>:
    1000:\tpush   %rbx
    1001:\tsub    $0x100,%rsp
    1008:\tcall   2000 <deep>
    100d:\tcall   3000 <shallow>
    1012:\tjmp    1000 <main+0x12>
0000000000002000 <deep>:
    2000:\tsub    $0x1000,%rsp
    2007:\tsub    $0x1000,%rsp
    200e:\tjmp    3000 <shallow>
0000000000003000 <shallow>:
    3000:\tpush   %rbp
    3001:\tcall   1000 <main>
";

    #[test]
    fn frames_calls_and_the_deepest_chain() {
        let f = parse(SAMPLE);
        assert_eq!((f["main"].frame, f["deep"].frame, f["shallow"].frame), (8 + 8 + 0x100, 8 + 0x2000, 16));
        let (depth, chain) = deepest(&f, "main");
        // main -> deep -> shallow (whose call back to main is recursion, not followed).
        assert_eq!(depth, 0x110 + 0x2008 + 16);
        assert_eq!(chain, ["main", "deep", "shallow"]);
    }
}
