//! Static analysis of compiled nodes, before anything runs: every model is
//! planned against the schemas of its parents (seeds' inferred types,
//! sources' declared columns, upstream models' inferred output), so an
//! unknown column, a type mismatch or an unknown function is reported at
//! the model's own file and line. What it infers (columns, types, column
//! lineage) is kept on the node for the manifest.

use super::environment::Compiler;
use super::node::{ParsedNode, ParsedProject};
use super::node_config::Materialization;
use super::{Linker, sql_dialect_of};
use crate::diagnostics::{Diagnostic, Diagnostics, Location, codes};
use crate::project::ResourceType;
use crate::sql::analysis::{Analyzer, ModelSchema, TableSchema};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// `--static-analysis`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StaticAnalysis {
    Off,
    #[default]
    On,
    /// A model whose schema cannot be inferred is an error.
    Strict,
}

/// Analyzes the nodes in `ids` and everything upstream of them (compiled
/// here when not compiled yet), in dependency order. The inferred schema of
/// each model is stored on it.
pub fn analyze(
    compiler: &Compiler,
    parsed: &mut ParsedProject,
    ids: &[String],
    mode: StaticAnalysis,
) -> Result<(), Diagnostics> {
    if mode == StaticAnalysis::Off {
        return Ok(());
    }
    let timer = Timer::start();
    let order = upstream_order(parsed, ids);
    let to_compile: Vec<String> = order
        .iter()
        .filter(|id| {
            parsed.nodes.get(*id).is_some_and(|n| {
                n.compiled_code.is_none()
                    && matches!(
                        n.resource_type,
                        ResourceType::Model | ResourceType::Snapshot | ResourceType::Test
                    )
            })
        })
        .cloned()
        .collect();
    timer.lap("order");
    let linker = Linker::for_analysis(compiler, parsed);
    // A node that does not compile yet, or whose SQL depends on querying the
    // warehouse (a macro reading the columns of a table the run has still
    // to build), is left unknown: the run compiles it after its parents.
    let compiled: Vec<(String, String)> = {
        use rayon::prelude::*;
        let snapshot: &ParsedProject = parsed;
        to_compile
            .par_iter()
            .filter_map(|id| {
                linker
                    .compile_for_analysis(compiler, snapshot, id)
                    .ok()
                    .flatten()
                    .map(|sql| (id.clone(), sql))
            })
            .collect()
    };
    for (id, sql) in compiled {
        if let Some(n) = parsed.nodes.get_mut(&id) {
            n.compiled_code = Some(sql);
        }
    }
    timer.lap("compile upstream");
    let analyzer = Analyzer::new().map_err(|e| {
        Diagnostics::from(Diagnostic::internal(format!(
            "static analysis could not start: {e}"
        )))
    })?;
    let mut state = State {
        analyzer,
        known: HashMap::new(),
        diags: Diagnostics::default(),
        inferred: BTreeMap::new(),
    };
    let requested: BTreeSet<&String> = ids.iter().collect();
    timer.lap("planner");
    for level in levels(parsed, &order) {
        // Seeds and sources first and one at a time: they only read files.
        for id in &level {
            let Some(node) = parsed.nodes.get(*id) else {
                continue;
            };
            match node.resource_type {
                ResourceType::Seed => state.seed(node),
                ResourceType::Source => state.source(&compiler.world.land_root, node),
                _ => {}
            }
        }
        let outcomes: Vec<(&String, Outcome)> = {
            use rayon::prelude::*;
            let state = &state;
            let linker = &linker;
            let snapshot: &ParsedProject = parsed;
            level
                .par_iter()
                .filter_map(|id| {
                    let node = snapshot.nodes.get(*id)?;
                    let parents_known = node
                        .depends_on
                        .iter()
                        .filter(|p| snapshot.nodes.get(*p).is_some_and(|n| has_relation(n)))
                        .all(|p| state.known.contains_key(p));
                    let outcome = match node.resource_type {
                        ResourceType::Model | ResourceType::Snapshot if parents_known => {
                            state.model(compiler, linker, snapshot, node)
                        }
                        ResourceType::Model | ResourceType::Snapshot => {
                            // Its columns cannot be checked, its dialect still can.
                            match node
                                .compiled_code
                                .as_ref()
                                .map(|c| linker.executable(compiler, snapshot, &node.unique_id, c))
                            {
                                Some(Err(d)) => Outcome::Diag(d),
                                _ if mode == StaticAnalysis::Strict && requested.contains(*id) => {
                                    Outcome::Diag(unknown_parent_error(
                                        snapshot,
                                        node,
                                        &state.known,
                                    ))
                                }
                                _ => Outcome::Nothing,
                            }
                        }
                        ResourceType::Test if parents_known => {
                            state.test(compiler, linker, snapshot, node)
                        }
                        _ => Outcome::Nothing,
                    };
                    Some((*id, outcome))
                })
                .collect()
        };
        for (id, outcome) in outcomes {
            match outcome {
                Outcome::Nothing => {}
                Outcome::Diag(d) => state.diags.push(d),
                Outcome::Model {
                    schema,
                    model,
                    register,
                } => {
                    if register && let Some(node) = parsed.nodes.get(id) {
                        state.register(node, schema);
                    }
                    state.inferred.insert(id.clone(), model);
                }
            }
        }
    }
    timer.lap("plan every node");
    for (id, schema) in state.inferred {
        if let Some(node) = parsed.nodes.get_mut(&id) {
            node.inferred = Some(Arc::new(schema));
        }
    }
    if state.diags.has_errors() {
        return Err(state.diags);
    }
    Ok(())
}

