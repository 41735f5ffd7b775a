//! Running QEMU: building command lines, capturing the serial console; and the facts every QEMU
//! run of the host tool shares (machines, base arguments, devices). Which QEMU, where it and its
//! reference firmware live, and installing it: [`version`].

mod version;

pub use version::{Version, QBOOT, SEABIOS, SEABIOS_MICROVM};

use crate::cmd::Checked;
use crate::{work_dir, Result};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The machine types pvhfw supports, each once: what the benchmark compares.
pub const MACHINE_TYPES: [&str; 3] = ["pc", "q35", "microvm"];

/// The machine configurations every feature is tested on: the types, and `microvm` without
/// ACPI (CPUs from the MP table).
pub const MACHINES: [&str; 4] = [MACHINE_TYPES[0], MACHINE_TYPES[1], MACHINE_TYPES[2], "microvm,acpi=off"];

/// The GUID tests give `-device vmgenid` (and the `pc-vmgenid-smp4` fixtures were captured
/// with).
pub const VMGENID_GUID: &str = "324e6eaf-d1d1-4bf6-bf41-b9bb6c91fb87";

/// The exit device `pvhtest` (and the benchmark's null firmware) write to at port 0xf4 to end
/// a run: QEMU exits with status `value << 1 | 1`.
pub const DEBUG_EXIT: [&str; 2] = ["-device", "isa-debug-exit,iobase=0xf4,iosize=4"];

/// What every QEMU run starts with: `machine`, headless, without default devices or monitor.
pub fn base_args(machine: &str) -> Vec<String> {
    ["-M", machine, "-nodefaults", "-display", "none", "-monitor", "none"].map(String::from).to_vec()
}

/// `-fw_cfg` arguments that hand `pvhfw.elf` a kernel, an initrd and a command line (QEMU's
/// option syntax doubles commas in a string).
pub fn chain_files(kernel: &Path, initrd: Option<&Path>, cmdline: &str) -> Vec<String> {
    let mut args = vec!["-fw_cfg".into(), format!("name=opt/org.pvhfw/kernel,file={}", kernel.display())];
    if let Some(initrd) = initrd {
        args.extend(["-fw_cfg".into(), format!("name=opt/org.pvhfw/initrd,file={}", initrd.display())]);
    }
    if !cmdline.is_empty() {
        args.extend(["-fw_cfg".into(), format!("name=opt/org.pvhfw/cmdline,string={}", cmdline.replace(',', ",,"))]);
    }
    args
}

/// The system QEMU's (7.2's: the one `apt` installs and a user's `-bios pvhfw.bin` meets)
/// firmware data directories in search order: those given with `-L` (`extra`), then its
/// built-in ones, as `-L help` lists them (Debian's QEMU: `/usr/share/qemu`,
/// `/usr/share/seabios`, `/usr/lib/ipxe/qemu`).
pub fn data_dirs(extra: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut c = Version::V7_2.command();
    for dir in extra {
        c.arg("-L").arg(dir);
    }
    let listed = c.args(["-L", "help"]).checked_stdout()?;
    let dirs = listed.lines().map(|l| l.trim()).filter(|l| !l.is_empty());
    // `/usr/bin/../share/qemu` reads better as `/usr/share/qemu`.
    Ok(dirs.map(|d| std::fs::canonicalize(d).unwrap_or_else(|_| PathBuf::from(d))).collect())
}

/// The file the system QEMU maps for `-bios NAME` (NAME without a slash): NAME in the working
/// directory if there is one, else the first in [`data_dirs`] (QEMU's `qemu_find_file`).
pub fn find_firmware(name: &str, extra: &[PathBuf]) -> Result<Option<PathBuf>> {
    if Path::new(name).is_file() {
        return Ok(Some(PathBuf::from(name)));
    }
    Ok(data_dirs(extra)?.into_iter().map(|d| d.join(name)).find(|p| p.is_file()))
}

/// The versioned machine type an alias such as `pc` or `q35` stands for in the system QEMU
/// (`-M help`: `pc  Standard PC (i440FX + PIIX, 1996) (alias of pc-i440fx-7.2)`); other names
/// as they are.
pub fn machine_type(alias: &str) -> Result<String> {
    let listed = Version::V7_2.command().args(["-M", "help"]).checked_stdout()?;
    let target = listed.lines().find_map(|l| {
        let (name, rest) = l.split_once(' ')?;
        (name == alias).then(|| rest.split("(alias of ").nth(1)?.strip_suffix(')').map(str::to_string))?
    });
    Ok(target.unwrap_or_else(|| alias.to_string()))
}

