//! `extlinux.conf` as syslinux and U-Boot read it: `LABEL` starts an entry, `LINUX` or
//! `KERNEL`, `INITRD` (comma-separated), `APPEND` and `MENU LABEL` fill it; `DEFAULT` (or a
//! label's `MENU DEFAULT`) names the entry to boot, else the first. Keywords are
//! case-insensitive; what does not describe an entry (`TIMEOUT`, `PROMPT`, other `MENU` lines)
//! is skipped.

use super::{keyword_and_value, Entry, EntryError, Text};

/// The entry to boot: the one labelled `wanted` when given, else the default.
#[inline(never)]
pub fn select<'a>(text: &'a [u8], wanted: Option<&[u8]>) -> Result<Entry<'a>, EntryError> {
    let default = wanted.or(default_label(text)?);
    let mut first = None;
    let mut entries = Labels { lines: text.split(|&b| b == b'\n'), pending: None };
    while let Some(entry) = entries.next_entry()? {
        let (e, menu_default) = entry;
        let chosen = match default {
            Some(want) => e.is_named(want),
            None => menu_default,
        };
        if chosen {
            return bootable(e);
        }
        if first.is_none() && !e.kernel.raw.is_empty() {
            first = Some(e);
        }
    }
    match (default, first) {
        (Some(_), _) => Err(EntryError::DefaultNotFound),
        (None, Some(e)) => Ok(e),
        (None, None) => Err(EntryError::NoEntries),
    }
}

/// The chosen entry, if it boots a kernel (a `LOCALBOOT` or `COM32` one does not).
fn bootable(e: Entry<'_>) -> Result<Entry<'_>, EntryError> {
    if e.kernel.raw.is_empty() {
        return Err(EntryError::Unsupported { what: "extlinux entry without LINUX or KERNEL" });
    }
    Ok(e)
}

/// `DEFAULT`'s label, if the file has one.
fn default_label(text: &[u8]) -> Result<Option<&[u8]>, EntryError> {
    let mut default = None;
    for line in text.split(|&b| b == b'\n') {
        let (key, value) = keyword_and_value(line);
        if key.eq_ignore_ascii_case(b"include") {
            return Err(EntryError::Unsupported { what: "extlinux INCLUDE" });
        }
        if key.eq_ignore_ascii_case(b"default") && !value.is_empty() {
            default = Some(value);
        }
    }
    Ok(default)
}

/// The `LABEL` blocks of a file, in order.
struct Labels<'a, I> {
    lines: I,
    /// The label that ended the previous block.
    pending: Option<&'a [u8]>,
}

impl<'a, I: Iterator<Item = &'a [u8]>> Labels<'a, I> {
    /// The next entry and whether it says `MENU DEFAULT`.
    fn next_entry(&mut self) -> Result<Option<(Entry<'a>, bool)>, EntryError> {
        let label = match self.pending.take() {
            Some(label) => label,
            None => loop {
                let Some(line) = self.lines.next() else { return Ok(None) };
                let (key, value) = keyword_and_value(line);
                if key.eq_ignore_ascii_case(b"label") {
                    break value;
                }
            },
        };
        let mut e = Entry { id: label, title: Text::plain(label), ..Entry::default() };
        let mut menu_default = false;
        for line in self.lines.by_ref() {
            let (key, value) = keyword_and_value(line);
            let key = Lower(key);
            if key.is(b"label") {
                self.pending = Some(value);
                break;
            } else if key.is(b"linux") || key.is(b"kernel") {
                e.kernel = Text::plain(value);
            } else if key.is(b"initrd") {
                for path in value.split(|&b| b == b',').map(<[u8]>::trim_ascii).filter(|p| !p.is_empty()) {
                    e.add_initrd(Text::plain(path))?;
                }
            } else if key.is(b"append") {
                e.add_options(Text::plain(value))?;
            } else if key.is(b"menu") {
                let (what, rest) = keyword_and_value(value);
                if what.eq_ignore_ascii_case(b"label") {
                    e.title = Text::plain(rest);
                } else if what.eq_ignore_ascii_case(b"default") {
                    menu_default = true;
                }
            }
        }
        Ok(Some((e, menu_default)))
    }
}

/// A keyword, compared ignoring ASCII case.
struct Lower<'a>(&'a [u8]);

impl Lower<'_> {
    fn is(&self, want: &[u8]) -> bool {
        self.0.eq_ignore_ascii_case(want)
    }
}