struct State {
    analyzer: Analyzer,
    /// Nodes whose output schema is known, by unique id.
    known: HashMap<String, TableSchema>,
    diags: Diagnostics,
    inferred: BTreeMap<String, ModelSchema>,
}

fn has_relation(n: &ParsedNode) -> bool {
    matches!(
        n.resource_type,
        ResourceType::Model | ResourceType::Seed | ResourceType::Snapshot | ResourceType::Source
    ) && !(n.resource_type == ResourceType::Model
        && *n.materialized() == Materialization::Ephemeral)
}

impl State {
    fn register(&mut self, node: &ParsedNode, schema: TableSchema) {
        self.analyzer
            .register(&node.unique_id, &node.schema, &node.alias, &schema);
        self.known.insert(node.unique_id.clone(), schema);
    }

    fn seed(&mut self, node: &ParsedNode) {
        let delimiter = node.seed_delimiter();
        let column_types = node.seed_column_types();
        // A seed that cannot be read is reported when it is loaded.
        if let Ok(schema) = self
            .analyzer
            .seed_schema(&node.abs_path, delimiter, &column_types)
        {
            self.register(node, schema);
        }
    }

    /// A source's schema: what has landed for it (that is what models will
    /// read), else its declared columns when every one has a type.
    fn source(&mut self, land_root: &str, node: &ParsedNode) {
        // An external source: its declared columns when they are the table,
        // else (local Parquet) its files' own schema.
        let external = node.source.as_ref().and_then(|info| {
            let block = info.external.as_ref()?;
            let package_root = node
                .abs_path
                .to_string_lossy()
                .strip_suffix(&node.original_file_path)
                .map(std::path::PathBuf::from)?;
            let columns = node
                .columns
                .values()
                .map(|c| (c.name.clone(), c.data_type.clone()))
                .collect();
            use crate::store::external::{ExternalFormat, ExternalSpec};
            let spec = ExternalSpec::parse(block, columns, &package_root).ok()?;
            let local = !spec.location.contains("://") && !spec.location.contains(['*', '?', '[']);
            // Parquet and NDJSON read exactly the declared columns when all
            // are typed (newer files may add others); CSV reads its files'
            // columns, and Hive folders name partition columns only the
            // files show.
            let all_typed =
                !spec.columns.is_empty() && spec.columns.iter().all(|(_, t)| t.is_some());
            let undeclared_partitions = spec.hive && spec.partitions.is_empty();
            let declared_is_the_table =
                spec.format != ExternalFormat::Csv && all_typed && !undeclared_partitions;
            if !declared_is_the_table {
                return Some(
                    (local && spec.format == ExternalFormat::Parquet)
                        .then(|| TableSchema::from_land(std::path::Path::new(&spec.location)))
                        .flatten(),
                );
            }
            let mut columns: Vec<(&str, Option<&str>)> = spec
                .columns
                .iter()
                .map(|(n, t)| (n.as_str(), t.as_deref()))
                .collect();
            for p in &spec.partitions {
                if !columns.iter().any(|(n, _)| n.eq_ignore_ascii_case(&p.name)) {
                    columns.push((
                        p.name.as_str(),
                        Some(p.data_type.as_deref().unwrap_or("string")),
                    ));
                }
            }
            Some(TableSchema::from_declared(columns))
        });
        if let Some(schema) = external {
            // An external source whose columns cannot be known here leaves
            // the models reading it unchecked rather than wrongly checked.
            if let Some(schema) = schema {
                self.register(node, schema);
            }
            return;
        }
        let landed = node.source.as_ref().and_then(|info| {
            if info.ingest.is_none() && info.external.is_none() || land_root.contains("://") {
                return None;
            }
            let table = if info.identifier.is_empty() {
                &node.name
            } else {
                &info.identifier
            };
            TableSchema::from_land(
                &std::path::Path::new(land_root)
                    .join(&info.source_name)
                    .join(table),
            )
        });
        // Nothing landed yet: the declared columns, plus the `dt`/`hr`
        // folders every landed table of an `ingest:` source has (so a
        // model reading them is checked as it will run, not failed).
        let ingested = node.source.as_ref().is_some_and(|i| i.ingest.is_some());
        let declared = || {
            let mut columns: Vec<(&str, Option<&str>)> = node
                .columns
                .values()
                .map(|c| (c.name.as_str(), c.data_type.as_deref()))
                .collect();
            if ingested && !columns.is_empty() {
                for folder in ["dt", "hr"] {
                    if !columns.iter().any(|(n, _)| n.eq_ignore_ascii_case(folder)) {
                        columns.push((folder, Some("string")));
                    }
                }
            }
            TableSchema::from_declared(columns)
        };
        if let Some(schema) = landed.or_else(declared) {
            self.register(node, schema);
        }
    }

