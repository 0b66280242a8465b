//! The BigQuery target. Offline: the HTTP layer against recorded API
//! exchanges (retries, job errors with the model's line, quota and auth
//! errors, dry runs). End to end: the example project on a BigQuery
//! emulator from PyPI (`RDBT_TEST_BIGQUERY_URL`, started by .ci/run), whose
//! gold marts must equal the embedded warehouse's on the same input.

mod common;

use common::replay;
use serde_json::Value;
use std::path::Path;

const TOKEN: &str = "sekret-token-0123456789";

fn profiles(endpoint: &str) -> String {
    format!(
        "demo:\n  target: bq\n  outputs:\n    bq:\n      type: bigquery\n      method: oauth-secrets\n      token: {TOKEN}\n      project: acme\n      dataset: analytics\n      location: EU\n      api_endpoint: {endpoint}\n      job_retries: 2\n      maximum_bytes_billed: 1000000000\n      job_labels: {{team: growth}}\n      threads: 1\n"
    )
}

fn project(endpoint: &str, models: &[(&str, &str)]) -> tempfile::TempDir {
    let profiles = profiles(endpoint);
    let mut files: Vec<(&str, &str)> = vec![
        (
            "rdbt_project.yml",
            "name: demo\nprofile: demo\nmodel-paths: [models]\n",
        ),
        ("profiles.yml", &profiles),
    ];
    files.extend_from_slice(models);
    common::project(&files)
}

fn run(dir: &Path, args: &[&str]) -> common::Run {
    common::rdbt_env(dir, args, &[("RDBT_BIGQUERY_RETRY_BASE_MS", "1")])
}

#[test]
fn a_table_model_is_created_with_its_config_after_retrying_rate_limits() {
    let api = replay::start("table_model.json");
    let dir = project(
        &api.url,
        &[(
            "models/orders.sql",
            "{{ config(materialized='table', partition_by={'field': 'order_date', 'data_type': 'date'}, cluster_by='customer_id', labels={'domain': 'Orders'}) }}\nselect 1 as customer_id, current_date() as order_date\n",
        )],
    );
    let out = run(dir.path(), &["run"]);
    assert_eq!(out.code, 0, "{}", out.transcript());
    assert!(
        out.transcript().contains("CREATE TABLE (1 rows)"),
        "{}",
        out.transcript()
    );
    assert!(
        !out.transcript().contains(TOKEN),
        "the token was printed: {}",
        out.transcript()
    );
    let requests = api.requests();
    let jobs: Vec<&replay::Request> = requests
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/jobs"))
        .collect();
    assert_eq!(jobs.len(), 3, "a 503 and a 429 were retried: {jobs:#?}");
    let body: Value = serde_json::from_str(&jobs[2].body).unwrap();
    let query = body["configuration"]["query"]["query"].as_str().unwrap();
    assert!(query.starts_with("create or replace table `acme`.`analytics`.`orders`\npartition by `order_date`\ncluster by `customer_id`\noptions(labels=[('domain', 'orders')])\nas (\n"), "{query}");
    assert_eq!(body["configuration"]["query"]["useLegacySql"], false);
    assert_eq!(
        body["configuration"]["query"]["maximumBytesBilled"],
        "1000000000"
    );
    assert_eq!(body["configuration"]["query"]["priority"], "INTERACTIVE");
    assert_eq!(body["configuration"]["labels"]["team"], "growth");
    assert_eq!(body["configuration"]["labels"]["dbt_model"], "orders");
    assert!(body["configuration"]["labels"]["dbt_invocation_id"].is_string());
    assert_eq!(body["jobReference"]["location"], "EU");
    assert!(
        requests.iter().all(|r| r
            .headers
            .iter()
            .any(|(k, v)| k == "authorization" && v == &format!("Bearer {TOKEN}"))),
        "every call carries the token"
    );
}

#[test]
fn a_job_error_names_the_model_and_the_line_of_its_compiled_sql() {
    let api = replay::start("job_error.json");
    let dir = project(
        &api.url,
        &[
            (
                "models/orders.sql",
                "{{ config(materialized='table') }}\nselect\n  order_id,\n  amont\nfrom {{ source('shop', 'orders') }}\n",
            ),
            (
                "models/sources.yml",
                "version: 2\nsources:\n  - name: shop\n    tables:\n      - name: orders\n",
            ),
        ],
    );
    let out = run(dir.path(), &["run"]);
    assert_eq!(out.code, 1, "{}", out.transcript());
    let text = out.transcript();
    assert!(
        text.contains("Unrecognized name: amont; Did you mean amount?"),
        "{text}"
    );
    assert!(
        text.contains("at line 4, column 5 of the compiled SQL:"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.trim_end().ends_with("        amont")),
        "{text}"
    );
    assert!(text.contains("in models/orders.sql"), "{text}");
}

#[test]
fn quota_and_credential_errors_say_what_to_fix_and_never_show_the_token() {
    let api = replay::start("quota_and_auth.json");
    let dir = project(&api.url, &[("models/a.sql", "select 1 as n\n")]);
    let out = run(dir.path(), &["run"]);
    assert_eq!(out.code, 1, "{}", out.transcript());
    assert!(
        out.transcript()
            .contains("BigQuery quota or limit reached: Quota exceeded"),
        "{}",
        out.transcript()
    );
    assert!(
        out.transcript().contains("IAM & Admin > Quotas"),
        "{}",
        out.transcript()
    );
    let out = run(dir.path(), &["run"]);
    assert_eq!(out.code, 1, "{}", out.transcript());
    assert!(
        out.transcript().contains("BigQuery authentication failed"),
        "{}",
        out.transcript()
    );
    assert!(
        out.transcript().contains("renew the key or token"),
        "{}",
        out.transcript()
    );
    assert!(!out.transcript().contains(TOKEN));
}

