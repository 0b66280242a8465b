//! End-to-end benchmark of the retention example (issue 8): generator
//! NDJSON for N customers (default 100,000, about 4.8 million events) →
//! `rdbt ingest` (events from the file, customers from the sample) →
//! `rdbt build --threads 2` (bronze, silver, the seven marts, 58 data tests
//! and 6 unit tests). Wall time and peak RSS per step and in total; the
//! generation itself is not counted.
//!
//! Run: `cargo bench --bench retention` (optionally `-- <customers>`).

mod common;

use std::path::Path;

fn copy_dir(src: &Path, dest: &Path) {
    for entry in walkdir::WalkDir::new(src)
        .into_iter()
        .filter_map(Result::ok)
    {
        let target = dest.join(entry.path().strip_prefix(src).expect("prefix"));
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn main() {
    let customers: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    let exe = env!("CARGO_BIN_EXE_rdbt");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().expect("dir");
    for folder in ["project", "models", "seeds", "macros"] {
        copy_dir(&root.join(folder), &dir.path().join(folder));
    }
    std::fs::copy(root.join("profiles.yml"), dir.path().join("profiles.yml")).expect("profiles");
    let events = dir.path().join("events.jsonl");
    common::produce_events(exe, &events, customers);
    let lines = std::io::BufRead::lines(std::io::BufReader::new(
        std::fs::File::open(&events).expect("open events"),
    ))
    .count();
    println!("retention e2e: {customers} customers, {lines} event lines");
    let input = events.to_string_lossy().to_string();
    let count = customers.to_string();
    let steps: [(&str, Vec<&str>); 3] = [
        (
            "ingest events",
            vec![
                "ingest",
                "-q",
                "-s",
                "source:kafka.customer_activity_data",
                "--from-file",
                &input,
            ],
        ),
        (
            "ingest customers",
            vec![
                "ingest",
                "-q",
                "-s",
                "source:postgres.customers",
                "--sample",
                &count,
            ],
        ),
        (
            "build (models + tests)",
            vec!["build", "-q", "--threads", "2"],
        ),
    ];
    let (mut total, mut peak) = (0.0, 0i64);
    for (what, args) in steps {
        let (elapsed, rss) = common::run_once(exe, dir.path(), &args);
        println!(
            "  {what}: {:.1} s, peak RSS {} MiB",
            elapsed.as_secs_f64(),
            rss / 1024
        );
        total += elapsed.as_secs_f64();
        peak = peak.max(rss);
    }
    println!(
        "retention e2e total: {total:.1} s, peak RSS {} MiB (dbt-core 1.11 on DuckDB: 84.6 s, 4.2 GiB)",
        peak / 1024
    );
}
