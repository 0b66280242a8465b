//! Discovers and reads a package's files: SQL nodes, seeds, macros, docs
//! blocks and property YAML. Files are read in parallel; nothing is rendered.

use super::properties::{Properties, read_property_file};
use super::{Package, ProjectFile, ResourceType};
use crate::diagnostics::{Diagnostic, Diagnostics, Location, codes};
use crate::yaml::SourceFile;
use rayon::prelude::*;
use regex::Regex;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

/// A SQL file that becomes one node (model, analysis, singular test) or one
/// snapshot block.
#[derive(Debug, Clone)]
pub struct SqlFile {
    pub resource_type: ResourceType,
    pub name: String,
    pub abs_path: PathBuf,
    /// Relative to the package root, as dbt's `original_file_path`.
    pub original_file_path: String,
    /// Relative to the resource folder (`models/`), as dbt's `path`.
    pub path: String,
    /// The whole file's text (for diagnostics).
    pub file_text: Arc<str>,
    /// The node's own code: the whole file, or a snapshot block's body.
    pub raw_code: Arc<str>,
    /// Byte offset of `raw_code` in `file_text`.
    pub body_offset: usize,
}

#[derive(Debug, Clone)]
pub struct SeedFile {
    pub name: String,
    pub abs_path: PathBuf,
    pub original_file_path: String,
    pub path: String,
    /// A content hash; seeds are not read whole at parse time.
    pub checksum: String,
}

/// A macro file, already rewritten so minijinja understands it
/// (`{% test x() %}` → `{% macro test_x() %}`).
#[derive(Debug, Clone)]
pub struct MacroFile {
    pub abs_path: PathBuf,
    pub original_file_path: String,
    pub original_text: Arc<str>,
    pub template_text: String,
    pub macros: Vec<MacroDecl>,
}

/// One macro of a file: its name, where it starts (0-based line and
/// column), and its own text from `{% macro` to `{% endmacro %}`.
#[derive(Debug, Clone)]
pub struct MacroDecl {
    pub name: String,
    pub first_line: usize,
    pub first_column: usize,
    pub body: Arc<str>,
}

#[derive(Debug, Clone)]
pub struct DocBlock {
    pub name: String,
    pub contents: String,
    pub original_file_path: String,
    pub location: Location,
}

static SNAPSHOT_BLOCK: LazyLock<Regex> = LazyLock::new(|| {
    crate::regexes::static_regex(
        r"(?s)\{%-?\s*snapshot\s+([A-Za-z_][A-Za-z0-9_]*)\s*-?%\}(.*?)\{%-?\s*endsnapshot\s*-?%\}",
    )
});
static DOCS_BLOCK: LazyLock<Regex> = LazyLock::new(|| {
    crate::regexes::static_regex(
        r"(?s)\{%-?\s*docs\s+([A-Za-z_][A-Za-z0-9_]*)\s*-?%\}(.*?)\{%-?\s*enddocs\s*-?%\}",
    )
});
static MACRO_DECL: LazyLock<Regex> = LazyLock::new(|| {
    crate::regexes::static_regex(r"\{%-?\s*macro\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(")
});
static ENDMACRO: LazyLock<Regex> =
    LazyLock::new(|| crate::regexes::static_regex(r"\{%-?\s*endmacro\s*-?%\}"));
static TEST_TAGS: LazyLock<Regex> =
    LazyLock::new(|| crate::regexes::static_regex(r"\{%(-?)\s*(test|endtest)(\s)"));
static MATERIALIZATION_BLOCK: LazyLock<Regex> = LazyLock::new(|| {
    crate::regexes::static_regex(
        r"(?s)\{%-?\s*materialization\s.*?\{%-?\s*endmaterialization\s*-?%\}",
    )
});

