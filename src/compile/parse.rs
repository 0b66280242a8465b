//! The parse phase: renders every SQL node once (in parallel) to record its
//! `ref()`, `source()` and `config()` calls, merges configs with dbt's
//! precedence, names relations, and builds sources, data tests, exposures,
//! macros and docs. Problems of every file are collected and returned together.

use super::cache::ParseCache;
use super::environment::Compiler;
use super::errors::TemplateOrigin;
use super::generic_tests::build_generic_tests;
use super::node::{
    ColumnInfo, ExposureInfo, ParsedDoc, ParsedMacro, ParsedNode, ParsedProject, SourceInfo,
};
use super::node_config::NodeConfig;
use super::node_parts::{
    PatchIndex, blank_node, default_config, folder_config, index_patches, offset_of,
};
use super::scope::{NodeIdentity, NodeScope, Recorded, RefCall, SourceCall};
use super::world::INTERNAL_PACKAGE;
use crate::diagnostics::{Diagnostic, Diagnostics, Location, codes};
use crate::project::config::{Config, ConfigExt, merge_into};
use crate::project::properties::{ColumnDef, NodePatch};
use crate::project::{Package, Project, ResourceType, SqlFile};
use crate::settings::Settings;
use minijinja::value::Value;
use rayon::prelude::*;
use regex::Regex;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock, Mutex};

static CALL_SITE: LazyLock<Regex> = LazyLock::new(|| {
    crate::regexes::static_regex(
        r#"\b(ref|source)\s*\(\s*(?:'[^']*'|"[^"]*")(?:\s*,\s*(?:'[^']*'|"[^"]*"))?"#,
    )
});
static LITERAL_REF: LazyLock<Regex> = LazyLock::new(|| {
    crate::regexes::static_regex(
        r#"\b(ref|source)\s*\(\s*['"]([^'"]+)['"](?:\s*,\s*['"]([^'"]+)['"])?\s*(?:,\s*(?:v|version)\s*=\s*['"]?([^'")\s]+)['"]?\s*)?\)"#,
    )
});

/// The result of a parse: the parsed project, the compiler (reused by the
/// compile pass) and the warnings.
pub struct ParseOutput {
    pub parsed: ParsedProject,
    pub compiler: Compiler,
    pub warnings: Diagnostics,
    /// How many nodes were rendered (the rest came from the partial-parse cache).
    pub rendered: usize,
    /// Errors; the parse still returns what it could, so the graph can add
    /// its own problems and everything is reported together.
    pub errors: Diagnostics,
}

/// A parsed node, its warnings, and whether it was rendered (not cached).
/// Boxed as soon as built: results wait in a list until all are rendered.
type NodeParse = (Box<ParsedNode>, Vec<Diagnostic>, bool);
/// A node whose render failed: the error, its package and its name.
type FailedNode = (Diagnostic, String, String);

/// A SQL node waiting for its parse render.
struct Job<'a> {
    file: &'a SqlFile,
    package: &'a Package,
    fqn: Vec<String>,
    unique_id: String,
    /// Shared by consecutive jobs with equal configs (a folder's models).
    base_config: Arc<Config>,
    patch: Option<&'a NodePatch>,
}

/// Parses every node. `Err` only when the environment itself cannot be set
/// up (broken macros); node errors come back in [`ParseOutput::errors`].
pub fn parse_project(
    project: &Project,
    settings: &Settings,
    cache: &mut ParseCache,
) -> Result<ParseOutput, Diagnostics> {
    let step = std::time::Instant::now();
    let compiler = Compiler::new(project, settings)?;
    // Jinja in the project files' config values (`+materialized: "{{ ... }}"`)
    // is rendered once, as dbt renders dbt_project.yml.
    let rendered_project;
    let project = match render_project_configs(project, &compiler)? {
        Some(rendered) => {
            rendered_project = rendered;
            &rendered_project
        }
        None => project,
    };
    let mut diags = Diagnostics::default();
    let fingerprint = cache.world_fingerprint(&compiler, settings);
    let patches = index_patches(project);

    let jobs = sql_jobs(project, &patches);
    crate::timings::phase("  parse: folder configs and patches", step);
    let step = std::time::Instant::now();
    let results: Vec<Result<NodeParse, FailedNode>> = jobs
        .par_iter()
        .map_init(Vec::new, |recent_configs, job| {
            parse_sql_node(&compiler, job, cache, &fingerprint, recent_configs)
                .map_err(|d| (d, job.package.name.clone(), job.file.name.clone()))
        })
        .collect();
    crate::timings::phase("  parse: render SQL nodes", step);
    let step = std::time::Instant::now();
    let mut parsed = ParsedProject {
        project_name: project.name().to_string(),
        invocation_id: compiler.world.invocation_id.clone(),
        generated_at: compiler
            .world
            .run_started_at
            .format("%Y-%m-%dT%H:%M:%S%.6fZ")
            .to_string(),
        project_hash: fingerprint.clone(),
        ..Default::default()
    };
    let mut rendered = 0;
    let mut new_cache_entries = Vec::new();
    let mut sql_nodes = Vec::with_capacity(results.len());
    for r in results {
        match r {
            Ok((node, warnings, was_rendered)) => {
                diags.extend(warnings);
                rendered += usize::from(was_rendered);
                if cache.is_enabled() {
                    new_cache_entries.push(node.unique_id.clone());
                }
                sql_nodes.push(node);
            }
            Err((d, package, name)) => {
                diags.push(d);
                parsed.failed.insert((package, name));
            }
        }
    }
    insert_batch(&mut parsed, sql_nodes, &mut diags);

    for package in &project.packages {
        for seed in &package.seeds {
            let node = seed_node(&compiler, project, package, &patches, seed, &mut diags);
            insert_node(&mut parsed, node, &mut diags);
        }
    }

    for package in &project.packages {
        for source in &package.properties.sources {
            let node = source_node(&compiler, project, package, source, &mut diags);
            insert_node(&mut parsed, node, &mut diags);
        }
    }

    crate::timings::phase("  parse: collect rendered nodes", step);
    let step = std::time::Instant::now();
    // Data tests need their parents' final names, so they come last.
    let tests = build_generic_tests(project, &compiler, &parsed, &patches, &mut diags);
    insert_batch(&mut parsed, tests, &mut diags);

    for package in &project.packages {
        for e in &package.properties.exposures {
            let node = exposure_node(package, e, &mut diags);
            insert_node(&mut parsed, node, &mut diags);
        }
        for u in &package.properties.unit_tests {
            if let Some((node, raw)) = unit_test_node(package, u, &mut diags) {
                parsed.unit_tests.insert(node.unique_id.clone(), raw);
                insert_node(&mut parsed, node, &mut diags);
            }
        }
        for d in &package.doc_blocks {
            let unique_id = format!("doc.{}.{}", package.name, d.name);
            parsed.docs.insert(
                unique_id.clone(),
                ParsedDoc {
                    unique_id,
                    name: d.name.clone(),
                    package_name: package.name.clone(),
                    original_file_path: d.original_file_path.clone(),
                    block_contents: d.contents.clone(),
                },
            );
        }
    }
    crate::timings::phase("  parse: seeds, sources, data tests, exposures", step);
    let step = std::time::Instant::now();
    collect_macros(project, &compiler, &mut parsed);
    render_descriptions(&compiler, &mut parsed, &mut diags);
    report_unused_patches(project, &patches, &mut diags);
    report_unused_config_paths(project, &parsed, &mut diags);
    render_yaml_types(&compiler, &mut parsed, &mut diags);
    resolve_configs(&mut parsed, &mut diags);
    cache.retain(&new_cache_entries);
    crate::timings::phase("  parse: macros, descriptions, config checks", step);
    let (errors, warnings): (Vec<Diagnostic>, Vec<Diagnostic>) =
        diags.into_iter().partition(Diagnostic::is_error);
    Ok(ParseOutput {
        parsed,
        compiler,
        warnings: Diagnostics::from_iter(warnings),
        rendered,
        errors: Diagnostics::from_iter(errors),
    })
}

