//! Every selector form dbt documents, on the jaffle_nested fixture. Each
//! case lists node names so a wrong selection shows as a readable diff.

mod common;

use common::{fixture, rdbt};

fn names(dir: &std::path::Path, args: &[&str]) -> Vec<String> {
    // `-q`, as a script reading the list passes it (dbt prints its log lines
    // on stdout too).
    let mut full = vec!["ls", "-q", "--output", "name"];
    full.extend_from_slice(args);
    let run = rdbt(dir, &full);
    assert_eq!(run.code, 0, "{args:?}: {}", run.transcript());
    let mut v: Vec<String> = run.stdout.lines().map(str::to_string).collect();
    v.sort();
    v
}

fn prepared() -> tempfile::TempDir {
    let p = fixture("jaffle_nested");
    assert_eq!(rdbt(p.path(), &["deps"]).code, 0);
    p
}

#[test]
fn every_selector_form() {
    let p = prepared();
    let dir = p.path();
    let models = ["--resource-type", "model"];
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("-s orders", vec!["orders"]),
        (
            "-s stg_*",
            vec![
                "stg_customers",
                "stg_orders",
                "stg_payments",
                "stg_shop_orders",
            ],
        ),
        ("-s +orders", vec!["orders", "stg_orders", "stg_payments"]),
        (
            "-s orders+",
            vec!["customers", "orders", "revenue", "utils_showcase"],
        ),
        (
            "-s 1+customers",
            vec!["customers", "orders", "stg_customers"],
        ),
        ("-s stg_orders+1", vec!["orders", "stg_orders"]),
        (
            "-s @stg_orders",
            vec![
                "customers",
                "orders",
                "revenue",
                "stg_customers",
                "stg_orders",
                "stg_payments",
                "utils_showcase",
            ],
        ),
        ("-s tag:finance", vec!["revenue"]),
        (
            "-s tag:nightly,tag:staging",
            vec![
                "stg_customers",
                "stg_orders",
                "stg_payments",
                "stg_shop_orders",
            ],
        ),
        (
            "-s path:models/marts",
            vec!["customers", "orders", "revenue", "utils_showcase"],
        ),
        ("-s models/marts/finance", vec!["revenue"]),
        (
            "-s fqn:jaffle_nested.staging.*",
            vec![
                "stg_customers",
                "stg_orders",
                "stg_payments",
                "stg_shop_orders",
            ],
        ),
        (
            "-s jaffle_nested.marts",
            vec!["customers", "orders", "revenue", "utils_showcase"],
        ),
        (
            "-s config.materialized:table",
            vec!["customers", "orders", "revenue", "utils_showcase"],
        ),
        (
            "-s config.schema:staging",
            vec![
                "stg_customers",
                "stg_orders",
                "stg_payments",
                "stg_shop_orders",
            ],
        ),
        ("-s source:shop+", vec!["stg_shop_orders"]),
        ("-s package:shared_utils", vec!["package_model"]),
        (
            "-s +exposure:weekly_revenue",
            vec![
                "customers",
                "orders",
                "revenue",
                "stg_customers",
                "stg_orders",
                "stg_payments",
            ],
        ),
        (
            "-s tag:staging --exclude stg_orders stg_payments",
            vec!["stg_customers", "stg_shop_orders"],
        ),
        ("-s orders customers", vec!["customers", "orders"]),
        (
            "--selector finance_only",
            vec![
                "customers",
                "orders",
                "revenue",
                "stg_customers",
                "stg_orders",
                "stg_payments",
            ],
        ),
        (
            "--selector staging_models",
            vec![
                "stg_customers",
                "stg_orders",
                "stg_payments",
                "stg_shop_orders",
            ],
        ),
    ];
    for (spec, expected) in cases {
        let args: Vec<&str> = spec.split(' ').collect();
        let mut full = args.clone();
        full.extend_from_slice(&models);
        assert_eq!(names(dir, &full), expected, "selector `{spec}`");
    }
}