/// Reads everything of one package.
pub fn load_package(
    root: &Path,
    file: ProjectFile,
    is_root: bool,
    diags: &mut Diagnostics,
) -> Package {
    let step = std::time::Instant::now();
    let mut listing = Listing::default();
    let (mut sql_files, errors) = read_sql_files(root, &file, &mut listing, diags);
    crate::timings::phase("  load: SQL files", step);
    let step = std::time::Instant::now();
    let mut seeds = Vec::new();
    for dir in &file.seed_paths {
        for (abs, rel) in listing.files(root, dir, &["csv"]) {
            match std::fs::read(&abs) {
                Ok(bytes) => seeds.push(SeedFile {
                    name: file_stem(&abs),
                    original_file_path: relative(root, &abs),
                    path: rel,
                    checksum: blake3::hash(&bytes).to_hex().to_string(),
                    abs_path: abs,
                }),
                Err(e) => diags.push(Diagnostic::error(
                    codes::FILE_UNREADABLE,
                    format!("cannot read {}: {e}", abs.display()),
                )),
            }
        }
    }
    let mut macro_dirs: Vec<String> = file.macro_paths.clone();
    macro_dirs.extend(file.test_paths.iter().map(|t| format!("{t}/generic")));
    let mut macro_files = Vec::new();
    for dir in &macro_dirs {
        for (abs, _) in listing.files(root, dir, &["sql", "jinja", "j2"]) {
            match read_text(&abs) {
                Ok(text) => macro_files.push(macro_file(root, &abs, text)),
                Err(d) => diags.push(d),
            }
        }
    }
    let mut doc_dirs = file.docs_paths.clone().unwrap_or_else(|| {
        let mut all = file.model_paths.clone();
        all.extend(file.seed_paths.iter().cloned());
        all.extend(file.macro_paths.iter().cloned());
        all.extend(file.snapshot_paths.iter().cloned());
        all.extend(file.analysis_paths.iter().cloned());
        all.extend(file.test_paths.iter().cloned());
        all
    });
    if is_root {
        doc_dirs.push("project".into());
    }
    let mut doc_blocks = Vec::new();
    let mut property_dirs: Vec<String> = file.model_paths.clone();
    for extra in [
        &file.seed_paths,
        &file.snapshot_paths,
        &file.analysis_paths,
        &file.macro_paths,
        &file.test_paths,
    ] {
        property_dirs.extend(extra.iter().cloned());
    }
    if is_root {
        property_dirs.push("project".into());
    }
    property_dirs.sort();
    property_dirs.dedup();
    doc_dirs.sort();
    doc_dirs.dedup();
    for dir in &doc_dirs {
        for (abs, _) in listing.files(root, dir, &["md"]) {
            match read_text(&abs) {
                Ok(text) => doc_blocks.extend(docs_in(root, &abs, &text)),
                Err(d) => diags.push(d),
            }
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    let project_file_path = file.source.path.clone();
    let mut property_files = Vec::new();
    for dir in &property_dirs {
        for (abs, _) in listing.files(root, dir, &["yml", "yaml"]) {
            let skip = [
                "selectors.yml",
                "packages.yml",
                "dependencies.yml",
                "profiles.yml",
                "rdbt_project.yml",
                "dbt_project.yml",
            ];
            if abs == project_file_path
                || skip.contains(&file_name(&abs).as_str())
                || !seen.insert(abs.clone())
            {
                continue;
            }
            property_files.push(abs);
        }
    }
    crate::timings::phase("  load: seeds, macros, docs", step);
    let step = std::time::Instant::now();
    let properties = read_property_files(&file, &property_files, diags);
    crate::timings::phase("  load: property files", step);
    diags.extend(errors);
    sql_files.extend(
        properties
            .yaml_snapshots
            .iter()
            .map(|s| yaml_snapshot(root, s)),
    );
    sql_files.sort_by(|a, b| {
        a.original_file_path
            .cmp(&b.original_file_path)
            .then(a.name.cmp(&b.name))
    });
    Package {
        name: file.name.clone(),
        root: root.to_path_buf(),
        is_root,
        file,
        sql_files,
        seeds,
        macro_files,
        doc_blocks,
        properties,
    }
}

/// The SQL files of every node folder (models, analyses, snapshots,
/// tests), read on every core, each split into its nodes; beside them the
/// read errors, reported after the property files'.
fn read_sql_files(
    root: &Path,
    file: &ProjectFile,
    listing: &mut Listing,
    diags: &mut Diagnostics,
) -> (Vec<SqlFile>, Diagnostics) {
    let errors = Mutex::new(Diagnostics::default());
    let mut sql_files = Vec::new();
    let kinds = [
        (ResourceType::Model, &file.model_paths),
        (ResourceType::Analysis, &file.analysis_paths),
        (ResourceType::Snapshot, &file.snapshot_paths),
        (ResourceType::Test, &file.test_paths),
    ];
    for (kind, dirs) in kinds {
        for dir in dirs {
            let found = listing.files(root, dir, &["sql"]);
            // Generic test definitions under tests/generic are macros, and
            // unit-test fixtures under tests/fixtures are data: not nodes.
            let found: Vec<_> = found
                .into_iter()
                .filter(|(_, rel)| {
                    !(kind == ResourceType::Test
                        && (rel.starts_with("generic/") || rel.starts_with("fixtures/")))
                })
                .collect();
            let read: Vec<Vec<SqlFile>> = found
                .par_iter()
                .map(|(abs, rel)| match read_text(abs) {
                    Ok(text) => sql_nodes(kind, root, abs, rel, text),
                    Err(d) => {
                        lock(&errors).push(d);
                        Vec::new()
                    }
                })
                .collect();
            sql_files.extend(read.into_iter().flatten());
            for (abs, _) in listing.files(root, dir, &["py"]) {
                if kind == ResourceType::Model {
                    diags.push(
                        Diagnostic::warning(
                            codes::FILE_UNREADABLE,
                            "Python models are not supported by rdbt; this file is ignored",
                        )
                        .at(Location::new(&abs, 1, 1), None),
                    );
                }
            }
        }
    }
    (
        sql_files,
        errors.into_inner().unwrap_or_else(|e| e.into_inner()),
    )
}

/// Reads the property files, each on its own core, keeping file order.
fn read_property_files(
    file: &ProjectFile,
    property_files: &[PathBuf],
    diags: &mut Diagnostics,
) -> Properties {
    let read: Vec<(Properties, Diagnostics)> = property_files
        .par_iter()
        .map(|abs| {
            let mut properties = Properties::default();
            let mut found = Diagnostics::default();
            match SourceFile::read(abs) {
                Ok(source) => {
                    read_property_file(Arc::new(source), &file.name, &mut properties, &mut found)
                }
                Err(d) => found.push(d),
            }
            (properties, found)
        })
        .collect();
    let mut properties = Properties::default();
    properties
        .patches
        .reserve(read.iter().map(|(p, _)| p.patches.len()).sum());
    for (from_file, found) in read {
        properties.append(from_file);
        diags.extend(found);
    }
    properties
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn read_text(path: &Path) -> Result<Arc<str>, Diagnostic> {
    read_shared_text(path).map_err(|e| {
        Diagnostic::error(
            codes::FILE_UNREADABLE,
            format!("cannot read {}: {e}", path.display()),
        )
        .with_help("check the file's permissions and that it is UTF-8 text")
    })
}

/// A file's text, read without the `stat` that `std::fs::read_to_string`
/// makes to size its buffer (10,000 of them in a 10,000-model project)
/// and without copying it twice: read into this thread's buffer, then
/// copied once into the shared text.
fn read_shared_text(path: &Path) -> std::io::Result<Arc<str>> {
    use std::io::Read;
    const INITIAL_BUFFER: usize = 64 * 1024;
    thread_local! {
        static BUFFER: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; INITIAL_BUFFER]);
    }
    let mut file = std::fs::File::open(path)?;
    BUFFER.with(|buffer| {
        let mut buffer = buffer.borrow_mut();
        let mut len = 0;
        loop {
            if len == buffer.len() {
                let doubled = buffer.len() * 2;
                buffer.resize(doubled, 0);
            }
            match file.read(&mut buffer[len..]) {
                Ok(0) => break,
                Ok(n) => len += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let text = std::str::from_utf8(&buffer[..len])
            .map(Arc::from)
            .map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("it is not UTF-8 text ({e})"),
                )
            });
        // One unusually large file should not keep its buffer for good.
        if buffer.len() > INITIAL_BUFFER * 16 {
            buffer.truncate(INITIAL_BUFFER);
            buffer.shrink_to_fit();
        }
        text
    })
}

