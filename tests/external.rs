//! External sources (issue 11): files declared as sources and read in place
//! on the embedded warehouse, in every format and partition style, from a
//! folder and from gs:// (the local GCS server of the ingest tests); the old
//! stack's Spark silver layout unchanged; schema drift; freshness from a
//! loaded_at_field or the files' times; and bad input named by its path.

mod common;

use common::gcs::FakeGcs;
use datafusion::parquet::arrow::ArrowWriter;
use serde_json::Value;
use std::path::Path;

/// Writes the rows of `sql` (run by DataFusion) as one Parquet file.
fn parquet(path: &Path, sql: &str) -> Vec<u8> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let batches = rt.block_on(async {
        let ctx = datafusion::prelude::SessionContext::new();
        ctx.sql(sql).await.unwrap().collect().await.unwrap()
    });
    let mut bytes = Vec::new();
    {
        let mut w = ArrowWriter::try_new(&mut bytes, batches[0].schema(), None).unwrap();
        for b in &batches {
            w.write(b).unwrap();
        }
        w.close().unwrap();
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(path, &bytes).unwrap();
    bytes
}

/// The old stack's silver layout as Spark wrote it: a folder per star-schema
/// table of `part-NNNNN-<uuid>-c000.snappy.parquet` files, `_SUCCESS`
/// markers and hidden `.crc` checksums; the fact table partitioned by date.
fn spark_silver(root: &Path) {
    let uuid = "5f1c2b9e-8a4d-4c7e-9b1a-2d3e4f5a6b7c";
    let t = root.join("transformed");
    parquet(
        &t.join(format!(
            "dim_customer/part-00000-{uuid}-c000.snappy.parquet"
        )),
        "select * from (values (1, 'Asha', 'Bangalore'), (2, 'Ravi', 'Chennai')) as t(customer_id, name, city)",
    );
    parquet(
        &t.join(format!(
            "dim_customer/part-00001-{uuid}-c000.snappy.parquet"
        )),
        "select * from (values (3, 'Meera', 'Delhi')) as t(customer_id, name, city)",
    );
    for (day, rows) in [
        ("2024-01-01", "(10, 1, 120.5), (11, 2, 80.0)"),
        ("2024-01-02", "(12, 1, 99.0), (13, 3, 45.5)"),
        ("2024-01-03", "(14, 3, 10.0)"),
    ] {
        parquet(
            &t.join(format!(
                "fact_order/order_date={day}/part-00000-{uuid}.c000.snappy.parquet"
            )),
            &format!("select * from (values {rows}) as t(order_id, customer_id, amount)"),
        );
    }
    for table in ["dim_customer", "fact_order"] {
        std::fs::write(t.join(table).join("_SUCCESS"), "").unwrap();
        std::fs::write(
            t.join(table)
                .join(format!(".part-00000-{uuid}-c000.snappy.parquet.crc")),
            "crc",
        )
        .unwrap();
    }
}

const SPARK_SOURCES: &str = r#"version: 2
sources:
  - name: spark
    schema: spark
    tables:
      - name: dim_customer
        external:
          location: lake/transformed/dim_customer/
          format: parquet
      - name: fact_order
        external:
          location: lake/transformed/fact_order
          format: parquet
          hive: true
        columns:
          - {name: order_id, data_type: int64}
          - {name: customer_id, data_type: int64}
          - {name: amount, data_type: float64}
          - {name: order_date, data_type: date}
"#;

fn spark_project() -> tempfile::TempDir {
    let dir = common::project(&[
        ("rdbt_project.yml", "name: migrated\n"),
        ("models/sources.yml", SPARK_SOURCES),
        (
            "models/revenue_by_city.sql",
            "{{ config(materialized='table') }}\nselect c.city, count(*) as orders, sum(o.amount) as revenue, max(o.order_date) as last_day\nfrom {{ source('spark', 'fact_order') }} as o\njoin {{ source('spark', 'dim_customer') }} as c using (customer_id)\ngroup by c.city\n",
        ),
    ]);
    spark_silver(&dir.path().join("lake"));
    dir
}

fn sorted(rows: Vec<Value>) -> Vec<String> {
    let mut v: Vec<String> = rows.iter().map(Value::to_string).collect();
    v.sort();
    v
}

