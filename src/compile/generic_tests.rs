//! Data tests declared in YAML (`unique`, `accepted_values`, custom generic
//! tests, package tests such as `dbt_utils.expression_is_true`) become test
//! nodes here, named and identified the way dbt names them.

use super::environment::Compiler;
use super::node::{ParsedNode, ParsedProject, TestMetadata};
use super::node_parts::{LineIndex, blank_node, default_config};
use super::scope::{RefCall, SourceCall};
use super::world::INTERNAL_PACKAGE;
use crate::diagnostics::{Diagnostics, closest_names, codes, did_you_mean};
use crate::project::config::{Config, merge_into};
use crate::project::properties::{NodePatch, TestDef};
use crate::project::{Package, Project, ResourceType};
use regex::Regex;
use serde_json::Value;
use std::sync::{Arc, LazyLock};

static ARG_REF: LazyLock<Regex> = LazyLock::new(|| {
    crate::regexes::static_regex(
        r#"\b(ref|source)\s*\(\s*['"]([^'"]+)['"](?:\s*,\s*['"]([^'"]+)['"])?\s*\)"#,
    )
});
static NON_WORD: LazyLock<Regex> =
    LazyLock::new(|| crate::regexes::static_regex(r"[^0-9a-zA-Z_]+"));

/// What a test is attached to.
struct Parent<'a> {
    unique_id: String,
    /// `orders` for a model, `source_shop_orders` for a source table.
    name_for_test: String,
    /// `ref('orders')` or `source('shop', 'orders')`.
    expression: String,
    /// The call `expression` makes, known without reading it back.
    call: Option<Call>,
    package: &'a Package,
}

impl Parent<'_> {
    /// The `ref()`/`source()` calls of the parent's expression. Built from
    /// its parts when reading it back (a regex, 5,000 instructions a
    /// parent) would find exactly them: names without quotes.
    fn calls(&self) -> Vec<Call> {
        match &self.call {
            Some(call) => vec![call.clone()],
            None => calls_in(&self.expression),
        }
    }
}

/// Whether `names` can be written in a quoted call and read back as they
/// are.
fn quotable(names: &[&str]) -> bool {
    names
        .iter()
        .all(|n| !n.is_empty() && !n.contains(['\'', '"']))
}

/// `ref('name')` and the call it makes.
fn ref_expression(name: &str) -> (String, Option<Call>) {
    let expression = format!("ref('{name}')");
    let call = quotable(&[name]).then(|| Call {
        text: expression.clone(),
        kind: Some(CallKind::Ref(RefCall {
            package: None,
            name: name.to_string(),
            version: None,
        })),
    });
    (expression, call)
}

/// `ref('name', v=2)` and the call it makes.
fn versioned_ref_expression(name: &str, version: &str) -> (String, Option<Call>) {
    let literal = if version.parse::<f64>().is_ok() {
        version.to_string()
    } else {
        format!("'{version}'")
    };
    let expression = format!("ref('{name}', v={literal})");
    let call = quotable(&[name, version]).then(|| Call {
        text: expression.clone(),
        kind: Some(CallKind::Ref(RefCall {
            package: None,
            name: name.to_string(),
            version: Some(version.to_string()),
        })),
    });
    (expression, call)
}

/// `source('source', 'table')` and the call it makes.
fn source_expression(source: &str, table: &str) -> (String, Option<Call>) {
    let expression = format!("source('{source}', '{table}')");
    let call = quotable(&[source, table]).then(|| Call {
        text: expression.clone(),
        kind: Some(CallKind::Source(SourceCall {
            source_name: source.to_string(),
            table_name: table.to_string(),
        })),
    });
    (expression, call)
}