/// `[package, folders…, name]`, dbt's fully qualified name.
pub fn fqn_for(package: &str, rel_path: &str, name: &str) -> Vec<String> {
    let mut fqn = vec![package.to_string()];
    let mut parts: Vec<&str> = rel_path.split('/').collect();
    parts.pop();
    fqn.extend(
        parts
            .into_iter()
            .filter(|p| !p.is_empty())
            .map(str::to_string),
    );
    fqn.push(name.to_string());
    fqn
}

/// Default plus folder config per (package, kind, config-tree folders
/// reached): worked out once per folder and thread rather than once per
/// node, which converted the project file's YAML to config values for
/// every model.
#[derive(Default)]
struct FolderBases {
    by_folder: HashMap<String, Arc<Config>>,
}

impl FolderBases {
    fn get(
        &mut self,
        project: &Project,
        package: &Package,
        kind: ResourceType,
        fqn: &[String],
    ) -> Arc<Config> {
        let key_name = kind.config_key();
        let mut depth = package.file.folder_config_depth(key_name, fqn);
        if !package.is_root {
            depth = depth.max(
                project
                    .root_package()
                    .file
                    .folder_config_depth(key_name, fqn),
            );
        }
        let mut key = format!("{}\0{key_name}", package.name);
        for part in &fqn[..depth] {
            key.push('\0');
            key.push_str(part);
        }
        self.by_folder
            .entry(key)
            .or_insert_with(|| {
                let mut config = default_config(kind);
                merge_into(&mut config, &folder_config(project, package, kind, fqn));
                Arc::new(config)
            })
            .clone()
    }
}

/// Jinja in property YAML's column `data_type` and a seed's `column_types`
/// (`data_type: "{{ dbt.type_string() }}"`), rendered in the node's scope as
/// dbt renders them. Only nodes holding such a value are touched.
fn render_yaml_types(compiler: &Compiler, parsed: &mut ParsedProject, diags: &mut Diagnostics) {
    let jinja = |s: &str| s.contains("{{") || s.contains("{%");
    for node in parsed.nodes.values_mut() {
        let in_columns = node
            .columns
            .values()
            .any(|c| c.data_type.as_deref().is_some_and(jinja));
        let in_types = node
            .config
            .get("column_types")
            .and_then(|t| t.as_object())
            .is_some_and(|m| m.values().any(|v| v.as_str().is_some_and(jinja)));
        if !in_columns && !in_types {
            continue;
        }
        let scope = scope_for(compiler, node, (*node.config).clone());
        let render = |text: &str| -> Result<String, Diagnostic> {
            compiler
                .render_string(scope.clone(), text)
                .map(|s| s.trim().to_string())
                .map_err(|e| {
                    Diagnostic::error(
                        codes::JINJA_RUNTIME,
                        format!(
                            "cannot render `{text}` for {} `{}`: {}",
                            node.resource_type,
                            node.name,
                            e.detail().unwrap_or(&e.to_string())
                        ),
                    )
                    .at(Location::new(&node.abs_path, 1, 1), None)
                    .with_help("a type may use target, var() and dbt's type macros")
                })
        };
        let mut rendered_columns = Vec::new();
        for (name, c) in &node.columns {
            if let Some(t) = c.data_type.as_deref().filter(|t| jinja(t)) {
                match render(t) {
                    Ok(r) => rendered_columns.push((name.clone(), r)),
                    Err(d) => diags.push(d),
                }
            }
        }
        let mut rendered_types = Vec::new();
        if let Some(types) = node.config.get("column_types").and_then(|t| t.as_object()) {
            for (name, v) in types {
                if let Some(t) = v.as_str().filter(|t| jinja(t)) {
                    match render(t) {
                        Ok(r) => rendered_types.push((name.clone(), r)),
                        Err(d) => diags.push(d),
                    }
                }
            }
        }
        for (name, t) in rendered_columns {
            if let Some(c) = node.columns.get_mut(&name) {
                c.data_type = Some(t);
            }
        }
        if !rendered_types.is_empty() {
            let config = Arc::make_mut(&mut node.config);
            if let Some(serde_json::Value::Object(types)) = config.get_mut("column_types") {
                for (name, t) in rendered_types {
                    types.insert(name, serde_json::Value::String(t));
                }
            }
        }
    }
}

/// A copy of `project` with the Jinja in its project files' config trees
/// rendered (`target`, `var()`, `env_var()` in scope), or `None` when no
/// value holds any.
fn render_project_configs(
    project: &Project,
    compiler: &Compiler,
) -> Result<Option<Project>, Diagnostics> {
    let has_jinja = |n: &crate::yaml::Node| {
        let mut found = false;
        let mut probe = n.clone();
        let _ = probe.try_map_strings(&mut |s, _| -> Result<Option<String>, ()> {
            found |= s.contains("{{") || s.contains("{%");
            Ok(None)
        });
        found
    };
    if !project
        .packages
        .iter()
        .any(|p| p.file.config_trees.iter().any(|(_, t)| has_jinja(t)))
    {
        return Ok(None);
    }
    let mut rendered = project.clone();
    let mut diags = Diagnostics::default();
    for package in &mut rendered.packages {
        let node = blank_node(
            format!("project.{}", package.name),
            ResourceType::Operation,
            &package.name,
            &package.name,
            vec![package.name.clone()],
        );
        let scope = scope_for(compiler, &node, Config::new());
        let path = crate::project::project_file::find_project_file(&package.root)
            .map(|(file, _)| file)
            .unwrap_or_else(|| package.root.join("dbt_project.yml"));
        let file = crate::yaml::SourceFile::new(
            path.clone(),
            std::fs::read_to_string(&path).unwrap_or_default(),
        );
        for (_, tree) in &mut package.file.config_trees {
            let result = tree.try_render_strings(&mut |s, mark| {
                if !s.contains("{{") && !s.contains("{%") {
                    return Ok(None);
                }
                compiler
                    .render_string(scope.clone(), s)
                    .map(|r| Some(r.trim().to_string()))
                    .map_err(|e| {
                        file.error_at(
                            mark,
                            codes::JINJA_RUNTIME,
                            format!(
                                "cannot render this config value: {}",
                                e.detail().unwrap_or(&e.to_string())
                            ),
                        )
                        .with_help("project-file Jinja sees target, var() and env_var()")
                    })
            });
            if let Err(d) = result {
                diags.push(d);
            }
        }
    }
    if diags.has_errors() {
        return Err(diags);
    }
    Ok(Some(rendered))
}

pub fn scope_for(compiler: &Compiler, node: &ParsedNode, base_config: Config) -> Arc<NodeScope> {
    // While parsing, `this` is the node's provisional relation: its final
    // schema may still change through config() calls.
    let world = &compiler.world;
    let this = super::relation::Relation {
        database: Some(world.target_database.clone()),
        schema: Some(match base_config.str_value("schema") {
            Some(custom) => format!("{}_{}", world.target_schema, custom.trim()),
            None => world.target_schema.clone(),
        }),
        identifier: base_config
            .str_value("alias")
            .unwrap_or(&node.alias)
            .to_string(),
        relation_type: String::new(),
        dialect: world.dialect,
    };
    Arc::new(NodeScope {
        world: compiler.world.clone(),
        node: NodeIdentity {
            unique_id: node.unique_id.clone(),
            name: node.name.clone(),
            package: node.package_name.clone(),
            resource_type: node.resource_type.as_str(),
            original_file_path: node.original_file_path.clone(),
            fqn: node.fqn.clone(),
            version: node
                .version
                .as_ref()
                .map(|v| (v.version.clone(), v.latest.clone())),
        },
        base_config,
        recorded: Mutex::new(Recorded::default()),
        resolver: None,
        this: Some(this),
        execute: false,
        extra: Vec::new(),
        incremental: false,
        statements: Default::default(),
        analysis: false,
    })
}