    fn model(
        &self,
        compiler: &Compiler,
        linker: &Linker,
        parsed: &ParsedProject,
        node: &ParsedNode,
    ) -> Outcome {
        let Some(compiled) = &node.compiled_code else {
            return Outcome::Nothing;
        };
        let dialect = sql_dialect_of(&compiler.world, &node.config);
        let statement = match crate::sql::translate_statement(compiled, dialect) {
            Ok(statement) => statement,
            Err(e) => {
                // The same translation again, for a diagnostic at the line;
                // SQL already in the engine's dialect is not translated
                // there, so its parse error is reported from here.
                return match linker.executable(compiler, parsed, &node.unique_id, compiled) {
                    Err(d) => Outcome::Diag(d),
                    Ok(_) => Outcome::Diag(super::dialect::sql_error(
                        e,
                        compiled,
                        &node.abs_path,
                        &node.file_text,
                    )),
                };
            }
        };
        match self.analyzer.analyze_statement(
            statement,
            compiler.world.sql_dialect.case_insensitive_columns(),
        ) {
            Ok((mut schema, model)) => {
                if node.resource_type == ResourceType::Snapshot {
                    schema = schema.with_snapshot_columns();
                }
                let register = !(node.resource_type == ResourceType::Model
                    && *node.materialized() == Materialization::Ephemeral);
                Outcome::Model {
                    schema,
                    model,
                    register,
                }
            }
            Err(e) if e.unknown_relation => Outcome::Nothing,
            Err(e) => {
                let dialect = sql_dialect_of(&compiler.world, &node.config);
                // A type mismatch names types, not columns: find its operator.
                let at = e.operator.as_deref().and_then(|op| {
                    let (line, column) = crate::sql::find_binary_operator(compiled, dialect, op)?;
                    super::dialect::source_position(compiled, line, column, &node.file_text)
                });
                let d = match at {
                    Some((line, column)) => {
                        let message = engine_text(&e.message, dialect.name());
                        Diagnostic::error(codes::STATIC_ANALYSIS, message)
                            .at(
                                Location::new(&node.abs_path, line, column),
                                Some(&node.file_text),
                            )
                            .with_help(help(dialect.name()))
                    }
                    None => located(node, &e.message, e.subject.as_deref(), dialect.name()),
                };
                Outcome::Diag(d)
            }
        }
    }

