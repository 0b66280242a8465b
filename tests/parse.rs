//! Parsing and compiling the dbt-style fixture: nested folder configs,
//! macros with loops and dispatch, vars, packages; compiled SQL and the
//! manifest are snapshotted.

mod common;

use common::{fixture, rdbt};
use std::path::Path;

fn prepared() -> tempfile::TempDir {
    let project = fixture("jaffle_nested");
    let deps = rdbt(project.path(), &["deps"]);
    assert_eq!(deps.code, 0, "{}", deps.transcript());
    project
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn ls_lists_every_resource() {
    let project = prepared();
    let run = rdbt(project.path(), &["ls"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    insta::assert_snapshot!(run.stdout);
}

#[test]
fn compiled_sql_of_every_node() {
    let project = prepared();
    let run = rdbt(project.path(), &["compile"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let compiled = project.path().join("target/compiled");
    let mut files: Vec<_> = walkdir::WalkDir::new(&compiled)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    files.sort();
    let mut out = String::new();
    for f in files {
        out.push_str(&format!(
            "==> {}\n{}\n",
            f.strip_prefix(&compiled).unwrap_or(&f).display(),
            read(&f).trim()
        ));
    }
    insta::assert_snapshot!(out);
}

#[test]
fn folder_configs_nest_and_yaml_and_sql_configs_win() {
    let project = prepared();
    assert_eq!(rdbt(project.path(), &["parse"]).code, 0);
    let manifest: serde_json::Value =
        serde_json::from_str(&read(&project.path().join("target/manifest.json"))).expect("json");
    let node = |id: &str| manifest["nodes"][id].clone();
    let revenue = node("model.jaffle_nested.revenue");
    assert_eq!(
        revenue["config"]["materialized"], "table",
        "marts/ folder config"
    );
    assert_eq!(
        revenue["config"]["tags"],
        serde_json::json!(["nightly", "finance"]),
        "tags add up down the folders"
    );
    assert_eq!(revenue["config"]["meta"]["owner"], "finance-team");
    let customers = node("model.jaffle_nested.customers");
    assert_eq!(
        customers["config"]["tags"],
        serde_json::json!(["nightly", "core"]),
        "config() adds to folder tags"
    );
    let orders = node("model.jaffle_nested.orders");
    assert_eq!(
        orders["config"]["tags"],
        serde_json::json!(["nightly", "orders"]),
        "YAML config adds tags"
    );
    let stg_orders = node("model.jaffle_nested.stg_orders");
    assert_eq!(
        stg_orders["schema"], "analytics_staging",
        "custom schema is <target schema>_<custom>"
    );
    assert_eq!(stg_orders["alias"], "orders_staged");
    let seed = node("seed.jaffle_nested.raw_payments");
    assert_eq!(seed["config"]["column_types"]["amount"], "integer");
    assert_eq!(seed["schema"], "analytics_raw");
    let snapshot = node("snapshot.jaffle_nested.orders_snapshot");
    assert_eq!(snapshot["schema"], "snapshots");
    assert_eq!(snapshot["config"]["strategy"], "timestamp");
    let package_model = node("model.shared_utils.package_model");
    assert_eq!(
        package_model["config"]["tags"],
        serde_json::json!(["from_package"]),
        "the root project configures packages"
    );
    let test = manifest["nodes"]
        .as_object()
        .expect("nodes")
        .values()
        .find(|n| n["name"] == "not_null_orders_order_id")
        .expect("test")
        .clone();
    assert_eq!(test["config"]["severity"], "warn", "tests: folder config");
    let accepted = manifest["nodes"]
        .as_object()
        .expect("nodes")
        .values()
        .find(|n| {
            n["test_metadata"]["name"] == "accepted_values"
                && n["attached_node"] == "model.jaffle_nested.stg_orders"
        })
        .expect("test")
        .clone();
    assert_eq!(
        accepted["config"]["severity"], "error",
        "a test's own config wins"
    );
    assert_eq!(
        manifest["sources"]["source.jaffle_nested.shop.orders"]["schema"], "shop_raw",
        "Jinja in source YAML is rendered"
    );
    assert_eq!(
        manifest["nodes"]["model.jaffle_nested.stg_customers"]["description"],
        "One row per customer of the shop.",
        "doc() blocks"
    );
    assert_eq!(
        manifest["exposures"]["exposure.jaffle_nested.weekly_revenue"]["depends_on"]["nodes"],
        serde_json::json!([
            "model.jaffle_nested.customers",
            "model.jaffle_nested.revenue"
        ])
    );
    assert_eq!(
        manifest["parent_map"]["model.jaffle_nested.revenue"],
        serde_json::json!([
            "model.jaffle_nested.customers",
            "model.jaffle_nested.orders"
        ]),
        "-- depends_on: adds an edge"
    );
}

#[test]
fn manifest_snapshot_and_determinism() {
    let project = prepared();
    assert_eq!(
        rdbt(project.path(), &["parse", "--no-partial-parse"]).code,
        0
    );
    let first = read(&project.path().join("target/manifest.json"));
    assert_eq!(rdbt(project.path(), &["parse"]).code, 0);
    let second = read(&project.path().join("target/manifest.json"));
    let strip = |s: &str| {
        let re = regex::Regex::new(r#""(invocation_id|generated_at)":"[^"]*""#).expect("regex");
        re.replace_all(s, "\"$1\":\"…\"").into_owned()
    };
    assert_eq!(
        strip(&first),
        strip(&second),
        "identical input gives identical bytes (cached or not)"
    );
    let manifest: serde_json::Value = serde_json::from_str(&first).expect("json");
    insta::assert_json_snapshot!(manifest, {
        ".metadata.invocation_id" => "[invocation_id]",
        ".metadata.generated_at" => "[generated_at]",
        ".metadata.dbt_version" => "[version]",
        ".macros" => "[macros]",
    });
}

#[test]
fn vars_from_the_command_line_override_the_project() {
    let project = prepared();
    let run = rdbt(
        project.path(),
        &[
            "compile",
            "-s",
            "stg_orders",
            "--vars",
            "{start_date: '2020-06-01'}",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(
        run.stdout.contains("where order_date >= '2020-06-01'"),
        "{}",
        run.stdout
    );
    let bad = rdbt(project.path(), &["parse", "--vars", "[1, 2"]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stdout.contains("--vars is not valid YAML"),
        "{}",
        bad.stdout
    );
}

#[test]
fn rdbt_project_file_in_the_project_folder() {
    // The example layout: rdbt_project.yml in project/, models at the root.
    let dir = tempfile::tempdir().expect("dir");
    std::fs::create_dir_all(dir.path().join("project")).expect("mkdir");
    std::fs::create_dir_all(dir.path().join("models")).expect("mkdir");
    std::fs::write(
        dir.path().join("project/rdbt_project.yml"),
        "name: layout\nvars:\n  answer: 42\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("project/properties.yml"),
        "version: 2\nmodels:\n  - name: m\n    description: described in project/\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("models/m.sql"),
        "select {{ var('answer') }} as answer",
    )
    .expect("write");
    let run = rdbt(dir.path(), &["compile", "-s", "m"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(run.stdout.contains("select 42 as answer"));
    let manifest: serde_json::Value =
        serde_json::from_str(&read(&dir.path().join("target/manifest.json"))).expect("json");
    assert_eq!(
        manifest["nodes"]["model.layout.m"]["description"],
        "described in project/"
    );
}

#[test]
fn disabled_models_go_to_disabled() {
    let project = prepared();
    std::fs::write(
        project.path().join("models/marts/finance/old.sql"),
        "{{ config(enabled=false) }}\nselect 1",
    )
    .expect("write");
    assert_eq!(rdbt(project.path(), &["parse"]).code, 0);
    let manifest: serde_json::Value =
        serde_json::from_str(&read(&project.path().join("target/manifest.json"))).expect("json");
    assert!(manifest["nodes"].get("model.jaffle_nested.old").is_none());
    assert!(manifest["disabled"]["model.jaffle_nested.old"].is_array());
}

#[test]
fn a_described_model_without_a_file_warns_and_used_descriptions_do_not() {
    let project = common::project(&[
        ("rdbt_project.yml", "name: patched\n"),
        ("models/orders.sql", "select 1 as id\n"),
        ("seeds/rates.csv", "id\n1\n"),
        (
            "models/schema.yml",
            "version: 2\nmodels:\n  - name: orders\n    description: Orders.\n  - name: refunds\n    description: No such file.\nseeds:\n  - name: rates\n    description: Rates.\n",
        ),
    ]);
    let run = rdbt(project.path(), &["parse", "--no-partial-parse"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(
        run.stdout
            .contains("`refunds` is described under `models` but no such model file exists"),
        "{}",
        run.transcript()
    );
    assert_eq!(
        run.stdout.matches("R110").count(),
        1,
        "only the entry without a file warns:\n{}",
        run.transcript()
    );
}

#[test]
fn a_model_file_that_is_not_utf8_is_an_error_naming_it() {
    let project = common::project(&[("rdbt_project.yml", "name: bytes\n")]);
    std::fs::write(
        project.path().join("models/latin1.sql"),
        b"select 'caf\xe9' as word\n",
    )
    .expect("write");
    let run = rdbt(project.path(), &["parse", "--no-partial-parse"]);
    assert_eq!(run.code, 2, "{}", run.transcript());
    assert!(
        run.stdout.contains("latin1.sql") && run.stdout.contains("not UTF-8 text"),
        "{}",
        run.transcript()
    );
    assert!(!run.stdout.contains("panicked"), "{}", run.transcript());
}