/// One QEMU invocation with its serial console on stdout.
pub struct Qemu {
    version: Version,
    name: String,
    args: Vec<String>,
    timeout: Duration,
    /// Stop QEMU once the console shows this (for guests that halt rather than exit).
    until: Option<String>,
    /// Time the rest of the run from when the console first shows this.
    mark: Option<String>,
    /// QEMU's working directory (a bare `-bios NAME` is looked up there first).
    cwd: Option<PathBuf>,
    /// QMP commands to send once the console shows a text ([`Qemu::qmp_when`]).
    qmp: Option<Qmp>,
}

/// QMP commands for the running machine: sent through `socket` once the console shows `when`.
#[derive(Clone)]
struct Qmp {
    when: String,
    socket: PathBuf,
    commands: Vec<String>,
}

/// How a run ended.
pub struct Outcome {
    /// QEMU's exit status; `None` if it was killed at the timeout.
    pub status: Option<i32>,
    pub serial: String,
    pub log: PathBuf,
    /// From the first appearance of the [`Qemu::mark`] text to the end of the run.
    pub after_mark: Option<Duration>,
}

impl Qemu {
    /// A headless machine of QEMU `version` without default devices ([`base_args`]), booting
    /// `bios`, its serial console on stdout. A guest reset ends QEMU. Its log is
    /// `target/xtask/logs/qemu-VERSION/NAME.log`.
    pub fn new(version: Version, name: &str, machine: &str, bios: &Path) -> Qemu {
        let q = Qemu {
            version,
            name: name.into(),
            args: base_args(machine),
            timeout: Duration::from_secs(30),
            until: None,
            mark: None,
            cwd: None,
            qmp: None,
        };
        q.arg_path("-bios", bios).args(&["-serial", "stdio", "-no-reboot"])
    }

    pub fn args<S: AsRef<str>>(mut self, args: &[S]) -> Self {
        self.args.extend(args.iter().map(|s| s.as_ref().to_string()));
        self
    }

    pub fn arg_path(mut self, flag: &str, path: &Path) -> Self {
        self.args.push(flag.into());
        self.args.push(path.display().to_string());
        self
    }

    /// Lets a guest reset restart the machine instead of ending QEMU (SeaBIOS's microvm image
    /// resets once early in every boot).
    pub fn allow_reboot(mut self) -> Self {
        self.args.retain(|a| a != "-no-reboot");
        self
    }

    pub fn timeout(mut self, secs: u64) -> Self {
        self.timeout = Duration::from_secs(secs);
        self
    }

    /// Notes when the console first shows `text`, to time the rest of the run
    /// ([`Outcome::after_mark`]).
    pub fn mark(mut self, text: &str) -> Self {
        self.mark = Some(text.into());
        self
    }

    /// Ends the run (as a timeout would, status `None`) as soon as the console shows `text`.
    pub fn until(mut self, text: &str) -> Self {
        self.until = Some(text.into());
        self
    }

    /// Sends the QMP `commands` (JSON objects) once the console shows `when`, over a socket
    /// this adds to the command line. An error answer or a dead socket ends the run.
    pub fn qmp_when(mut self, when: &str, commands: &[&str]) -> Self {
        let socket = std::env::temp_dir().join(format!("pvhfw-qmp-{}-{}.sock", self.name, std::process::id()));
        let _ = std::fs::remove_file(&socket);
        let arg = format!("unix:{},server=on,wait=off", socket.display());
        self.qmp = Some(Qmp { when: when.into(), socket, commands: commands.iter().map(|c| c.to_string()).collect() });
        self.args(&["-qmp", &arg])
    }

    /// Runs QEMU in `dir` rather than in the caller's working directory.
    pub fn current_dir(mut self, dir: &Path) -> Self {
        self.cwd = Some(dir.to_path_buf());
        self
    }

    fn command(&self) -> Command {
        let mut c = self.version.command();
        if let Some(dir) = &self.cwd {
            c.current_dir(dir);
        }
        c
    }

    pub fn command_line(&self) -> String {
        self.version.command_line(&self.args)
    }

