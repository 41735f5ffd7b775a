//! pvhfw installed as QEMU firmware and found by name, as a user would have it:
//!
//! - `install-prefix`: `cargo xtask install` into a temporary prefix; the files are the build's
//!   and the descriptor validates and names the installed image;
//! - `install-prefix-MACHINE`: `-L PREFIX/share/qemu -bios pvhfw.bin` boots `pvhtest` with
//!   every check of the test-kernel cases, on `pc`, `q35` and `microvm`;
//! - `install-deb-reproducible`: the package built twice is the same bytes, and holds exactly
//!   the installed files, owned by root;
//! - `install-deb-dpkg-i`, `install-deb-pc`, `install-deb-dpkg-r`: `dpkg -i` it, boot
//!   `-bios pvhfw.bin` without `-L`, and `dpkg -r` it, leaving the machine as it was; while
//!   it is installed, the `libvirt` cases boot Debian's kernel in libvirt domains. These change
//!   the machine (a package, libvirt through apt, `/dev/kvm`'s mode while they run): only with
//!   `cargo xtask test --system`.
//!
//! QEMU runs in an empty directory throughout: it looks for a bare `-bios` name in its
//! working directory first.

use super::{checked_boot, host_step, libvirt, run_cases, Case};
use crate::build::Artifacts;
use crate::cmd::Checked;
use crate::debian::DebianKernel;
use crate::install::{Descriptor, Mapping};
use crate::qemu::Version;
use crate::{deb, install, work_dir, Result};
use anyhow::{anyhow, bail, Context};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the package puts the image.
const INSTALLED: &str = "/usr/share/qemu/pvhfw.bin";

/// The tests' machines, each booted by name.
const MACHINES: [&str; 3] = ["pc", "q35", "microvm"];

