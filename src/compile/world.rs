//! What every render shares: the target, vars, macros of every package,
//! dispatch order, docs blocks, and the invocation's id and start time.
//! Built once per command; read by all renders in parallel.

use crate::adapters::Dialect;
use crate::project::Project;
use crate::settings::Settings;
use crate::sql::SqlDialect;
use minijinja::value::Value;
use rustc_hash::FxHashMap;
use std::collections::{BTreeMap, HashMap};

/// The package name of rdbt's built-in macros, as dbt's internal package.
pub const INTERNAL_PACKAGE: &str = "dbt";

/// One macro's registration.
#[derive(Debug, Clone)]
pub struct MacroInfo {
    pub package: String,
    pub name: String,
    pub template_name: String,
    pub unique_id: String,
}

pub struct World {
    pub root_package: String,
    /// How the project's SQL is generated (quoting, dispatch prefix).
    pub dialect: &'static dyn Dialect,
    /// The dialect models are written in unless their config says otherwise.
    pub sql_dialect: SqlDialect,
    pub target_kind: crate::settings::TargetKind,
    /// Where ingestion lands sources (a folder or `gs://bucket/prefix`).
    pub land_root: String,
    /// `target` as templates see it (secrets masked).
    pub target: Value,
    pub target_schema: String,
    pub target_database: String,
    pub cli_vars: serde_json::Map<String, serde_json::Value>,
    /// Per package: its project file's global vars, then root-project vars
    /// scoped to it, merged.
    pub package_vars: HashMap<String, serde_json::Map<String, serde_json::Value>>,
    pub macros: BTreeMap<String, BTreeMap<String, MacroInfo>>,
    /// Looked up for every name a template reads (a quarter of a million
    /// times in a 10,000-model parse), hence Fx hashing.
    macro_values: FxHashMap<String, FxHashMap<String, Value>>,
    package_namespaces: FxHashMap<String, Value>,
    pub dispatch: Vec<(String, Vec<String>)>,
    /// `{% docs %}` blocks by name (and `package.name`).
    pub docs: HashMap<String, String>,
    pub invocation_id: String,
    pub run_started_at: chrono::DateTime<chrono::Utc>,
    pub flags: Value,
    /// The warehouse, for `run_query` and adapter look-ups, once a command
    /// attaches one.
    pub warehouse:
        std::sync::OnceLock<std::sync::Arc<dyn super::warehouse_access::WarehouseAccess>>,
    /// Where `log(msg, info=True)` lines go once a command prints them
    /// (the CLI's printer); until then they are only recorded.
    pub log_sink: std::sync::OnceLock<LogSink>,
    /// dbt's `graph` (`graph.nodes`, `graph.sources`, ...), set once the
    /// project is parsed and only when a template reads it.
    pub graph: std::sync::OnceLock<Value>,
}

/// Prints a template's `log(msg, info=True)` line.
/// Where `log(msg, info)` goes once the console is set up: `info` lines are
/// shown, the others only kept in the log file.
pub type LogSink = std::sync::Arc<dyn Fn(&str, bool) + Send + Sync>;

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<world {}>", self.root_package)
    }
}