fn parse_sql_node(
    compiler: &Compiler,
    job: &Job,
    cache: &ParseCache,
    fingerprint: &str,
    recent_configs: &mut Vec<Arc<Config>>,
) -> Result<NodeParse, Diagnostic> {
    let file = job.file;
    let mut node = blank_node(
        job.unique_id.clone(),
        file.resource_type,
        &job.package.name,
        &file.name,
        job.fqn.clone(),
    );
    if let Some(v) = job.patch.and_then(|p| p.version.as_deref()) {
        // Its relation is `<model>_v<v>` unless an alias says otherwise.
        node.name = v.model.clone();
        node.alias = format!("{}_v{}", v.model, v.version);
        node.version = Some(Box::new(v.clone()));
    }
    node.path = file.path.clone();
    node.original_file_path = file.original_file_path.clone();
    node.abs_path = file.abs_path.clone();
    node.raw_code = file.raw_code.clone();
    node.file_text = file.file_text.clone();
    node.body_offset = file.body_offset;
    node.checksum = blake3::hash(file.raw_code.as_bytes()).to_hex().to_string();
    node.unrendered_config = job.base_config.clone();
    node.call_sites = CALL_SITE
        .find_iter(&file.raw_code)
        .map(|m| {
            (
                m.as_str().to_string(),
                file.body_offset + m.start(),
                m.len(),
            )
        })
        .collect();
    // Without a cache (`--no-partial-parse`) there is no key to hash.
    let cache_key = cache
        .is_enabled()
        .then(|| ParseCache::node_key(fingerprint, &file.raw_code, &job.base_config));
    let cached = cache_key
        .as_deref()
        .and_then(|key| cache.lookup(&node.unique_id, key));
    let mut warnings = Vec::new();
    let (recorded, was_rendered) = match cached {
        Some(recorded) => (recorded, false),
        None => {
            let scope = scope_for(compiler, &node, (*job.base_config).clone());
            let origin = TemplateOrigin::new(
                file.abs_path.clone(),
                file.file_text.clone(),
                file.raw_code.clone(),
                file.body_offset,
            );
            let sql = compiler.render(scope.clone(), &node.unique_id, &file.raw_code, &origin)?;
            let recorded = std::mem::take(&mut *scope.recorded());
            if let Some(key) = cache_key {
                cache.store(&node.unique_id, key, recorded.clone(), sql);
            }
            (recorded, true)
        }
    };
    for w in &recorded.warnings {
        warnings.push(
            Diagnostic::warning(codes::JINJA_WARNING, w.clone())
                .at(Location::new(&file.abs_path, 1, 1), None),
        );
    }
    for key in recorded.config.keys() {
        if let Some((message, help)) = crate::project::config::unknown_config_key(key) {
            // At `key=` in the config() call when it is there.
            let at = config_key_at(&file.raw_code, key).map_or(0, |(at, _)| at);
            warnings.push(
                Diagnostic::warning(codes::UNKNOWN_CONFIG, message)
                    .at_offset(
                        &file.abs_path,
                        &file.file_text,
                        file.body_offset + at,
                        key.len(),
                    )
                    .with_help(help),
            );
        }
    }
    node.config = if recorded.config.is_empty() {
        job.base_config.clone()
    } else {
        let mut config = (*job.base_config).clone();
        merge_into(&mut config, &recorded.config);
        crate::project::config::share_recent(Arc::new(config), recent_configs)
    };
    node.refs = recorded.refs;
    node.sources = recorded.sources;
    node.macros = recorded.macros.into_iter().collect();
    apply_patch(&mut node, job.patch);
    let mut diags = Diagnostics::default();
    if node.config.enabled() {
        name_relation(compiler, &mut node, &mut diags);
    }
    warnings.extend(diags);
    node.shrink_lists();
    Ok((Box::new(node), warnings, was_rendered))
}

fn apply_patch(node: &mut ParsedNode, patch: Option<&NodePatch>) {
    let Some(p) = patch else { return };
    node.description = p.description.clone();
    node.columns = columns(&p.columns);
    node.patch_path = Some(format!(
        "{}://{}",
        p.package,
        relative_to_any(
            &p.origin.file.path,
            &node.abs_path,
            &node.original_file_path
        )
    ));
    if !p.docs.is_null() {
        node.docs = Some(p.docs.clone());
    }
}

fn columns(defs: &[ColumnDef]) -> BTreeMap<String, Box<ColumnInfo>> {
    defs.iter()
        .map(|c| {
            (
                c.name.clone(),
                Box::new(ColumnInfo {
                    name: c.name.clone(),
                    description: c.description.clone(),
                    meta: c.meta.clone(),
                    data_type: c.data_type.clone(),
                    constraints: c.constraints.clone(),
                    quote: c.quote,
                    tags: c.tags.clone(),
                }),
            )
        })
        .collect()
}

/// Database, schema and alias, through dbt's `generate_*_name` macros when
/// the project overrides them, natively otherwise (same result, far faster).
/// dbt's default alias: the name, and `_v<version>` for a model version.
fn default_alias(node: &ParsedNode) -> String {
    match &node.version {
        Some(v) => format!("{}_v{}", node.name, v.version.replace('.', "_")),
        None => node.name.clone(),
    }
}

pub fn name_relation(compiler: &Compiler, node: &mut ParsedNode, diags: &mut Diagnostics) {
    let world = &compiler.world;
    let custom_schema = node.config.str_value("schema").map(str::to_string);
    let custom_db = node
        .config
        .str_value("database")
        .or(node.config.str_value("project"))
        .map(str::to_string);
    let custom_alias = node.config.str_value("alias").map(str::to_string);
    if node.resource_type == ResourceType::Snapshot
        && let Some(target_schema) = node.config.str_value("target_schema")
    {
        node.schema = target_schema.to_string();
        node.database = node
            .config
            .str_value("target_database")
            .map_or(world.target_database.clone(), str::to_string);
        node.alias = custom_alias.unwrap_or_else(|| default_alias(node));
        set_relation_name(compiler, node);
        return;
    }
    if compiler.custom_naming {
        let scope = scope_for(compiler, node, (*node.config).clone());
        let none_or = |v: &Option<String>| v.clone().map_or(Value::from(()), Value::from);
        let scope = Arc::new(NodeScope {
            extra: vec![
                ("__schema".into(), none_or(&custom_schema)),
                ("__db".into(), none_or(&custom_db)),
                ("__alias".into(), none_or(&custom_alias)),
            ],
            world: scope.world.clone(),
            node: scope.node.clone(),
            base_config: scope.base_config.clone(),
            recorded: Mutex::new(Recorded::default()),
            resolver: None,
            this: None,
            execute: false,
            incremental: false,
            statements: Default::default(),
            analysis: false,
        });
        let text = "{{ generate_database_name(__db, model) | trim }}\u{1}{{ generate_schema_name(__schema, model) | trim }}\u{1}{{ generate_alias_name(__alias, model) | trim }}";
        let origin = TemplateOrigin::new(
            node.abs_path.clone(),
            node.file_text.clone(),
            Arc::from(text),
            0,
        );
        match compiler.render(scope, "<naming>", text, &origin) {
            Ok(out) => {
                let parts: Vec<&str> = out.split('\u{1}').collect();
                if let [db, schema, alias] = parts.as_slice() {
                    node.database = db.to_string();
                    node.schema = schema.to_string();
                    node.alias = alias.to_string();
                }
            }
            Err(d) => {
                diags.push(d.with_help("the error is in a generate_*_name macro of the project"))
            }
        }
    } else {
        node.database = custom_db.unwrap_or_else(|| world.target_database.clone());
        node.schema = match custom_schema {
            Some(s) => format!("{}_{}", world.target_schema, s.trim()),
            None => world.target_schema.clone(),
        };
        node.alias = custom_alias.unwrap_or_else(|| default_alias(node));
    }
    set_relation_name(compiler, node);
}

fn set_relation_name(compiler: &Compiler, node: &mut ParsedNode) {
    let executable_relation = matches!(
        node.resource_type,
        ResourceType::Model | ResourceType::Seed | ResourceType::Snapshot
    ) && node.config.materialized() != "ephemeral";
    node.relation_name = executable_relation.then(|| {
        compiler
            .world
            .dialect
            .relation_name(&node.database, &node.schema, &node.alias)
    });
}

