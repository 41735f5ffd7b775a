//! No two of the host tool's top-level modules depend on each other, directly or through
//! others, and none of the library's (`pvhfw/src`): each `crate::NAME` path (in `use` lists
//! too) in a module's files is an edge to module `NAME`. A crate root (`main.rs`, `lib.rs`) is
//! not a node: it declares every module, and holds what every module uses (the host tool's
//! workspace paths and `Result`, the library's `Range`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module name -> the top-level modules its files name.
type Graph = BTreeMap<String, BTreeSet<String>>;

/// Each top-level module's source, all its files concatenated, without comment lines.
fn modules(src: &Path) -> BTreeMap<String, String> {
    fn read_all(path: &Path, into: &mut String) {
        if path.is_dir() {
            let mut entries: Vec<_> = std::fs::read_dir(path).unwrap().map(|e| e.unwrap().path()).collect();
            entries.sort();
            for e in entries {
                read_all(&e, into);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(path).unwrap();
            for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
                into.push_str(line);
                into.push('\n');
            }
        }
    }
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        if name == "main" || name == "lib" {
            continue;
        }
        let mut text = String::new();
        read_all(&path, &mut text);
        out.entry(name).or_insert_with(String::new).push_str(&text);
    }
    out
}

/// The first path segment of every `crate::` path in `text`, with `crate::{a, b::c}` giving
/// `a` and `b`.
fn crate_paths(text: &str) -> BTreeSet<String> {
    let ident = |s: &str| s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>();
    let mut names = BTreeSet::new();
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        let Some(list) = rest.strip_prefix('{') else {
            names.insert(ident(rest));
            continue;
        };
        // The list's top-level entries: split at commas outside nested braces.
        let mut depth = 0;
        let mut start = 0;
        for (j, c) in list.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    names.insert(ident(list[start..j].trim()));
                    break;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    names.insert(ident(list[start..j].trim()));
                    start = j + 1;
                }
                _ => {}
            }
        }
    }
    names
}

fn graph(src: &Path) -> Graph {
    let modules = modules(src);
    modules
        .iter()
        .map(|(name, text)| {
            // The library's root re-exports `error::Error` as `crate::Error`.
            let uses = crate_paths(text)
                .into_iter()
                .map(|m| if m == "Error" { "error".to_string() } else { m })
                .filter(|m| m != name && modules.contains_key(m))
                .collect();
            (name.clone(), uses)
        })
        .collect()
}

/// A cycle in `g`, as the modules along it, if there is one.
fn cycle(g: &Graph) -> Option<Vec<String>> {
    fn visit(g: &Graph, m: &str, path: &mut Vec<String>, done: &mut BTreeSet<String>) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == m) {
            let mut c = path[at..].to_vec();
            c.push(m.to_string());
            return Some(c);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_string());
        for next in &g[m] {
            if let Some(c) = visit(g, next, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(m.to_string());
        None
    }
    let mut done = BTreeSet::new();
    g.keys().find_map(|m| visit(g, m, &mut Vec::new(), &mut done))
}

#[test]
fn paths_in_use_lists() {
    let found = crate_paths("use crate::{a, b::{c, d}, e::F};\nlet x = crate::g::h();");
    assert_eq!(found, ["a", "b", "e", "g"].map(String::from).into());
}

#[test]
fn finds_a_cycle() {
    let g: Graph = [("a", vec!["b"]), ("b", vec!["c"]), ("c", vec!["a"]), ("d", vec!["a"])]
        .into_iter()
        .map(|(m, uses)| (m.to_string(), uses.into_iter().map(String::from).collect()))
        .collect();
    assert_eq!(cycle(&g).unwrap(), ["a", "b", "c", "a"]);
}

#[test]
fn no_module_cycles() {
    let g = graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(g.contains_key("debian") && g["linux"].contains("debian"), "the graph reads the modules: {g:?}");
    if let Some(c) = cycle(&g) {
        panic!("the host tool's modules form a cycle: {}", c.join(" -> "));
    }
}

#[test]
fn no_library_module_cycles() {
    let g = graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../pvhfw/src"));
    assert!(g["boot"].contains("e820") && g["e820"].contains("error"), "the graph reads the modules: {g:?}");
    if let Some(c) = cycle(&g) {
        panic!("the library's modules form a cycle: {}", c.join(" -> "));
    }
}
