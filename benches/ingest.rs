//! Ingestion benchmark (issue 6), timing the real `rdbt` binary:
//! - NDJSON file → typed Parquet in the land, in messages per second
//!   (ranges of at least 100,000 lines);
//! - librdkafka's mock cluster → land (`rdbt ingest --once`), in messages
//!   per second from the first message (the group join is not counted);
//! - peak RSS of each rdbt process (its own `VmHWM`, see
//!   `common::wait_with_peak_rss`), which the batch size bounds, not the
//!   input size;
//! - a full Postgres pull of 1,000,000 contract customers rows against
//!   `psql \copy ... (format binary)` to /dev/null on the same server
//!   (`RDBT_TEST_POSTGRES_URL`, default postgres://postgres@127.0.0.1:5432/test).
//!
//! Run: `cargo bench --bench ingest` (optionally `-- <customers>`, default
//! 12,000 customers ≈ 500,000 events).

mod common;

use rdkafka::mocking::MockCluster;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Runs rdbt with `env`, returns (the `IngestFinished` event's data, wall
/// seconds, peak RSS in MiB).
fn ingest(
    exe: &str,
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (serde_json::Value, f64, f64) {
    let start = Instant::now();
    let mut cmd = Command::new(exe);
    cmd.args(args)
        .args(["--log-format", "json"])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn rdbt");
    let stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let (status, peak_kib) = common::wait_with_peak_rss(&mut child);
    let wall = start.elapsed().as_secs_f64();
    let text = reader.join().unwrap_or_default();
    assert!(status.success(), "rdbt failed:\n{text}");
    let finished = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["info"]["name"] == "IngestFinished")
        .map(|v| v["data"].clone())
        .expect("an IngestFinished line");
    (finished, wall, peak_kib as f64 / 1024.0)
}

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("dir");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ingest");
    for entry in walkdir::WalkDir::new(&fixture)
        .into_iter()
        .filter_map(Result::ok)
    {
        let rel = entry.path().strip_prefix(&fixture).expect("prefix");
        let target = dir.path().join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
    dir
}

fn report(what: &str, finished: &serde_json::Value, wall: f64, rss: f64) {
    println!(
        "{what}: {} messages ({} landed, {} quarantined) in {:.2} s = {:.0} msg/s; {} files; wall {wall:.2} s; peak RSS {rss:.0} MiB",
        finished["messages"],
        finished["landed"],
        finished["quarantined"],
        finished["elapsed_s"].as_f64().unwrap_or(0.0),
        finished["rate"].as_f64().unwrap_or(0.0),
        finished["files"],
    );
}

fn main() {
    let customers: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(12_000);
    let exe = env!("CARGO_BIN_EXE_rdbt");
    let work = tempfile::tempdir().expect("dir");
    let events = work.path().join("events.jsonl");
    common::produce_events(exe, &events, customers);
    let input = events.to_string_lossy().to_string();
    // A file lands in ranges of at least 100,000 lines whatever the
    // table's batch_size (which is for streams).
    let dir = project();
    let (finished, wall, rss) = ingest(
        exe,
        dir.path(),
        &["ingest", "-s", "source:kafka.events", "--from-file", &input],
        &[],
    );
    report("ndjson file", &finished, wall, rss);

    postgres(exe);

    // The mock cluster keeps about 5 MiB per partition: spread the topic.
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic("events", 64, 1).expect("topic");
    let brokers = cluster.bootstrap_servers();
    let lines: Vec<Vec<u8>> = std::fs::read(&events)
        .expect("read events")
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .take(400_000)
        .map(<[u8]>::to_vec)
        .collect();
    let produced = rdbt::ingest::kafka::produce(
        &brokers,
        "events",
        &Default::default(),
        lines
            .into_iter()
            .enumerate()
            .map(|(i, l)| (Some(i.to_string().into_bytes()), l)),
    )
    .expect("produce");
    for batch in ["1000", "20000"] {
        let dir = project();
        let group = format!("bench-{batch}");
        let (finished, wall, rss) = ingest(
            exe,
            dir.path(),
            &["ingest", "--once"],
            &[
                ("KAFKA_BROKERS", brokers.as_str()),
                ("KAFKA_GROUP", group.as_str()),
                ("BATCH_SIZE", batch),
            ],
        );
        assert_eq!(finished["messages"].as_u64(), Some(produced));
        report(
            &format!("mock cluster, 64 partitions, batch_size {batch}"),
            &finished,
            wall,
            rss,
        );
    }
}

fn postgres(exe: &str) {
    let url = std::env::var("RDBT_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let setup = "DROP TABLE IF EXISTS rdbt_bench_customers;
        CREATE TABLE rdbt_bench_customers (customer_id bigint PRIMARY KEY, signup_ts timestamptz NOT NULL,
          age integer, gender text, marital_status text, occupation text, monthly_income text,
          education text, family_size integer, latitude double precision, longitude double precision,
          pin_code text, city text, updated_at timestamptz NOT NULL);
        INSERT INTO rdbt_bench_customers SELECT i, '2023-01-01'::timestamptz + i * interval '1 minute',
          18 + i % 50, CASE WHEN i % 2 = 0 THEN 'Female' ELSE 'Male' END, 'Single', 'Student',
          'No Income', 'Graduate', 1 + i % 6, 12.9 + (i % 1000) * 0.0001, 77.5 + (i % 777) * 0.0001,
          (560000 + i % 100)::text, 'Bangalore', now() FROM generate_series(1, 1000000) i;";
    let ok = Command::new("psql")
        .args([
            url.as_str(),
            "-q",
            "-c",
            setup,
            "-c",
            "VACUUM ANALYZE rdbt_bench_customers",
        ])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        println!("postgres: SKIPPED (no server at {url})");
        return;
    }
    let mut best_psql = f64::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        let status = Command::new("psql")
            .args([
                url.as_str(),
                "-q",
                "-c",
                "\\copy (select * from rdbt_bench_customers) to '/dev/null' with (format binary)",
            ])
            .status()
            .expect("psql");
        assert!(status.success());
        best_psql = best_psql.min(start.elapsed().as_secs_f64());
    }
    println!(
        "postgres: psql binary \\copy of 1,000,000 rows to /dev/null: {best_psql:.3} s = {:.0} rows/s",
        1e6 / best_psql
    );
    for _ in 0..3 {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::create_dir_all(dir.path().join("models")).expect("mkdir");
        std::fs::write(dir.path().join("rdbt_project.yml"), "name: pgbench\n").expect("write");
        std::fs::write(
            dir.path().join("models/sources.yml"),
            "version: 2\nsources:\n  - name: pg\n    tables:\n      - name: rdbt_bench_customers\n        ingest:\n          postgres:\n            url: \"{{ env_var('PG_URL') }}\"\n            table: public.rdbt_bench_customers\n            primary_key: customer_id\n            incremental_column: updated_at\n",
        )
        .expect("write");
        let (finished, wall, rss) = ingest(
            exe,
            dir.path(),
            &["ingest", "-s", "source:pg"],
            &[("PG_URL", url.as_str())],
        );
        let elapsed = finished["elapsed_s"].as_f64().unwrap_or(wall);
        println!(
            "postgres: rdbt full pull of {} rows to Parquet: {elapsed:.3} s = {:.0} rows/s ({:.0}% of psql); wall {wall:.2} s; peak RSS {rss:.0} MiB",
            finished["landed"],
            1e6 / elapsed,
            100.0 * best_psql / elapsed
        );
    }
}