#[test]
fn the_spark_silver_layout_is_read_in_place_with_typed_partitions() {
    let dir = spark_project();
    let build = common::rdbt(dir.path(), &["build"]);
    assert_eq!(build.code, 0, "{}", build.transcript());
    assert_eq!(
        sorted(common::rows(
            dir.path(),
            "select city, orders, revenue, cast(last_day as varchar) as last_day from revenue_by_city"
        )),
        vec![
            r#"{"city":"Bangalore","last_day":"2024-01-02","orders":2,"revenue":219.5}"#,
            r#"{"city":"Chennai","last_day":"2024-01-01","orders":1,"revenue":80.0}"#,
            r#"{"city":"Delhi","last_day":"2024-01-03","orders":2,"revenue":55.5}"#,
        ]
    );
    // Read in place: nothing of the sources was copied into the warehouse.
    assert!(!dir.path().join("target/warehouse/spark").exists());
    // The partition column is a DATE and a filter on it prunes folders: the
    // plan scans one file of three.
    let plan = common::rdbt(
        dir.path(),
        &[
            "show",
            "--inline",
            "explain select sum(amount) from {{ source('spark', 'fact_order') }} where order_date = date '2024-01-02'",
            "--limit",
            "0",
        ],
    );
    assert_eq!(plan.code, 0, "{}", plan.transcript());
    let scan = plan
        .stdout
        .lines()
        .find(|l| l.contains("DataSourceExec") && l.contains("file_groups"))
        .unwrap_or_else(|| panic!("{}", plan.stdout))
        .to_string();
    assert!(scan.contains("order_date=2024-01-02"), "{scan}");
    assert!(!scan.contains("order_date=2024-01-01"), "{scan}");
    let typed = common::rows(
        dir.path(),
        "select arrow_typeof(order_date) as t from spark.fact_order limit 1",
    );
    assert_eq!(typed[0]["t"], "Date32");
    // Static analysis and the catalog see the external columns: a typo in
    // a column of the undeclared dim_customer is caught before anything runs.
    std::fs::write(
        dir.path().join("models/typo.sql"),
        "select nme from {{ source('spark', 'dim_customer') }}\n",
    )
    .unwrap();
    let typo = common::rdbt(dir.path(), &["compile"]);
    assert_eq!(typo.code, 2, "{}", typo.transcript());
    assert!(typo.transcript().contains("nme"), "{}", typo.transcript());
    std::fs::remove_file(dir.path().join("models/typo.sql")).unwrap();
    let docs = common::rdbt(dir.path(), &["docs", "generate"]);
    assert_eq!(docs.code, 0, "{}", docs.transcript());
    let catalog: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("target/catalog.json")).unwrap())
            .unwrap();
    let dim = &catalog["sources"]["source.migrated.spark.dim_customer"];
    assert_eq!(dim["metadata"]["type"], "EXTERNAL", "{dim}");
    assert!(dim["columns"]["city"].is_object(), "{dim}");
}

