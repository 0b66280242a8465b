//! Execution benchmark (issue 3), timing the real `rdbt` binary:
//! - seed loading: a 1,000,000-row CSV to Parquet, in rows per second;
//! - per-model overhead: the synthetic project (`-- N`, default 10,000
//!   models) built as views, total wall time and time per model;
//! - bounded memory: a sort over more data than the target's
//!   `memory_limit`, with the peak RSS it reached.
//!
//! Run: `cargo bench --bench execution` (optionally `-- 2000`).

mod common;

use std::io::Write;
use std::path::Path;

fn main() {
    let models: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000);
    let exe = env!("CARGO_BIN_EXE_rdbt");
    seeds(exe);
    views(exe, models);
    memory(exe);
}

fn seeds(exe: &str) {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::create_dir_all(dir.path().join("seeds")).expect("mkdir");
    std::fs::write(dir.path().join("rdbt_project.yml"), "name: seedbench\n").expect("write");
    let rows = 1_000_000u64;
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(dir.path().join("seeds/orders.csv")).expect("csv"),
    );
    writeln!(f, "order_id,customer_id,amount,city,order_date,delivered").expect("write");
    for i in 0..rows {
        writeln!(
            f,
            "{i},{},{}.{:02},city_{},2024-{:02}-{:02},{}",
            i % 50_000,
            i % 997,
            i % 100,
            i % 40,
            1 + i % 12,
            1 + i % 28,
            i % 3 == 0
        )
        .expect("write");
    }
    drop(f);
    let (wall, rss) = common::run_once(exe, dir.path(), &["seed", "-q"]);
    println!(
        "seed: {rows} rows in {:.2} s = {:.0} rows/s, peak RSS {:.0} MB",
        wall.as_secs_f64(),
        rows as f64 / wall.as_secs_f64(),
        rss as f64 / 1024.0
    );
}

fn views(exe: &str, models: usize) {
    let dir = tempfile::tempdir().expect("dir");
    rdbt::synthetic::write_project(dir.path(), rdbt::synthetic::SyntheticSpec::new(models))
        .expect("generate");
    // Views only: the overhead per model, not the cost of writing data.
    for entry in walk(&dir.path().join("models")) {
        let sql = std::fs::read_to_string(&entry)
            .expect("read")
            .replace("materialized='table'", "materialized='view'");
        std::fs::write(&entry, sql).expect("write");
    }
    common::run_once(exe, dir.path(), &["seed", "-q"]);
    let (wall, rss) = common::run_once(exe, dir.path(), &["run", "-q", "--threads", "2"]);
    println!(
        "run: {models} view models in {:.2} s = {:.2} ms per model, peak RSS {:.0} MB",
        wall.as_secs_f64(),
        wall.as_secs_f64() * 1000.0 / models as f64,
        rss as f64 / 1024.0
    );
}

fn memory(exe: &str) {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::create_dir_all(dir.path().join("models")).expect("mkdir");
    std::fs::write(
        dir.path().join("rdbt_project.yml"),
        "name: membench\nprofile: membench\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("profiles.yml"),
        "membench:\n  target: local\n  outputs:\n    local:\n      type: datafusion\n      memory_limit: 256MB\n      threads: 1\n",
    )
    .expect("write");
    // ~20 M rows x 2 columns sorted: well over 256 MB in memory.
    std::fs::write(dir.path().join("models/sorted.sql"), "{{ config(materialized='table') }}\nselect value, value * 7 % 1000003 as k from generate_series(1, 20000000) as t(value) order by k").expect("write");
    let (wall, rss) = common::run_once(exe, dir.path(), &["run", "-q"]);
    println!(
        "memory: sorting 20,000,000 rows with memory_limit 256MB took {:.2} s, peak RSS {:.0} MB",
        wall.as_secs_f64(),
        rss as f64 / 1024.0
    );
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("dir").filter_map(Result::ok) {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "sql") {
            out.push(p);
        }
    }
    out
}