    /// Runs with the terminal attached: serial and QEMU's monitor multiplexed on stdio
    /// (Ctrl-A X quits).
    pub fn run_interactive(&self) -> Result<std::process::ExitStatus> {
        let args: Vec<&str> = self.args.iter().map(|a| if a == "stdio" { "mon:stdio" } else { a.as_str() }).collect();
        let monitor = args.iter().position(|a| *a == "-monitor").expect("set by base_args()");
        let args: Vec<&str> =
            args.iter().enumerate().filter(|(i, _)| *i != monitor && *i != monitor + 1).map(|(_, a)| *a).collect();
        Ok(self.command().args(args).status()?)
    }

    /// Runs to exit, timeout or the `until` text, and keeps the console output in
    /// `target/xtask/logs/qemu-VERSION/NAME.log`.
    pub fn run(&self) -> Result<Outcome> {
        let mut child = self
            .command()
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let serial = Arc::new(Mutex::new(Vec::new()));
        let out = collect(child.stdout.take().expect("piped"), serial.clone());
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let err = collect(child.stderr.take().expect("piped"), stderr.clone());
        let start = Instant::now();
        let seen = |text: &str| serial.lock().expect("no poisoning").windows(text.len()).any(|w| w == text.as_bytes());
        let mut marked = None;
        let mut qmp = self.qmp.clone();
        let mut qmp_log = String::new();
        let status = loop {
            if marked.is_none() && self.mark.as_deref().is_some_and(seen) {
                marked = Some(Instant::now());
            }
            if let Some(q) = qmp.take_if(|q| seen(&q.when)) {
                if let Err(e) = send_qmp(&q, &mut qmp_log) {
                    qmp_log.push_str(&format!("QMP failed: {e:#}\n"));
                    let _ = child.kill();
                }
            }
            if let Some(s) = child.try_wait()? {
                break s.code();
            }
            if start.elapsed() > self.timeout || self.until.as_deref().is_some_and(seen) {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let after_mark = marked.map(|m| m.elapsed());
        let _ = (out.join(), err.join());
        let serial = String::from_utf8_lossy(&serial.lock().expect("no poisoning")).into_owned();
        let stderr = String::from_utf8_lossy(&stderr.lock().expect("no poisoning")).into_owned();
        let log = log_dir(self.version).join(format!("{}.log", self.name));
        std::fs::create_dir_all(log.parent().expect("has parent"))?;
        let text = format!(
            "$ {}\n--- status {status:?}\n--- stderr\n{stderr}{qmp_log}--- serial\n{serial}",
            self.command_line()
        );
        std::fs::write(&log, text)?;
        Ok(Outcome { status, serial, log, after_mark })
    }
}

/// Sends `q`'s commands over QMP, one at a time, each answered before the next; keeps the
/// exchange in `log`.
fn send_qmp(q: &Qmp, log: &mut String) -> Result<()> {
    use std::io::{BufRead, BufReader, Write};
    let stream = std::os::unix::net::UnixStream::connect(&q.socket)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    log.push_str(&format!("--- QMP\n< {line}"));
    let commands = std::iter::once(r#"{"execute":"qmp_capabilities"}"#).chain(q.commands.iter().map(String::as_str));
    for command in commands {
        (&stream).write_all(format!("{command}\n").as_bytes())?;
        log.push_str(&format!("> {command}\n"));
        // Events may come first; the answer has "return" or "error".
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            log.push_str(&format!("< {line}"));
            if line.contains("\"error\"") {
                anyhow::bail!("QMP refused {command}: {line}");
            }
            if line.contains("\"return\"") || line.is_empty() {
                break;
            }
        }
    }
    Ok(())
}

/// Where the runs of QEMU `version` keep their logs.
pub fn log_dir(version: Version) -> PathBuf {
    work_dir().join("logs").join(version.tag())
}

/// Copies everything `from` produces into `into` as it arrives.
fn collect(mut from: impl Read + Send + 'static, into: Arc<Mutex<Vec<u8>>>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = from.read(&mut buf) {
            into.lock().expect("no poisoning").extend_from_slice(&buf[..n]);
        }
    })
}

/// The host's TSC rate in kHz, for `tsc_early_khz=` on microvm (its guests cannot calibrate
/// the TSC under TCG on a loaded machine).
pub fn host_khz() -> u64 {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("cpu MHz")?.split(':').nth(1)?.trim().parse::<f64>().ok())
        .map(|mhz| (mhz * 1000.0) as u64)
        .unwrap_or(2_000_000)
}
