//! The project file: `rdbt_project.yml` (at the root or in `project/`) or a
//! dbt project's `dbt_project.yml`, read as it is.

use super::config::{Config, KNOWN_CONFIG_KEYS, normalize_key};
use crate::diagnostics::{Diagnostic, Diagnostics, codes};
use crate::yaml::{self, MapReader, Node, SourceFile};
use std::path::{Path, PathBuf};

/// The file names looked for, in order.
pub const PROJECT_FILE_NAMES: &[&str] = &["rdbt_project.yml", "dbt_project.yml"];

/// The parsed project file with dbt's defaults filled in.
#[derive(Debug, Clone)]
pub struct ProjectFile {
    pub source: SourceFile,
    pub name: String,
    pub version: Option<String>,
    pub profile: Option<String>,
    pub model_paths: Vec<String>,
    pub seed_paths: Vec<String>,
    pub macro_paths: Vec<String>,
    pub test_paths: Vec<String>,
    pub snapshot_paths: Vec<String>,
    pub analysis_paths: Vec<String>,
    pub docs_paths: Option<Vec<String>>,
    pub target_path: String,
    pub packages_install_path: String,
    pub clean_targets: Vec<String>,
    /// Global vars and `{package: {var: value}}` scopes, as written.
    pub vars: Option<Node>,
    /// The `+config` trees, one per resource type key (`models`, `seeds`, ...).
    pub config_trees: Vec<(String, Node)>,
    pub on_run_start: Vec<String>,
    pub on_run_end: Vec<String>,
    /// `dispatch: [{macro_namespace, search_order}]`.
    pub dispatch: Vec<(String, Vec<String>)>,
    /// Project-wide SQL dialect (`sql_dialect:`), an rdbt extension.
    pub sql_dialect: Option<String>,
}

/// Finds the project file in `dir` or `dir/project/`; returns the file and
/// the project root (the directory that holds `models/` and friends).
pub fn find_project_file(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    for candidate_dir in [dir.to_path_buf(), dir.join("project")] {
        for name in PROJECT_FILE_NAMES {
            let file = candidate_dir.join(name);
            if file.is_file() {
                return Some((file, dir.to_path_buf()));
            }
        }
    }
    None
}

