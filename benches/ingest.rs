//! Ingestion benchmark (issue 6), timing the real `rdbt` binary:
//! - NDJSON file → typed Parquet in the land, in messages per second, at
//!   the default batch size (1,000 messages a file) and at 50,000;
//! - librdkafka's mock cluster → land (`rdbt ingest --once`), in messages
//!   per second from the first message (the group join is not counted);
//! - peak RSS of each, which the batch size bounds, not the input size.
//!
//! Run: `cargo bench --bench ingest` (optionally `-- <customers>`, default
//! 12,000 customers ≈ 500,000 events).

use rdkafka::mocking::MockCluster;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Runs rdbt with `env`, returns (the `ingest_finished` JSON line, wall
/// seconds, peak RSS in MiB).
fn ingest(exe: &str, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (serde_json::Value, f64, f64) {
    let start = Instant::now();
    let mut cmd = Command::new(exe);
    cmd.args(args)
        .args(["--log-format", "json"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("spawn rdbt");
    let pid = child.id() as libc::pid_t;
    let stderr = child.stderr.expect("stderr");
    let reader = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child with valid out-pointers.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed().as_secs_f64();
    assert_eq!(r, pid, "wait4 failed");
    let text = reader.join().unwrap_or_default();
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "rdbt failed:\n{text}");
    let finished = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "ingest_finished")
        .expect("an ingest_finished line");
    (finished, wall, usage.ru_maxrss as f64 / 1024.0)
}

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("dir");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ingest");
    for entry in walkdir::WalkDir::new(&fixture).into_iter().filter_map(Result::ok) {
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
        finished["messages"], finished["landed"], finished["quarantined"],
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
    let status = Command::new(exe)
        .args(["produce", "--customers", &customers.to_string(), "-o"])
        .arg(&events)
        .status()
        .expect("produce");
    assert!(status.success());
    let input = events.to_string_lossy().to_string();
    for batch in ["1000", "50000"] {
        let dir = project();
        let (finished, wall, rss) = ingest(
            exe,
            dir.path(),
            &["ingest", "-s", "source:kafka.events", "--from-file", &input],
            &[("BATCH_SIZE", batch)],
        );
        report(&format!("ndjson file, batch_size {batch}"), &finished, wall, rss);
    }

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
        lines.into_iter().enumerate().map(|(i, l)| (Some(i.to_string().into_bytes()), l)),
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
        report(&format!("mock cluster, 64 partitions, batch_size {batch}"), &finished, wall, rss);
    }
}
