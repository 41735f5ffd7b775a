//! Boot Loader Specification type 1 entries (UAPI.1): one `/loader/entries/*.conf` file each,
//! ordered as the specification's "Sorting" section says, with `loader/loader.conf`'s
//! `default` glob choosing among them as systemd-boot does.

use super::{keyword_and_value, Entry, EntryError, Text};
use core::cmp::Ordering;

/// The entry in `text`, the file `file_name` (with or without `.conf`); `None` when it is not
/// one pvhfw can boot (no `linux` key, or an `architecture` other than x64).
#[inline(never)]
pub fn parse<'a>(file_name: &'a [u8], text: &'a [u8]) -> Result<Option<Entry<'a>>, EntryError> {
    let mut e = Entry { id: entry_id(file_name), ..Entry::default() };
    let mut foreign = false;
    for line in text.split(|&b| b == b'\n') {
        let (key, value) = keyword_and_value(line);
        match key {
            b"title" => e.title = Text::plain(value),
            b"version" => e.version = value,
            b"machine-id" => e.machine_id = value,
            b"sort-key" => e.sort_key = value,
            b"linux" => e.kernel = Text::plain(value),
            b"initrd" => e.add_initrd(Text::plain(value))?,
            b"options" => e.add_options(Text::plain(value))?,
            b"architecture" => foreign = !value.eq_ignore_ascii_case(b"x64"),
            _ => {}
        }
    }
    Ok((!foreign && !e.kernel.raw.is_empty()).then_some(e))
}

/// The entry's id: its file name without `.conf` and without a boot-counting suffix
/// (`+LEFT[-DONE]`).
fn entry_id(file_name: &[u8]) -> &[u8] {
    let stem = file_name.strip_suffix(b".conf").unwrap_or(file_name);
    match stem.iter().rposition(|&b| b == b'+') {
        Some(plus) if is_counter(&stem[plus + 1..]) => &stem[..plus],
        _ => stem,
    }
}

fn is_counter(s: &[u8]) -> bool {
    let (left, done) = match s.iter().position(|&b| b == b'-') {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, &b"0"[..]),
    };
    let digits = |d: &[u8]| !d.is_empty() && d.iter().all(u8::is_ascii_digit);
    digits(left) && digits(done)
}

/// Whether the entry `file_name` is "bad" by boot counting: no tries left (`+0[-DONE]`).
fn is_bad(file_name: &[u8]) -> bool {
    let stem = file_name.strip_suffix(b".conf").unwrap_or(file_name);
    stem.iter().rposition(|&b| b == b'+').is_some_and(|plus| {
        let counter = &stem[plus + 1..];
        is_counter(counter) && counter.split(|&b| b == b'-').next().is_some_and(|l| l.iter().all(|&d| d == b'0'))
    })
}

/// `loader.conf`'s `default` pattern, if it has one that names an entry (`@saved` and the
/// other `@` values name EFI variables, which a VM without EFI does not have).
pub fn loader_default(loader_conf: &[u8]) -> Option<&[u8]> {
    let mut default = None;
    for line in loader_conf.split(|&b| b == b'\n') {
        if let (b"default", value) = keyword_and_value(line) {
            default = Some(value).filter(|v| !v.is_empty() && !v.starts_with(b"@"));
        }
    }
    default
}

/// The entry to boot among `files` (file name, contents): the one named `wanted` (by id or
/// title) when given, else the first in menu order matching `loader_conf`'s `default`, else the
/// first in menu order.
#[inline(never)]
pub fn select<'a>(
    files: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
    loader_conf: Option<&[u8]>,
    wanted: Option<&[u8]>,
) -> Result<Entry<'a>, EntryError> {
    let pattern = loader_conf.and_then(loader_default);
    let mut best: Option<(bool, Entry<'a>, bool)> = None;
    for (name, text) in files {
        let Some(e) = parse(name, text)? else { continue };
        if let Some(want) = wanted {
            if e.is_named(want) || name == want {
                return Ok(e);
            }
            continue;
        }
        let matches = pattern.is_some_and(|p| glob(p, e.id) || glob(p, name));
        let bad = is_bad(name);
        let better = match &best {
            None => true,
            Some((best_matches, b, best_bad)) => {
                (matches, !bad) > (*best_matches, !*best_bad)
                    || ((matches, !bad) == (*best_matches, !*best_bad) && menu_order(&e, b) == Ordering::Less)
            }
        };
        if better {
            best = Some((matches, e, bad));
        }
    }
    match best {
        Some((_, e, _)) => Ok(e),
        None if wanted.is_some() => Err(EntryError::DefaultNotFound),
        None => Err(EntryError::NoEntries),
    }
}

