//! Jinja SQL → nodes. The parse pass renders every node once to record its
//! `ref()`/`source()`/`config()` calls; the compile pass renders again with
//! real relation names. `minijinja` is used only inside this module.

pub mod cache;
mod context;
mod dialect;
mod environment;
mod errors;
mod functions;
mod generic_tests;
mod macros;
mod mutable;
pub mod node;
pub mod node_config;
mod node_parts;
mod parse;
mod pydatetime;
mod pyre;
mod relation;
mod scope;
pub mod static_analysis;
mod values;
mod warehouse_access;
mod world;

pub use cache::ParseCache;
pub use dialect::{executable_sql, sql_dialect_of};
pub use environment::{Compiler, render_env_string};
pub use generic_tests::jinja_literal;
pub use node::{ColumnInfo, ParsedDoc, ParsedMacro, ParsedNode, ParsedProject, TestKwargs};
#[cfg(test)]
pub(crate) use node_parts::blank_node;
pub use parse::{ParseOutput, parse_project};
pub use scope::{RefCall, SourceCall};
pub use warehouse_access::{QueryTable, WarehouseAccess};
pub use world::project_sql_dialect;

use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::project::ResourceType;
use errors::TemplateOrigin;
use node_config::Materialization;
use rayon::prelude::*;
use relation::Relation;
use scope::{NodeScope, Recorded, RelationResolver};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Finds what a `ref()` or `source()` call names. The graph uses it to draw
/// edges; the compile pass to print relation names.
pub struct RefIndex {
    /// package → name → (unique id, version) (several when versioned, the
    /// one a plain `ref()` means first). Nested, so a lookup by borrowed
    /// names allocates nothing; Fx-hashed, as project names are not hostile
    /// input and SipHash dominated the lookups.
    by_name: FxHashMap<String, FxHashMap<String, Vec<RefTarget>>>,
    /// source name → table name → unique id.
    by_source: FxHashMap<String, FxHashMap<String, String>>,
    root_package: String,
}

type FxHashMap<K, V> = HashMap<K, V, rustc_hash::FxBuildHasher>;

/// What a ref can name: a unique id, and its version when versioned.
type RefTarget = (String, Option<String>);

impl RefIndex {
    pub fn new(parsed: &ParsedProject) -> Self {
        let mut by_name: FxHashMap<String, FxHashMap<String, Vec<RefTarget>>> = HashMap::default();
        let mut by_source: FxHashMap<String, FxHashMap<String, String>> = HashMap::default();
        for n in parsed.nodes.values() {
            match n.resource_type {
                ResourceType::Model | ResourceType::Seed | ResourceType::Snapshot => {
                    let names = match by_name.get_mut(n.package_name.as_str()) {
                        Some(names) => names,
                        None => by_name.entry(n.package_name.clone()).or_default(),
                    };
                    let targets = names.entry(n.name.clone()).or_default();
                    let version = n.version.as_ref().map(|v| v.version.clone());
                    // A plain ref() means the latest version: keep it first.
                    if n.version.as_ref().is_some_and(|v| v.version == v.latest) {
                        targets.insert(0, (n.unique_id.clone(), version));
                    } else {
                        targets.push((n.unique_id.clone(), version));
                    }
                }
                ResourceType::Source => {
                    if let Some(s) = &n.source {
                        by_source
                            .entry(s.source_name.clone())
                            .or_default()
                            .insert(n.name.clone(), n.unique_id.clone());
                    }
                }
                _ => {}
            }
        }
        RefIndex {
            by_name,
            by_source,
            root_package: parsed.project_name.clone(),
        }
    }

