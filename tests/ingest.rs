//! `rdbt ingest` end to end (issue 6): files and Kafka (librdkafka's mock
//! cluster, a real TCP listener the child `rdbt` connects to) into the land,
//! exactly once across SIGKILL and rebalances; the quarantine and its
//! replay; bad configuration; the gs:// land through object_store's GCS
//! client against a local GCS server.

mod common;

use common::gcs::FakeGcs;
use common::{fixture, rdbt_env};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn parquet_files(dir: &Path) -> Vec<std::path::PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "parquet"))
        .map(|e| e.path().to_path_buf())
        .collect()
}

fn read_batches(bytes: bytes::Bytes) -> Vec<datafusion::arrow::record_batch::RecordBatch> {
    ParquetRecordBatchReaderBuilder::try_new(bytes)
        .expect("parquet")
        .build()
        .expect("reader")
        .map(|b| b.expect("batch"))
        .collect()
}

/// Every landed (partition, offset), in land order.
fn landed_positions(project: &Path) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    for file in parquet_files(&project.join("target/land/kafka/events")) {
        // Polled while consumers run: a file listed a moment ago may have
        // been replaced since; the next poll sees its successor.
        let bytes = match std::fs::read(&file) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => panic!("read {}: {e}", file.display()),
        };
        for b in read_batches(bytes::Bytes::from(bytes)) {
            let p = b.column_by_name("_partition").expect("_partition");
            let o = b.column_by_name("_offset").expect("_offset");
            let (p, o) = (p.as_primitive::<Int64Type>(), o.as_primitive::<Int64Type>());
            for i in 0..b.num_rows() {
                out.push((p.value(i), o.value(i)));
            }
        }
    }
    out
}

/// Every quarantined (reason_code, offset).
fn quarantined(project: &Path) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for file in parquet_files(&project.join("target/land/_quarantine/kafka/events")) {
        for b in read_batches(bytes::Bytes::from(std::fs::read(&file).expect("read"))) {
            let code = b.column_by_name("reason_code").expect("reason_code");
            let offset = b.column_by_name("_offset").expect("_offset");
            let raw = b.column_by_name("raw").expect("raw");
            assert_eq!(raw.null_count(), 0, "raw bytes are always kept");
            for i in 0..b.num_rows() {
                out.push((
                    code.as_string::<i32>().value(i).to_string(),
                    offset.as_primitive::<Int64Type>().value(i),
                ));
            }
        }
    }
    out.sort();
    out
}

fn good_event(i: usize) -> String {
    format!(
        r#"{{"event_id":"e{i}","event_type":"order_placed","event_ts":"2024-03-28T16:22:58Z","customer_id":{},"order_id":"o{i}","order_amount":12.5,"rating":null}}"#,
        i % 97 + 1
    )
}

