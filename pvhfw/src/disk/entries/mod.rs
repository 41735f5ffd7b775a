//! Boot entries: which kernel, initrds and command line a disk's boot configuration selects.
//!
//! Three formats, each parsed from text already read into a buffer (no disk access here), and
//! each giving the selected [`Entry`] borrowing from that text (no allocation):
//! - [`bls`] reads Boot Loader Specification type 1 entries (`/loader/entries/*.conf`) and
//!   `loader/loader.conf`'s `default`;
//! - [`extlinux`] reads `extlinux.conf`;
//! - [`grub`] reads the `grub.cfg` that `grub-mkconfig` writes.
//!
//! An explicit choice (`opt/org.pvhfw/entry`) overrides each format's default. Whatever the
//! parsers cannot follow and that matters for the choice is an [`EntryError`], never a guess.

pub mod bls;
pub mod extlinux;
pub mod grub;

/// Initrds an entry may name; the kernel gets them concatenated.
pub const MAX_INITRDS: usize = 4;
/// `options` lines a BLS entry may have.
pub const MAX_OPTIONS: usize = 8;

/// Why no entry could be selected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryError {
    /// The configuration has no bootable entry.
    NoEntries,
    /// The default or the explicitly chosen entry names no entry.
    DefaultNotFound,
    /// A construct that decides the choice and that the parser does not follow: `what`.
    Unsupported { what: &'static str },
    /// More of `what` than the fixed-size tables hold.
    TooMany { what: &'static str },
    /// The command line does not fit the caller's buffer.
    TooLong,
}

/// How a piece of text is quoted in its file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Quoting {
    /// Taken as it stands (BLS, extlinux).
    #[default]
    Plain,
    /// GRUB script words: single and double quotes and backslash escapes are removed, runs of
    /// blanks between words become one space, `$variables` stay as written.
    Grub,
}

/// A piece of an entry, as it stands in the configuration text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Text<'a> {
    pub raw: &'a [u8],
    pub quoting: Quoting,
}

impl<'a> Text<'a> {
    pub(crate) fn plain(raw: &'a [u8]) -> Text<'a> {
        Text { raw, quoting: Quoting::Plain }
    }

    pub(crate) fn grub(raw: &'a [u8]) -> Text<'a> {
        Text { raw, quoting: Quoting::Grub }
    }

    /// The text's bytes with its quoting removed.
    pub fn bytes(&self) -> Unquoted<'a> {
        Unquoted {
            raw: self.raw,
            at: 0,
            grub: self.quoting == Quoting::Grub,
            quote: 0,
            started: false,
            space: false,
            held: None,
        }
    }

    /// Writes the unquoted text into `out`; returns the bytes written.
    pub fn write_to(&self, out: &mut [u8]) -> Result<usize, EntryError> {
        let mut len = 0;
        for b in self.bytes() {
            *out.get_mut(len).ok_or(EntryError::TooLong)? = b;
            len += 1;
        }
        Ok(len)
    }

    /// Whether the unquoted text is `want`.
    pub fn is(&self, want: &[u8]) -> bool {
        self.bytes().eq(want.iter().copied())
    }

    pub fn is_empty(&self) -> bool {
        self.bytes().next().is_none()
    }
}

/// The bytes of a [`Text`] with its quoting removed, from [`Text::bytes`].
pub struct Unquoted<'a> {
    raw: &'a [u8],
    at: usize,
    grub: bool,
    /// The open quote (`'` or `"`), or 0.
    quote: u8,
    /// A word has begun, so blanks after it separate it from the next.
    started: bool,
    /// Blanks were passed since the last word: a space goes before the next byte.
    space: bool,
    /// A byte that waits behind the space emitted for `space`.
    held: Option<u8>,
}

