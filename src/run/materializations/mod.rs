//! Running one node: each materialization is one file here, written once
//! against the [`Adapter`] trait and its [`Dialect`], so every warehouse
//! builds it the same way. A new materialization is a file and a variant of
//! [`Materialization`].
//!
//! [`Dialect`]: crate::adapters::Dialect

mod contract;
mod incremental;
mod microbatch;
mod seed;
mod snapshot;
mod table;
mod test;
#[cfg(test)]
mod test_only;
mod unit_test;
mod view;

use super::Shared;
use super::error::RunError;
use super::results::{NodeResult, NodeStatus};
use crate::adapters::{Adapter, AdapterError, AdapterResponse, Relation, RelationOptions};
use crate::compile::ParsedNode;
use crate::compile::node_config::{IncrementalStrategy, Materialization, NodeConfig};
use crate::project::ResourceType;
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

/// One node being run: the run's shared state, the node, its typed config
/// and the warehouse.
pub(super) struct NodeRun<'a> {
    pub shared: &'a Arc<Shared>,
    pub node: &'a ParsedNode,
    pub config: Arc<NodeConfig>,
    pub adapter: &'a Arc<dyn Adapter>,
    /// The relation options, with the description when persisted.
    pub options: RelationOptions,
}

impl<'a> NodeRun<'a> {
    fn new(shared: &'a Arc<Shared>, node: &'a ParsedNode) -> NodeRun<'a> {
        let config = node.resolved.clone();
        let mut options = config.relation.clone();
        if config.persist_docs_relation {
            options.description = Some(node.description.clone());
        }
        NodeRun {
            shared,
            node,
            config,
            adapter: &shared.adapter,
            options,
        }
    }

    /// The node's own relation.
    pub fn relation(&self) -> Relation<'_> {
        Relation::new(&self.node.schema, &self.node.alias, &self.options).for_node(&self.node.name)
    }

    /// Another relation in the node's name (a stored test's, a staging
    /// table).
    pub fn relation_named<'b>(
        &'b self,
        schema: &'b str,
        name: &'b str,
        options: &'b RelationOptions,
    ) -> Relation<'b> {
        Relation::new(schema, name, options).for_node(&self.node.name)
    }

    /// A warehouse error for this node whose SQL is `sql`: the warehouse's
    /// words, the line of the compiled SQL it points at, what to do, where
    /// the compiled SQL was written, and which upstream node is missing.
    pub fn failed(&self, sql: &str, e: AdapterError) -> Failed {
        let node = self.node;
        let mut message = e.message.clone();
        if let Some((line, column)) = e.position {
            // Lines of the compiled SQL as written under target/run/; the
            // statement sent may wrap it.
            let lines_before = e
                .statement
                .as_deref()
                .and_then(|s| {
                    s.find(sql.trim_end())
                        .filter(|_| !sql.trim().is_empty())
                        .map(|at| s[..at].matches('\n').count())
                })
                .unwrap_or(0);
            let in_model = line.saturating_sub(lines_before);
            if in_model >= 1
                && let Some(text) = sql.lines().nth(in_model - 1)
            {
                message.push_str(&format!(
                    "\n  at line {in_model}, column {} of the compiled SQL:\n    {}",
                    column.unwrap_or(1),
                    text.trim_end()
                ));
            }
        }
        message.push_str(&format!(
            "\n  in {} (compiled SQL: target/run/{}/{})",
            node.original_file_path,
            node.package_name,
            compiled_path(node)
        ));
        if let Some(help) = &e.help {
            if e.internal {
                message.push_str(&format!("\n  {help}"));
            } else {
                message.push_str(&format!("\n  help: {help}"));
            }
        }
        if let Some((schema, name)) = &e.missing_relation {
            message.push_str(&missing_upstream_hint(self.shared, node, schema, name));
        }
        Failed {
            error: RunError::Warehouse(message),
            sql: Some(e.statement.unwrap_or_else(|| sql.to_string())),
        }
    }

    /// A config value this materialization cannot use.
    pub fn config_error(&self, message: impl std::fmt::Display) -> Failed {
        Failed::from(RunError::Config(format!(
            "{message} (in {})",
            self.node.original_file_path
        )))
    }

    /// A success result for this node.
    pub fn success(&self, response: AdapterResponse) -> NodeResult {
        let mut r = NodeResult::new(&self.node.unique_id, NodeStatus::Success, response.message);
        r.rows_affected = response.rows_affected;
        r.relation_name = self.node.relation_name.clone();
        r
    }

    /// The SQL the warehouse runs for `sql` compiled from this node.
    pub fn executable(&self, sql: &str) -> Result<String, Failed> {
        executable(self.shared, self.node, sql)
    }

    /// Renders the node (`is_incremental()` as given) and makes it
    /// runnable: (compiled SQL, SQL the warehouse runs).
    pub async fn compile(&self, incremental: bool) -> Result<(String, String), Failed> {
        // `--sample`: parents with an `event_time` are read in its window.
        if let Some((start, end)) = self.shared.options.sample {
            let d = self.adapter.dialect();
            let text = |t: chrono::NaiveDateTime| t.format("%Y-%m-%d %H:%M:%S").to_string();
            let sql = microbatch::windowed_sql(
                self,
                incremental,
                &d.timestamp_literal(&text(start)),
                &d.timestamp_literal(&text(end)),
                &serde_json::Value::Null,
            )
            .await?;
            return Ok((sql.clone(), sql));
        }
        let compiled = compile(self.shared, self.node, incremental).await?;
        let runnable = self.executable(&compiled)?;
        Ok((compiled, runnable))
    }

    /// The relation's current kind.
    pub async fn existing(&self) -> Result<Option<crate::adapters::RelationKind>, Failed> {
        self.adapter
            .relation_kind(&self.node.schema, &self.node.alias)
            .await
            .map_err(|e| self.failed("", e))
    }

    /// Whether this node is rebuilt from scratch: its `full_refresh`
    /// config when set (`false` protects it from `--full-refresh`, `true`
    /// rebuilds it every run), else the `--full-refresh` flag, as dbt's
    /// `should_full_refresh()`.
    pub fn full_refresh(&self) -> bool {
        self.config
            .full_refresh
            .unwrap_or(self.shared.options.full_refresh)
    }

    pub fn run_options(&self) -> &super::RunOptions {
        &self.shared.options
    }
}