    /// dbt's lookup: an explicit package; else the calling package, then the
    /// root project, then any package with a unique match.
    pub fn resolve_ref(&self, from_package: &str, call: &RefCall) -> Option<&str> {
        fn choose<'t>(targets: &'t [RefTarget], call: &RefCall) -> Option<&'t str> {
            match &call.version {
                Some(v) => targets
                    .iter()
                    .find(|(_, version)| version.as_deref() == Some(v.as_str()))
                    .map(|(id, _)| id.as_str()),
                None => targets.first().map(|(id, _)| id.as_str()),
            }
        }
        let pick = |pkg: &str| {
            self.by_name
                .get(pkg)
                .and_then(|names| names.get(call.name.as_str()))
                .and_then(|targets| choose(targets, call))
        };
        if let Some(pkg) = &call.package {
            return pick(pkg);
        }
        if let Some(id) = pick(from_package).or_else(|| pick(&self.root_package)) {
            return Some(id);
        }
        let mut matches = self
            .by_name
            .values()
            .filter_map(|names| names.get(call.name.as_str()));
        match (matches.next(), matches.next()) {
            (Some(targets), None) => choose(targets, call),
            _ => None,
        }
    }

    pub fn resolve_source(&self, call: &SourceCall) -> Option<&str> {
        self.by_source
            .get(call.source_name.as_str())
            .and_then(|tables| tables.get(call.table_name.as_str()))
            .map(String::as_str)
    }

    /// The versions of the versioned model `name` (in any package).
    pub fn versions_of(&self, name: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .by_name
            .values()
            .filter_map(|names| names.get(name))
            .flatten()
            .filter_map(|(_, version)| version.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Names that a ref could have meant, for hints.
    pub fn ref_names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .by_name
            .values()
            .flat_map(|names| names.keys().map(String::as_str))
            .collect();
        v.sort();
        v.dedup();
        v
    }

    pub fn source_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .by_source
            .iter()
            .flat_map(|(s, tables)| tables.keys().map(move |t| format!("{s}.{t}")))
            .collect();
        v.sort();
        v
    }
}

struct Resolver {
    index: RefIndex,
    relations: HashMap<String, Relation>,
}

impl RelationResolver for Resolver {
    fn resolve_ref(&self, from_package: &str, call: &RefCall) -> Option<Relation> {
        self.index
            .resolve_ref(from_package, call)
            .and_then(|id| self.relations.get(id))
            .cloned()
    }

    fn resolve_source(&self, call: &SourceCall) -> Option<Relation> {
        self.index
            .resolve_source(call)
            .and_then(|id| self.relations.get(id))
            .cloned()
    }
}

/// The compile pass: renders nodes with real relation names, injects
/// ephemeral models as CTEs, and knows whether an incremental model runs
/// incrementally. Built once per command; `compile` is safe to call from
/// many threads.
pub struct Linker {
    resolver: Arc<Resolver>,
    ephemeral_sql: Mutex<HashMap<String, String>>,
    /// Unit-test `overrides`: values templates see in place of vars and
    /// macros.
    overrides: Vec<(String, minijinja::value::Value)>,
    /// The static-analysis pass (see [`NodeScope::analysis`]).
    analysis: bool,
}

impl Linker {
    pub fn new(compiler: &Compiler, parsed: &ParsedProject) -> Linker {
        let dialect = compiler.world.dialect;
        let relations: HashMap<String, Relation> = parsed
            .nodes
            .values()
            .map(|n| {
                let ephemeral = *n.materialized() == Materialization::Ephemeral
                    && n.resource_type == ResourceType::Model;
                let rel = Relation {
                    database: Some(n.database.clone()),
                    schema: Some(n.schema.clone()),
                    identifier: if ephemeral {
                        format!("__dbt__cte__{}", n.name)
                    } else {
                        n.alias.clone()
                    },
                    relation_type: if ephemeral {
                        "cte".into()
                    } else {
                        relation_type(n)
                    },
                    dialect,
                };
                (n.unique_id.clone(), rel)
            })
            .collect();
        Linker {
            resolver: Arc::new(Resolver {
                index: RefIndex::new(parsed),
                relations,
            }),
            ephemeral_sql: Mutex::new(HashMap::new()),
            overrides: Vec::new(),
            analysis: false,
        }
    }

