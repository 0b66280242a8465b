//! Building projects on the embedded DataFusion warehouse: every
//! materialization (incremental ones run twice, rows checked), failures that
//! skip only descendants, parallel threads, a writer killed mid-write, the
//! lock, --empty, retry, show and run_results.json.

mod common;

use common::{fixture, rdbt, rdbt_env, rows};
use serde_json::{Value, json};
use std::path::Path;

fn results(dir: &Path) -> Vec<(String, String)> {
    let v: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("target/run_results.json")).expect("run_results"),
    )
    .expect("json");
    // model.pkg.name, test.pkg.name.hash: the name is the third part.
    v["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["unique_id"]
                    .as_str()
                    .unwrap_or_default()
                    .split('.')
                    .nth(2)
                    .unwrap_or_default()
                    .to_string(),
                r["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn every_materialization_twice() {
    let p = fixture("materializations");
    let dir = p.path();
    let first = rdbt(dir, &["build", "--exclude", "inc_schema_fail"]);
    assert_eq!(first.code, 0, "{}", first.transcript());
    assert!(
        first.stdout.contains("OK loaded seed file main.events"),
        "{}",
        first.stdout
    );
    assert!(first.stdout.contains("Done. PASS="), "{}", first.stdout);
    assert_eq!(
        rows(dir, "select * from {{ ref('uses_ephemeral') }} order by id"),
        vec![
            json!({"id": 1, "doubled": 20.0}),
            json!({"id": 2, "doubled": 40.0}),
            json!({"id": 3, "doubled": 60.0})
        ],
        "nested ephemerals inline as CTEs"
    );
    let compiled =
        std::fs::read_to_string(dir.join("target/run/materializations/models/uses_ephemeral.sql"))
            .expect("executed SQL is kept");
    assert!(
        compiled.starts_with("with __dbt__cte__eph_base as ("),
        "{compiled}"
    );
    assert!(
        compiled.contains("__dbt__cte__eph_nested as ("),
        "{compiled}"
    );
    assert_eq!(
        rows(dir, "select count(*) as n from {{ ref('a_view') }}"),
        vec![json!({"n": 6})]
    );
    assert!(
        dir.join("target/warehouse/main/a_view.view.sql").is_file(),
        "views are stored SQL"
    );
    assert_eq!(
        rows(dir, "select sum(n) as n from {{ ref('a_table') }}"),
        vec![json!({"n": 6})]
    );
    assert_eq!(
        rows(dir, "select count(*) as n from {{ ref('inc_append') }}"),
        vec![json!({"n": 3})]
    );

    let second = rdbt(
        dir,
        &[
            "run",
            "--vars",
            "{batch: 2}",
            "--exclude",
            "inc_schema_fail",
        ],
    );
    assert_eq!(second.code, 0, "{}", second.transcript());
    // Rows affected: the batch appended or merged, not the table's size.
    assert!(second.stdout.contains("[APPEND 3 in"), "{}", second.stdout);
    assert!(second.stdout.contains("[MERGE 3 in"), "{}", second.stdout);
    let ids = |m: &str| {
        rows(
            dir,
            &format!("select id from {{{{ ref('{m}') }}}} order by id"),
        )
        .iter()
        .map(|r| r["id"].as_i64().unwrap_or(-1))
        .collect::<Vec<_>>()
    };
    assert_eq!(
        ids("inc_append"),
        vec![1, 2, 2, 3, 4, 5],
        "append keeps old rows"
    );
    assert_eq!(
        rows(
            dir,
            "select id, label, batch from {{ ref('inc_merge') }} order by id"
        ),
        vec![
            json!({"id": 1, "label": "a", "batch": 1}),
            json!({"id": 2, "label": "b2", "batch": 2}),
            json!({"id": 3, "label": "c", "batch": 1}),
            json!({"id": 4, "label": "d", "batch": 2}),
            json!({"id": 5, "label": "e", "batch": 2})
        ],
        "merge replaces by unique_key and is_incremental() filtered the new batch"
    );
    assert_eq!(ids("inc_delete_insert"), vec![1, 2, 3, 4, 5]);
    assert_eq!(
        rows(
            dir,
            "select cast(day as varchar) as day, total from {{ ref('inc_overwrite') }} order by day"
        ),
        vec![
            json!({"day": "2024-01-01", "total": 30.0}),
            json!({"day": "2024-01-02", "total": 25.0}),
            json!({"day": "2024-01-03", "total": 90.0})
        ],
        "insert_overwrite replaces whole partitions"
    );
    assert_eq!(
        rows(
            dir,
            "select count(*) as n, count(label) as labelled from {{ ref('inc_schema_change') }}"
        ),
        vec![json!({"n": 6, "labelled": 3})],
        "append_new_columns adds the column, old rows NULL"
    );

    // on_schema_change: fail stops the model and leaves the table as it was.
    assert_eq!(rdbt(dir, &["run", "-s", "inc_schema_fail"]).code, 0);
    let fail = rdbt(
        dir,
        &["run", "-s", "inc_schema_fail", "--vars", "{batch: 2}"],
    );
    assert_eq!(fail.code, 1, "{}", fail.transcript());
    assert!(
        fail.stdout
            .contains("on_schema_change is `fail`: added [label varchar]"),
        "{}",
        fail.stdout
    );
    assert_eq!(
        rows(
            dir,
            "select count(*) as n from {{ ref('inc_schema_fail') }}"
        ),
        vec![json!({"n": 3})]
    );

    // --full-refresh rebuilds incremental models from scratch.
    let refresh = rdbt(dir, &["run", "-s", "inc_append", "--full-refresh"]);
    assert_eq!(refresh.code, 0, "{}", refresh.transcript());
    assert_eq!(ids("inc_append"), vec![1, 2, 3]);
}

#[test]
fn seeds_infer_types_and_take_column_types() {
    let p = fixture("materializations");
    let dir = p.path();
    assert_eq!(rdbt(dir, &["seed"]).code, 0);
    assert_eq!(
        rows(
            dir,
            "select arrow_typeof(customer_id) as i, arrow_typeof(signup_date) as d, arrow_typeof(active) as b, arrow_typeof(name) as s from {{ ref('customers') }} limit 1"
        ),
        vec![json!({"i": "Int64", "d": "Date32", "b": "Boolean", "s": "Utf8View"})]
    );
    assert_eq!(
        rows(
            dir,
            "select arrow_typeof(value) as v from {{ ref('events') }} limit 1"
        ),
        vec![json!({"v": "Float64"})],
        "column_types wins over inference"
    );
    // A re-seed replaces.
    std::fs::write(
        dir.join("seeds/customers.csv"),
        "customer_id,name,signup_date,active\n7,Edsger,2024-03-01,true\n",
    )
    .expect("write");
    assert_eq!(rdbt(dir, &["seed", "-s", "customers"]).code, 0);
    assert_eq!(
        rows(dir, "select customer_id from {{ ref('customers') }}"),
        vec![json!({"customer_id": 7})]
    );
    // A malformed row: file and line, and the previous seed stays.
    std::fs::write(
        dir.join("seeds/customers.csv"),
        "customer_id,name,signup_date,active\n8,Barbara,2024-03-01,true\n9,Niklaus\n",
    )
    .expect("write");
    let bad = rdbt(dir, &["seed", "-s", "customers"]);
    assert_eq!(bad.code, 1, "{}", bad.transcript());
    assert!(
        bad.stdout.contains("seeds/customers.csv:3"),
        "{}",
        bad.stdout
    );
    assert_eq!(
        rows(dir, "select customer_id from {{ ref('customers') }}"),
        vec![json!({"customer_id": 7})]
    );
}

#[test]
fn a_failure_skips_descendants_only_and_retry_reruns_them() {
    let p = fixture("run_failures");
    let dir = p.path();
    // Static analysis stops the run before anything runs...
    let checked = rdbt(dir, &["run"]);
    assert_eq!(checked.code, 2, "{}", checked.transcript());
    assert!(
        checked
            .stdout
            .contains("error[R209]: No field named missing_column")
            && checked.stdout.contains("models/broken.sql:1:12"),
        "{}",
        checked.stdout
    );
    assert!(!dir.join("target/run_results.json").exists(), "nothing ran");
    // ...and without it, the failure is the model's alone.
    let rdbt = |dir: &std::path::Path, args: &[&str]| {
        common::rdbt_env(dir, args, &[("RDBT_STATIC_ANALYSIS", "off")])
    };
    let run = rdbt(dir, &["run"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stdout.contains("No field named missing_column"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("Done. PASS=2 WARN=0 ERROR=1 SKIP=2 TOTAL=5"),
        "{}",
        run.stdout
    );
    let mut got = results(dir);
    got.sort();
    assert_eq!(
        got,
        vec![
            ("after_broken".into(), "skipped".into()),
            ("broken".into(), "error".into()),
            ("root".into(), "success".into()),
            ("sibling".into(), "success".into()),
            ("two_after_broken".into(), "skipped".into())
        ]
    );
    assert!(
        dir.join("target/run/run_failures/models/broken.sql")
            .is_file(),
        "the SQL that failed is kept"
    );
    let v: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("target/run_results.json")).expect("rr"),
    )
    .expect("json");
    let root = v["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["unique_id"] == "model.run_failures.root")
        .expect("root")
        .clone();
    assert_eq!(root["adapter_response"]["rows_affected"], 1);
    assert!(
        root["execution_time"].as_f64().is_some() && root["timing"][0]["started_at"].is_string()
    );

    std::fs::write(
        dir.join("models/broken.sql"),
        "select id from {{ ref('root') }}",
    )
    .expect("fix");
    let retry = rdbt(dir, &["retry"]);
    assert_eq!(retry.code, 0, "{}", retry.transcript());
    let mut got = results(dir);
    got.sort();
    assert_eq!(
        got,
        vec![
            ("after_broken".into(), "success".into()),
            ("broken".into(), "success".into()),
            ("two_after_broken".into(), "success".into())
        ],
        "only failed and skipped nodes ran again"
    );
}

#[test]
fn fail_fast_stops_at_the_first_failure() {
    let p = fixture("run_failures");
    let run = rdbt(
        p.path(),
        &[
            "run",
            "--threads",
            "1",
            "--fail-fast",
            "--static-analysis",
            "off",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(results(p.path()).iter().any(|(_, s)| s == "skipped"));
}

/// Models heavy enough to overlap when run in parallel.
fn slow_project(dir: &Path, models: usize) {
    std::fs::create_dir_all(dir.join("models")).expect("mkdir");
    std::fs::write(
        dir.join("rdbt_project.yml"),
        "name: slow\nmodels:\n  slow:\n    +materialized: table\n",
    )
    .expect("write");
    for i in 0..models {
        std::fs::write(
            dir.join(format!("models/heavy_{i}.sql")),
            "select sum(value % 7) as s from generate_series(1, 3000000) as t(value)",
        )
        .expect("write");
    }
}

fn intervals(dir: &Path) -> Vec<(f64, f64)> {
    let v: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("target/run_results.json")).expect("rr"),
    )
    .expect("json");
    v["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            let t = |k: &str| {
                chrono::DateTime::parse_from_rfc3339(r["timing"][0][k].as_str().unwrap_or_default())
                    .map(|d| d.timestamp_micros() as f64 / 1e6)
                    .unwrap_or(0.0)
            };
            (t("started_at"), t("completed_at"))
        })
        .collect()
}

