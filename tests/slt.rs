//! SQL semantics pinned by sqllogictest files (`tests/slt/<dialect>/*.slt`):
//! each query is written in the dialect of its folder, translated by rdbt
//! and run on the embedded warehouse; the expected values come from the
//! dialect's own documentation examples.
//!
//! Format (as DataFusion's suite): `statement ok|error <regex>`, then SQL;
//! `query <types> [rowsort]`, SQL, `----`, rows with cells separated by
//! spaces; `query error <regex>` for a query that must fail. A blank line
//! ends a record.

use rdbt::adapters::datafusion::{Warehouse, rows_as_text};
use rdbt::sql::{SqlDialect, translate};
use std::path::{Path, PathBuf};

struct Record {
    line: usize,
    kind: Kind,
    sql: String,
}

enum Kind {
    StatementOk,
    Error(regex::Regex),
    Query {
        expected: Vec<String>,
        rowsort: bool,
    },
}

fn parse(path: &Path) -> Vec<Record> {
    let text = std::fs::read_to_string(path).expect("read slt");
    let lines: Vec<&str> = text.lines().collect();
    let mut records = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim_end();
        if line.is_empty() || line.starts_with('#') {
            i += 1;
            continue;
        }
        let header_line = i + 1;
        let words: Vec<&str> = line.split_whitespace().collect();
        i += 1;
        let mut sql = Vec::new();
        while i < lines.len() && !lines[i].trim().is_empty() && lines[i].trim() != "----" {
            sql.push(lines[i]);
            i += 1;
        }
        let error_regex =
            |from: usize| regex::Regex::new(&words[from..].join(" ")).expect("error regex");
        let kind = match words.as_slice() {
            ["statement", "ok"] => Kind::StatementOk,
            ["statement", "error", ..] => Kind::Error(error_regex(2)),
            ["query", "error", ..] => Kind::Error(error_regex(2)),
            ["query", _types, rest @ ..] => {
                let mut expected = Vec::new();
                if i < lines.len() && lines[i].trim() == "----" {
                    i += 1;
                    while i < lines.len() && !lines[i].trim().is_empty() {
                        expected.push(normalize_row(lines[i]));
                        i += 1;
                    }
                }
                Kind::Query {
                    expected,
                    rowsort: rest.contains(&"rowsort"),
                }
            }
            _ => panic!("{}:{header_line}: unknown record `{line}`", path.display()),
        };
        records.push(Record {
            line: header_line,
            kind,
            sql: sql.join("\n"),
        });
    }
    records
}

fn normalize_row(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn slt_files() -> Vec<(SqlDialect, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let mut out = Vec::new();
    for dialect in SqlDialect::NAMES {
        let dir = root.join(dialect);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "slt"))
            .collect();
        files.sort();
        let d = SqlDialect::from_name(dialect).expect("dialect");
        out.extend(files.into_iter().map(|f| (d, f)));
    }
    out
}

async fn run_file(dialect: SqlDialect, path: &Path) -> Vec<String> {
    let dir = tempfile::tempdir().expect("warehouse dir");
    let wh = Warehouse::open(dir.path(), None, true, std::time::Duration::ZERO, None)
        .await
        .expect("open warehouse");
    let mut failures = Vec::new();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    for record in parse(path) {
        let at = format!("{}/{name}:{}", dialect, record.line);
        let outcome = match translate(&record.sql, dialect) {
            Ok(sql) => wh
                .query(&sql)
                .await
                .map_err(|e| e.to_string())
                .and_then(|b| rows_as_text(&b).map_err(|e| e.to_string()))
                .map_err(|e| format!("{e}\n  translated: {sql}")),
            Err(e) => Err(format!(
                "translation: {} (line {}, column {})",
                e.message, e.line, e.column
            )),
        };
        match (&record.kind, outcome) {
            (Kind::StatementOk, Ok(_)) => {}
            (Kind::Error(re), Err(message)) if re.is_match(&message) => {}
            (Kind::Error(re), Err(message)) => failures.push(format!(
                "{at}: expected an error matching /{re}/, got: {message}"
            )),
            (Kind::Error(re), Ok(_)) => failures.push(format!(
                "{at}: expected an error matching /{re}/, but it succeeded"
            )),
            (_, Err(message)) => failures.push(format!("{at}: {message}\n  sql: {}", record.sql)),
            (Kind::Query { expected, rowsort }, Ok(rows)) => {
                let mut got: Vec<String> =
                    rows.iter().map(|r| normalize_row(&r.join(" "))).collect();
                let mut expected = expected.clone();
                if *rowsort {
                    got.sort();
                    expected.sort();
                }
                if got != expected {
                    failures.push(format!(
                        "{at}: wrong result\n  sql: {}\n  expected:\n    {}\n  got:\n    {}",
                        record.sql,
                        expected.join("\n    "),
                        got.join("\n    ")
                    ));
                }
            }
        }
    }
    failures
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqllogictest_suites_pass() {
    let files = slt_files();
    assert!(!files.is_empty(), "no .slt files under tests/slt");
    let mut failures = Vec::new();
    for (dialect, path) in &files {
        failures.extend(run_file(*dialect, path).await);
    }
    assert!(
        failures.is_empty(),
        "{} failing record(s):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