/// Every file a project can read under `base`, in file-name order: hidden
/// files and folders are skipped. The no-change parse check must hash
/// these same files: it uses this walk where there are links, and its own
/// cheaper listing (`inputs::add_files_without_links`) elsewhere, which a
/// test keeps in step with this one.
///
/// Following links costs a `stat` of every entry (10,000 of them in a
/// 10,000-model project), so a folder is walked without following them
/// first, and again following them only when it holds a link.
pub(super) fn visible_files(base: &Path) -> Vec<walkdir::DirEntry> {
    let entries = visible_entries_without_links(base);
    let entries = if entries.iter().any(walkdir::DirEntry::path_is_symlink) {
        visible_entries(base, true).collect()
    } else {
        entries
    };
    entries
        .into_iter()
        .filter(|e| e.file_type().is_file())
        .collect()
}

/// `visible_entries(base, false)`, with each folder directly under `base`
/// walked on any core: a project's models are usually spread over a few
/// dozen folders, and listing 10,000 of them took 10 ms on one.
fn visible_entries_without_links(base: &Path) -> Vec<walkdir::DirEntry> {
    let top: Vec<walkdir::DirEntry> = visible(walker(base, false).max_depth(1)).collect();
    let below: Vec<Vec<walkdir::DirEntry>> = top
        .par_iter()
        .map(|entry| {
            if entry.depth() == 1 && entry.file_type().is_dir() {
                // Without the folder itself, already listed above.
                visible_entries(entry.path(), false).skip(1).collect()
            } else {
                Vec::new()
            }
        })
        .collect();
    let mut all = Vec::with_capacity(top.len() + below.iter().map(Vec::len).sum::<usize>());
    for (entry, under) in top.into_iter().zip(below) {
        all.push(entry);
        all.extend(under);
    }
    all
}

