//! The Postgres pull (issue 7) against the real server at
//! `RDBT_TEST_POSTGRES_URL`: every mapped type round-trips, a million rows,
//! incremental pulls with inserts and updates, a pull killed mid-way and
//! run again, deletes detected, the real survey loaded into the contract's
//! customers table and pulled dirty values and all, and the errors a user
//! meets. Each test owns its tables (`rdbt_t_<test>`).

mod common;

use common::postgres::{load_survey, server, sql};
use common::{project, rdbt_env};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{Int64Type, TimestampMicrosecondType};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A project with one Postgres source table `pg.<table>`.
fn pull_project(table: &str, extra: &str, columns: &str) -> tempfile::TempDir {
    let sources = format!(
        "version: 2\nsources:\n  - name: pg\n    tables:\n      - name: {table}\n        ingest:\n          postgres:\n            url: \"{{{{ env_var('PG_URL') }}}}\"\n            table: public.{table}\n{extra}{columns}"
    );
    project(&[
        ("rdbt_project.yml", "name: pulls\n"),
        ("models/sources.yml", &sources),
    ])
}

fn ingest(dir: &Path, url: &str) -> common::Run {
    rdbt_env(
        dir,
        &["ingest", "--select", "source:pg"],
        &[("PG_URL", url)],
    )
}

fn landed(dir: &Path, table: &str) -> Vec<RecordBatch> {
    let mut files: Vec<_> = walkdir::WalkDir::new(dir.join("target/land/pg").join(table))
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "parquet"))
        .map(|e| e.path().to_path_buf())
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(
                std::fs::read(f).expect("read"),
            ))
            .expect("parquet")
            .build()
            .expect("reader")
            .map(|b| b.expect("batch"))
            .collect::<Vec<_>>()
        })
        .collect()
}