/// Runs the install tests `filter` selects (and the steps they need); how many passed and
/// failed. Those that change the machine (the package installed, libvirt) only with `system`.
pub(super) fn run(a: &Artifacts, debian: Option<&DebianKernel>, filter: Option<&str>, system: bool) -> (usize, usize) {
    let selected = |name: &str| filter.is_none_or(|f| name.contains(f));
    let mut tally = Tally::default();
    let dir = work_dir().join("install");
    let _ = std::fs::remove_dir_all(&dir);
    let cwd = dir.join("cwd");
    if let Err(e) = std::fs::create_dir_all(&cwd) {
        println!("FAIL install: {e}");
        return (0, 1);
    }
    // A bare name must find the installed image, not one beside QEMU.
    let by_name = Artifacts { firmware: PathBuf::from("pvhfw.bin"), ..a.clone() };

    let prefix_cases: Vec<String> = MACHINES.iter().map(|m| format!("install-prefix-{m}")).collect();
    if selected("install-prefix") || prefix_cases.iter().any(|n| selected(n)) {
        let prefix = dir.join("prefix");
        if tally.add(host_step("install-prefix", || check_prefix_install(a, &prefix))) {
            let data = install::data_dir(&prefix);
            let cases = MACHINES
                .iter()
                .zip(&prefix_cases)
                .filter(|(_, n)| selected(n))
                .map(|(m, name)| {
                    let (q, check) = checked_boot(Version::V7_2, name, m, "tcg", false, &by_name);
                    let q = q.arg_path("-L", &data).current_dir(&cwd);
                    Case { name: name.clone(), run: q.into(), check }
                })
                .collect();
            tally.add_all(run_cases(cases));
        }
    }

    let deb_boot = "install-deb-pc";
    let want_libvirt = libvirt::NAMES.iter().any(|n| selected(n));
    if !(selected("install-deb") || selected(deb_boot) || want_libvirt) {
        return tally.into();
    }
    let mut package = None;
    tally.add(host_step("install-deb-reproducible", || {
        package = Some(reproducible_package(a, &dir)?);
        Ok(())
    }));
    let Some(package) = package else { return tally.into() };
    if !system {
        if ["install-deb-dpkg-i", deb_boot, "install-deb-dpkg-r"].iter().any(|n| selected(n)) || want_libvirt {
            println!("skip install-deb-dpkg-i, {deb_boot}, install-deb-dpkg-r and libvirt-*: they change this machine; run them with --system");
        }
        return tally.into();
    }
    let mut before = None;
    tally.add(host_step("install-deb-dpkg-i", || {
        let machine = Machine::now()?;
        if machine.package.is_some() {
            bail!(
                "a pvhfw package ({}) is installed already; the test leaves the machine as it finds it, so \
                 remove it first (dpkg -r pvhfw)",
                machine.package.unwrap_or_default()
            );
        }
        if Path::new(INSTALLED).exists() {
            bail!(
                "{INSTALLED} is there already (cargo xtask install?); dpkg -r would take it away, so remove it first"
            );
        }
        dpkg(&["-i"], &package)?;
        before = Some(machine);
        check_package_installed(a)
    }));
    if let Some(before) = before {
        let mut cases = Vec::new();
        if selected(deb_boot) {
            let (q, check) = checked_boot(Version::V7_2, deb_boot, "pc", "tcg", false, &by_name);
            cases.push(Case { name: deb_boot.into(), run: q.current_dir(&cwd).into(), check });
        }
        let mut lv = None;
        match debian {
            Some(k) if want_libvirt => {
                let mut domains = Vec::new();
                tally.add(host_step("libvirt-setup", || {
                    let l = libvirt::Libvirt::setup()?;
                    domains = l.cases(Path::new(INSTALLED), k)?;
                    lv = Some(l);
                    Ok(())
                }));
                cases.extend(domains.into_iter().filter(|c| selected(&c.name)));
            }
            None if want_libvirt => println!("skip libvirt: no Debian kernel (--no-debian)"),
            _ => {}
        }
        tally.add_all(run_cases(cases));
        // Daemons and /dev/kvm as they were, before the package goes.
        drop(lv);
        tally.add(host_step("install-deb-dpkg-r", || {
            dpkg(&["-r"], Path::new("pvhfw"))?;
            let after = Machine::now()?;
            if after.package.is_some() || Path::new(INSTALLED).exists() {
                bail!("pvhfw still installed after dpkg -r: {:?}", after.package);
            }
            // What the package brought is gone, and nothing else changed.
            if before.firmware_dir != after.firmware_dir {
                bail!(
                    "/usr/share/qemu/firmware holds {:?}, before the package {:?}",
                    after.firmware_dir,
                    before.firmware_dir
                );
            }
            Ok(())
        }));
    }
    tally.into()
}

#[derive(Default)]
struct Tally {
    passed: usize,
    failed: usize,
}

impl Tally {
    fn add(&mut self, ok: bool) -> bool {
        self.add_all(if ok { (1, 0) } else { (0, 1) });
        ok
    }

    fn add_all(&mut self, (passed, failed): (usize, usize)) {
        self.passed += passed;
        self.failed += failed;
    }
}

impl From<Tally> for (usize, usize) {
    fn from(t: Tally) -> Self {
        (t.passed, t.failed)
    }
}

/// What of the machine the package touches.
struct Machine {
    /// The installed pvhfw package's version, if any.
    package: Option<String>,
    /// The descriptors in `/usr/share/qemu/firmware`.
    firmware_dir: Vec<String>,
}

impl Machine {
    fn now() -> Result<Machine> {
        let out = Command::new("dpkg-query").args(["-W", "-f", "${Status} ${Version}", "pvhfw"]).output()?;
        let status = String::from_utf8(out.stdout)?;
        let package = status.strip_prefix("install ok installed ").map(str::to_string);
        let mut firmware_dir: Vec<String> = match std::fs::read_dir("/usr/share/qemu/firmware") {
            Ok(d) => d.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect(),
            Err(_) => Vec::new(),
        };
        firmware_dir.sort();
        Ok(Machine { package, firmware_dir })
    }
}