fn visible_entries(base: &Path, follow_links: bool) -> impl Iterator<Item = walkdir::DirEntry> {
    visible(walker(base, follow_links))
}

fn walker(base: &Path, follow_links: bool) -> walkdir::WalkDir {
    walkdir::WalkDir::new(base)
        .follow_links(follow_links)
        .sort_by(|a, b| sibling_order(a.path(), b.path()))
}

fn visible(walk: walkdir::WalkDir) -> impl Iterator<Item = walkdir::DirEntry> {
    walk.into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(Result::ok)
}

/// The order of two entries of one folder by name, as walkdir's
/// `sort_by_file_name` orders them. That asks `Path::file_name`, which
/// parses each path from its end, on every comparison: 2.6% of a
/// 10,000-model parse's instructions. Siblings' paths are one folder path
/// and a `/` followed by their names, so their bytes compare as the names'
/// bytes do.
fn sibling_order(a: &Path, b: &Path) -> std::cmp::Ordering {
    a.as_os_str()
        .as_encoded_bytes()
        .cmp(b.as_os_str().as_encoded_bytes())
}

/// The files of a package's folders, each folder walked once however many
/// kinds of file are looked for in it (models, docs and properties share
/// folders, and walking 10,000 files costs more than reading the list).
#[derive(Default)]
struct Listing {
    walked: std::collections::HashMap<String, Vec<(PathBuf, String)>>,
}

impl Listing {
    /// Files under `root/dir` with one of `exts`, sorted, with paths
    /// relative to `root/dir`.
    fn files(&mut self, root: &Path, dir: &str, exts: &[&str]) -> Vec<(PathBuf, String)> {
        let all = self
            .walked
            .entry(dir.to_string())
            .or_insert_with(|| walk(root, dir));
        all.iter()
            .filter(|(_, rel)| extension(rel).is_some_and(|x| exts.contains(&x)))
            .cloned()
            .collect()
    }
}

/// The extension of a `/`-separated relative path, as `Path::extension`
/// finds it, without parsing the path again for every kind of file listed.
fn extension(rel: &str) -> Option<&str> {
    let name = rel.rsplit('/').next()?;
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => Some(ext),
        _ => None,
    }
}

/// Every visible file under `root/dir`, sorted, with its path relative to
/// `root/dir`.
fn walk(root: &Path, dir: &str) -> Vec<(PathBuf, String)> {
    let base = root.join(dir);
    if !base.is_dir() {
        return Vec::new();
    }
    // Already in path order: a depth-first walk whose siblings are sorted
    // by name lists paths as comparing them component by component would.
    visible_files(&base)
        .into_iter()
        .map(|e| {
            let rel = relative(&base, e.path());
            (e.into_path(), rel)
        })
        .collect()
}