#[test]
fn csv_ndjson_globs_compression_and_declared_partitions() {
    let dir = common::project(&[
        ("rdbt_project.yml", "name: drops\n"),
        (
            "models/sources.yml",
            r#"version: 2
sources:
  - name: drops
    tables:
      - name: refunds
        external:
          location: exports/refunds/*.csv.gz
          format: csv
          options: {delimiter: ';', compression: gzip}
        columns:
          - {name: order_id, data_type: int64}
          - {name: refund, data_type: 'numeric(10,2)'}
      - name: clicks
        external:
          location: exports/clicks/
          format: ndjson
          partitions: [{name: dt, data_type: date}]
        columns:
          - {name: user_id, data_type: int64}
          - {name: page, data_type: string}
          - {name: dt, data_type: date}
      - name: plain
        external:
          location: exports/plain.csv
          format: csv
"#,
        ),
        (
            "models/summary.sql",
            "select (select sum(refund) from {{ source('drops', 'refunds') }}) as refunds,\n       (select count(*) from {{ source('drops', 'clicks') }} where dt >= date '2024-02-02') as late_clicks,\n       (select max(n) from {{ source('drops', 'plain') }}) as plain_max\n",
        ),
    ]);
    let gz = |text: &str| {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(text.as_bytes()).unwrap();
        e.finish().unwrap()
    };
    let exports = dir.path().join("exports");
    std::fs::create_dir_all(exports.join("refunds")).unwrap();
    std::fs::write(
        exports.join("refunds/a.csv.gz"),
        gz("order_id;refund\n1;2.50\n2;1.25\n"),
    )
    .unwrap();
    std::fs::write(
        exports.join("refunds/b.csv.gz"),
        gz("order_id;refund\n3;10.00\n"),
    )
    .unwrap();
    std::fs::write(
        exports.join("refunds/notes.txt"),
        "not read: the glob picks *.csv.gz",
    )
    .unwrap();
    for (day, lines) in [
        ("2024-02-01", "{\"user_id\": 1, \"page\": \"home\"}\n"),
        (
            "2024-02-02",
            "{\"user_id\": 1, \"page\": \"cart\"}\n{\"user_id\": 2, \"page\": \"home\"}\n",
        ),
        (
            "2024-02-03",
            "{\"user_id\": 3, \"page\": \"pay\", \"extra\": true}\n",
        ),
    ] {
        let folder = exports.join(format!("clicks/dt={day}"));
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("part-0.json"), lines).unwrap();
    }
    std::fs::write(exports.join("plain.csv"), "n,label\n4,a\n9,b\n").unwrap();
    let run = common::rdbt(dir.path(), &["run"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let rows = common::rows(
        dir.path(),
        "select cast(refunds as double) as refunds, late_clicks, plain_max from summary",
    );
    assert_eq!(rows[0]["refunds"], 13.75);
    assert_eq!(rows[0]["late_clicks"], 3);
    assert_eq!(rows[0]["plain_max"], 9);
}

#[test]
fn schema_drift_reads_new_columns_as_declared_and_names_an_incompatible_file() {
    let dir = common::project(&[
        ("rdbt_project.yml", "name: drift\n"),
        (
            "models/sources.yml",
            "version: 2\nsources:\n  - name: raw\n    tables:\n      - name: events\n        external: {location: files/events/, format: parquet}\n        columns:\n          - {name: id, data_type: int64}\n          - {name: kind, data_type: string}\n          - {name: channel, data_type: string}\n",
        ),
        (
            "models/by_channel.sql",
            "select coalesce(channel, 'unknown') as channel, count(*) as n from {{ source('raw', 'events') }} group by 1\n",
        ),
    ]);
    let files = dir.path().join("files/events");
    parquet(
        &files.join("2024-01.parquet"),
        "select * from (values (1, 'open'), (2, 'close')) as t(id, kind)",
    );
    parquet(
        &files.join("2024-02.parquet"),
        "select * from (values (3, 'open', 'web', 7)) as t(id, kind, channel, unexpected)",
    );
    let run = common::rdbt(dir.path(), &["run"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(
        sorted(common::rows(dir.path(), "select * from by_channel")),
        vec![
            r#"{"channel":"unknown","n":2}"#,
            r#"{"channel":"web","n":1}"#
        ]
    );
    // A later file whose `id` is text: named, and nothing is written.
    parquet(
        &files.join("2024-03.parquet"),
        "select * from (values ('x-4', 'open')) as t(id, kind)",
    );
    std::fs::remove_dir_all(dir.path().join("target/warehouse")).unwrap();
    let bad = common::rdbt(dir.path(), &["run"]);
    assert_eq!(bad.code, 1, "{}", bad.transcript());
    let text = bad.transcript();
    assert!(text.contains("external source `raw.events`"), "{text}");
    assert!(
        text.contains("files/events/2024-03.parquet has column `id` as"),
        "{text}"
    );
    assert!(
        !dir.path().join("target/warehouse/main/by_channel").exists(),
        "no partial result: {text}"
    );
}

#[test]
fn bad_locations_and_files_are_errors_naming_the_path() {
    let dir = common::project(&[
        ("rdbt_project.yml", "name: bad\n"),
        (
            "models/sources.yml",
            "version: 2\nsources:\n  - name: raw\n    tables:\n      - name: gone\n        external: {location: nowhere/, format: parquet}\n      - name: empty\n        external: {location: empty/, format: parquet}\n      - name: fake\n        external: {location: fake/, format: parquet}\n      - name: wrong\n        external: {location: wrong/, format: ndjson}\n",
        ),
        (
            "models/a.sql",
            "select * from {{ source('raw', 'gone') }}\n",
        ),
        (
            "models/b.sql",
            "select * from {{ source('raw', 'empty') }}\n",
        ),
        (
            "models/c.sql",
            "select * from {{ source('raw', 'fake') }}\n",
        ),
        (
            "models/d.sql",
            "select * from {{ source('raw', 'wrong') }}\n",
        ),
    ]);
    std::fs::create_dir_all(dir.path().join("empty")).unwrap();
    std::fs::create_dir_all(dir.path().join("fake")).unwrap();
    std::fs::write(dir.path().join("fake/part-0.parquet"), "id,name\n1,a\n").unwrap();
    std::fs::create_dir_all(dir.path().join("wrong")).unwrap();
    std::fs::write(dir.path().join("wrong/a.json"), "{\"id\": 1}\nid,name\n").unwrap();
    let run = common::rdbt(dir.path(), &["run", "--static-analysis", "off"]);
    assert_eq!(run.code, 1, "{}", run.transcript());
    let text = run.transcript();
    for wanted in [
        "external source `raw.gone`: `",
        "nowhere/` does not exist (external.location: nowhere/)",
        "external source `raw.empty`: no parquet files at empty/ (files ending in .parquet)",
        "fake/part-0.parquet is not a readable parquet file",
        "wrong/a.json is not newline-delimited JSON: line 2 is not a JSON object",
    ] {
        assert!(text.contains(wanted), "missing {wanted:?} in\n{text}");
    }

    // A declaration mistake stops before anything runs, at its YAML line.
    std::fs::write(
        dir.path().join("models/sources.yml"),
        "version: 2\nsources:\n  - name: raw\n    tables:\n      - name: gone\n        external: {format: parquet}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("models/b.sql"), "select 1 as x\n").unwrap();
    std::fs::write(dir.path().join("models/c.sql"), "select 1 as x\n").unwrap();
    std::fs::write(dir.path().join("models/d.sql"), "select 1 as x\n").unwrap();
    for command in ["run", "parse"] {
        let run = common::rdbt(dir.path(), &[command]);
        assert_eq!(run.code, 2, "{}", run.transcript());
        assert!(
            run.transcript()
                .contains("source `raw.gone`: `external.location` is missing"),
            "{}",
            run.transcript()
        );
        assert!(
            run.transcript().contains("sources.yml:6:"),
            "{}",
            run.transcript()
        );
    }
}

#[test]
fn freshness_comes_from_a_loaded_at_field_or_the_files_times() {
    let dir = common::project(&[
        ("rdbt_project.yml", "name: fresh\n"),
        (
            "models/sources.yml",
            "version: 2\nsources:\n  - name: raw\n    freshness: {warn_after: {count: 1, period: hour}}\n    tables:\n      - name: by_field\n        loaded_at_field: loaded_at\n        external: {location: files/a/, format: parquet}\n      - name: by_files\n        external: {location: files/b/, format: parquet}\n",
        ),
    ]);
    parquet(
        &dir.path().join("files/a/x.parquet"),
        "select 1 as id, timestamp '2020-01-01 00:00:00' as loaded_at",
    );
    parquet(&dir.path().join("files/b/x.parquet"), "select 1 as id");
    let run = common::rdbt(dir.path(), &["source", "freshness"]);
    let text = run.transcript();
    assert!(text.contains("WARN freshness of raw.by_field"), "{text}");
    assert!(text.contains("PASS freshness of raw.by_files"), "{text}");
    let sources: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("target/sources.json")).unwrap())
            .unwrap();
    let by_field = sources["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["unique_id"] == "source.fresh.raw.by_field")
        .unwrap();
    assert_eq!(by_field["max_loaded_at"], "2020-01-01T00:00:00");
}

#[test]
fn external_sources_are_read_from_gs_with_the_lands_credentials() {
    let gcs = FakeGcs::start();
    let dir = common::project(&[
        ("rdbt_project.yml", "name: bucket\n"),
        (
            "models/sources.yml",
            "version: 2\nsources:\n  - name: spark\n    tables:\n      - name: fact_order\n        external: {location: 'gs://old-lake/transformed/fact_order/', format: parquet, hive: true}\n        columns: [{name: order_date, data_type: date}]\n      - name: exports\n        external: {location: 'gs://old-lake/exports/*.csv', format: csv}\n",
        ),
        (
            "models/totals.sql",
            "{{ config(materialized='table') }}\nselect (select sum(amount) from {{ source('spark', 'fact_order') }} where order_date = date '2024-01-02') as day_two,\n       (select count(*) from {{ source('spark', 'exports') }}) as exported\n",
        ),
    ]);
    let scratch = tempfile::tempdir().unwrap();
    spark_silver(scratch.path());
    {
        let mut objects = gcs.objects.lock().unwrap();
        for entry in walkdir::WalkDir::new(scratch.path().join("transformed/fact_order")) {
            let entry = entry.unwrap();
            if entry.file_type().is_file() {
                let rel = entry
                    .path()
                    .strip_prefix(scratch.path())
                    .unwrap()
                    .to_string_lossy()
                    .to_string();
                objects.insert(
                    format!("old-lake/{rel}"),
                    std::fs::read(entry.path()).unwrap(),
                );
            }
        }
        objects.insert(
            "old-lake/exports/a.csv".into(),
            b"id,v\n1,x\n2,y\n".to_vec(),
        );
        objects.insert("old-lake/exports/readme.md".into(), b"not csv".to_vec());
    }
    let key = gcs.service_account_key();
    let run = common::rdbt_env(
        dir.path(),
        &["run"],
        &[("GOOGLE_SERVICE_ACCOUNT_KEY", key.as_str())],
    );
    assert_eq!(run.code, 0, "{}", run.transcript());
    let rows = common::rows(dir.path(), "select day_two, exported from totals");
    assert_eq!(rows[0]["day_two"], 144.5);
    assert_eq!(rows[0]["exported"], 2);
}