// The nodes end up boxed in the parsed project; boxing them here spares
// moving kilobyte-sized values between lists on the way.
#[allow(clippy::vec_box)]
pub fn build_generic_tests(
    project: &Project,
    compiler: &Compiler,
    parsed: &ParsedProject,
    patches: &super::node_parts::PatchIndex,
    diags: &mut Diagnostics,
) -> Vec<Box<ParsedNode>> {
    type Job<'a> = (
        Parent<'a>,
        &'a [TestDef],
        &'a [crate::project::properties::ColumnDef],
    );
    use rayon::prelude::*;
    // Patches are keyed uniquely, so an unstable sort gives a fixed order.
    let mut ordered: Vec<&NodePatch> = patches.patches().collect();
    ordered.par_sort_unstable_by(|a, b| {
        (&a.package, &a.kind, &a.name).cmp(&(&b.package, &b.kind, &b.name))
    });
    let mut jobs: Vec<Job<'_>> = ordered
        .par_iter()
        .filter_map(|patch| {
            let package = project.packages.iter().find(|p| p.name == patch.package)?;
            let kind = match patch.kind.as_str() {
                "models" => "model",
                "seeds" => "seed",
                "snapshots" => "snapshot",
                _ => return None,
            };
            // A model version's tests name `<model>_v<v>` and read
            // `ref('<model>', v=<v>)`, as dbt's do.
            let (unique_id, name_for_test, (expression, call)) = match patch.version.as_deref() {
                Some(v) => (
                    format!("{kind}.{}.{}.v{}", package.name, v.model, v.version),
                    format!("{}_v{}", v.model, v.version),
                    versioned_ref_expression(&v.model, &v.version),
                ),
                None => (
                    format!("{kind}.{}.{}", package.name, patch.name),
                    patch.name.clone(),
                    ref_expression(&patch.name),
                ),
            };
            if !parsed.nodes.contains_key(&unique_id) {
                return None;
            }
            let parent = Parent {
                unique_id,
                name_for_test,
                expression,
                call,
                package,
            };
            Some((parent, &patch.tests[..], &patch.columns[..]))
        })
        .collect();
    for package in &project.packages {
        for s in &package.properties.sources {
            let unique_id = format!("source.{}.{}.{}", package.name, s.source_name, s.name);
            if !parsed.nodes.contains_key(&unique_id) {
                continue;
            }
            let (expression, call) = source_expression(&s.source_name, &s.name);
            let parent = Parent {
                unique_id,
                name_for_test: format!("source_{}_{}", s.source_name, s.name),
                expression,
                call,
                package,
            };
            jobs.push((parent, &s.tests, &s.columns));
        }
    }
    // Each parent's tests build on their own (in parallel); duplicates are
    // then dropped in a fixed order, so the output does not depend on timing.
    let built: Vec<(Vec<Box<ParsedNode>>, Diagnostics)> = jobs
        .par_iter()
        .map_init(
            || (LineIndex::default(), Vec::new()),
            |(lines, recent_configs), (parent, tests, columns)| {
                let mut found = Diagnostics::default();
                let mut builder = TestBuilder {
                    project,
                    compiler,
                    lines,
                    recent_configs,
                    diags: &mut found,
                    out: Vec::new(),
                };
                builder.attach(parent, tests, columns);
                let out = builder.out;
                (out, found)
            },
        )
        .collect();
    // Which to keep is decided on borrowed ids, before the nodes move.
    let mut keep: Vec<bool> = Vec::with_capacity(built.iter().map(|(n, _)| n.len()).sum());
    {
        let mut seen_ids: std::collections::HashSet<&str, rustc_hash::FxBuildHasher> =
            std::collections::HashSet::with_capacity_and_hasher(
                keep.capacity(),
                Default::default(),
            );
        for (nodes, _) in &built {
            keep.extend(nodes.iter().map(|n| seen_ids.insert(n.unique_id.as_str())));
        }
    }
    let mut keep = keep.into_iter();
    let mut out = Vec::with_capacity(keep.len());
    for (nodes, found) in built {
        diags.extend(found);
        out.extend(nodes.into_iter().filter(|_| keep.next().unwrap_or(false)));
    }
    out
}

/// Collects the test nodes of one parse, each once.
#[allow(clippy::vec_box)]
struct TestBuilder<'a> {
    project: &'a Project,
    compiler: &'a Compiler,
    lines: &'a mut LineIndex,
    /// Configs of the tests built last: the next one usually has an equal one.
    recent_configs: &'a mut Vec<Arc<Config>>,
    diags: &'a mut Diagnostics,
    out: Vec<Box<ParsedNode>>,
}

/// What every test of one parent shares, worked out once per parent: most
/// parents have a few tests, all declared in the same property file.
struct Shared<'a> {
    /// Line starts of the property files seen on this thread.
    lines: &'a mut LineIndex,
    /// The `ref()`/`source()` calls of the parent's expression.
    parent_calls: Vec<Call>,
    /// The property file last seen, its path relative to the package, and
    /// its folders (part of the tests' fqn).
    yaml: Option<(Arc<crate::yaml::SourceFile>, String, Vec<String>)>,
    /// A test's config when neither folders nor the test configure it.
    default_config: Arc<Config>,
}

