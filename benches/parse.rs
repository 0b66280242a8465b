//! Parse benchmark (issue 2): generates synthetic projects and times the real
//! `rdbt` binary on them, reporting wall time and peak RSS.
//!
//! Run: `cargo bench --bench parse` (optionally `-- 1000 10000 100000`).
//! Measures, per size: the first `rdbt parse` of a fresh checkout (no
//! `target/` yet), a cold `rdbt parse` (no cache) repeated as a developer
//! repeats it, a no-change re-parse (partial parsing), and `rdbt --version`;
//! each the median of 9 runs (5 at 100,000 models), with the fastest run
//! beside it: on a shared machine the spread between runs can exceed the
//! differences being measured.
//!
//! Every run starts with nothing left for the kernel to write back
//! (`sync` before it, outside the timing): the generator's 100,000 fresh
//! files, and each run's manifest (560 MB at 100,000 models), would
//! otherwise be written out by the kernel's flusher during the next run,
//! on one of the machine's two cores. A developer's parses are seconds
//! apart, long enough for that writeback to finish between them.

mod common;

use std::path::Path;
use std::time::Duration;

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1_000, 10_000, 100_000]
    } else {
        sizes
    };
    let exe = env!("CARGO_BIN_EXE_rdbt");
    let version = median_run(exe, Path::new("."), &["--version"], 11);
    println!(
        "rdbt --version: {:.2} ms wall (fastest {:.2} ms), {:.1} MB peak RSS",
        ms(version.wall),
        ms(version.fastest),
        mb(version.rss)
    );
    for n in sizes {
        let dir = tempfile::tempdir().expect("temp dir");
        rdbt::synthetic::write_project(dir.path(), rdbt::synthetic::SyntheticSpec::new(n))
            .expect("generate");
        // As after a checkout: files written this very second are never
        // trusted by the no-change check, so the generator's would not be.
        age_files(dir.path());
        let runs = if n >= 100_000 { 5 } else { 9 };
        let first = median_run(
            exe,
            dir.path(),
            &["parse", "--no-partial-parse", "--quiet"],
            1,
        );
        let cold = median_run(
            exe,
            dir.path(),
            &["parse", "--no-partial-parse", "--quiet"],
            runs,
        );
        // Prime the cache, then measure re-parses with nothing changed.
        common::run_once(exe, dir.path(), &["parse", "--quiet"]);
        let warm = median_run(exe, dir.path(), &["parse", "--quiet"], runs);
        println!(
            "{n:>7} models: first parse of a checkout {:>8.1} ms, {:>6.1} MB peak RSS",
            ms(first.wall),
            mb(first.rss)
        );
        println!(
            "{n:>7} models: cold parse {:>8.1} ms (fastest {:>8.1}), {:>6.1} MB peak RSS | no-change re-parse {:>8.1} ms (fastest {:>8.1}), {:>6.1} MB",
            ms(cold.wall),
            ms(cold.fastest),
            mb(cold.rss),
            ms(warm.wall),
            ms(warm.fastest),
            mb(warm.rss)
        );
    }
}

fn age_files(dir: &Path) {
    let old = std::time::SystemTime::now() - Duration::from_secs(60);
    for entry in walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
    {
        if entry.file_type().is_file()
            && let Ok(f) = std::fs::File::options().write(true).open(entry.path())
        {
            let _ = f.set_modified(old);
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mb(kb: i64) -> f64 {
    kb as f64 / 1024.0
}

/// The median run's wall time and peak RSS, and the fastest run's time.
struct Runs {
    wall: Duration,
    rss: i64,
    fastest: Duration,
}

fn median_run(exe: &str, dir: &Path, args: &[&str], runs: usize) -> Runs {
    let mut samples: Vec<(Duration, i64)> = (0..runs)
        .map(|_| {
            // SAFETY: sync(2) takes no arguments and cannot fail.
            unsafe { libc::sync() };
            common::run_once(exe, dir, args)
        })
        .collect();
    samples.sort_by_key(|s| s.0);
    let (wall, rss) = samples[samples.len() / 2];
    Runs {
        wall,
        rss,
        fastest: samples[0].0,
    }
}
