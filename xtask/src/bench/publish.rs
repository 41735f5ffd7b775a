//! `--publish`: each QEMU's chart and JSON into `docs/`, every published QEMU's table into
//! `docs/benchmark.md`.

use super::{report, Part, Report};
use crate::qemu::Version;
use crate::{root, Result};
use anyhow::{bail, Context};
use std::path::Path;

const BEGIN: &str = "<!-- bench:begin -->";
const END: &str = "<!-- bench:end -->";

/// The document holding the published results, inside `docs/` next to the charts it shows.
const DOCUMENT: &str = "benchmark.md";

/// Copies the chart and JSON of each QEMU in `measured` from `dir/qemu-VERSION/` to
/// `docs/bench-qemu-VERSION.{svg,json}`, then renders the block in `docs/benchmark.md` from
/// every QEMU's JSON in docs/ (a run on one QEMU keeps the other's published results).
pub fn publish(dir: &Path, measured: &[Version]) -> Result<()> {
    let docs = root().join("docs");
    std::fs::create_dir_all(&docs)?;
    for v in measured {
        let from = dir.join(v.tag());
        std::fs::copy(from.join("bench.svg"), docs.join(format!("bench-{}.svg", v.tag())))?;
        std::fs::copy(from.join("bench.json"), docs.join(format!("bench-{}.json", v.tag())))?;
    }
    render(&docs)
}

/// `--only PART --publish` for a part with rows of its own ([`Part::has_own_rows`]): its rows
/// from `dir/qemu-VERSION/bench-PART.json` replace those in each measured QEMU's published
/// JSON, and the block is rendered again; the other parts' published figures stay.
pub fn publish_part(dir: &Path, measured: &[Version], part: Part) -> Result<()> {
    let docs = root().join("docs");
    for v in measured {
        let read = |path: &Path| -> Result<Report> { Ok(serde_json::from_str(&std::fs::read_to_string(path)?)?) };
        let fresh = read(&dir.join(v.tag()).join(format!("bench-{}.json", part.name())))?;
        let path = docs.join(format!("bench-{}.json", v.tag()));
        let mut published = read(&path).with_context(|| format!("no published run in {}", path.display()))?;
        match part {
            Part::Disk => published.disk = fresh.disk,
            Part::Tpm => published.tpm = fresh.tpm,
            Part::Pvh | Part::Bzimage => bail!("the {} rows are published with the whole benchmark", part.name()),
        }
        if !published.parts.contains(&part) {
            published.parts.push(part);
        }
        std::fs::write(&path, serde_json::to_string_pretty(&published)?)?;
    }
    render(&docs)
}

/// The block in `docs/benchmark.md`, from every QEMU's JSON in `docs`.
fn render(docs: &Path) -> Result<()> {
    let mut block = String::new();
    for v in Version::ALL {
        let json = docs.join(format!("bench-{}.json", v.tag()));
        if !json.exists() {
            continue;
        }
        let r: Report = serde_json::from_str(&std::fs::read_to_string(json)?)?;
        block.push_str(&section(v, &report::markdown(&r)));
    }
    let path = docs.join(DOCUMENT);
    let text = std::fs::read_to_string(&path)?;
    std::fs::write(path, replace_block(&text, &block)?)?;
    eprintln!("bench: updated docs/{DOCUMENT} and docs/bench-qemu-*.{{svg,json}}");
    Ok(())
}

/// One QEMU's part of the published block: a heading naming it, its table, its chart (a path
/// relative to `docs/`, where the document and the chart both are).
fn section(v: Version, table: &str) -> String {
    format!(
        "### QEMU {} ({})\n\n{table}\n![benchmark chart, QEMU {0}](bench-{}.svg)\n\n",
        v.number(),
        v.origin(),
        v.tag()
    )
}

/// `text` with everything between the bench markers replaced by `block`.
fn replace_block(text: &str, block: &str) -> Result<String> {
    let (Some(a), Some(b)) = (text.find(BEGIN), text.find(END)) else {
        bail!("docs/{DOCUMENT} lacks the bench:begin/bench:end markers");
    };
    Ok(format!("{}{BEGIN}\n{block}{}", &text[..a], &text[b..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_only_the_block() {
        let doc = "# title\n\nbefore\n<!-- bench:begin -->\nold table\n\nold chart\n<!-- bench:end -->\nafter\n";
        let block = section(Version::V10_0, "| new |\n");
        let new = replace_block(doc, &block).unwrap();
        assert_eq!(
            new,
            "# title\n\nbefore\n<!-- bench:begin -->\n### QEMU 10.0 (bookworm-backports' `qemu-system-x86`, as \
             Debian 13 ships it)\n\n| new |\n\n![benchmark chart, QEMU 10.0](bench-qemu-10.0.svg)\n\n\
             <!-- bench:end -->\nafter\n"
        );
        // Rendering the same block again changes nothing.
        assert_eq!(replace_block(&new, &block).unwrap(), new);
    }

    #[test]
    fn needs_both_markers() {
        assert!(replace_block("no markers", "t").is_err());
        assert!(replace_block("<!-- bench:begin -->\nt\n", "t").is_err());
        assert!(replace_block("t\n<!-- bench:end -->\n", "t").is_err());
    }
}