#[test]
fn a_dry_run_prints_the_bytes_of_each_model_and_max_bytes_refuses_a_costly_run() {
    let models = [
        (
            "models/small_rollup.sql",
            "select count(*) as n from `acme`.`raw`.`small`\n",
        ),
        (
            "models/big_rollup.sql",
            "select count(*) as n from `acme`.`raw`.`big`\n",
        ),
    ];
    let api = replay::start("dry_run.json");
    let dir = project(&api.url, &models);
    let out = run(dir.path(), &["compile", "--dry-run"]);
    assert_eq!(out.code, 0, "{}", out.transcript());
    assert!(
        out.stdout.contains("small_rollup     1.0 MiB  valid"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("big_rollup       3.0 GiB  valid"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("total            3.0 GiB  2 models, 0 invalid"),
        "{}",
        out.stdout
    );
    let dry: Vec<Value> = api
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect();
    assert!(dry.iter().all(|b| b["configuration"]["dryRun"] == true));

    let api = replay::start("dry_run.json");
    let dir = project(&api.url, &models);
    let out = run(dir.path(), &["build", "--max-bytes", "2GB"]);
    assert_eq!(out.code, 2, "{}", out.transcript());
    assert!(
        out.transcript().contains("would process 3.0 GiB"),
        "{}",
        out.transcript()
    );
    assert!(
        out.transcript().contains("nothing was run"),
        "{}",
        out.transcript()
    );
    assert!(
        api.requests()
            .iter()
            .all(|r| !r.body.contains("create or replace")),
        "nothing may run above the limit"
    );
}

#[test]
fn docs_generate_reads_the_catalog_from_information_schema() {
    let api = replay::start("catalog.json");
    let dir = project(
        &api.url,
        &[(
            "models/orders.sql",
            "{{ config(materialized='table') }}\nselect 1 as customer_id, current_date() as order_date\n",
        )],
    );
    let out = run(dir.path(), &["docs", "generate"]);
    assert_eq!(out.code, 0, "{}", out.transcript());
    let jobs: Vec<replay::Request> = api
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(jobs.len(), 1, "one query for the dataset: {jobs:#?}");
    assert!(jobs[0].body.contains("`acme`.`analytics`.__TABLES__"));
    let catalog: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("target/catalog.json")).unwrap())
            .unwrap();
    let orders = &catalog["nodes"]["model.demo.orders"];
    assert_eq!(orders["metadata"]["type"], "BASE TABLE");
    assert_eq!(orders["metadata"]["comment"], "Daily orders");
    assert_eq!(orders["metadata"]["database"], "acme");
    assert_eq!(orders["columns"]["customer_id"]["type"], "INT64");
    assert_eq!(orders["columns"]["customer_id"]["comment"], "Who ordered");
    assert_eq!(orders["columns"]["order_date"]["index"], 2);
    assert_eq!(orders["stats"]["row_count"]["value"], 42);
    assert_eq!(orders["stats"]["num_bytes"]["value"], 1024);
    assert!(dir.path().join("target/docs/index.html").is_file());
}

