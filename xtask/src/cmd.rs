//! Running a host program and failing, with its command line and what it printed on stderr,
//! when it does not succeed.

use crate::Result;
use anyhow::{bail, Context};
use std::process::Command;

/// A [`Command`] that must succeed.
pub trait Checked {
    /// Runs it with the terminal's stdout and stderr; fails if it does not exit with status 0.
    fn checked(&mut self) -> Result<()>;

    /// Runs it and returns its stdout; fails, quoting its stderr, if it does not exit with
    /// status 0.
    fn checked_stdout(&mut self) -> Result<String>;
}

/// `program arg...`, for messages.
fn line(c: &Command) -> String {
    std::iter::once(c.get_program()).chain(c.get_args()).map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" ")
}

impl Checked for Command {
    fn checked(&mut self) -> Result<()> {
        let status = self.status().with_context(|| format!("could not start {}", line(self)))?;
        if !status.success() {
            bail!("{} failed ({status})", line(self));
        }
        Ok(())
    }

    fn checked_stdout(&mut self) -> Result<String> {
        let out = self.output().with_context(|| format!("could not start {}", line(self)))?;
        if !out.status.success() {
            bail!("{} failed ({}): {}", line(self), out.status, String::from_utf8_lossy(&out.stderr).trim());
        }
        String::from_utf8(out.stdout).with_context(|| format!("{} printed something other than UTF-8", line(self)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_and_failures() {
        assert_eq!(Command::new("echo").arg("hi").checked_stdout().unwrap(), "hi\n");
        let e = Command::new("sh").args(["-c", "echo oops >&2; exit 3"]).checked_stdout().unwrap_err();
        assert_eq!(e.to_string(), "sh -c echo oops >&2; exit 3 failed (exit status: 3): oops");
        assert!(Command::new("false").checked().is_err());
        assert!(Command::new("/nonexistent").checked().is_err());
    }
}
