//! The `grub.cfg` that `grub-mkconfig` writes (Debian's `/etc/grub.d/00_header` and
//! `10_linux`): `set default=`, `menuentry` and `submenu` blocks, and inside the chosen entry
//! `search --fs-uuid --set=root`, `set root=`, `linux` and `initrd`. Everything else (`insmod`,
//! `echo`, `load_video`, `if` around `search`, functions) is skipped.
//!
//! This is not a GRUB script interpreter: the text is split into GRUB's words and commands
//! (quotes, backslashes, `;`, `{ }`), and only what decides the entry is read. What could change
//! the choice and is not followed (a default computed from a variable, entries that exist only
//! under an `if` ahead of a default given by number) is an [`EntryError`].

use super::{Entry, EntryError, Text};

/// Words of a command kept (more are counted; the span of all of them is kept).
const MAX_WORDS: usize = 16;
/// Nesting of blocks (`{ }`, `if`/`fi`, loops).
const MAX_DEPTH: usize = 16;
/// Parts of a `>`-separated default path.
const MAX_PATH: usize = 8;
/// Bytes of the default's value.
const MAX_DEFAULT: usize = 256;

/// The entry to boot: the one `wanted` names when given (as `default` would: a number, a title
/// or an id, `>`-separated into submenus), else `set default`'s, else the first.
#[inline(never)]
pub fn select<'a>(text: &'a [u8], wanted: Option<&[u8]>) -> Result<Entry<'a>, EntryError> {
    let mut default = [0u8; MAX_DEFAULT];
    let path = match wanted {
        Some(want) => want,
        None => default_value(text, &mut default)?,
    };
    let path = if path.is_empty() { &b"0"[..] } else { path };
    let mut parts = [(0, 0); MAX_PATH];
    let count = split_path(path, &mut parts)?;
    Walk::new(text, path, &parts[..count]).run()
}

/// The last `set default=` outside entries and functions, unquoted into `buf`. `grub-mkconfig`
/// writes it under `if [ "${next_entry}" ]`, and `${saved_entry}` for `GRUB_DEFAULT=saved`: no
/// grubenv is read, so those variables are unset, and an unset default is the first entry.
fn default_value<'b>(text: &[u8], buf: &'b mut [u8; MAX_DEFAULT]) -> Result<&'b [u8], EntryError> {
    let mut parser = Parser::new(text);
    let mut len = 0;
    while let Some(item) = parser.next()? {
        let Item::Command(cmd) = item else { continue };
        if parser.in_body() {
            continue;
        }
        let assignment = match cmd.word(0) {
            Some(b"set") => cmd.word(1),
            other => other,
        };
        let Some(word) = assignment.filter(|w| w.starts_with(b"default=")) else { continue };
        len = Text::grub(&word[b"default=".len()..])
            .write_to(buf)
            .map_err(|_| EntryError::TooMany { what: "bytes in GRUB's default" })?;
    }
    let value = &buf[..len];
    let unset: [&[u8]; 4] = [b"${saved_entry}", b"$saved_entry", b"${next_entry}", b"$next_entry"];
    if unset.contains(&value) {
        return Ok(&[]);
    }
    if value.contains(&b'$') {
        return Err(EntryError::Unsupported { what: "GRUB default set from a variable" });
    }
    Ok(value)
}

/// Splits a default path at its single `>`s (`>>` is a `>` of a title) into `parts` (byte
/// ranges of `path`); returns how many.
fn split_path(path: &[u8], parts: &mut [(usize, usize); MAX_PATH]) -> Result<usize, EntryError> {
    let (mut count, mut start, mut i) = (0, 0, 0);
    while i <= path.len() {
        match path.get(i) {
            Some(b'>') if path.get(i + 1) == Some(&b'>') => i += 2,
            Some(b'>') | None => {
                *parts.get_mut(count).ok_or(EntryError::TooMany { what: "submenus in GRUB's default" })? = (start, i);
                count += 1;
                start = i + 1;
                i += 1;
            }
            Some(_) => i += 1,
        }
    }
    Ok(count)
}

/// Whether one part of a default path names the entry `index`, `title` or `id`.
fn part_names(part: &[u8], index: usize, title: Text<'_>, id: &[u8]) -> bool {
    if !part.is_empty() && part.iter().all(u8::is_ascii_digit) {
        return parse_index(part) == Some(index);
    }
    let unescaped = || Unescape { s: part, at: 0 };
    unescaped().eq(title.bytes()) || (!id.is_empty() && unescaped().eq(id.iter().copied()))
}

fn parse_index(digits: &[u8]) -> Option<usize> {
    digits.iter().try_fold(0usize, |n, &d| n.checked_mul(10)?.checked_add(usize::from(d - b'0')))
}