    /// A linker for the static-analysis pass: templates do not consult the
    /// warehouse, and [`Linker::compile_for_analysis`] leaves out nodes
    /// whose SQL depends on what it would have said.
    pub fn for_analysis(compiler: &Compiler, parsed: &ParsedProject) -> Linker {
        Linker {
            analysis: true,
            ..Linker::new(compiler, parsed)
        }
    }

    /// Compiles one node for static analysis: `None` when its SQL depends on
    /// warehouse introspection (`dbt_utils.star`, `run_query`, ...), which
    /// only the run can do once the node's parents are built (dbt compiles
    /// each node just before it runs).
    pub fn compile_for_analysis(
        &self,
        compiler: &Compiler,
        parsed: &ParsedProject,
        id: &str,
    ) -> Result<Option<String>, Diagnostic> {
        let node = parsed
            .nodes
            .get(id)
            .ok_or_else(|| Diagnostic::internal(format!("compile of unknown node {id}")))?;
        let (sql, introspected) = self.render_tracked(compiler, node, false)?;
        if introspected {
            return Ok(None);
        }
        let mut ctes: Vec<(String, String)> = Vec::new();
        self.collect_ephemerals(compiler, parsed, node, &mut ctes, &mut Vec::new())?;
        Ok(Some(inject_ctes(&sql, &ctes)))
    }

    /// A linker whose `ref()`/`source()` of the given nodes render as the
    /// given CTE names: how a unit test feeds a model its fixture rows.
    pub fn with_inputs(
        &self,
        inputs: &HashMap<String, String>,
        overrides: &serde_json::Value,
    ) -> Linker {
        let mut relations = self.resolver.relations.clone();
        for (id, cte) in inputs {
            if let Some(rel) = relations.get_mut(id) {
                rel.identifier = cte.clone();
                rel.relation_type = "cte".into();
            }
        }
        Linker {
            resolver: Arc::new(Resolver {
                index: RefIndex {
                    by_name: self.resolver.index.by_name.clone(),
                    by_source: self.resolver.index.by_source.clone(),
                    root_package: self.resolver.index.root_package.clone(),
                },
                relations,
            }),
            ephemeral_sql: Mutex::new(HashMap::new()),
            overrides: override_values(overrides),
            analysis: self.analysis,
        }
    }

    /// The unique id a `ref('x')` / `source('a', 'b')` string names.
    pub fn resolve_call(&self, from_package: &str, call: &str) -> Option<String> {
        let re = crate::regexes::static_regex(
            r#"^\s*(ref|source)\s*\(\s*['"]([^'"]+)['"](?:\s*,\s*['"]([^'"]+)['"])?\s*\)\s*$"#,
        );
        let c = re.captures(call)?;
        let a = c.get(2)?.as_str().to_string();
        let b = c.get(3).map(|m| m.as_str().to_string());
        if &c[1] == "ref" {
            let (package, name) = match b {
                Some(b) => (Some(a), b),
                None => (None, a),
            };
            self.resolver
                .index
                .resolve_ref(
                    from_package,
                    &RefCall {
                        package,
                        name,
                        version: None,
                    },
                )
                .map(str::to_string)
        } else {
            self.resolver
                .index
                .resolve_source(&SourceCall {
                    source_name: a,
                    table_name: b?,
                })
                .map(str::to_string)
        }
    }

    /// The relation a node materializes into (its `this`).
    pub fn relation_name(&self, id: &str) -> Option<String> {
        self.resolver.relations.get(id).map(Relation::render)
    }