/// `cargo xtask install` into `prefix`: the files are the build's, and the descriptor
/// validates and names the installed image.
fn check_prefix_install(a: &Artifacts, prefix: &Path) -> Result<()> {
    let written = install::install(a, prefix, None)?;
    let data = install::data_dir(prefix);
    same_file(&data.join("pvhfw.bin"), &a.firmware)?;
    same_file(&data.join("pvhfw.elf"), &a.firmware_elf)?;
    let descriptor = data.join("firmware").join(install::DESCRIPTOR);
    if written.len() != 3 || !written.contains(&descriptor) {
        bail!("installed {written:?}");
    }
    check_descriptor(&descriptor, &data.join("pvhfw.bin"))
}

/// The descriptor at `path` validates against QEMU's schema and maps `image`.
fn check_descriptor(path: &Path, image: &Path) -> Result<()> {
    let d = Descriptor::parse(&std::fs::read_to_string(path)?).with_context(|| path.display().to_string())?;
    match d.mapping {
        Mapping::Memory { filename } if Path::new(&filename) == image => Ok(()),
        other => bail!("{} maps {other:?}, not {}", path.display(), image.display()),
    }
}

fn same_file(installed: &Path, built: &Path) -> Result<()> {
    if std::fs::read(installed)? != std::fs::read(built)? {
        bail!("{} differs from {}", installed.display(), built.display());
    }
    Ok(())
}

/// Builds the package twice in different places and compares the bytes; checks what it
/// holds. Returns one of the two.
fn reproducible_package(a: &Artifacts, dir: &Path) -> Result<PathBuf> {
    let first = deb::package(a, &dir.join("stage-1"), &dir.join("deb-1"))?;
    let second = deb::package(a, &dir.join("stage-2"), &dir.join("deb-2"))?;
    if std::fs::read(&first)? != std::fs::read(&second)? {
        bail!("two builds differ: {} and {}", first.display(), second.display());
    }
    let listing = Command::new("dpkg-deb").arg("--contents").arg(&first).checked_stdout()?;
    let mut files = Vec::new();
    for line in listing.lines() {
        // drwxr-xr-x root/root 0 2026-12-03 06:22 ./usr/share/qemu/
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != 6 || f[1] != "root/root" {
            bail!("unexpected member: {line}");
        }
        if !f[0].starts_with('d') {
            files.push(f[5].to_string());
        }
    }
    let want = [
        "./usr/share/doc/pvhfw/copyright",
        "./usr/share/qemu/firmware/90-pvhfw.json",
        "./usr/share/qemu/pvhfw.bin",
        "./usr/share/qemu/pvhfw.elf",
    ];
    files.sort();
    if files != want {
        bail!("the package holds {files:?}, want {want:?}");
    }
    Ok(first)
}

/// After `dpkg -i`: dpkg owns the files, and they are the build's.
fn check_package_installed(a: &Artifacts) -> Result<()> {
    let listed = Command::new("dpkg").args(["-L", "pvhfw"]).checked_stdout()?;
    let descriptor = format!("/usr/share/qemu/firmware/{}", install::DESCRIPTOR);
    for f in [INSTALLED, "/usr/share/qemu/pvhfw.elf", &descriptor] {
        if !listed.lines().any(|l| l == f) {
            bail!("dpkg -L pvhfw does not list {f}");
        }
    }
    same_file(Path::new(INSTALLED), &a.firmware)?;
    same_file(Path::new("/usr/share/qemu/pvhfw.elf"), &a.firmware_elf)?;
    check_descriptor(Path::new(&descriptor), Path::new(INSTALLED))
}

/// `dpkg ARGS what`, waiting for dpkg's lock while another apt or dpkg holds it.
fn dpkg(args: &[&str], what: &Path) -> Result<()> {
    for _ in 0..60 {
        let out = Command::new("dpkg").args(args).arg(what).env("DEBIAN_FRONTEND", "noninteractive").output()?;
        if out.status.success() {
            return Ok(());
        }
        let err = String::from_utf8_lossy(&out.stderr);
        if !err.contains("lock") {
            bail!("dpkg {} {} failed: {err}", args.join(" "), what.display());
        }
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
    Err(anyhow!("dpkg's lock stayed taken for two minutes (dpkg {} {})", args.join(" "), what.display()))
}
