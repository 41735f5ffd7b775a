//! Links the two firmware images as fixed-address (non-PIE) executables: `pvhfw`, the ROM
//! entered at the reset vector (`linker.ld`), and `pvhfw-elf`, the PVH ELF (`linker-elf.ld`).
fn main() {
    let dir = env!("CARGO_MANIFEST_DIR");
    for (bin, script) in [("pvhfw", "linker.ld"), ("pvhfw-elf", "linker-elf.ld")] {
        println!("cargo:rerun-if-changed={script}");
        println!("cargo:rustc-link-arg-bin={bin}=-T{dir}/{script}");
    }
    for asm in ["reset.s", "long_mode.s", "pvh.s", "exit.s"] {
        println!("cargo:rerun-if-changed=src/{asm}");
    }
    // x86_64-unknown-none links static PIEs by default; neither image has a loader to apply
    // relocations, so every address is resolved at link time instead.
    println!("cargo:rustc-link-arg-bins=--no-pie");
    println!("cargo:rustc-link-arg-bins=--no-dynamic-linker");
}
