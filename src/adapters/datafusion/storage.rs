//! How the embedded warehouse keeps tables on disk: each table is a folder of
//! immutable versions and a `CURRENT` file naming the live one. A new version
//! is written completely, then `CURRENT` is replaced by an atomic rename, so
//! a crash at any moment leaves the previous version readable.

use std::io::Write;
use std::path::{Path, PathBuf};

pub const CURRENT: &str = "CURRENT";
pub const VIEW_SUFFIX: &str = ".view.sql";

/// A table's folder: `<warehouse>/<schema>/<table>/`.
pub fn table_dir(root: &Path, schema: &str, table: &str) -> PathBuf {
    root.join(schema).join(table)
}

pub fn view_file(root: &Path, schema: &str, view: &str) -> PathBuf {
    root.join(schema).join(format!("{view}{VIEW_SUFFIX}"))
}

/// The live version folder of a table, if it has one.
pub fn current_version(dir: &Path) -> Option<PathBuf> {
    let name = std::fs::read_to_string(dir.join(CURRENT)).ok()?;
    let name = name.trim();
    if name.is_empty() || name.contains('/') || name.contains("..") {
        return None;
    }
    let v = dir.join(name);
    v.is_dir().then_some(v)
}

/// A fresh, empty version folder for `dir`.
pub fn new_version(dir: &Path) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%6f");
    let v = dir.join(format!(
        "v-{stamp}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    ));
    std::fs::create_dir(&v)?;
    Ok(v)
}

/// Makes `version` the live one: durable files first, then the pointer.
pub fn publish(dir: &Path, version: &Path) -> std::io::Result<()> {
    sync_dir(version)?;
    let name = version
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!("{CURRENT}.tmp-{}", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(name.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(CURRENT))?;
    sync_dir(dir)?;
    Ok(())
}

/// Removes versions other than the live one and the one before it (a reader
/// that started before the swap may still be reading that one).
pub fn collect_garbage(dir: &Path, keep_previous: Option<&Path>) {
    let live = current_version(dir);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.filter_map(Result::ok) {
        let p = e.path();
        let is_version = p
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("v-"));
        if is_version && Some(&p) != live.as_ref() && Some(p.as_path()) != keep_previous {
            let _ = std::fs::remove_dir_all(&p);
        }
    }
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

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
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
                if e.path().is_dir() && current_version(&e.path()).is_some() {
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
