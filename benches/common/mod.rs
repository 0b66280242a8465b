//! What both benchmarks need: run the real `rdbt` binary once and read the
//! child's wall time and peak RSS.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Wall time and peak RSS (KiB) of one `rdbt` run; panics if it fails.
pub fn run_once(exe: &str, dir: &Path, args: &[&str]) -> (Duration, i64) {
    let start = Instant::now();
    let mut child = Command::new(exe)
        .args(args)
        .current_dir(dir)
        .spawn()
        .expect("spawn rdbt");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child with valid out-pointers.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let elapsed = start.elapsed();
    assert_eq!(r, pid, "wait4 failed");
    // Reaped by wait4 above; this only updates the handle.
    let _ = child.try_wait();
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "rdbt {args:?} failed in {}",
        dir.display()
    );
    (elapsed, usage.ru_maxrss)
}
