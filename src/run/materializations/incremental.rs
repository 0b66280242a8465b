//! `incremental`: a full build the first time (and on a full refresh);
//! then the new rows reach the table by the model's strategy (append,
//! merge, delete+insert, insert_overwrite, microbatch), after
//! `on_schema_change` has reconciled the columns.

use super::{Failed, NodeRun, Outcome};
use crate::adapters::{ColumnInfo, RelationKind, WriteStrategy};
use crate::compile::node_config::{IncrementalStrategy, Materialization, OnSchemaChange};
use crate::run::error::RunError;

/// Whether this run adds to an existing table (`is_incremental()`).
pub(super) async fn is_incremental(run: &NodeRun<'_>) -> Result<bool, Failed> {
    if run.config.materialized != Materialization::Incremental || run.full_refresh() {
        return Ok(false);
    }
    Ok(run.existing().await? == Some(RelationKind::Table))
}

/// The strategy's write, checked against the config it needs.
pub(super) fn write_strategy(run: &NodeRun<'_>) -> Result<WriteStrategy, Failed> {
    let strategy = run.config.strategy();
    let keys = || {
        if run.config.unique_key.is_empty() {
            Err(run.config_error(format!(
                "incremental_strategy `{}` needs a `unique_key` (a column or a list of columns)",
                strategy.as_str()
            )))
        } else {
            Ok(run.config.unique_key.clone())
        }
    };
    Ok(match &strategy {
        IncrementalStrategy::Other(name) => {
            return Err(run.config_error(format!(
                "incremental_strategy `{name}` is not one of {}",
                IncrementalStrategy::NAMES
            )));
        }
        IncrementalStrategy::Append => WriteStrategy::Append,
        IncrementalStrategy::Merge => WriteStrategy::Merge {
            unique_key: keys()?,
        },
        IncrementalStrategy::DeleteInsert => WriteStrategy::DeleteInsert {
            unique_key: keys()?,
        },
        IncrementalStrategy::Microbatch => {
            return Err(Failed::from(RunError::Internal(
                "microbatch models are built by their own materialization".into(),
            )));
        }
        IncrementalStrategy::InsertOverwrite => {
            if run.options.partition_by.is_none() {
                return Err(run
                    .config_error("incremental_strategy `insert_overwrite` needs `partition_by`"));
            }
            WriteStrategy::InsertOverwrite
        }
    })
}

pub(super) async fn build(run: &NodeRun<'_>, sql: &str, incremental: bool) -> Outcome {
    if !incremental {
        return super::table::build(run, sql).await;
    }
    let strategy = write_strategy(run)?;
    let shaped = align_schema(run, sql).await?;
    let response = run
        .adapter
        .write_table(&run.relation(), &shaped, &strategy)
        .await
        .map_err(|e| run.failed(sql, e))?;
    Ok(run.success(response))
}

/// Applies `on_schema_change` when the new rows' columns differ from the
/// table's: ignore (new rows shaped like the table), fail, or change the
/// table (append_new_columns, sync_all_columns) before writing. Returns
/// the new rows' SQL shaped like the table.
pub(super) async fn align_schema(run: &NodeRun<'_>, sql: &str) -> Result<String, Failed> {
    let node = run.node;
    let quote = |c: &str| run.adapter.dialect().quote_identifier(c);
    let old = run
        .adapter
        .columns(&node.schema, &node.alias)
        .await
        .map_err(|e| run.failed(sql, e))?
        .unwrap_or_default();
    let new = run
        .adapter
        .query_columns(sql)
        .await
        .map_err(|e| run.failed(sql, e))?;
    let same = old.len() == new.len() && old.iter().all(|c| new.iter().any(|n| n.name == c.name));
    if same {
        return Ok(format!(
            "select {} from (\n{sql}\n) as dbt_internal_new",
            old.iter()
                .map(|c| quote(&c.name))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
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
    let policy = run.config.on_schema_change;
    let target: Vec<ColumnInfo> = match policy {
        OnSchemaChange::Ignore => old.clone(),
        OnSchemaChange::Fail => {
            return Err(Failed::from(RunError::Contract(format!(
                "the columns of incremental model `{}` changed and on_schema_change is `fail`: added [{}], removed [{}]; run with --full-refresh or set on_schema_change",
                node.name,
                names(&added),
                names(&removed)
            ))));
        }
        OnSchemaChange::AppendNewColumns => old
            .iter()
            .cloned()
            .chain(added.iter().map(|c| (*c).clone()))
            .collect(),
        OnSchemaChange::SyncAllColumns => new.clone(),
    };
    if policy != OnSchemaChange::Ignore {
        // Rewrite the table in the new shape first: old rows get NULL for
        // new columns.
        let rewrite = format!(
            "select {} from {}",
            shaped_select(run, &target, &old),
            run.adapter.relation(&node.schema, &node.alias)
        );
        run.adapter
            .write_table(&run.relation(), &rewrite, &WriteStrategy::Replace)
            .await
            .map_err(|e| run.failed(&rewrite, e))?;
    }
    Ok(format!(
        "select {} from (\n{sql}\n) as dbt_internal_new",
        shaped_select(run, &target, &new)
    ))
}

/// A select list giving rows the `target` columns: the ones `present` has,
/// and NULL of the right type for the others.
fn shaped_select(run: &NodeRun<'_>, target: &[ColumnInfo], present: &[ColumnInfo]) -> String {
    let quote = |c: &str| run.adapter.dialect().quote_identifier(c);
    target
        .iter()
        .map(|c| {
            if present.iter().any(|p| p.name == c.name) {
                quote(&c.name)
            } else {
                format!("cast(null as {}) as {}", c.data_type, quote(&c.name))
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}
