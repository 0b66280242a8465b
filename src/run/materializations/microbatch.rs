//! `incremental_strategy: microbatch` (dbt 1.9): the model is built in
//! batches of `batch_size` by its `event_time` column, each batch a query
//! over its parents filtered to the batch's window and one write that
//! replaces the batch's rows in the table, so every batch is independent,
//! idempotent and retried on its own. The first build runs every batch from
//! `begin`; later builds the current batch and `lookback` before it;
//! `--event-time-start`/`--event-time-end` choose the window (a backfill),
//! and `rdbt retry` runs again only the batches that failed.

use super::{Failed, NodeRun, Outcome, render_diagnostic};
use crate::adapters::{RelationKind, WriteStrategy};
use crate::compile::node_config::{BatchSize, parse_event_time};
use crate::run::error::RunError;
use crate::run::results::{BatchResults, NodeResult, NodeStatus};
use chrono::NaiveDateTime;
use std::collections::HashMap;

/// One batch: `[start, end)`.
type Batch = (NaiveDateTime, NaiveDateTime);

fn text(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// The batches a run builds.
fn batches(
    run: &NodeRun<'_>,
    size: BatchSize,
    begin: NaiveDateTime,
    incremental: bool,
) -> Vec<Batch> {
    let options = run.run_options();
    if let Some(retry) = options.retry_batches.get(&run.node.unique_id) {
        return retry.clone();
    }
    let now = chrono::Utc::now().naive_utc();
    // --sample bounds the batches as it bounds every model's inputs.
    let sample = options
        .sample
        .filter(|_| options.event_time_start.is_none());
    let end = options
        .event_time_end
        .or(sample.map(|(_, end)| end))
        .unwrap_or(now);
    let start = match options.event_time_start.or(sample.map(|(start, _)| start)) {
        Some(start) => start,
        None if incremental => size.step(size.truncate(now), -i64::from(run.config.lookback)),
        None => begin,
    };
    let mut out = Vec::new();
    let mut at = size.truncate(start);
    while at < end {
        let next = size.step(at, 1);
        out.push((at, next));
        at = next;
    }
    out
}

/// The model's `event_time`, `batch_size` and `begin`, each checked (the
/// parse checks them too; a config set while compiling is checked here).
fn settings(run: &NodeRun<'_>) -> Result<(String, BatchSize, NaiveDateTime), Failed> {
    let node = run.node;
    let config = &run.config;
    let event_time = config.event_time.clone().ok_or_else(|| {
        run.config_error(format!(
            "microbatch model `{}` needs `event_time`: the column that dates each row",
            node.name
        ))
    })?;
    let size = config
        .batch_size
        .as_deref()
        .and_then(BatchSize::parse)
        .ok_or_else(|| {
            run.config_error(format!(
                "microbatch model `{}` needs `batch_size`: hour, day, month or year (it is {})",
                node.name,
                config
                    .batch_size
                    .as_deref()
                    .map_or("not set".to_string(), |b| format!("`{b}`"))
            ))
        })?;
    let begin = config
        .begin
        .as_deref()
        .map(|b| {
            parse_event_time(b).ok_or_else(|| {
                run.config_error(format!(
                    "microbatch model `{}`: `begin` is `{b}`, not a date or time such as 2024-01-01",
                    node.name
                ))
            })
        })
        .transpose()?
        .ok_or_else(|| {
            run.config_error(format!(
                "microbatch model `{}` needs `begin`: the time its first batch starts, such as 2024-01-01",
                node.name
            ))
        })?;
    Ok((event_time, size, begin))
}

pub(super) async fn build(run: &NodeRun<'_>) -> Outcome {
    let node = run.node;
    let config = &run.config;
    let (event_time, size, begin) = settings(run)?;
    let incremental = !run.full_refresh() && run.existing().await? == Some(RelationKind::Table);
    let batches = batches(run, size, begin, incremental);
    super::hooks(run, "pre-hook", &config.pre_hook).await?;
    let dialect = run.adapter.dialect();
    let mut results = BatchResults::default();
    let mut rows = 0u64;
    let mut first_error: Option<(Batch, Failed)> = None;
    let mut last_sql = None;
    // A full build replaces the table with its first batch; a failure
    // there leaves nothing to add the others to.
    let mut replace = !incremental;
    for (i, &(start, end)) in batches.iter().enumerate() {
        let (from, to) = (
            dialect.timestamp_literal(&text(start)),
            dialect.timestamp_literal(&text(end)),
        );
        let outcome = async {
            let batch = serde_json::json!({"batch": {
                "id": start.format(size.id_format()).to_string(),
                "event_time_start": format!("{}+00:00", start.format("%Y-%m-%dT%H:%M:%S")),
                "event_time_end": format!("{}+00:00", end.format("%Y-%m-%dT%H:%M:%S")),
            }});
            let sql = windowed_sql(run, incremental || i > 0, &from, &to, &batch).await?;
            let sql = if run.run_options().empty {
                dialect.empty_query(&sql)
            } else {
                sql
            };
            if i == 0 {
                super::contract::enforce(run, &sql).await?;
            }
            let strategy = if replace {
                WriteStrategy::Replace
            } else {
                WriteStrategy::ReplaceRange {
                    column: event_time.clone(),
                    start: from.clone(),
                    end: to.clone(),
                }
            };
            let response = run
                .adapter
                .write_table(&run.relation(), &sql, &strategy)
                .await
                .map_err(|e| run.failed(&sql, e))?;
            Ok::<_, Failed>((sql, response))
        }
        .await;
        let window = (text(start), text(end));
        match outcome {
            Ok((sql, response)) => {
                rows += response.rows_affected.unwrap_or(0);
                results.successful.push(window);
                last_sql = Some(sql);
                replace = false;
            }
            Err(f) => {
                results.failed.push(window);
                if first_error.is_none() {
                    first_error = Some(((start, end), f));
                }
                if replace {
                    // The rest would be appended to the old table.
                    results
                        .failed
                        .extend(batches[i + 1..].iter().map(|&(s, e)| (text(s), text(e))));
                    break;
                }
            }
        }
    }
    let total = batches.len();
    let mut result = match first_error {
        None => {
            super::hooks(run, "post-hook", &config.post_hook).await?;
            let mut r = NodeResult::new(
                &node.unique_id,
                NodeStatus::Success,
                format!(
                    "MICROBATCH {total} batch{} ({rows} rows)",
                    if total == 1 { "" } else { "es" }
                ),
            );
            r.rows_affected = Some(rows);
            r.relation_name = node.relation_name.clone();
            r.compiled_code = last_sql;
            r
        }
        Some(((start, end), f)) => {
            let failed = results.failed.len();
            let error = RunError::Warehouse(format!(
                "{failed} of {total} batches failed; the first, [{}, {}): {}\n  the {} other batch{} were written; `rdbt retry` runs the failed ones again",
                text(start),
                text(end),
                f.error,
                total - failed,
                if total - failed == 1 { "" } else { "es" }
            ));
            let mut r = NodeResult::failed(&node.unique_id, error);
            // Some batches written, some not: dbt 1.9's partial success
            // (the run still fails and descendants are skipped).
            if !results.successful.is_empty() {
                r.status = NodeStatus::PartialSuccess;
            }
            r.relation_name = node.relation_name.clone();
            r.compiled_code = f.sql;
            r.rows_affected = Some(rows);
            r
        }
    };
    result.batch_results = Some(Box::new(results));
    Ok(result)
}

/// The model's SQL for one window (a batch, or `--sample`'s): every parent
/// that has an `event_time` read only in `[from, to)`, as dbt filters `ref`
/// and `source`; parents without one are read whole.
pub(super) async fn windowed_sql(
    run: &NodeRun<'_>,
    incremental: bool,
    from: &str,
    to: &str,
    overrides: &serde_json::Value,
) -> Result<String, Failed> {
    let (shared, node) = (run.shared, run.node);
    let quote = |c: &str| run.adapter.dialect().quote_identifier(c);
    let mut inputs = HashMap::new();
    let mut ctes = Vec::new();
    for (i, parent_id) in node.depends_on.iter().enumerate() {
        let Some(parent) = shared.parsed.nodes.get(parent_id) else {
            continue;
        };
        let Some(column) = parent.config.get("event_time").and_then(|v| v.as_str()) else {
            continue;
        };
        let Some(relation) = shared.linker.relation_name(parent_id) else {
            continue;
        };
        let cte = format!("__rdbt_batch_{i}");
        let c = format!("cast({} as timestamp)", quote(column));
        ctes.push((
            cte.clone(),
            format!("select * from {relation} where {c} >= {from} and {c} < {to}"),
        ));
        inputs.insert(parent_id.clone(), cte);
    }
    let linker = shared.linker.with_inputs(&inputs, overrides);
    let task = shared.clone();
    let id = node.unique_id.clone();
    let compiled = tokio::task::spawn_blocking(move || {
        linker.compile(&task.compiler, &task.parsed, &id, incremental)
    })
    .await
    .map_err(|e| RunError::Internal(e.to_string()))?
    .map_err(|d| RunError::Compile(render_diagnostic(&d)))?;
    let runnable = run.executable(&compiled)?;
    Ok(crate::compile::inject_ctes(&runnable, &ctes))
}
