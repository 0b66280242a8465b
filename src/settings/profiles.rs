//! profiles.yml: where it is looked for, and the target it resolves to.

use super::StringRenderer;
use crate::diagnostics::{Diagnostic, Diagnostics, closest_names, codes, did_you_mean};
use crate::yaml::{self, Node, SourceFile};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The warehouse kind a target talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    DataFusion,
    BigQuery,
}

impl TargetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::DataFusion => "datafusion",
            TargetKind::BigQuery => "bigquery",
        }
    }

    /// The one SQL dialect the warehouse runs, where it runs one: models
    /// are written in it whatever the project says. `None`: the embedded
    /// warehouse, which translates each model's dialect before running it.
    pub fn native_sql_dialect(self) -> Option<crate::sql::SqlDialect> {
        match self {
            TargetKind::DataFusion => None,
            TargetKind::BigQuery => Some(crate::sql::SqlDialect::BigQuery),
        }
    }
}

/// A resolved target. Secrets stay in `options` and are never serialized.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: TargetKind,
    pub schema: String,
    /// The database (DataFusion catalog, BigQuery project).
    pub database: String,
    pub threads: Option<usize>,
    /// The embedded warehouse folder (DataFusion only).
    pub path: Option<PathBuf>,
    /// The ingestion land root: a folder or `gs://bucket/prefix`.
    pub land: String,
    /// The adapter name templates see as `target.type`: `datafusion`,
    /// `duckdb` (a dbt-duckdb profile on the embedded warehouse) or
    /// `bigquery`.
    pub adapter_type: String,
    /// Every key of the target as written (after `env_var()` rendering),
    /// for adapters; skipped in output because it may hold credentials.
    #[serde(skip)]
    pub options: serde_json::Map<String, serde_json::Value>,
}

const SECRET_KEYS: &[&str] = &[
    "password",
    "pass",
    "token",
    "keyfile_json",
    "private_key",
    "refresh_token",
    "client_secret",
    "url",
];

impl Target {
    /// The target's `land_options` (object-store settings such as
    /// `service_account_path`); a BigQuery target's key file also serves its
    /// gs:// land.
    pub fn land_options(&self) -> std::collections::BTreeMap<String, String> {
        let mut options: std::collections::BTreeMap<String, String> = self
            .options
            .get("land_options")
            .and_then(|v| v.as_object())
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.as_str().map_or_else(|| v.to_string(), str::to_string),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        if self.land.starts_with("gs://")
            && options.is_empty()
            && let Some(keyfile) = self.options.get("keyfile").and_then(|v| v.as_str())
            && !keyfile.is_empty()
        {
            options.insert("service_account_path".into(), keyfile.to_string());
        }
        options
    }

    /// The zero-configuration target: the embedded DataFusion warehouse.
    pub fn default_local(project_dir: &Path) -> Target {
        Target {
            name: "local".into(),
            kind: TargetKind::DataFusion,
            adapter_type: "datafusion".into(),
            schema: "main".into(),
            database: "warehouse".into(),
            threads: None,
            path: Some(project_dir.join("target/warehouse")),
            land: project_dir
                .join("target/land")
                .to_string_lossy()
                .into_owned(),
            options: Default::default(),
        }
    }

    /// The target's keys with secrets masked, for `rdbt debug` and `target.*`.
    pub fn redacted_options(&self) -> serde_json::Map<String, serde_json::Value> {
        self.options
            .iter()
            .map(|(k, v)| {
                let secret = SECRET_KEYS.contains(&k.as_str());
                (
                    k.clone(),
                    if secret {
                        serde_json::Value::String("****".into())
                    } else {
                        v.clone()
                    },
                )
            })
            .collect()
    }
}

