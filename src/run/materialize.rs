//! Running one node: seeds load CSV, models materialize as views, tables,
//! incremental tables (append, merge, delete+insert, insert_overwrite with
//! on_schema_change), and data tests count their failing rows.

use super::Shared;
use super::error::RunError;
use super::results::{NodeResult, NodeStatus};
use crate::adapters::datafusion::{ColumnInfo, RelationKind, WriteMode, quote};
use crate::compile::ParsedNode;
use crate::project::ResourceType;
use crate::project::config::ConfigExt;
use std::sync::Arc;

/// Why a node failed, with the SQL it ran when it got that far (written to
/// target/run/ so the user can look at it).
pub(super) struct Failed {
    pub(super) error: RunError,
    pub(super) sql: Option<String>,
}

impl From<RunError> for Failed {
    fn from(error: RunError) -> Self {
        Failed { error, sql: None }
    }
}

type Outcome = Result<NodeResult, Failed>;

/// Runs `node` on the embedded warehouse.
pub(super) async fn run(shared: &Arc<Shared>, node: &ParsedNode) -> NodeResult {
    let id = node.unique_id.as_str();
    let outcome = match node.resource_type {
        ResourceType::Seed => seed(shared, node).await,
        ResourceType::Model => model(shared, node).await,
        ResourceType::Test => test(shared, node).await,
        ResourceType::Snapshot => snapshot(shared, node).await,
        ResourceType::UnitTest => unit_test(shared, node).await,
        other => Err(Failed::from(RunError::Internal(format!(
            "{other} nodes are not run by this command"
        )))),
    };
    match outcome {
        Ok(r) => r,
        Err(f) => {
            let mut r = NodeResult::failed(id, f.error);
            r.relation_name = node.relation_name.clone();
            r.compiled_code = f.sql;
            r
        }
    }
}

/// A warehouse error for a node whose SQL is known.
fn with_sql<'a>(
    shared: &'a Shared,
    node: &'a ParsedNode,
    sql: &str,
) -> impl Fn(crate::adapters::datafusion::WarehouseError) -> Failed + 'a {
    let sql = sql.to_string();
    move |e| Failed {
        error: RunError::Warehouse(format!(
            "{}{}",
            engine_error(node, &e),
            missing_upstream_hint(shared, node, &e.to_string())
        )),
        sql: Some(sql.clone()),
    }
}

pub(super) async fn compile(
    shared: &Arc<Shared>,
    node: &ParsedNode,
    incremental: bool,
) -> Result<String, RunError> {
    let task = shared.clone();
    let id = node.unique_id.clone();
    // Rendering may call back into the warehouse; keep it off the async workers.
    tokio::task::spawn_blocking(move || {
        task.linker
            .compile(&task.compiler, &task.parsed, &id, incremental)
    })
    .await
    .map_err(|e| RunError::Internal(e.to_string()))?
    .map_err(|d| RunError::Compile(render_diagnostic(&d)))
}

/// Compiles a data test: its SQL, and the node with the config its test
/// macro set (`config(fail_calc=...)`).
pub(super) async fn compile_test(
    shared: &Arc<Shared>,
    node: &ParsedNode,
) -> Result<(String, ParsedNode), RunError> {
    let task = shared.clone();
    let id = node.unique_id.clone();
    tokio::task::spawn_blocking(move || task.linker.compile_test(&task.compiler, &task.parsed, &id))
        .await
        .map_err(|e| RunError::Internal(e.to_string()))?
        .map_err(|d| RunError::Compile(render_diagnostic(&d)))
}

/// The SQL the warehouse runs for `sql` compiled from `node`.
pub(super) fn executable(shared: &Shared, node: &ParsedNode, sql: &str) -> Result<String, Failed> {
    shared
        .linker
        .executable(&shared.compiler, &shared.parsed, &node.unique_id, sql)
        .map_err(|d| Failed {
            error: RunError::Compile(render_diagnostic(&d)),
            sql: Some(sql.to_string()),
        })
}

pub(super) fn render_diagnostic(d: &crate::diagnostics::Diagnostic) -> String {
    match &d.location {
        Some(loc) => format!(
            "{} ({}:{}:{})",
            d.message,
            loc.path.display(),
            loc.line,
            loc.column
        ),
        None => d.message.clone(),
    }
}

pub(super) async fn hooks(
    shared: &Arc<Shared>,
    node: &ParsedNode,
    key: &str,
) -> Result<(), RunError> {
    let list: Vec<String> = match node.config.get(key) {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .or_else(|| v.get("sql").and_then(|s| s.as_str()).map(str::to_string))
            })
            .collect(),
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    };
    for hook in list {
        let task = shared.clone();
        let id = node.unique_id.clone();
        let sql = tokio::task::spawn_blocking(move || {
            task.linker
                .render_snippet(&task.compiler, &task.parsed, &id, &hook)
        })
        .await
        .map_err(|e| RunError::Internal(e.to_string()))?
        .map_err(|d| RunError::Hook(format!("in a {key}: {}", render_diagnostic(&d))))?;
        if sql.trim().is_empty() {
            continue;
        }
        let sql = executable(shared, node, &sql)
            .map_err(|f| RunError::Hook(format!("in a {key}: {}", f.error)))?;
        shared
            .execute_statement(&sql, Some(&node.name))
            .await
            .map_err(|e| {
                RunError::Hook(format!("{key} failed: {e}\n  hook SQL: {}", sql.trim()))
            })?;
    }
    Ok(())
}

/// The message of a failed model: the engine's words, where the model is,
/// and where the executed SQL was written.
pub(super) fn engine_error(node: &ParsedNode, e: impl std::fmt::Display) -> String {
    let text = crate::adapters::datafusion::clean_message(&e.to_string());
    // The query engine's own bugs are not the user's: say so, without
    // DataFusion's plea to file a report in its tracker.
    let internal = text.contains("Internal error");
    let text = match text.find("This issue was likely caused by a bug") {
        Some(at) => text[..at].trim_end().to_string(),
        None => text,
    };
    let in_yaml =
        node.original_file_path.ends_with(".yml") || node.original_file_path.ends_with(".yaml");
    let compiled = if node.test_metadata.is_some() || in_yaml {
        format!("{}/{}.sql", node.original_file_path, node.alias)
    } else {
        node.original_file_path.clone()
    };
    let mut message = format!(
        "{text}\n  in {} (compiled SQL: target/run/{}/{compiled})",
        node.original_file_path, node.package_name
    );
    if internal {
        message.push_str(
            "\n  this is an internal error of the embedded query engine, not a problem in your \
             SQL; please report it to rdbt with the compiled SQL",
        );
    }
    message
}