    /// Compiles a data test and returns, beside its SQL, the node with the
    /// config its test macro set by `config()` while rendering
    /// (`fail_calc`, `warn_if`, ...): dbt applies those under the test's own
    /// YAML config, which wins.
    pub fn compile_test(
        &self,
        compiler: &Compiler,
        parsed: &ParsedProject,
        id: &str,
    ) -> Result<(String, ParsedNode), Diagnostic> {
        let node = parsed
            .nodes
            .get(id)
            .ok_or_else(|| Diagnostic::internal(format!("compile of unknown node {id}")))?;
        let (sql, set_by_macro) = self.render_recording_config(compiler, node)?;
        let mut effective = (**node).clone();
        if !set_by_macro.is_empty() {
            let mut config = (*node.config).clone();
            for (key, value) in set_by_macro {
                if !node.unrendered_config.contains_key(&key) {
                    config.insert(key, value);
                }
            }
            effective.set_config(Arc::new(config)).map_err(|e| {
                Diagnostic::error(
                    crate::diagnostics::codes::INVALID_CONFIG,
                    format!("{e} (set by the test's macro, in test `{}`)", node.name),
                )
                .at(
                    crate::diagnostics::Location::new(&node.abs_path, 1, 1),
                    Some(&node.file_text),
                )
            })?;
        }
        let mut ctes: Vec<(String, String)> = Vec::new();
        self.collect_ephemerals(compiler, parsed, node, &mut ctes, &mut Vec::new())?;
        Ok((inject_ctes(&sql, &ctes), effective))
    }

    /// Compiles one node; `incremental` is what `is_incremental()` answers.
    pub fn compile(
        &self,
        compiler: &Compiler,
        parsed: &ParsedProject,
        id: &str,
        incremental: bool,
    ) -> Result<String, Diagnostic> {
        let node = parsed
            .nodes
            .get(id)
            .ok_or_else(|| Diagnostic::internal(format!("compile of unknown node {id}")))?;
        let sql = self.render(compiler, node, incremental)?;
        let mut ctes: Vec<(String, String)> = Vec::new();
        self.collect_ephemerals(compiler, parsed, node, &mut ctes, &mut Vec::new())?;
        Ok(inject_ctes(&sql, &ctes))
    }

    /// The SQL the warehouse runs for SQL compiled from node `id`: translated
    /// from the node's dialect on the embedded warehouse.
    pub fn executable(
        &self,
        compiler: &Compiler,
        parsed: &ParsedProject,
        id: &str,
        sql: &str,
    ) -> Result<String, Diagnostic> {
        let Some(node) = parsed.nodes.get(id) else {
            return Ok(sql.to_string());
        };
        let dialect = sql_dialect_of(&compiler.world, &node.config);
        executable_sql(
            &compiler.world,
            dialect,
            sql,
            &node.abs_path,
            &node.file_text,
        )
    }

    /// Renders a hook or other snippet in `id`'s scope (`this`, `config`).
    pub fn render_snippet(
        &self,
        compiler: &Compiler,
        parsed: &ParsedProject,
        id: &str,
        text: &str,
    ) -> Result<String, Diagnostic> {
        let node = parsed
            .nodes
            .get(id)
            .ok_or_else(|| Diagnostic::internal(format!("render of unknown node {id}")))?;
        let mut snippet = node.clone();
        snippet.raw_code = Arc::from(text);
        snippet.file_text = snippet.raw_code.clone();
        snippet.body_offset = 0;
        snippet.test_metadata = None;
        self.render(compiler, &snippet, false)
    }

    fn render(
        &self,
        compiler: &Compiler,
        node: &ParsedNode,
        incremental: bool,
    ) -> Result<String, Diagnostic> {
        self.render_tracked(compiler, node, incremental)
            .map(|(sql, _)| sql)
    }

    /// Renders `node`, with the `config()` calls the render made.
    fn render_recording_config(
        &self,
        compiler: &Compiler,
        node: &ParsedNode,
    ) -> Result<(String, crate::project::config::Config), Diagnostic> {
        let mut config = crate::project::config::Config::new();
        let sql = self.render_with(compiler, node, false, |scope| {
            config = scope.recorded().config.clone();
        })?;
        Ok((sql, config))
    }