#[test]
fn non_model_selectors() {
    let p = prepared();
    let dir = p.path();
    assert_eq!(
        names(dir, &["-s", "resource_type:seed"]),
        vec!["raw_customers", "raw_orders", "raw_payments"]
    );
    assert_eq!(
        names(dir, &["-s", "source:shop.orders"]),
        vec![
            "not_null_source_shop_orders_id",
            "orders",
            "unique_source_shop_orders_id"
        ]
    );
    assert_eq!(
        names(dir, &["-s", "exposure:weekly_revenue"]),
        vec!["weekly_revenue"]
    );
    assert_eq!(
        names(dir, &["-s", "test_type:singular"]),
        vec!["assert_total_payment_amount_is_positive"]
    );
    assert_eq!(
        names(dir, &["-s", "test_name:is_positive"]),
        vec!["is_positive_stg_payments_amount"]
    );
    assert_eq!(
        names(dir, &["-s", "test_type:generic,test_name:relationships"]),
        vec!["relationships_orders_customer_id__customer_id__ref_customers_"]
    );
    assert_eq!(
        names(dir, &["-s", "orders", "--resource-type", "test"]),
        vec![
            "assert_total_payment_amount_is_positive",
            "not_null_orders_order_id",
            "relationships_orders_customer_id__customer_id__ref_customers_",
            "unique_orders_order_id"
        ],
        "tests of a selected model come along (eager)"
    );
    assert_eq!(
        names(
            dir,
            &[
                "-s",
                "orders",
                "--indirect-selection",
                "cautious",
                "--resource-type",
                "test"
            ]
        ),
        vec![
            "assert_total_payment_amount_is_positive",
            "not_null_orders_order_id",
            "unique_orders_order_id"
        ],
        "cautious: only tests whose parents are all selected"
    );
    assert!(
        names(
            dir,
            &[
                "-s",
                "orders",
                "--indirect-selection",
                "empty",
                "--resource-type",
                "test"
            ]
        )
        .is_empty()
    );
    assert_eq!(
        names(dir, &["-s", "resource_type:snapshot"]),
        vec!["orders_snapshot"]
    );
    assert_eq!(
        names(dir, &["-s", "resource_type:analysis"]),
        vec!["order_counts"]
    );
}

#[test]
fn ls_output_formats() {
    let p = prepared();
    let run = rdbt(
        p.path(),
        &[
            "ls",
            "-s",
            "orders",
            "--resource-type",
            "model",
            "--output",
            "path",
        ],
    );
    assert_eq!(run.stdout, "models/marts/orders.sql\n");
    let run = rdbt(
        p.path(),
        &[
            "ls",
            "-s",
            "stg_orders",
            "--resource-type",
            "model",
            "--output",
            "json",
            "--output-keys",
            "name,alias,resource_type",
        ],
    );
    assert_eq!(
        run.stdout.trim(),
        r#"{"alias":"orders_staged","name":"stg_orders","resource_type":"model"}"#
    );
    let run = rdbt(
        p.path(),
        &["ls", "-s", "source:shop", "--resource-type", "source"],
    );
    assert_eq!(
        run.stdout,
        "source:jaffle_nested.shop.customers\nsource:jaffle_nested.shop.orders\n"
    );
}