/// One message of each bad kind the contract names, with its reason code.
fn bad_events() -> Vec<(&'static str, String)> {
    vec![
        ("invalid_json", r#"{"event_id":"b1","event_type":"order_placed",}"#.into()),
        ("invalid_json", r#"{"event_id":"b2","customer_id":NaN}"#.into()),
        ("invalid_json", "{'event_id':'b3'}".into()),
        ("not_an_object", "[1,2,3]".into()),
        ("missing_field", r#"{"event_id":"b5","event_type":"order_placed","event_ts":"2024-03-28T16:22:58Z","order_id":"o"}"#.into()),
        ("null_field", r#"{"event_id":"b6","event_type":"order_placed","event_ts":"2024-03-28T16:22:58Z","customer_id":null,"order_id":"o"}"#.into()),
        ("wrong_type", r#"{"event_id":"b7","event_type":"order_placed","event_ts":"2024-03-28T16:22:58Z","customer_id":5.0,"order_id":"o"}"#.into()),
        ("unknown_value", r#"{"event_id":"b8","event_type":"order_shipped","event_ts":"2024-03-28T16:22:58Z","customer_id":5,"order_id":"o"}"#.into()),
        ("bad_timestamp", r#"{"event_id":"b9","event_type":"order_placed","event_ts":"2024-03-28T16:22:58+02:00","customer_id":5,"order_id":"o"}"#.into()),
        ("wrong_type", r#"{"event_id":"b10","event_type":"review_submitted","event_ts":"2024-03-28T16:22:58Z","customer_id":5,"order_id":"o","rating":"5"}"#.into()),
    ]
}

#[test]
fn a_file_lands_typed_rows_quarantines_every_bad_kind_and_lands_nothing_twice() {
    let dir = fixture("ingest");
    let mut lines: Vec<String> = (0..2500).map(good_event).collect();
    let bad = bad_events();
    for (i, (_, line)) in bad.iter().enumerate() {
        lines.insert(i * 200 + 7, line.clone());
    }
    let input = dir.path().join("events.jsonl");
    std::fs::write(&input, lines.join("\n") + "\n").expect("write input");
    let input = input.to_string_lossy().to_string();
    let args = ["ingest", "-s", "source:kafka.events", "--from-file", &input];
    let run = rdbt_env(dir.path(), &args, &[]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(run.stdout.contains("warning[R505]"), "{}", run.stdout);
    let positions = landed_positions(dir.path());
    assert_eq!(positions.len(), 2500);
    let quarantine = quarantined(dir.path());
    let mut codes: Vec<&str> = quarantine.iter().map(|(c, _)| c.as_str()).collect();
    codes.sort();
    let mut expected: Vec<&str> = bad.iter().map(|(c, _)| *c).collect();
    expected.sort();
    assert_eq!(codes, expected);
    // Line numbers are the offsets: the bad lines are where we put them.
    let offsets: BTreeSet<i64> = quarantine.iter().map(|(_, o)| *o).collect();
    let expected_lines: BTreeSet<i64> = (0..bad.len()).map(|i| (i * 200 + 8) as i64).collect();
    assert_eq!(offsets, expected_lines);

    // Landing the same content again (even under another name) lands nothing.
    let copy = dir.path().join("copy.jsonl");
    std::fs::copy(&input, &copy).expect("copy");
    let copy = copy.to_string_lossy().to_string();
    let again = rdbt_env(
        dir.path(),
        &["ingest", "-s", "source:kafka.events", "--from-file", &copy],
        &[],
    );
    assert_eq!(again.code, 0, "{}", again.transcript());
    assert!(again.stdout.contains("landed before"), "{}", again.stdout);
    assert_eq!(landed_positions(dir.path()).len(), 2500);
    assert_eq!(quarantined(dir.path()).len(), bad.len());
}

/// Ranges of a file are decoded on several threads but land in file order:
/// with tiny ranges (by bytes), the landed files tile the lines exactly.
#[test]
fn a_file_cut_into_many_ranges_lands_every_line_once_in_order() {
    let dir = fixture("ingest");
    let lines: Vec<String> = (0..6000).map(good_event).collect();
    let input = dir.path().join("events.jsonl");
    std::fs::write(&input, lines.join("\n") + "\n").expect("write input");
    let input = input.to_string_lossy().to_string();
    let args = ["ingest", "-s", "source:kafka.events", "--from-file", &input];
    let run = rdbt_env(dir.path(), &args, &[("MAX_BATCH_BYTES", "8192")]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_exactly_once(&landed_positions(dir.path()), 6000);
    // part-<stream>-<first>-<last>.parquet: consecutive, no gap, no overlap.
    let mut ranges: Vec<(i64, i64)> = parquet_files(&dir.path().join("target/land/kafka/events"))
        .iter()
        .map(|f| {
            let stem = f.file_stem().expect("stem").to_string_lossy().to_string();
            let mut parts = stem.rsplitn(3, '-');
            let last = parts.next().expect("last").parse().expect("number");
            let first = parts.next().expect("first").parse().expect("number");
            (first, last)
        })
        .collect();
    ranges.sort();
    assert!(ranges.len() > 50, "{} ranges", ranges.len());
    assert_eq!(ranges[0].0, 1);
    assert_eq!(ranges.last().expect("ranges").1, 6000);
    for pair in ranges.windows(2) {
        assert_eq!(pair[0].1 + 1, pair[1].0, "{pair:?}");
    }
}

#[test]
fn replaying_the_quarantine_after_a_schema_fix_lands_the_fixed_messages_once() {
    let dir = fixture("ingest");
    let mut lines: Vec<String> = (0..300).map(good_event).collect();
    // Ratings sent as strings: wrong for INT64, right once it is STRING.
    for i in 0..5 {
        lines.push(format!(
            r#"{{"event_id":"r{i}","event_type":"review_submitted","event_ts":"2024-03-29T10:00:00Z","customer_id":3,"order_id":"o{i}","rating":"{i}"}}"#
        ));
    }
    lines.push("not json".into());
    let input = dir.path().join("events.jsonl");
    std::fs::write(&input, lines.join("\n")).expect("write input");
    let input = input.to_string_lossy().to_string();
    let run = rdbt_env(
        dir.path(),
        &[
            "ingest",
            "-s",
            "source:kafka.events",
            "--from-file",
            &input,
            "--log-format",
            "json",
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(
        run.stdout.contains("\"name\":\"IngestFinished\""),
        "{}",
        run.stdout
    );
    assert_eq!(landed_positions(dir.path()).len(), 300);
    assert_eq!(quarantined(dir.path()).len(), 6);

    // Before the fix a replay lands nothing.
    let replay = ["ingest", "-s", "source:kafka.events", "--replay-quarantine"];
    let run = rdbt_env(dir.path(), &replay, &[]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(landed_positions(dir.path()).len(), 300);

    let sources = dir.path().join("models/sources.yml");
    let text = std::fs::read_to_string(&sources).expect("read sources");
    std::fs::write(
        &sources,
        text.replace(
            "{name: rating, data_type: INT64}",
            "{name: rating, data_type: STRING}",
        ),
    )
    .expect("fix schema");
    for _ in 0..2 {
        let run = rdbt_env(dir.path(), &replay, &[]);
        assert_eq!(run.code, 0, "{}", run.transcript());
        assert_eq!(landed_positions(dir.path()).len(), 305, "{}", run.stdout);
        let left = quarantined(dir.path());
        assert_eq!(left.len(), 1, "{left:?}");
        assert_eq!(left[0].0, "invalid_json");
    }
}

fn mock_cluster(partitions: i32) -> (MockCluster<'static, DefaultProducerContext>, String) {
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster
        .create_topic("events", partitions, 1)
        .expect("create topic");
    let brokers = cluster.bootstrap_servers();
    (cluster, brokers)
}

fn produce(brokers: &str, range: std::ops::Range<usize>) -> u64 {
    rdbt::ingest::kafka::produce(
        brokers,
        "events",
        &BTreeMap::new(),
        range.map(|i| {
            (
                Some((i % 97 + 1).to_string().into_bytes()),
                good_event(i).into_bytes(),
            )
        }),
    )
    .expect("produce")
}

fn kafka_env<'a>(brokers: &'a str, batch: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("KAFKA_BROKERS", brokers),
        ("KAFKA_TOPIC", "events"),
        ("KAFKA_GROUP", "rdbt-test"),
        ("BATCH_SIZE", batch),
        ("SESSION_TIMEOUT_MS", "6000"),
    ]
}

fn assert_exactly_once(positions: &[(i64, i64)], expected: usize) {
    let unique: BTreeSet<_> = positions.iter().collect();
    assert_eq!(unique.len(), positions.len(), "a message landed twice");
    assert_eq!(positions.len(), expected, "messages lost");
}

#[test]
fn a_topic_of_100k_messages_lands_exactly_once_with_counts_per_partition() {
    let (_cluster, brokers) = mock_cluster(8);
    assert_eq!(produce(&brokers, 0..100_000), 100_000);
    let dir = fixture("ingest");
    let run = rdbt_env(
        dir.path(),
        &["ingest", "--once"],
        &kafka_env(&brokers, "5000"),
    );
    assert_eq!(run.code, 0, "{}", run.transcript());
    let positions = landed_positions(dir.path());
    assert_exactly_once(&positions, 100_000);
    // Per partition: offsets 0..n without gaps, n as the broker counts it.
    let mut per_partition: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (p, o) in positions {
        per_partition.entry(p).or_default().push(o);
    }
    assert_eq!(per_partition.len(), 8);
    for (p, mut offsets) in per_partition {
        offsets.sort();
        let n = offsets.len() as i64;
        assert_eq!(offsets, (0..n).collect::<Vec<_>>(), "partition {p}");
    }
    // Drained: a second run finds nothing new.
    let again = rdbt_env(
        dir.path(),
        &["ingest", "--once"],
        &kafka_env(&brokers, "5000"),
    );
    assert_eq!(again.code, 0, "{}", again.transcript());
    assert_eq!(landed_positions(dir.path()).len(), 100_000);
}

fn spawn_follow(dir: &Path, env: &[(&str, &str)]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rdbt"));
    cmd.args(["ingest", "--follow"])
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stdout(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn rdbt ingest --follow")
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sigkill_at_any_moment_then_restart_loses_nothing_and_duplicates_nothing() {
    let (_cluster, brokers) = mock_cluster(4);
    produce(&brokers, 0..30_000);
    let dir = fixture("ingest");
    let env = kafka_env(&brokers, "700");
    // Each range waits 300 ms between its files becoming durable and its
    // commit; killing the moment new files appear hits that window, the
    // worst moment. Three times, then drain.
    let mut crash_env = env.clone();
    crash_env.push(("RDBT_FAULT_COMMIT_DELAY_MS", "300"));
    let mut transcripts = String::new();
    for round in 1..=3 {
        let mut child = spawn_follow(dir.path(), &crash_env);
        let before = parquet_files(&dir.path().join("target/land/kafka/events")).len();
        wait_for("files to land", Duration::from_secs(60), || {
            parquet_files(&dir.path().join("target/land/kafka/events")).len() >= before + round
        });
        child.kill().expect("SIGKILL");
        let out = child.wait_with_output().expect("wait");
        transcripts.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    let run = rdbt_env(dir.path(), &["ingest", "--once"], &env);
    assert_eq!(run.code, 0, "{}", run.transcript());
    transcripts.push_str(&run.stdout);
    assert!(
        transcripts.contains("uncommitted file(s) of an interrupted run"),
        "no restart found a half-committed range to undo:\n{transcripts}"
    );
    assert_exactly_once(&landed_positions(dir.path()), 30_000);
}

#[test]
fn two_consumers_in_one_group_split_partitions_across_a_rebalance() {
    let (_cluster, brokers) = mock_cluster(6);
    produce(&brokers, 0..10_000);
    let dir = fixture("ingest");
    let env = kafka_env(&brokers, "300");
    let first = spawn_follow(dir.path(), &env);
    wait_for(
        "the first consumer to land",
        Duration::from_secs(60),
        || !parquet_files(&dir.path().join("target/land/kafka/events")).is_empty(),
    );
    // The second member joins: the group rebalances and revokes some of the
    // first one's partitions, open ranges and all.
    let second = spawn_follow(dir.path(), &env);
    std::thread::sleep(Duration::from_secs(8));
    produce(&brokers, 10_000..20_000);
    wait_for("every message to land", Duration::from_secs(90), || {
        landed_positions(dir.path()).len() >= 20_000
    });
    let mut landed_by = Vec::new();
    for child in [first, second] {
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let out = child.wait_with_output().expect("wait");
        let stderr = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "{stderr}");
        let landed: u64 = stderr
            .lines()
            .filter_map(|l| l.strip_prefix("Landed kafka.events: "))
            .filter_map(|l| l.split(' ').next()?.parse::<u64>().ok())
            .sum();
        landed_by.push(landed);
    }
    assert_exactly_once(&landed_positions(dir.path()), 20_000);
    assert!(
        landed_by.iter().all(|n| *n > 0),
        "both consumers landed: {landed_by:?}"
    );
}

#[test]
fn bad_configuration_is_one_clear_error_before_anything_is_consumed() {
    let dir = fixture("ingest");
    // Nothing listens on port 1.
    let run = rdbt_env(
        dir.path(),
        &["ingest", "--once"],
        &[("KAFKA_BROKERS", "127.0.0.1:1")],
    );
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(run.stdout.contains("error[R503]"), "{}", run.stdout);
    assert!(
        run.stdout.contains("ingest.kafka.brokers"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("models/sources.yml:"), "{}", run.stdout);

    let (_cluster, brokers) = mock_cluster(1);
    let run = rdbt_env(
        dir.path(),
        &["ingest", "--once"],
        &[
            ("KAFKA_BROKERS", &brokers),
            ("KAFKA_TOPIC", "no_such_topic"),
        ],
    );
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(
        run.stdout.contains("topic `no_such_topic` does not exist"),
        "{}",
        run.stdout
    );

    // A land that cannot be written: a file where the folder should be.
    let blocked = dir.path().join("blocked");
    std::fs::write(&blocked, "a file").expect("write");
    let land = blocked.join("land").to_string_lossy().to_string();
    let run = rdbt_env(
        dir.path(),
        &["ingest", "--once"],
        &[("KAFKA_BROKERS", &brokers), ("LAND", &land)],
    );
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(run.stdout.contains("error[R502]"), "{}", run.stdout);

    // Missing credentials for gs:// (no key, no ADC, no metadata server).
    let run = rdbt_env(
        dir.path(),
        &["ingest", "--once"],
        &[
            ("KAFKA_BROKERS", &brokers),
            ("LAND", "gs://rdbt-no-such-bucket/land"),
            ("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json"),
        ],
    );
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(run.stdout.contains("error[R502]"), "{}", run.stdout);
    assert!(parquet_files(&dir.path().join("target/land")).is_empty());

    // A setting of the wrong kind names itself, at its line.
    let sources = dir.path().join("models/sources.yml");
    let text = std::fs::read_to_string(&sources).expect("read");
    std::fs::write(
        &sources,
        text.replace("flush_interval: 1s", "flush_interval: soon"),
    )
    .expect("write");
    let run = rdbt_env(
        dir.path(),
        &["ingest", "--once"],
        &[("KAFKA_BROKERS", &brokers)],
    );
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(run.stdout.contains("error[R501]"), "{}", run.stdout);
    assert!(
        run.stdout.contains("ingest.kafka.flush_interval"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("models/sources.yml:13"),
        "{}",
        run.stdout
    );
}

#[test]
fn the_gs_land_works_end_to_end_through_object_stores_gcs_client() {
    let gcs = FakeGcs::start();
    let dir = fixture("ingest");
    let lines: Vec<String> = (0..1500)
        .map(good_event)
        .chain(["oops".to_string()])
        .collect();
    let input = dir.path().join("events.jsonl");
    std::fs::write(&input, lines.join("\n")).expect("write input");
    let input = input.to_string_lossy().to_string();
    let key = gcs.service_account_key();
    let env = [
        ("LAND", "gs://lake/land"),
        ("GOOGLE_SERVICE_ACCOUNT_KEY", key.as_str()),
    ];
    let args = ["ingest", "-s", "source:kafka.events", "--from-file", &input];
    let run = rdbt_env(dir.path(), &args, &env);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let data = gcs.names("lake/land/kafka/events/dt=");
    // A file lands in ranges of at least 100,000 lines: one file here.
    assert_eq!(data.len(), 1, "{data:?}");
    assert!(
        data.iter()
            .all(|n| n.contains("/hr=") && n.ends_with(".parquet"))
    );
    let rows: usize = data
        .iter()
        .map(|n| {
            let bytes = gcs.objects.lock().expect("objects")[n].clone();
            read_batches(bytes::Bytes::from(bytes))
                .iter()
                .map(|b| b.num_rows())
                .sum::<usize>()
        })
        .sum();
    assert_eq!(rows, 1500);
    assert_eq!(gcs.names("lake/land/_quarantine/kafka/events/").len(), 1);
    assert!(
        gcs.names("lake/land/_ingest/kafka/events/inflight")
            .is_empty()
    );
    // Again: nothing twice.
    let run = rdbt_env(dir.path(), &args, &env);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(gcs.names("lake/land/kafka/events/dt=").len(), 1);

    // The input itself from the bucket (a gs:// URL for --from-file) lands
    // like a local file; a missing object is an input error.
    let more: Vec<String> = (5000..5300).map(good_event).collect();
    gcs.objects
        .lock()
        .expect("objects")
        .insert("lake/inbox/more.jsonl".into(), more.join("\n").into_bytes());
    let from_bucket = [
        "ingest",
        "-s",
        "source:kafka.events",
        "--from-file",
        "gs://lake/inbox/more.jsonl",
    ];
    let run = rdbt_env(dir.path(), &from_bucket, &env);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(run.stdout.contains("300 landed"), "{}", run.stdout);
    let missing = [
        "ingest",
        "-s",
        "source:kafka.events",
        "--from-file",
        "gs://lake/inbox/nothing.jsonl",
    ];
    let run = rdbt_env(dir.path(), &missing, &env);
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(run.stdout.contains("error[R504]"), "{}", run.stdout);
}

#[test]
fn the_real_orders_export_replays_into_contract_events() {
    let Some(data) = common::shared_data("food_delivery_orders.csv") else {
        return;
    };
    let dir = fixture("ingest");
    let events = dir.path().join("orders.jsonl");
    let csv = data.join("food_delivery_orders.csv");
    let run = rdbt_env(
        dir.path(),
        &[
            "produce",
            "--from-orders-csv",
            &csv.to_string_lossy(),
            "-o",
            &events.to_string_lossy(),
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.transcript());
    let run = rdbt_env(
        dir.path(),
        &[
            "ingest",
            "-s",
            "source:kafka.events",
            "--from-file",
            &events.to_string_lossy(),
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.transcript());
    // Two events per order; the 444 orders whose time is `NaN` in the
    // export are quarantined as bad timestamps, nothing else.
    let quarantine = quarantined(dir.path());
    assert_eq!(
        quarantine.len(),
        444,
        "{:?}",
        &quarantine[..3.min(quarantine.len())]
    );
    assert!(quarantine.iter().all(|(code, _)| code == "bad_timestamp"));
    assert_eq!(landed_positions(dir.path()).len(), 2 * 11_399 - 444);
}
