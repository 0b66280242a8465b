//! Helpers for the integration tests: copy a fixture project to a temporary
//! folder, run the real `rdbt` binary in it, and normalize its output
//! (temporary paths, colors) so snapshots are the same on every machine.

#![allow(dead_code)]

pub mod gcs;
pub mod postgres;
pub mod replay;

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Exit code, stdout and stderr in one text, for snapshots.
    pub fn transcript(&self) -> String {
        format!(
            "exit: {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A fresh copy of `tests/fixtures/<name>` in a temporary folder.
pub fn fixture(name: &str) -> tempfile::TempDir {
    let tmp = tempfile::Builder::new()
        .prefix("rdbt-test-")
        .tempdir()
        .expect("temp dir");
    copy_dir(&fixtures_dir().join(name), tmp.path());
    tmp
}

pub fn copy_dir(src: &Path, dest: &Path) {
    std::fs::create_dir_all(dest).expect("create dir");
    for entry in std::fs::read_dir(src).expect("read fixture") {
        let entry = entry.expect("entry");
        let path = entry.path();
        let target = dest.join(entry.file_name());
        if path.is_dir() {
            if entry.file_name() == "target" || entry.file_name() == "dbt_packages" {
                continue;
            }
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).expect("copy file");
        }
    }
}

/// Runs `rdbt args…` in `dir` with a clean environment: no colors, and a
/// HOME without profiles so only the project's own files count.
pub fn rdbt(dir: &Path, args: &[&str]) -> Run {
    rdbt_env(dir, args, &[])
}

pub fn rdbt_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let home = tempfile::tempdir().expect("home");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rdbt"));
    cmd.args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("HOME", home.path());
    for k in [
        "RDBT_TARGET",
        "RDBT_PROFILES_DIR",
        "DBT_PROFILES_DIR",
        "RDBT_VARS",
        "RDBT_PROJECT_DIR",
        "RDBT_STATE",
        "RDBT_LOG_FORMAT",
        "RDBT_THREADS",
        "RDBT_STATIC_ANALYSIS",
    ] {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run rdbt");
    let norm = |b: &[u8]| normalize(&String::from_utf8_lossy(b), dir);
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: norm(&out.stdout),
        stderr: norm(&out.stderr),
    }
}

/// Replaces machine-specific paths and timings.
pub fn normalize(text: &str, dir: &Path) -> String {
    let mut t = text.replace(&dir.display().to_string(), "[PROJECT]");
    if let Ok(canonical) = dir.canonicalize() {
        t = t.replace(&canonical.display().to_string(), "[PROJECT]");
    }
    t = t.replace(&fixtures_dir().display().to_string(), "[FIXTURES]");
    let timing = regex::Regex::new(r"in \d+\.\d+s").expect("regex");
    timing.replace_all(&t, "in [TIME]s").into_owned()
}

/// A throwaway project: `models/` and the given files (parents created).
pub fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("rdbt-test-")
        .tempdir()
        .expect("temp dir");
    std::fs::create_dir_all(dir.path().join("models")).expect("models dir");
    for (path, text) in files {
        let target = dir.path().join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).expect("parent dir");
        }
        std::fs::write(&target, text).expect("write file");
    }
    dir
}

/// Rows of a query, through `rdbt show --inline ... --output json`.
pub fn rows(dir: &Path, sql: &str) -> Vec<serde_json::Value> {
    let run = rdbt(
        dir,
        &[
            "show", "-q", "--inline", sql, "--output", "json", "--limit", "0",
        ],
    );
    assert_eq!(run.code, 0, "{sql}: {}", run.transcript());
    serde_json::from_str::<serde_json::Value>(&run.stdout)
        .expect("json rows")
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// `../shared/data` (real exports kept beside the repository) when it
/// holds `file`, or `None`, said loudly; under CI a missing folder is a
/// failure. `RDBT_TEST_DATA_DIR` points elsewhere.
pub fn shared_data(file: &str) -> Option<PathBuf> {
    let found = [
        std::env::var("RDBT_TEST_DATA_DIR").ok().map(PathBuf::from),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data")),
        Some(PathBuf::from("/work/shared/data")),
    ]
    .into_iter()
    .flatten()
    .find(|d| d.join(file).is_file());
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "../shared/data/{file} is missing (set RDBT_TEST_DATA_DIR)"
        );
        eprintln!(
            "SKIPPED: ../shared/data/{file} not found; set RDBT_TEST_DATA_DIR to run this test"
        );
    }
    found
}

/// A copy of the repository's example project in a temporary folder.
pub fn example_project() -> tempfile::TempDir {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().expect("dir");
    for folder in ["project", "models", "seeds", "macros"] {
        copy_dir(&root.join(folder), &dir.path().join(folder));
    }
    std::fs::copy(root.join("profiles.yml"), dir.path().join("profiles.yml")).expect("profiles");
    dir
}

/// Macros logging what the adapter's relation look-ups and changes give:
/// `inspect` (the relations of the target schema, whether schemas exist, a
/// query's columns) and `rename_m` (`m` renamed to `m_renamed`).
pub const INSPECT_MACRO: &str = "{% macro inspect() %}\
{% set here = api.Relation.create(database=target.database, schema=target.schema) %}\
{% set names = adapter.list_relations_without_caching(here) | map(attribute='identifier') | sort | join(',') %}\
{{ log('relations: ' ~ names, info=true) }}\
{{ log('schema exists: ' ~ adapter.check_schema_exists(target.database, target.schema) ~ ' ' ~ adapter.check_schema_exists(target.database, 'no_such_schema'), info=true) }}\
{{ log('columns: ' ~ (get_columns_in_query('select 1 as a, 2 as b') | join(',')), info=true) }}\
{% endmacro %}\
{% macro rename_m() %}\
{% set m = adapter.get_relation(target.database, target.schema, 'm') %}\
{% do adapter.rename_relation(m, api.Relation.create(database=target.database, schema=target.schema, identifier='m_renamed')) %}\
{{ log('renamed: ' ~ (adapter.get_relation(target.database, target.schema, 'm_renamed') is not none) ~ ' ' ~ (adapter.get_relation(target.database, target.schema, 'm') is none), info=true) }}\
{% endmacro %}\n";