/// `path` relative to `base`, with `/` between its parts on every platform.
fn relative(base: &Path, path: &Path) -> String {
    // Worked out on the text when `path` is `base` and then plain names, as
    // every walked file is: taking both paths apart cost 1,400 instructions
    // a file, twice for each of 10,000 models, before they are read.
    if std::path::MAIN_SEPARATOR == '/'
        && let (Some(base), Some(path)) = (base.to_str(), path.to_str())
        && !base.is_empty()
        && let Some(rest) = path.strip_prefix(base)
        && let Some(rest) = if base.ends_with('/') {
            Some(rest)
        } else {
            rest.strip_prefix('/')
        }
        && is_plain(rest)
    {
        return rest.to_string();
    }
    relative_by_components(base, path)
}

/// Names joined by single `/`s, none of them `.`.
fn is_plain(rel: &str) -> bool {
    rel.split('/').all(|part| !part.is_empty() && part != ".")
}

fn relative_by_components(base: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(base).unwrap_or(path);
    if std::path::MAIN_SEPARATOR == '/' {
        let text = rel.to_string_lossy();
        // Already in normal form (no `.` parts or doubled separators from
        // the project file's folder names): nothing to rebuild.
        if is_plain(&text) {
            return text.into_owned();
        }
    }
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn sql_nodes(
    kind: ResourceType,
    root: &Path,
    abs: &Path,
    rel: &str,
    text: Arc<str>,
) -> Vec<SqlFile> {
    let original_file_path = relative(root, abs);
    if kind == ResourceType::Snapshot {
        return SNAPSHOT_BLOCK
            .captures_iter(&text)
            .filter_map(|c| {
                let (name, body) = (c.get(1)?, c.get(2)?);
                Some(SqlFile {
                    resource_type: kind,
                    name: name.as_str().to_string(),
                    abs_path: abs.to_path_buf(),
                    original_file_path: original_file_path.clone(),
                    path: rel.to_string(),
                    raw_code: Arc::from(body.as_str()),
                    body_offset: body.start(),
                    file_text: text.clone(),
                })
            })
            .collect();
    }
    vec![SqlFile {
        resource_type: kind,
        name: file_stem(abs),
        abs_path: abs.to_path_buf(),
        original_file_path,
        path: rel.to_string(),
        raw_code: text.clone(),
        body_offset: 0,
        file_text: text,
    }]
}

/// A snapshot defined in YAML, as dbt 1.9 reads it: a node whose code
/// selects everything from its `relation`. Its code is not in the YAML, so
/// it is placed where the `ref`/`source` call in it is the one written
/// after `relation:` (errors about the call point there).
fn yaml_snapshot(root: &Path, s: &super::properties::YamlSnapshot) -> SqlFile {
    let file_text = s.origin.file.text.clone();
    let raw_code = format!("select * from {{{{ {} }}}}\n", s.relation);
    let line_start: usize = file_text
        .split_inclusive('\n')
        .take(s.origin.mark.line.saturating_sub(1))
        .map(str::len)
        .sum();
    let value_at = line_start + s.origin.mark.column.saturating_sub(1);
    let call_in_file = file_text
        .get(value_at..)
        .and_then(|rest| rest.find(&s.relation))
        .map(|i| value_at + i);
    let call_in_code = raw_code.find(&s.relation).unwrap_or(0);
    let body_offset = call_in_file.map_or(0, |at| at.saturating_sub(call_in_code));
    let original_file_path = relative(root, &s.origin.file.path);
    let path = original_file_path
        .split_once('/')
        .map_or(original_file_path.clone(), |(_, rest)| rest.to_string());
    SqlFile {
        resource_type: ResourceType::Snapshot,
        name: s.name.clone(),
        abs_path: s.origin.file.path.clone(),
        original_file_path,
        path,
        raw_code: Arc::from(raw_code),
        body_offset,
        file_text,
    }
}

/// Rewrites dbt-only block tags into plain Jinja, keeping every newline so
/// line numbers in errors stay right.
/// Reads a macro file's text into its macros (also used for rdbt's own
/// built-in macro files).
pub fn macro_file(root: &Path, abs: &Path, text: Arc<str>) -> MacroFile {
    let without_materializations =
        MATERIALIZATION_BLOCK.replace_all(&text, |c: &regex::Captures| {
            let newlines = c[0].matches('\n').count();
            format!("{{# materialization #}}{}", "\n".repeat(newlines))
        });
    let template_text = TEST_TAGS
        .replace_all(&without_materializations, |c: &regex::Captures| {
            let dash = &c[1];
            let ws = &c[3];
            if &c[2] == "test" {
                format!("{{%{dash} macro test_{ws}")
            } else {
                format!("{{%{dash} endmacro{ws}")
            }
        })
        .replace("macro test_ ", "macro test_");
    let macros = macro_decls(&template_text);
    MacroFile {
        abs_path: abs.to_path_buf(),
        original_file_path: relative(root, abs),
        original_text: text,
        template_text,
        macros,
    }
}

/// Splits a (rewritten) macro file into its macros so each can be evaluated
/// alone: calling a macro then costs only that macro's definition.
fn macro_decls(text: &str) -> Vec<MacroDecl> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(c) = MACRO_DECL.captures_at(text, pos) {
        let (Some(whole), Some(name)) = (c.get(0), c.get(1)) else {
            break;
        };
        let end = ENDMACRO
            .find_at(text, whole.end())
            .map_or(text.len(), |m| m.end());
        let before = &text[..whole.start()];
        let first_line = before.matches('\n').count();
        let first_column = before.len() - before.rfind('\n').map_or(0, |i| i + 1);
        out.push(MacroDecl {
            name: name.as_str().to_string(),
            first_line,
            first_column,
            body: Arc::from(&text[whole.start()..end]),
        });
        pos = end.max(whole.end());
    }
    out
}