/// "table 'warehouse.main.orders' not found": say which upstream node that
/// is and the command that builds it.
fn missing_upstream_hint(shared: &Shared, node: &ParsedNode, message: &str) -> String {
    let Some(caps) = regex::Regex::new(r"table '(?:[^'.]+\.)?([^'.]+)\.([^'.]+)' not found")
        .ok()
        .and_then(|re| re.captures(message))
    else {
        return String::new();
    };
    let (schema, name) = (&caps[1], &caps[2]);
    let parent = node
        .depends_on
        .iter()
        .filter_map(|id| shared.parsed.nodes.get(id))
        .find(|p| p.schema == schema && p.alias == name);
    match parent {
        Some(p) if p.resource_type == ResourceType::Source => {
            let info = p.source.as_deref();
            let src = info.map(|s| s.source_name.as_str()).unwrap_or_default();
            let (schema, identifier) = (&p.schema, info.map_or(&p.name, |s| &s.identifier));
            if info.is_some_and(|s| s.ingest.is_some()) {
                format!(
                    "\n  source `{src}.{}` has no data in the warehouse yet; land it with `rdbt ingest --select source:{src}.{}`",
                    p.name, p.name
                )
            } else if info.is_some_and(|s| s.external.is_some()) {
                format!(
                    "\n  source `{src}.{}` is external, and no file was found at its `external:` location; check the location, or land the files first",
                    p.name
                )
            } else {
                format!(
                    "\n  source `{src}.{}` is not in the warehouse: no table `{schema}.{identifier}` exists there. rdbt does not load it (it has no `ingest:` or `external:` block): load that table, or correct the source's `schema`/`identifier`",
                    p.name
                )
            }
        }
        Some(p) => {
            let command = match p.resource_type {
                ResourceType::Seed => "seed",
                ResourceType::Snapshot => "snapshot",
                _ => "run",
            };
            format!(
                "\n  upstream {} `{}` has not been built here: run `rdbt {command} -s {}` (or `rdbt build -s +{}`)",
                p.resource_type, p.name, p.name, node.name
            )
        }
        None => String::new(),
    }
}

async fn model(shared: &Arc<Shared>, node: &ParsedNode) -> Outcome {
    let wh = &shared.local();
    let materialized = node.materialized().to_string();
    let existing = wh.relation_kind(&node.schema, &node.alias);
    let incremental = materialized == "incremental"
        && existing == Some(RelationKind::Table)
        && !shared.options.full_refresh
        && !full_refresh_disabled(node);
    let sql = compile(shared, node, incremental).await?;
    let runnable = executable(shared, node, &sql)?;
    let exec_sql = if shared.options.empty {
        format!("SELECT * FROM (\n{runnable}\n) AS __rdbt_empty LIMIT 0")
    } else {
        runnable
    };
    let sql_for_errors = exec_sql.as_str();
    enforce_contract(shared, node, &exec_sql).await?;
    hooks(shared, node, "pre-hook").await?;
    let mut result = match materialized.as_str() {
        "view" => {
            wh.create_view(&node.schema, &node.alias, &exec_sql)
                .await
                .map_err(with_sql(shared, node, sql_for_errors))?;
            NodeResult::new(&node.unique_id, NodeStatus::Success, "CREATE VIEW")
        }
        "table" | "materialized_view" => {
            let rows = wh
                .write_table(&node.schema, &node.alias, &exec_sql, &WriteMode::Replace)
                .await
                .map_err(with_sql(shared, node, sql_for_errors))?;
            let mut r = NodeResult::new(
                &node.unique_id,
                NodeStatus::Success,
                format!("SELECT {rows}"),
            );
            r.rows_affected = Some(rows);
            r
        }
        "incremental" => incremental_model(shared, node, &exec_sql, incremental).await?,
        "ephemeral" => NodeResult::new(&node.unique_id, NodeStatus::Success, "EPHEMERAL"),
        other => {
            return Err(Failed::from(RunError::Config(format!(
                "materialization `{other}` is not available on the DataFusion warehouse; use view, table, incremental or ephemeral"
            ))));
        }
    };
    hooks(shared, node, "post-hook").await?;
    result.compiled_code = Some(sql);
    result.relation_name = node.relation_name.clone();
    Ok(result)
}

/// `full_refresh: false` in config protects a model from --full-refresh.
pub(super) fn full_refresh_disabled(node: &ParsedNode) -> bool {
    matches!(
        node.config.get("full_refresh"),
        Some(serde_json::Value::Bool(false))
    )
}