#[test]
fn bad_selectors_are_clear_errors() {
    let p = prepared();
    let run = rdbt(p.path(), &["ls", "-s", "tags:finance"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stdout.contains("`tags` is not a selection method"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("did you mean `tag`?"), "{}", run.stdout);
    let run = rdbt(p.path(), &["ls", "--selector", "finance"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stdout.contains("no selector named `finance`"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("finance_only"), "{}", run.stdout);
    let run = rdbt(p.path(), &["ls", "-s", "state:modified"]);
    assert_eq!(run.code, 2);
    assert!(run.stdout.contains("--state"), "{}", run.stdout);
}

/// Regression (issue 8): selecting a model selects its unit tests, as in
/// dbt, and only its own (their mocked inputs do not count as parents).
#[test]
fn a_selected_model_brings_its_unit_tests() {
    let dir = fixture("materializations");
    let out = rdbt(
        dir.path(),
        &[
            "ls",
            "-s",
            "inc_latest",
            "--resource-type",
            "unit_test",
            "--output",
            "name",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.transcript());
    let mut names: Vec<&str> = out.stdout.lines().collect();
    names.sort();
    assert_eq!(
        names,
        [
            "full_load_keeps_every_row",
            "incremental_run_takes_only_new_batches"
        ]
    );
    let events = rdbt(
        dir.path(),
        &[
            "ls",
            "-q",
            "-s",
            "events",
            "--resource-type",
            "unit_test",
            "--output",
            "name",
        ],
    );
    assert_eq!(events.stdout.trim(), "", "{}", events.transcript());
}

/// #29 features: `result:` and `source_status:` with `--state`, and
/// `build --resource-type` / `--exclude-resource-type` / `--store-failures`.
#[test]
fn result_and_source_status_selectors_and_build_flags() {
    let p = common::project(&[
        (
            "rdbt_project.yml",
            "name: res\nmodels:\n  res:\n    +materialized: table\nseeds:\n  res:\n    +schema: raw\n",
        ),
        ("models/good.sql", "select 1 as id"),
        ("models/after_good.sql", "select * from {{ ref('good') }}"),
        ("models/broken.sql", "select cast('x' as int) as id"),
        (
            "models/reads_events.sql",
            "select * from {{ source('app', 'events') }}",
        ),
        (
            "models/schema.yml",
            "version: 2\nmodels:\n  - name: good\n    columns:\n      - name: id\n        data_tests:\n          - accepted_values: {values: [2]}\n",
        ),
        (
            "models/sources.yml",
            "version: 2\nsources:\n  - name: app\n    schema: main_raw\n    loaded_at_field: loaded_at\n    freshness: {warn_after: {count: 1, period: day}}\n    tables:\n      - name: events\n",
        ),
        ("seeds/events.csv", "id,loaded_at\n1,2026-01-01 00:00:00\n"),
    ]);
    let d = p.path();
    // The source's table is the seed: load it before anything reads it.
    assert_eq!(rdbt(d, &["seed"]).code, 0);
    let build = rdbt(d, &["build", "--static-analysis", "off"]);
    assert_eq!(build.code, 1, "{}", build.transcript());
    let freshness = rdbt(d, &["source", "freshness"]);
    assert!(freshness.code <= 1, "{}", freshness.transcript());
    // The earlier run's artifacts, kept aside as --state.
    let state = tempfile::tempdir().expect("state");
    for f in ["manifest.json", "run_results.json", "sources.json"] {
        std::fs::copy(d.join("target").join(f), state.path().join(f)).expect("copy");
    }
    let state_arg = state.path().to_string_lossy().to_string();
    let ls = |sel: &str| {
        let run = rdbt(
            d,
            &[
                "ls", "-q", "--output", "name", "-s", sel, "--state", &state_arg,
            ],
        );
        assert_eq!(run.code, 0, "{sel}: {}", run.transcript());
        let mut v: Vec<String> = run.stdout.lines().map(str::to_string).collect();
        v.sort();
        v
    };
    assert_eq!(ls("result:error"), ["broken"]);
    assert_eq!(ls("result:fail"), ["accepted_values_good_id__2"]);
    // (A selected model's tests come along, as always.)
    assert_eq!(
        ls("result:success"),
        [
            "accepted_values_good_id__2",
            "events",
            "good",
            "reads_events"
        ]
    );
    // The failing test skipped what reads `good`.
    assert_eq!(ls("result:skipped"), ["after_good"]);
    // Nothing is fresher than the state yet; new rows make the source and
    // what reads it selected.
    assert!(ls("source_status:fresher+").is_empty());
    std::fs::write(
        d.join("seeds/events.csv"),
        "id,loaded_at\n1,2026-01-01 00:00:00\n2,2026-02-01 00:00:00\n",
    )
    .expect("write");
    assert_eq!(rdbt(d, &["seed"]).code, 0);
    let again = rdbt(d, &["source", "freshness"]);
    assert!(again.code <= 1, "{}", again.transcript());
    assert_eq!(ls("source_status:fresher+"), ["events", "reads_events"]);
    // Without --state the selectors say what they need.
    let run = rdbt(d, &["ls", "-s", "result:error"]);
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(run.stdout.contains("--state"), "{}", run.transcript());

    // build --resource-type test runs only the tests; --store-failures
    // keeps the failing rows.
    let tests_only = rdbt(
        d,
        &[
            "build",
            "--resource-type",
            "test",
            "--store-failures",
            "-s",
            "good",
        ],
    );
    assert_eq!(tests_only.code, 1, "{}", tests_only.transcript());
    assert!(
        tests_only
            .stdout
            .contains("FAIL test accepted_values_good_id__2")
            && !tests_only.stdout.contains("START sql table model"),
        "{}",
        tests_only.transcript()
    );
    assert_eq!(
        common::rows(
            d,
            "select count(*) as n from main_dbt_test__audit.accepted_values_good_id__2"
        ),
        vec![serde_json::json!({"n": 1})]
    );
    let no_tests = rdbt(
        d,
        &[
            "build",
            "--exclude-resource-type",
            "test",
            "unit_test",
            "-s",
            "good",
        ],
    );
    assert_eq!(no_tests.code, 0, "{}", no_tests.transcript());
    assert!(
        !no_tests.stdout.contains("START test"),
        "{}",
        no_tests.transcript()
    );
}