impl ProjectFile {
    /// Reads and validates the project file; warnings go to `diags`.
    pub fn load(path: &Path, diags: &mut Diagnostics) -> Result<ProjectFile, Diagnostic> {
        let source = SourceFile::read(path)?;
        let root = yaml::parse(&source)?.ok_or_else(|| {
            Diagnostic::error(codes::YAML_INVALID, format!("{} is empty", path.display()))
                .with_help("a project file needs at least `name:`")
        })?;
        let mut r = MapReader::new(&source, &root, "the project file")?;
        let name = r.required_string("name", "the project file")?;
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            let mark = root.get("name").map(|n| n.mark).unwrap_or_default();
            return Err(source
                .error_at(
                    mark,
                    codes::YAML_INVALID,
                    format!(
                        "project name `{name}` must contain only letters, digits and underscores"
                    ),
                )
                .with_help("rename the project, e.g. `my_project`"));
        }
        let paths = |r: &mut MapReader,
                     key: &'static str,
                     legacy: &'static str,
                     default: &str|
         -> Result<Vec<String>, Diagnostic> {
            let mut v = r.string_list(key)?;
            if v.is_empty() {
                v = r.string_list(legacy)?;
            }
            if v.is_empty() {
                v = vec![default.to_string()];
            }
            Ok(v)
        };
        let model_paths = paths(&mut r, "model-paths", "source-paths", "models")?;
        let seed_paths = paths(&mut r, "seed-paths", "data-paths", "seeds")?;
        let macro_paths = paths(&mut r, "macro-paths", "macro-paths", "macros")?;
        let test_paths = paths(&mut r, "test-paths", "test-paths", "tests")?;
        let snapshot_paths = paths(&mut r, "snapshot-paths", "snapshot-paths", "snapshots")?;
        let analysis_paths = paths(&mut r, "analysis-paths", "analysis-paths", "analyses")?;
        let docs_paths = r
            .get("docs-paths")
            .map(|n| yaml::string_list(&source, "docs-paths", n))
            .transpose()?;
        let target_path = r.string("target-path")?.unwrap_or_else(|| "target".into());
        let packages_install_path = r
            .string("packages-install-path")?
            .unwrap_or_else(|| "dbt_packages".into());
        let mut clean_targets = r.string_list("clean-targets")?;
        if clean_targets.is_empty() {
            clean_targets = vec![target_path.clone(), packages_install_path.clone()];
        }
        let config_trees = config_trees(&source, &mut r, diags)?;
        let hooks = |r: &mut MapReader,
                     a: &'static str,
                     b: &'static str|
         -> Result<Vec<String>, Diagnostic> {
            let mut v = r.string_list(a)?;
            v.extend(r.string_list(b)?);
            Ok(v)
        };
        let on_run_start = hooks(&mut r, "on-run-start", "on_run_start")?;
        let on_run_end = hooks(&mut r, "on-run-end", "on_run_end")?;
        let dispatch = dispatch_entries(&source, &mut r, diags)?;
        let project = ProjectFile {
            name,
            version: r.string("version")?,
            profile: r.string("profile")?,
            model_paths,
            seed_paths,
            macro_paths,
            test_paths,
            snapshot_paths,
            analysis_paths,
            docs_paths,
            target_path,
            packages_install_path,
            clean_targets,
            vars: r.get("vars").cloned(),
            config_trees,
            on_run_start,
            on_run_end,
            dispatch,
            sql_dialect: r.string("sql_dialect")?,
            source: source.clone(),
        };
        if let Some(dialect) = &project.sql_dialect
            && crate::sql::SqlDialect::from_name(dialect).is_none()
            && let Some(node) = root.get("sql_dialect")
        {
            return Err(source
                .error_at(
                    node.mark,
                    codes::INVALID_CONFIG,
                    format!("`{dialect}` is not a SQL dialect rdbt knows"),
                )
                .with_help(format!(
                    "use one of {}",
                    crate::sql::SqlDialect::NAMES.join(", ")
                )));
        }
        r.allow(&[
            "config-version",
            "require-dbt-version",
            "quoting",
            "query-comment",
            "flags",
            "restrict-access",
            "semantic-models",
            "metrics",
            "saved-queries",
            "asset-paths",
            "log-path",
            "packages-install-path",
            "dbt-cloud",
            "seeds",
            "snapshots",
            "sources",
            "exposures",
            "analyses",
            "unit_tests",
            "data_tests",
            "tests",
        ]);
        diags.extend(r.unknown_keys("the project file"));
        Ok(project)
    }

    /// The config tree for a resource type (`models`, `seeds`, ...).
    pub fn config_tree(&self, resource_key: &str) -> Option<&Node> {
        self.config_trees
            .iter()
            .find(|(k, _)| k == resource_key)
            .map(|(_, n)| n)
    }

    /// How many leading parts of `fqn` name folders of the config tree: the
    /// folder config depends on that prefix only, so nodes sharing it share
    /// their config.
    pub fn folder_config_depth(&self, resource_key: &str, fqn: &[String]) -> usize {
        let Some(mut level) = self.config_tree(resource_key) else {
            return 0;
        };
        let mut depth = 0;
        for part in fqn {
            match level.get(part) {
                Some(next) if matches!(next.value, yaml::Value::Map(_)) => {
                    level = next;
                    depth += 1;
                }
                _ => break,
            }
        }
        depth
    }

    /// The merged folder config for a node with this fqn (`[project, dir…, name]`):
    /// every level from the tree's top down to the node, the deeper winning.
    pub fn folder_config(&self, resource_key: &str, fqn: &[String]) -> Config {
        let mut merged = Config::new();
        let Some(tree) = self.config_tree(resource_key) else {
            return merged;
        };
        // Configs at the top of the tree apply to every package.
        super::config::merge_into(&mut merged, &configs_at(tree));
        let mut level = tree;
        for part in fqn {
            match level.get(part) {
                Some(next) if matches!(next.value, yaml::Value::Map(_)) => {
                    super::config::merge_into(&mut merged, &configs_at(next));
                    level = next;
                }
                _ => break,
            }
        }
        merged
    }
}