fn overlapping(iv: &[(f64, f64)]) -> bool {
    iv.iter()
        .enumerate()
        .any(|(i, a)| iv.iter().skip(i + 1).any(|b| a.0 < b.1 && b.0 < a.1))
}

#[test]
fn independent_nodes_run_in_parallel_up_to_threads() {
    let dir = tempfile::tempdir().expect("dir");
    slow_project(dir.path(), 4);
    let serial = rdbt(dir.path(), &["run", "--threads", "1"]);
    assert_eq!(serial.code, 0, "{}", serial.transcript());
    assert!(
        !overlapping(&intervals(dir.path())),
        "--threads 1 runs one node at a time"
    );
    let parallel = rdbt(dir.path(), &["run", "--threads", "4"]);
    assert_eq!(parallel.code, 0, "{}", parallel.transcript());
    assert!(
        overlapping(&intervals(dir.path())),
        "--threads 4 overlaps independent nodes"
    );
}

/// The files of a Delta table's folder other than its log: data files, and
/// data files being written.
fn data_files(table_dir: &std::path::Path) -> std::collections::BTreeSet<String> {
    std::fs::read_dir(table_dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "_delta_log")
        .collect()
}

/// Whether a data file not in `before` has bytes: a write is under way.
fn new_data_written(
    table_dir: &std::path::Path,
    before: &std::collections::BTreeSet<String>,
) -> bool {
    data_files(table_dir).iter().any(|n| {
        !before.contains(n)
            && std::fs::metadata(table_dir.join(n))
                .map(|m| m.len() > 0)
                .unwrap_or(false)
    })
}

