//! `state:modified` against an earlier manifest, and partial parsing: an
//! edit re-renders only what changed.

mod common;

use common::{fixture, rdbt, rdbt_env};
use rdbt::compile::{ParseCache, parse_project};
use rdbt::settings::{Flags, resolve};

#[test]
fn state_modified_selects_only_what_changed() {
    let p = fixture("jaffle_nested");
    let dir = p.path();
    assert_eq!(rdbt(dir, &["deps"]).code, 0);
    assert_eq!(rdbt(dir, &["parse"]).code, 0);
    let state = tempfile::tempdir().expect("state");
    std::fs::copy(
        dir.join("target/manifest.json"),
        state.path().join("manifest.json"),
    )
    .expect("copy");
    let state_arg = state.path().to_string_lossy().to_string();

    let ls = |sel: &str| {
        let run = rdbt(
            dir,
            &[
                "ls",
                "-q",
                "--output",
                "name",
                "--resource-type",
                "model",
                "-s",
                sel,
                "--state",
                &state_arg,
            ],
        );
        assert_eq!(run.code, 0, "{}", run.transcript());
        run.stdout.lines().map(str::to_string).collect::<Vec<_>>()
    };
    assert!(ls("state:modified").is_empty(), "nothing changed yet");

    // A one-line edit of one model.
    let path = dir.join("models/staging/stg_customers.sql");
    let text = std::fs::read_to_string(&path)
        .expect("read")
        .replace("last_name", "last_name as surname");
    std::fs::write(&path, text).expect("write");
    assert_eq!(ls("state:modified"), vec!["stg_customers"]);
    assert_eq!(ls("state:modified.body"), vec!["stg_customers"]);
    assert!(ls("state:modified.configs").is_empty());
    assert_eq!(
        ls("state:modified+"),
        vec!["customers", "revenue", "stg_customers"]
    );

    // A config change shows up as modified.configs only.
    let cfg = dir.join("models/marts/finance/revenue.sql");
    let text = std::fs::read_to_string(&cfg).expect("read");
    std::fs::write(
        &cfg,
        format!("{{{{ config(materialized='view') }}}}\n{text}"),
    )
    .expect("write");
    assert_eq!(ls("state:modified.configs"), vec!["revenue"]);

    std::fs::write(dir.join("models/marts/brand_new.sql"), "select 1 as x").expect("write");
    assert_eq!(ls("state:new"), vec!["brand_new"]);
}

#[test]
fn partial_parse_rerenders_only_the_edited_model() {
    let p = fixture("jaffle_nested");
    let dir = p.path();
    assert_eq!(rdbt(dir, &["deps"]).code, 0);
    let parse = || {
        let flags = Flags {
            project_dir: Some(dir.to_path_buf()),
            ..Default::default()
        };
        let (project, _) = rdbt::project::load_project(dir).expect("load");
        let (settings, _) = resolve(
            &flags,
            "jaffle_nested",
            true,
            &rdbt::compile::render_env_string,
        )
        .expect("settings");
        let mut cache = ParseCache::load(&project.target_dir());
        let out = parse_project(&project, &settings, &mut cache).expect("parse");
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        cache.save();
        (out.rendered, out.parsed)
    };
    let (first, parsed) = parse();
    let sql_nodes = parsed
        .nodes
        .values()
        .filter(|n| !n.raw_code.is_empty() && n.test_metadata.is_none())
        .count();
    assert_eq!(first, sql_nodes, "a cold parse renders every SQL node");
    let (second, _) = parse();
    assert_eq!(second, 0, "nothing changed: nothing re-renders");
    let path = dir.join("models/marts/orders.sql");
    let text = std::fs::read_to_string(&path).expect("read");
    std::fs::write(
        &path,
        format!("{text}\n-- edited\n{{{{ config(tags=['edited']) }}}}\n"),
    )
    .expect("write");
    let (third, parsed) = parse();
    assert_eq!(third, 1, "only the edited model re-renders");
    assert!(
        parsed.nodes["model.jaffle_nested.orders"]
            .tags()
            .contains(&"edited".to_string()),
        "the new render's config() is used"
    );
    assert!(cached_sql(dir, "model.jaffle_nested.orders").contains("-- edited"));
    // A var change invalidates every node that could read it.
    let pf = dir.join("dbt_project.yml");
    let text = std::fs::read_to_string(&pf)
        .expect("read")
        .replace("start_date: '2018-01-01'", "start_date: '2019-01-01'");
    std::fs::write(&pf, text).expect("write");
    let (fourth, _) = parse();
    assert_eq!(fourth, sql_nodes);
    assert!(cached_sql(dir, "model.jaffle_nested.stg_orders").contains("2019-01-01"));
}

/// The parse render of a node as the partial-parse cache kept it.
fn cached_sql(dir: &std::path::Path, unique_id: &str) -> String {
    let bytes = std::fs::read(dir.join("target/partial_parse.json")).expect("cache written");
    let cache: serde_json::Value = serde_json::from_slice(&bytes).expect("cache is JSON");
    cache["entries"][unique_id]["sql"]
        .as_str()
        .unwrap_or_else(|| panic!("no cached render of {unique_id}"))
        .to_string()
}