    /// Renders `node`, and says whether the render consulted the warehouse.
    fn render_tracked(
        &self,
        compiler: &Compiler,
        node: &ParsedNode,
        incremental: bool,
    ) -> Result<(String, bool), Diagnostic> {
        let mut introspected = false;
        let sql = self.render_with(compiler, node, incremental, |scope| {
            introspected = scope.recorded().introspected;
        })?;
        Ok((sql, introspected))
    }

    /// Renders `node`, then lets `after` read what the render recorded.
    fn render_with(
        &self,
        compiler: &Compiler,
        node: &ParsedNode,
        incremental: bool,
        after: impl FnOnce(&NodeScope),
    ) -> Result<String, Diagnostic> {
        let resolver: Arc<dyn RelationResolver> = self.resolver.clone();
        let scope = Arc::new(NodeScope {
            world: compiler.world.clone(),
            node: parse::scope_for(compiler, node, (*node.config).clone())
                .node
                .clone(),
            base_config: (*node.config).clone(),
            recorded: Mutex::new(Recorded::default()),
            resolver: Some(resolver),
            this: self
                .resolver
                .relations
                .get(&node.unique_id)
                .cloned()
                .map(|mut r| {
                    r.dialect = crate::adapters::dialect_for(
                        compiler.world.target_kind,
                        sql_dialect_of(&compiler.world, &node.config),
                    );
                    r
                }),
            execute: true,
            extra: self.overrides.clone(),
            incremental,
            statements: Default::default(),
            analysis: self.analysis,
        });
        let offset = if node.test_metadata.is_some() {
            node.call_sites
                .first()
                .map_or(0, |c| c.1)
                .min(node.file_text.len())
        } else {
            node.body_offset
        };
        let origin = TemplateOrigin::new(
            node.abs_path.clone(),
            node.file_text.clone(),
            node.raw_code.clone(),
            offset,
        );
        let sql = compiler.render(scope.clone(), &node.unique_id, &node.raw_code, &origin)?;
        after(&scope);
        Ok(sql)
    }

    /// Ephemeral parents (and theirs), parents first, each once.
    fn collect_ephemerals(
        &self,
        compiler: &Compiler,
        parsed: &ParsedProject,
        node: &ParsedNode,
        out: &mut Vec<(String, String)>,
        stack: &mut Vec<String>,
    ) -> Result<(), Diagnostic> {
        for dep in &node.depends_on {
            let Some(parent) = parsed.nodes.get(dep) else {
                continue;
            };
            if parent.resource_type != ResourceType::Model
                || *parent.materialized() != Materialization::Ephemeral
            {
                continue;
            }
            let name = format!("__dbt__cte__{}", parent.name);
            if out.iter().any(|(n, _)| *n == name) || stack.contains(dep) {
                continue;
            }
            stack.push(dep.clone());
            self.collect_ephemerals(compiler, parsed, parent, out, stack)?;
            stack.pop();
            let cached = self
                .ephemeral_sql
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(dep)
                .cloned();
            let sql = match cached {
                Some(s) => s,
                None => {
                    let s = self.render(compiler, parent, false)?;
                    self.ephemeral_sql
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(dep.clone(), s.clone());
                    s
                }
            };
            out.push((name, sql));
        }
        Ok(())
    }
}

/// `overrides: {vars: {...}, macros: {name: value}}` as template values: each
/// macro becomes a function returning its value; vars go under a key that
/// `var()` consults first.
fn override_values(overrides: &serde_json::Value) -> Vec<(String, minijinja::value::Value)> {
    use minijinja::value::{Serde, Value};
    let mut out = Vec::new();
    if let Some(macros) = overrides.get("macros").and_then(|m| m.as_object()) {
        for (name, v) in macros {
            let value = Value::from(Serde(v.clone()));
            out.push((
                name.clone(),
                Value::from_function(move |_: minijinja::value::Rest<Value>| value.clone()),
            ));
        }
    }
    if let Some(vars) = overrides.get("vars").filter(|v| v.is_object()) {
        out.push((
            "__rdbt_var_overrides".to_string(),
            Value::from(Serde(vars.clone())),
        ));
    }
    // A microbatch batch being compiled: `model.batch`.
    if let Some(batch) = overrides.get("batch").filter(|v| v.is_object()) {
        out.push((
            "__rdbt_batch".to_string(),
            Value::from(Serde(batch.clone())),
        ));
    }
    out
}