fn row_count(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

#[test]
fn every_mapped_type_round_trips() {
    let Some(url) = server() else { return };
    sql(
        &url,
        "DROP TABLE IF EXISTS rdbt_t_types;
         CREATE TABLE rdbt_t_types (
           id int8 PRIMARY KEY, small int2, normal int4, money numeric(12, 2), big numeric,
           f4 float4, f8 float8, t text, v varchar(10), c char(3), flag bool, d date,
           ts timestamp, tstz timestamptz, u uuid, j json, jb jsonb, raw bytea,
           ints int4[], texts text[], nums numeric(5, 1)[]);
         INSERT INTO rdbt_t_types VALUES
           (1, -2, 40000, 12345.67, 0.000000001, 1.5, -2.25, 'héllo', 'var', 'ab', true, '2024-02-29',
            '2024-03-28 16:22:58.123456', '2024-03-28 16:22:58+02', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
            '{\"a\": 1}', '{\"b\": [1, 2]}', '\\x00ff', '{1,NULL,3}', '{x,y}', '{1.5,-2.5}'),
           (2, NULL, NULL, -0.01, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
            NULL, NULL, NULL, NULL, NULL, NULL, NULL, '{}', NULL);",
    );
    let dir = pull_project("rdbt_t_types", "", "");
    let run = ingest(dir.path(), &url);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let batches = landed(dir.path(), "rdbt_t_types");
    assert_eq!(row_count(&batches), 2);
    let b = &batches[0];
    let text = |name: &str| -> String {
        let col = b
            .column_by_name(name)
            .unwrap_or_else(|| panic!("column {name}"));
        datafusion::arrow::util::display::ArrayFormatter::try_new(col.as_ref(), &Default::default())
            .expect("formatter")
            .value(0)
            .to_string()
    };
    let expected = [
        ("id", "1"),
        ("small", "-2"),
        ("normal", "40000"),
        ("money", "12345.67"),
        ("big", "0.000000001"),
        ("f4", "1.5"),
        ("f8", "-2.25"),
        ("t", "héllo"),
        ("v", "var"),
        ("c", "ab "),
        ("flag", "true"),
        ("d", "2024-02-29"),
        ("ts", "2024-03-28T16:22:58.123456"),
        ("tstz", "2024-03-28T14:22:58Z"),
        ("u", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        ("j", "{\"a\": 1}"),
        ("jb", "{\"b\": [1, 2]}"),
        ("raw", "00ff"),
        ("ints", "[1, , 3]"),
        ("texts", "[x, y]"),
        ("nums", "[1.5, -2.5]"),
    ];
    for (column, value) in expected {
        assert_eq!(text(column), value, "column {column}");
    }
    let types: Vec<String> = b
        .schema()
        .fields()
        .iter()
        .map(|f| f.data_type().to_string())
        .collect();
    assert_eq!(types[3], "Decimal128(12, 2)");
    assert_eq!(types[13], "Timestamp(µs, \"UTC\")");
    // The second row: NULLs stay NULL, an empty array stays empty.
    for (i, field) in b.schema().fields().iter().enumerate() {
        let col = b.column(i);
        match field.name().as_str() {
            "id" | "money" => assert!(col.is_valid(1)),
            "texts" => assert_eq!(col.as_list::<i32>().value(1).len(), 0),
            name => assert!(col.is_null(1), "{name} should be NULL"),
        }
    }
}

#[test]
fn a_million_rows_pull_in_one_consistent_file() {
    let Some(url) = server() else { return };
    sql(
        &url,
        "DROP TABLE IF EXISTS rdbt_t_million;
         CREATE TABLE rdbt_t_million (customer_id int8 PRIMARY KEY, city text, updated_at timestamptz NOT NULL);
         INSERT INTO rdbt_t_million SELECT i, 'city ' || (i % 50), '2024-01-01'::timestamptz + i * interval '1 second'
           FROM generate_series(1, 1000000) i;",
    );
    let dir = pull_project("rdbt_t_million", "            chunk_rows: 50000\n", "");
    let run = ingest(dir.path(), &url);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let batches = landed(dir.path(), "rdbt_t_million");
    assert_eq!(row_count(&batches), 1_000_000);
    let ids: i64 = batches
        .iter()
        .map(|b| {
            b.column(0)
                .as_primitive::<Int64Type>()
                .iter()
                .flatten()
                .sum::<i64>()
        })
        .sum();
    assert_eq!(ids, 500_000_500_000, "every id exactly once");
}

#[test]
fn incremental_pulls_land_inserts_and_updates_since_the_watermark() {
    let Some(url) = server() else { return };
    sql(
        &url,
        "DROP TABLE IF EXISTS rdbt_t_incr;
         CREATE TABLE rdbt_t_incr (customer_id int8 PRIMARY KEY, city text, updated_at timestamptz NOT NULL);
         INSERT INTO rdbt_t_incr SELECT i, 'a', '2024-01-01'::timestamptz + i * interval '1 minute' FROM generate_series(1, 100) i;",
    );
    let dir = pull_project(
        "rdbt_t_incr",
        "            primary_key: customer_id\n            incremental_column: updated_at\n            detect_deletes: true\n",
        "        columns:\n          - {name: customer_id, data_type: INT64}\n          - {name: city, data_type: STRING}\n          - {name: updated_at, data_type: TIMESTAMP}\n          - {name: _pulled_at, data_type: TIMESTAMP}\n          - {name: _deleted, data_type: BOOL}\n",
    );
    let run = ingest(dir.path(), &url);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(row_count(&landed(dir.path(), "rdbt_t_incr")), 100);
    // Nothing changed: the boundary row is pulled again (at-least-once at
    // the watermark), nothing else.
    let run = ingest(dir.path(), &url);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(row_count(&landed(dir.path(), "rdbt_t_incr")), 101);
    sql(
        &url,
        "INSERT INTO rdbt_t_incr SELECT i, 'new', '2025-01-01'::timestamptz + i * interval '1 minute' FROM generate_series(101, 105) i;
         UPDATE rdbt_t_incr SET city = 'moved', updated_at = '2025-02-01' WHERE customer_id IN (1, 2, 3);
         DELETE FROM rdbt_t_incr WHERE customer_id IN (50, 51);",
    );
    let run = ingest(dir.path(), &url);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(run.stdout.contains("2 row(s) deleted"), "{}", run.stdout);
    let batches = landed(dir.path(), "rdbt_t_incr");
    // The third pull: the boundary row again, 5 inserted, 3 updated and 2
    // tombstones.
    assert_eq!(row_count(&batches), 101 + 11);
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            dir.path()
                .join("target/land/_ingest/pg/rdbt_t_incr/pull.json"),
        )
        .expect("state"),
    )
    .expect("json");
    assert_eq!(state["pulls"], 3);
    assert!(
        state["watermark"]
            .as_str()
            .is_some_and(|w| w.contains("2025-02-01")),
        "{state}"
    );
    // _pulled_at is filled on every row.
    for b in &batches {
        let pulled = b.column_by_name("_pulled_at").expect("_pulled_at");
        assert_eq!(
            pulled
                .as_primitive::<TimestampMicrosecondType>()
                .null_count(),
            0
        );
    }
}