/// A default path part with `>>` read as `>`.
struct Unescape<'a> {
    s: &'a [u8],
    at: usize,
}

impl Iterator for Unescape<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        let b = *self.s.get(self.at)?;
        self.at += if b == b'>' && self.s.get(self.at + 1) == Some(&b'>') { 2 } else { 1 };
        Some(b)
    }
}

/// Finds the entry a default path names.
struct Walk<'a, 'p> {
    parser: Parser<'a>,
    path: &'p [u8],
    parts: &'p [(usize, usize)],
    /// Parts matched so far: the submenus entered.
    level: usize,
    /// Entries seen at the current level, and whether any of them sat under an `if`.
    index: usize,
    conditional: bool,
    /// Parser depth of the innermost matched submenu (0: top level).
    depth: usize,
}

impl<'a, 'p> Walk<'a, 'p> {
    fn new(text: &'a [u8], path: &'p [u8], parts: &'p [(usize, usize)]) -> Self {
        let parser = Parser::new(text);
        Walk { parser, path, parts, level: 0, index: 0, conditional: false, depth: 0 }
    }

    fn run(mut self) -> Result<Entry<'a>, EntryError> {
        while let Some(item) = self.parser.next()? {
            match item {
                Item::Open(cmd) => {
                    if let Some(entry) = self.open(&cmd)? {
                        return Ok(entry);
                    }
                }
                Item::Close if self.parser.depth() < self.depth => {
                    // Left the submenu the path entered without finding the rest.
                    return Err(EntryError::DefaultNotFound);
                }
                _ => {}
            }
        }
        Err(if self.level == 0 && self.index == 0 { EntryError::NoEntries } else { EntryError::DefaultNotFound })
    }

    /// A block opened by `cmd` (its frame already pushed): the entry when it is the one.
    fn open(&mut self, cmd: &Command<'a>) -> Result<Option<Entry<'a>>, EntryError> {
        let submenu = match cmd.word(0) {
            Some(b"menuentry") => false,
            Some(b"submenu") => true,
            _ => return Ok(None),
        };
        // Only entries right inside the matched submenu (or an `if` there) count.
        let depth = self.parser.depth();
        if self.parser.frames_between(self.depth, depth - 1).any(|f| f != Frame::Conditional) {
            return Ok(None);
        }
        let under_if = depth - 1 > self.depth;
        let (title, id) = header(cmd)?;
        let (start, end) = self.parts[self.level];
        let part = &self.path[start..end];
        let by_index = part.iter().all(u8::is_ascii_digit);
        if !part_names(part, self.index, title, id) {
            self.index += 1;
            self.conditional |= under_if;
            return Ok(None);
        }
        if under_if || (by_index && self.conditional) {
            return Err(EntryError::Unsupported { what: "GRUB menu entries inside an if block" });
        }
        let last = self.level + 1 == self.parts.len();
        match (submenu, last) {
            (true, true) => Err(EntryError::Unsupported { what: "GRUB default naming a submenu" }),
            (false, false) => Err(EntryError::DefaultNotFound),
            (true, false) => {
                self.level += 1;
                self.index = 0;
                self.conditional = false;
                self.depth = depth;
                Ok(None)
            }
            (false, true) => body(&mut self.parser, title, id).map(Some),
        }
    }
}

/// A `menuentry` or `submenu` line's title and `--id` (written `$menuentry_id_option 'id'`).
fn header<'a>(cmd: &Command<'a>) -> Result<(Text<'a>, &'a [u8]), EntryError> {
    if cmd.count > MAX_WORDS {
        return Err(EntryError::TooMany { what: "words in a GRUB menuentry line" });
    }
    let (mut title, mut id) = (None, &[][..]);
    let mut i = 1;
    while let Some(w) = cmd.word(i) {
        i += 1;
        match w {
            b"--id" | b"$menuentry_id_option" | b"${menuentry_id_option}" => {
                id = cmd.word(i).map_or(&[][..], strip_single_quotes);
                i += 1;
            }
            b"--class" | b"--users" | b"--hotkey" => i += 1,
            _ if w.starts_with(b"--id=") => id = strip_single_quotes(&w[5..]),
            _ if w.starts_with(b"--") => {}
            _ if title.is_none() => title = Some(Text::grub(w)),
            _ => {}
        }
    }
    Ok((title.unwrap_or_default(), id))
}

/// `'text'` without its quotes when nothing else in it is quoted; else as written.
fn strip_single_quotes(w: &[u8]) -> &[u8] {
    match w.strip_prefix(b"'").and_then(|w| w.strip_suffix(b"'")) {
        Some(inner) if !inner.contains(&b'\'') => inner,
        _ => w,
    }
}

