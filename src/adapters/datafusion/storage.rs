//! How the embedded warehouse keeps relations on disk: each table is a
//! Delta Lake table in `<warehouse>/<schema>/<table>/` (its `_delta_log`
//! says which Parquet files make each version), each view a stored SQL file
//! `<warehouse>/<schema>/<view>.view.sql`.

use std::io::Write;
use std::path::{Path, PathBuf};

pub const VIEW_SUFFIX: &str = ".view.sql";
/// The Delta transaction log's folder inside a table's.
pub const DELTA_LOG: &str = "_delta_log";
/// What an earlier rdbt kept in a table's folder to name its live version.
pub const OLD_FORMAT_MARKER: &str = "CURRENT";

/// A table's folder: `<warehouse>/<schema>/<table>/`.
pub fn table_dir(root: &Path, schema: &str, table: &str) -> PathBuf {
    root.join(schema).join(table)
}

/// An audited table's candidate: `<warehouse>/.audit/<schema>/<table>/`.
pub fn audit_dir(root: &Path, schema: &str, table: &str) -> PathBuf {
    root.join(".audit").join(schema).join(table)
}

pub fn view_file(root: &Path, schema: &str, view: &str) -> PathBuf {
    root.join(schema).join(format!("{view}{VIEW_SUFFIX}"))
}

/// Whether `dir` holds a Delta table: its log has a first commit or a
/// checkpoint. (A log folder without either is a table whose creation
/// never committed: nothing.)
pub fn is_table(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir.join(DELTA_LOG)) else {
        return false;
    };
    entries.filter_map(Result::ok).any(|e| {
        let name = e.file_name();
        let name = name.to_string_lossy();
        (name.ends_with(".json") && name.chars().next().is_some_and(|c| c.is_ascii_digit()))
            || name == "_last_checkpoint"
            || name.ends_with(".checkpoint.parquet")
    })
}

/// Whether `dir` is a table written by an earlier rdbt (versioned Parquet
/// folders and a `CURRENT` file), which this one does not read.
pub fn is_old_format(dir: &Path) -> bool {
    dir.join(OLD_FORMAT_MARKER).is_file() && !dir.join(DELTA_LOG).is_dir()
}

/// The first table of the old format under `root`, if any.
pub fn find_old_format(root: &Path) -> Option<PathBuf> {
    let schemas = std::fs::read_dir(root).ok()?;
    for schema in schemas.filter_map(Result::ok) {
        if !schema.path().is_dir() || schema.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        for entry in std::fs::read_dir(schema.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if entry.path().is_dir() && is_old_format(&entry.path()) {
                return Some(entry.path());
            }
        }
    }
    None
}

/// Writes a small file atomically (view definitions).
pub fn write_file_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// Every schema folder and, inside, every table and view.
pub fn list(root: &Path) -> Vec<(String, Vec<String>, Vec<String>)> {
    let mut out = Vec::new();
    let Ok(schemas) = std::fs::read_dir(root) else {
        return out;
    };
    let mut schemas: Vec<_> = schemas
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .collect();
    schemas.sort_by_key(|e| e.file_name());
    for s in schemas {
        let schema = s.file_name().to_string_lossy().into_owned();
        if schema.starts_with('.') {
            continue;
        }
        let mut tables = Vec::new();
        let mut views = Vec::new();
        if let Ok(entries) = std::fs::read_dir(s.path()) {
            for e in entries.filter_map(Result::ok) {
                let name = e.file_name().to_string_lossy().into_owned();
                if e.path().is_dir() && is_table(&e.path()) {
                    tables.push(name);
                } else if let Some(view) = name.strip_suffix(VIEW_SUFFIX) {
                    views.push(view.to_string());
                }
            }
        }
        tables.sort();
        views.sort();
        out.push((schema, tables, views));
    }
    out
}