/// A `ref()` or `source()` found in a test argument: its text and the call
/// (none for a `source()` naming no table).
#[derive(Clone, Debug, PartialEq)]
struct Call {
    text: String,
    kind: Option<CallKind>,
}

#[derive(Clone, Debug, PartialEq)]
enum CallKind {
    Ref(RefCall),
    Source(SourceCall),
}

fn calls_in(expression: &str) -> Vec<Call> {
    ARG_REF
        .captures_iter(expression)
        .map(|c| {
            let a = c.get(2).map(|m| m.as_str().to_string()).unwrap_or_default();
            let b = c.get(3).map(|m| m.as_str().to_string());
            let kind = if &c[1] == "ref" {
                let (package, name) = match b {
                    Some(b) => (Some(a), b),
                    None => (None, a),
                };
                Some(CallKind::Ref(RefCall {
                    package,
                    name,
                    version: None,
                }))
            } else {
                b.map(|table_name| {
                    CallKind::Source(SourceCall {
                        source_name: a,
                        table_name,
                    })
                })
            };
            Call {
                text: c[0].to_string(),
                kind,
            }
        })
        .collect()
}

impl TestBuilder<'_> {
    /// The tests of a node and of its columns.
    fn attach(
        &mut self,
        parent: &Parent,
        tests: &[TestDef],
        columns: &[crate::project::properties::ColumnDef],
    ) {
        let column_tests = columns.iter().flat_map(|c| {
            c.tests
                .iter()
                .map(move |t| (t, Some((&c.name, c.quote.unwrap_or(false)))))
        });
        let mut shared = Shared {
            lines: self.lines,
            parent_calls: parent.calls(),
            yaml: None,
            // Shared across parents too, through the recent configs.
            default_config: crate::project::config::share_recent(
                Arc::new(default_config(ResourceType::Test)),
                self.recent_configs,
            ),
        };
        for (t, column) in tests.iter().map(|t| (t, None)).chain(column_tests) {
            if let Some(n) = build_one(
                self.project,
                self.compiler,
                parent,
                t,
                column,
                &mut shared,
                self.diags,
            ) {
                let mut n = Box::new(n);
                if !Arc::ptr_eq(&n.config, &shared.default_config) {
                    n.config = crate::project::config::share_recent(
                        std::mem::replace(&mut n.config, crate::project::config::empty_shared()),
                        self.recent_configs,
                    );
                }
                self.out.push(n);
            }
        }
    }
}

