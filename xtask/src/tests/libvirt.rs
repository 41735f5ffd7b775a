//! pvhfw under a real libvirt (`qemu:///system`, domain type `qemu`, i.e. TCG: the software
//! KVM here cannot run Linux), booting Debian 12's kernel to the busybox init's report:
//!
//! - `libvirt-pc`, `libvirt-q35`: `<loader type='rom'>/usr/share/qemu/pvhfw.bin</loader>` (the
//!   package's image) with `<kernel>`, `<initrd>` and `<cmdline>`;
//! - `libvirt-firmware-bios`: `<os firmware='bios'>` without a loader: libvirt's firmware
//!   auto-selection must pick the loader that QEMU's descriptors say (the first `bios` one by
//!   file name; on Debian 12, whose SeaBIOS ships no descriptor, pvhfw's).
//!
//! Each domain is transient (`virsh create`): it ends with the guest's `poweroff -f` and must
//! then be gone. Its serial console goes to a file. The set-up installs `libvirt-daemon-system`
//! with apt if it is missing, starts `virtlogd` and `libvirtd` if they are not running (and
//! stops them again), and puts the kernel and initrd where libvirt's `libvirt-qemu` user can
//! read them.

use super::{Case, Run, Verdict};
use crate::apt;
use crate::cmd::Checked;
use crate::debian::{self, DebianKernel, HELLO_TEXT};
use crate::qemu::{self, Outcome};
use crate::{work_dir, Result};
use anyhow::{bail, Context};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub(super) const NAMES: [&str; 3] = ["libvirt-pc", "libvirt-q35", "libvirt-firmware-bios"];

const URI: &str = "qemu:///system";

/// The user libvirt runs QEMU as (Debian's `qemu.conf` default).
const QEMU_USER: &str = "libvirt-qemu";

/// Where libvirt keeps each domain's QEMU log (command line, start and end).
const QEMU_LOGS: &str = "/var/log/libvirt/qemu";

/// Where libvirt reads firmware descriptors for the system daemon, general to specific.
const DESCRIPTOR_DIRS: [&str; 2] = ["/usr/share/qemu/firmware", "/etc/qemu/firmware"];

