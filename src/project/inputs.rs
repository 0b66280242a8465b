//! A fingerprint of every file a parse can read, from file metadata only
//! (path, size, modification time), so "nothing changed" costs a directory
//! walk instead of a parse. It covers more than the parse reads (every file
//! under the resource folders, whatever its extension), never less.

use super::packages::installed_packages;
use super::project_file::{ProjectFile, find_project_file};
use crate::diagnostics::Diagnostics;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Files changed this recently make a fingerprint untrustworthy: a second
/// edit within the file system's timestamp granularity could keep the same
/// size and time (git calls these "racy" entries).
const RACY_WINDOW: Duration = Duration::from_secs(1);

pub struct InputFingerprint {
    pub hash: String,
    /// True when some input changed too recently to trust its timestamp.
    pub racy: bool,
}

/// The fingerprint of the project at `dir` and its installed packages;
/// `None` when the project file cannot be read (a full parse will report it).
/// Files changed since `started` (when the reading they vouch for began)
/// make it racy.
pub fn input_fingerprint(dir: &Path, started: SystemTime) -> Option<InputFingerprint> {
    let (file_path, root) = find_project_file(dir)?;
    let mut diags = Diagnostics::default();
    let file = ProjectFile::load(&file_path, &mut diags).ok()?;
    let mut h = blake3::Hasher::new();
    let mut newest = SystemTime::UNIX_EPOCH;
    stamp(&mut h, &mut newest, &file_path);
    stamp(&mut h, &mut newest, &root.join("selectors.yml"));
    walk_package(&mut h, &mut newest, &root, &file, true);
    let install_dir = root.join(&file.packages_install_path);
    for (pkg_root, pkg_file_path) in installed_packages(&install_dir, &mut diags) {
        stamp(&mut h, &mut newest, &pkg_file_path);
        if let Ok(pkg_file) = ProjectFile::load(&pkg_file_path, &mut diags) {
            walk_package(&mut h, &mut newest, &pkg_root, &pkg_file, false);
        }
    }
    let racy = newest + RACY_WINDOW >= started;
    Some(InputFingerprint {
        hash: h.finalize().to_hex().to_string(),
        racy,
    })
}

/// Adds a file's identity (or its absence) to the hash.
pub fn stamp(h: &mut blake3::Hasher, newest: &mut SystemTime, path: &Path) {
    h.update(path.as_os_str().as_encoded_bytes());
    match std::fs::metadata(path) {
        Ok(meta) => add_metadata(h, newest, &meta),
        Err(_) => {
            h.update(b"\0missing");
        }
    }
}

fn add_metadata(h: &mut blake3::Hasher, newest: &mut SystemTime, meta: &std::fs::Metadata) {
    h.update(&meta.len().to_le_bytes());
    let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    let nanos = modified
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    h.update(&nanos.to_le_bytes());
    if modified > *newest {
        *newest = modified;
    }
}

fn walk_package(
    h: &mut blake3::Hasher,
    newest: &mut SystemTime,
    root: &Path,
    file: &ProjectFile,
    is_root: bool,
) {
    let mut dirs: Vec<&str> = Vec::new();
    for list in [
        &file.model_paths,
        &file.seed_paths,
        &file.macro_paths,
        &file.test_paths,
        &file.snapshot_paths,
        &file.analysis_paths,
    ] {
        dirs.extend(list.iter().map(String::as_str));
    }
    if let Some(docs) = &file.docs_paths {
        dirs.extend(docs.iter().map(String::as_str));
    }
    if is_root {
        dirs.push("project");
    }
    dirs.sort_unstable();
    dirs.dedup();
    for dir in dirs {
        let base = root.join(dir);
        h.update(base.as_os_str().as_encoded_bytes());
        if !base.is_dir() {
            h.update(b"\0missing");
            continue;
        }
        let (hashed, newest_before) = (h.clone(), *newest);
        if add_files_without_links(h, newest, &base).is_none() {
            // A link: walked again following links, as the parse reads.
            (*h, *newest) = (hashed, newest_before);
            for entry in super::files::visible_files(&base) {
                add_file(
                    h,
                    newest,
                    entry.path(),
                    std::fs::metadata(entry.path()).ok(),
                );
            }
        }
    }
}

fn add_file(
    h: &mut blake3::Hasher,
    newest: &mut SystemTime,
    path: &Path,
    meta: Option<std::fs::Metadata>,
) {
    h.update(path.as_os_str().as_encoded_bytes());
    match meta {
        Some(meta) => add_metadata(h, newest, &meta),
        None => {
            h.update(b"\0unreadable");
        }
    }
}