/// Inserts a batch of nodes exactly as [`insert_node`] would one at a time,
/// in order. When no node can clash with another (the usual case, found on
/// every core), the batch is sorted on every core and merged into the node
/// map in one pass; inserting 30,000 nodes one by one was serial time.
/// The nodes stay boxed: the map holds them boxed, and moving a box moves
/// a pointer, not a kilobyte.
#[allow(clippy::vec_box)]
fn insert_batch(parsed: &mut ParsedProject, nodes: Vec<Box<ParsedNode>>, diags: &mut Diagnostics) {
    let mut enabled: Vec<(usize, Box<ParsedNode>)> = Vec::with_capacity(nodes.len());
    for (order, node) in nodes.into_iter().enumerate() {
        if node.config.enabled() {
            enabled.push((order, node));
        } else {
            insert_node(parsed, node, diags);
        }
    }
    enabled.par_sort_by(|(_, a), (_, b)| a.unique_id.cmp(&b.unique_id));
    if batch_may_clash(&parsed.nodes, &enabled) {
        enabled.par_sort_unstable_by_key(|(order, _)| *order);
        for (_, node) in enabled {
            insert_node(parsed, node, diags);
        }
        return;
    }
    let mut by_id: BTreeMap<String, Box<ParsedNode>> = enabled
        .into_iter()
        .map(|(_, node)| (node.unique_id.clone(), node))
        .collect();
    parsed.nodes.append(&mut by_id);
}

/// Whether any node of `batch` (sorted by id) has the id of another or of a
/// node already in `existing`, or shares a model/seed/snapshot name.
fn batch_may_clash(
    existing: &BTreeMap<String, Box<ParsedNode>>,
    batch: &[(usize, Box<ParsedNode>)],
) -> bool {
    let shares_namespace = |n: &ParsedNode| {
        matches!(
            n.resource_type,
            ResourceType::Model | ResourceType::Seed | ResourceType::Snapshot
        )
    };
    let same_id = batch
        .par_windows(2)
        .any(|w| w[0].1.unique_id == w[1].1.unique_id);
    if same_id {
        return true;
    }
    let mut names: Vec<(&str, &str, Option<&str>)> = batch
        .par_iter()
        .filter(|(_, n)| shares_namespace(n))
        .map(|(_, n)| {
            (
                n.package_name.as_str(),
                n.name.as_str(),
                n.version.as_ref().map(|v| v.version.as_str()),
            )
        })
        .collect();
    names.par_sort_unstable();
    if names.par_windows(2).any(|w| w[0] == w[1]) {
        return true;
    }
    if existing.is_empty() {
        return false;
    }
    batch.par_iter().any(|(_, n)| {
        existing.contains_key(&n.unique_id)
            || (shares_namespace(n)
                && [
                    ResourceType::Model,
                    ResourceType::Seed,
                    ResourceType::Snapshot,
                ]
                .into_iter()
                .any(|t| existing.contains_key(&format!("{t}.{}.{}", n.package_name, n.name))))
    })
}

fn insert_node(
    parsed: &mut ParsedProject,
    node: impl Into<Box<ParsedNode>>,
    diags: &mut Diagnostics,
) {
    let node: Box<ParsedNode> = node.into();
    let enabled = node.config.enabled();
    if !enabled {
        parsed.disabled.insert(node.unique_id.clone(), node);
        return;
    }
    if let Some(existing) = parsed.nodes.get(&node.unique_id) {
        diags.push(
            Diagnostic::error(
                codes::DUPLICATE_NAME,
                format!(
                    "two {}s are named `{}` in package `{}`",
                    node.resource_type, node.name, node.package_name
                ),
            )
            .at(Location::new(&node.abs_path, 1, 1), None)
            .with_help(format!(
                "the other is {}; rename one of them (names must be unique across folders)",
                existing.original_file_path
            )),
        );
        return;
    }
    // Models, seeds and snapshots share one namespace: ref() must be unambiguous.
    if matches!(
        node.resource_type,
        ResourceType::Model | ResourceType::Seed | ResourceType::Snapshot
    ) {
        // Look the other kinds up by id: a scan of all nodes per insert made
        // parsing quadratic.
        let clash = [
            ResourceType::Model,
            ResourceType::Seed,
            ResourceType::Snapshot,
        ]
        .into_iter()
        .filter(|t| *t != node.resource_type)
        .find_map(|t| {
            parsed
                .nodes
                .get(&format!("{t}.{}.{}", node.package_name, node.name))
        });
        if let Some(other) = clash {
            diags.push(
                Diagnostic::error(
                    codes::DUPLICATE_NAME,
                    format!(
                        "{} `{}` has the same name as {} {}",
                        node.resource_type,
                        node.name,
                        other.resource_type,
                        other.original_file_path
                    ),
                )
                .at(Location::new(&node.abs_path, 1, 1), None)
                .with_help("ref() could not tell them apart; rename one"),
            );
            return;
        }
    }
    parsed.nodes.insert(node.unique_id.clone(), node);
}

fn render_yaml_value(
    compiler: &Compiler,
    package: &Package,
    text: &str,
) -> Result<String, Diagnostic> {
    if !text.contains("{{") && !text.contains("{%") {
        return Ok(text.to_string());
    }
    let node = blank_node(
        format!("yaml.{}", package.name),
        ResourceType::Source,
        &package.name,
        "yaml",
        vec![],
    );
    let scope = scope_for(compiler, &node, Config::new());
    compiler.render_string(scope, text).map_err(|e| {
        Diagnostic::error(
            codes::JINJA_RUNTIME,
            format!(
                "cannot render `{text}`: {}",
                e.detail().unwrap_or("template error")
            ),
        )
        .with_help("check the Jinja in this YAML value")
    })
}

/// Descriptions may call `{{ doc('name') }}`; dbt renders them at parse.
fn render_descriptions(compiler: &Compiler, parsed: &mut ParsedProject, diags: &mut Diagnostics) {
    let needs = |node: &ParsedNode| {
        node.description.contains("{{")
            || node.columns.values().any(|c| c.description.contains("{{"))
    };
    let ids: Vec<String> = parsed
        .nodes
        .par_iter()
        .map(|(_, n)| n)
        .filter(|n| needs(n))
        .map(|n| n.unique_id.clone())
        .collect();
    for id in ids {
        let Some(node) = parsed.nodes.get(&id) else {
            continue;
        };
        let scope = scope_for(compiler, node, (*node.config).clone());
        let render = |text: &str| -> Result<String, Diagnostic> {
            if !text.contains("{{") {
                return Ok(text.to_string());
            }
            compiler.render_string(scope.clone(), text).map_err(|e| {
                let detail = e.detail().unwrap_or("template error");
                let message = detail.split('\u{1}').nth(1).unwrap_or(detail).to_string();
                Diagnostic::error(
                    codes::JINJA_RUNTIME,
                    format!("in the description of `{}`: {message}", node.name),
                )
                .at(Location::new(&node.abs_path, 1, 1), None)
            })
        };
        let description = render(&node.description);
        let columns: Vec<(String, Result<String, Diagnostic>)> = node
            .columns
            .iter()
            .map(|(k, c)| (k.clone(), render(&c.description)))
            .collect();
        let Some(node) = parsed.nodes.get_mut(&id) else {
            continue;
        };
        match description {
            Ok(d) => node.description = d,
            Err(d) => diags.push(d),
        }
        for (k, r) in columns {
            match (r, node.columns.get_mut(&k)) {
                (Ok(text), Some(c)) => c.description = text,
                (Err(d), _) => diags.push(d),
                _ => {}
            }
        }
    }
}

fn collect_macros(project: &Project, compiler: &Compiler, parsed: &mut ParsedProject) {
    let mut patches: HashMap<(String, String), (&str, &serde_json::Value)> = HashMap::new();
    for p in &project.packages {
        for m in &p.properties.macros {
            patches.insert(
                (p.name.clone(), m.name.clone()),
                (&m.description, &m.arguments),
            );
        }
    }
    for (package, file) in &compiler.macro_files {
        for decl in &file.macros {
            let unique_id = format!("macro.{package}.{}", decl.name);
            let (description, arguments) = patches
                .get(&(package.clone(), decl.name.clone()))
                .map(|(d, a)| (d.to_string(), (*a).clone()))
                .unwrap_or_else(|| (String::new(), serde_json::json!([])));
            parsed.macros.insert(
                unique_id.clone(),
                ParsedMacro {
                    unique_id,
                    name: decl.name.clone(),
                    package_name: package.clone(),
                    path: file.original_file_path.clone(),
                    original_file_path: file.original_file_path.clone(),
                    macro_sql: decl.body.clone(),
                    description,
                    arguments,
                    depends_on: Vec::new(),
                },
            );
        }
    }
    let _ = INTERNAL_PACKAGE;
}