fn build_one(
    project: &Project,
    compiler: &Compiler,
    parent: &Parent,
    def: &TestDef,
    column: Option<(&String, bool)>,
    shared: &mut Shared,
    diags: &mut Diagnostics,
) -> Option<ParsedNode> {
    let package = parent.package;
    let (namespace, short) = match def.test_name.split_once('.') {
        Some((ns, name)) => (Some(ns.to_string()), name.to_string()),
        None => (None, def.test_name.clone()),
    };
    let macro_name = concat(&["test_", &short]);
    let world = &compiler.world;
    let found = match &namespace {
        Some(ns) => world.find_macro(ns, &macro_name),
        None => world
            .find_macro(&world.root_package, &macro_name)
            .or_else(|| world.find_macro(&package.name, &macro_name))
            .or_else(|| world.find_macro(INTERNAL_PACKAGE, &macro_name)),
    };
    let Some(found) = found.cloned() else {
        diags.push(unknown_test(world, def, parent));
        return None;
    };

    let mut kwargs = def.args.clone();
    if let Some((col, _)) = column {
        kwargs.insert("column_name".into(), Value::String(col.clone()));
    }
    let (name, file_name) = match &def.custom_name {
        Some(custom) => (custom.clone(), custom.clone()),
        None => synthesize_name(&short, &parent.name_for_test, &kwargs, namespace.as_deref()),
    };
    let (unique_id, hash) = test_id(&package.name, &name, &parent.unique_id, &kwargs);

    let raw_code = test_call(world, parent, def, column, &namespace, &macro_name);

    let (yaml_rel, dirs) = match &shared.yaml {
        Some((file, rel, dirs)) if Arc::ptr_eq(file, &def.origin.file) => (rel.clone(), dirs),
        _ => {
            let rel = def
                .origin
                .file
                .path
                .strip_prefix(&package.root)
                .unwrap_or(&def.origin.file.path)
                .to_string_lossy()
                .replace('\\', "/");
            let parts: Vec<&str> = rel.split('/').collect();
            let dirs = if parts.len() > 2 {
                parts[1..parts.len() - 1]
                    .iter()
                    .map(|d| d.to_string())
                    .collect()
            } else {
                Vec::new()
            };
            let (_, rel, dirs) = shared.yaml.insert((def.origin.file.clone(), rel, dirs));
            (rel.clone(), &*dirs)
        }
    };
    let mut fqn = Vec::with_capacity(dirs.len() + 2);
    fqn.push(package.name.clone());
    fqn.extend(dirs.iter().cloned());
    fqn.push(name.clone());

    let mut node = blank_node(
        unique_id,
        ResourceType::Test,
        &package.name,
        &name,
        fqn.clone(),
    );
    let from_folders = super::node_parts::folder_config(project, package, ResourceType::Test, &fqn);
    node.config = if from_folders.is_empty() && def.config.is_empty() {
        shared.default_config.clone()
    } else {
        let mut config = default_config(ResourceType::Test);
        merge_into(&mut config, &from_folders);
        merge_into(&mut config, &def.config);
        Arc::new(config)
    };
    if !def.config.is_empty() {
        node.unrendered_config = Arc::new(def.config.clone());
    }
    node.path = concat(&[&file_name, ".sql"]);
    node.alias = file_name;
    node.original_file_path = yaml_rel;
    node.abs_path = def.origin.file.path.clone();
    node.file_text = def.origin.file.text.clone();
    node.raw_code = raw_code.into();
    node.checksum = hash[..32].to_string();
    node.attached_node = Some(parent.unique_id.clone());
    node.column_name = column.map(|(c, _)| c.clone());
    node.macros = vec![
        found.unique_id.clone(),
        concat(&["macro.", INTERNAL_PACKAGE, ".get_where_subquery"]),
    ];
    node.macros.sort();
    node.macros.dedup();
    node.test_metadata = Some(Box::new(TestMetadata {
        name: short,
        kwargs: with_model(&kwargs, &parent.expression).into(),
        namespace,
    }));
    let offset = shared.lines.offset(
        &def.origin.file.text,
        def.origin.mark.line,
        def.origin.mark.column,
    );
    let arg_calls: Vec<Call> = arg_strings(&def.args)
        .iter()
        .flat_map(|expr| calls_in(expr))
        .collect();
    let call_len = def.test_name.len().max(1);
    for call in shared.parent_calls.iter().chain(&arg_calls) {
        node.call_sites.push((call.text.clone(), offset, call_len));
        match &call.kind {
            Some(CallKind::Ref(r)) => node.refs.push(r.clone()),
            Some(CallKind::Source(s)) => node.sources.push(s.clone()),
            None => {}
        }
    }
    let parent_node_kind = parent.unique_id.split('.').next().unwrap_or_default();
    if parent_node_kind == "source" {
        node.database = world.target_database.clone();
    }
    node.schema = world.target_schema.clone();
    node.database = world.target_database.clone();
    node.shrink_lists();
    Some(node)
}

/// A data test whose macro no package defines, with the closest names.
fn unknown_test(
    world: &super::world::World,
    def: &TestDef,
    parent: &Parent,
) -> crate::diagnostics::Diagnostic {
    let known: Vec<String> = world
        .macros
        .iter()
        .flat_map(|(pkg, ms)| {
            ms.keys().filter_map(move |k| {
                k.strip_prefix("test_").map(|t| {
                    if pkg == INTERNAL_PACKAGE || *pkg == world.root_package {
                        t.to_string()
                    } else {
                        format!("{pkg}.{t}")
                    }
                })
            })
        })
        .collect();
    def.origin
        .file
        .error_at(def.origin.mark, codes::MISSING_MACRO, format!("unknown data test `{}` on `{}`", def.test_name, parent.name_for_test))
        .with_help(did_you_mean(
            &closest_names(&def.test_name, known.iter().map(String::as_str)),
            "define it with {% test name(model, column_name) %} under macros/ or tests/generic/, or install its package",
        ))
}