/// Puts `ctes` in front of `sql`, merging with a leading `WITH` if it has one.
pub fn inject_ctes(sql: &str, ctes: &[(String, String)]) -> String {
    if ctes.is_empty() {
        return sql.to_string();
    }
    let defs = ctes
        .iter()
        .map(|(n, body)| format!("{n} as (\n{}\n)", body.trim().trim_end_matches(';')))
        .collect::<Vec<_>>()
        .join(",\n");
    let start = leading_trivia_len(sql);
    let rest = &sql[start..];
    if rest.len() >= 4
        && rest[..4].eq_ignore_ascii_case("with")
        && rest[4..].starts_with(|c: char| c.is_whitespace())
    {
        let after = &rest[4..];
        let recursive = after
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("recursive ");
        if recursive {
            let skip = after.len() - after.trim_start().len() + "recursive ".len();
            return format!(
                "{}with recursive {defs},\n{}",
                &sql[..start],
                &after[skip..]
            );
        }
        format!("{}with {defs},\n{}", &sql[..start], after.trim_start())
    } else {
        format!("{}with {defs}\n{}", &sql[..start], rest)
    }
}

/// Whitespace and SQL comments before the first token.
fn leading_trivia_len(sql: &str) -> usize {
    let mut i = 0;
    let b = sql.as_bytes();
    loop {
        while i < b.len() && (b[i] as char).is_whitespace() {
            i += 1;
        }
        if sql[i..].starts_with("--") {
            i = sql[i..].find('\n').map_or(sql.len(), |e| i + e + 1);
        } else if sql[i..].starts_with("/*") {
            i = sql[i..].find("*/").map_or(sql.len(), |e| i + e + 2);
        } else {
            return i;
        }
    }
}

/// `rdbt compile`: renders `ids` in parallel and stores `compiled_code`.
pub fn compile_nodes(
    compiler: &Compiler,
    parsed: &mut ParsedProject,
    ids: &[String],
) -> Result<(), Diagnostics> {
    let linker = Linker::new(compiler, parsed);
    let snapshot: &ParsedProject = parsed;
    let results: Vec<(String, Result<String, Diagnostic>)> = ids
        .par_iter()
        .filter_map(|id| snapshot.nodes.get(id))
        .filter(|n| n.is_executable() && n.resource_type != ResourceType::Seed)
        .map(|node| {
            (
                node.unique_id.clone(),
                linker.compile(compiler, snapshot, &node.unique_id, false),
            )
        })
        .collect();
    store_compiled(parsed, results)
}

/// Renders the incremental models among `ids` whose table exists again with
/// `is_incremental()` true: what the run would execute and what dbt's
/// `compile` writes. The static analysis plans the full-refresh shape (the
/// table's columns and lineage come from it), so this runs after it.
pub fn compile_incremental_as_run(
    compiler: &Compiler,
    parsed: &mut ParsedProject,
    ids: &[String],
) -> Result<(), Diagnostics> {
    let Some(warehouse) = compiler.world.warehouse.get() else {
        return Ok(());
    };
    let linker = Linker::new(compiler, parsed);
    let snapshot: &ParsedProject = parsed;
    let results: Vec<(String, Result<String, Diagnostic>)> = ids
        .par_iter()
        .filter_map(|id| snapshot.nodes.get(id))
        .filter(|n| {
            n.resource_type == ResourceType::Model
                && *n.materialized() == Materialization::Incremental
                && warehouse.relation_type(&n.schema, &n.alias).is_some()
        })
        .map(|node| {
            (
                node.unique_id.clone(),
                linker.compile(compiler, snapshot, &node.unique_id, true),
            )
        })
        .collect();
    store_compiled(parsed, results)
}