#[test]
fn a_writer_killed_mid_write_leaves_the_previous_table_readable() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::create_dir_all(dir.path().join("models")).expect("mkdir");
    std::fs::write(
        dir.path().join("rdbt_project.yml"),
        "name: crash\nmodels:\n  crash:\n    +materialized: table\n",
    )
    .expect("write");
    let model = dir.path().join("models/big.sql");
    std::fs::write(
        &model,
        "select value as v from generate_series(1, 1000) as t(value)",
    )
    .expect("write");
    assert_eq!(rdbt(dir.path(), &["run"]).code, 0);
    std::fs::write(
        &model,
        "select value as v, repeat('x', 50) as pad from generate_series(1, 40000000) as t(value)",
    )
    .expect("write");
    let home = tempfile::tempdir().expect("home");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rdbt"))
        .args(["run", "-q"])
        .current_dir(dir.path())
        .env("HOME", home.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    // Kill once the new version's data files hold data: the write is under way.
    let table_dir = dir.path().join("target/warehouse/main/big");
    let before = data_files(&table_dir);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let writing = new_data_written(&table_dir, &before);
        if writing || std::time::Instant::now() > deadline {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        child.try_wait().expect("wait").is_none(),
        "the write finished before it could be killed; make the model bigger"
    );
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    assert_eq!(
        rows(dir.path(), "select count(*) as n from {{ ref('big') }}"),
        vec![json!({"n": 1000})],
        "the previous version is still the live one"
    );
    // The lock died with the process: the next run takes it and finishes.
    std::fs::write(
        &model,
        "select value as v from generate_series(1, 10) as t(value)",
    )
    .expect("write");
    let again = rdbt(dir.path(), &["run"]);
    assert_eq!(again.code, 0, "{}", again.transcript());
    assert_eq!(
        rows(dir.path(), "select count(*) as n from {{ ref('big') }}"),
        vec![json!({"n": 10})]
    );
}

#[test]
fn a_second_writer_stops_with_a_clear_message_and_readers_are_not_blocked() {
    use fs2::FileExt;
    let p = fixture("run_failures");
    let dir = p.path();
    assert_eq!(rdbt(dir, &["run", "-s", "root"]).code, 0);
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.join("target/warehouse/.lock"))
        .expect("lock file");
    lock.lock_exclusive().expect("take the lock");
    let blocked = rdbt_env(dir, &["run", "-s", "root"], &[("RDBT_LOCK_WAIT", "0")]);
    assert_eq!(blocked.code, 2, "{}", blocked.transcript());
    assert!(
        blocked
            .stdout
            .contains("is being written by another rdbt process"),
        "{}",
        blocked.stdout
    );
    assert_eq!(
        rows(dir, "select id from {{ ref('root') }}"),
        vec![json!({"id": 1})],
        "show reads while a writer holds the lock"
    );
    FileExt::unlock(&lock).expect("unlock");
    assert_eq!(
        rdbt_env(dir, &["run", "-s", "root"], &[("RDBT_LOCK_WAIT", "0")]).code,
        0
    );
}