/// `--profiles-dir`, then the project root, then `~/.rdbt/`, then `~/.dbt/`.
pub fn find_profiles_file(profiles_dir: Option<&Path>, project_dir: &Path) -> Option<PathBuf> {
    if let Some(dir) = profiles_dir {
        let f = dir.join("profiles.yml");
        return f.is_file().then_some(f);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let mut candidates = vec![project_dir.join("profiles.yml")];
    if let Some(home) = home {
        candidates.push(home.join(".rdbt/profiles.yml"));
        candidates.push(home.join(".dbt/profiles.yml"));
    }
    candidates.into_iter().find(|c| c.is_file())
}

pub(super) fn load_target(
    path: &Path,
    profile_name: &str,
    target_flag: Option<&str>,
    profile_named: bool,
    project_dir: &Path,
    render: StringRenderer,
    warnings: &mut Diagnostics,
) -> Result<Target, Diagnostic> {
    let file = SourceFile::read(path)?;
    let root = yaml::parse(&file)?;
    let Some(profile) = root.as_ref().and_then(|r| r.get(profile_name)) else {
        let asked = target_flag.is_some() || profile_named;
        return missing_profile(
            path,
            root.as_ref(),
            profile_name,
            asked,
            project_dir,
            warnings,
        );
    };
    let default_target = profile.get("target").and_then(Node::as_scalar_string);
    let target_name = target_flag
        .map(str::to_string)
        .or(default_target)
        .unwrap_or_else(|| "default".into());
    let outputs = profile.get("outputs").ok_or_else(|| {
        file.error_at(
            profile.mark,
            codes::PROFILE,
            format!("profile `{profile_name}` has no `outputs:`"),
        )
    })?;
    let Some(output) = outputs.get(&target_name) else {
        let names: Vec<String> = outputs
            .entries()
            .map(|e| e.map(|(k, _, _)| k).collect())
            .unwrap_or_default();
        return Err(file
            .error_at(
                outputs.mark,
                codes::PROFILE,
                format!("target `{target_name}` is not an output of profile `{profile_name}`"),
            )
            .with_help(did_you_mean(
                &closest_names(&target_name, names.iter().map(String::as_str)),
                &format!("targets there: {}", names.join(", ")),
            )));
    };
    let mut output = output.clone();
    output.try_map_strings(&mut |s, mark| {
        if !s.contains("{{") && !s.contains("{%") {
            return Ok(None);
        }
        render(s).map(Some).map_err(|e| {
            file.error_at(
                mark,
                codes::PROFILE,
                format!("cannot render this value: {e}"),
            )
            .with_help("set the environment variable, or give env_var() a default")
        })
    })?;
    let options = match output.to_json() {
        serde_json::Value::Object(m) => m,
        _ => {
            return Err(file.error_at(
                output.mark,
                codes::PROFILE,
                format!("target `{target_name}` must be a mapping"),
            ));
        }
    };
    let kind_text = options
        .get("type")
        .and_then(|v| v.as_str())
        .unwrap_or("datafusion");
    let kind = match kind_text {
        // A dbt-duckdb output is the embedded warehouse with DuckDB's SQL.
        "datafusion" | "duckdb" => TargetKind::DataFusion,
        "bigquery" => TargetKind::BigQuery,
        other => {
            let mark = output.get("type").map(|n| n.mark).unwrap_or(output.mark);
            return Err(file
                .error_at(
                    mark,
                    codes::PROFILE,
                    format!("target type `{other}` is not supported"),
                )
                .with_help(
                    "use `datafusion` (embedded, local), `duckdb` (a dbt-duckdb profile, \
                     run on the embedded warehouse) or `bigquery`",
                ));
        }
    };
    let str_opt = |k: &str| {
        options.get(k).and_then(|v| {
            v.as_str()
                .map(str::to_string)
                .or_else(|| (!v.is_null()).then(|| v.to_string()))
        })
    };
    let schema = str_opt("schema")
        .or_else(|| str_opt("dataset"))
        .unwrap_or_else(|| "main".into());
    let database = str_opt("database")
        .or_else(|| str_opt("project"))
        .unwrap_or_else(|| "warehouse".into());
    let threads = options
        .get("threads")
        .and_then(|v| v.as_u64())
        .map(|t| t as usize);
    let resolve_path = |p: String| {
        let p = PathBuf::from(p);
        if p.is_absolute() {
            p
        } else {
            project_dir.join(p)
        }
    };
    let duckdb = kind_text == "duckdb";
    let path = (kind == TargetKind::DataFusion).then(|| match str_opt("path") {
        Some(p) if duckdb => duckdb_warehouse_dir(&p, &resolve_path),
        Some(p) => resolve_path(p),
        None => resolve_path("target/warehouse".into()),
    });
    if duckdb {
        warn_unused_duckdb_keys(&file, &output, &options, warnings);
    }
    let land = match str_opt("land") {
        Some(l) if l.contains("://") => l,
        Some(l) => resolve_path(l).to_string_lossy().into_owned(),
        None => project_dir
            .join("target/land")
            .to_string_lossy()
            .into_owned(),
    };
    Ok(Target {
        name: target_name,
        kind,
        adapter_type: kind_text.to_string(),
        schema,
        database,
        threads,
        path,
        land,
        options,
    })
}

/// A profile that profiles.yml lacks: an error when a target was asked
/// for or the project names the profile, else a warning and the built-in
/// local target.
fn missing_profile(
    path: &Path,
    root: Option<&Node>,
    profile_name: &str,
    asked: bool,
    project_dir: &Path,
    warnings: &mut Diagnostics,
) -> Result<Target, Diagnostic> {
    let names: Vec<String> = root
        .and_then(|r| {
            r.entries()
                .map(|e| e.map(|(k, _, _)| k).filter(|k| k != "config").collect())
        })
        .unwrap_or_default();
    // A target asked for, or a profile the project names, must exist.
    if asked {
        return Err(Diagnostic::error(
            codes::PROFILE,
            format!("profile `{profile_name}` is not in {}", path.display()),
        )
        .with_help(did_you_mean(
            &closest_names(profile_name, names.iter().map(String::as_str)),
            &format!(
                "add it, or set `profile:` in the project file (profiles there: {})",
                names.join(", ")
            ),
        )));
    }
    warnings.push(
        Diagnostic::warning(
            codes::PROFILE,
            format!(
                "profile `{profile_name}` is not in {}; using the built-in local DataFusion target",
                path.display()
            ),
        )
        .with_help("add the profile to profiles.yml to choose a target"),
    );
    Ok(Target::default_local(project_dir))
}

/// dbt-duckdb keys the embedded warehouse does not use (extensions,
/// attached databases, ...): a warning at the first of them.
fn warn_unused_duckdb_keys(
    file: &SourceFile,
    output: &Node,
    options: &serde_json::Map<String, serde_json::Value>,
    warnings: &mut Diagnostics,
) {
    let ignored: Vec<&str> = ["extensions", "settings", "attach", "plugins", "filesystems"]
        .into_iter()
        .filter(|k| options.contains_key(*k))
        .collect();
    if !ignored.is_empty() {
        let mark = output
            .get(ignored[0])
            .map(|n| n.mark)
            .unwrap_or(output.mark);
        warnings.push(
            file.diagnostic_at(
                mark,
                Diagnostic::warning(
                    codes::PROFILE,
                    format!(
                        "`{}` of this duckdb output {} not used: rdbt runs a duckdb profile on its \
                     embedded warehouse, which reads Parquet, CSV and JSON without extensions",
                        ignored.join("`, `"),
                        if ignored.len() == 1 { "is" } else { "are" }
                    ),
                ),
            )
            .with_help(
                "an attached database's tables can be declared as external sources \
                 (docs/external-sources.md); remove these keys to silence this warning",
            ),
        );
    }
}

/// Where a dbt-duckdb `path:` keeps its tables on the embedded warehouse:
/// the folder `<path>.rdbt` beside the named file (`dev.duckdb` →
/// `dev.duckdb.rdbt/`), so the DuckDB file itself is never touched. An
/// in-memory database (`:memory:`) keeps them in `target/warehouse`.
fn duckdb_warehouse_dir(path: &str, resolve: &dyn Fn(String) -> PathBuf) -> PathBuf {
    if path == ":memory:" || path.is_empty() {
        return resolve("target/warehouse".into());
    }
    let mut p = resolve(path.to_string()).into_os_string();
    p.push(".rdbt");
    PathBuf::from(p)
}

/// `4GB`, `512MB`, `1073741824`.
pub fn parse_bytes(v: &serde_json::Value) -> Option<usize> {
    if let Some(n) = v.as_u64() {
        return Some(n as usize);
    }
    let s = v.as_str()?.trim().to_ascii_uppercase();
    let (num, mult) = [
        ("TB", 1u64 << 40),
        ("GB", 1 << 30),
        ("MB", 1 << 20),
        ("KB", 1 << 10),
        ("B", 1),
    ]
    .iter()
    .find_map(|(suffix, m)| s.strip_suffix(suffix).map(|n| (n.trim().to_string(), *m)))
    .unwrap_or((s.clone(), 1));
    num.parse::<f64>().ok().map(|n| (n * mult as f64) as usize)
}