/// Keeps each node's compiled SQL; the errors, all of them, otherwise.
fn store_compiled(
    parsed: &mut ParsedProject,
    results: Vec<(String, Result<String, Diagnostic>)>,
) -> Result<(), Diagnostics> {
    let mut diags = Diagnostics::default();
    for (id, r) in results {
        match r {
            Ok(sql) => {
                if let Some(n) = parsed.nodes.get_mut(&id) {
                    n.compiled_code = Some(sql);
                }
            }
            Err(d) => diags.push(d),
        }
    }
    if diags.has_errors() {
        return Err(diags);
    }
    Ok(())
}

fn relation_type(n: &ParsedNode) -> String {
    match n.resource_type {
        ResourceType::Source => "external".into(),
        ResourceType::Seed | ResourceType::Snapshot => "table".into(),
        _ => match n.materialized() {
            Materialization::Table | Materialization::Incremental => "table".into(),
            other => other.as_str().to_string(),
        },
    }
}

/// Free SQL as a node of the root project, `place` naming it in errors.
fn inline_node(parsed: &ParsedProject, sql: &str, place: &str) -> ParsedNode {
    let mut node = node_parts::blank_node(
        "sql_operation.inline".into(),
        ResourceType::Operation,
        &parsed.project_name,
        "inline_query",
        vec![parsed.project_name.clone(), "inline_query".into()],
    );
    node.raw_code = Arc::from(sql);
    node.file_text = node.raw_code.clone();
    node.abs_path = place.into();
    node
}

/// `rdbt compile --inline "<sql>"`: renders free SQL as if it were a model of
/// the root project.
pub fn compile_inline(
    compiler: &Compiler,
    parsed: &ParsedProject,
    sql: &str,
) -> Result<String, Diagnostics> {
    let node = inline_node(parsed, sql, "<inline>");
    let mut tmp = parsed.clone();
    tmp.nodes
        .insert(node.unique_id.clone(), Box::new(node.clone()));
    let index = RefIndex::new(&tmp);
    let mut diags = Diagnostics::default();
    let scope = parse::scope_for(compiler, &node, (*node.config).clone());
    let origin = TemplateOrigin::new(
        node.abs_path.clone(),
        node.file_text.clone(),
        node.raw_code.clone(),
        0,
    );
    compiler
        .render(scope.clone(), "<inline>", sql, &origin)
        .map_err(Diagnostics::from)?;
    for r in scope.recorded().refs.iter() {
        if index.resolve_ref(&parsed.project_name, r).is_none() {
            diags.push(Diagnostic::error(
                crate::diagnostics::codes::UNKNOWN_REF,
                format!("ref('{}') names no model, seed or snapshot", r.name),
            ));
        }
    }
    if diags.has_errors() {
        return Err(diags);
    }
    let id = node.unique_id.clone();
    compile_nodes_including(compiler, &mut tmp, std::slice::from_ref(&id))?;
    Ok(tmp
        .nodes
        .get(&id)
        .and_then(|n| n.compiled_code.clone())
        .unwrap_or_default())
}

/// Whether any template of the project reads dbt's `graph` object; it is
/// built only then.
pub fn reads_graph(compiler: &Compiler, parsed: &ParsedProject) -> bool {
    let mentions = |text: &str| {
        text.match_indices("graph").any(|(i, _)| {
            let before = text[..i].chars().next_back();
            let after = text[i + 5..].chars().next();
            !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.')
                && matches!(
                    after,
                    Some('.') | Some('[') | Some(' ') | Some('|') | Some(')')
                )
        })
    };
    compiler
        .macro_files
        .iter()
        .any(|(_, f)| f.macros.iter().any(|m| mentions(&m.body)))
        || parsed.nodes.values().any(|n| mentions(&n.raw_code))
}