/// Where a node's compiled SQL is written under target/run/<package>/.
fn compiled_path(node: &ParsedNode) -> String {
    let in_yaml =
        node.original_file_path.ends_with(".yml") || node.original_file_path.ends_with(".yaml");
    if node.test_metadata.is_some() || in_yaml {
        format!("{}/{}.sql", node.original_file_path, node.alias)
    } else {
        node.original_file_path.clone()
    }
}

/// Runs `node` on the run's warehouse.
pub(super) async fn run(shared: &Arc<Shared>, node: &ParsedNode) -> NodeResult {
    let run = NodeRun::new(shared, node);
    match dispatch(&run).await {
        Ok(r) => r,
        Err(f) => {
            let mut r = NodeResult::failed(&node.unique_id, f.error);
            r.relation_name = node.relation_name.clone();
            r.compiled_code = f.sql;
            r
        }
    }
}

async fn dispatch(run: &NodeRun<'_>) -> Outcome {
    match run.node.resource_type {
        ResourceType::Seed => seed::build(run).await,
        ResourceType::Model => model(run).await,
        ResourceType::Test => test::build(run).await,
        ResourceType::Snapshot => snapshot::build(run).await,
        ResourceType::UnitTest => unit_test::build(run).await,
        other => Err(Failed::from(RunError::Internal(format!(
            "{other} nodes are not run by this command"
        )))),
    }
}

/// A model: compiled, its contract checked, its pre-hooks run, written as
/// its materialization says, its post-hooks run, its column docs persisted.
async fn model(run: &NodeRun<'_>) -> Outcome {
    if run.config.materialized == Materialization::Ephemeral {
        return Ok(NodeResult::new(
            &run.node.unique_id,
            NodeStatus::Success,
            "EPHEMERAL",
        ));
    }
    if run.config.materialized == Materialization::Incremental
        && run.config.strategy() == IncrementalStrategy::Microbatch
    {
        return microbatch::build(run).await;
    }
    // An incremental model renders `is_incremental()` by what exists.
    let incremental = incremental::is_incremental(run).await?;
    let (compiled, runnable) = run.compile(incremental).await?;
    let sql = if run.run_options().empty {
        run.adapter.dialect().empty_query(&runnable)
    } else {
        runnable
    };
    contract::enforce(run, &sql).await?;
    hooks(run, "pre-hook", &run.config.pre_hook).await?;
    let mut result = match &run.config.materialized {
        Materialization::View => view::build(run, &sql).await?,
        Materialization::Table | Materialization::MaterializedView => {
            table::build(run, &sql).await?
        }
        Materialization::Incremental => incremental::build(run, &sql, incremental).await?,
        #[cfg(test)]
        Materialization::TestOnly => test_only::build(run, &sql).await?,
        other => {
            return Err(Failed::from(RunError::Config(format!(
                "materialization `{}` is not available on the {} warehouse; use view, table, incremental or ephemeral (in {})",
                other.as_str(),
                run.adapter.adapter_type(),
                run.node.original_file_path
            ))));
        }
    };
    if run.config.persist_docs_columns {
        let docs: Vec<(String, String)> = run
            .node
            .columns
            .iter()
            .map(|(name, c)| (name.clone(), c.description.clone()))
            .collect();
        run.adapter
            .persist_column_docs(&run.relation(), &docs)
            .await
            .map_err(|e| run.failed("", e))?;
    }
    hooks(run, "post-hook", &run.config.post_hook).await?;
    result.compiled_code = Some(compiled);
    Ok(result)
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

/// Renders and runs a node's hooks (`key` names them in errors).
async fn hooks(run: &NodeRun<'_>, key: &str, list: &[String]) -> Result<(), RunError> {
    let (shared, node) = (run.shared, run.node);
    for hook in list {
        let task = shared.clone();
        let id = node.unique_id.clone();
        let hook = hook.clone();
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
        run.adapter
            .execute_for(&sql, Some(&node.name))
            .await
            .map_err(|e| {
                RunError::Hook(format!("{key} failed: {e}\n  hook SQL: {}", sql.trim()))
            })?;
    }
    Ok(())
}

/// A missing relation `schema.name` that `node` reads: say which upstream
/// node that is and the command that builds it.
fn missing_upstream_hint(shared: &Shared, node: &ParsedNode, schema: &str, name: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::compiled_path;
    use crate::project::ResourceType;

    // A YAML-defined test points at its own compiled file.
    #[test]
    fn compiled_paths() {
        let mut node = crate::compile::blank_node(
            "test.p.t".into(),
            ResourceType::Test,
            "p",
            "not_null_m_id",
            vec!["p".into(), "not_null_m_id".into()],
        );
        node.original_file_path = "models/schema.yml".into();
        node.alias = "not_null_m_id".into();
        assert_eq!(compiled_path(&node), "models/schema.yml/not_null_m_id.sql");
        node.original_file_path = "models/m.sql".into();
        assert_eq!(compiled_path(&node), "models/m.sql");
    }
}