fn report_unused_patches(project: &Project, patches: &PatchIndex, diags: &mut Diagnostics) {
    for p in project.packages.iter().filter(|p| p.is_root) {
        for patch in &p.properties.patches {
            let used = patches.was_used(&p.name, &patch.kind, &patch.name)
                || patches.was_used(&p.name, "seeds", &patch.name);
            if !used && let Some(v) = &patch.version {
                // A version without its file: the model's refs to it would
                // fail far from the cause, so it is an error, as in dbt.
                diags.push(
                    patch
                        .origin
                        .file
                        .diagnostic_at(
                            patch.origin.mark,
                            Diagnostic::error(
                                codes::YAML_INVALID,
                                format!(
                                    "version {} of model `{}` has no file: no `{}.sql` in the model paths",
                                    v.version, v.model, patch.name
                                ),
                            ),
                        )
                        .with_help(format!(
                            "create {}.sql, or name the version's file with `defined_in: <file name>`",
                            patch.name
                        )),
                );
            } else if !used {
                let kind = patch.kind.trim_end_matches('s').trim_end_matches("se");
                diags.push(
                    patch
                        .origin
                        .file
                        .diagnostic_at(
                            patch.origin.mark,
                            Diagnostic::warning(
                                codes::PATCH_WITHOUT_NODE,
                                format!(
                                    "`{}` is described under `{}` but no such {kind} file exists",
                                    patch.name, patch.kind
                                ),
                            ),
                        )
                        .with_help("rename the entry to match a file, or remove it"),
                );
            }
        }
    }
}

fn report_unused_config_paths(project: &Project, parsed: &ParsedProject, diags: &mut Diagnostics) {
    let root = project.root_package();
    for (key, tree) in &root.file.config_trees {
        let fqns: Vec<&Vec<String>> = parsed
            .nodes
            .values()
            .chain(parsed.disabled.values())
            .filter(|n| n.resource_type.config_key() == key)
            .map(|n| &n.fqn)
            .collect();
        for (path, mark) in crate::project::project_file::config_paths(tree) {
            let matches = fqns
                .iter()
                .any(|fqn| fqn.len() >= path.len() && fqn[..path.len()] == path[..]);
            if !matches {
                diags.push(
                    root.file
                        .source
                        .diagnostic_at(
                            mark,
                            Diagnostic::warning(
                                codes::UNUSED_CONFIG_PATH,
                                format!(
                                    "config path `{key}.{}` matches no resource",
                                    path.join(".")
                                ),
                            ),
                        )
                        .with_help("check the folder names; a path starts with the project name"),
                );
            }
        }
    }
}

/// One job per SQL file: its node's id, fqn and config before rendering
/// (folder config and YAML patch), found on every core; consecutive jobs
/// with equal configs (a folder's models) share one allocation.
fn sql_jobs<'p>(project: &'p Project, patches: &'p PatchIndex) -> Vec<Job<'p>> {
    let files: Vec<(&Package, &SqlFile)> = project
        .packages
        .iter()
        .flat_map(|p| p.sql_files.iter().map(move |f| (p, f)))
        .collect();
    let mut jobs: Vec<Job> = files
        .par_iter()
        .map_init(FolderBases::default, |folder_bases, &(package, file)| {
            let kind = file.resource_type.config_key();
            let patch = patches.find(&package.name, kind, &file.name);
            // A version of a versioned model is `<model>.v<v>`, its fqn
            // ending `[..., model, "v<v>"]`, as in dbt.
            let (fqn, unique_id) = match patch.and_then(|p| p.version.as_deref()) {
                Some(v) => {
                    let mut fqn = fqn_for(&package.name, &file.path, &v.model);
                    fqn.push(format!("v{}", v.version));
                    let id = format!(
                        "{}.{}.{}.v{}",
                        file.resource_type, package.name, v.model, v.version
                    );
                    (fqn, id)
                }
                None => (
                    fqn_for(&package.name, &file.path, &file.name),
                    format!("{}.{}.{}", file.resource_type, package.name, file.name),
                ),
            };
            let folder_base = folder_bases.get(project, package, file.resource_type, &fqn);
            let base_config = match patch {
                Some(p) if !p.config.is_empty() => {
                    let mut config = (*folder_base).clone();
                    merge_into(&mut config, &p.config);
                    Arc::new(config)
                }
                _ => folder_base,
            };
            Job {
                file,
                package,
                fqn,
                unique_id,
                base_config,
                patch,
            }
        })
        .collect();
    let equal_to_previous: Vec<bool> = jobs
        .par_windows(2)
        .map(|w| {
            Arc::ptr_eq(&w[0].base_config, &w[1].base_config)
                || w[0].base_config == w[1].base_config
        })
        .collect();
    for (i, equal) in equal_to_previous.into_iter().enumerate() {
        if equal {
            jobs[i + 1].base_config = jobs[i].base_config.clone();
        }
    }

    jobs
}

/// A node defined in property YAML: its paths and the file's text.
fn place_in_yaml(
    node: &mut ParsedNode,
    package: &Package,
    origin: &crate::project::properties::Origin,
) {
    node.original_file_path = relative_to(&package.root, &origin.file.path);
    node.path = node.original_file_path.clone();
    node.abs_path = origin.file.path.clone();
    node.file_text = origin.file.text.clone();
}

/// A seed's node: its config (defaults, folder, YAML) and relation.
fn seed_node(
    compiler: &Compiler,
    project: &Project,
    package: &Package,
    patches: &PatchIndex,
    seed: &crate::project::SeedFile,
    diags: &mut Diagnostics,
) -> ParsedNode {
    let fqn = fqn_for(&package.name, &seed.path, &seed.name);
    let patch = patches.find(&package.name, "seeds", &seed.name);
    let mut config = default_config(ResourceType::Seed);
    merge_into(
        &mut config,
        &folder_config(project, package, ResourceType::Seed, &fqn),
    );
    if let Some(p) = patch {
        merge_into(&mut config, &p.config);
    }
    let unique_id = format!("seed.{}.{}", package.name, seed.name);
    let file_text: Arc<str> = Arc::from("");
    let mut node = blank_node(
        unique_id,
        ResourceType::Seed,
        &package.name,
        &seed.name,
        fqn,
    );
    node.path = seed.path.clone();
    node.original_file_path = seed.original_file_path.clone();
    node.abs_path = seed.abs_path.clone();
    node.file_text = file_text;
    node.checksum = seed.checksum.clone();
    node.unrendered_config = Arc::new(config.clone());
    node.config = Arc::new(config);
    apply_patch(&mut node, patch);
    name_relation(compiler, &mut node, diags);
    node
}

/// A source table's node: its config, relation and source facts.
fn source_node(
    compiler: &Compiler,
    project: &Project,
    package: &Package,
    source: &crate::project::properties::SourceTableDef,
    diags: &mut Diagnostics,
) -> ParsedNode {
    let fqn = vec![
        package.name.clone(),
        source.source_name.clone(),
        source.name.clone(),
    ];
    let mut config = Config::new();
    config.insert("enabled".into(), true.into());
    merge_into(
        &mut config,
        &folder_config(project, package, ResourceType::Source, &fqn),
    );
    merge_into(&mut config, &source.config);
    let unique_id = format!(
        "source.{}.{}.{}",
        package.name, source.source_name, source.name
    );
    let mut node = blank_node(
        unique_id,
        ResourceType::Source,
        &package.name,
        &source.name,
        fqn,
    );
    place_in_yaml(&mut node, package, &source.origin);
    node.description = source.description.clone();
    node.columns = columns(&source.columns);
    node.patch_path = Some(format!("{}://{}", package.name, node.original_file_path));
    let identifier = source
        .identifier
        .clone()
        .unwrap_or_else(|| source.name.clone());
    let render = |s: &str| render_yaml_value(compiler, package, s);
    node.database = match &source.database {
        Some(db) => render(db).map_err(|e| {
            e.at(
                Location::new(
                    &source.origin.file.path,
                    source.origin.mark.line,
                    source.origin.mark.column,
                ),
                Some(&source.origin.file.text),
            )
        }),
        None => Ok(compiler.world.target_database.clone()),
    }
    .unwrap_or_else(|d| {
        diags.push(d);
        String::new()
    });
    node.schema =
        render(source.schema.as_deref().unwrap_or(&source.source_name)).unwrap_or_else(|d| {
            diags.push(d);
            String::new()
        });
    node.alias = identifier.clone();
    node.relation_name = Some(compiler.world.dialect.relation_name(
        &node.database,
        &node.schema,
        &identifier,
    ));
    node.source = Some(Box::new(SourceInfo {
        source_name: source.source_name.clone(),
        source_description: source.source_description.clone(),
        identifier,
        loader: source.loader.clone(),
        loaded_at_field: source.loaded_at_field.clone(),
        freshness: source.freshness.clone(),
        meta: source.meta.clone(),
        ingest: source.ingest.clone(),
        external: source.external.clone(),
    }));
    let mut tags = config.tags();
    for t in &source.tags {
        if !tags.contains(t) {
            tags.push(t.clone());
        }
    }
    config.insert("tags".into(), tags.into());
    node.unrendered_config = Arc::new(config.clone());
    node.config = Arc::new(config);
    node
}