/// A data test's unique id and hash, as dbt makes them from its name, its
/// parent and its arguments.
fn test_id(
    package: &str,
    name: &str,
    parent_id: &str,
    kwargs: &serde_json::Map<String, Value>,
) -> (String, String) {
    // The hash of `name|parent id|kwargs as JSON`, written into one buffer
    // by the manifest's JSON writer (the same bytes as `serde_json`) and
    // hashed at once: fed to the hasher piece by piece, each of a dozen
    // small writes cost a hasher update.
    let mut hashed = Vec::with_capacity(name.len() + parent_id.len() + 64);
    hashed.extend_from_slice(name.as_bytes());
    hashed.push(b'|');
    hashed.extend_from_slice(parent_id.as_bytes());
    hashed.push(b'|');
    // Cannot fail: a map with string keys always serializes.
    let _ = crate::json::write(&mut hashed, &kwargs);
    let hash = blake3::hash(&hashed).to_hex();
    let unique_id = concat(&["test.", package, ".", name, ".", &hash[..10]]);
    (unique_id, hash.to_string())
}

/// The Jinja a data test renders: its macro called with the parent as
/// `model`, the column and the test's arguments.
fn test_call(
    world: &super::world::World,
    parent: &Parent,
    def: &TestDef,
    column: Option<(&String, bool)>,
    namespace: &Option<String>,
    macro_name: &str,
) -> String {
    let mut call_args = vec![concat(&[
        "model=get_where_subquery(",
        &parent.expression,
        ")",
    ])];
    if let Some((col, quote)) = column {
        let col = if quote {
            world.dialect.quote_identifier(col)
        } else {
            col.clone()
        };
        call_args.push(concat(&[
            "column_name=",
            &jinja_literal(&Value::String(col)),
        ]));
    }
    for (k, v) in &def.args {
        call_args.push(concat(&[k, "=", &jinja_literal(v)]));
    }
    let callee = match namespace {
        Some(ns) => concat(&[ns, ".", macro_name]),
        None => macro_name.to_string(),
    };
    concat(&["{{ ", &callee, "(", &call_args.join(", "), ") }}"])
}

fn with_model(
    kwargs: &serde_json::Map<String, Value>,
    parent_expression: &str,
) -> serde_json::Map<String, Value> {
    let mut k = kwargs.clone();
    k.insert(
        "model".into(),
        Value::String(concat(&[
            "{{ get_where_subquery(",
            parent_expression,
            ") }}",
        ])),
    );
    k
}

fn arg_strings(args: &serde_json::Map<String, Value>) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Value::Object(o) => o.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    args.values().for_each(|v| walk(v, &mut out));
    out
}

/// dbt's test names: `not_null_orders_order_id`,
/// `accepted_values_orders_status__placed__shipped`, and a hashed short form
/// past 63 characters.
pub fn synthesize_name(
    test: &str,
    target: &str,
    kwargs: &serde_json::Map<String, Value>,
    namespace: Option<&str>,
) -> (String, String) {
    let mut flat: Vec<String> = Vec::new();
    let mut keys: Vec<&String> = kwargs.keys().collect();
    keys.sort();
    for k in keys {
        match &kwargs[k] {
            Value::Array(items) => flat.extend(items.iter().map(value_text)),
            Value::Object(map) => flat.extend(map.values().map(value_text)),
            other => flat.push(value_text(other)),
        }
    }
    let clean: Vec<String> = flat
        .into_iter()
        .map(|a| {
            if a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                a
            } else {
                NON_WORD.replace_all(&a, "_").into_owned()
            }
        })
        .collect();
    let identifier = match namespace {
        Some(ns) => concat(&[ns, "_", test, "_", target]),
        None => concat(&[test, "_", target]),
    };
    let full = if clean.is_empty() {
        identifier.clone()
    } else {
        concat(&[&identifier, "_", &clean.join("__")])
    };
    // dbt: a name of 64 characters or more keeps its full form as the
    // node's name, and a short one (30 characters and the name's MD5) as
    // its alias and file name.
    if full.len() >= 64 {
        let trunc: String = identifier.chars().take(30).collect();
        let short = concat(&[&trunc, "_", &super::functions::md5_hex(&full)]);
        (full, short)
    } else {
        (full.clone(), full)
    }
}