/// Adds the files `files::visible_files` lists under `dir` to the hash, in
/// its order; `None` at the first link, which that walk follows.
///
/// Each file's metadata is read relative to its open folder, not by its
/// full path, and without `walkdir`'s bookkeeping: the fingerprint of a
/// 10,000-model project is taken beside its full parse, on the same two
/// cores.
fn add_files_without_links(
    h: &mut blake3::Hasher,
    newest: &mut SystemTime,
    dir: &Path,
) -> Option<()> {
    // An unreadable folder is skipped, as the walk skips it.
    let Ok(listing) = std::fs::read_dir(dir) else {
        return Some(());
    };
    // Each name is taken once: `DirEntry::file_name` allocates.
    let mut entries: Vec<(std::ffi::OsString, std::fs::DirEntry)> = listing
        .filter_map(Result::ok)
        .map(|e| (e.file_name(), e))
        .filter(|(name, _)| !name.as_encoded_bytes().starts_with(b"."))
        .collect();
    entries.sort_unstable_by(|(a, _), (b, _)| a.cmp(b));
    for (_, entry) in entries {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_symlink() {
            return None;
        }
        if kind.is_dir() {
            add_files_without_links(h, newest, &entry.path())?;
        } else if kind.is_file() {
            add_file(h, newest, &entry.path(), entry.metadata().ok());
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("rdbt_project.yml"), "name: p\n").expect("write");
        std::fs::create_dir_all(dir.path().join("models/a")).expect("mkdir");
        std::fs::write(dir.path().join("models/a/m.sql"), "select 1").expect("write");
        dir
    }

    #[test]
    fn any_edit_addition_or_removal_changes_the_fingerprint() {
        let dir = project();
        let first = input_fingerprint(dir.path(), SystemTime::now()).expect("fingerprint");
        assert!(first.racy, "files written just now are racy");
        let same = input_fingerprint(dir.path(), SystemTime::now()).expect("fingerprint");
        assert_eq!(first.hash, same.hash);

        std::fs::write(dir.path().join("models/a/m.sql"), "select 12").expect("write");
        let edited = input_fingerprint(dir.path(), SystemTime::now()).expect("fingerprint");
        assert_ne!(first.hash, edited.hash);

        std::fs::write(dir.path().join("models/a/n.yml"), "version: 2").expect("write");
        let added = input_fingerprint(dir.path(), SystemTime::now()).expect("fingerprint");
        assert_ne!(edited.hash, added.hash);

        std::fs::remove_file(dir.path().join("models/a/n.yml")).expect("rm");
        std::fs::write(dir.path().join("selectors.yml"), "selectors: []").expect("write");
        let selectors = input_fingerprint(dir.path(), SystemTime::now()).expect("fingerprint");
        assert_ne!(added.hash, selectors.hash);
    }

    #[test]
    fn files_are_hashed_as_the_parse_walks_them_until_a_link() {
        let dir = super::super::files::names_ordered_differently_by_text_and_by_path();
        let by_walk = || {
            let mut h = blake3::Hasher::new();
            let mut newest = SystemTime::UNIX_EPOCH;
            for entry in super::super::files::visible_files(dir.path()) {
                add_file(
                    &mut h,
                    &mut newest,
                    entry.path(),
                    std::fs::metadata(entry.path()).ok(),
                );
            }
            (h.finalize(), newest)
        };
        let mut h = blake3::Hasher::new();
        let mut newest = SystemTime::UNIX_EPOCH;
        assert!(add_files_without_links(&mut h, &mut newest, dir.path()).is_some());
        assert_eq!((h.finalize(), newest), by_walk());
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.path().join("a"), dir.path().join("b/linked"))
                .expect("symlink");
            let mut h = blake3::Hasher::new();
            let mut newest = SystemTime::UNIX_EPOCH;
            assert!(add_files_without_links(&mut h, &mut newest, dir.path()).is_none());
        }
    }

    #[test]
    fn old_files_are_not_racy() {
        let dir = project();
        let old = SystemTime::now() - Duration::from_secs(60);
        for f in ["rdbt_project.yml", "models/a/m.sql"] {
            let file = std::fs::File::options()
                .write(true)
                .open(dir.path().join(f))
                .expect("open");
            file.set_modified(old).expect("set mtime");
        }
        assert!(
            !input_fingerprint(dir.path(), SystemTime::now())
                .expect("fingerprint")
                .racy
        );
    }
}