fn docs_in(root: &Path, abs: &Path, text: &str) -> Vec<DocBlock> {
    DOCS_BLOCK
        .captures_iter(text)
        .filter_map(|c| {
            let whole = c.get(0)?;
            Some(DocBlock {
                name: c.get(1)?.as_str().to_string(),
                contents: c.get(2)?.as_str().trim().to_string(),
                original_file_path: relative(root, abs),
                location: Location::from_offset(abs, text, whole.start()),
            })
        })
        .collect()
}

/// A folder whose files' paths sort differently as text (`a-b.sql`,
/// `a.b/`, `a/`) than part by part (`a/`, `a-b.sql`, `a.b/`), with hidden
/// files at two depths (seven visible files in all).
#[cfg(test)]
pub(super) fn names_ordered_differently_by_text_and_by_path() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for f in [
        "a.sql",
        "a/z.sql",
        "a-b.sql",
        "a.b/c.sql",
        "b/a.sql",
        "B.sql",
        "a/b/c/d.sql",
        "a/.hidden/x.sql",
        "b/.x.sql",
    ] {
        let path = dir.path().join(f);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, f).expect("write");
    }
    dir
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_from_text_match_those_from_path_components() {
        let cases = [
            ("/p/models", "/p/models/a.sql"),
            ("/p/models", "/p/models/sub/deeper/a.sql"),
            ("/p/models/", "/p/models/a.sql"),
            ("/p/models/.", "/p/models/./a.sql"),
            ("/p/./models", "/p/./models/a.sql"),
            ("/p/models", "/p/modelsx/a.sql"),
            ("/p/models", "/p/models//a.sql"),
            ("/p/models", "/p/models/./a.sql"),
            ("/p/models", "/p/models/../x/a.sql"),
            ("/p/models", "/q/a.sql"),
            ("/p/models", "/p/models"),
            ("/", "/a.sql"),
            ("models", "models/a.sql"),
            ("", "/p/a.sql"),
        ];
        for (base, path) in cases {
            let (base, path) = (Path::new(base), Path::new(path));
            assert_eq!(
                relative(base, path),
                relative_by_components(base, path),
                "{} from {}",
                path.display(),
                base.display()
            );
        }
    }

    #[test]
    fn siblings_are_ordered_by_name() {
        let names = [
            "a", "a.sql", "a b", "a-b", "B", "b", "é", "z.yml", ".hidden",
        ];
        for x in names {
            for y in names {
                let (a, b) = (
                    Path::new("/p/models").join(x),
                    Path::new("/p/models").join(y),
                );
                assert_eq!(
                    sibling_order(&a, &b),
                    a.file_name().cmp(&b.file_name()),
                    "{x} {y}"
                );
            }
        }
    }

    #[test]
    fn test_blocks_become_macros_and_keep_lines() {
        let text: Arc<str> = Arc::from(
            "{% test is_even(model, column_name) %}\nselect 1\n{% endtest %}\n{% macro m() %}x{% endmacro %}",
        );
        let f = macro_file(Path::new("/p"), Path::new("/p/macros/t.sql"), text);
        assert!(
            f.template_text.starts_with(
                "{% macro test_is_even(model, column_name) %}\nselect 1\n{% endmacro %}"
            )
        );
        let names: Vec<_> = f
            .macros
            .iter()
            .map(|m| (m.name.as_str(), m.first_line))
            .collect();
        assert_eq!(names, vec![("test_is_even", 0), ("m", 3)]);
        assert_eq!(&*f.macros[1].body, "{% macro m() %}x{% endmacro %}");
    }

    #[test]
    fn snapshot_blocks_are_nodes() {
        let text: Arc<str> = Arc::from("{% snapshot orders_snap %}\nselect 1\n{% endsnapshot %}\n");
        let nodes = sql_nodes(
            ResourceType::Snapshot,
            Path::new("/p"),
            Path::new("/p/snapshots/s.sql"),
            "s.sql",
            text,
        );
        assert_eq!(nodes.len(), 1);
        assert_eq!(nodes[0].name, "orders_snap");
        assert_eq!(&*nodes[0].raw_code, "\nselect 1\n");
    }

    #[test]
    fn extensions_and_relative_paths_match_what_path_parsing_gives() {
        for rel in [
            "a.sql",
            "deep/b.yml",
            "c",
            "d.tar.gz",
            "e.",
            "x.y/f",
            "g..sql",
        ] {
            let from_path = Path::new(rel).extension().and_then(|x| x.to_str());
            assert_eq!(extension(rel), from_path, "{rel}");
        }
        let root = Path::new("/p");
        for (dir, expected) in [
            ("models/a/m.sql", "models/a/m.sql"),
            ("./models/m.sql", "models/m.sql"),
            ("models//a/./m.sql", "models/a/m.sql"),
        ] {
            assert_eq!(relative(root, &root.join(dir)), expected, "{dir}");
        }
    }

    #[test]
    fn files_are_listed_in_path_order() {
        let dir = names_ordered_differently_by_text_and_by_path();
        let listed: Vec<PathBuf> = walk(dir.path(), ".").into_iter().map(|(p, _)| p).collect();
        let mut sorted = listed.clone();
        sorted.sort();
        assert_eq!(listed, sorted);
        assert_eq!(listed.len(), 7, "hidden files are skipped at every depth");
        let paths = |entries: Vec<walkdir::DirEntry>| -> Vec<PathBuf> {
            entries
                .into_iter()
                .map(walkdir::DirEntry::into_path)
                .collect()
        };
        assert_eq!(
            paths(visible_entries_without_links(dir.path())),
            paths(visible_entries(dir.path(), false).collect()),
            "the folders walked on several cores are listed as one walk lists them"
        );
    }

    #[cfg(unix)]
    #[test]
    fn linked_folders_and_files_are_walked_and_hidden_ones_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let shared = dir.path().join("shared");
        std::fs::create_dir_all(shared.join("deep")).expect("mkdir");
        std::fs::write(shared.join("deep/d.sql"), "select 1").expect("write");
        std::fs::write(shared.join("s.sql"), "select 1").expect("write");
        let models = dir.path().join("models");
        std::fs::create_dir_all(models.join(".hidden")).expect("mkdir");
        std::fs::write(models.join(".hidden/h.sql"), "select 1").expect("write");
        std::fs::write(models.join("a.sql"), "select 1").expect("write");
        let names = |base: &Path| -> Vec<String> {
            walk(base, "models")
                .into_iter()
                .map(|(_, rel)| rel)
                .collect()
        };
        assert_eq!(names(dir.path()), vec!["a.sql"]);
        std::os::unix::fs::symlink(&shared, models.join("linked")).expect("symlink");
        std::os::unix::fs::symlink(shared.join("s.sql"), models.join("b.sql")).expect("symlink");
        assert_eq!(
            names(dir.path()),
            vec!["a.sql", "b.sql", "linked/deep/d.sql", "linked/s.sql"]
        );
        // A link deeper down is followed too.
        std::fs::create_dir_all(models.join("sub")).expect("mkdir");
        std::os::unix::fs::symlink(shared.join("deep"), models.join("sub/deeper"))
            .expect("symlink");
        assert_eq!(
            names(dir.path()),
            vec![
                "a.sql",
                "b.sql",
                "linked/deep/d.sql",
                "linked/s.sql",
                "sub/deeper/d.sql"
            ]
        );
    }
}
