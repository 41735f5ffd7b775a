//! pvhfw's host tool: `cargo xtask build | run | install | deb | test | bench | fuzz | seeds |
//! stress | capture`.
//!
//! - `build`: the firmware images `target/pvhfw.bin` and `target/pvhfw.elf` (with their
//!   SHA-256) and the `pvhtest` kernel;
//! - `run`: boot Debian 12's kernel to a busybox shell (`--installed`: with the installed
//!   image, by name);
//! - `install`: the images and a firmware descriptor where QEMU looks for firmware;
//! - `deb`: the same as a Debian package, reproducibly;
//! - `test`: formatting and clippy, host unit tests, the QEMU test-kernel matrix, Debian boots;
//! - `bench`: pvhfw against qboot and SeaBIOS;
//! - `fuzz`: the libFuzzer targets in `fuzz/`, a few seconds each; `seeds`: their seed corpus;
//! - `stress`: many boots, sequential and concurrent, with failure counts and time spreads;
//! - `capture`: what QEMU publishes through fw_cfg, read over qtest (`--fixtures` regenerates
//!   the library's test data).
//!
//! `--qemu 7.2|10` picks the QEMU: Debian 12's own 7.2 or 10.0 from `bookworm-backports`
//! ([`qemu::Version`]). `test`, `bench` and `capture --fixtures` use both unless told; `run`,
//! `capture` without `--fixtures` and `stress` use 7.2 unless told.
//!
//! Everything a fresh machine needs is fetched here: QEMU and the reference firmwares through
//! apt (QEMU 10.0 with `apt-get download` into `target/`), the bare-metal Rust target through
//! rustup, Debian's kernels and busybox through `apt-get download`.

mod apt;
mod bench;
mod build;
mod bzimage;
mod capture;
mod cmd;
mod cpio;
mod deb;
mod debian;
mod disk;
mod fuzz;
mod install;
mod linux;
#[cfg(test)]
mod module_cycles;
mod multiboot;
mod probe;
mod qemu;
mod qtest;
mod seeds;
#[cfg(test)]
mod sha_extensions;
mod stack;
mod stress;
mod swtpm;
mod tests;

use anyhow::{anyhow, bail, Context};
use clap::{Parser, Subcommand};
use debian::Release;
use qemu::Version;
use std::path::PathBuf;
use std::process::ExitCode;

pub use anyhow::Result;