/// Makes every file of the project look old, as after a checkout: files
/// changed within the last second are never trusted by the no-change check.
fn age_files(dir: &std::path::Path) {
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(120);
    for entry in walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
    {
        if entry.file_type().is_file() {
            let f = std::fs::File::options()
                .write(true)
                .open(entry.path())
                .expect("open");
            f.set_modified(old).expect("set mtime");
        }
    }
}

#[test]
fn an_unchanged_project_skips_the_parse_and_any_change_does_not() {
    let p = common::project(&[
        ("rdbt_project.yml", "name: stamp\n"),
        (
            "models/a.sql",
            "{{ config(tags=[env_var('STAMP_TEST_VALUE', 'one')]) }} select 1 as x",
        ),
        ("models/b.sql", "select x from {{ ref('a') }}"),
    ]);
    let dir = p.path();
    let home = tempfile::tempdir().expect("home");
    let home = home.path().to_string_lossy().to_string();
    let parse = |env: &[(&str, &str)], args: &[&str]| {
        let mut all_env = vec![("HOME", home.as_str())];
        all_env.extend_from_slice(env);
        let mut all_args = vec!["parse"];
        all_args.extend_from_slice(args);
        let run = rdbt_env(dir, &all_args, &all_env);
        assert_eq!(run.code, 0, "{}", run.transcript());
        let manifest: serde_json::Value = serde_json::from_slice(
            &std::fs::read(dir.join("target/manifest.json")).expect("manifest"),
        )
        .expect("json");
        (run.transcript().contains("nothing changed"), manifest)
    };
    let without_metadata = |mut m: serde_json::Value| {
        m.as_object_mut().expect("object").remove("metadata");
        m
    };
    age_files(dir);
    let (skipped, full) = parse(&[], &[]);
    assert!(!skipped, "the first parse is a full one");
    let (skipped, again) = parse(&[], &[]);
    assert!(skipped, "nothing changed");
    assert_ne!(
        full["metadata"]["invocation_id"], again["metadata"]["invocation_id"],
        "every parse has its own invocation id"
    );
    assert_ne!(
        full["metadata"]["generated_at"],
        again["metadata"]["generated_at"]
    );
    assert_eq!(without_metadata(full.clone()), without_metadata(again));

    // An environment variable the project reads.
    let (skipped, with_env) = parse(&[("STAMP_TEST_VALUE", "two")], &[]);
    assert!(!skipped);
    assert_eq!(
        with_env["nodes"]["model.stamp.a"]["tags"],
        serde_json::json!(["two"])
    );

    // A flag.
    let (skipped, _) = parse(&[], &["--vars", "{x: 1}"]);
    assert!(!skipped);
    let (skipped, _) = parse(&[], &["--vars", "{x: 1}"]);
    assert!(skipped);

    // An edit keeping the size, an added file, and --no-partial-parse.
    std::fs::write(dir.join("models/b.sql"), "select x from {{ ref('a') }}").expect("write");
    std::fs::write(dir.join("models/b.sql"), "SELECT x FROM {{ ref('a') }}").expect("write");
    let (skipped, edited) = parse(&[], &[]);
    assert!(!skipped);
    assert!(
        edited["nodes"]["model.stamp.b"]["raw_code"]
            .as_str()
            .is_some_and(|c| c.starts_with("SELECT")),
        "{}",
        edited["nodes"]["model.stamp.b"]
    );
    std::fs::write(dir.join("models/c.sql"), "select 1 as y").expect("write");
    age_files(dir);
    let (skipped, added) = parse(&[], &[]);
    assert!(!skipped);
    assert!(added["nodes"]["model.stamp.c"].is_object());
    let (skipped, _) = parse(&[], &["--no-partial-parse"]);
    assert!(!skipped);
    // A full parse stamps too (its fingerprint is taken beside the parse).
    assert!(parse(&[], &[]).0, "nothing changed since the full parse");
    let (skipped, _) = parse(&[("RDBT_NO_PARTIAL_PARSE", "1")], &[]);
    assert!(!skipped);
    // Dropping that variable is a change too; the parse after it stamps.
    assert!(!parse(&[], &[]).0);

    // Another command writing the manifest voids the stamp.
    assert!(parse(&[], &[]).0);
    let compile = rdbt_env(dir, &["compile"], &[("HOME", home.as_str())]);
    assert_eq!(compile.code, 0, "{}", compile.transcript());
    assert!(!parse(&[], &[]).0);

    // A manifest shorter than it was written (the machine stopped before
    // it reached the disk) is written again, not refreshed in place.
    let manifest = dir.join("target/manifest.json");
    let len = std::fs::metadata(&manifest).expect("manifest").len();
    std::fs::File::options()
        .write(true)
        .open(&manifest)
        .expect("open")
        .set_len(len - 2)
        .expect("truncate");
    assert!(!parse(&[], &[]).0, "a short manifest is written again");
    assert!(parse(&[], &[]).0);
}