    /// A test on a column its model does not have is reported at the test's
    /// YAML entry, naming the columns there are.
    fn test(
        &self,
        compiler: &Compiler,
        linker: &Linker,
        parsed: &ParsedProject,
        node: &ParsedNode,
    ) -> Outcome {
        if let (Some(column), Some(parent)) = (
            &node.column_name,
            node.attached_node
                .as_ref()
                .and_then(|a| parsed.nodes.get(a)),
        ) && let Some(schema) = self.known.get(&parent.unique_id)
        {
            let bare = column.trim_matches('"').trim_matches('`');
            if !schema.has_column(bare) {
                let names = schema.column_names();
                return Outcome::Diag(
                    yaml_located(
                        node,
                        format!(
                            "test `{}` checks column `{bare}`, which {} `{}` does not have",
                            node.name, parent.resource_type, parent.name
                        ),
                    )
                    .with_help(format!(
                        "its columns are: {}; fix the column name in the YAML",
                        names.join(", ")
                    )),
                );
            }
        }
        // rdbt's own generic tests are right when their columns exist.
        if node
            .test_metadata
            .as_ref()
            .is_some_and(|m| m.namespace.is_none() && BUILTIN_TESTS.contains(&m.name.as_str()))
            && self.builtin_test_columns_exist(node)
        {
            return Outcome::Nothing;
        }
        let Some(compiled) = &node.compiled_code else {
            return Outcome::Nothing;
        };
        let dialect = sql_dialect_of(&compiler.world, &node.config);
        let statement = match crate::sql::translate_statement(compiled, dialect) {
            Ok(statement) => statement,
            Err(e) => {
                return match linker.executable(compiler, parsed, &node.unique_id, compiled) {
                    Err(d) => Outcome::Diag(d),
                    Ok(_) => Outcome::Diag(yaml_located(
                        node,
                        format!("test `{}` cannot run: {}", node.name, e.message),
                    )),
                };
            }
        };
        match self.analyzer.analyze_statement(
            statement,
            compiler.world.sql_dialect.case_insensitive_columns(),
        ) {
            Err(e) if !e.unknown_relation => Outcome::Diag(yaml_located(
                node,
                format!("test `{}` cannot run: {}", node.name, e.message),
            )),
            _ => Outcome::Nothing,
        }
    }
}

/// What checking one node found, applied to the state once its level is
/// done (nodes of one level are checked in parallel).
enum Outcome {
    Nothing,
    Diag(Diagnostic),
    Model {
        schema: TableSchema,
        model: ModelSchema,
        register: bool,
    },
}

/// `RDBT_TIMINGS=1`: how long each step of the analysis took.
struct Timer(Option<std::cell::Cell<std::time::Instant>>);

impl Timer {
    fn start() -> Timer {
        Timer(
            std::env::var_os("RDBT_TIMINGS")
                .map(|_| std::cell::Cell::new(std::time::Instant::now())),
        )
    }

    fn lap(&self, step: &str) {
        if let Some(at) = &self.0 {
            eprintln!(
                "timing:   analysis {step}: {:.1} ms",
                at.get().elapsed().as_secs_f64() * 1000.0
            );
            at.set(std::time::Instant::now());
        }
    }
}

const BUILTIN_TESTS: &[&str] = &["unique", "not_null", "accepted_values", "relationships"];

