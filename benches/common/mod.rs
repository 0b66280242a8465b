//! What the benchmarks share: run the real `rdbt` binary and read the
//! child's wall time and its own peak RSS, and generate events.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// Wall time and peak RSS (KiB) of one `rdbt` run; panics if it fails.
pub fn run_once(exe: &str, dir: &Path, args: &[&str]) -> (Duration, i64) {
    let start = Instant::now();
    let mut child = Command::new(exe)
        .args(args)
        .current_dir(dir)
        .spawn()
        .expect("spawn rdbt");
    let (status, peak) = wait_with_peak_rss(&mut child);
    let elapsed = start.elapsed();
    assert!(
        status.success(),
        "rdbt {args:?} failed in {}",
        dir.display()
    );
    (elapsed, peak)
}

/// Waits for `child`; returns its exit status and its own peak RSS in KiB,
/// the kernel's high-water mark of its memory (`VmHWM` in
/// /proc/<pid>/status) read every 10 ms until it exits. Not wait4's
/// `ru_maxrss`: Linux carries the parent's high-water mark into a forked
/// child's, so whatever the benchmark itself holds (the events it read,
/// the in-process mock Kafka cluster) would be charged to every child. A
/// peak reached in the child's last 10 ms can be missed.
pub fn wait_with_peak_rss(child: &mut Child) -> (ExitStatus, i64) {
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    // The exit is looked for every millisecond, so wall times are not
    // rounded up to the 10 ms between memory readings (the benchmarks'
    // figures were, before 2026-12-04).
    let mut tick: u64 = 0;
    loop {
        if let Some(status) = child.try_wait().expect("wait for rdbt") {
            return (status, peak);
        }
        if tick.is_multiple_of(10)
            && let Some(hwm) = std::fs::read_to_string(&status_file)
                .ok()
                .and_then(|s| vm_hwm_kib(&s))
        {
            peak = peak.max(hwm);
        }
        std::thread::sleep(Duration::from_millis(1));
        tick += 1;
    }
}

fn vm_hwm_kib(status: &str) -> Option<i64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// `rdbt produce --customers N -o <events>`: the generator's NDJSON.
pub fn produce_events(exe: &str, events: &Path, customers: u64) {
    let status = Command::new(exe)
        .args(["produce", "--customers", &customers.to_string(), "-o"])
        .arg(events)
        .status()
        .expect("produce");
    assert!(status.success(), "rdbt produce failed");
}