/// Reads the chosen entry's body, up to its closing `}`.
fn body<'a>(parser: &mut Parser<'a>, title: Text<'a>, id: &'a [u8]) -> Result<Entry<'a>, EntryError> {
    let mut e = Entry { id, title, ..Entry::default() };
    let depth = parser.depth();
    let mut linux = false;
    while let Some(item) = parser.next()? {
        match item {
            Item::Close if parser.depth() < depth => {
                if !linux {
                    return Err(EntryError::Unsupported { what: "GRUB entry without a linux command" });
                }
                return Ok(e);
            }
            Item::Command(cmd) => entry_command(&mut e, &cmd, &mut linux)?,
            _ => {}
        }
    }
    Err(EntryError::Unsupported { what: "GRUB menuentry without its closing brace" })
}

fn entry_command<'a>(e: &mut Entry<'a>, cmd: &Command<'a>, linux: &mut bool) -> Result<(), EntryError> {
    match cmd.word(0) {
        Some(b"linux" | b"linux16" | b"linuxefi") => {
            if core::mem::replace(linux, true) {
                return Err(EntryError::Unsupported { what: "several linux commands in a GRUB entry" });
            }
            e.kernel = Text::grub(cmd.word(1).unwrap_or_default());
            if let Some(args) = cmd.rest(2) {
                e.add_options(Text::grub(args))?;
            }
        }
        Some(b"initrd" | b"initrd16" | b"initrdefi") => {
            if !e.initrds().is_empty() {
                return Err(EntryError::Unsupported { what: "several initrd commands in a GRUB entry" });
            }
            if cmd.count > super::MAX_INITRDS + 1 {
                return Err(EntryError::TooMany { what: "initrds in an entry" });
            }
            for i in 1..cmd.count {
                e.add_initrd(Text::grub(cmd.word(i).unwrap_or_default()))?;
            }
        }
        Some(b"search") => search(e, cmd)?,
        Some(b"set") => {
            if let Some(hint) = cmd.word(1).and_then(|w| w.strip_prefix(b"root=")) {
                e.root_hint = Some(Text::grub(hint));
            }
        }
        _ => {}
    }
    Ok(())
}

/// `search ... --set=root UUID`: records the filesystem UUID the kernel is on.
fn search<'a>(e: &mut Entry<'a>, cmd: &Command<'a>) -> Result<(), EntryError> {
    let words = || (1..cmd.count.min(MAX_WORDS)).filter_map(|i| cmd.word(i));
    if !words().any(|w| w == b"--set=root") {
        return Ok(());
    }
    if !words().any(|w| w == b"--fs-uuid" || w == b"-u") {
        return Err(EntryError::Unsupported { what: "GRUB search for root by file or label" });
    }
    let uuid = words().rfind(|w| !w.starts_with(b"-")).map(Text::grub);
    let Some(uuid) = uuid else { return Err(EntryError::Unsupported { what: "GRUB search without a UUID" }) };
    match e.root_uuid {
        Some(old) if !old.bytes().eq(uuid.bytes()) => {
            Err(EntryError::Unsupported { what: "GRUB entry searching for two roots" })
        }
        _ => {
            e.root_uuid = Some(uuid);
            Ok(())
        }
    }
}

/// What the parser gives: a command, the header of a `{` block, or that block's `}`.
enum Item<'a> {
    Command(Command<'a>),
    Open(Command<'a>),
    Close,
}

/// A command's words (byte ranges of the text; the first [`MAX_WORDS`] kept, all counted).
struct Command<'a> {
    text: &'a [u8],
    words: [(usize, usize); MAX_WORDS],
    count: usize,
    /// Where the last word ends.
    end: usize,
}

impl<'a> Command<'a> {
    fn word(&self, i: usize) -> Option<&'a [u8]> {
        let &(start, end) = self.words.get(i).filter(|_| i < self.count)?;
        self.text.get(start..end)
    }

    /// The raw text from word `from` to the end of the last word.
    fn rest(&self, from: usize) -> Option<&'a [u8]> {
        let &(start, _) = self.words.get(from).filter(|_| from < self.count)?;
        self.text.get(start..self.end)
    }
}

/// The kinds of block the parser tracks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Frame {
    /// `menuentry`, `submenu`, `function` or any other `{ }` block.
    Braces,
    /// `if` ... `fi`, `while`/`until`/`for` ... `done`: their bodies may or may not run.
    Conditional,
}

/// Splits GRUB script into commands and tracks the nesting of blocks.
struct Parser<'a> {
    text: &'a [u8],
    at: usize,
    stack: [Frame; MAX_DEPTH],
    depth: usize,
    /// A `}` ended the last command: it is the next item.
    close_pending: bool,
}

