//! Static analysis benchmark (issue 5): `rdbt compile` of the synthetic
//! project with and without static analysis, and the analysis phase alone
//! (planning every model and test against its parents' schemas).
//!
//! Run: `cargo bench --bench analysis` (optionally `-- 1000 10000`).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![10_000]
    } else {
        sizes
    };
    let exe = env!("CARGO_BIN_EXE_rdbt");
    for n in sizes {
        let dir = tempfile::tempdir().expect("temp dir");
        rdbt::synthetic::write_project(dir.path(), rdbt::synthetic::SyntheticSpec::new(n))
            .expect("generate");
        // Warm the partial-parse cache so the runs differ only in analysis.
        common::run_once(exe, dir.path(), &["parse", "--quiet"]);
        let (off, _) = median(
            exe,
            dir.path(),
            &["compile", "--quiet", "--static-analysis", "off"],
        );
        let (on, rss) = median(exe, dir.path(), &["compile", "--quiet"]);
        let phase = analysis_phase(exe, dir.path());
        println!(
            "{n:>7} models: compile {:>8.1} ms without analysis, {:>8.1} ms with ({:>6.1} MB peak RSS); analysis phase {:>8.1} ms",
            ms(off),
            ms(on),
            rss as f64 / 1024.0,
            phase
        );
    }
}

fn median(exe: &str, dir: &Path, args: &[&str]) -> (Duration, i64) {
    let mut runs: Vec<(Duration, i64)> = (0..3).map(|_| common::run_once(exe, dir, args)).collect();
    runs.sort();
    runs[1]
}

/// The "static analysis" phase as `RDBT_TIMINGS=1` reports it, median of 3.
fn analysis_phase(exe: &str, dir: &Path) -> f64 {
    let mut phases: Vec<f64> = (0..3)
        .map(|_| {
            let out = Command::new(exe)
                .args(["compile", "--quiet"])
                .env("RDBT_TIMINGS", "1")
                .current_dir(dir)
                .output()
                .expect("run rdbt");
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .find_map(|l| l.strip_prefix("timing: static analysis: "))
                // "1380.2 ms (250 MB resident)": the number comes first.
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .unwrap_or(f64::NAN)
        })
        .collect();
    phases.sort_by(f64::total_cmp);
    phases[1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