/// An exposure's node, its `depends_on` read as refs and sources.
fn exposure_node(
    package: &Package,
    e: &crate::project::properties::ExposureDef,
    diags: &mut Diagnostics,
) -> ParsedNode {
    let unique_id = format!("exposure.{}.{}", package.name, e.name);
    let fqn = vec![package.name.clone(), e.name.clone()];
    let mut node = blank_node(
        unique_id,
        ResourceType::Exposure,
        &package.name,
        &e.name,
        fqn,
    );
    place_in_yaml(&mut node, package, &e.origin);
    node.description = e.description.clone();
    let mut config = Config::new();
    config.insert("enabled".into(), true.into());
    merge_into(&mut config, &e.config);
    config.insert("tags".into(), e.tags.clone().into());
    node.config = Arc::new(config);
    for (text, mark) in &e.depends_on {
        let offset = offset_of(&e.origin.file.text, mark.line, mark.column);
        match LITERAL_REF.captures(text) {
            Some(c) => {
                node.call_sites.push((text.clone(), offset, text.len()));
                let a = c.get(2).map(|m| m.as_str().to_string()).unwrap_or_default();
                let b = c.get(3).map(|m| m.as_str().to_string());
                if &c[1] == "ref" {
                    let (package, name) = match b {
                        Some(b) => (Some(a), b),
                        None => (None, a),
                    };
                    node.refs.push(RefCall { package, name, version: c.get(4).map(|m| m.as_str().to_string()) });
                } else if let Some(table_name) = b {
                    node.sources.push(SourceCall { source_name: a, table_name });
                }
            }
            None => diags.push(
                Diagnostic::error(codes::YAML_INVALID, format!("exposure `{}` depends_on entry `{text}` is not a ref() or source()", e.name))
                    .at(Location::new(&e.origin.file.path, mark.line, mark.column), Some(&e.origin.file.text))
                    .with_help("write entries like \"ref('mart_retention_monthly')\" or \"source('kafka', 'events')\""),
            ),
        }
    }
    node.exposure = Some(Box::new(ExposureInfo {
        exposure_type: e.exposure_type.clone(),
        label: e.label.clone(),
        maturity: e.maturity.clone(),
        url: e.url.clone(),
        owner: e.owner.clone(),
        meta: e.meta.clone(),
        extra: e.extra.clone(),
    }));
    node
}

/// A unit test's node (its model and inputs as refs, so selection and
/// runs see it) and its definition with fixtures read; `None` when a
/// fixture file is missing (reported).
fn unit_test_node(
    package: &Package,
    u: &crate::project::properties::UnitTestDef,
    diags: &mut Diagnostics,
) -> Option<(ParsedNode, serde_json::Value)> {
    let unique_id = format!("unit_test.{}.{}.{}", package.name, u.model, u.name);
    // `fixture: name` rows come from tests/fixtures/name.csv|.sql.
    let mut raw = u.raw.clone();
    if let Err(message) = resolve_fixtures(&mut raw, &package.root, &package.file.test_paths) {
        diags.push(
            u.origin
                .file
                .error_at(
                    u.origin.mark,
                    codes::YAML_INVALID,
                    format!("unit test `{}`: {message}", u.name),
                )
                .with_help("put the fixture file under tests/fixtures/ (a test path's fixtures folder), named <fixture>.csv or <fixture>.sql"),
        );
        return None;
    }
    // A node too, so selection (`test_type:unit`) and runs see it;
    // it depends on its model only to name it, never to build it.
    let fqn = vec![package.name.clone(), u.model.clone(), u.name.clone()];
    let mut node = blank_node(
        unique_id,
        ResourceType::UnitTest,
        &package.name,
        &u.name,
        fqn,
    );
    place_in_yaml(&mut node, package, &u.origin);
    let offset = offset_of(
        &u.origin.file.text,
        u.origin.mark.line,
        u.origin.mark.column,
    );
    node.call_sites
        .push((format!("ref('{}')", u.model), offset, u.name.len().max(1)));
    node.refs.push(RefCall {
        package: None,
        name: u.model.clone(),
        version: None,
    });
    Arc::make_mut(&mut node.config).insert("enabled".into(), true.into());
    node.unit_test = Some(Box::new(raw.clone()));
    // Inputs are refs too, so a wrong name is reported now, at its line.
    match unit_test_inputs(&raw) {
        Ok(inputs) => {
            for text in inputs {
                if let Some(c) = LITERAL_REF.captures(&text) {
                    let a = c.get(2).map(|m| m.as_str().to_string()).unwrap_or_default();
                    let b = c.get(3).map(|m| m.as_str().to_string());
                    node.call_sites.push((text.clone(), offset, u.name.len().max(1)));
                    if &c[1] == "ref" {
                        let (package, name) = match b {
                            Some(b) => (Some(a), b),
                            None => (None, a),
                        };
                        node.refs.push(RefCall { package, name, version: None });
                    } else if let Some(table_name) = b {
                        node.sources.push(SourceCall { source_name: a, table_name });
                    }
                }
            }
        }
        Err(message) => diags.push(
            u.origin
                .file
                .error_at(u.origin.mark, codes::YAML_INVALID, format!("unit test `{}`: {message}", u.name))
                .with_help("see dbt's unit test format: given: [{input: ref('x'), rows: [...]}], expect: {rows: [...]}"),
        ),
    }
    Some((node, raw))
}

/// Checks every node's config values and resolves them into the typed
/// `NodeConfig` the run path reads, on every core (30,000 nodes at 10,000
/// models); problems are reported in node order. Nodes share config
/// allocations (all the data tests of a property file, say), and the next
/// node holding the config just resolved shares its result too.
fn resolve_configs(parsed: &mut ParsedProject, diags: &mut Diagnostics) {
    type Last = Option<(Arc<Config>, Arc<NodeConfig>)>;
    let problems: Vec<Vec<Diagnostic>> = parsed
        .nodes
        .par_iter_mut()
        .map_init(
            || None::<(Arc<Config>, Arc<NodeConfig>)>,
            |last: &mut Last, (_, n)| {
                if let Some((config, resolved)) = last.as_ref()
                    && Arc::ptr_eq(config, &n.config)
                {
                    n.resolved = resolved.clone();
                    return Vec::new();
                }
                let mut found = config_problems(n);
                if !found.is_empty() {
                    return found;
                }
                match NodeConfig::resolve(&n.config) {
                    Ok(resolved) => {
                        n.resolved = Arc::new(resolved);
                        *last = Some((n.config.clone(), n.resolved.clone()));
                    }
                    Err(e) => found.push(config_error(n, "", e.0, &[])),
                }
                found
            },
        )
        .collect();
    diags.extend(problems.into_iter().flatten());
}

