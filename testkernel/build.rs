//! Links the test kernel at 1 MiB with its PVH note (see linker.ld beside this file).
fn main() {
    let linker_script = concat!(env!("CARGO_MANIFEST_DIR"), "/linker.ld");
    println!("cargo:rerun-if-changed={linker_script}");
    println!("cargo:rerun-if-changed=src/entry.s");
    println!("cargo:rustc-link-arg-bins=-T{linker_script}");
    println!("cargo:rustc-link-arg-bins=--no-pie");
    println!("cargo:rustc-link-arg-bins=--no-dynamic-linker");
}