impl<'a> Parser<'a> {
    fn new(text: &'a [u8]) -> Self {
        Parser { text, at: 0, stack: [Frame::Braces; MAX_DEPTH], depth: 0, close_pending: false }
    }

    fn depth(&self) -> usize {
        self.depth
    }

    /// The frames from depth `from` (0-based index `from`) up to but excluding `to`.
    fn frames_between(&self, from: usize, to: usize) -> impl Iterator<Item = Frame> + '_ {
        self.stack[from.min(MAX_DEPTH)..to.min(MAX_DEPTH)].iter().copied()
    }

    /// Whether the parser is inside a `{ }` block (an entry, a submenu, a function).
    fn in_body(&self) -> bool {
        self.stack[..self.depth].contains(&Frame::Braces)
    }

    fn push(&mut self, frame: Frame) -> Result<(), EntryError> {
        *self.stack.get_mut(self.depth).ok_or(EntryError::TooMany { what: "nested GRUB blocks" })? = frame;
        self.depth += 1;
        Ok(())
    }

    fn pop(&mut self, frame: Frame) -> Result<(), EntryError> {
        match self.depth.checked_sub(1) {
            Some(d) if self.stack[d] == frame => {
                self.depth = d;
                Ok(())
            }
            _ => Err(EntryError::Unsupported { what: "unbalanced GRUB blocks" }),
        }
    }

    /// The next command, block header or block end; `None` at the end of the text.
    fn next(&mut self) -> Result<Option<Item<'a>>, EntryError> {
        if core::mem::take(&mut self.close_pending) {
            self.pop(Frame::Braces)?;
            return Ok(Some(Item::Close));
        }
        let mut cmd = Command { text: self.text, words: [(0, 0); MAX_WORDS], count: 0, end: 0 };
        loop {
            let token = self.token();
            match token {
                Token::Word(start, end) => {
                    let word = &self.text[start..end];
                    // Reserved words that only introduce the command after them.
                    if cmd.count == 0 && matches!(word, b"then" | b"else" | b"do") {
                        continue;
                    }
                    if let Some(slot) = cmd.words.get_mut(cmd.count) {
                        *slot = (start, end);
                    }
                    cmd.count += 1;
                    cmd.end = end;
                }
                Token::Open => {
                    self.push(Frame::Braces)?;
                    return Ok(Some(Item::Open(cmd)));
                }
                Token::Close if cmd.count == 0 => {
                    self.pop(Frame::Braces)?;
                    return Ok(Some(Item::Close));
                }
                Token::Close => {
                    self.close_pending = true;
                    return self.finish(cmd).map(Some);
                }
                Token::End if cmd.count == 0 => {}
                Token::End => return self.finish(cmd).map(Some),
                Token::Eof if cmd.count == 0 => return Ok(None),
                Token::Eof => return self.finish(cmd).map(Some),
            }
        }
    }

    /// A complete command; `if`, loops and their ends move the nesting.
    fn finish(&mut self, cmd: Command<'a>) -> Result<Item<'a>, EntryError> {
        match cmd.word(0) {
            Some(b"if" | b"while" | b"until" | b"for") => self.push(Frame::Conditional)?,
            Some(b"fi" | b"done") => self.pop(Frame::Conditional)?,
            _ => {}
        }
        Ok(Item::Command(cmd))
    }

    /// The next token: a word (quotes kept), a command end (newline or `;`), or a `{`/`}`
    /// that stands as a word of its own.
    fn token(&mut self) -> Token {
        loop {
            match self.text.get(self.at) {
                None => return Token::Eof,
                Some(b' ' | b'\t' | b'\r') => self.at += 1,
                Some(b'\\') if self.text.get(self.at + 1) == Some(&b'\n') => self.at += 2,
                Some(b'\n' | b';') => {
                    self.at += 1;
                    return Token::End;
                }
                Some(b'#') => {
                    while self.text.get(self.at).is_some_and(|&b| b != b'\n') {
                        self.at += 1;
                    }
                }
                Some(_) => break,
            }
        }
        let start = self.at;
        let mut quote = 0u8;
        while let Some(&b) = self.text.get(self.at) {
            match (quote, b) {
                (0, b' ' | b'\t' | b'\r' | b'\n' | b';') => break,
                (0, b'\'' | b'"') => quote = b,
                (b'"', b'\\') | (0, b'\\') => self.at += 1,
                (q, _) if q == b => quote = 0,
                _ => {}
            }
            self.at += 1;
        }
        let end = self.at.min(self.text.len());
        match &self.text[start..end] {
            b"{" => Token::Open,
            b"}" => Token::Close,
            _ => Token::Word(start, end),
        }
    }
}

enum Token {
    Word(usize, usize),
    End,
    Open,
    Close,
    Eof,
}