#[test]
fn empty_builds_every_model_with_zero_rows() {
    let p = fixture("materializations");
    let dir = p.path();
    let run = rdbt(dir, &["build", "--empty", "--exclude", "inc_schema_fail"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(
        rows(dir, "select count(*) as n from {{ ref('a_table') }}"),
        vec![json!({"n": 0})]
    );
    assert_eq!(
        rows(dir, "select count(*) as n from {{ ref('events') }}"),
        vec![json!({"n": 0})]
    );
}

#[test]
fn show_prints_table_csv_and_json() {
    let p = fixture("materializations");
    let dir = p.path();
    assert_eq!(rdbt(dir, &["build", "-s", "events", "a_view"]).code, 0);
    let table = rdbt(dir, &["show", "-q", "-s", "a_view", "--limit", "2"]);
    assert_eq!(table.code, 0, "{}", table.transcript());
    assert_eq!(
        table.stdout.lines().filter(|l| l.starts_with("| ")).count(),
        3,
        "header and two rows: {}",
        table.stdout
    );
    let csv = rdbt(
        dir,
        &[
            "show",
            "-q",
            "--inline",
            "select id, label from {{ ref('a_view') }} order by id limit 2",
            "--output",
            "csv",
        ],
    );
    assert_eq!(csv.stdout, "id,label\n1,a\n2,b\n");
    let none = rdbt(dir, &["show", "-q"]);
    assert_eq!(none.code, 2);
    assert!(none.stdout.contains("needs one model"), "{}", none.stdout);
}

#[test]
fn build_runs_tests_and_a_failing_test_skips_downstream() {
    let dir = common::project(&[("rdbt_project.yml", "name: gate\n")]);
    let d = dir.path();
    std::fs::write(
        d.join("models/base.sql"),
        "select 1 as id union all select 1 as id",
    )
    .expect("write");
    std::fs::write(
        d.join("models/downstream.sql"),
        "select * from {{ ref('base') }}",
    )
    .expect("write");
    std::fs::write(d.join("models/other.sql"), "select 2 as id").expect("write");
    std::fs::write(
        d.join("models/schema.yml"),
        "version: 2\nmodels:\n  - name: base\n    columns:\n      - name: id\n        data_tests: [unique, not_null]\n  - name: other\n    columns:\n      - name: id\n        data_tests:\n          - unique:\n              config: {severity: warn}\n",
    )
    .expect("write");
    let run = rdbt(d, &["build"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    let mut got = results(d);
    got.sort();
    let status = |name: &str| {
        got.iter()
            .find(|(n, _)| n.starts_with(name))
            .map(|(_, s)| s.clone())
            .unwrap_or_default()
    };
    assert_eq!(status("unique_base_id"), "fail");
    assert_eq!(status("not_null_base_id"), "pass");
    assert_eq!(
        status("downstream"),
        "skipped",
        "a failing test skips what depends on its model"
    );
    assert_eq!(status("other"), "success");
    assert!(run.stdout.contains("FAIL 1"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("Got 1 result, configured to fail if != 0 on base, column id"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("compiled test SQL: target/run/gate/models/schema.yml/unique_base_id.sql"),
        "{}",
        run.stdout
    );
    assert!(
        d.join("target/run/gate/models/schema.yml/unique_base_id.sql")
            .is_file(),
        "the path printed exists"
    );
}

#[test]
fn macros_query_the_warehouse_while_compiling() {
    let p = fixture("materializations");
    let dir = p.path();
    let run = rdbt(dir, &["build", "-s", "+introspective"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(
        rows(dir, "select * from {{ ref('introspective') }}"),
        vec![
            json!({"label_1": "a", "label_2": "b", "label_3": "c", "max_value": 50.0, "event_columns": "id,batch,day,value,label"})
        ],
        "run_query, statement/load_result and get_columns_in_relation saw the built seed"
    );
}

#[test]
fn snapshots_keep_history_with_both_strategies() {
    let p = fixture("materializations");
    let dir = p.path();
    let first = rdbt(
        dir,
        &["build", "-s", "+people_by_timestamp", "+people_by_check"],
    );
    assert_eq!(first.code, 0, "{}", first.transcript());
    assert!(
        first
            .stdout
            .contains("snapshot snapshots.people_by_timestamp"),
        "{}",
        first.stdout
    );
    let changed = rdbt(dir, &["build", "-s", "people_src+", "--vars", "{batch: 2}"]);
    assert_eq!(changed.code, 0, "{}", changed.transcript());
    assert_eq!(
        rows(
            dir,
            "select id, name, dbt_valid_to is null as current, cast(dbt_valid_from as varchar) as valid_from from {{ ref('people_by_timestamp') }} order by id, dbt_valid_from"
        ),
        vec![
            json!({"id": 1, "name": "Ada", "current": true, "valid_from": "2024-01-01T00:00:00"}),
            json!({"id": 2, "name": "Grace", "current": false, "valid_from": "2024-01-01T00:00:00"}),
            json!({"id": 2, "name": "Grace Hopper", "current": true, "valid_from": "2024-02-01T00:00:00"}),
            json!({"id": 3, "name": "Linus", "current": false, "valid_from": "2024-01-01T00:00:00"}),
        ],
        "timestamp strategy: a new version per change; hard deletes invalidated"
    );
    let closed = rows(
        dir,
        "select cast(dbt_valid_to as varchar) as valid_to from {{ ref('people_by_timestamp') }} where id = 2 and name = 'Grace'",
    );
    assert_eq!(
        closed,
        vec![json!({"valid_to": "2024-02-01T00:00:00"})],
        "the old version ends where the new one starts"
    );
    assert_eq!(
        rows(
            dir,
            "select id, name, dbt_valid_to is null as current from {{ ref('people_by_check') }} order by id, dbt_valid_from"
        ),
        vec![
            json!({"id": 1, "name": "Ada", "current": true}),
            json!({"id": 2, "name": "Grace", "current": false}),
            json!({"id": 2, "name": "Grace Hopper", "current": true}),
            json!({"id": 3, "name": "Linus", "current": true})
        ],
        "check strategy: a change of a checked column makes a version; without invalidate_hard_deletes a deleted row stays current"
    );
    // Nothing changed: nothing new.
    assert_eq!(rdbt(dir, &["snapshot", "--vars", "{batch: 2}"]).code, 0);
    assert_eq!(
        rows(
            dir,
            "select count(*) as n from {{ ref('people_by_timestamp') }}"
        ),
        vec![json!({"n": 4})]
    );
    let ids = rows(
        dir,
        "select count(distinct dbt_scd_id) as n from {{ ref('people_by_timestamp') }}",
    );
    assert_eq!(
        ids,
        vec![json!({"n": 4})],
        "dbt_scd_id is unique per version"
    );
}

#[test]
fn run_operation_calls_a_macro_against_the_warehouse() {
    let p = fixture("materializations");
    let dir = p.path();
    assert_eq!(rdbt(dir, &["seed", "-s", "events"]).code, 0);
    let run = rdbt(
        dir,
        &[
            "run-operation",
            "-q",
            "count_rows",
            "--args",
            "{model_name: events}",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(run.stdout.trim(), "6");
    let missing = rdbt(dir, &["run-operation", "count_row"]);
    assert_eq!(missing.code, 2);
    assert!(
        missing.stdout.contains("did you mean `count_rows`?"),
        "{}",
        missing.stdout
    );
}

#[test]
fn a_failing_project_hook_fails_the_run() {
    let p = fixture("materializations");
    let dir = p.path();
    let pf = dir.join("rdbt_project.yml");
    let text = std::fs::read_to_string(&pf)
        .expect("read")
        .replace("select 1 as started", "select * from no_such_table");
    std::fs::write(&pf, text).expect("write");
    let run = rdbt(dir, &["run", "-s", "a_view"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stdout.contains("on-run-start hook failed"),
        "{}",
        run.stdout
    );
    assert!(
        results(dir).iter().all(|(_, s)| s == "skipped"),
        "nothing runs after a failed on-run-start hook"
    );
}

#[test]
fn a_missing_upstream_table_names_the_command_that_builds_it() {
    let p = fixture("run_failures");
    let run = rdbt(p.path(), &["run", "-s", "sibling"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(run.stdout.contains("upstream model `root` has not been built here: run `rdbt run -s root` (or `rdbt build -s +sibling`)"), "{}", run.stdout);
}

#[test]
fn an_unwritable_warehouse_is_a_clear_error_and_keeps_previous_tables() {
    let p = fixture("run_failures");
    let dir = p.path();
    assert_eq!(rdbt(dir, &["run", "-s", "root"]).code, 0);
    // The table folder of `sibling` is taken by a file: nothing can be written there.
    std::fs::write(dir.join("target/warehouse/main/sibling"), "not a folder").expect("block");
    let run = rdbt(dir, &["run", "-s", "root", "sibling"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stdout.contains("cannot create the table folder"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("target/warehouse/main/sibling"),
        "{}",
        run.stdout
    );
    assert_eq!(
        rows(dir, "select id from {{ ref('root') }}"),
        vec![json!({"id": 1})],
        "the other table is intact"
    );
}

#[test]
fn sigterm_stops_cleanly_and_still_writes_run_results() {
    let dir = common::project(&[(
        "rdbt_project.yml",
        "name: interrupted\nmodels:\n  interrupted:\n    +materialized: table\n",
    )]);
    let d = dir.path();
    let model = d.join("models/slow.sql");
    std::fs::write(&model, "select 1 as v").expect("write");
    assert_eq!(rdbt(d, &["run"]).code, 0);
    std::fs::write(
        &model,
        "select value as v, repeat('x', 50) as pad from generate_series(1, 40000000) as t(value)",
    )
    .expect("write");
    std::fs::write(
        d.join("models/after.sql"),
        "select * from {{ ref('slow') }}",
    )
    .expect("write");
    let home = tempfile::tempdir().expect("home");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_rdbt"))
        .args(["run"])
        .current_dir(d)
        .env("HOME", home.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    // Wait until the slow model is writing, then ask the run to stop.
    let table_dir = d.join("target/warehouse/main/slow");
    let before = data_files(&table_dir);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        if new_data_written(&table_dir, &before) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let out = child.wait_with_output().expect("wait");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let mut got = results(d);
    got.sort();
    assert_eq!(
        got,
        vec![
            ("after".into(), "skipped".into()),
            ("slow".into(), "skipped".into())
        ],
        "run_results.json lists every node even when interrupted"
    );
    assert_eq!(
        rows(d, "select count(*) as n from {{ ref('slow') }}"),
        vec![json!({"n": 1})],
        "the interrupted table keeps its previous version"
    );
}

#[test]
fn stored_failures_land_in_the_audit_schema() {
    let dir = common::project(&[("rdbt_project.yml", "name: audit\n")]);
    let d = dir.path();
    std::fs::write(
        d.join("models/dupes.sql"),
        "select 1 as id union all select 1 union all select 2",
    )
    .expect("write");
    std::fs::write(d.join("models/schema.yml"), "version: 2\nmodels:\n  - name: dupes\n    columns:\n      - name: id\n        data_tests:\n          - unique:\n              config: {store_failures: true, severity: warn}\n").expect("write");
    let run = rdbt(d, &["build"]);
    assert_eq!(
        run.code,
        0,
        "warn severity does not fail the run: {}",
        run.transcript()
    );
    assert!(
        run.stdout
            .contains("failing rows stored in main_dbt_test__audit.unique_dupes_id"),
        "{}",
        run.stdout
    );
    assert_eq!(
        rows(
            d,
            "select unique_field, n_records from main_dbt_test__audit.unique_dupes_id"
        ),
        vec![json!({"unique_field": 1, "n_records": 2})]
    );
}

#[test]
fn log_format_json_prints_one_event_per_line() {
    let p = fixture("run_failures");
    let run = rdbt(
        p.path(),
        &["run", "--log-format", "json", "-s", "root", "sibling"],
    );
    assert_eq!(run.code, 0, "{}", run.transcript());
    // Every console line is one JSON event in dbt's envelope.
    let events: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    assert!(events.iter().all(|e| {
        e["info"]["name"].is_string()
            && e["info"]["level"].is_string()
            && e["info"]["msg"].is_string()
            && e["info"]["ts"].is_string()
            && e["info"]["invocation_id"] == events[0]["info"]["invocation_id"]
            && e["data"].is_object()
    }));
    let finished: Vec<&Value> = events
        .iter()
        .filter(|e| e["info"]["name"] == "LogModelResult")
        .collect();
    assert_eq!(finished.len(), 2);
    assert!(finished.iter().all(|e| {
        e["info"]["code"] == "Q012"
            && e["data"]["status"] == "success"
            && e["data"]["execution_time"].is_number()
            && e["data"]["rows_affected"] == 1
            && e["data"]["node_info"]["unique_id"]
                .as_str()
                .is_some_and(|id| id.starts_with("model."))
    }));
    let stats = events
        .iter()
        .find(|e| e["info"]["name"] == "StatsLine")
        .expect("a StatsLine event");
    assert_eq!(
        stats["info"]["msg"],
        "Done. PASS=2 WARN=0 ERROR=0 SKIP=0 TOTAL=2"
    );
    assert_eq!(stats["data"]["stats"]["pass"], 2);
    // The run_results.json of this run carries the same invocation id.
    let results: Value = serde_json::from_str(
        &std::fs::read_to_string(p.path().join("target/run_results.json")).expect("results"),
    )
    .expect("json");
    assert_eq!(
        results["metadata"]["invocation_id"],
        events[0]["info"]["invocation_id"]
    );
}

#[test]
fn failures_go_to_stdout_and_quiet_keeps_them() {
    let p = fixture("run_failures");
    // The failure this checks is the warehouse's, at run time.
    let run = rdbt(p.path(), &["run", "--static-analysis", "off"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(run.stdout.contains("Done. PASS="), "{}", run.transcript());
    assert!(
        run.stdout.contains("ERROR creating"),
        "{}",
        run.transcript()
    );
    assert_eq!(run.stderr, "", "nothing on stderr: {}", run.transcript());

    let quiet = rdbt(p.path(), &["run", "-q", "--static-analysis", "off"]);
    assert_eq!(quiet.code, 1, "{}", quiet.transcript());
    // The failing node's line, its error and the failure's message stay;
    // progress and the summary go.
    assert!(
        quiet.stdout.contains("ERROR creating"),
        "{}",
        quiet.transcript()
    );
    assert!(
        quiet.stdout.contains("Error in model"),
        "{}",
        quiet.transcript()
    );
    assert!(!quiet.stdout.contains("START"), "{}", quiet.transcript());
    assert!(
        !quiet.stdout.contains("Done. PASS="),
        "{}",
        quiet.transcript()
    );
    assert!(
        !quiet.stdout.contains("OK created"),
        "{}",
        quiet.transcript()
    );

    let errors_only = rdbt(
        p.path(),
        &["run", "--log-level", "error", "--static-analysis", "off"],
    );
    assert!(
        errors_only.stdout.contains("ERROR creating"),
        "{}",
        errors_only.transcript()
    );
    assert!(
        !errors_only.stdout.contains("START"),
        "{}",
        errors_only.transcript()
    );
    let silent = rdbt(
        p.path(),
        &["run", "--log-level", "none", "--static-analysis", "off"],
    );
    assert_eq!(silent.code, 1);
    assert_eq!(silent.stdout, "", "{}", silent.transcript());
}

#[test]
fn enforced_contracts_are_checked_before_anything_is_written() {
    let dir = common::project(&[(
        "rdbt_project.yml",
        "name: contracts\nmodels:\n  contracts:\n    +materialized: table\n",
    )]);
    let d = dir.path();
    let model = d.join("models/customers.sql");
    std::fs::write(&model, "select 1 as id, 'Ada' as name").expect("write");
    std::fs::write(
        d.join("models/schema.yml"),
        "version: 2\nmodels:\n  - name: customers\n    config:\n      contract: {enforced: true}\n    columns:\n      - name: id\n        data_type: int\n        constraints:\n          - type: not_null\n          - type: primary_key\n      - name: name\n        data_type: varchar\n",
    )
    .expect("write");
    let ok = rdbt(d, &["run"]);
    assert_eq!(ok.code, 0, "{}", ok.transcript());

    std::fs::write(&model, "select 'one' as id, 'Ada' as name, 3 as extra").expect("write");
    let mismatch = rdbt(d, &["run"]);
    assert_eq!(mismatch.code, 1, "{}", mismatch.transcript());
    assert!(
        mismatch
            .stdout
            .contains("the contract of model `customers` is not met"),
        "{}",
        mismatch.stdout
    );
    assert!(
        mismatch
            .stdout
            .contains("id: declared int, the model produces varchar"),
        "{}",
        mismatch.stdout
    );
    assert!(
        mismatch
            .stdout
            .contains("extra: produced as integer, not declared")
            || mismatch
                .stdout
                .contains("extra: produced as bigint, not declared"),
        "{}",
        mismatch.stdout
    );

    std::fs::write(
        &model,
        "select cast(null as int) as id, 'Ada' as name union all select 1, 'Grace'",
    )
    .expect("write");
    let violated = rdbt(d, &["run"]);
    assert_eq!(violated.code, 1, "{}", violated.transcript());
    assert!(
        violated
            .stdout
            .contains("constraint id not_null fails for 1 row; nothing was written"),
        "{}",
        violated.stdout
    );
    assert_eq!(
        rows(d, "select id, name from {{ ref('customers') }}"),
        vec![json!({"id": 1, "name": "Ada"})],
        "the previous version stays"
    );
}

#[test]
fn source_freshness_passes_warns_and_errors() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    std::fs::create_dir_all(d.join("models")).expect("mkdir");
    std::fs::create_dir_all(d.join("seeds")).expect("mkdir");
    std::fs::write(
        d.join("rdbt_project.yml"),
        "name: fresh\nseeds:\n  fresh:\n    +schema: raw\n",
    )
    .expect("write");
    let now = chrono::Utc::now();
    let stamp = |hours: i64| {
        (now - chrono::Duration::hours(hours))
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    };
    std::fs::write(
        d.join("seeds/recent_events.csv"),
        format!("id,loaded_at\n1,{}\n", stamp(1)),
    )
    .expect("write");
    std::fs::write(
        d.join("seeds/day_old_events.csv"),
        format!("id,loaded_at\n1,{}\n", stamp(30)),
    )
    .expect("write");
    std::fs::write(
        d.join("seeds/week_old_events.csv"),
        format!("id,loaded_at\n1,{}\n", stamp(24 * 7)),
    )
    .expect("write");
    std::fs::write(
        d.join("models/sources.yml"),
        "version: 2\nsources:\n  - name: app\n    schema: main_raw\n    loaded_at_field: loaded_at\n    freshness:\n      warn_after: {count: 12, period: hour}\n      error_after: {count: 3, period: day}\n    tables:\n      - name: recent\n        identifier: recent_events\n      - name: day_old\n        identifier: day_old_events\n      - name: week_old\n        identifier: week_old_events\n",
    )
    .expect("write");
    assert_eq!(rdbt(d, &["seed"]).code, 0);
    let run = rdbt(d, &["source", "freshness"]);
    assert_eq!(
        run.code,
        1,
        "an error-stale source fails the command: {}",
        run.transcript()
    );
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(d.join("target/sources.json")).expect("sources.json"),
    )
    .expect("json");
    let status = |table: &str| {
        doc["results"]
            .as_array()
            .expect("results")
            .iter()
            .find(|r| r["unique_id"] == format!("source.fresh.app.{table}"))
            .map(|r| r["status"].as_str().unwrap_or_default().to_string())
            .unwrap_or_default()
    };
    assert_eq!(status("recent"), "pass");
    assert_eq!(status("day_old"), "warn");
    assert_eq!(status("week_old"), "error");
    let only_recent = rdbt(d, &["source", "freshness", "-s", "source:app.recent"]);
    assert_eq!(only_recent.code, 0, "{}", only_recent.transcript());
}

#[test]
fn unit_tests_run_on_given_rows_without_building_anything() {
    let p = fixture("materializations");
    let dir = p.path();
    let run = rdbt(dir, &["test", "-s", "test_type:unit"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(
        run.stdout
            .contains("PASS unit test full_load_keeps_every_row"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("PASS unit test incremental_run_takes_only_new_batches"),
        "the is_incremental override and a mocked `this`: {}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("PASS unit test vars_override_picks_the_batch"),
        "overrides: vars: {}",
        run.stdout
    );
    assert!(
        !dir.join("target/warehouse/main/events").exists(),
        "no upstream model was built"
    );

    // A wrong expectation: the failure shows a row diff.
    let yaml = dir.join("models/unit_tests.yml");
    let text = std::fs::read_to_string(&yaml)
        .expect("read")
        .replace("        - {id: 4, label: d}", "        - {id: 4, label: x}");
    std::fs::write(&yaml, text).expect("write");
    let fail = rdbt(dir, &["test", "-s", "test_type:unit"]);
    assert_eq!(fail.code, 1, "{}", fail.transcript());
    assert!(
        fail.stdout
            .contains("actual differs from expected on [id, label]"),
        "{}",
        fail.stdout
    );
    assert!(
        fail.stdout
            .contains("- 4 | \"x\"   (expected, not produced)"),
        "{}",
        fail.stdout
    );
    assert!(
        fail.stdout
            .contains("+ 4 | \"d\"   (produced, not expected)"),
        "{}",
        fail.stdout
    );

    // A fixture naming nothing is reported before anything runs, at its file.
    let text = std::fs::read_to_string(&yaml).expect("read").replace(
        "input: ref('events')\n        format: csv",
        "input: ref('event')\n        format: csv",
    );
    std::fs::write(&yaml, text).expect("write");
    let bad = rdbt(dir, &["test", "-s", "test_type:unit"]);
    assert_eq!(bad.code, 2, "{}", bad.transcript());
    assert!(
        bad.stdout.contains(
            "error[R301]: unit_test `incremental_run_takes_only_new_batches` refers to `event`"
        ),
        "{}",
        bad.stdout
    );
    assert!(
        bad.stdout.contains("models/unit_tests.yml:"),
        "{}",
        bad.stdout
    );
    assert!(
        bad.stdout.contains("did you mean `events`?"),
        "{}",
        bad.stdout
    );

    // A malformed fixture too.
    let text = std::fs::read_to_string(&yaml).expect("read").replace("input: ref('event')", "input: ref('events')").replace("        rows:\n          - {id: 1, value: 10, label: a, batch: 1, day: '2024-01-01'}", "        rows: not-a-list\n        notes:\n          - {id: 1, value: 10, label: a, batch: 1, day: '2024-01-01'}");
    std::fs::write(&yaml, text).expect("write");
    let malformed = rdbt(dir, &["test", "-s", "test_type:unit"]);
    assert_eq!(malformed.code, 2, "{}", malformed.transcript());
    assert!(malformed.stdout.contains("unit test `full_load_keeps_every_row`: given input `ref('events')`: `rows` must be a list of mappings"), "{}", malformed.stdout);
    assert!(
        malformed.stdout.contains("models/unit_tests.yml:4:"),
        "{}",
        malformed.stdout
    );
}

#[test]
fn a_test_on_a_missing_column_names_the_yaml_line_and_the_real_columns() {
    let dir = common::project(&[("rdbt_project.yml", "name: cols\n")]);
    let d = dir.path();
    std::fs::write(
        d.join("models/orders.sql"),
        "select 1 as order_id, 2.5 as amount",
    )
    .expect("write");
    std::fs::write(d.join("models/schema.yml"), "version: 2\nmodels:\n  - name: orders\n    columns:\n      - name: order_id\n        data_tests: [unique]\n      - name: amont\n        data_tests: [not_null]\n").expect("write");
    // Reported before anything runs, at the test's YAML entry.
    let run = rdbt(d, &["build"]);
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(run.stdout.contains("error[R209]: test `not_null_orders_amont` checks column `amont`, which model `orders` does not have"), "{}", run.stdout);
    assert!(
        run.stdout.contains("models/schema.yml:8:"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("its columns are: order_id, amount"),
        "{}",
        run.stdout
    );
    assert!(!d.join("target/run_results.json").exists(), "nothing ran");
    // Without static analysis, the test itself fails the same way.
    let run = common::rdbt_env(d, &["build"], &[("RDBT_STATIC_ANALYSIS", "off")]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(run.stdout.contains("models/schema.yml:8: test `not_null_orders_amont` checks column `amont`, which model `orders` does not have (its columns: order_id, amount)"), "{}", run.stdout);
}

#[test]
fn seed_delimiter_and_relation_api() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    std::fs::create_dir_all(d.join("seeds")).expect("mkdir");
    std::fs::write(
        d.join("rdbt_project.yml"),
        "name: semi\nseeds:\n  semi:\n    prices:\n      +delimiter: ';'\n",
    )
    .expect("write");
    std::fs::write(
        d.join("seeds/prices.csv"),
        "item;price\napple;1.5\npear;2\n",
    )
    .expect("write");
    let run = rdbt(d, &["seed"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(
        rows(
            d,
            "select item, price from {{ ref('prices') }} order by item"
        ),
        vec![
            json!({"item": "apple", "price": 1.5}),
            json!({"item": "pear", "price": 2.0})
        ]
    );
    let rel = rows(
        d,
        "select '{{ api.Relation.create(database=\"warehouse\", schema=\"main\", identifier=\"prices\") }}' as r, '{{ api.Relation.create(schema=\"main\", identifier=\"prices\").include(schema=false) }}' as bare",
    );
    assert_eq!(
        rel,
        vec![json!({"r": "\"main\".\"prices\"", "bare": "\"prices\""})]
    );
}

#[test]
fn freshness_of_a_source_not_in_the_warehouse_points_at_its_yaml() {
    let dir = common::project(&[("rdbt_project.yml", "name: nofresh\n")]);
    let d = dir.path();
    std::fs::write(d.join("models/sources.yml"), "version: 2\nsources:\n  - name: app\n    loaded_at_field: loaded_at\n    freshness:\n      warn_after: {count: 1, period: day}\n    tables:\n      - name: events\n").expect("write");
    let run = rdbt(d, &["source", "freshness"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    assert!(
        run.stdout
            .contains("freshness of app.events could not be checked"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("models/sources.yml:8:"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("land the source first"),
        "{}",
        run.stdout
    );
}

#[test]
fn adapter_methods_the_warehouse_lacks_fail_instead_of_doing_nothing() {
    let p = fixture("materializations");
    let dir = p.path();
    assert_eq!(rdbt(dir, &["seed", "-s", "events"]).code, 0);
    std::fs::write(dir.join("macros/truncate.sql"), "{% macro truncate_events() %}{% do adapter.truncate_relation(ref('events')) %}{% endmacro %}\n{% macro drop_events() %}{% do adapter.drop_relation(ref('events')) %}{% endmacro %}\n").expect("write");
    let run = rdbt(dir, &["run-operation", "truncate_events"]);
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(
        run.stdout
            .contains("adapter.truncate_relation is not available on the datafusion warehouse yet"),
        "{}",
        run.stdout
    );
    assert_eq!(
        rows(dir, "select count(*) as n from {{ ref('events') }}"),
        vec![json!({"n": 6})],
        "nothing was touched"
    );
    assert_eq!(rdbt(dir, &["run-operation", "drop_events"]).code, 0);
    assert!(
        !dir.join("target/warehouse/main/events").exists(),
        "drop_relation really drops"
    );
}

/// Regression (issue 8): a relationships test from a fact to a dimension
/// built from that fact cannot gate the dimension; `rdbt build` used to
/// skip the dimension and everything below it.
#[test]
fn a_relationships_test_to_a_downstream_model_does_not_block_it() {
    let dir = common::project(&[
        ("rdbt_project.yml", "name: gates\n"),
        (
            "models/fact.sql",
            "select 1 as id, 10 as customer_id union all select 2, 20",
        ),
        (
            "models/dim.sql",
            "select distinct customer_id from {{ ref('fact') }}",
        ),
        (
            "models/mart.sql",
            "select count(*) as n from {{ ref('dim') }}",
        ),
        (
            "models/schema.yml",
            "version: 2\nmodels:\n  - name: fact\n    columns:\n      - name: customer_id\n        data_tests:\n          - relationships: {to: ref('dim'), field: customer_id}\n      - name: id\n        data_tests: [unique]\n",
        ),
    ]);
    let run = rdbt(dir.path(), &["build"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let statuses: Vec<(String, String)> = results(dir.path());
    assert!(
        statuses.iter().all(|(_, s)| s == "success" || s == "pass"),
        "{statuses:?}"
    );
    assert_eq!(statuses.len(), 5, "{statuses:?}");
}

/// `full_refresh` in config wins over the flag, as dbt's
/// `should_full_refresh()`: `false` keeps a model incremental under
/// `--full-refresh`, `true` rebuilds it on every run.
#[test]
fn full_refresh_config_wins_over_the_flag() {
    let p = common::project(&[
        ("rdbt_project.yml", "name: demo\nmodel-paths: [models]\n"),
        (
            "models/kept.sql",
            "{{ config(materialized='incremental', full_refresh=false) }}\nselect {{ var('batch', 1) }} as id",
        ),
        (
            "models/rebuilt.sql",
            "{{ config(materialized='incremental', full_refresh=true) }}\nselect {{ var('batch', 1) }} as id",
        ),
    ]);
    let dir = p.path();
    let first = rdbt(dir, &["run"]);
    assert_eq!(first.code, 0, "{}", first.transcript());
    let second = rdbt(dir, &["run", "--full-refresh", "--vars", "{batch: 2}"]);
    assert_eq!(second.code, 0, "{}", second.transcript());
    let ids = |m: &str| {
        rows(
            dir,
            &format!("select id from {{{{ ref('{m}') }}}} order by id"),
        )
    };
    assert_eq!(ids("kept"), vec![json!({"id": 1}), json!({"id": 2})]);
    assert_eq!(ids("rebuilt"), vec![json!({"id": 2})]);
    let third = rdbt(dir, &["run", "--vars", "{batch: 3}"]);
    assert_eq!(third.code, 0, "{}", third.transcript());
    assert_eq!(ids("rebuilt"), vec![json!({"id": 3})]);
    assert_eq!(ids("kept").len(), 3);
}

/// #30 item 7: a microbatch model is built in batches of its
/// `batch_size`, each reading its parents' rows of that window only and
/// replacing that window of the table; `--event-time-start/-end` choose
/// the batches, and `rdbt retry` runs only a failed batch again.
#[test]
fn microbatch_builds_and_retries_batches_by_event_time() {
    let p = common::project(&[
        (
            "rdbt_project.yml",
            "name: demo\nmodel-paths: [models]\nseed-paths: [seeds]\n",
        ),
        (
            "seeds/events.csv",
            "id,ts,amount\n1,2024-01-01 10:00:00,5\n2,2024-01-01 11:00:00,7\n3,2024-01-02 09:00:00,1\n4,2024-01-03 23:59:59,2\n",
        ),
        (
            "seeds/seeds.yml",
            "version: 2\nseeds:\n  - name: events\n    config:\n      event_time: ts\n",
        ),
        (
            "models/daily.sql",
            "{{ config(materialized='incremental', incremental_strategy='microbatch', event_time='day', batch_size='day', begin='2024-01-01') }}\n\
             select cast(ts as date) as day, count(*) as n, sum(amount) as amount,\n\
               10 / (case when cast(ts as date) = date '2024-01-02' and {{ var('break', 0) }} = 1 then 0 else 1 end) as ok,\n\
               '{{ model.batch.id if model.batch else '' }}' as batch_id\n\
             from {{ ref('events') }}\ngroup by 1, 4\n",
        ),
    ]);
    let dir = p.path();
    let window = [
        "--event-time-start",
        "2024-01-01",
        "--event-time-end",
        "2024-01-04",
    ];
    let mut args = vec!["build"];
    args.extend(window);
    let first = rdbt(dir, &args);
    assert_eq!(first.code, 0, "{}", first.transcript());
    assert!(
        first.stdout.contains("[MICROBATCH 3 batches (3 rows)"),
        "{}",
        first.stdout
    );
    let days = || {
        rows(
            dir,
            "select cast(day as varchar) as day, n, amount from {{ ref('daily') }} order by day",
        )
    };
    assert_eq!(
        days(),
        vec![
            json!({"day": "2024-01-01", "n": 2, "amount": 12}),
            json!({"day": "2024-01-02", "n": 1, "amount": 1}),
            json!({"day": "2024-01-03", "n": 1, "amount": 2}),
        ]
    );
    // Each batch's SQL sees dbt's `model.batch`.
    assert_eq!(
        rows(
            dir,
            "select batch_id from {{ ref('daily') }} order by batch_id"
        ),
        vec![
            json!({"batch_id": "20240101"}),
            json!({"batch_id": "20240102"}),
            json!({"batch_id": "20240103"}),
        ]
    );

    // Late rows for two days; a backfill of 2024-01-02 alone takes its
    // late row and leaves 2024-01-03 as it was.
    std::fs::write(
        dir.join("seeds/events.csv"),
        "id,ts,amount\n1,2024-01-01 10:00:00,5\n2,2024-01-01 11:00:00,7\n3,2024-01-02 09:00:00,1\n4,2024-01-03 23:59:59,2\n5,2024-01-02 20:00:00,4\n6,2024-01-03 01:00:00,8\n",
    )
    .unwrap();
    let seed = rdbt(dir, &["seed"]);
    assert_eq!(seed.code, 0, "{}", seed.transcript());
    let backfill = rdbt(
        dir,
        &[
            "run",
            "--event-time-start",
            "2024-01-02",
            "--event-time-end",
            "2024-01-03",
        ],
    );
    assert_eq!(backfill.code, 0, "{}", backfill.transcript());
    assert_eq!(
        days(),
        vec![
            json!({"day": "2024-01-01", "n": 2, "amount": 12}),
            json!({"day": "2024-01-02", "n": 2, "amount": 5}),
            json!({"day": "2024-01-03", "n": 1, "amount": 2}),
        ]
    );

    // One batch fails: the others are written, run_results lists the
    // failed window, and retry runs that one alone.
    let mut args = vec!["run", "--vars", "{break: 1}"];
    args.extend(window);
    let broken = rdbt(dir, &args);
    assert_eq!(broken.code, 1, "{}", broken.transcript());
    assert!(
        broken.stdout.contains("1 of 3 batches failed"),
        "{}",
        broken.stdout
    );
    let results: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("target/run_results.json")).unwrap(),
    )
    .unwrap();
    // dbt 1.9's partial success: the run fails, the console says which
    // share of batches was written.
    assert_eq!(results["results"][0]["status"], "partial success");
    assert!(
        broken.stdout.contains("PARTIAL SUCCESS (2/3 batches)")
            && broken
                .stdout
                .contains("Completed with 0 errors, 1 partial success and 0 warnings:"),
        "{}",
        broken.stdout
    );
    let batches = &results["results"][0]["batch_results"];
    assert_eq!(
        batches["failed"],
        json!([["2024-01-02 00:00:00", "2024-01-03 00:00:00"]])
    );
    assert_eq!(batches["successful"].as_array().unwrap().len(), 2);
    assert_eq!(
        days()[2],
        json!({"day": "2024-01-03", "n": 2, "amount": 10})
    );
    let retried = rdbt(dir, &["retry"]);
    assert_eq!(retried.code, 0, "{}", retried.transcript());
    assert!(
        retried.stdout.contains("[MICROBATCH 1 batch (1 rows)"),
        "{}",
        retried.stdout
    );
    assert_eq!(days().len(), 3);

    // A later build with no window runs the current batch and the lookback.
    let again = rdbt(dir, &["run"]);
    assert_eq!(again.code, 0, "{}", again.transcript());
    assert!(
        again.stdout.contains("[MICROBATCH 2 batches (0 rows)"),
        "{}",
        again.stdout
    );

    // Without `begin`, the model says what it needs.
    std::fs::write(
        dir.join("models/daily.sql"),
        "{{ config(materialized='incremental', incremental_strategy='microbatch', event_time='day', batch_size='day') }}\nselect 1 as day",
    )
    .unwrap();
    let no_begin = rdbt(dir, &["run", "--full-refresh"]);
    // (at parse, at the config's line, as dbt checks it)
    assert_eq!(no_begin.code, 2, "{}", no_begin.transcript());
    assert!(
        no_begin
            .transcript()
            .contains("a microbatch model needs `begin`")
            && no_begin.transcript().contains("models/daily.sql:1"),
        "{}",
        no_begin.transcript()
    );
}

/// dbt 1.10's `--sample`: models read their parents' rows in the window
/// only, where the parent has an `event_time`; others are read whole.
#[test]
fn sample_mode_filters_parents_with_an_event_time() {
    let p = common::project(&[
        (
            "rdbt_project.yml",
            "name: demo\nmodel-paths: [models]\nseed-paths: [seeds]\n",
        ),
        (
            "seeds/events.csv",
            "id,ts\n1,2024-01-01 10:00:00\n2,2024-01-02 09:00:00\n3,2024-01-02 23:00:00\n4,2024-01-03 01:00:00\n",
        ),
        ("seeds/kinds.csv", "kind\na\nb\n"),
        (
            "seeds/seeds.yml",
            "version: 2\nseeds:\n  - name: events\n    config:\n      event_time: ts\n",
        ),
        (
            "models/totals.sql",
            "{{ config(materialized='table') }}\nselect (select count(*) from {{ ref('events') }}) as events, (select count(*) from {{ ref('kinds') }}) as kinds",
        ),
        // A model in BigQuery's SQL reads the same window.
        (
            "models/bq_totals.sql",
            "{{ config(materialized='table', sql_dialect='bigquery') }}\nselect count(*) as events from {{ ref('events') }}",
        ),
    ]);
    let dir = p.path();
    let seed = rdbt(dir, &["seed"]);
    assert_eq!(seed.code, 0, "{}", seed.transcript());
    let totals = || rows(dir, "select events, kinds from {{ ref('totals') }}");
    let sampled = rdbt(
        dir,
        &["run", "--sample", "{start: 2024-01-02, end: 2024-01-03}"],
    );
    assert_eq!(sampled.code, 0, "{}", sampled.transcript());
    assert_eq!(totals(), vec![json!({"events": 2, "kinds": 2})]);
    assert_eq!(
        rows(dir, "select events from {{ ref('bq_totals') }}"),
        vec![json!({"events": 2})]
    );
    let recent = rdbt(dir, &["run", "--sample", "3 days"]);
    assert_eq!(recent.code, 0, "{}", recent.transcript());
    assert_eq!(totals(), vec![json!({"events": 0, "kinds": 2})]);
    let whole = rdbt(dir, &["run"]);
    assert_eq!(whole.code, 0, "{}", whole.transcript());
    assert_eq!(totals(), vec![json!({"events": 4, "kinds": 2})]);
    let bad = rdbt(dir, &["run", "--sample", "3 fortnights"]);
    assert_eq!(bad.code, 2, "{}", bad.transcript());
    assert!(
        bad.transcript().contains("--sample `3 fortnights`"),
        "{}",
        bad.transcript()
    );
}