impl World {
    pub fn new(
        project: &Project,
        settings: &Settings,
        macros: BTreeMap<String, BTreeMap<String, MacroInfo>>,
        macro_value: impl Fn(&MacroInfo) -> Value,
    ) -> World {
        let sql_dialect = project_sql_dialect(project, settings);
        let dialect = crate::adapters::dialect_for(settings.target.kind, sql_dialect);
        let t = &settings.target;
        let mut target = t.redacted_options();
        target.insert("name".into(), t.name.clone().into());
        target.insert("target_name".into(), t.name.clone().into());
        target.insert("schema".into(), t.schema.clone().into());
        target.insert("database".into(), t.database.clone().into());
        // What packages branch on: the dialect macros dispatch to, so a
        // DuckDB project on the embedded warehouse takes its DuckDB branch.
        target.insert("type".into(), dialect.adapter_type().into());
        target.insert("threads".into(), settings.threads.into());
        target.insert("profile_name".into(), settings.profile_name.clone().into());
        let package_vars = package_vars(project);
        let mut docs = HashMap::new();
        for p in &project.packages {
            for d in &p.doc_blocks {
                docs.insert(format!("{}.{}", p.name, d.name), d.contents.clone());
                if p.is_root || !docs.contains_key(&d.name) {
                    docs.insert(d.name.clone(), d.contents.clone());
                }
            }
        }
        let macro_values: FxHashMap<String, FxHashMap<String, Value>> = macros
            .iter()
            .map(|(pkg, ms)| {
                (
                    pkg.clone(),
                    ms.iter()
                        .map(|(n, info)| (n.clone(), macro_value(info)))
                        .collect(),
                )
            })
            .collect();
        let package_namespaces = macro_values
            .iter()
            .map(|(pkg, ms)| {
                (
                    pkg.clone(),
                    super::values::map_value(ms.iter().map(|(k, v)| (k.clone(), v.clone()))),
                )
            })
            .collect();
        World {
            root_package: project.name().to_string(),
            dialect,
            sql_dialect,
            target_kind: settings.target.kind,
            land_root: settings.target.land.clone(),
            target: Value::from_serialize_map(target),
            target_schema: t.schema.clone(),
            target_database: t.database.clone(),
            cli_vars: settings.cli_vars.clone(),
            package_vars,
            macros,
            macro_values,
            package_namespaces,
            dispatch: project.root_package().file.dispatch.clone(),
            docs,
            invocation_id: crate::invocation_id().to_string(),
            run_started_at: chrono::Utc::now(),
            flags: super::values::map_value([
                ("FULL_REFRESH", Value::from(false)),
                ("WHICH", Value::from("parse")),
            ]),
            warehouse: std::sync::OnceLock::new(),
            log_sink: std::sync::OnceLock::new(),
            graph: std::sync::OnceLock::new(),
        }
    }

    /// What an unqualified name means inside `package`'s code: a package
    /// namespace, then the package's own macros, the root project's, and
    /// rdbt's built-ins.
    pub fn macro_value(&self, package: &str, name: &str) -> Option<Value> {
        if let Some(ns) = self.package_namespaces.get(name) {
            return Some(ns.clone());
        }
        for pkg in [package, self.root_package.as_str(), INTERNAL_PACKAGE] {
            if let Some(v) = self.macro_values.get(pkg).and_then(|m| m.get(name)) {
                return Some(v.clone());
            }
        }
        None
    }

    /// Every callable macro name (`name` for the root project and built-ins,
    /// `package.name` for the others), for hints.
    pub fn macro_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .macros
            .iter()
            .flat_map(|(pkg, ms)| {
                ms.keys().map(move |n| {
                    if *pkg == self.root_package || pkg == INTERNAL_PACKAGE {
                        n.clone()
                    } else {
                        format!("{pkg}.{n}")
                    }
                })
            })
            .collect();
        v.sort();
        v.dedup();
        v
    }

    pub fn find_macro(&self, package: &str, name: &str) -> Option<&MacroInfo> {
        self.macros.get(package).and_then(|m| m.get(name))
    }

    /// `adapter.dispatch(name, namespace)`: the first of
    /// `<adapter>__name`, `default__name` (and `name` itself for a namespace
    /// that defines it plainly) along the search order.
    pub fn dispatch(
        &self,
        name: &str,
        namespace: Option<&str>,
        calling_package: &str,
    ) -> Option<&MacroInfo> {
        let namespace = namespace.unwrap_or(calling_package);
        let order: Vec<String> = self
            .dispatch
            .iter()
            .find(|(ns, _)| ns == namespace)
            .map(|(_, order)| order.clone())
            .unwrap_or_else(|| vec![self.root_package.clone(), namespace.to_string()]);
        let candidates = self.dispatch_candidates(name);
        let mut packages: Vec<&str> = order.iter().map(String::as_str).collect();
        packages.push(INTERNAL_PACKAGE);
        for pkg in packages {
            for candidate in &candidates {
                if let Some(info) = self.find_macro(pkg, candidate) {
                    return Some(info);
                }
            }
        }
        None
    }

    /// The SQL dialect's implementation first, then the warehouse's (a
    /// DuckDB project on DataFusion may use `datafusion__` macros), then
    /// `default__`.
    fn dispatch_candidates(&self, name: &str) -> Vec<String> {
        let mut prefixes = vec![
            self.dialect.adapter_type(),
            self.target_kind.as_str(),
            "default",
        ];
        prefixes.dedup();
        prefixes
            .into_iter()
            .map(|p| format!("{p}__{name}"))
            .collect()
    }

    /// `adapter.dispatch(name, packages=[...])`: an explicit search order.
    pub fn dispatch_in(&self, name: &str, order: &[String]) -> Option<&MacroInfo> {
        let candidates = self.dispatch_candidates(name);
        order
            .iter()
            .map(String::as_str)
            .chain([INTERNAL_PACKAGE])
            .find_map(|pkg| candidates.iter().find_map(|c| self.find_macro(pkg, c)))
    }

    /// `var(name)` as seen from `package`: `--vars`, then project vars.
    pub fn lookup_var(&self, package: &str, name: &str) -> Option<serde_json::Value> {
        if let Some(v) = self.cli_vars.get(name) {
            return Some(v.clone());
        }
        self.package_vars
            .get(package)
            .and_then(|vars| vars.get(name))
            .cloned()
    }

    /// Names of every var defined for `package`, for "did you mean" hints.
    pub fn var_names(&self, package: &str) -> Vec<String> {
        let mut names: Vec<String> = self.cli_vars.keys().cloned().collect();
        if let Some(vars) = self.package_vars.get(package) {
            names.extend(vars.keys().cloned());
        }
        names.sort();
        names.dedup();
        names
    }
}

