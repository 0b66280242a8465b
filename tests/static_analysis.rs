//! Static analysis: every model is planned against its parents' columns
//! before anything runs; what it infers (columns, types, column lineage)
//! goes into the manifest and drives `ls -s column:...`.

mod common;

use common::{project, rdbt};
use serde_json::{Value, json};

const ORDERS: &str =
    "order_id,customer_id,amount,status\n1,10,12.5,paid\n2,10,7.5,paid\n3,20,8,refunded\n";
const CUSTOMERS: &str = "customer_id,name\n10,Ada\n20,Bo\n";

fn manifest(dir: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("target/manifest.json")).expect("manifest"))
        .expect("json")
}

#[test]
fn compile_infers_columns_types_and_column_lineage() {
    let p = project(&[
        ("rdbt_project.yml", "name: shop\nsql_dialect: bigquery\n"),
        ("seeds/orders.csv", ORDERS),
        ("seeds/customers.csv", CUSTOMERS),
        (
            "models/customer_totals.sql",
            "with paid as (\n  select customer_id, amount * 2 as doubled\n  from {{ ref('orders') }}\n  where status = 'paid'\n),\ntotals as (\n  select customer_id, SUM(doubled) as total\n  from paid\n  group by customer_id\n)\nselect\n  c.name,\n  t.total,\n  ROW_NUMBER() OVER (ORDER BY t.total DESC) as rank_by_total\nfrom totals t\njoin {{ ref('customers') }} c on c.customer_id = t.customer_id\n",
        ),
        (
            "models/top_customer.sql",
            "select name, total from {{ ref('customer_totals') }} where rank_by_total = 1\n",
        ),
    ]);
    let dir = p.path();
    let compile = rdbt(dir, &["compile"]);
    assert_eq!(compile.code, 0, "{}", compile.transcript());
    let m = manifest(dir);
    let node = &m["nodes"]["model.shop.customer_totals"];
    assert_eq!(
        node["inferred_columns"],
        json!([
            {"name": "name", "data_type": "varchar"},
            {"name": "total", "data_type": "double"},
            {"name": "rank_by_total", "data_type": "bigint unsigned"},
        ])
    );
    let lineage = &node["column_lineage"];
    let sources = |column: &str| -> Vec<(String, String, String)> {
        lineage[column]
            .as_array()
            .expect("lineage")
            .iter()
            .map(|s| {
                (
                    s["node"].as_str().unwrap_or("").to_string(),
                    s["column"].as_str().unwrap_or("").to_string(),
                    s["derivation"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    };
    let t = |n: &str, c: &str, d: &str| (n.to_string(), c.to_string(), d.to_string());
    // Through two CTEs, a filter, an aggregate and a join.
    assert_eq!(
        sources("total"),
        vec![
            t("seed.shop.customers", "customer_id", "join_key"),
            t("seed.shop.orders", "amount", "aggregate"),
            t("seed.shop.orders", "customer_id", "join_key"),
            t("seed.shop.orders", "status", "filter"),
        ]
    );
    assert!(sources("name").contains(&t("seed.shop.customers", "name", "copy")));
    // A window function over an aggregate.
    assert!(sources("rank_by_total").contains(&t("seed.shop.orders", "amount", "aggregate")));
    let top = &m["nodes"]["model.shop.top_customer"]["column_lineage"]["total"];
    assert!(
        top.as_array().expect("lineage").contains(
            &json!({"node": "model.shop.customer_totals", "column": "total", "derivation": "copy"})
        ),
        "{top}"
    );

    // Downstream of one column, as `ls` lists it.
    let ls = rdbt(dir, &["ls", "-s", "column:orders.amount+"]);
    assert_eq!(ls.code, 0, "{}", ls.transcript());
    let lines: Vec<&str> = ls.stdout.lines().collect();
    assert_eq!(
        lines,
        vec![
            "orders.amount",
            "customer_totals.rank_by_total",
            "customer_totals.total",
            // Filtered on the rank, so derived from the amount too.
            "top_customer.name",
            "top_customer.total",
        ]
    );
    let upstream = rdbt(dir, &["ls", "-s", "+column:top_customer.name"]);
    assert_eq!(upstream.code, 0, "{}", upstream.transcript());
    assert!(
        upstream.stdout.lines().any(|l| l == "customers.name"),
        "{}",
        upstream.stdout
    );
}

#[test]
fn a_wrong_column_and_a_type_mismatch_fail_compile_at_their_line_and_column() {
    let p = project(&[
        ("rdbt_project.yml", "name: shop\n"),
        ("seeds/orders.csv", ORDERS),
        (
            "models/wrong_column.sql",
            "{{ config(materialized='table') }}\nselect\n  order_id,\n  amont\nfrom {{ ref('orders') }}\n",
        ),
        (
            "models/type_mismatch.sql",
            "select\n  order_id\nfrom {{ ref('orders') }}\nwhere order_id = true\n",
        ),
        (
            "models/unknown_function.sql",
            "select frobnicate(order_id) as x from {{ ref('orders') }}\n",
        ),
    ]);
    let dir = p.path();
    let compile = rdbt(dir, &["compile"]);
    assert_eq!(compile.code, 2, "{}", compile.transcript());
    let err = &compile.stdout;
    assert!(err.contains("error[R209]: No field named amont"), "{err}");
    assert!(err.contains("models/wrong_column.sql:4:3"), "{err}");
    assert!(err.contains("Valid fields are"), "{err}");
    assert!(err.contains("models/type_mismatch.sql:4:7"), "{err}");
    assert!(err.contains("BIGINT = BOOLEAN"), "{err}");
    assert!(!err.contains("caused by"), "{err}");
    assert!(err.contains("models/unknown_function.sql:1:8"), "{err}");
    assert!(err.contains("3 errors"), "{err}");
    // Nothing was built by the run that the same check stopped.
    let run = rdbt(dir, &["build"]);
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(!dir.join("target/run_results.json").exists());
}

#[test]
fn strict_mode_fails_a_model_whose_schema_cannot_be_inferred() {
    let p = project(&[
        ("rdbt_project.yml", "name: shop\n"),
        (
            "models/sources.yml",
            "version: 2\nsources:\n  - name: app\n    schema: raw\n    tables:\n      - name: events\n        columns:\n          - name: id\n",
        ),
        (
            "models/events.sql",
            "select id from {{ source('app', 'events') }}\n",
        ),
    ]);
    let dir = p.path();
    let on = rdbt(dir, &["compile"]);
    assert_eq!(on.code, 0, "{}", on.transcript());
    let strict = rdbt(dir, &["compile", "--static-analysis", "strict"]);
    assert_eq!(strict.code, 2, "{}", strict.transcript());
    assert!(
        strict
            .stdout
            .contains("the schema of `events` cannot be inferred")
            && strict.stdout.contains("source `events`"),
        "{}",
        strict.stdout
    );
    assert!(strict.stdout.contains("data_type"), "{}", strict.stdout);
}

/// Writes one Parquet file with an `id` (bigint) and `email` (text) column.
fn land_parquet(path: &std::path::Path) {
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::arrow::record_batch::RecordBatch;
    use std::sync::Arc;
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("email", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(vec![1, 2])),
            Arc::new(StringArray::from(vec!["a@x", "b@x"])),
        ],
    )
    .expect("batch");
    let file = std::fs::File::create(path).expect("create");
    let mut writer =
        datafusion::parquet::arrow::ArrowWriter::try_new(file, schema, None).expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
}

#[test]
fn a_landed_source_is_checked_against_the_parquet_schema() {
    let p = project(&[
        ("rdbt_project.yml", "name: shop\n"),
        (
            "models/sources.yml",
            "version: 2\nsources:\n  - name: app\n    tables:\n      - name: users\n        ingest:\n          postgres: {url: \"postgres://localhost/db\", table: users}\n",
        ),
        (
            "models/user_emails.sql",
            "select id, email, dt from {{ source('app', 'users') }}\n",
        ),
        (
            "models/bad_users.sql",
            "select id, mail from {{ source('app', 'users') }}\n",
        ),
    ]);
    let dir = p.path();
    // Nothing landed: nothing to check against (strict would say so).
    let before = rdbt(dir, &["compile", "-s", "user_emails"]);
    assert_eq!(before.code, 0, "{}", before.transcript());
    land_parquet(&dir.join("target/land/app/users/dt=2024-01-01/part-0-0-1.parquet"));
    let after = rdbt(dir, &["compile"]);
    assert_eq!(after.code, 2, "{}", after.transcript());
    assert!(
        after.stdout.contains("No field named mail"),
        "{}",
        after.stdout
    );
    assert!(
        after.stdout.contains("models/bad_users.sql:1:12"),
        "{}",
        after.stdout
    );
    let ok = rdbt(dir, &["compile", "-s", "user_emails"]);
    assert_eq!(ok.code, 0, "{}", ok.transcript());
    assert_eq!(
        manifest(dir)["nodes"]["model.shop.user_emails"]["inferred_columns"],
        json!([
            {"name": "id", "data_type": "bigint"},
            {"name": "email", "data_type": "varchar"},
            {"name": "dt", "data_type": "varchar"},
        ])
    );
}

/// #29 bug 7: before anything has landed, an `ingest:` source's declared
/// columns are checked with the `dt`/`hr` folders its landed table will
/// have, so `compile` on a fresh checkout works; a wrong column is reported
/// where the planned SQL has it, not at a Jinja branch that did not render.
#[test]
fn nothing_landed_yet_still_compiles_and_errors_point_at_the_rendered_sql() {
    let p = project(&[
        ("rdbt_project.yml", "name: shop\n"),
        (
            "models/sources.yml",
            "version: 2\nsources:\n  - name: app\n    tables:\n      - name: events\n        ingest:\n          file: {path: events.ndjson}\n        columns:\n          - {name: id, data_type: INT64}\n          - {name: kind, data_type: STRING}\n",
        ),
        (
            "models/hourly.sql",
            "{{ config(materialized='incremental') }}\nselect id, kind, concat(dt, ' ', hr) as landed_hour\nfrom {{ source('app', 'events') }}\n{% if is_incremental() %}\nwhere concat(dt, ' ', hr) > (select max(landed_hour) from {{ this }})\n{% endif %}\n",
        ),
    ]);
    let dir = p.path();
    let compile = rdbt(dir, &["compile"]);
    assert_eq!(compile.code, 0, "{}", compile.transcript());

    // A misspelt column used twice: once in the unrendered incremental
    // branch, once in the SQL that was planned.
    std::fs::write(
        dir.join("models/hourly.sql"),
        "{{ config(materialized='incremental') }}\n{% if is_incremental() %}\n-- newer than knd\nselect 1 as id where knd is null\n{% else %}\nselect id, knd from {{ source('app', 'events') }}\n{% endif %}\n",
    )
    .expect("write");
    let compile = rdbt(dir, &["compile"]);
    assert_eq!(compile.code, 2, "{}", compile.transcript());
    assert!(
        compile.stdout.contains("models/hourly.sql:6:12"),
        "{}",
        compile.transcript()
    );
}