#[test]
fn external_sources_become_bigquery_external_tables_with_hive_partitions() {
    let api = replay::start("external_source.json");
    let dir = project(
        &api.url,
        &[(
            "models/sources.yml",
            "version: 2\nsources:\n  - name: spark\n    tables:\n      - name: fact_order\n        external: {location: 'gs://old-lake/transformed/fact_order/', format: parquet, partitions: [{name: order_date, data_type: date}]}\n      - name: refunds\n        external: {location: 'gs://drops/refunds/*.csv.gz', format: csv, options: {delimiter: ';', compression: gzip}}\n        columns:\n          - {name: order_id, data_type: int64}\n          - {name: refund, data_type: 'numeric(10,2)'}\n      - name: local\n        external: {location: exports/, format: csv}\n",
        )],
    );
    let out = run(
        dir.path(),
        &[
            "run-operation",
            "stage_external_sources",
            "--args",
            "{select: spark.fact_order spark.refunds}",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.transcript());
    let statements: Vec<String> = api
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .map(|r| {
            let body: Value = serde_json::from_str(&r.body).unwrap();
            body["configuration"]["query"]["query"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    insta::assert_snapshot!(statements.join("\n\n"), @r"
    create or replace external table `acme`.`spark`.`fact_order`
    with partition columns (`order_date` DATE)
    options (
        format = 'PARQUET',
        uris = ['gs://old-lake/transformed/fact_order/*'],
        hive_partition_uri_prefix = 'gs://old-lake/transformed/fact_order',
        require_hive_partition_filter = false
    );

    create or replace external table `acme`.`spark`.`refunds` (
        `order_id` INT64,
        `refund` NUMERIC
    )
    options (
        format = 'CSV',
        uris = ['gs://drops/refunds/*.csv.gz'],
        skip_leading_rows = 1,
        field_delimiter = ';',
        compression = 'GZIP'
    );
    ");
    // A local folder cannot be an external table on BigQuery: said, with the way out.
    let local = run(
        dir.path(),
        &[
            "run-operation",
            "stage_external_sources",
            "--args",
            "{select: spark.local}",
        ],
    );
    assert_eq!(local.code, 2, "{}", local.transcript());
    assert!(
        local
            .transcript()
            .contains("BigQuery reads external files from gs:// only"),
        "{}",
        local.transcript()
    );
    assert!(
        local.transcript().contains("external_sources: load"),
        "{}",
        local.transcript()
    );
}

#[test]
fn a_bad_bigquery_profile_is_a_clear_error() {
    let dir = common::project(&[
        ("rdbt_project.yml", "name: demo\nprofile: demo\n"),
        (
            "profiles.yml",
            "demo:\n  target: bq\n  outputs:\n    bq:\n      type: bigquery\n      method: service-account\n      project: acme\n      dataset: analytics\n",
        ),
        ("models/a.sql", "select 1 as n\n"),
    ]);
    let out = run(dir.path(), &["run"]);
    assert_eq!(out.code, 2, "{}", out.transcript());
    assert!(
        out.stdout
            .contains("uses `method: service-account` but has no `keyfile`"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("keyfile: /path/to/key.json"),
        "{}",
        out.stdout
    );
    let out = run(dir.path(), &["compile", "--dry-run", "--target", "bq"]);
    assert_eq!(out.code, 2, "{}", out.transcript());
}

/// The emulator's URL, or `None` (loudly); under CI a missing emulator is a failure.
/// One emulator test at a time: the emulator keeps every project in one
/// DuckDB database, and builds of several tests at once made it abort
/// jobs with "TransactionContext Error: Conflict on tuple deletion".
static EMULATOR: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The emulator's URL and the lock held for the test's length.
fn emulator() -> Option<(String, std::sync::MutexGuard<'static, ()>)> {
    match std::env::var("RDBT_TEST_BIGQUERY_URL") {
        Ok(url) if !url.is_empty() => {
            Some((url, EMULATOR.lock().unwrap_or_else(|e| e.into_inner())))
        }
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "RDBT_TEST_BIGQUERY_URL is not set; .ci/run starts the emulator"
            );
            eprintln!(
                "SKIPPED: set RDBT_TEST_BIGQUERY_URL (a BigQuery emulator such as `crucible serve --dialect bigquery`) to run the BigQuery end-to-end test"
            );
            None
        }
    }
}

/// rdbt's own client on the emulator, to read what a build wrote.
fn emulator_client(url: &str, project_id: &str) -> rdbt::adapters::bigquery::BigQuery {
    let target = rdbt::settings::Target {
        name: "emulator".into(),
        kind: rdbt::settings::TargetKind::BigQuery,
        adapter_type: "bigquery".into(),
        schema: "analytics".into(),
        database: project_id.to_string(),
        threads: None,
        path: None,
        land: String::new(),
        options: serde_json::json!({"project": project_id, "dataset": "analytics", "method": "oauth-secrets", "token": "t", "api_endpoint": url})
            .as_object()
            .cloned()
            .unwrap(),
    };
    let config = rdbt::adapters::bigquery::BigQueryConfig::from_target(&target).unwrap();
    rdbt::adapters::bigquery::BigQuery::open(config, "test").unwrap()
}

/// A value as both warehouses can agree on it: numbers to 9 significant
/// digits, timestamps without a `T` or zone, dates as they are.
fn canonical(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.to_string(),
            None => format!("{:.9e}", n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => {
            let s = s.replace('T', " ").replace(" UTC", "");
            // Whole numbers may arrive as text from one side and numbers from the other.
            match s.parse::<f64>() {
                Ok(f) if f.fract() == 0.0 && !s.contains('-') => format!("{}", f as i64),
                Ok(f) if !s.contains('-') => format!("{f:.9e}"),
                _ => s
                    .trim_end_matches(".000000")
                    .trim_end_matches(".0")
                    .to_string(),
            }
        }
        Value::Bool(b) => b.to_string(),
        other => other.to_string(),
    }
}

/// A `demo` profile whose `emu` target is the emulator's `project_id`.
fn emulator_profiles(url: &str, project_id: &str) -> String {
    format!(
        "demo:\n  target: emu\n  outputs:\n    emu:\n      type: bigquery\n      method: oauth-secrets\n      token: t\n      project: {project_id}\n      dataset: analytics\n      api_endpoint: {url}\n      threads: 2\n"
    )
}

/// A query's rows on the emulator, each `col=value | ...`, sorted.
fn emulator_rows(url: &str, project_id: &str) -> impl Fn(&str) -> Vec<String> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let bq = emulator_client(url, project_id);
    move |sql: &str| {
        let r = rt
            .block_on(bq.fetch(sql, None))
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let cols: Vec<String> = r.schema.iter().map(|f| f.name.clone()).collect();
        sorted_rows(&cols, r.rows.into_iter())
    }
}

fn sorted_rows(columns: &[String], rows: impl Iterator<Item = Vec<Value>>) -> Vec<String> {
    let mut out: Vec<String> = rows
        .map(|r| {
            columns
                .iter()
                .zip(r.iter())
                .map(|(c, v)| format!("{c}={}", canonical(v)))
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .collect();
    out.sort();
    out
}

#[test]
fn the_example_project_builds_on_the_emulator_with_the_same_gold_marts() {
    let Some((url, _one_at_a_time)) = emulator() else {
        return;
    };
    let dir = common::example_project();
    // A project id of its own: the emulator is shared by every test run.
    let project_id = format!("rdbt-e2e-{}", uuid::Uuid::new_v4().simple());
    let mut profiles = std::fs::read_to_string(dir.path().join("profiles.yml")).unwrap();
    profiles.push_str(&format!(
        "    emulator:\n      type: bigquery\n      method: oauth-secrets\n      token: emulator-needs-no-token\n      project: {project_id}\n      dataset: analytics\n      api_endpoint: {url}\n      external_sources: load\n      land: target/rdbt/land\n      threads: 1\n"
    ));
    // One thread: the emulator runs every job in one DuckDB database, and
    // two jobs replacing tables at once can abort one of them with
    // "TransactionContext Error: Conflict on tuple deletion" (seen in CI on
    // 2026-11-27 with 4 threads). BigQuery has no such limit; concurrency is
    // covered on the local warehouse.
    std::fs::write(dir.path().join("profiles.yml"), profiles).unwrap();
    let ingest = common::rdbt(dir.path(), &["ingest", "--sample", "150"]);
    assert_eq!(ingest.code, 0, "{}", ingest.transcript());
    let local = common::rdbt(
        dir.path(),
        &["build", "--exclude", "resource_type:unit_test"],
    );
    assert_eq!(local.code, 0, "{}", local.transcript());
    let staged = common::rdbt(
        dir.path(),
        &[
            "run-operation",
            "stage_external_sources",
            "--target",
            "emulator",
        ],
    );
    assert_eq!(staged.code, 0, "{}", staged.transcript());
    assert!(
        staged.transcript().contains("2 source(s) staged"),
        "{}",
        staged.transcript()
    );
    // The unit tests run on BigQuery too. One is left out: the emulator's
    // COUNTIF over only-NULL conditions gives NULL where BigQuery gives 0
    // (it runs on DuckDB), and that unit test checks exactly that edge.
    let remote = common::rdbt(
        dir.path(),
        &[
            "build",
            "--target",
            "emulator",
            "--exclude",
            "a_month_without_orders_is_a_row_and_churn_runs_across_it",
        ],
    );
    assert_eq!(remote.code, 0, "{}", remote.transcript());
    assert!(
        remote
            .transcript()
            .contains("PASS unit test ntile_ties_are_broken_by_customer_id"),
        "{}",
        remote.transcript()
    );
    assert!(
        remote.transcript().contains("ERROR=0"),
        "{}",
        remote.transcript()
    );
    // The catalog and the dashboards come from BigQuery. The emulator has
    // no INFORMATION_SCHEMA, so this also covers the tables.get fallback.
    let docs = common::rdbt(dir.path(), &["docs", "generate", "--target", "emulator"]);
    assert_eq!(docs.code, 0, "{}", docs.transcript());
    let target = dir.path().join("target/rdbt");
    let catalog: Value =
        serde_json::from_slice(&std::fs::read(target.join("catalog.json")).unwrap()).unwrap();
    let fact = &catalog["nodes"]["model.retention.fact_order"];
    assert_eq!(fact["metadata"]["database"], project_id.as_str(), "{fact}");
    assert_eq!(fact["columns"]["customer_id"]["type"], "INT64", "{fact}");
    assert!(
        fact["stats"]["row_count"]["value"].as_u64().unwrap() > 0,
        "{fact}"
    );
    let dashboards: Value =
        serde_json::from_slice(&std::fs::read(target.join("dashboards.json")).unwrap()).unwrap();
    for chart in dashboards["exposure.retention.retention_dashboard"]["charts"]
        .as_array()
        .unwrap()
    {
        assert!(chart["error"].is_null(), "{chart}");
    }

    // A second build runs the incremental fact table as a MERGE.
    let again = common::rdbt(
        dir.path(),
        &["run", "--target", "emulator", "-s", "fact_order+"],
    );
    assert_eq!(again.code, 0, "{}", again.transcript());
    assert!(
        again.transcript().contains("MERGE ("),
        "{}",
        again.transcript()
    );

    let rt = tokio::runtime::Runtime::new().unwrap();
    let bq = emulator_client(&url, &project_id);
    let marts = [
        "mart_retention_monthly",
        "mart_cohort_retention",
        "mart_customer_lifetime_value",
        "mart_customer_segments",
        "mart_churn_drivers",
        "mart_weekly_repeat_purchase",
        "mart_delivery_experience",
    ];
    for mart in marts {
        let remote = rt
            .block_on(bq.fetch(
                &format!("select * from `{project_id}`.`analytics_gold`.`{mart}`"),
                None,
            ))
            .unwrap_or_else(|e| panic!("{mart} on the emulator: {e}"));
        let columns: Vec<String> = remote.schema.iter().map(|f| f.name.clone()).collect();
        let local_rows = common::rows(dir.path(), &format!("select * from analytics_gold.{mart}"));
        assert!(!local_rows.is_empty(), "{mart} is empty locally");
        let local = sorted_rows(
            &columns,
            local_rows.iter().map(|o| {
                columns
                    .iter()
                    .map(|c| o.get(c).cloned().unwrap_or(Value::Null))
                    .collect()
            }),
        );
        let remote = sorted_rows(&columns, remote.rows.into_iter());
        assert_eq!(local.len(), remote.len(), "{mart}: row counts differ");
        for (l, r) in local.iter().zip(remote.iter()) {
            assert_eq!(l, r, "{mart}: the warehouses disagree");
        }
    }

    // `rdbt show` reads BigQuery as it reads the embedded warehouse: the
    // same CSV for the same model (rows sorted: neither mart orders them).
    for mart in ["mart_retention_monthly", "mart_customer_segments"] {
        let show = |target: &str| {
            let run = common::rdbt(
                dir.path(),
                &[
                    "show", "-q", "--target", target, "-s", mart, "--limit", "0", "--output", "csv",
                ],
            );
            assert_eq!(run.code, 0, "{}", run.transcript());
            let mut lines: Vec<String> = run.stdout.lines().map(str::to_string).collect();
            lines[1..].sort();
            lines
        };
        let (local, remote) = (show("local"), show("emulator"));
        assert!(local.len() > 1, "{mart}: {local:?}");
        assert_eq!(local, remote, "{mart}: `show` differs between the targets");
    }
    // Source freshness reads the same newest rows on both targets.
    let freshness = |target: &str| {
        let run = common::rdbt(dir.path(), &["source", "freshness", "--target", target]);
        assert!(run.code <= 1, "{}", run.transcript());
        assert!(
            !run.stdout.contains("could not be checked"),
            "{}",
            run.transcript()
        );
        let doc: Value = serde_json::from_slice(
            &std::fs::read(dir.path().join("target/rdbt/sources.json")).unwrap(),
        )
        .unwrap();
        let mut newest: Vec<(String, Value)> = doc["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["unique_id"].to_string(), r["max_loaded_at"].clone()))
            .collect();
        newest.sort_by(|a, b| a.0.cmp(&b.0));
        newest
    };
    let (local, remote) = (freshness("local"), freshness("emulator"));
    assert!(
        !local.is_empty() && local.iter().all(|(_, t)| t.is_string()),
        "{local:?}"
    );
    assert_eq!(local, remote, "freshness differs between the targets");

    let inline = common::rdbt(
        dir.path(),
        &[
            "show",
            "-q",
            "--target",
            "emulator",
            "--inline",
            "select customer_id from {{ ref('fact_order') }} order by customer_id",
            "--limit",
            "3",
            "--output",
            "json",
        ],
    );
    assert_eq!(inline.code, 0, "{}", inline.transcript());
    let rows: Vec<Value> = serde_json::from_str(&inline.stdout).expect("json rows");
    assert_eq!(rows.len(), 3, "{}", inline.stdout);
}

#[test]
fn a_build_stages_the_external_sources_it_reads_on_the_emulator() {
    let Some((url, _one_at_a_time)) = emulator() else {
        return;
    };
    let project_id = format!("rdbt-ext-{}", uuid::Uuid::new_v4().simple());
    let profiles = format!(
        "demo:\n  target: emu\n  outputs:\n    emu:\n      type: bigquery\n      method: oauth-secrets\n      token: t\n      project: {project_id}\n      dataset: analytics\n      api_endpoint: {url}\n      external_sources: load\n      threads: 2\n"
    );
    let dir = common::project(&[
        ("rdbt_project.yml", "name: demo\nprofile: demo\n"),
        ("profiles.yml", &profiles),
        (
            "models/sources.yml",
            "version: 2\nsources:\n  - name: drops\n    tables:\n      - name: refunds\n        external: {location: exports/, format: csv, partitions: [{name: dt, data_type: date}]}\n        columns:\n          - {name: order_id, data_type: int64}\n          - {name: refund, data_type: float64}\n",
        ),
        (
            "exports/dt=2024-01-01/a.csv",
            "order_id,refund\n1,2.5\n2,1.25\n",
        ),
        ("exports/dt=2024-01-02/b.csv", "order_id,refund\n3,10\n"),
        (
            "models/refunds_by_day.sql",
            "{{ config(materialized='table') }}\nselect dt, count(*) as refunds, sum(refund) as amount from {{ source('drops', 'refunds') }} group by dt\n",
        ),
    ]);
    let build = run(dir.path(), &["build"]);
    assert_eq!(build.code, 0, "{}", build.transcript());
    assert!(
        build
            .transcript()
            .contains("Staged source drops.refunds: loaded 3 rows from exports/"),
        "{}",
        build.transcript()
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let bq = emulator_client(&url, &project_id);
    let r = rt
        .block_on(bq.fetch(
            &format!("select cast(dt as string) as dt, refunds, amount from `{project_id}`.`analytics`.`refunds_by_day`"),
            None,
        ))
        .unwrap();
    let cols: Vec<String> = r.schema.iter().map(|f| f.name.clone()).collect();
    assert_eq!(
        sorted_rows(&cols, r.rows.into_iter()),
        vec![
            "dt=2024-01-01 | refunds=2 | amount=3.750000000e0",
            "dt=2024-01-02 | refunds=1 | amount=1.000000000e1"
        ]
    );
}

#[test]
fn seeds_incremental_strategies_and_snapshots_run_on_the_emulator() {
    let Some((url, _one_at_a_time)) = emulator() else {
        return;
    };
    let project_id = format!("rdbt-mat-{}", uuid::Uuid::new_v4().simple());
    let profiles = emulator_profiles(&url, &project_id);
    let dir = common::project(&[
        ("rdbt_project.yml", "name: demo\nprofile: demo\n"),
        ("profiles.yml", &profiles),
        (
            "seeds/orders.csv",
            "order_id,order_date,amount\n1,2024-01-01,10.5\n2,2024-01-02,20\n",
        ),
        (
            "models/by_day.sql",
            "{{ config(materialized='incremental', incremental_strategy='insert_overwrite', partition_by={'field': 'order_date', 'data_type': 'date'}) }}\nselect order_date, sum(amount) as revenue, count(*) as orders from {{ ref('orders') }} group by order_date\n",
        ),
        (
            "models/log.sql",
            "{{ config(materialized='incremental') }}\nselect order_id, amount from {{ ref('orders') }}\n",
        ),
        (
            "models/unit_tests.yml",
            "version: 2\nunit_tests:\n  - name: revenue_adds_up_per_day\n    model: by_day\n    given:\n      - input: ref('orders')\n        rows:\n          - {order_id: 1, order_date: '2024-01-01', amount: 2.5}\n          - {order_id: 2, order_date: '2024-01-01', amount: 4}\n    expect:\n      rows:\n        - {order_date: '2024-01-01', revenue: 6.5, orders: 2}\n",
        ),
        (
            "snapshots/orders_snapshot.sql",
            "{% snapshot orders_snapshot %}\n{{ config(target_schema='snapshots', unique_key='order_id', strategy='check', check_cols=['amount']) }}\nselect * from {{ ref('orders') }}\n{% endsnapshot %}\n",
        ),
    ]);
    let first = run(dir.path(), &["build"]);
    assert_eq!(first.code, 0, "{}", first.transcript());
    // New data: order 2 changes, order 3 arrives on a new day.
    std::fs::write(
        dir.path().join("seeds/orders.csv"),
        "order_id,order_date,amount\n1,2024-01-01,10.5\n2,2024-01-02,25\n3,2024-01-03,5\n",
    )
    .unwrap();
    let second = run(dir.path(), &["build"]);
    assert_eq!(second.code, 0, "{}", second.transcript());
    assert!(
        second
            .transcript()
            .contains("INSERT_OVERWRITE (3 partitions"),
        "{}",
        second.transcript()
    );

    assert!(
        first
            .transcript()
            .contains("PASS unit test revenue_adds_up_per_day"),
        "{}",
        first.transcript()
    );
    // A unit test that does not hold fails on BigQuery with the row diff.
    std::fs::write(
        dir.path().join("models/wrong.yml"),
        "version: 2\nunit_tests:\n  - name: revenue_is_wrong\n    model: by_day\n    given:\n      - input: ref('orders')\n        format: csv\n        rows: |\n          order_id,order_date,amount\n          1,2024-01-01,2.5\n    expect:\n      rows:\n        - {order_date: '2024-01-01', revenue: 3, orders: 1}\n",
    )
    .unwrap();
    let wrong = run(dir.path(), &["test", "-s", "revenue_is_wrong"]);
    assert_eq!(wrong.code, 1, "{}", wrong.transcript());
    assert!(
        wrong.transcript().contains("(expected, not produced)")
            && wrong.transcript().contains("(produced, not expected)"),
        "{}",
        wrong.transcript()
    );

    let rows = emulator_rows(&url, &project_id);
    let p = &project_id;
    assert_eq!(
        rows(&format!(
            "select cast(order_date as string) as d, revenue, orders from `{p}`.`analytics`.`by_day`"
        )),
        vec![
            "d=2024-01-01 | revenue=1.050000000e1 | orders=1",
            "d=2024-01-02 | revenue=2.500000000e1 | orders=1",
            "d=2024-01-03 | revenue=5.000000000e0 | orders=1"
        ],
        "insert_overwrite replaced the touched days and kept one row per day"
    );
    assert_eq!(
        rows(&format!(
            "select count(*) as n from `{p}`.`analytics`.`log`"
        )),
        vec!["n=5"],
        "append added the three new rows to the two old ones"
    );
    assert_eq!(
        rows(&format!(
            "select order_id, amount, dbt_valid_to is null as is_current from `{p}`.`snapshots`.`orders_snapshot`"
        )),
        vec![
            "order_id=1 | amount=1.050000000e1 | is_current=true",
            "order_id=2 | amount=2.000000000e1 | is_current=false",
            "order_id=2 | amount=2.500000000e1 | is_current=true",
            "order_id=3 | amount=5.000000000e0 | is_current=true",
        ],
        "the snapshot closed order 2's old version and added the new ones"
    );
}

/// #29 features on BigQuery (the emulator): model versions, a YAML snapshot
/// with `dbt_valid_to_current` and `hard_deletes: new_record`, and
/// `--store-failures`.
#[test]
fn versions_and_yaml_snapshots_run_on_the_emulator() {
    let Some((url, _one_at_a_time)) = emulator() else {
        return;
    };
    let project_id = format!("rdbt-v-{}", uuid::Uuid::new_v4().simple());
    let profiles = emulator_profiles(&url, &project_id);
    let dir = common::project(&[
        (
            "rdbt_project.yml",
            "name: demo\nprofile: demo\nsql_dialect: bigquery\n",
        ),
        ("profiles.yml", &profiles),
        (
            "seeds/orders.csv",
            "order_id,status,updated_at\n1,new,2024-01-01 00:00:00\n2,new,2024-01-01 00:00:00\n",
        ),
        ("models/dim_v1.sql", "select 1 as id, 'old' as shape"),
        ("models/dim_v2.sql", "select 1 as id, 'new' as shape"),
        ("models/reader.sql", "select shape from {{ ref('dim') }}"),
        (
            "models/old_reader.sql",
            "select shape from {{ ref('dim', v=1) }}",
        ),
        (
            "models/schema.yml",
            "version: 2\nmodels:\n  - name: dim\n    latest_version: 2\n    config: {materialized: table}\n    versions:\n      - v: 1\n      - v: 2\n",
        ),
        (
            "snapshots/snapshots.yml",
            "snapshots:\n  - name: orders_snapshot\n    relation: ref('orders')\n    config:\n      schema: snapshots\n      unique_key: order_id\n      strategy: timestamp\n      updated_at: updated_at\n      dbt_valid_to_current: \"timestamp('9999-12-31')\"\n      hard_deletes: new_record\n",
        ),
    ]);
    let first = run(dir.path(), &["build"]);
    assert_eq!(first.code, 0, "{}", first.transcript());
    // Order 1 changes, order 2 is deleted.
    std::fs::write(
        dir.path().join("seeds/orders.csv"),
        "order_id,status,updated_at\n1,paid,2024-02-01 00:00:00\n",
    )
    .unwrap();
    let second = run(dir.path(), &["build"]);
    assert_eq!(second.code, 0, "{}", second.transcript());

    let rows = emulator_rows(&url, &project_id);
    let p = &project_id;
    assert_eq!(
        rows(&format!("select shape from `{p}`.`analytics`.`reader`")),
        vec!["shape=new"],
        "a plain ref reads the latest version"
    );
    assert_eq!(
        rows(&format!("select shape from `{p}`.`analytics`.`dim_v1`")),
        vec!["shape=old"]
    );
    assert_eq!(
        rows(&format!(
            "select order_id, status, dbt_is_deleted = 'True' as deleted, dbt_valid_to = timestamp('9999-12-31') as is_current from `{p}`.`analytics_snapshots`.`orders_snapshot`"
        )),
        vec![
            "order_id=1 | status=new | deleted=false | is_current=false",
            "order_id=1 | status=paid | deleted=false | is_current=true",
            "order_id=2 | status=new | deleted=false | is_current=false",
            "order_id=2 | status=new | deleted=true | is_current=true",
        ],
        "the change closed order 1's row; the deletion closed order 2's and opened a deleted one"
    );
}

/// #30 item 6: `run-operation` (a macro that queries and logs), `retry`
/// (only what failed, once fixed) and `debug` work on BigQuery as locally.
#[test]
fn run_operation_and_retry_on_the_emulator() {
    let Some((url, _one_at_a_time)) = emulator() else {
        return;
    };
    let project_id = format!("rdbt-retry-{}", uuid::Uuid::new_v4().simple());
    let profiles = format!(
        "demo:\n  target: emu\n  outputs:\n    emu:\n      type: bigquery\n      method: oauth-secrets\n      token: t\n      project: {project_id}\n      dataset: analytics\n      api_endpoint: {url}\n      threads: 1\n"
    );
    let dir = common::project(&[
        ("rdbt_project.yml", "name: demo\nprofile: demo\n"),
        ("profiles.yml", &profiles),
        ("models/good.sql", "select 1 as id\n"),
        ("models/bad.sql", "select id, nope from {{ ref('good') }}\n"),
        (
            "macros/count_rows.sql",
            "{% macro count_rows(model) %}{% set r = run_query('select count(*) as n from ' ~ ref(model)) %}{{ log('rows: ' ~ r.columns[0].values()[0], info=True) }}{% endmacro %}\n",
        ),
    ]);
    let first = run(dir.path(), &["run", "--static-analysis", "off"]);
    assert_eq!(first.code, 1, "{}", first.transcript());
    assert!(
        first.stdout.contains("Database Error in model bad"),
        "{}",
        first.transcript()
    );
    std::fs::write(
        dir.path().join("models/bad.sql"),
        "select id, 2 as fixed from {{ ref('good') }}\n",
    )
    .unwrap();
    let retry = run(dir.path(), &["retry"]);
    assert_eq!(retry.code, 0, "{}", retry.transcript());
    assert!(
        retry
            .stdout
            .contains("OK created sql view model analytics.bad"),
        "{}",
        retry.transcript()
    );
    assert!(
        !retry.stdout.contains("model analytics.good"),
        "only what failed is retried: {}",
        retry.transcript()
    );
    let op = run(
        dir.path(),
        &["run-operation", "count_rows", "--args", "{model: bad}"],
    );
    assert_eq!(op.code, 0, "{}", op.transcript());
    assert!(op.stdout.contains("rows: 1"), "{}", op.transcript());
    // `debug` checks the connection with a query, as dbt debug does.
    let debug = run(dir.path(), &["debug"]);
    assert_eq!(debug.code, 0, "{}", debug.transcript());
    assert!(
        debug.stdout.contains(&format!(
            "connection: OK (BigQuery project {project_id} answered a query)"
        )),
        "{}",
        debug.transcript()
    );
}

/// #30 item 7 on BigQuery (the emulator): a microbatch model written in
/// batches, each replacing its window by one MERGE, and a backfill of one
/// day that leaves the others as they were.
#[test]
fn microbatch_runs_on_the_emulator() {
    let Some((url, _one_at_a_time)) = emulator() else {
        return;
    };
    let project_id = format!("rdbt-mb-{}", uuid::Uuid::new_v4().simple());
    let profiles = emulator_profiles(&url, &project_id);
    let dir = common::project(&[
        ("rdbt_project.yml", "name: demo\nprofile: demo\n"),
        ("profiles.yml", &profiles),
        (
            "seeds/events.csv",
            "id,ts,amount\n1,2024-01-01 10:00:00,5\n2,2024-01-01 11:00:00,7\n3,2024-01-02 09:00:00,1\n4,2024-01-03 23:59:59,2\n",
        ),
        (
            "seeds/seeds.yml",
            "version: 2\nseeds:\n  - name: events\n    config:\n      event_time: ts\n      column_types: {ts: timestamp}\n",
        ),
        (
            "models/daily.sql",
            "{{ config(materialized='incremental', incremental_strategy='microbatch', event_time='day', batch_size='day', begin='2024-01-01') }}\nselect cast(ts as date) as day, count(*) as n, sum(amount) as amount from {{ ref('events') }} group by 1\n",
        ),
    ]);
    let first = run(
        dir.path(),
        &[
            "build",
            "--event-time-start",
            "2024-01-01",
            "--event-time-end",
            "2024-01-04",
        ],
    );
    assert_eq!(first.code, 0, "{}", first.transcript());
    assert!(
        first.transcript().contains("[MICROBATCH 3 batches"),
        "{}",
        first.transcript()
    );
    std::fs::write(
        dir.path().join("seeds/events.csv"),
        "id,ts,amount\n1,2024-01-01 10:00:00,5\n2,2024-01-01 11:00:00,7\n3,2024-01-02 09:00:00,1\n4,2024-01-03 23:59:59,2\n5,2024-01-02 20:00:00,4\n6,2024-01-03 01:00:00,8\n",
    )
    .unwrap();
    let seed = run(dir.path(), &["seed"]);
    assert_eq!(seed.code, 0, "{}", seed.transcript());
    let backfill = run(
        dir.path(),
        &[
            "run",
            "--event-time-start",
            "2024-01-02",
            "--event-time-end",
            "2024-01-03",
        ],
    );
    assert_eq!(backfill.code, 0, "{}", backfill.transcript());
    let rows = emulator_rows(&url, &project_id);
    assert_eq!(
        rows(&format!(
            "select cast(day as string) as d, n, amount from `{project_id}`.`analytics`.`daily`"
        )),
        vec![
            "d=2024-01-01 | n=2 | amount=12",
            "d=2024-01-02 | n=2 | amount=5",
            "d=2024-01-03 | n=1 | amount=2",
        ],
        "the backfill replaced 2024-01-02 only"
    );
}

/// #30 item 1 on BigQuery (the emulator): the adapter's relation listing,
/// schema check, a query's columns and a rename, as packages call them.
#[test]
fn adapter_lists_renames_and_plans_on_the_emulator() {
    let Some((url, _one_at_a_time)) = emulator() else {
        return;
    };
    let project_id = format!("rdbt-adp-{}", uuid::Uuid::new_v4().simple());
    let profiles = emulator_profiles(&url, &project_id);
    let dir = common::project(&[
        ("rdbt_project.yml", "name: demo\nprofile: demo\n"),
        ("profiles.yml", &profiles),
        (
            "models/m.sql",
            "{{ config(materialized='table') }}\nselect 1 as id\n",
        ),
        ("models/v.sql", "select * from {{ ref('m') }}\n"),
        ("macros/inspect.sql", common::INSPECT_MACRO),
    ]);
    let built = run(dir.path(), &["run"]);
    assert_eq!(built.code, 0, "{}", built.transcript());
    let out = run(dir.path(), &["run-operation", "inspect"]);
    assert_eq!(out.code, 0, "{}", out.transcript());
    for line in [
        "relations: m,v",
        "schema exists: True False",
        "columns: a,b",
    ] {
        assert!(out.stdout.contains(line), "{line}: {}", out.transcript());
    }
    // BigQuery renames a table by `alter table ... rename to`; the emulator
    // (crucible 0.1.0a2) has no RENAME and says so, naming the statement.
    let renamed = run(dir.path(), &["run-operation", "rename_m"]);
    let text = renamed.transcript();
    assert!(
        (renamed.code == 0 && text.contains("renamed: True True"))
            || text.contains("Not supported by Crucible: ALTER TABLE action RENAME TO `m_renamed`"),
        "{text}"
    );
}

/// `Adapter::query_stream` on the emulator: rows arrive page by page, in
/// the query's order, and stop at the limit.
#[test]
fn a_query_streams_its_result_pages_on_the_emulator() {
    use futures::StreamExt;
    use rdbt::adapters::Adapter;
    let Some((url, _one_at_a_time)) = emulator() else {
        return;
    };
    let project_id = format!("rdbt-stream-{}", uuid::Uuid::new_v4().simple());
    let bq = emulator_client(&url, &project_id);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        // Pages hold at most 10,000 rows: 21,000 of 25,000 come in three.
        let sql = "select x from unnest(generate_array(1, 25000)) as x order by x desc";
        let mut stream = bq.query_stream(sql, Some(21_000)).await.unwrap();
        assert_eq!(stream.schema.field(0).name(), "x");
        let mut values = Vec::new();
        let mut pages = 0;
        while let Some(batch) = stream.batches.next().await {
            let batch = batch.unwrap();
            pages += 1;
            let text = rdbt::adapters::format::to_csv(&[batch]).unwrap();
            values.extend(text.lines().skip(1).map(str::to_string));
        }
        assert_eq!(values.len(), 21_000);
        assert_eq!(pages, 3);
        assert_eq!(values[0], "25000");
        assert_eq!(values[20_999], "4001");
        let all = bq.query(sql, None).await.unwrap();
        assert_eq!(all.iter().map(|b| b.num_rows()).sum::<usize>(), 25_000);
        let none = bq
            .query("select 1 as a from unnest([1]) where false", None)
            .await
            .unwrap();
        assert_eq!(none.len(), 1);
        assert_eq!(none[0].num_rows(), 0);
        assert_eq!(none[0].schema().field(0).name(), "a");
    });
}