/// A libvirt ready for the cases; dropping it puts the machine back as it was.
pub(super) struct Libvirt {
    /// Daemons the set-up started: name and process ID, stopped again at the end.
    started: Vec<(&'static str, u32)>,
    /// `/dev/kvm`'s owner, group and mode, if the set-up changed them.
    kvm: Option<(u32, u32, u32)>,
    /// A world-readable directory holding the kernel, the initrd and the consoles.
    dir: PathBuf,
}

impl Libvirt {
    pub(super) fn setup() -> Result<Libvirt> {
        ensure_installed()?;
        let dir = std::env::temp_dir().join(format!("pvhfw-libvirt-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir)?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
        let mut lv = Libvirt { started: Vec::new(), kvm: None, dir };
        // Before libvirtd starts: it probes QEMU's capabilities then.
        lv.kvm = open_kvm()?;
        for (daemon, pidfile) in [("virtlogd", "/run/virtlogd.pid"), ("libvirtd", "/run/libvirtd.pid")] {
            if let Some(pid) = start(daemon, pidfile)? {
                lv.started.push((daemon, pid));
            }
        }
        let start = Instant::now();
        while virsh(&["version"]).is_err() {
            if start.elapsed() > Duration::from_secs(30) {
                bail!("libvirtd does not answer on {URI}: {:#}", virsh(&["version"]).unwrap_err());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(lv)
    }

    /// The domains, with `loader` as their ROM and Debian's kernel `k`.
    pub(super) fn cases(&self, loader: &Path, k: &DebianKernel) -> Result<Vec<Case>> {
        // Copies libvirt may relabel for its QEMU user while a domain runs.
        let kernel = self.dir.join("vmlinux");
        let initrd = self.dir.join("initrd.cpio");
        for (from, to) in [(&k.vmlinux, &kernel), (&k.initrd, &initrd)] {
            std::fs::copy(from, to)?;
            std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o644))?;
        }
        let pc = qemu::machine_type("pc")?;
        let auto = auto_selected_bios(&pc);
        eprintln!(
            "xtask: libvirt's firmware='bios' on {pc} should pick {}",
            auto.as_ref().map_or("no loader (QEMU's default BIOS)".into(), |(d, f)| format!("{} ({})", f.display(), d))
        );
        let mut cases = Vec::new();
        for name in NAMES {
            let (machine, explicit) = match name {
                "libvirt-pc" => ("pc", true),
                "libvirt-q35" => ("q35", true),
                _ => ("pc", false),
            };
            let domain = format!("pvhfw-test-{}-{}", name.trim_start_matches("libvirt-"), std::process::id());
            let expect_bios = if explicit { Some(loader.to_path_buf()) } else { auto.as_ref().map(|(_, f)| f.clone()) };
            let pvhfw = expect_bios.as_deref() == Some(loader);
            let token = format!("pvhfw.token={domain}");
            let serial = self.dir.join(format!("{domain}.serial"));
            let xml = domain_xml(&Domain {
                name: &domain,
                machine,
                loader: explicit.then_some(loader),
                kernel: &kernel,
                initrd: &initrd,
                cmdline: &format!("console=ttyS0 panic=-1 {token}"),
                serial: &serial,
            });
            let xml_path = self.dir.join(format!("{domain}.xml"));
            std::fs::write(&xml_path, &xml)?;
            let case = name.to_string();
            let run = move || boot(&case, &domain, &xml_path, &serial, expect_bios.as_deref());
            let check = move |o: &Outcome| check_report(o, &token, pvhfw);
            cases.push(Case { name: name.into(), run: Run::Host(Box::new(run)), check: Box::new(check) });
        }
        Ok(cases)
    }
}

impl Drop for Libvirt {
    fn drop(&mut self) {
        for (daemon, pid) in self.started.iter().rev() {
            if let Err(e) = stop(*pid) {
                eprintln!("xtask: could not stop the {daemon} the test started (pid {pid}): {e:#}");
            }
        }
        if let Some((uid, gid, mode)) = self.kvm {
            let restored = std::os::unix::fs::chown("/dev/kvm", Some(uid), Some(gid))
                .and_then(|()| std::fs::set_permissions("/dev/kvm", std::fs::Permissions::from_mode(mode)));
            if let Err(e) = restored {
                eprintln!("xtask: could not restore /dev/kvm to {uid}:{gid} mode {mode:o}: {e}");
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A transient domain booting a kernel with pvhfw, as docs/install.md shows it.
pub(super) struct Domain<'a> {
    pub name: &'a str,
    /// `pc` or `q35` (libvirt resolves them to the newest versioned type).
    pub machine: &'a str,
    /// `<loader type='rom'>`; without one, `<os firmware='bios'>` lets libvirt choose.
    pub loader: Option<&'a Path>,
    pub kernel: &'a Path,
    pub initrd: &'a Path,
    pub cmdline: &'a str,
    /// The file the serial console is written to.
    pub serial: &'a Path,
}

pub(super) fn domain_xml(d: &Domain) -> String {
    let (os, loader) = match d.loader {
        Some(l) => ("<os>", format!("\n    <loader type='rom'>{}</loader>", l.display())),
        None => ("<os firmware='bios'>", String::new()),
    };
    let (name, machine, cmdline) = (d.name, d.machine, d.cmdline);
    let (kernel, initrd, serial) = (d.kernel.display(), d.initrd.display(), d.serial.display());
    format!(
        "<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>512</memory>
  <vcpu>1</vcpu>
  {os}
    <type arch='x86_64' machine='{machine}'>hvm</type>{loader}
    <kernel>{kernel}</kernel>
    <initrd>{initrd}</initrd>
    <cmdline>{cmdline}</cmdline>
  </os>
  <features>
    <acpi/>
  </features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <serial type='file'>
      <source path='{serial}'/>
      <target port='0'/>
    </serial>
    <memballoon model='none'/>
  </devices>
</domain>
"
    )
}

/// `virsh -c qemu:///system ARGS`: its output, or its error message.
fn virsh(args: &[&str]) -> Result<String> {
    Command::new("virsh").args(["-c", URI]).args(args).checked_stdout()
}

/// Creates the domain, waits until it has gone (the guest powers off) or `TIMEOUT` passed, and
/// gathers its console. Fails if it is still listed afterwards or if libvirt gave QEMU
/// another `-bios` than `expect_bios`.
fn boot(case: &str, domain: &str, xml: &Path, serial: &Path, expect_bios: Option<&Path>) -> Result<Outcome> {
    const TIMEOUT: Duration = Duration::from_secs(240);
    let log = work_dir().join("logs").join(format!("{case}.log"));
    std::fs::create_dir_all(log.parent().expect("has parent"))?;
    let qemu_log_path = Path::new(QEMU_LOGS).join(format!("{domain}.log"));
    let _ = std::fs::remove_file(&qemu_log_path);
    virsh(&["create", &xml.display().to_string()])?;
    let start = Instant::now();
    let mut timed_out = false;
    while virsh(&["domstate", domain]).is_ok() {
        if start.elapsed() > TIMEOUT {
            let _ = virsh(&["destroy", domain]);
            timed_out = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let listed = virsh(&["list", "--all", "--name"])?;
    let qemu_log = std::fs::read_to_string(&qemu_log_path).unwrap_or_default();
    let _ = std::fs::remove_file(&qemu_log_path);
    let console = std::fs::read_to_string(serial).unwrap_or_default();
    let text = format!(
        "$ virsh -c {URI} create {}\n{}--- {}\n{qemu_log}--- serial\n{console}",
        xml.display(),
        std::fs::read_to_string(xml)?,
        qemu_log_path.display()
    );
    std::fs::write(&log, text)?;
    let fail = |e: String| format!("{e}\n      log: {}", log.display());
    if listed.lines().any(|l| l.trim() == domain) {
        bail!(fail(format!("domain {domain} is still listed after it ended")));
    }
    // libvirt's QEMU command line, one option per line: `-bios PATH \`.
    let bios =
        qemu_log.lines().find_map(|l| Some(PathBuf::from(l.trim().strip_prefix("-bios ")?.trim_end_matches(" \\"))));
    if bios.as_deref() != expect_bios {
        bail!(fail(format!("libvirt gave QEMU -bios {bios:?}, want {expect_bios:?}")));
    }
    let status = match timed_out {
        true => None,
        false if qemu_log.contains("shutting down, reason=shutdown") => Some(0),
        false => Some(1),
    };
    Ok(Outcome { status, serial: console, log, after_mark: None })
}

/// Init's report: the command line, the initrd's file, DMI from pvhfw (when pvhfw booted it),
/// and the guest's own power-off ending the domain.
fn check_report(o: &Outcome, token: &str, pvhfw: bool) -> Verdict {
    let report = debian::init_report(&o.serial);
    let get = |k: &str| report.get(k).map(String::as_str).unwrap_or_default();
    if !get("cmdline").split(' ').any(|w| w == token) {
        return Err(format!("init saw command line {:?}, want it to hold {token:?}", get("cmdline")));
    }
    let mut want = vec![("file", HELLO_TEXT), ("sys_vendor", "QEMU"), ("done", "yes")];
    if pvhfw {
        want.push(("bios_vendor", "pvhfw"));
    }
    for (key, value) in want {
        if get(key) != value {
            return Err(format!("init reported {key}: {:?}, want {value:?}", get(key)));
        }
    }
    if o.status != Some(0) {
        return Err(format!("the domain did not end by the guest's power-off (status {:?})", o.status));
    }
    Ok(())
}

/// Installs libvirt's daemons and `virsh` with apt if they are missing. Without systemd
/// (containers, CI) the SysV flavour, which does not pull systemd in.
fn ensure_installed() -> Result<()> {
    let out = Command::new("dpkg-query").args(["-W", "-f", "${Status}", "libvirt-daemon-system"]).output()?;
    if out.stdout == b"install ok installed" && Path::new("/usr/bin/virsh").exists() {
        return Ok(());
    }
    eprintln!("xtask: installing libvirt through apt");
    let mut packages = vec!["libvirt-daemon-system", "libvirt-clients"];
    if !Path::new("/run/systemd/system").exists() {
        packages.push("libvirt-daemon-system-sysv");
    }
    apt::system(&["update", "-qq"])?;
    let mut args = vec!["install", "-y", "-qq", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=120"];
    args.extend(packages);
    apt::system(&args)
}

/// Starts `daemon` unless its pidfile names a live process of that name; the new process's ID.
fn start(daemon: &'static str, pidfile: &str) -> Result<Option<u32>> {
    if running(daemon, pidfile).is_some() {
        return Ok(None);
    }
    if Path::new("/run/systemd/system").exists() {
        // systemd starts it (and stops it) itself.
        Command::new("systemctl").args(["start", daemon]).checked()?;
        return Ok(None);
    }
    // As an init system would start it: not with the test's environment (cargo's variables,
    // LD_LIBRARY_PATH), which libvirtd would hand on to every QEMU.
    Command::new(daemon)
        .arg("-d")
        .env_clear()
        .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .stdin(Stdio::null())
        .checked()?;
    let start = Instant::now();
    loop {
        if let Some(pid) = running(daemon, pidfile) {
            return Ok(Some(pid));
        }
        if start.elapsed() > Duration::from_secs(10) {
            bail!("{daemon} started but wrote no {pidfile}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn running(daemon: &str, pidfile: &str) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(pidfile).ok()?.trim().parse().ok()?;
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    (comm.trim() == daemon).then_some(pid)
}

/// Ends a daemon the test started and waits for it to go.
fn stop(pid: u32) -> Result<()> {
    Command::new("kill").arg(pid.to_string()).checked()?;
    let start = Instant::now();
    while Path::new(&format!("/proc/{pid}")).exists() {
        if start.elapsed() > Duration::from_secs(15) {
            bail!("still running 15 s after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Lets libvirt's QEMU user open `/dev/kvm` as Debian's udev rule would (`0660 root:kvm`)
/// where it cannot; the previous owner, group and mode, to restore.
///
/// Domains of type `qemu` never use KVM, but libvirt 9.0 decides at every domain start whether
/// its cached QEMU capabilities are still valid, and caps probed with KVM present count as
/// stale while its QEMU user cannot open `/dev/kvm` ("KVM was enabled when probing ..., but it
/// is not available now"): it then probes QEMU again, about ten times, 40 s per `virsh create`.
fn open_kvm() -> Result<Option<(u32, u32, u32)>> {
    let Ok(meta) = std::fs::metadata("/dev/kvm") else { return Ok(None) };
    let id = |flag: &str, who: &str| -> Result<Vec<u32>> {
        let out = Command::new("id").args([flag, who]).checked_stdout()?;
        Ok(out.split_whitespace().filter_map(|n| n.parse().ok()).collect())
    };
    let uid = id("-u", QEMU_USER)?.first().copied().with_context(|| format!("no user {QEMU_USER}"))?;
    let groups = id("-G", QEMU_USER)?;
    let mode = meta.mode() & 0o7777;
    let can = (meta.uid() == uid && mode & 0o600 == 0o600)
        || (groups.contains(&meta.gid()) && mode & 0o060 == 0o060)
        || mode & 0o006 == 0o006;
    if can {
        return Ok(None);
    }
    let out = Command::new("getent").args(["group", "kvm"]).output()?;
    let kvm_gid = String::from_utf8(out.stdout)?.split(':').nth(2).and_then(|g| g.trim().parse().ok());
    let previous = (meta.uid(), meta.gid(), mode);
    match kvm_gid.filter(|g| groups.contains(g)) {
        Some(gid) => {
            std::os::unix::fs::chown("/dev/kvm", None, Some(gid))?;
            std::fs::set_permissions("/dev/kvm", std::fs::Permissions::from_mode(mode | 0o060))?;
        }
        None => std::fs::set_permissions("/dev/kvm", std::fs::Permissions::from_mode(mode | 0o006))?,
    }
    eprintln!("xtask: /dev/kvm opened to {QEMU_USER} for the libvirt tests (restored afterwards)");
    Ok(Some(previous))
}

/// What libvirt's firmware auto-selection gives `<os firmware='bios'>` on `machine_type`: the
/// first descriptor by file name across [`DESCRIPTOR_DIRS`] (a more specific directory's file
/// replacing one of the same name, an empty one hiding it) with the `bios` interface, a
/// memory mapping and a target `x86_64` whose machines match; the descriptor's name and image.
fn auto_selected_bios(machine_type: &str) -> Option<(String, PathBuf)> {
    let mut files = std::collections::BTreeMap::new();
    for dir in DESCRIPTOR_DIRS {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".json") {
                files.insert(name, e.path());
            }
        }
    }
    files.into_iter().find_map(|(name, path)| {
        let d: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
        let bios = d["interface-types"].as_array()?.iter().any(|i| i == "bios");
        let memory = d["mapping"]["device"] == "memory";
        let target = d["targets"].as_array()?.iter().any(|t| {
            t["architecture"] == "x86_64"
                && t["machines"]
                    .as_array()
                    .is_some_and(|ms| ms.iter().any(|m| m.as_str().is_some_and(|m| glob(m, machine_type))))
        });
        if !(bios && memory && target) {
            return None;
        }
        Some((name, PathBuf::from(d["mapping"]["filename"].as_str()?)))
    })
}

/// Whether `text` matches the shell pattern `pattern` (`*` and `?`; what descriptors use).
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.chars().next() {
        None => text.is_empty(),
        Some('*') => (0..=text.len()).filter(|&i| text.is_char_boundary(i)).any(|i| glob(&pattern[1..], &text[i..])),
        Some(c) => {
            let mut t = text.chars();
            t.next().is_some_and(|tc| c == '?' || c == tc) && glob(&pattern[c.len_utf8()..], t.as_str())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_as_descriptors_use_them() {
        assert!(glob("pc-i440fx-*", "pc-i440fx-7.2"));
        assert!(glob("pc-q35-*", "pc-q35-10.0"));
        assert!(!glob("pc-q35-*", "pc-i440fx-7.2"));
        assert!(glob("microvm", "microvm") && !glob("microvm", "microvm2"));
        assert!(glob("pc-?35-*", "pc-q35-") && glob("*", ""));
    }

    #[test]
    fn domain_xml_names_loader_or_asks_for_a_bios() {
        let d = Domain {
            name: "n",
            machine: "q35",
            loader: Some(Path::new("/usr/share/qemu/pvhfw.bin")),
            kernel: Path::new("/k"),
            initrd: Path::new("/i"),
            cmdline: "console=ttyS0",
            serial: Path::new("/s"),
        };
        let xml = domain_xml(&d);
        assert!(xml.contains("<os>\n    <type arch='x86_64' machine='q35'>hvm</type>\n    <loader type='rom'>/usr/share/qemu/pvhfw.bin</loader>\n"));
        let auto = domain_xml(&Domain { loader: None, ..d });
        assert!(auto.contains("<os firmware='bios'>") && !auto.contains("<loader"));
    }
}