pub(super) fn key_list(node: &ParsedNode, key: &str) -> Vec<String> {
    match node.config.get(key) {
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Some(serde_json::Value::Object(o)) => o
            .get("field")
            .and_then(|f| f.as_str())
            .map(|f| vec![f.to_string()])
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

async fn incremental_model(
    shared: &Arc<Shared>,
    node: &ParsedNode,
    sql: &str,
    incremental: bool,
) -> Outcome {
    let wh = &shared.local();
    let sql_for_errors = sql;
    if !incremental {
        let rows = wh
            .write_table(&node.schema, &node.alias, sql, &WriteMode::Replace)
            .await
            .map_err(with_sql(shared, node, sql_for_errors))?;
        let mut r = NodeResult::new(
            &node.unique_id,
            NodeStatus::Success,
            format!("SELECT {rows}"),
        );
        r.rows_affected = Some(rows);
        return Ok(r);
    }
    let unique_key = key_list(node, "unique_key");
    let strategy = node
        .config
        .str_value("incremental_strategy")
        .map(str::to_string)
        .unwrap_or_else(|| {
            if unique_key.is_empty() {
                "append".into()
            } else {
                "merge".into()
            }
        });
    let mode = match strategy.as_str() {
        "append" => WriteMode::Append,
        "merge" | "delete+insert" => {
            if unique_key.is_empty() {
                return Err(Failed::from(RunError::Config(format!(
                    "incremental_strategy `{strategy}` needs a `unique_key` (a column or a list of columns) in {}",
                    node.original_file_path
                ))));
            }
            WriteMode::Merge { unique_key }
        }
        "insert_overwrite" => {
            let partition_by = key_list(node, "partition_by");
            if partition_by.is_empty() {
                return Err(Failed::from(RunError::Config(format!(
                    "incremental_strategy `insert_overwrite` needs `partition_by` in {}",
                    node.original_file_path
                ))));
            }
            WriteMode::InsertOverwrite { partition_by }
        }
        other => {
            return Err(Failed::from(RunError::Config(format!(
                "incremental_strategy `{other}` is not one of append, merge, delete+insert, insert_overwrite"
            ))));
        }
    };
    let sql = align_schema(shared, node, sql).await?;
    let rows = wh
        .write_table(&node.schema, &node.alias, &sql, &mode)
        .await
        .map_err(with_sql(shared, node, sql_for_errors))?;
    let mut r = NodeResult::new(
        &node.unique_id,
        NodeStatus::Success,
        format!("{} {rows}", strategy.to_uppercase()),
    );
    r.rows_affected = Some(rows);
    Ok(r)
}

/// Applies `on_schema_change` when the new rows' columns differ from the
/// table's: ignore (new rows shaped like the table), fail, or change the
/// table (append_new_columns, sync_all_columns) before writing.
async fn align_schema(
    shared: &Arc<Shared>,
    node: &ParsedNode,
    sql: &str,
) -> Result<String, Failed> {
    let wh = &shared.local();
    let sql_for_errors = sql;
    let old = wh
        .columns(&node.schema, &node.alias)
        .await
        .unwrap_or_default();
    let new_schema = wh
        .plan_schema(sql)
        .await
        .map_err(with_sql(shared, node, sql_for_errors))?;
    let new: Vec<ColumnInfo> = new_schema
        .fields()
        .iter()
        .map(|f| ColumnInfo {
            name: f.name().clone(),
            data_type: crate::adapters::datafusion::sql_type(f.data_type()),
        })
        .collect();
    let same = old.len() == new.len() && old.iter().all(|c| new.iter().any(|n| n.name == c.name));
    if same {
        return Ok(format!(
            "SELECT {} FROM (\n{sql}\n) AS __rdbt_new",
            old.iter()
                .map(|c| quote(&c.name))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let policy = node
        .config
        .str_value("on_schema_change")
        .unwrap_or("ignore");
    let added: Vec<&ColumnInfo> = new
        .iter()
        .filter(|n| !old.iter().any(|o| o.name == n.name))
        .collect();
    let removed: Vec<&ColumnInfo> = old
        .iter()
        .filter(|o| !new.iter().any(|n| n.name == o.name))
        .collect();
    let names = |cols: &[&ColumnInfo]| {
        cols.iter()
            .map(|c| format!("{} {}", c.name, c.data_type))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let target: Vec<ColumnInfo> = match policy {
        "ignore" => old.clone(),
        "fail" => {
            return Err(Failed::from(RunError::Contract(format!(
                "the columns of incremental model `{}` changed and on_schema_change is `fail`: added [{}], removed [{}]; run with --full-refresh or set on_schema_change",
                node.name,
                names(&added),
                names(&removed)
            ))));
        }
        "append_new_columns" => old
            .iter()
            .cloned()
            .chain(added.iter().map(|c| (*c).clone()))
            .collect(),
        "sync_all_columns" => new.clone(),
        other => {
            return Err(Failed::from(RunError::Config(format!(
                "on_schema_change `{other}` is not one of ignore, fail, append_new_columns, sync_all_columns"
            ))));
        }
    };
    if policy != "ignore" {
        // Rewrite the table in the new shape first: old rows get NULL for new columns.
        let old_select = shaped_select(&target, &old);
        let rewrite = format!(
            "SELECT {old_select} FROM {}.{}",
            quote(&node.schema),
            quote(&node.alias)
        );
        wh.write_table(&node.schema, &node.alias, &rewrite, &WriteMode::Replace)
            .await
            .map_err(with_sql(shared, node, sql_for_errors))?;
    }
    let new_select = shaped_select(&target, &new);
    Ok(format!(
        "SELECT {new_select} FROM (\n{sql}\n) AS __rdbt_new"
    ))
}

/// A column test on a column the model does not produce is the YAML's
/// mistake: say so at the test's line, with the columns there are, rather
/// than pass on the engine's "No field named".
async fn check_tested_column(shared: &Arc<Shared>, node: &ParsedNode) -> Result<(), Failed> {
    let (Some(column), Some(parent)) = (
        &node.column_name,
        node.attached_node
            .as_ref()
            .and_then(|a| shared.parsed.nodes.get(a)),
    ) else {
        return Ok(());
    };
    let Some(columns) = shared.local().columns(&parent.schema, &parent.alias).await else {
        return Ok(());
    };
    let bare = column.trim_matches('"').trim_matches('`');
    if columns.iter().any(|c| c.name.eq_ignore_ascii_case(bare)) {
        return Ok(());
    }
    let line = node
        .call_sites
        .first()
        .map(|(_, offset, _)| {
            crate::diagnostics::Location::from_offset(&node.abs_path, &node.file_text, *offset).line
        })
        .unwrap_or(1);
    let names = columns
        .iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    Err(Failed::from(RunError::Test(format!(
        "{}:{line}: test `{}` checks column `{bare}`, which {} `{}` does not have (its columns: {names})\n  fix the column name in the YAML, or add the column to the {}",
        node.original_file_path, node.name, parent.resource_type, parent.name, parent.resource_type
    ))))
}

/// `contract: {enforced: true}`: the model's columns and types must be the
/// ones its YAML declares, and its constraints must hold, before anything is
/// written. A mismatch lists what was expected and what the SQL produces.
async fn enforce_contract(
    shared: &Arc<Shared>,
    node: &ParsedNode,
    sql: &str,
) -> Result<(), Failed> {
    let enforced = node
        .config
        .get("contract")
        .and_then(|c| c.get("enforced"))
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    if !enforced {
        return Ok(());
    }
    let planned = shared
        .local()
        .plan_schema(sql)
        .await
        .map_err(with_sql(shared, node, sql))?;
    let actual: Vec<(String, String, Option<&'static str>)> = planned
        .fields()
        .iter()
        .map(|f| {
            (
                f.name().clone(),
                crate::adapters::datafusion::sql_type(f.data_type()),
                sized_type_of(f.data_type()),
            )
        })
        .collect();
    // BigQuery has one integer and one float type: widths cannot differ.
    let dialect = crate::compile::sql_dialect_of(&shared.compiler.world, &node.config);
    let widths_matter = dialect != crate::sql::SqlDialect::BigQuery;
    let mut problems = Vec::new();
    for (name, col) in &node.columns {
        match actual.iter().find(|(a, ..)| a.eq_ignore_ascii_case(name)) {
            None => problems.push(format!("  {name}: declared{}, missing from the model's output", col.data_type.as_deref().map(|t| format!(" as {t}")).unwrap_or_default())),
            Some((_, actual_type, actual_sized)) => match &col.data_type {
                None => problems.push(format!("  {name}: no data_type declared (an enforced contract needs one for every column)")),
                Some(declared) if type_family(declared) != type_family(actual_type) => problems.push(format!("  {name}: declared {declared}, the model produces {actual_type}")),
                // As dbt-duckdb reports it: INTEGER is not BIGINT, FLOAT is
                // not DOUBLE. A constant (`1 as id`) is INTEGER in DuckDB and
                // BIGINT here, so constants are not held to their width.
                Some(declared) => {
                    if let (true, Some(want), Some(got)) = (widths_matter, sized_type(declared), actual_sized)
                        && want != *got
                        && !is_constant(node, name)
                    {
                        problems.push(format!("  {name}: declared {declared} ({want}), the model produces {got}: data type mismatch"));
                    }
                }
            },
        }
    }
    for (name, actual_type, _) in &actual {
        if !node.columns.keys().any(|c| c.eq_ignore_ascii_case(name)) {
            problems.push(format!("  {name}: produced as {actual_type}, not declared"));
        }
    }
    if !problems.is_empty() {
        return Err(Failed::from(RunError::Contract(format!(
            "the contract of model `{}` is not met:\n{}\n  fix the SQL or the `columns:` of the model in YAML",
            node.name,
            problems.join("\n")
        ))));
    }
    // Column constraints, checked on the rows about to be written.
    let mut checks: Vec<(String, String)> = Vec::new();
    for (name, col) in &node.columns {
        for c in &col.constraints {
            let kind = c.get("type").and_then(|t| t.as_str()).unwrap_or_default();
            let q = quote(name);
            match kind {
                "not_null" => checks.push((format!("{name} not_null"), format!("{q} IS NULL"))),
                "unique" | "primary_key" => {
                    checks.push((format!("{name} {kind}"), format!("{q} IN (SELECT {q} FROM __rdbt_contract GROUP BY {q} HAVING count(*) > 1)")));
                    if kind == "primary_key" {
                        checks.push((
                            format!("{name} primary_key (not null)"),
                            format!("{q} IS NULL"),
                        ));
                    }
                }
                "check" => {
                    if let Some(expr) = c.get("expression").and_then(|e| e.as_str()) {
                        checks.push((format!("{name} check ({expr})"), format!("NOT ({expr})")));
                    }
                }
                _ => {}
            }
        }
    }
    for (label, violation) in checks {
        let count_sql = format!(
            "WITH __rdbt_contract AS (\n{sql}\n) SELECT count(*) FROM __rdbt_contract WHERE {violation}"
        );
        let batches = shared
            .local()
            .query(&count_sql)
            .await
            .map_err(with_sql(shared, node, &count_sql))?;
        let n = first_u64(&batches).unwrap_or(0);
        if n > 0 {
            return Err(Failed::from(RunError::Contract(format!(
                "the contract of model `{}` is not met: constraint {label} fails for {n} row{}; nothing was written",
                node.name,
                if n == 1 { "" } else { "s" }
            ))));
        }
    }
    Ok(())
}

/// A declared integer or float type as DuckDB names its width.
fn sized_type(t: &str) -> Option<&'static str> {
    let t = t.trim().to_ascii_lowercase();
    Some(match t.split(['(', ' ']).next().unwrap_or_default() {
        "tinyint" | "int1" => "TINYINT",
        "smallint" | "int2" | "short" => "SMALLINT",
        "int" | "integer" | "int4" | "signed" => "INTEGER",
        "bigint" | "int8" | "long" | "int64" => "BIGINT",
        "float" | "real" | "float4" => "FLOAT",
        "double" | "float8" | "float64" => "DOUBLE",
        _ => return None,
    })
}

/// The width of an output column's type, for integers and floats.
fn sized_type_of(t: &datafusion::arrow::datatypes::DataType) -> Option<&'static str> {
    use datafusion::arrow::datatypes::DataType as D;
    Some(match t {
        D::Int8 => "TINYINT",
        D::Int16 => "SMALLINT",
        D::Int32 => "INTEGER",
        D::Int64 => "BIGINT",
        D::Float16 | D::Float32 => "FLOAT",
        D::Float64 => "DOUBLE",
        _ => return None,
    })
}

/// Whether `column` may be a constant such as `1 as id`: the static
/// analysis found it reads no upstream column, or did not plan the model.
fn is_constant(node: &ParsedNode, column: &str) -> bool {
    use crate::sql::analysis::Derivation;
    node.inferred.as_ref().is_none_or(|m| {
        m.lineage
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(column))
            .is_none_or(|(_, sources)| {
                !sources.iter().any(|s| {
                    matches!(
                        s.derivation,
                        Derivation::Copy | Derivation::Transform | Derivation::Aggregate
                    )
                })
            })
    })
}

/// Type names compared by family, so `int`/`integer`/`bigint`/`INT64` agree.
fn type_family(t: &str) -> &'static str {
    let t = t.trim().to_ascii_lowercase();
    let base = t.split(['(', ' ']).next().unwrap_or_default();
    match base {
        "int" | "integer" | "bigint" | "smallint" | "tinyint" | "int64" | "int32" | "long" => {
            "integer"
        }
        "double" | "float" | "float64" | "real" | "float32" => "float",
        "decimal" | "numeric" | "bignumeric" => "decimal",
        "varchar" | "text" | "string" | "char" | "utf8" | "utf8view" => "string",
        "bool" | "boolean" => "boolean",
        "date" | "date32" => "date",
        "timestamp" | "datetime" | "timestamptz" => "timestamp",
        other if other.starts_with("timestamp") => "timestamp",
        _ => "other",
    }
}

/// A unit test (dbt 1.8's format): the model runs on the `given` rows in
/// place of its inputs (nothing upstream is built or read), and its output
/// must equal the `expect` rows on the expected columns, as multisets.
pub(super) async fn unit_test(shared: &Arc<Shared>, node: &ParsedNode) -> Outcome {
    let def = node.unit_test.as_deref().cloned().unwrap_or_default();
    let fail = |m: String| {
        Failed::from(RunError::Test(format!(
            "unit test `{}` ({}): {m}",
            node.name, node.original_file_path
        )))
    };
    let model_name = def
        .get("model")
        .and_then(|m| m.as_str())
        .unwrap_or_default();
    let model_id = shared
        .linker
        .resolve_call(&node.package_name, &format!("ref('{model_name}')"))
        .ok_or_else(|| fail(format!("model `{model_name}` does not exist")))?;
    let ident = shared.engine.quote_ident();
    let mut inputs = std::collections::HashMap::new();
    let mut ctes = Vec::new();
    for (i, given) in def
        .get("given")
        .and_then(|g| g.as_array())
        .into_iter()
        .flatten()
        .enumerate()
    {
        let input = given
            .get("input")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        let id = if input.trim() == "this" {
            Some(model_id.clone())
        } else {
            shared.linker.resolve_call(&node.package_name, input)
        };
        let id = id.ok_or_else(|| fail(format!("given input `{input}` names no model, seed, snapshot or source; write ref('name') or source('a', 'b')")))?;
        let cte = format!("__rdbt_given_{i}");
        // `rows: []`: an empty input with the real relation's columns, as
        // dbt gives it.
        let sql = match (no_rows(given), shared.linker.relation_name(&id)) {
            (true, Some(relation)) => format!("SELECT * FROM {relation} WHERE 1 = 0"),
            _ => fixture_sql(given, ident)
                .map_err(|e| fail(format!("given input `{input}`: {e}")))?,
        };
        ctes.push((cte.clone(), sql));
        inputs.insert(id, cte);
    }
    let incremental = def
        .pointer("/overrides/macros/is_incremental")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let overrides = def.get("overrides").cloned().unwrap_or_default();
    let linker = shared.linker.with_inputs(&inputs, &overrides);
    let task = shared.clone();
    let id = model_id.clone();
    let model_sql = tokio::task::spawn_blocking(move || {
        linker.compile(&task.compiler, &task.parsed, &id, incremental)
    })
    .await
    .map_err(|e| fail(format!("internal error (a bug in rdbt): {e}")))?
    .map_err(|d| fail(render_diagnostic(&d)))?;
    // The model's SQL is in its dialect; the fixtures rdbt writes are
    // already the warehouse's SQL.
    let model_node = shared.parsed.nodes.get(&model_id).map_or(node, |n| &**n);
    let model_sql =
        executable(shared, model_node, &model_sql).map_err(|f| fail(f.error.to_string()))?;
    let sql = crate::compile::inject_ctes(&model_sql, &ctes);
    let expect = def.get("expect").cloned().unwrap_or_default();
    let expected = if no_rows(&expect) {
        Vec::new()
    } else {
        let expected_sql = fixture_sql(&expect, ident).map_err(|e| fail(format!("expect: {e}")))?;
        json_rows(shared, &expected_sql)
            .await
            .map_err(|e| fail(format!("expect rows: {e}")))?
    };
    let columns: Vec<String> = expected
        .first()
        .map(|r| r.keys().cloned().collect())
        .unwrap_or_default();
    let select = if columns.is_empty() {
        "*".to_string()
    } else {
        columns
            .iter()
            .map(|c| ident(c))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let actual = json_rows(
        shared,
        &format!("SELECT {select} FROM (\n{sql}\n) AS __rdbt_actual"),
    )
    .await
    .map_err(|e| Failed {
        error: fail(e).error,
        sql: Some(sql.clone()),
    })?;
    let canon = |rows: &[serde_json::Map<String, serde_json::Value>]| {
        let mut v: Vec<String> = rows
            .iter()
            .map(|r| {
                columns
                    .iter()
                    .map(|c| canonical(r.get(c).unwrap_or(&serde_json::Value::Null)))
                    .collect::<Vec<_>>()
                    .join(" | ")
            })
            .collect();
        v.sort();
        v
    };
    let (want, got) = (canon(&expected), canon(&actual));
    let mut missing = want.clone();
    let mut extra = Vec::new();
    for row in &got {
        match missing.iter().position(|m| m == row) {
            Some(i) => {
                missing.remove(i);
            }
            None => extra.push(row.clone()),
        }
    }
    let mut r = if missing.is_empty() && extra.is_empty() {
        NodeResult::new(&node.unique_id, NodeStatus::Pass, "PASS")
    } else {
        let mut r = NodeResult::new(
            &node.unique_id,
            NodeStatus::Fail,
            format!("FAIL {}", missing.len() + extra.len()),
        );
        let mut diff = format!("actual differs from expected on [{}]:", columns.join(", "));
        for m in &missing {
            diff.push_str(&format!("\n  - {m}   (expected, not produced)"));
        }
        for e in &extra {
            diff.push_str(&format!("\n  + {e}   (produced, not expected)"));
        }
        r.message = Some(format!(
            "unit test `{}` on model `{}`: {diff}",
            node.name,
            model_id.rsplit('.').next().unwrap_or_default()
        ));
        r.failures = Some((missing.len() + extra.len()) as u64);
        r
    };
    r.compiled_code = Some(sql);
    Ok(r)
}

/// Values compared by meaning: 1 and 1.0 are equal, strings are trimmed of
/// nothing, NULL is NULL.
fn canonical(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Number(n) => {
            n.as_f64().map_or_else(|| n.to_string(), |f| format!("{f}"))
        }
        serde_json::Value::String(s) => s
            .parse::<f64>()
            .map_or_else(|_| format!("{s:?}"), |f| format!("{f}")),
        serde_json::Value::Null => "NULL".into(),
        other => other.to_string(),
    }
}

/// A query's rows as JSON objects, through the run's [`Adapter`]: the same
/// conversion on every warehouse, so unit tests compare alike everywhere.
///
/// [`Adapter`]: crate::adapters::Adapter
async fn json_rows(
    shared: &Arc<Shared>,
    sql: &str,
) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, String> {
    let batches = shared
        .engine
        .adapter()
        .query(sql, None)
        .await
        .map_err(|e| e.to_string())?;
    let json = crate::adapters::datafusion::to_json(&batches).map_err(|e| e.to_string())?;
    serde_json::from_str(&json).map_err(|e| e.to_string())
}

/// A block of dict rows with none: `rows: []`.
fn no_rows(block: &serde_json::Value) -> bool {
    let dict = block
        .get("format")
        .and_then(|f| f.as_str())
        .is_none_or(|f| f == "dict");
    dict && block
        .get("rows")
        .is_some_and(|r| r.as_array().is_some_and(Vec::is_empty))
}

/// A `given` or `expect` block as SQL: dict rows (the default), `format:
/// csv` text, or `format: sql`.
fn fixture_sql(block: &serde_json::Value, ident: fn(&str) -> String) -> Result<String, String> {
    let format = block
        .get("format")
        .and_then(|f| f.as_str())
        .unwrap_or("dict");
    let rows = block
        .get("rows")
        .cloned()
        .unwrap_or(serde_json::Value::Null);
    match format {
        "sql" => rows
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| "`rows` must be SQL text with format: sql".to_string()),
        "csv" => {
            let text = rows
                .as_str()
                .ok_or("`rows` must be CSV text (a header line, then rows) with format: csv")?;
            let mut lines = text.lines().filter(|l| !l.trim().is_empty());
            let header: Vec<String> = lines
                .next()
                .ok_or("the CSV has no header line")?
                .split(',')
                .map(|h| h.trim().to_string())
                .collect();
            let objects: Vec<serde_json::Value> = lines
                .map(|l| {
                    let cells: Vec<&str> = l.split(',').map(str::trim).collect();
                    serde_json::Value::Object(
                        header
                            .iter()
                            .enumerate()
                            .map(|(i, h)| {
                                (h.clone(), csv_cell(cells.get(i).copied().unwrap_or("")))
                            })
                            .collect(),
                    )
                })
                .collect();
            dict_rows_sql(&objects, ident)
        }
        "dict" => dict_rows_sql(
            rows.as_array().ok_or("`rows` must be a list of mappings")?,
            ident,
        ),
        other => Err(format!("format `{other}` is not dict, csv or sql")),
    }
}

fn csv_cell(c: &str) -> serde_json::Value {
    if c.is_empty() || c.eq_ignore_ascii_case("null") {
        serde_json::Value::Null
    } else if let Ok(i) = c.parse::<i64>() {
        i.into()
    } else if let Ok(f) = c.parse::<f64>() {
        serde_json::Number::from_f64(f).map_or(serde_json::Value::Null, serde_json::Value::Number)
    } else if c == "true" || c == "false" {
        (c == "true").into()
    } else {
        c.trim_matches('"').into()
    }
}

fn dict_rows_sql(rows: &[serde_json::Value], ident: fn(&str) -> String) -> Result<String, String> {
    let mut columns: Vec<String> = Vec::new();
    for r in rows {
        for k in r
            .as_object()
            .ok_or("each row must be a mapping of column: value")?
            .keys()
        {
            if !columns.contains(k) {
                columns.push(k.clone());
            }
        }
    }
    if rows.is_empty() || columns.is_empty() {
        return Err("give at least one row (or use format: sql for an empty input)".into());
    }
    let literal = |v: Option<&serde_json::Value>| match v {
        None | Some(serde_json::Value::Null) => "NULL".to_string(),
        Some(serde_json::Value::String(s)) => format!("'{}'", s.replace('\'', "''")),
        Some(other) => other.to_string(),
    };
    Ok(rows
        .iter()
        .map(|r| {
            format!(
                "SELECT {}",
                columns
                    .iter()
                    .map(|c| format!("{} AS {}", literal(r.get(c)), ident(c)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("\nUNION ALL\n"))
}

/// A select list giving rows the `target` columns: the ones `present` has,
/// and NULL of the right type for the others.
fn shaped_select(target: &[ColumnInfo], present: &[ColumnInfo]) -> String {
    target
        .iter()
        .map(|c| {
            if present.iter().any(|p| p.name == c.name) {
                quote(&c.name)
            } else {
                format!("CAST(NULL AS {}) AS {}", c.data_type, quote(&c.name))
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

async fn seed(shared: &Arc<Shared>, node: &ParsedNode) -> Outcome {
    let delimiter = node.seed_delimiter();
    let column_types: Vec<(String, String)> = node
        .seed_column_types()
        .into_iter()
        .map(|(k, t)| (k, crate::sql::types::warehouse_type(&t)))
        .collect();
    let empty = shared.options.empty;
    let rows = shared
        .local()
        .load_csv(
            &node.schema,
            &node.alias,
            &node.abs_path,
            delimiter,
            |cols| {
                let list = cols
                    .iter()
                    .map(|c| {
                        match column_types
                            .iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case(&c.name))
                        {
                            // Text to a timestamp: any layout DuckDB reads.
                            Some((_, t))
                                if c.data_type == "varchar"
                                    && t.to_ascii_uppercase().starts_with("TIMESTAMP") =>
                            {
                                format!(
                                    "CAST({} AS {t}) AS {}",
                                    crate::sql::types::parse_timestamp_text(&quote(&c.name)),
                                    quote(&c.name)
                                )
                            }
                            Some((_, t)) => {
                                format!("CAST({} AS {t}) AS {}", quote(&c.name), quote(&c.name))
                            }
                            None => quote(&c.name),
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                format!(
                    "SELECT {list} FROM __rdbt_seed{}",
                    if empty { " LIMIT 0" } else { "" }
                )
            },
        )
        .await
        .map_err(|e| Failed::from(RunError::Warehouse(seed_error(node, &e.to_string()))))?;
    let mut r = NodeResult::new(
        &node.unique_id,
        NodeStatus::Success,
        format!("INSERT {rows}"),
    );
    r.rows_affected = Some(rows);
    r.relation_name = node.relation_name.clone();
    Ok(r)
}

/// CSV errors name a line; say it as `file:line`.
pub(super) fn seed_error(node: &ParsedNode, message: &str) -> String {
    // The reader's own framing ("Error when processing CSV file <path>
    // caused by Arrow error: Csv error: ...") says nothing the file:line
    // prefix does not.
    let cleaned = crate::adapters::datafusion::clean_message(message);
    let message = match cleaned.rfind("Csv error: ") {
        Some(at) => &cleaned[at + "Csv error: ".len()..],
        None => cleaned.as_str(),
    };
    if let Some(c) = regex::Regex::new(r"Expected (\d+) records, found (\d+) records at line (\d+)")
        .ok()
        .and_then(|re| re.captures(message))
    {
        return format!(
            "{}:{}: this row has {} values, but the header names {} columns\n  fix that row of the seed file (a missing value, or a comma inside an unquoted value)",
            node.original_file_path, &c[3], &c[2], &c[1]
        );
    }
    let line = regex::Regex::new(r"line (\d+)")
        .ok()
        .and_then(|re| re.captures(message))
        .and_then(|c| c[1].parse::<usize>().ok());
    match line {
        Some(l) => format!(
            "{}:{}: {message}\n  fix that row of the seed file, or set column_types for it",
            node.original_file_path, l
        ),
        None => format!("{}: {message}", node.original_file_path),
    }
}

/// A snapshot's dbt 1.9 options, read the same way for both warehouses.
pub(super) struct SnapshotOptions {
    /// `dbt_valid_to_current` as written (SQL in the snapshot's dialect).
    pub valid_to_current: Option<String>,
    /// `hard_deletes`: `ignore`, `invalidate` (also the older
    /// `invalidate_hard_deletes: true`) or `new_record`.
    pub hard_deletes: &'static str,
}

impl SnapshotOptions {
    pub(super) fn of(node: &ParsedNode) -> Result<SnapshotOptions, Failed> {
        let hard_deletes = match node.config.str_value("hard_deletes") {
            Some("ignore") => "ignore",
            Some("invalidate") => "invalidate",
            Some("new_record") => "new_record",
            Some(other) => {
                return Err(Failed::from(RunError::Config(format!(
                    "snapshot `{}`: hard_deletes is `{other}`; use ignore, invalidate or new_record",
                    node.name
                ))));
            }
            None if node
                .config
                .get("invalidate_hard_deletes")
                .and_then(|v| v.as_bool())
                .unwrap_or(false) =>
            {
                "invalidate"
            }
            None => "ignore",
        };
        Ok(SnapshotOptions {
            valid_to_current: node
                .config
                .str_value("dbt_valid_to_current")
                .filter(|e| !e.trim().is_empty())
                .map(str::to_string),
            hard_deletes,
        })
    }

    pub(super) fn new_record(&self) -> bool {
        self.hard_deletes == "new_record"
    }
}

/// BigQuery-style type names in `column_types` mean the same on DataFusion.
async fn test(shared: &Arc<Shared>, node: &ParsedNode) -> Outcome {
    check_tested_column(shared, node).await?;
    let (compiled, node) = compile_test(shared, node).await?;
    let node = &node;
    let sql = executable(shared, node, &compiled)?;
    let limit = node.config.get("limit").and_then(|v| v.as_u64());
    let fail_calc = node.config.str_value("fail_calc").unwrap_or("count(*)");
    let inner = match limit {
        Some(l) => format!("SELECT * FROM (\n{sql}\n) AS dbt_internal_limit LIMIT {l}"),
        None => sql.clone(),
    };
    // store_failures: the failing rows become a table in the audit schema,
    // and the count is taken from it.
    let store = node
        .config
        .get("store_failures")
        .and_then(|v| v.as_bool())
        .unwrap_or(false)
        || node
            .config
            .str_value("store_failures_as")
            .is_some_and(|a| a == "table" || a == "view");
    let audit = format!("{}_dbt_test__audit", shared.compiler.world.target_schema);
    let source = if store {
        shared
            .local()
            .write_table(&audit, &node.alias, &inner, &WriteMode::Replace)
            .await
            .map_err(with_sql(shared, node, &sql))?;
        format!("{}.{}", quote(&audit), quote(&node.alias))
    } else {
        format!("(\n{inner}\n)")
    };
    let count_sql = format!("SELECT {fail_calc} AS failures FROM {source} AS dbt_internal_test");
    let batches = shared
        .local()
        .query(&count_sql)
        .await
        .map_err(with_sql(shared, node, &sql))?;
    let failures = first_u64(&batches).unwrap_or(0);
    let stored = store.then(|| format!("{audit}.{}", node.alias));
    Ok(test_verdict(node, failures, stored, sql))
}

/// A data test's status from its failure count: severity, `error_if`,
/// `warn_if`, and a message saying where the failing rows are.
pub(super) fn test_verdict(
    node: &ParsedNode,
    failures: u64,
    stored: Option<String>,
    sql: String,
) -> NodeResult {
    let severity = node
        .config
        .str_value("severity")
        .unwrap_or("error")
        .to_ascii_lowercase();
    let error_if = node.config.str_value("error_if").unwrap_or("!= 0");
    let warn_if = node.config.str_value("warn_if").unwrap_or("!= 0");
    let status = if severity == "error" && condition_holds(error_if, failures) {
        NodeStatus::Fail
    } else if condition_holds(warn_if, failures) {
        NodeStatus::Warn
    } else {
        NodeStatus::Pass
    };
    let mut r = NodeResult::new(
        &node.unique_id,
        status,
        match status {
            NodeStatus::Pass => "PASS".to_string(),
            NodeStatus::Warn => format!("WARN {failures}"),
            _ => format!("FAIL {failures}"),
        },
    );
    r.failures = Some(failures);
    if let Some(stored) = &stored {
        r.relation_name = Some(stored.clone());
    }
    if status != NodeStatus::Pass {
        r.message = Some(format!(
            "Got {failures} result{}, configured to {} if {}",
            if failures == 1 { "" } else { "s" },
            if status == NodeStatus::Fail {
                "fail"
            } else {
                "warn"
            },
            if status == NodeStatus::Fail {
                error_if
            } else {
                warn_if
            }
        ));
        if let Some(stored) = &stored {
            r.message = r
                .message
                .map(|m| format!("{m}\n  failing rows stored in {stored}"));
        }
        // Where the SQL that found the rows is written, to run it by hand.
        let run_path = if node.test_metadata.is_some() {
            format!("{}/{}.sql", node.original_file_path, node.alias)
        } else {
            node.original_file_path.clone()
        };
        let column = node
            .column_name
            .as_ref()
            .map(|c| format!(", column {c}"))
            .unwrap_or_default();
        let parent = node
            .attached_node
            .as_ref()
            .and_then(|a| a.rsplit('.').next())
            .map(|m| format!(" on {m}{column}"))
            .unwrap_or_default();
        r.message = r.message.map(|m| {
            format!(
                "{m}{parent}\n  compiled test SQL: target/run/{}/{run_path}",
                node.package_name
            )
        });
    }
    r.compiled_code = Some(sql);
    r
}

fn first_u64(batches: &[datafusion::arrow::record_batch::RecordBatch]) -> Option<u64> {
    use datafusion::arrow::array::Array;
    use datafusion::arrow::compute::cast;
    use datafusion::arrow::datatypes::DataType;
    let b = batches.iter().find(|b| b.num_rows() > 0)?;
    let col = cast(b.column(0), &DataType::Int64).ok()?;
    let ints = col
        .as_any()
        .downcast_ref::<datafusion::arrow::array::Int64Array>()?;
    (!ints.is_null(0)).then(|| ints.value(0).max(0) as u64)
}

/// dbt's `error_if`/`warn_if`: `!= 0`, `>10`, `>= 5`, `= 3`, `< 2`.
pub(crate) fn condition_holds(condition: &str, n: u64) -> bool {
    let c = condition.trim();
    let (op, rest) = ["!=", ">=", "<=", "<>", "==", ">", "<", "="]
        .iter()
        .find_map(|op| c.strip_prefix(op).map(|r| (*op, r)))
        .unwrap_or(("!=", c));
    let Ok(v) = rest.trim().parse::<u64>() else {
        return n != 0;
    };
    match op {
        "!=" | "<>" => n != v,
        ">=" => n >= v,
        "<=" => n <= v,
        ">" => n > v,
        "<" => n < v,
        _ => n == v,
    }
}

/// A snapshot (SCD type 2): every version of each row, with dbt's
/// `dbt_scd_id`, `dbt_updated_at`, `dbt_valid_from` and `dbt_valid_to`. The
/// whole table is rewritten as a new version, so a failure changes nothing.
async fn snapshot(shared: &Arc<Shared>, node: &ParsedNode) -> Outcome {
    let wh = &shared.local();
    let compiled = compile(shared, node, false).await?;
    let sql = executable(shared, node, &compiled)?;
    let keys = key_list(node, "unique_key");
    if keys.is_empty() {
        return Err(Failed::from(RunError::Config(format!(
            "snapshot `{}` needs `unique_key` (a column or a list of columns) in its config",
            node.name
        ))));
    }
    let strategy = node.config.str_value("strategy").unwrap_or("").to_string();
    let now = format!(
        "CAST('{}' AS TIMESTAMP)",
        chrono::Utc::now().format("%Y-%m-%d %H:%M:%S%.6f")
    );
    let (updated, changed) = match strategy.as_str() {
        "timestamp" => {
            let col = node.config.str_value("updated_at").ok_or_else(|| {
                Failed::from(RunError::Config(format!(
                    "snapshot `{}` uses the timestamp strategy and needs `updated_at`",
                    node.name
                )))
            })?;
            (
                format!("CAST(src.{} AS TIMESTAMP)", quote(col)),
                format!("CAST(src.{} AS TIMESTAMP) > cur.dbt_updated_at", quote(col)),
            )
        }
        "check" => {
            let src_cols = wh
                .plan_schema(&sql)
                .await
                .map_err(with_sql(shared, node, &sql))?;
            let cols: Vec<String> = match node.config.get("check_cols") {
                Some(serde_json::Value::String(s)) if s == "all" => src_cols
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .filter(|c| !keys.contains(c))
                    .collect(),
                _ => key_list(node, "check_cols"),
            };
            if cols.is_empty() {
                return Err(Failed::from(RunError::Config(format!(
                    "snapshot `{}` uses the check strategy and needs `check_cols` (a list or 'all')",
                    node.name
                ))));
            }
            (
                now.clone(),
                cols.iter()
                    .map(|c| format!("src.{q} IS DISTINCT FROM cur.{q}", q = quote(c)))
                    .collect::<Vec<_>>()
                    .join(" OR "),
            )
        }
        other => {
            return Err(Failed::from(RunError::Config(format!(
                "snapshot strategy `{other}` is not timestamp or check (snapshot `{}`)",
                node.name
            ))));
        }
    };
    let key_concat = keys
        .iter()
        .map(|k| format!("CAST(src.{} AS VARCHAR)", quote(k)))
        .collect::<Vec<_>>()
        .join(" || '|' || ");
    let scd_id =
        |valid_from: &str| format!("md5({key_concat} || '|' || CAST({valid_from} AS VARCHAR))");
    // dbt 1.9: current rows may carry a `dbt_valid_to_current` value instead
    // of NULL, and `hard_deletes` says what a row gone from the source
    // becomes: nothing (ignore), closed (invalidate), or closed with a new
    // `dbt_is_deleted = 'True'` row (new_record).
    // The snapshot's own timestamps are microseconds, as DuckDB's are:
    // the usual "current" value, 9999-12-31, is past what nanoseconds reach.
    let us = |expr: &str| format!("arrow_cast({expr}, 'Timestamp(Microsecond, None)')");
    let options = SnapshotOptions::of(node)?;
    let current_value = options.valid_to_current.as_deref().map(|expr| {
        // A date written in it ('9999-12-31', cast(... as timestamp),
        // to_date(...)) is read straight into microseconds.
        let literal =
            regex::Regex::new(r"'(\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?)'")
                .ok()
                .and_then(|re| re.captures(expr).map(|c| c[1].to_string()));
        match literal {
            Some(day) => us(&format!("'{day}'")),
            None => us(&format!("CAST(({expr}) AS TIMESTAMP)")),
        }
    });
    let current_to = current_value
        .clone()
        .unwrap_or_else(|| us("CAST(NULL AS TIMESTAMP)"));
    let is_current = |alias: &str| match &current_value {
        Some(value) => format!("({alias}.dbt_valid_to IS NULL OR {alias}.dbt_valid_to = {value})"),
        None => format!("{alias}.dbt_valid_to IS NULL"),
    };
    let hard_deletes = options.hard_deletes;
    let new_record = options.new_record();
    let deleted_col = |value: &str| {
        if new_record {
            format!(", {value} AS dbt_is_deleted")
        } else {
            String::new()
        }
    };
    let existing = wh.relation_kind(&node.schema, &node.alias) == Some(RelationKind::Table);
    let full_sql = if !existing {
        format!(
            "SELECT src.*, {id} AS dbt_scd_id, {updated_us} AS dbt_updated_at, {updated_us} AS dbt_valid_from, {current_to} AS dbt_valid_to{deleted} FROM (\n{sql}\n) AS src",
            id = scd_id(&updated),
            updated_us = us(&updated),
            deleted = deleted_col("'False'"),
        )
    } else {
        let target = format!("{}.{}", quote(&node.schema), quote(&node.alias));
        let table_cols: Vec<String> = wh
            .columns(&node.schema, &node.alias)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|c| c.name)
            .collect();
        let had_deleted = table_cols.iter().any(|c| c == "dbt_is_deleted");
        let snap_cols: Vec<String> = table_cols
            .into_iter()
            .filter(|c| !c.starts_with("dbt_"))
            .collect();
        let join = |l: &str, r: &str| {
            keys.iter()
                .map(|k| format!("{l}.{q} = {r}.{q}", q = quote(k)))
                .collect::<Vec<_>>()
                .join(" AND ")
        };
        let list = |alias: &str| {
            snap_cols
                .iter()
                .map(|c| format!("{alias}.{}", quote(c)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let (src_list, snap_list, del_list) = (list("src"), list("s"), list("d"));
        let key_list_sql = keys.iter().map(|k| quote(k)).collect::<Vec<_>>().join(", ");
        // A row's deleted flag ('False' in a table from before new_record).
        let flag = |alias: &str| {
            if had_deleted {
                format!("COALESCE({alias}.dbt_is_deleted, 'False')")
            } else {
                "'False'".to_string()
            }
        };
        let closes_deleted = if hard_deletes == "ignore" {
            String::new()
        } else {
            format!(
                "WHEN {cur_s} AND k.__present IS NULL AND {flag_s} <> 'True' THEN {now_us} ",
                cur_s = is_current("s"),
                flag_s = flag("s"),
                now_us = us(&now),
            )
        };
        // A key deleted earlier (new_record) and back in the source is new
        // again from now.
        let (changed_from, changed_when) = if new_record {
            (
                format!(
                    "CASE WHEN {} = 'True' THEN {now} ELSE {updated} END",
                    flag("cur")
                ),
                format!("({changed}) OR {} = 'True'", flag("cur")),
            )
        } else {
            (updated.clone(), changed.clone())
        };
        let deleted_rows = if new_record {
            format!(
                "\nUNION ALL SELECT {del_list}, {id_deleted} AS dbt_scd_id, {now_us} AS dbt_updated_at, {now_us} AS dbt_valid_from, {current_to} AS dbt_valid_to, 'True' AS dbt_is_deleted FROM cur d WHERE {flag_d} <> 'True' AND NOT EXISTS (SELECT 1 FROM src WHERE {on_d})",
                now_us = us(&now),
                id_deleted = scd_id(&now).replace("src.", "d."),
                flag_d = flag("d"),
                on_d = join("src", "d"),
            )
        } else {
            String::new()
        };
        format!(
            "WITH src AS (\n{sql}\n),\n\
             cur AS (SELECT * FROM {target} s WHERE {cur_s}),\n\
             changed AS (SELECT src.*, {changed_from} AS __new_from FROM src JOIN cur ON {on_cur} WHERE {changed_when}),\n\
             fresh AS (SELECT src.* FROM src WHERE NOT EXISTS (SELECT 1 FROM cur WHERE {on_cur}))\n\
             SELECT {snap_list}, s.dbt_scd_id, {s_updated} AS dbt_updated_at, {s_from} AS dbt_valid_from,\n\
               {s_to} AS dbt_valid_to{kept_flag}\n\
             FROM {target} s\n\
             LEFT JOIN (SELECT {key_list_sql}, __new_from FROM changed) c ON {on_c}\n\
             LEFT JOIN (SELECT DISTINCT {key_list_sql}, 1 AS __present FROM src) k ON {on_k}\n\
             UNION ALL SELECT {src_list}, {id_changed} AS dbt_scd_id, {new_from} AS dbt_updated_at, {new_from} AS dbt_valid_from, {current_to} AS dbt_valid_to{fresh_flag} FROM changed src\n\
             UNION ALL SELECT {src_list}, {id_fresh} AS dbt_scd_id, {updated_us} AS dbt_updated_at, {updated_us} AS dbt_valid_from, {current_to} AS dbt_valid_to{fresh_flag} FROM fresh src{deleted_rows}",
            s_updated = us("s.dbt_updated_at"),
            s_from = us("s.dbt_valid_from"),
            s_to = us(&format!(
                "CASE WHEN {cur_s} AND c.__new_from IS NOT NULL THEN {c_from} {closes_deleted}ELSE s.dbt_valid_to END",
                cur_s = is_current("s"),
                c_from = us("c.__new_from"),
            )),
            new_from = us("src.__new_from"),
            updated_us = us(&updated),
            cur_s = is_current("s"),
            on_cur = join("src", "cur"),
            on_c = join("c", "s"),
            on_k = join("k", "s"),
            id_changed = scd_id("src.__new_from"),
            id_fresh = scd_id(&updated),
            kept_flag = if new_record {
                format!(", {} AS dbt_is_deleted", flag("s"))
            } else {
                String::new()
            },
            fresh_flag = deleted_col("'False'"),
        )
    };
    let rows = wh
        .write_table(&node.schema, &node.alias, &full_sql, &WriteMode::Replace)
        .await
        .map_err(with_sql(shared, node, &full_sql))?;
    let mut r = NodeResult::new(
        &node.unique_id,
        NodeStatus::Success,
        format!("SNAPSHOT {rows}"),
    );
    r.rows_affected = Some(rows);
    r.compiled_code = Some(full_sql);
    r.relation_name = node.relation_name.clone();
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::{condition_holds, engine_error};
    use crate::compile::ParsedNode;
    use crate::project::ResourceType;

    // #28 item 18: the query engine's internal errors are labelled as rdbt's,
    // and a YAML-defined test points at its own compiled file.
    #[test]
    fn internal_errors_are_not_the_users() {
        let mut node = crate::compile::blank_node(
            "test.p.t".into(),
            ResourceType::Test,
            "p",
            "not_null_m_id",
            vec!["p".into(), "not_null_m_id".into()],
        );
        node.original_file_path = "models/schema.yml".into();
        node.alias = "not_null_m_id".into();
        let message = engine_error(
            &node,
            "Internal error: Physical input schema should be the same. This issue was likely caused by a bug in DataFusion's code. Please help us",
        );
        assert!(message.contains("Internal error: Physical input schema should be the same."));
        assert!(!message.contains("likely caused by a bug in DataFusion"));
        assert!(message.contains("internal error of the embedded query engine"));
        assert!(message.contains("target/run/p/models/schema.yml/not_null_m_id.sql"));
        let plain: &ParsedNode = &node;
        assert!(!engine_error(plain, "Divide by zero").contains("internal error"));
    }

    #[test]
    fn thresholds() {
        assert!(condition_holds("!= 0", 1));
        assert!(!condition_holds("!= 0", 0));
        assert!(condition_holds(">10", 11));
        assert!(!condition_holds(">10", 10));
        assert!(condition_holds(">= 5", 5));
    }
}