/// `parts` joined into one string sized once: `format!` cost 670
/// instructions a string here, and every data test makes ten.
fn concat(parts: &[&str]) -> String {
    let mut joined = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for part in parts {
        joined.push_str(part);
    }
    joined
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A JSON value as a Jinja expression; strings holding `ref(...)` or
/// `source(...)` stay expressions, as dbt evaluates them.
pub fn jinja_literal(v: &Value) -> String {
    match v {
        Value::Null => "none".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => {
            let t = s.trim();
            if (t.starts_with("ref(") || t.starts_with("source("))
                && t.ends_with(')')
                && ARG_REF.is_match(t)
            {
                t.to_string()
            } else if let Some(expr) = t
                .strip_prefix("{{")
                .and_then(|r| r.strip_suffix("}}"))
                .filter(|e| !e.contains("{{") && !e.contains("}}"))
            {
                // dbt renders Jinja in test arguments; a whole `{{ expr }}` keeps its type.
                format!("({})", expr.trim())
            } else if t.contains("{{") || t.contains("{%") {
                // Jinja inside a longer string: rendered as a string.
                let text = serde_json::to_string(s).unwrap_or_else(|_| "''".into());
                format!("__rdbt_render({text})")
            } else {
                serde_json::to_string(s).unwrap_or_else(|_| "''".into())
            }
        }
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(jinja_literal)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!(
                    "{}: {}",
                    serde_json::to_string(k).unwrap_or_default(),
                    jinja_literal(v)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kw(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn names_follow_dbt() {
        assert_eq!(
            synthesize_name(
                "not_null",
                "orders",
                &kw(json!({"column_name": "order_id"})),
                None
            )
            .0,
            "not_null_orders_order_id"
        );
        assert_eq!(
            synthesize_name(
                "accepted_values",
                "orders",
                &kw(json!({"column_name": "status", "values": ["placed", "shipped"]})),
                None
            )
            .0,
            "accepted_values_orders_status__placed__shipped"
        );
        assert_eq!(
            synthesize_name(
                "relationships",
                "orders",
                &kw(
                    json!({"column_name": "customer_id", "to": "ref('customers')", "field": "customer_id"})
                ),
                None
            )
            .0,
            "relationships_orders_customer_id__customer_id__ref_customers_"
        );
    }

    #[test]
    fn long_names_are_hashed() {
        let (name, alias) = synthesize_name(
            "accepted_values",
            "a_really_long_model_name_for_testing",
            &kw(json!({"column_name": "status", "values": ["one", "two", "three", "four"]})),
            None,
        );
        // #28: as dbt, the node keeps its full name (what --select matches)
        // and the MD5-hashed short form is its alias and file name.
        assert_eq!(
            name,
            "accepted_values_a_really_long_model_name_for_testing_status__one__two__three__four"
        );
        assert_eq!(
            alias,
            format!(
                "accepted_values_a_really_long__{}",
                crate::compile::functions::md5_hex(&name)
            )
        );
        assert_eq!(
            crate::compile::functions::md5_hex("abc"),
            "900150983cd24fb0d6963f7d28e17f72"
        );
    }

    #[test]
    fn a_parents_call_is_the_one_its_expression_reads_as() {
        for name in ["orders", "a b", "x-y.z", "it's", "", "é"] {
            let (expression, call) = ref_expression(name);
            if let Some(call) = call {
                assert_eq!(vec![call], calls_in(&expression), "{name}");
            }
            let (expression, call) = source_expression("shop", name);
            if let Some(call) = call {
                assert_eq!(vec![call], calls_in(&expression), "{name}");
            }
        }
        assert!(ref_expression("orders").1.is_some());
        assert!(ref_expression("it's").1.is_none());
    }

    #[test]
    fn refs_in_args_stay_expressions() {
        assert_eq!(
            jinja_literal(&json!("ref('customers')")),
            "ref('customers')"
        );
        assert_eq!(jinja_literal(&json!(["a", null, 1])), "[\"a\", none, 1]");
        assert_eq!(jinja_literal(&json!("{{ var('xs') }}")), "(var('xs'))");
        // #28: Jinja inside a longer argument is rendered, as a string.
        assert_eq!(
            jinja_literal(&json!("a = {{ dbt_date.yesterday('d') }}")),
            "__rdbt_render(\"a = {{ dbt_date.yesterday('d') }}\")"
        );
    }
}