impl Iterator for Unquoted<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        if let Some(b) = self.held.take() {
            return Some(b);
        }
        loop {
            let b = *self.raw.get(self.at)?;
            self.at += 1;
            if !self.grub {
                return Some(b);
            }
            let out = match (self.quote, b) {
                (b'\'', b'\'') | (b'"', b'"') => {
                    self.quote = 0;
                    continue;
                }
                (b'\'', _) => b,
                (b'"', b'\\') => match self.raw.get(self.at) {
                    Some(&e @ (b'$' | b'"' | b'\\' | b'\n')) => {
                        self.at += 1;
                        if e == b'\n' {
                            continue;
                        }
                        e
                    }
                    _ => b'\\',
                },
                (b'"', _) => b,
                (_, b' ' | b'\t' | b'\r' | b'\n') => {
                    self.space = self.started;
                    continue;
                }
                (_, b'\'' | b'"') => {
                    self.quote = b;
                    continue;
                }
                (_, b'\\') => {
                    let Some(&e) = self.raw.get(self.at) else { return Some(b'\\') };
                    self.at += 1;
                    if e == b'\n' {
                        continue;
                    }
                    e
                }
                _ => b,
            };
            self.started = true;
            if self.space {
                self.space = false;
                self.held = Some(out);
                return Some(b' ');
            }
            return Some(out);
        }
    }
}

/// The entry a configuration selects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Entry<'a> {
    /// What `opt/org.pvhfw/entry` may name besides the title: a BLS file name without
    /// `.conf`, an extlinux `LABEL`, a GRUB `--id`.
    pub id: &'a [u8],
    pub title: Text<'a>,
    pub kernel: Text<'a>,
    initrds: [Text<'a>; MAX_INITRDS],
    initrd_count: usize,
    /// BLS `options` lines, or the one extlinux `APPEND` or GRUB `linux` argument list.
    options: [Text<'a>; MAX_OPTIONS],
    options_count: usize,
    /// BLS ordering keys (empty elsewhere).
    pub version: &'a [u8],
    pub machine_id: &'a [u8],
    pub sort_key: &'a [u8],
    /// GRUB: the filesystem UUID `search --fs-uuid --set=root` names, and the device of
    /// `set root=` (e.g. `hd0,gpt2`), where the kernel and initrds are.
    pub root_uuid: Option<Text<'a>>,
    pub root_hint: Option<Text<'a>>,
}

impl<'a> Entry<'a> {
    pub fn initrds(&self) -> &[Text<'a>] {
        &self.initrds[..self.initrd_count]
    }

    pub fn options(&self) -> &[Text<'a>] {
        &self.options[..self.options_count]
    }

    pub(crate) fn add_initrd(&mut self, path: Text<'a>) -> Result<(), EntryError> {
        let slot = self.initrds.get_mut(self.initrd_count);
        *slot.ok_or(EntryError::TooMany { what: "initrds in an entry" })? = path;
        self.initrd_count += 1;
        Ok(())
    }

    pub(crate) fn add_options(&mut self, options: Text<'a>) -> Result<(), EntryError> {
        let slot = self.options.get_mut(self.options_count);
        *slot.ok_or(EntryError::TooMany { what: "options lines in an entry" })? = options;
        self.options_count += 1;
        Ok(())
    }

    /// Whether `want` (from `opt/org.pvhfw/entry`) names this entry, by id or title.
    pub fn is_named(&self, want: &[u8]) -> bool {
        (!self.id.is_empty() && self.id == want) || self.title.is(want)
    }

    /// Writes the command line (the options joined by spaces) into `out`; returns its length.
    pub fn cmdline(&self, out: &mut [u8]) -> Result<usize, EntryError> {
        let mut len = 0;
        for options in self.options().iter().filter(|o| !o.is_empty()) {
            if len > 0 {
                *out.get_mut(len).ok_or(EntryError::TooLong)? = b' ';
                len += 1;
            }
            len += options.write_to(out.get_mut(len..).ok_or(EntryError::TooLong)?)?;
        }
        Ok(len)
    }
}

/// `line` split at its first run of blanks: the keyword and the rest, both trimmed.
fn keyword_and_value(line: &[u8]) -> (&[u8], &[u8]) {
    let line = line.trim_ascii();
    let end = line.iter().position(|b| b.is_ascii_whitespace()).unwrap_or(line.len());
    (&line[..end], line[end..].trim_ascii())
}

#[cfg(test)]
mod tests;