impl State {
    /// `relationships` also reads a column of another model.
    fn builtin_test_columns_exist(&self, node: &ParsedNode) -> bool {
        let Some(meta) = &node.test_metadata else {
            return false;
        };
        if meta.name != "relationships" {
            return true;
        }
        let field = meta
            .kwargs
            .get("field")
            .and_then(|v| v.as_str())
            .map(|f| f.trim_matches('"').trim_matches('`').to_string());
        let target = node
            .depends_on
            .iter()
            .filter(|d| Some(*d) != node.attached_node.as_ref())
            .find_map(|d| self.known.get(d));
        match (field, target) {
            (Some(field), Some(schema)) => schema.has_column(&field),
            _ => false,
        }
    }
}

/// The error at the first whole-word occurrence of its subject in the SQL
/// that was planned, mapped back to the model's own source (a word in a
/// Jinja branch that did not render is not the one at fault); else at the
/// first occurrence in the source; else at the top of the file.
fn located(node: &ParsedNode, message: &str, subject: Option<&str>, dialect: &str) -> Diagnostic {
    let message = engine_text(message, dialect);
    let d = Diagnostic::error(codes::STATIC_ANALYSIS, message);
    let in_compiled = subject
        .zip(node.compiled_code.as_deref())
        .and_then(|(s, compiled)| {
            let at = find_word(compiled, s)?;
            let line = compiled[..at].matches('\n').count() + 1;
            let column = at - compiled[..at].rfind('\n').map_or(0, |nl| nl + 1) + 1;
            if let Some((line, column)) = super::dialect::source_position(
                compiled,
                line as u64,
                column as u64,
                &node.file_text,
            ) {
                return Some((line, column, s.len()));
            }
            // Jinja changed the line after the word (a ref() or source()): find
            // the line's text up to and including the word in the source.
            let line_start = compiled[..at].rfind('\n').map_or(0, |nl| nl + 1);
            let head = compiled[line_start..at + s.len()].trim_start();
            node.file_text.lines().enumerate().find_map(|(i, l)| {
                l.find(head)
                    .map(|p| (i + 1, p + head.len() - s.len() + 1, s.len()))
            })
        });
    if let Some((line, column, len)) = in_compiled {
        let offset = node
            .file_text
            .split_inclusive('\n')
            .take(line - 1)
            .map(str::len)
            .sum::<usize>()
            + column
            - 1;
        if node.file_text.get(offset..offset + len).is_some() {
            return d
                .at_offset(&node.abs_path, &node.file_text, offset, len)
                .with_help(help(dialect));
        }
    }
    let body_start = node.body_offset.min(node.file_text.len());
    let found = subject.and_then(|s| {
        find_word(&node.file_text[body_start..], s).map(|at| (at + body_start, s.len()))
    });
    let d = match found {
        Some((offset, len)) => d.at_offset(&node.abs_path, &node.file_text, offset, len),
        None => d.at(Location::new(&node.abs_path, 1, 1), Some(&node.file_text)),
    };
    d.with_help(help(dialect))
}

/// The planner's words without its internal framing, with SQL type names.
fn engine_text(message: &str, dialect: &str) -> String {
    crate::sql::types::sql_types_in_message(
        &crate::adapters::datafusion::clean_message(message),
        dialect,
    )
}

fn help(dialect: &str) -> String {
    format!(
        "rdbt planned this {dialect} SQL against the columns its parents produce, without running it; fix the SQL, or pass --static-analysis off to skip the check"
    )
}

fn yaml_located(node: &ParsedNode, message: String) -> Diagnostic {
    let message = engine_text(&message, "");
    let d = Diagnostic::error(codes::STATIC_ANALYSIS, message);
    match node.call_sites.first() {
        Some((_, offset, len)) if node.test_metadata.is_some() => {
            d.at_offset(&node.abs_path, &node.file_text, *offset, *len)
        }
        _ => d.at(Location::new(&node.abs_path, 1, 1), Some(&node.file_text)),
    }
}

