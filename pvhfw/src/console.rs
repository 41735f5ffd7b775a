//! Text output without `core::fmt`: a few bytes of code instead of the formatting machinery.
//!
//! Every byte written is a port write and, under KVM, a VM exit, so the firmware writes only
//! error messages unless the user asks for more (see [`Log`]).

/// Where `pvhfw:` lines go (COM1 and the debug console in the firmware, a buffer in tests).
pub trait Console {
    fn write(&mut self, bytes: &[u8]);
}

/// What the firmware prints besides errors, from `-fw_cfg name=opt/org.pvhfw/log,string=...`:
/// words separated by commas or spaces. Off by default: each byte printed is a VM exit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Log {
    /// `info` (or any word not known here): one line per boot step.
    pub info: bool,
    /// `timeline`: the time-stamp counter at each phase, to see where the time goes.
    pub timeline: bool,
}

impl Log {
    pub fn parse(value: &[u8]) -> Log {
        let mut log = Log::default();
        for word in trim_nul(value).split(|&b| b == b',' || b == b' ' || b == b'\n').filter(|w| !w.is_empty()) {
            match word {
                b"0" | b"off" | b"quiet" => {}
                b"timeline" => log.timeline = true,
                _ => log.info = true,
            }
        }
        log
    }
}

fn trim_nul(s: &[u8]) -> &[u8] {
    let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
    &s[..end]
}

/// Writes `v` as `0x` followed by lowercase hex digits without leading zeros.
///
/// Both number writers hide their lengths from the optimiser (`black_box`), so that their digit
/// loops stay loops: unrolled for every possible length they took 2 KiB of the 64 KiB ROM, for
/// output that only failures and logging print. Their indexing cannot panic, which would bring
/// in `core::fmt`.
fn write_hex(con: &mut dyn Console, v: u64) {
    let mut buf = [0u8; 18];
    buf[0] = b'0';
    buf[1] = b'x';
    let digits = core::hint::black_box((64 - (v | 1).leading_zeros()).div_ceil(4) as usize);
    for i in 0..digits {
        let nibble = (v >> (4 * (digits - 1 - i))) & 0xf;
        if let Some(slot) = buf.get_mut(2 + i) {
            *slot = b"0123456789abcdef"[nibble as usize];
        }
    }
    con.write(buf.get(..2 + digits).unwrap_or(&buf));
}

/// Writes `v` in decimal.
fn write_dec(con: &mut dyn Console, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = core::hint::black_box(buf.len());
    loop {
        i -= 1;
        if let Some(slot) = buf.get_mut(i) {
            *slot = b'0' + (v % 10) as u8;
        }
        v /= 10;
        if v == 0 {
            break;
        }
    }
    con.write(buf.get(i..).unwrap_or(&buf));
}

/// A `pvhfw: ` line built piece by piece. Its methods stay out of line: they run only for
/// errors and requested logging, and inlined into every message they would fill the 64 KiB
/// image.
pub struct Line<'a> {
    con: &'a mut dyn Console,
}

impl<'a> Line<'a> {
    #[inline(never)]
    pub fn new(con: &'a mut dyn Console) -> Self {
        con.write(b"pvhfw: ");
        Line { con }
    }
    #[inline(never)]
    pub fn str(self, s: &str) -> Self {
        self.con.write(s.as_bytes());
        self
    }
    #[inline(never)]
    pub fn hex(self, v: u64) -> Self {
        write_hex(self.con, v);
        self
    }
    #[inline(never)]
    pub fn dec(self, v: u64) -> Self {
        write_dec(self.con, v);
        self
    }
    #[inline(never)]
    pub fn end(self) {
        self.con.write(b"\n");
    }
}

#[cfg(test)]
pub mod testing {
    use std::vec::Vec;
    /// A console that keeps what was written.
    #[derive(Default)]
    pub struct Buffer(pub Vec<u8>);
    impl super::Console for Buffer {
        fn write(&mut self, bytes: &[u8]) {
            self.0.extend_from_slice(bytes);
        }
    }
    impl Buffer {
        pub fn text(&self) -> &str {
            core::str::from_utf8(&self.0).unwrap()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::Buffer;
    use super::*;

    #[test]
    fn numbers() {
        let mut b = Buffer::default();
        Line::new(&mut b)
            .hex(0)
            .str(" ")
            .hex(0x1f)
            .str(" ")
            .hex(u64::MAX)
            .str(" ")
            .dec(0)
            .str(" ")
            .dec(1234567890)
            .end();
        assert_eq!(b.text(), "pvhfw: 0x0 0x1f 0xffffffffffffffff 0 1234567890\n");
    }

    #[test]
    fn log_words() {
        let (quiet, info) = (Log::default(), Log { info: true, timeline: false });
        assert_eq!(Log::parse(b""), quiet);
        assert_eq!(Log::parse(b"off\0"), quiet);
        assert_eq!(Log::parse(b"info"), info);
        assert_eq!(Log::parse(b"yes please"), info);
        assert_eq!(Log::parse(b"timeline"), Log { info: false, timeline: true });
        assert_eq!(Log::parse(b"timeline,info\0junk"), Log { info: true, timeline: true });
    }
}