/// The specification's menu order (rules 2 to 4; boot-counting state, rule 1, is the
/// caller's): `Less` when `a` comes first.
pub fn menu_order(a: &Entry<'_>, b: &Entry<'_>) -> Ordering {
    let keyed = (!a.sort_key.is_empty(), !b.sort_key.is_empty());
    match keyed {
        (true, false) => return Ordering::Less,
        (false, true) => return Ordering::Greater,
        (true, true) => {
            let by_keys = a.sort_key.cmp(b.sort_key).then(a.machine_id.cmp(b.machine_id));
            let by_keys = by_keys.then(version_cmp(b.version, a.version));
            if by_keys != Ordering::Equal {
                return by_keys;
            }
        }
        (false, false) => {}
    }
    version_cmp(b.id, a.id)
}

fn is_version_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'~' | b'-' | b'^' | b'.')
}

/// Compares two version strings as the UAPI Version Format Specification describes and as
/// systemd's `strverscmp_improved()` implements it (where the two differ, systemd's way: the
/// boot loader that reads these entries): `Greater` when `a` is newer.
pub fn version_cmp(a: &[u8], b: &[u8]) -> Ordering {
    if a.is_empty() || b.is_empty() {
        return a.cmp(b);
    }
    let (mut a, mut b) = (a, b);
    loop {
        a = skip_while(a, |c| !is_version_char(c));
        b = skip_while(b, |c| !is_version_char(c));
        // A pre-release suffix ('~') is older, even than the end of the string.
        for sep in [b'~', 0, b'-', b'^', b'.'] {
            if sep == 0 {
                if a.is_empty() || b.is_empty() {
                    return a.len().min(1).cmp(&b.len().min(1));
                }
                continue;
            }
            let (sa, sb) = (a.first() == Some(&sep), b.first() == Some(&sep));
            match (sa, sb) {
                // The string with the separator here is older.
                (true, false) => return Ordering::Less,
                (false, true) => return Ordering::Greater,
                (true, true) => (a, b) = (&a[1..], &b[1..]),
                (false, false) => {}
            }
        }
        let digits = a.first().is_some_and(u8::is_ascii_digit) || b.first().is_some_and(u8::is_ascii_digit);
        let order = if digits {
            a = skip_while(a, |c| c == b'0');
            b = skip_while(b, |c| c == b'0');
            let (na, nb) = (prefix_len(a, |c| c.is_ascii_digit()), prefix_len(b, |c| c.is_ascii_digit()));
            let order = na.cmp(&nb).then(a[..na].cmp(&b[..nb]));
            (a, b) = (&a[na..], &b[nb..]);
            order
        } else {
            let (na, nb) = (prefix_len(a, |c| c.is_ascii_alphabetic()), prefix_len(b, |c| c.is_ascii_alphabetic()));
            let order = a[..na].cmp(&b[..nb]);
            (a, b) = (&a[na..], &b[nb..]);
            order
        };
        if order != Ordering::Equal {
            return order;
        }
    }
}

fn skip_while(s: &[u8], skip: impl Fn(u8) -> bool) -> &[u8] {
    &s[prefix_len(s, skip)..]
}

fn prefix_len(s: &[u8], take: impl Fn(u8) -> bool) -> usize {
    s.iter().position(|&c| !take(c)).unwrap_or(s.len())
}

/// Whether `name` matches the shell glob `pattern` (`*`, `?`, `[...]` with ranges and `!`),
/// ignoring ASCII case as FAT file names do. Linear backtracking: at most one retry point.
pub fn glob(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut retry: Option<(usize, usize)> = None;
    while n < name.len() {
        let step = match pattern.get(p) {
            Some(b'*') => {
                retry = Some((p, n));
                p += 1;
                continue;
            }
            Some(b'?') => Some(1),
            Some(b'[') => class(&pattern[p..], name[n]),
            Some(c) if c.eq_ignore_ascii_case(&name[n]) => Some(1),
            _ => None,
        };
        match (step, retry) {
            (Some(len), _) => (p, n) = (p + len, n + 1),
            (None, Some((star, from))) => {
                retry = Some((star, from + 1));
                (p, n) = (star + 1, from + 1);
            }
            (None, None) => return false,
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|&c| c == b'*')
}

/// Matches a `[...]` class at the start of `pattern` against `c`: `Some(length of the class)`
/// when `c` is in it.
fn class(pattern: &[u8], c: u8) -> Option<usize> {
    let c = c.to_ascii_lowercase();
    let negate = matches!(pattern.get(1), Some(b'!' | b'^'));
    let mut i = if negate { 2 } else { 1 };
    let mut hit = false;
    let mut first = true;
    loop {
        let lo = pattern.get(i)?.to_ascii_lowercase();
        if lo == b']' && !first {
            return (hit != negate).then_some(i + 1);
        }
        first = false;
        if pattern.get(i + 1) == Some(&b'-') && pattern.get(i + 2).is_some_and(|&h| h != b']') {
            let hi = pattern.get(i + 2)?.to_ascii_lowercase();
            hit |= (lo..=hi).contains(&c);
            i += 3;
        } else {
            hit |= lo == c;
            i += 1;
        }
    }
}