/// Byte offset of `word` as a whole identifier (case-insensitive).
fn find_word(text: &str, word: &str) -> Option<usize> {
    if word.is_empty() {
        return None;
    }
    let lower = text.to_ascii_lowercase();
    let needle = word.to_ascii_lowercase();
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut from = 0;
    while let Some(pos) = lower[from..].find(&needle) {
        let at = from + pos;
        let before = lower[..at].chars().next_back();
        let after = lower[at + needle.len()..].chars().next();
        if !before.is_some_and(is_ident) && !after.is_some_and(is_ident) {
            return Some(at);
        }
        from = at + needle.len();
    }
    None
}

fn unknown_parent_error(
    parsed: &ParsedProject,
    node: &ParsedNode,
    known: &HashMap<String, TableSchema>,
) -> Diagnostic {
    let unknown: Vec<String> = node
        .depends_on
        .iter()
        .filter(|p| !known.contains_key(*p))
        .filter_map(|p| {
            parsed
                .nodes
                .get(p)
                .map(|n| format!("{} `{}`", n.resource_type, n.name))
        })
        .collect();
    Diagnostic::error(
        codes::STATIC_ANALYSIS,
        format!(
            "the schema of `{}` cannot be inferred: nothing says what {} produce",
            node.name,
            unknown.join(", ")
        ),
    )
    .at(Location::new(&node.abs_path, 1, 1), Some(&node.file_text))
    .with_help(
        "declare the source's columns with their data_type, or run with --static-analysis on",
    )
}

/// `order` (parents before children) cut into levels: a node's level is one
/// more than its deepest parent's, so a level only reads earlier levels.
fn levels<'a>(parsed: &ParsedProject, order: &'a [String]) -> Vec<Vec<&'a String>> {
    let mut depth: HashMap<&str, usize> = HashMap::with_capacity(order.len());
    let mut levels: Vec<Vec<&String>> = Vec::new();
    for id in order {
        let level = parsed.nodes.get(id).map_or(0, |n| {
            n.depends_on
                .iter()
                .filter_map(|p| depth.get(p.as_str()))
                .max()
                .map_or(0, |d| d + 1)
        });
        depth.insert(id, level);
        if levels.len() <= level {
            levels.resize_with(level + 1, Vec::new);
        }
        levels[level].push(id);
    }
    levels
}

/// `ids` and their ancestors, parents before children.
fn upstream_order(parsed: &ParsedProject, ids: &[String]) -> Vec<String> {
    let mut needed: BTreeSet<String> = BTreeSet::new();
    let mut stack: Vec<String> = ids.to_vec();
    while let Some(id) = stack.pop() {
        if !needed.insert(id.clone()) {
            continue;
        }
        if let Some(n) = parsed.nodes.get(&id) {
            stack.extend(
                n.depends_on
                    .iter()
                    .filter(|p| !needed.contains(*p))
                    .cloned(),
            );
        }
    }
    // Kahn's algorithm over the needed nodes, in id order for determinism.
    let mut indegree: BTreeMap<&String, usize> = needed.iter().map(|id| (id, 0)).collect();
    let mut children: HashMap<&String, Vec<&String>> = HashMap::new();
    for id in &needed {
        if let Some(n) = parsed.nodes.get(id) {
            for p in n.depends_on.iter().filter(|p| needed.contains(*p)) {
                *indegree.entry(id).or_default() += 1;
                children.entry(p).or_default().push(id);
            }
        }
    }
    let mut ready: BTreeSet<&String> = indegree
        .iter()
        .filter(|(_, d)| **d == 0)
        .map(|(id, _)| *id)
        .collect();
    let mut order = Vec::with_capacity(needed.len());
    while let Some(id) = ready.pop_first() {
        order.push(id.clone());
        for child in children.get(id).into_iter().flatten() {
            if let Some(d) = indegree.get_mut(child) {
                *d -= 1;
                if *d == 0 {
                    ready.insert(child);
                }
            }
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::find_word;

    #[test]
    fn words_are_found_whole() {
        assert_eq!(
            find_word("select customer_idx, customer_id", "customer_id"),
            Some(21)
        );
        assert_eq!(find_word("select Amount", "amount"), Some(7));
        assert_eq!(find_word("select amounts", "amount"), None);
    }
}
