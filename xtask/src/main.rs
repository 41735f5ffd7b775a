//! pvhfw's host tool: `cargo xtask build | run | test`.
//!
//! Everything a fresh machine needs is fetched here: QEMU and the reference firmwares through
//! apt, Debian's kernel and busybox through `apt-get download`.

mod build;
mod cpio;
mod debian;
mod qemu;
mod tests;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[derive(Parser)]
#[command(about = "Build, boot and test the pvhfw firmware")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build target/pvhfw.bin (and the pvhtest kernel).
    Build,
    /// Build, then boot Debian's kernel with a busybox initrd (a shell if stdin is a terminal).
    Run {
        /// QEMU machine: pc, q35 or microvm.
        #[arg(long, default_value = "pc")]
        machine: String,
        /// Boot this PVH kernel instead of Debian's.
        #[arg(long)]
        kernel: Option<PathBuf>,
        /// Extra text for the kernel command line.
        #[arg(long, default_value = "")]
        append: String,
    },
    /// Run every test: host unit tests, pvhtest boots, Debian boots.
    Test {
        /// Only tests whose name contains this.
        #[arg(long)]
        filter: Option<String>,
        /// Skip the Debian kernel boots.
        #[arg(long)]
        no_debian: bool,
    },
}

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

/// Scratch space for downloads, generated initrds and logs.
pub fn work_dir() -> PathBuf {
    root().join("target/xtask")
}

fn main() -> ExitCode {
    let result = match Cli::parse().cmd {
        Cmd::Build => build::build().map(|a| println!("{}", a.firmware.display())),
        Cmd::Run { machine, kernel, append } => debian::run(&machine, kernel, &append),
        Cmd::Test { filter, no_debian } => tests::run(filter.as_deref(), !no_debian),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
