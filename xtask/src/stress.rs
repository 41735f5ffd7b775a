//! `cargo xtask stress`: many boots of the test kernel (PVH ELF and bzImage, each handover
//! checked as in the tests) one after the other and side by side, under TCG and, where
//! `/dev/kvm` exists, KVM; and Debian's kernel to init under TCG. Counts failures and prints
//! each configuration's boot times (QEMU start to exit): min, median, p95, max.

use crate::build::{self, Artifacts};
use crate::debian::{self, Release};
use crate::qemu::{Qemu, Version};
use crate::tests::{checked_boot, Check};
use crate::Result;
use anyhow::bail;
use std::time::{Duration, Instant};

pub struct Options {
    pub sequential: usize,
    pub concurrent: usize,
    /// Debian boots, half PVH `vmlinux`, half bzImage `vmlinuz`.
    pub debian: usize,
}

/// A boot under TCG with 8 QEMUs on 2 cores takes many times its usual second.
const TIMEOUT: u64 = 300;

/// One boot: run, check, time.
fn boot(q: Qemu, check: &Check) -> (Duration, std::result::Result<(), String>) {
    let start = Instant::now();
    let verdict = q
        .run()
        .map_err(|e| format!("{e:#}"))
        .and_then(|o| check(&o).map_err(|e| format!("{e} (log: {})", o.log.display())));
    (start.elapsed(), verdict)
}

/// Failures and times of one configuration's boots.
#[derive(Default)]
struct Tally {
    times: Vec<Duration>,
    failures: Vec<String>,
}

impl Tally {
    fn add(&mut self, (time, verdict): (Duration, std::result::Result<(), String>)) {
        self.times.push(time);
        if let Err(e) = verdict {
            self.failures.push(e);
        }
    }

    fn report(&mut self, what: &str) -> usize {
        self.times.sort();
        let at = |q: f64| self.times[((self.times.len() - 1) as f64 * q).round() as usize].as_secs_f64();
        let status = if self.failures.is_empty() { "ok  " } else { "FAIL" };
        println!(
            "{status} {what}: {} boots, {} failed; seconds min {:.2} median {:.2} p95 {:.2} max {:.2}",
            self.times.len(),
            self.failures.len(),
            at(0.0),
            at(0.5),
            at(0.95),
            at(1.0)
        );
        for f in self.failures.iter().take(5) {
            println!("     {f}");
        }
        self.failures.len()
    }
}

/// `n` boots made by `make(i)`, `parallel` at a time.
fn boots(n: usize, parallel: usize, make: &(dyn Fn(usize) -> (Qemu, Check) + Sync)) -> Tally {
    let tally = std::sync::Mutex::new(Tally::default());
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..parallel.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let (q, check) = make(i);
                let result = boot(q.timeout(TIMEOUT), &check);
                tally.lock().expect("no poisoning").add(result);
            });
        }
    });
    tally.into_inner().expect("no poisoning")
}

/// The stress runs on QEMU `v`.
pub fn run(v: Version, o: &Options) -> Result<()> {
    v.ensure_installed()?;
    let a = build::build()?;
    let mut failed = 0;
    let kvm = std::path::Path::new("/dev/kvm").exists();
    for accel in ["tcg", "kvm"].into_iter().filter(|&x| x == "tcg" || kvm) {
        for (format, bzimage) in [("pvh", false), ("bzimage", true)] {
            let make = |mode: &'static str| {
                let a: &Artifacts = &a;
                move |i: usize| checked_boot(v, &format!("stress-{format}-{accel}-{mode}-{i}"), "pc", accel, bzimage, a)
            };
            let what = format!("{} pvhtest {format} {accel}", v.tag());
            failed += boots(o.sequential, 1, &make("seq")).report(&format!("{what} sequential"));
            let n = o.concurrent;
            failed += boots(n, n, &make("par")).report(&format!("{what} {n} concurrent"));
        }
    }
    if o.debian > 0 {
        failed += debian_boots(v, &a, o.debian)?.report("Debian 12 to init, tcg, sequential");
    }
    if failed > 0 {
        bail!("{failed} stress boot(s) failed");
    }
    Ok(())
}

/// Debian 12's kernel to init on `pc`, alternately the PVH `vmlinux` and the bzImage.
fn debian_boots(v: Version, a: &Artifacts, n: usize) -> Result<Tally> {
    let k = debian::fetch(Release::Bookworm)?;
    let make =
        |i: usize| -> (Qemu, Check) {
            let mut k = k.clone();
            if i % 2 == 1 {
                k.vmlinux = k.bzimage.clone();
            }
            let q = crate::linux::boot(v, &format!("stress-debian-{i}"), "pc", &a.firmware, &k, "")
                .until("pvhfw-init: done");
            let check: Check = Box::new(|o| {
                if o.serial.contains("pvhfw-init: done") {
                    Ok(())
                } else {
                    Err("init did not report".into())
                }
            });
            (q, check)
        };
    Ok(boots(n, 1, &make))
}