fn config_problems(node: &ParsedNode) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    // `incremental_strategy` is checked when the incremental branch runs,
    // as dbt does: a strategy the warehouse lacks fails only that run.
    let checks: [(&str, &[&str]); 5] = [
        ("materialized", super::node_config::Materialization::NAMES),
        ("hard_deletes", &["ignore", "invalidate", "new_record"]),
        (
            "on_schema_change",
            &["ignore", "fail", "append_new_columns", "sync_all_columns"],
        ),
        ("access", &["private", "protected", "public"]),
        (
            "sql_dialect",
            &["bigquery", "duckdb", "postgres", "datafusion"],
        ),
    ];
    for (key, allowed) in checks {
        let Some(value) = node.config.get(key) else {
            continue;
        };
        let Some(text) = value.as_str() else {
            diags.push(config_error(
                node,
                key,
                format!("config `{key}` must be a string, found `{value}`"),
                allowed,
            ));
            continue;
        };
        if !allowed.contains(&text) {
            diags.push(config_error(
                node,
                key,
                format!("`{text}` is not a valid `{key}`"),
                allowed,
            ));
        }
    }
    if let Some(severity) = node.config.get("severity") {
        let ok = severity
            .as_str()
            .is_some_and(|s| s.eq_ignore_ascii_case("warn") || s.eq_ignore_ascii_case("error"));
        if !ok {
            diags.push(config_error(
                node,
                "severity",
                format!("`{severity}` is not a valid `severity`"),
                &["warn", "error"],
            ));
        }
    }
    diags.extend(microbatch_problems(node));
    if let Err(message) = crate::adapters::PartitionBy::from_config(node.config.get("partition_by"))
    {
        diags.push(config_error(
            node,
            "partition_by",
            format!("{message} (`partition_by`)"),
            &[
                "{field: <column>, data_type: date|timestamp|datetime|int64}",
                "a column",
                "a list of columns",
            ],
        ));
    }
    if let Some(enabled) = node.config.get("enabled")
        && !enabled.is_boolean()
    {
        diags.push(config_error(
            node,
            "enabled",
            format!("config `enabled` must be true or false, found `{enabled}`"),
            &["true", "false"],
        ));
    }
    diags
}

/// A microbatch model needs `event_time`, `batch_size` and `begin`, as dbt
/// checks at parse.
fn microbatch_problems(node: &ParsedNode) -> Vec<Diagnostic> {
    let config = &node.config;
    let microbatch = config.get("materialized").and_then(|v| v.as_str()) == Some("incremental")
        && config.get("incremental_strategy").and_then(|v| v.as_str()) == Some("microbatch");
    if !microbatch {
        return Vec::new();
    }
    let mut diags = Vec::new();
    let text = |key: &str| {
        config
            .get(key)
            .and_then(|v| v.as_str())
            .filter(|s| !s.trim().is_empty())
    };
    if text("event_time").is_none() {
        diags.push(config_error(
            node,
            "event_time",
            "a microbatch model needs `event_time`: the column that dates each row".into(),
            &["a column name, such as event_time='ordered_at'"],
        ));
    }
    let sizes = ["hour", "day", "month", "year"];
    match text("batch_size") {
        Some(b) if super::node_config::BatchSize::parse(b).is_some() => {}
        Some(b) => diags.push(config_error(
            node,
            "batch_size",
            format!("`{b}` is not a valid `batch_size`"),
            &sizes,
        )),
        None => diags.push(config_error(
            node,
            "batch_size",
            "a microbatch model needs `batch_size`".into(),
            &sizes,
        )),
    }
    match config.get("begin").filter(|v| !v.is_null()) {
        Some(v)
            if v.as_str()
                .and_then(super::node_config::parse_event_time)
                .is_some() => {}
        Some(v) => diags.push(config_error(
            node,
            "begin",
            format!(
                "`begin` is `{}`, not a date or time",
                v.as_str().map_or_else(|| v.to_string(), str::to_string)
            ),
            &["a UTC date or time, such as begin='2024-01-01'"],
        )),
        None => diags.push(config_error(
            node,
            "begin",
            "a microbatch model needs `begin`: the time its first batch starts".into(),
            &["a UTC date or time, such as begin='2024-01-01'"],
        )),
    }
    diags
}

/// Where `key=` is in a node's SQL (a `config()` argument): offset, length.
fn config_key_at(raw_code: &str, key: &str) -> Option<(usize, usize)> {
    Regex::new(&format!(r"\b{}\s*=", regex::escape(key)))
        .ok()?
        .find(raw_code)
        .map(|m| (m.start(), m.len()))
}

/// Points at the `config(... key=` in SQL when it is there, else the file.
fn config_error(node: &ParsedNode, key: &str, message: String, allowed: &[&str]) -> Diagnostic {
    let d = Diagnostic::error(
        codes::INVALID_CONFIG,
        format!("{message} (in {} `{}`)", node.resource_type, node.name),
    )
    .with_help(if allowed.is_empty() {
        "see docs/materializations.md for the values each config key takes".to_string()
    } else {
        format!("use one of: {}", allowed.join(", "))
    });
    // A key-less problem (a config that does not resolve as a whole) has
    // no place but the file.
    let in_sql = (!key.is_empty())
        .then(|| config_key_at(&node.raw_code, key))
        .flatten()
        .map(|(at, len)| (node.body_offset + at, len));
    if let Some((offset, len)) = in_sql {
        return d.at_offset(&node.abs_path, &node.file_text, offset, len);
    }
    if let Some((path, text, offset)) = config_key_in_yaml(node, key) {
        return d.at_offset(&path, &text, offset, key.len());
    }
    d.at(Location::new(&node.abs_path, 1, 1), Some(&node.file_text))
}

/// Where `key:` is set in the property file that patches `node` (after the
/// node's `name:` there): the file, its text and the key's offset. Read
/// only when an error is reported.
fn config_key_in_yaml(node: &ParsedNode, key: &str) -> Option<(std::path::PathBuf, String, usize)> {
    if key.is_empty() {
        return None;
    }
    let (_, relative) = node.patch_path.as_deref()?.split_once("://")?;
    let root = node
        .abs_path
        .to_str()?
        .strip_suffix(node.original_file_path.as_str())?;
    let path = std::path::PathBuf::from(format!("{root}{relative}"));
    let text = std::fs::read_to_string(&path).ok()?;
    let name = Regex::new(&format!(
        r"(?m)name:\s*['\x22]?{}['\x22]?\s*$",
        regex::escape(&node.name)
    ))
    .ok()?;
    let found_name = name.find(&text);
    let from = found_name.map_or(0, |m| m.end());
    // Only the node's own entry: up to the next item of its list (a `-`
    // at the entry's own indentation; its columns' items are deeper).
    let indent = found_name.map_or(0, |m| {
        let line = text[..m.start()].rfind('\n').map_or(0, |i| i + 1);
        text[line..m.start()].len() - text[line..m.start()].trim_start().len()
    });
    let next_entry = Regex::new(&format!(r"(?m)^ {{{indent}}}-\s")).ok()?;
    let to = next_entry
        .find(&text[from..])
        .map_or(text.len(), |m| from + m.start());
    let key_re = Regex::new(&format!(
        r"(?m)^\s*['\x22]?{}['\x22]?\s*:",
        regex::escape(key)
    ))
    .ok()?;
    let found = key_re.find(&text[from..to])?;
    let offset = from + found.start() + (found.as_str().len() - found.as_str().trim_start().len());
    Some((path, text, offset))
}

