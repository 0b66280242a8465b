//! `RDBT_TIMINGS=1`: how long each phase of a command took, for profiling.

/// `RDBT_TIMINGS=1` prints how long each phase took and the memory held
/// after it, for profiling.
pub fn phase(name: &str, started: std::time::Instant) {
    if std::env::var_os("RDBT_TIMINGS").is_some() {
        eprintln!(
            "timing: {name}: {:.1} ms, CPU {:.1} ms{}",
            started.elapsed().as_secs_f64() * 1000.0,
            process_cpu_ms(),
            resident_memory().map_or(String::new(), |mb| format!(" ({mb} MB resident)"))
        );
    }
}

/// The process's resident memory in MB, where /proc tells it (in kB, so
/// the page size does not matter).
fn resident_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

/// The CPU time all the process's threads have used so far, in ms.
fn process_cpu_ms() -> f64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) };
    now.tv_sec as f64 * 1000.0 + now.tv_nsec as f64 / 1e6
}
