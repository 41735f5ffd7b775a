//! Links the firmware with the workspace's `linker.ld` as a fixed-address (non-PIE) image.
fn main() {
    let linker_script = concat!(env!("CARGO_MANIFEST_DIR"), "/../linker.ld");
    println!("cargo:rerun-if-changed={linker_script}");
    println!("cargo:rerun-if-changed=src/reset.s");
    println!("cargo:rerun-if-changed=src/exit.s");
    println!("cargo:rustc-link-arg-bins=-T{linker_script}");
    // x86_64-unknown-none links static PIEs by default; the ROM has no loader to apply
    // relocations, so every address is resolved at link time instead.
    println!("cargo:rustc-link-arg-bins=--no-pie");
    println!("cargo:rustc-link-arg-bins=--no-dynamic-linker");
}