fn relative_to(root: &std::path::Path, path: &std::path::Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

fn relative_to_any(
    yaml_path: &std::path::Path,
    node_abs: &std::path::Path,
    node_rel: &str,
) -> String {
    // The package root is the node's absolute path minus its relative path.
    // Worked out on the text when both paths are plain (the usual case):
    // taking paths apart was most of attaching a patch to each node.
    if let (Some(abs), Some(yaml)) = (node_abs.to_str(), yaml_path.to_str())
        && let Some(root) = abs.strip_suffix(node_rel)
        && root.ends_with('/')
        && let Some(rest) = yaml.strip_prefix(root)
        && !rest.is_empty()
        && !rest.starts_with(['/', '.'])
        && !rest.ends_with(['/', '.'])
        && !rest.contains("//")
        && !rest.contains("/.")
    {
        return rest.replace('\\', "/");
    }
    relative_to_any_by_components(yaml_path, node_abs, node_rel)
}

fn relative_to_any_by_components(
    yaml_path: &std::path::Path,
    node_abs: &std::path::Path,
    node_rel: &str,
) -> String {
    let depth = node_rel.split('/').count();
    let mut root = node_abs.to_path_buf();
    for _ in 0..depth {
        root.pop();
    }
    relative_to(&root, yaml_path)
}

/// Replaces each `fixture: name` of a unit test's `given` inputs and
/// `expect` by the rows of the fixture file `<test path>/fixtures/**/name.csv`
/// (or `.sql` with `format: sql`), as dbt reads them.
fn resolve_fixtures(
    raw: &mut serde_json::Value,
    root: &std::path::Path,
    test_paths: &[String],
) -> Result<(), String> {
    let mut blocks: Vec<&mut serde_json::Value> = Vec::new();
    let (given, expect) = match raw {
        serde_json::Value::Object(m) => {
            let mut given = None;
            let mut expect = None;
            for (k, v) in m.iter_mut() {
                match k.as_str() {
                    "given" => given = Some(v),
                    "expect" => expect = Some(v),
                    _ => {}
                }
            }
            (given, expect)
        }
        _ => return Ok(()),
    };
    if let Some(serde_json::Value::Array(items)) = given {
        blocks.extend(items.iter_mut());
    }
    if let Some(e) = expect {
        blocks.push(e);
    }
    for block in blocks {
        let Some(name) = block
            .get("fixture")
            .and_then(|f| f.as_str())
            .map(str::to_string)
        else {
            continue;
        };
        let format = block
            .get("format")
            .and_then(|f| f.as_str())
            .unwrap_or("dict")
            .to_string();
        let ext = match format.as_str() {
            "csv" => "csv",
            "sql" => "sql",
            other => {
                return Err(format!(
                    "`fixture: {name}` needs `format: csv` or `format: sql` (found `{other}`)"
                ));
            }
        };
        let found = test_paths.iter().find_map(|tp| {
            walkdir::WalkDir::new(root.join(tp).join("fixtures"))
                .into_iter()
                .filter_map(Result::ok)
                .find(|e| {
                    e.file_type().is_file()
                        && e.path().file_stem().is_some_and(|s| s == name.as_str())
                        && e.path().extension().is_some_and(|x| x == ext)
                })
                .map(|e| e.into_path())
        });
        let Some(path) = found else {
            return Err(format!(
                "fixture `{name}` not found: no {name}.{ext} under {}",
                test_paths
                    .iter()
                    .map(|t| format!("{t}/fixtures/"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        };
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read fixture {}: {e}", path.display()))?;
        if let serde_json::Value::Object(m) = block {
            m.remove("fixture");
            m.insert("rows".into(), serde_json::Value::String(text));
        }
    }
    Ok(())
}

/// The `input:` of every `given` of a unit test, checked for shape: inputs
/// are `ref(...)`, `source(...)` or `this`; rows suit their format; there is
/// an `expect`.
fn unit_test_inputs(raw: &serde_json::Value) -> Result<Vec<String>, String> {
    let given = raw
        .get("given")
        .and_then(|g| g.as_array())
        .ok_or("`given` must be a list of inputs")?;
    let mut inputs = Vec::new();
    for (i, g) in given.iter().enumerate() {
        let input = g
            .get("input")
            .and_then(|v| v.as_str())
            .ok_or(format!("given #{} has no `input:`", i + 1))?;
        if input.trim() != "this" && !LITERAL_REF.is_match(input) {
            return Err(format!(
                "given input `{input}` must be ref('model'), source('source', 'table') or this"
            ));
        }
        check_rows(g).map_err(|e| format!("given input `{input}`: {e}"))?;
        if input.trim() != "this" {
            inputs.push(input.trim().to_string());
        }
    }
    let expect = raw.get("expect").ok_or("`expect` is missing")?;
    check_rows(expect).map_err(|e| format!("expect: {e}"))?;
    Ok(inputs)
}

fn check_rows(block: &serde_json::Value) -> Result<(), String> {
    let format = block
        .get("format")
        .and_then(|f| f.as_str())
        .unwrap_or("dict");
    let rows = block.get("rows");
    match (format, rows) {
        ("dict", Some(serde_json::Value::Array(items))) if items.iter().all(|r| r.is_object()) => {
            Ok(())
        }
        ("dict", _) => Err("`rows` must be a list of mappings (column: value)".into()),
        ("csv" | "sql", Some(serde_json::Value::String(_))) => Ok(()),
        ("csv" | "sql", _) => Err(format!("`rows` must be text with format: {format}")),
        (other, _) => Err(format!("format `{other}` is not dict, csv or sql")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn boxed(kind: ResourceType, name: &str) -> Box<ParsedNode> {
        Box::new(blank_node(
            format!("{kind}.p.{name}"),
            kind,
            "p",
            name,
            vec!["p".into(), name.into()],
        ))
    }

    fn messages(diags: &Diagnostics) -> Vec<&str> {
        diags.iter().map(|d| d.message.as_str()).collect()
    }

    #[test]
    fn a_batch_is_inserted_as_one_node_at_a_time_would_be() {
        use ResourceType::{Model, Seed, Snapshot};
        let mut parsed = ParsedProject::default();
        let mut diags = Diagnostics::default();
        insert_batch(
            &mut parsed,
            vec![boxed(Model, "b"), boxed(Model, "a"), boxed(Snapshot, "c")],
            &mut diags,
        );
        assert!(diags.is_empty());
        let ids: Vec<&str> = parsed.nodes.keys().map(String::as_str).collect();
        assert_eq!(ids, ["model.p.a", "model.p.b", "snapshot.p.c"]);

        // Clashes within the batch: the first of each name stays, each later
        // one is reported, in the batch's order.
        let mut parsed = ParsedProject::default();
        let mut diags = Diagnostics::default();
        insert_batch(
            &mut parsed,
            vec![
                boxed(Snapshot, "x"),
                boxed(Model, "y"),
                boxed(Model, "x"),
                boxed(Model, "y"),
            ],
            &mut diags,
        );
        let ids: Vec<&str> = parsed.nodes.keys().map(String::as_str).collect();
        assert_eq!(ids, ["model.p.y", "snapshot.p.x"]);
        assert_eq!(
            messages(&diags),
            [
                "model `x` has the same name as snapshot ",
                "two models are named `y` in package `p`"
            ]
        );

        // A clash with a node already in the map.
        let mut diags = Diagnostics::default();
        insert_batch(
            &mut parsed,
            vec![boxed(Seed, "y"), boxed(Seed, "z")],
            &mut diags,
        );
        assert_eq!(messages(&diags), ["seed `y` has the same name as model "]);
        assert!(parsed.nodes.contains_key("seed.p.z"));
        assert!(!parsed.nodes.contains_key("seed.p.y"));
    }

    #[test]
    fn patch_paths_from_text_match_those_from_path_components() {
        let cases = [
            ("/p/models/schema.yml", "/p/models/a.sql", "models/a.sql"),
            (
                "/p/models/x/schema.yml",
                "/p/models/x/y/a.sql",
                "models/x/y/a.sql",
            ),
            ("/p/project/props.yml", "/p/models/a.sql", "models/a.sql"),
            ("/p/./models/s.yml", "/p/./models/a.sql", "models/a.sql"),
            ("/p//models/s.yml", "/p/models/a.sql", "models/a.sql"),
            ("/q/models/s.yml", "/p/models/a.sql", "models/a.sql"),
            ("/p/models/./s.yml", "/p/models/a.sql", "models/a.sql"),
            ("/p/models/.hidden.yml", "/p/models/a.sql", "models/a.sql"),
            ("/p/models/s.yml", "/p/models/a.sql", "other.sql"),
        ];
        for (yaml, abs, rel) in cases {
            assert_eq!(
                relative_to_any(Path::new(yaml), Path::new(abs), rel),
                relative_to_any_by_components(Path::new(yaml), Path::new(abs), rel),
                "{yaml} {abs} {rel}"
            );
        }
        assert_eq!(
            relative_to_any(
                Path::new("/p/models/x/schema.yml"),
                Path::new("/p/models/x/a.sql"),
                "models/x/a.sql"
            ),
            "models/x/schema.yml"
        );
    }
}
