//! The disk images of pvhfw/testdata/disk/ (made by its make.sh), decompressed.

use std::vec::Vec;

/// The image `name` (without `.zst`).
pub fn image(name: &str) -> Vec<u8> {
    let path = std::format!("{}/testdata/disk/{name}.zst", env!("CARGO_MANIFEST_DIR"));
    let file = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut out = Vec::new();
    let mut decoder = ruzstd::decoding::StreamingDecoder::new(file.as_slice()).expect(&path);
    std::io::Read::read_to_end(&mut decoder, &mut out).expect(&path);
    out
}
