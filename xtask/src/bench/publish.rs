//! `--publish`: the chart and JSON into `docs/`, the table into the README.

use crate::{root, Result};
use std::path::Path;

const BEGIN: &str = "<!-- bench:begin -->";
const END: &str = "<!-- bench:end -->";

/// Copies the chart and JSON from `dir` to docs/ and puts the table into the README between
/// its markers.
pub fn publish(dir: &Path, table: &str) -> Result<()> {
    let docs = root().join("docs");
    std::fs::create_dir_all(&docs)?;
    std::fs::copy(dir.join("bench.svg"), docs.join("bench.svg"))?;
    std::fs::copy(dir.join("bench.json"), docs.join("bench.json"))?;
    let readme_path = root().join("README.md");
    let readme = std::fs::read_to_string(&readme_path)?;
    std::fs::write(readme_path, replace_block(&readme, table)?)?;
    eprintln!("bench: updated README.md, docs/bench.svg, docs/bench.json");
    Ok(())
}

/// `readme` with everything between the bench markers replaced by `table` and the chart.
fn replace_block(readme: &str, table: &str) -> Result<String> {
    let (Some(a), Some(b)) = (readme.find(BEGIN), readme.find(END)) else {
        return Err("README.md lacks the bench:begin/bench:end markers".into());
    };
    Ok(format!("{}{BEGIN}\n{table}\n![benchmark chart](docs/bench.svg)\n{}", &readme[..a], &readme[b..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_only_the_block() {
        let readme = "# title\n\nbefore\n<!-- bench:begin -->\nold table\n\nold chart\n<!-- bench:end -->\nafter\n";
        let new = replace_block(readme, "| new |\n").unwrap();
        assert_eq!(
            new,
            "# title\n\nbefore\n<!-- bench:begin -->\n| new |\n\n![benchmark chart](docs/bench.svg)\n\
             <!-- bench:end -->\nafter\n"
        );
        // Rendering the same table again changes nothing.
        assert_eq!(replace_block(&new, "| new |\n").unwrap(), new);
    }

    #[test]
    fn needs_both_markers() {
        assert!(replace_block("no markers", "t").is_err());
        assert!(replace_block("<!-- bench:begin -->\nt\n", "t").is_err());
        assert!(replace_block("t\n<!-- bench:end -->\n", "t").is_err());
    }
}