/// Whether a key of a config tree is a config rather than a folder name.
pub fn is_config_key(key: &str, value: &Node) -> bool {
    let is_map = matches!(value.value, yaml::Value::Map(_));
    key.starts_with('+') || (KNOWN_CONFIG_KEYS.contains(&key) && (!is_map || takes_mapping(key)))
}

fn takes_mapping(key: &str) -> bool {
    matches!(
        key,
        "meta"
            | "docs"
            | "persist_docs"
            | "grants"
            | "contract"
            | "labels"
            | "partition_by"
            | "column_types"
            | "quoting"
            | "freshness"
            | "snapshot_meta_column_names"
    )
}

/// The config keys set directly at one level of a tree.
fn configs_at(level: &Node) -> Config {
    let mut out = Config::new();
    if let Some(entries) = level.entries() {
        for (key, _, value) in entries {
            if is_config_key(&key, value) {
                out.insert(normalize_key(&key), value.to_json());
            }
        }
    }
    out
}

/// Warns about bare keys that are neither known configs nor folders.
fn check_config_tree(source: &SourceFile, tree: &Node, diags: &mut Diagnostics) {
    let Some(entries) = tree.entries() else {
        return;
    };
    for (key, key_node, value) in entries {
        if is_config_key(&key, value) {
            continue;
        }
        if matches!(value.value, yaml::Value::Map(_)) {
            check_config_tree(source, value, diags);
        } else {
            diags.push(
                source
                    .diagnostic_at(
                        key_node.mark,
                        Diagnostic::warning(
                            codes::YAML_UNKNOWN_KEY,
                            format!("`{key}` is not a known config; it is ignored"),
                        ),
                    )
                    .with_help(format!(
                        "prefix custom configs with `+` (`+{key}:`) or check the spelling"
                    )),
            );
        }
    }
}

/// Folder paths of a config tree (for "this config path matches nothing").
pub fn config_paths(tree: &Node) -> Vec<(Vec<String>, yaml::Mark)> {
    fn walk(node: &Node, prefix: &mut Vec<String>, out: &mut Vec<(Vec<String>, yaml::Mark)>) {
        let Some(entries) = node.entries() else {
            return;
        };
        for (key, key_node, value) in entries {
            if is_config_key(&key, value) || !matches!(value.value, yaml::Value::Map(_)) {
                continue;
            }
            prefix.push(key);
            out.push((prefix.clone(), key_node.mark));
            walk(value, prefix, out);
            prefix.pop();
        }
    }
    let mut out = Vec::new();
    walk(tree, &mut Vec::new(), &mut out);
    out
}

/// The resource config trees (`models:`, `seeds:`, ...; `data_tests:` read
/// as `tests:`), each checked for misspelled keys.
fn config_trees(
    source: &SourceFile,
    r: &mut MapReader,
    diags: &mut Diagnostics,
) -> Result<Vec<(String, Node)>, Diagnostic> {
    let mut config_trees = Vec::new();
    for key in [
        "models",
        "seeds",
        "snapshots",
        "tests",
        "data_tests",
        "sources",
        "exposures",
        "analyses",
        "unit_tests",
    ] {
        if let Some(tree) = r.map(key)? {
            let normalized = if key == "data_tests" { "tests" } else { key };
            check_config_tree(source, tree, diags);
            config_trees.push((normalized.to_string(), tree.clone()));
        }
    }
    Ok(config_trees)
}

/// `dispatch:`: each namespace and the packages to search, in order.
fn dispatch_entries(
    source: &SourceFile,
    r: &mut MapReader,
    diags: &mut Diagnostics,
) -> Result<Vec<(String, Vec<String>)>, Diagnostic> {
    let mut dispatch = Vec::new();
    for entry in r.seq("dispatch")? {
        let mut d = MapReader::new(source, entry, "a dispatch entry")?;
        let namespace = d.required_string("macro_namespace", "a dispatch entry")?;
        let order = d.string_list("search_order")?;
        diags.extend(d.unknown_keys("a dispatch entry"));
        dispatch.push((namespace, order));
    }
    Ok(dispatch)
}
