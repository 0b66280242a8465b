//! `cargo bench --bench incremental -- [RUNS]`: RUNS (default 1,000)
//! consecutive small incremental runs of one model (a MERGE of 10 new rows
//! each), the way `rdbt up` will commit: the time of each run (one Delta
//! commit, plus a compaction whenever the table passes 64 files), and the
//! time to read the table after the runs with and without compaction.

mod common;

use std::time::Duration;

fn project(dir: &std::path::Path) {
    std::fs::create_dir_all(dir.join("models")).expect("mkdir");
    std::fs::write(dir.join("rdbt_project.yml"), "name: incbench\n").expect("write");
    std::fs::write(
        dir.join("models/events.sql"),
        "{{ config(materialized='incremental', unique_key='id') }}\n\
         select {{ var('run', 0) }} * 10 + value as id, {{ var('run', 0) }} as run, \
         value * 1.5 as amount, 'event ' || cast(value as varchar) as label \
         from generate_series(0, 9) as t(value)",
    )
    .expect("write");
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn percentile(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// `runs` incremental runs in `dir`; the wall time of each.
fn commits(exe: &str, dir: &std::path::Path, runs: usize, env: &[(&str, &str)]) -> Vec<Duration> {
    let mut times = Vec::with_capacity(runs);
    for run in 0..runs {
        let vars = format!("{{run: {run}}}");
        let start = std::time::Instant::now();
        let status = std::process::Command::new(exe)
            .args(["run", "-q", "--threads", "1", "--vars", &vars])
            .envs(env.iter().copied())
            .current_dir(dir)
            .status()
            .expect("rdbt");
        assert!(status.success(), "run {run} failed");
        times.push(start.elapsed());
    }
    times
}

/// The best of five full reads of the table.
fn read(exe: &str, dir: &std::path::Path) -> Duration {
    (0..5)
        .map(|_| {
            common::run_once(
                exe,
                dir,
                &[
                    "show",
                    "-q",
                    "--inline",
                    "select count(*), sum(amount), max(label) from main.events",
                ],
            )
            .0
        })
        .min()
        .unwrap_or_default()
}

fn files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("target/warehouse/main/events"))
        .map(|d| d.filter_map(Result::ok).count().saturating_sub(1))
        .unwrap_or(0)
}

fn main() {
    let runs: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1000);
    let exe = env!("CARGO_BIN_EXE_rdbt");

    // As users run it: compaction whenever the table passes 64 files.
    let auto = tempfile::tempdir().expect("dir");
    project(auto.path());
    let times = commits(exe, auto.path(), runs, &[]);
    println!(
        "{runs} incremental runs, auto-compaction: per run median {:.1} ms, p95 {:.1} ms, max {:.1} ms; total {:.1} s",
        median(times.clone()).as_secs_f64() * 1000.0,
        percentile(times.clone(), 0.95).as_secs_f64() * 1000.0,
        times
            .iter()
            .max()
            .copied()
            .unwrap_or_default()
            .as_secs_f64()
            * 1000.0,
        times.iter().sum::<Duration>().as_secs_f64(),
    );
    println!(
        "  read after: {:.1} ms",
        read(exe, auto.path()).as_secs_f64() * 1000.0
    );

    // Without compaction, then compacted by `rdbt vacuum`.
    let never = tempfile::tempdir().expect("dir");
    project(never.path());
    let times = commits(
        exe,
        never.path(),
        runs,
        &[("RDBT_COMPACT_AFTER_FILES", "0")],
    );
    println!(
        "{runs} incremental runs, no compaction: per run median {:.1} ms, p95 {:.1} ms",
        median(times.clone()).as_secs_f64() * 1000.0,
        percentile(times, 0.95).as_secs_f64() * 1000.0,
    );
    let before = read(exe, never.path());
    let (compact, _) = common::run_once(exe, never.path(), &["vacuum", "-q"]);
    let after = read(exe, never.path());
    println!(
        "  read before compaction: {:.1} ms; `rdbt vacuum` (compaction) {:.2} s; read after: {:.1} ms ({} files in the folder, old ones kept for 168 h)",
        before.as_secs_f64() * 1000.0,
        compact.as_secs_f64(),
        after.as_secs_f64() * 1000.0,
        files(never.path()),
    );
}