/// dbt's var scoping: a package sees its own project file's vars, overridden
/// by the root project's global vars and then by the root project's
/// `vars: {package: {...}}` block for it.
fn package_vars(project: &Project) -> HashMap<String, serde_json::Map<String, serde_json::Value>> {
    let package_names: Vec<String> = project.packages.iter().map(|p| p.name.clone()).collect();
    let split = |vars: &Option<crate::yaml::Node>| {
        let mut global = serde_json::Map::new();
        let mut scoped: HashMap<String, serde_json::Map<String, serde_json::Value>> =
            HashMap::new();
        if let Some(serde_json::Value::Object(map)) = vars.as_ref().map(|n| n.to_json()) {
            for (k, v) in map {
                match v {
                    serde_json::Value::Object(inner) if package_names.contains(&k) => {
                        scoped.insert(k, inner);
                    }
                    other => {
                        global.insert(k, other);
                    }
                }
            }
        }
        (global, scoped)
    };
    let (root_global, root_scoped) = split(&project.root_package().file.vars);
    project
        .packages
        .iter()
        .map(|p| {
            let mut vars = if p.is_root {
                serde_json::Map::new()
            } else {
                split(&p.file.vars).0
            };
            vars.extend(root_global.clone());
            if let Some(s) = root_scoped.get(&p.name) {
                vars.extend(s.clone());
            }
            (p.name.clone(), vars)
        })
        .collect()
}

/// Small helper so JSON maps become Jinja values in one call.
trait FromSerializeMap {
    fn from_serialize_map(m: serde_json::Map<String, serde_json::Value>) -> Value;
}

impl FromSerializeMap for Value {
    fn from_serialize_map(m: serde_json::Map<String, serde_json::Value>) -> Value {
        Value::from(minijinja::value::Serde(serde_json::Value::Object(m)))
    }
}

/// The dialect models are written in: the project file's `sql_dialect`,
/// else the target's, else DuckDB's (most local dbt projects are written
/// for DuckDB). On BigQuery everything is BigQuery SQL.
pub fn project_sql_dialect(project: &Project, settings: &Settings) -> SqlDialect {
    if let Some(native) = settings.target.kind.native_sql_dialect() {
        return native;
    }
    project
        .root_package()
        .file
        .sql_dialect
        .as_deref()
        .or_else(|| {
            settings
                .target
                .options
                .get("sql_dialect")
                .and_then(|v| v.as_str())
        })
        .and_then(SqlDialect::from_name)
        .or_else(|| SqlDialect::from_name(&settings.target.adapter_type))
        .unwrap_or(SqlDialect::DEFAULT)
}