#[derive(Parser)]
#[command(about = "Build, boot and test the pvhfw firmware")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
    /// The QEMU to use: 7.2 (Debian 12's) or 10 (10.0 from bookworm-backports, extracted
    /// under target/). Default: both for test, bench and capture --fixtures, 7.2 otherwise.
    #[arg(long, global = true, value_parser = Version::parse)]
    qemu: Option<Version>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build target/pvhfw.bin and target/pvhfw.elf (and the pvhtest kernel); print their
    /// SHA-256 as sha256sum does.
    Build,
    /// Build, then boot Debian 12's kernel with a busybox initrd (a shell if stdin is a terminal).
    Run {
        /// QEMU machine: pc, q35, microvm or microvm,acpi=off.
        #[arg(long, default_value = "pc")]
        machine: String,
        /// Boot this kernel instead of Debian's.
        #[arg(long)]
        kernel: Option<PathBuf>,
        /// Extra text for the kernel command line.
        #[arg(long, default_value = "")]
        append: String,
        /// Boot the installed image by name (`-bios pvhfw.bin`) instead of building one; with
        /// a PREFIX, the one under PREFIX/share/qemu (`-L`).
        #[arg(long, value_name = "PREFIX")]
        installed: Option<Option<PathBuf>>,
    },
    /// Build, then install pvhfw.bin, pvhfw.elf and the firmware descriptor
    /// firmware/90-pvhfw.json into PREFIX/share/qemu.
    Install {
        #[arg(long, default_value = install::DEFAULT_PREFIX)]
        prefix: PathBuf,
        /// Stage the files under this directory (for packaging); the descriptor still names
        /// PREFIX.
        #[arg(long)]
        destdir: Option<PathBuf>,
    },
    /// Build target/pvhfw_VERSION_all.deb (reproducibly, with dpkg-deb).
    Deb,
    /// Developer tool: list what QEMU publishes through fw_cfg on MACHINE (extra QEMU
    /// arguments after `--`), or with --fixtures rewrite pvhfw/testdata/qemu-VERSION from it.
    Capture {
        #[arg(long, default_value = "pc")]
        machine: String,
        /// Regenerate the library's captured test fixtures.
        #[arg(long)]
        fixtures: bool,
        /// Extra QEMU arguments.
        #[arg(last = true)]
        qemu_args: Vec<String>,
    },
    /// Measure pvhfw, qboot and SeaBIOS side by side, on each QEMU with its own qboot and
    /// SeaBIOS: instructions, VM exits, wall time, Debian boot to init, image size.
    Bench {
        /// Interleaved rounds of wall-time runs.
        #[arg(long, default_value_t = 21)]
        rounds: usize,
        /// Debian boots per firmware and machine.
        #[arg(long, default_value_t = 3)]
        linux_runs: usize,
        /// Write the results into docs/ (docs/benchmark.md and its charts).
        #[arg(long)]
        publish: bool,
        /// Render the last run's results again without measuring.
        #[arg(long)]
        reuse: bool,
        /// Measure only one part (results in target/xtask/bench/bench-PART.*).
        #[arg(long, value_enum)]
        only: Option<bench::Part>,
    },
    /// Run every libFuzzer target in fuzz/ for a while (coverage-guided fuzzing of the
    /// parsers of what QEMU publishes, and of the whole boot).
    Fuzz {
        /// Seconds per target.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Only targets whose name contains this.
        filter: Option<String>,
    },
    /// Rewrite the fuzz targets' seed corpus (fuzz/corpus/) from the QEMU captures in
    /// pvhfw/testdata.
    Seeds,
    /// Boot the test kernel (and Debian's) many times, one after the other and side by side;
    /// count failures and print boot-time spreads.
    Stress {
        /// Boots one after the other, per configuration.
        #[arg(long, default_value_t = 200)]
        sequential: usize,
        /// Boots at once, per configuration.
        #[arg(long, default_value_t = 8)]
        concurrent: usize,
        /// Debian kernel boots (TCG), sequential.
        #[arg(long, default_value_t = 2)]
        debian: usize,
    },
    /// Run every test: formatting and clippy, host unit tests, pvhtest boots, Debian boots (on
    /// each QEMU), fuzzing and stress (once).
    Test {
        /// Only QEMU tests whose name contains this.
        #[arg(long)]
        filter: Option<String>,
        /// Skip the Debian kernel boots.
        #[arg(long)]
        no_debian: bool,
        /// Skip `cargo fmt --check` and clippy.
        #[arg(long)]
        no_lint: bool,
        /// Also run the tests that change this machine: install the Debian package (dpkg -i,
        /// then dpkg -r), install libvirt through apt, and open /dev/kvm to libvirt's QEMU user
        /// while they run. Without it they are skipped.
        #[arg(long)]
        system: bool,
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

/// `cargo xtask build`: the images and their SHA-256.
fn build() -> Result<()> {
    let a = build::build()?;
    print!("{}", build::sha256_lines(&[&a.firmware, &a.firmware_elf])?);
    Ok(())
}

/// The firmware `run` boots: the one it builds, or with `installed` the installed one by name
/// (under QEMU's own data directories, or those of a prefix); and the QEMU arguments naming
/// that prefix.
fn run_firmware(installed: Option<Option<PathBuf>>) -> Result<(PathBuf, Vec<String>)> {
    let Some(prefix) = installed else {
        return Ok((build::build()?.firmware, Vec::new()));
    };
    let extra = match prefix {
        Some(p) => vec![install::data_dir(&std::path::absolute(p)?)],
        None => Vec::new(),
    };
    let found = qemu::find_firmware("pvhfw.bin", &extra)?.with_context(|| {
        format!(
            "pvhfw.bin is in none of QEMU's firmware directories ({:?}); install it first (cargo xtask install, or the package)",
            qemu::data_dirs(&extra).unwrap_or_default()
        )
    })?;
    let sha = build::sha256_hex(&std::fs::read(&found)?);
    eprintln!("xtask: -bios pvhfw.bin is {} (SHA-256 {sha})", found.display());
    let args = extra.iter().flat_map(|d| ["-L".to_string(), d.display().to_string()]).collect();
    Ok((PathBuf::from("pvhfw.bin"), args))
}

/// `cargo xtask run`: boot to a busybox shell, or without a terminal to init's report.
fn run(
    v: Version,
    machine: &str,
    kernel: Option<PathBuf>,
    append: &str,
    installed: Option<Option<PathBuf>>,
) -> Result<()> {
    v.ensure_installed()?;
    let (firmware, extra) = run_firmware(installed)?;
    let mut debian = debian::fetch(Release::Bookworm)?;
    if let Some(k) = kernel {
        debian.vmlinux = k;
    }
    let interactive = std::io::IsTerminal::is_terminal(&std::io::stdin());
    let append = if interactive { format!("pvhfw.shell {append}") } else { append.to_string() };
    let q = linux::boot(v, "run", machine, &firmware, &debian, &append).args(&extra);
    eprintln!("xtask: {}", q.command_line());
    if interactive {
        let status = q.run_interactive()?;
        return if status.success() { Ok(()) } else { Err(anyhow!("QEMU exited with {status}")) };
    }
    // No terminal: show the boot and init's report, then stop.
    let outcome = q.until("pvhfw-init: done").timeout(300).run()?;
    print!("{}", outcome.serial);
    if !outcome.serial.contains("pvhfw-init: done") {
        bail!("the guest did not reach init's report; log: {}", outcome.log.display());
    }
    Ok(())
}

/// `cargo xtask test`: the tests, then without a filter fuzzing and stress, briefly.
fn test(versions: &[Version], o: &tests::Options) -> Result<()> {
    tests::run(versions, o)?;
    if o.filter.is_none() {
        fuzz::run(5, None)?;
        stress::run(versions[0], &stress::Options { sequential: 50, concurrent: 8, debian: 0 })?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The one QEMU asked for, or both.
    let all = cli.qemu.map_or(Version::ALL.to_vec(), |v| vec![v]);
    let one = cli.qemu.unwrap_or(Version::V7_2);
    let result = match cli.cmd {
        Cmd::Build => build(),
        Cmd::Run { machine, kernel, append, installed } => run(one, &machine, kernel, &append, installed),
        Cmd::Install { prefix, destdir } => install::run(&prefix, destdir.as_deref()),
        Cmd::Deb => deb::run(),
        Cmd::Capture { machine, fixtures: false, qemu_args } => capture::list(one, &machine, &qemu_args),
        Cmd::Capture { fixtures: true, .. } => capture::fixtures(&all),
        Cmd::Bench { rounds, linux_runs, publish, reuse, only } => {
            bench::run(&bench::Options { rounds, linux_runs, publish, reuse, only }, &all)
        }
        Cmd::Fuzz { seconds, filter } => fuzz::run(seconds, filter.as_deref()),
        Cmd::Seeds => seeds::run(),
        Cmd::Stress { sequential, concurrent, debian } => {
            stress::run(one, &stress::Options { sequential, concurrent, debian })
        }
        Cmd::Test { filter, no_debian, no_lint, system } => {
            test(&all, &tests::Options { filter: filter.as_deref(), debian: !no_debian, lint: !no_lint, system })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}
