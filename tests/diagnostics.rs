//! Every `tests/fixtures/*_error` project fails `rdbt parse` with exit code 2
//! and one rendered diagnostic per problem; the rendering is snapshotted.

mod common;

use common::{fixture, fixtures_dir, rdbt};

#[test]
fn each_error_fixture_renders_its_diagnostic() {
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with("_error"))
        .collect();
    names.sort();
    assert!(
        names.len() >= 14,
        "expected one fixture per error kind, found {names:?}"
    );
    for name in names {
        let project = fixture(&name);
        let run = rdbt(project.path(), &["parse", "--no-partial-parse"]);
        assert_eq!(
            run.code,
            2,
            "{name} should fail with exit code 2:\n{}",
            run.transcript()
        );
        assert!(
            run.stdout.contains("error["),
            "{name} printed no diagnostic:\n{}",
            run.transcript()
        );
        assert!(
            !run.stdout.contains("panicked"),
            "{name} panicked:\n{}",
            run.transcript()
        );
        insta::assert_snapshot!(name.clone(), run.stdout);
    }
}

#[test]
fn diagnostics_as_json_lines() {
    let project = fixture("unknown_ref_error");
    let run = rdbt(project.path(), &["parse", "--log-format", "json"]);
    assert_eq!(run.code, 2);
    let line = run
        .stdout
        .lines()
        .find(|l| l.contains("\"R301\""))
        .expect("a JSON diagnostic");
    let event: serde_json::Value = serde_json::from_str(line).expect("valid JSON");
    assert_eq!(event["info"]["level"], "error");
    assert_eq!(event["info"]["name"], "Diagnostic");
    assert_eq!(event["info"]["code"], "R301");
    assert!(
        event["info"]["msg"]
            .as_str()
            .is_some_and(|m| m.contains("models/customers.sql:3:9"))
    );
    let v = &event["data"];
    assert_eq!(v["location"]["path"], "models/customers.sql");
    assert_eq!(v["location"]["line"], 3);
    assert_eq!(v["location"]["column"], 9);
    assert!(
        v["help"]
            .as_str()
            .unwrap_or_default()
            .contains("stg_orders")
    );
}

#[test]
fn unknown_keys_warn_but_do_not_fail() {
    let project = fixture("jaffle_nested");
    assert_eq!(rdbt(project.path(), &["deps"]).code, 0);
    let schema = project.path().join("models/staging/schema.yml");
    let text = std::fs::read_to_string(&schema).expect("schema").replace(
        "  - name: stg_customers\n",
        "  - name: stg_customers\n    descripton: typo\n",
    );
    std::fs::write(&schema, text).expect("write");
    let run = rdbt(project.path(), &["parse"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert!(
        run.stdout
            .contains("warning[R104]: unknown key `descripton` in model `stg_customers`"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("did you mean `description`?"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("models/staging/schema.yml:5:5"),
        "{}",
        run.stdout
    );
}
