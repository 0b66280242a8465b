//! `sql_dialect`: models written in BigQuery, DuckDB or DataFusion SQL
//! build on the embedded warehouse with their own dialect's results, and
//! what a dialect cannot run faithfully fails at compile time.

mod common;

use common::{fixture, project, rdbt, rows};
use serde_json::json;

#[test]
fn each_model_runs_with_its_own_dialects_semantics() {
    let p = fixture("dialects");
    let dir = p.path();
    let build = rdbt(dir, &["build"]);
    assert_eq!(build.code, 0, "{}", build.transcript());

    // Inline SQL is the project's dialect too: backticks and BigQuery names.
    let monthly = rows(
        dir,
        "select customer_id, FORMAT_DATE('%F', order_month) as m, orders, delivered, avg_paid_amount, weeks_spanned from {{ ref('monthly_orders') }} order by 1, 2",
    );
    assert_eq!(
        monthly,
        vec![
            json!({"customer_id": 10, "m": "2024-01-01", "orders": 1, "delivered": 1, "avg_paid_amount": 12.5, "weeks_spanned": 0}),
            json!({"customer_id": 10, "m": "2024-02-01", "orders": 1, "delivered": 1, "avg_paid_amount": 7.5, "weeks_spanned": 0}),
            json!({"customer_id": 10, "m": "2024-03-01", "orders": 1, "delivered": 0, "avg_paid_amount": 20.0, "weeks_spanned": 0}),
            // 2024-01-07 is a Sunday and 2024-01-08 a Monday: same week.
            json!({"customer_id": 20, "m": "2024-01-01", "orders": 2, "delivered": 2, "avg_paid_amount": 6.0, "weeks_spanned": 0}),
            // SAFE_DIVIDE by zero is NULL (JSON output leaves NULLs out).
            json!({"customer_id": 30, "m": "2024-02-01", "orders": 1, "delivered": 1, "weeks_spanned": 0}),
        ]
    );
    let latest = rows(
        dir,
        "select * from `{{ ref('latest_order').schema }}`.latest_order order by customer_id",
    );
    assert_eq!(
        latest,
        vec![
            json!({"customer_id": 10, "order_id": 3, "month_label": "2024-03", "quarter_id": 0.75}),
            json!({"customer_id": 20, "order_id": 5, "month_label": "2024-01", "quarter_id": 1.25}),
            json!({"customer_id": 30, "order_id": 6, "month_label": "2024-02", "quarter_id": 1.5}),
        ]
    );
    let duck = rows(
        dir,
        "select * from {{ ref('duck_customers') }} order by customer_id",
    );
    assert_eq!(
        duck,
        vec![
            json!({"customer_id": 10, "half_orders": 1.5, "last_order": "15/03/2024"}),
            json!({"customer_id": 20, "half_orders": 1.0, "last_order": "08/01/2024"}),
            json!({"customer_id": 30, "half_orders": 0.5, "last_order": "29/02/2024"}),
        ]
    );
    // DataFusion SQL is not translated: integer division stays integral.
    assert_eq!(
        rows(dir, "select * from {{ ref('native') }}"),
        vec![json!({"integer_division": 3})]
    );
}

#[test]
fn a_construct_the_dialect_cannot_run_fails_at_compile_time_at_its_line() {
    let p = project(&[
        ("rdbt_project.yml", "name: offsets\nsql_dialect: bigquery\n"),
        (
            "models/days.sql",
            "select\n  d,\n  o\nfrom {{ ref('spine') }} s, UNNEST(s.days) as d WITH OFFSET as o\n",
        ),
        (
            "models/spine.sql",
            "select GENERATE_DATE_ARRAY('2024-01-01', '2024-01-03') as days\n",
        ),
    ]);
    let dir = p.path();
    let compile = rdbt(dir, &["compile"]);
    assert_eq!(compile.code, 2, "{}", compile.transcript());
    assert!(
        compile
            .stdout
            .contains("error[R208]: UNNEST ... WITH OFFSET over a column of another table"),
        "{}",
        compile.stdout
    );
    assert!(
        compile.stdout.contains("models/days.sql:4:"),
        "{}",
        compile.stdout
    );
    assert!(
        compile.stdout.contains("ROW_NUMBER()"),
        "{}",
        compile.stdout
    );

    // A run stops before anything runs, with the same error; without the
    // check, the model itself fails with it.
    let run = rdbt(dir, &["run"]);
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(run.stdout.contains("error[R208]"), "{}", run.transcript());
    let unchecked = rdbt(dir, &["run", "--static-analysis", "off"]);
    assert_eq!(unchecked.code, 1, "{}", unchecked.transcript());
    assert!(
        unchecked.transcript().contains("WITH OFFSET"),
        "{}",
        unchecked.transcript()
    );
}

#[test]
fn an_unknown_dialect_is_an_error_naming_the_choices() {
    let p = project(&[("rdbt_project.yml", "name: p\nsql_dialect: oracle\n")]);
    let run = rdbt(p.path(), &["parse"]);
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(
        run.stdout.contains("`oracle` is not a SQL dialect"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("bigquery, duckdb, postgres, datafusion"),
        "{}",
        run.stdout
    );
}