/// Sets dbt's `graph` for templates: the manifest's nodes, sources,
/// exposures, metrics, semantic models and macros, keyed by unique id.
pub fn attach_graph(compiler: &Compiler, manifest: serde_json::Value) {
    let pick = |key: &str| {
        minijinja::value::Value::from(minijinja::value::Serde(
            manifest
                .get(key)
                .cloned()
                .unwrap_or_else(|| serde_json::Value::Object(Default::default())),
        ))
    };
    let graph = values::map_value([
        ("nodes", pick("nodes")),
        ("sources", pick("sources")),
        ("exposures", pick("exposures")),
        ("metrics", pick("metrics")),
        ("semantic_models", pick("semantic_models")),
        ("saved_queries", pick("saved_queries")),
        ("unit_tests", pick("unit_tests")),
        ("macros", pick("macros")),
        ("groups", pick("groups")),
    ]);
    let _ = compiler.world.graph.set(graph);
}

/// `rdbt run-operation`: renders the macro call once, with `execute` true
/// and the warehouse attached, as dbt does (a parse-time render would see
/// `run_query` return none and fail idioms such as
/// `results.columns[0].values()` outside `{% if execute %}`).
pub fn render_operation(
    compiler: &Compiler,
    parsed: &ParsedProject,
    sql: &str,
) -> Result<String, Diagnostics> {
    let node = inline_node(parsed, sql, "<operation>");
    let mut tmp = parsed.clone();
    let id = node.unique_id.clone();
    tmp.nodes.insert(id.clone(), Box::new(node));
    compile_nodes_including(compiler, &mut tmp, std::slice::from_ref(&id))?;
    Ok(tmp
        .nodes
        .get(&id)
        .and_then(|n| n.compiled_code.clone())
        .unwrap_or_default())
}

fn compile_nodes_including(
    compiler: &Compiler,
    parsed: &mut ParsedProject,
    ids: &[String],
) -> Result<(), Diagnostics> {
    // Inline operations are not "executable" nodes; compile them the same way.
    if let Some(n) = parsed.nodes.get_mut(&ids[0]) {
        n.resource_type = ResourceType::Analysis;
    }
    compile_nodes(compiler, parsed, ids)
}

/// Where the compiled SQL of a node goes: `target/compiled/<package>/<path>`;
/// for a node defined in YAML (a data test, a unit test), a file named
/// after its alias in a folder named after the YAML file, as dbt does.
pub fn compiled_path(target_dir: &std::path::Path, node: &ParsedNode) -> std::path::PathBuf {
    let base = target_dir.join("compiled").join(&node.package_name);
    let in_yaml =
        node.original_file_path.ends_with(".yml") || node.original_file_path.ends_with(".yaml");
    if node.test_metadata.is_some() || in_yaml {
        base.join(&node.original_file_path)
            .join(format!("{}.sql", node.alias))
    } else {
        base.join(&node.original_file_path)
    }
}

#[cfg(test)]
mod tests {
    use super::inject_ctes;

    #[test]
    fn ctes_merge_with_a_leading_with() {
        let ctes = vec![("__dbt__cte__e".to_string(), "select 1 as x".to_string())];
        assert_eq!(
            inject_ctes("select * from __dbt__cte__e", &ctes),
            "with __dbt__cte__e as (\nselect 1 as x\n)\nselect * from __dbt__cte__e"
        );
        assert_eq!(
            inject_ctes(
                "-- note\nWITH a as (select 2) select * from a, __dbt__cte__e",
                &ctes
            ),
            "-- note\nwith __dbt__cte__e as (\nselect 1 as x\n),\na as (select 2) select * from a, __dbt__cte__e"
        );
    }
}