#[test]
fn a_pull_killed_midway_leaves_no_file_and_runs_again_cleanly() {
    let Some(url) = server() else { return };
    sql(
        &url,
        "DROP TABLE IF EXISTS rdbt_t_killed;
         CREATE TABLE rdbt_t_killed (customer_id int8 PRIMARY KEY, city text, updated_at timestamptz NOT NULL);
         INSERT INTO rdbt_t_killed SELECT i, 'c', now() FROM generate_series(1, 200000) i;",
    );
    let dir = pull_project(
        "rdbt_t_killed",
        "            chunk_rows: 10000\n            incremental_column: updated_at\n",
        "",
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_rdbt"))
        .args(["ingest", "--select", "source:pg"])
        .current_dir(dir.path())
        .env("PG_URL", &url)
        .env("RDBT_FAULT_PULL_DELAY_MS", "100")
        .stdout(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn");
    let journal = dir
        .path()
        .join("target/land/_ingest/pg/rdbt_t_killed/inflight/pull.json");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !journal.exists() {
        assert!(Instant::now() < deadline, "the pull never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    child.kill().expect("SIGKILL");
    child.wait().expect("wait");
    assert_eq!(
        row_count(&landed(dir.path(), "rdbt_t_killed")),
        0,
        "no partial file"
    );
    assert!(
        !dir.path()
            .join("target/land/_ingest/pg/rdbt_t_killed/pull.json")
            .exists(),
        "no watermark moved"
    );
    let run = ingest(dir.path(), &url);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(row_count(&landed(dir.path(), "rdbt_t_killed")), 200_000);
    let staged: Vec<_> = walkdir::WalkDir::new(dir.path().join("target/land"))
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains('#'))
        .collect();
    assert!(staged.is_empty(), "staging files left: {staged:?}");
}

#[test]
fn the_real_survey_loads_into_the_contract_table_and_pulls_dirty_values_and_all() {
    let Some(url) = server() else { return };
    let Some(data) = common::shared_data("online_delivery_customers.csv") else {
        return;
    };
    let csv = data.join("online_delivery_customers.csv");
    assert_eq!(load_survey(&url, "rdbt_t_survey", &csv), 388);
    let dir = pull_project(
        "rdbt_t_survey",
        "            primary_key: customer_id\n            incremental_column: updated_at\n",
        "",
    );
    let run = ingest(dir.path(), &url);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let batches = landed(dir.path(), "rdbt_t_survey");
    assert_eq!(row_count(&batches), 388);
    let occupations: Vec<String> = batches
        .iter()
        .flat_map(|b| {
            let c = b
                .column_by_name("occupation")
                .expect("occupation")
                .as_string::<i32>()
                .clone();
            (0..c.len())
                .map(move |i| c.value(i).to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(occupations.iter().any(|o| o == "Student"));
}

#[test]
fn connection_and_schema_problems_name_the_setting_and_never_the_password() {
    let Some(url) = server() else { return };
    sql(
        &url,
        "DROP TABLE IF EXISTS rdbt_t_errors; CREATE TABLE rdbt_t_errors (id int8, city text);",
    );
    let dir = pull_project("rdbt_t_errors", "", "");
    // Nothing listens on port 1; the password must not be printed.
    let run = ingest(dir.path(), "postgres://someone:s3cret-pw@127.0.0.1:1/test");
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(run.stdout.contains("ingest.postgres.url"), "{}", run.stdout);
    assert!(run.stdout.contains("127.0.0.1:1"), "{}", run.stdout);
    assert!(!run.stdout.contains("s3cret-pw"), "{}", run.stdout);
    let manifest =
        std::fs::read_to_string(dir.path().join("target/manifest.json")).unwrap_or_default();
    assert!(!manifest.contains("s3cret-pw"));

    // A role that does not exist.
    let base = url
        .split("://")
        .nth(1)
        .and_then(|r| r.split_once('@'))
        .map(|(_, host)| host.to_string())
        .expect("url");
    let run = ingest(
        dir.path(),
        &format!("postgres://no_such_role_rdbt:pw@{base}"),
    );
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(run.stdout.contains("no_such_role_rdbt"), "{}", run.stdout);

    // A missing table, and a declared column the table lacks.
    let missing = pull_project("rdbt_t_no_such_table", "", "");
    let run = ingest(missing.path(), &url);
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(
        run.stdout.contains("ingest.postgres.table"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("does not exist"), "{}", run.stdout);
    let bad_column = pull_project(
        "rdbt_t_errors",
        "",
        "        columns:\n          - {name: id}\n          - {name: citty}\n",
    );
    let run = ingest(bad_column.path(), &url);
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(run.stdout.contains("citty"), "{}", run.stdout);

    // A type rdbt cannot land names the column and the type.
    sql(
        &url,
        "DROP TABLE IF EXISTS rdbt_t_point; CREATE TABLE rdbt_t_point (id int8, spot point);",
    );
    let point = pull_project("rdbt_t_point", "", "");
    let run = ingest(point.path(), &url);
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(run.stdout.contains("columns.spot"), "{}", run.stdout);
    assert!(run.stdout.contains("`point`"), "{}", run.stdout);
}
