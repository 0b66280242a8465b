//! Running one node on BigQuery, as dbt-bigquery does: views and tables by
//! `create or replace`, incremental models by MERGE (merge, delete+insert,
//! insert_overwrite) or INSERT (append), seeds by load jobs with an explicit
//! schema, snapshots by MERGE, data tests as counting queries.

use super::Shared;
use super::error::RunError;
use super::materialize::{
    Failed, compile, compile_test, executable, full_refresh_disabled, hooks, key_list, test_verdict,
};
use super::results::{NodeResult, NodeStatus};
use crate::adapters::bigquery::sql::{self, PartitionBy, TableOptions, quote};
use crate::adapters::bigquery::{BigQuery, BigQueryError, Field, TableInfo};
use crate::compile::ParsedNode;
use crate::project::ResourceType;
use crate::project::config::ConfigExt;
use std::sync::Arc;

type Outcome = Result<NodeResult, Failed>;

pub(super) async fn run(shared: &Arc<Shared>, bq: &Arc<BigQuery>, node: &ParsedNode) -> NodeResult {
    let outcome = match node.resource_type {
        ResourceType::Model => model(shared, bq, node).await,
        ResourceType::Seed => seed(bq, node).await,
        ResourceType::Test => test(shared, bq, node).await,
        ResourceType::Snapshot => snapshot(shared, bq, node).await,
        // The model's SQL runs on BigQuery over the fixtures, as dbt-bigquery
        // does, so dialect differences show up here and not in production.
        ResourceType::UnitTest => super::materialize::unit_test(shared, node).await,
        other => Err(Failed::from(RunError::Internal(format!(
            "{other} nodes do not run on BigQuery yet; run them on the local target (--target local)"
        )))),
    };
    match outcome {
        Ok(r) => r,
        Err(f) => {
            let mut r = NodeResult::failed(&node.unique_id, f.error);
            r.relation_name = node.relation_name.clone();
            r.compiled_code = f.sql;
            r
        }
    }
}

/// A BigQuery error for a node: the job's message, the line of the compiled
/// SQL it points at (BigQuery counts lines of the statement sent, which
/// wraps the model's SQL), and where the compiled SQL was written.
fn node_error<'a>(
    node: &'a ParsedNode,
    statement: &'a str,
    model_sql: &'a str,
) -> impl Fn(BigQueryError) -> Failed + 'a {
    move |e| {
        let mut message = e.to_string();
        if let BigQueryError::Job {
            line: Some(line),
            column,
            ..
        } = &e
        {
            // Lines of the compiled SQL as written under target/run/.
            let lines_before = statement
                .find(model_sql.trim_end())
                .filter(|_| !model_sql.trim().is_empty())
                .map_or(0, |at| statement[..at].matches('\n').count());
            let in_model = line.saturating_sub(lines_before);
            if in_model >= 1
                && let Some(text) = model_sql.lines().nth(in_model - 1)
            {
                message.push_str(&format!(
                    "\n  at line {in_model}, column {} of the compiled SQL:\n    {}",
                    column.unwrap_or(1),
                    text.trim_end()
                ));
            }
        }
        if let Some(help) = e.help() {
            message.push_str(&format!("\n  help: {help}"));
        }
        message.push_str(&format!(
            "\n  in {} (compiled SQL: target/run/{}/{})",
            node.original_file_path, node.package_name, node.original_file_path
        ));
        Failed {
            error: RunError::Warehouse(message),
            sql: Some(statement.to_string()),
        }
    }
}

/// An error outside any statement (datasets, table look-ups), with its help.
fn plain(e: BigQueryError) -> Failed {
    Failed::from(RunError::Warehouse(match e.help() {
        Some(h) => format!("{e}\n  help: {h}"),
        None => e.to_string(),
    }))
}

fn table_options(node: &ParsedNode) -> Result<TableOptions, Failed> {
    let partition_by = PartitionBy::from_config(node.config.get("partition_by")).map_err(|e| {
        Failed::from(RunError::Config(format!(
            "{e} (in {})",
            node.original_file_path
        )))
    })?;
    let labels = match node.config.get("labels") {
        Some(serde_json::Value::Object(m)) => m
            .iter()
            .map(|(k, v)| {
                (
                    crate::adapters::bigquery::client::label_value(k),
                    crate::adapters::bigquery::client::label_value(
                        &v.as_str().map_or_else(|| v.to_string(), str::to_string),
                    ),
                )
            })
            .collect(),
        _ => Default::default(),
    };
    let persist = node.config.get("persist_docs");
    let persist_relation = persist
        .and_then(|p| p.get("relation"))
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    Ok(TableOptions {
        partition_by,
        cluster_by: key_list(node, "cluster_by"),
        labels,
        description: persist_relation.then(|| node.description.clone()),
        require_partition_filter: node
            .config
            .get("require_partition_filter")
            .and_then(|v| v.as_bool())
            .unwrap_or(false),
        partition_expiration_days: node
            .config
            .get("partition_expiration_days")
            .and_then(|v| v.as_u64()),
    })
}

/// `persist_docs: {columns: true}`: column descriptions on the relation.
async fn persist_column_docs(
    bq: &BigQuery,
    node: &ParsedNode,
    relation: &str,
) -> Result<(), Failed> {
    let wanted = node
        .config
        .get("persist_docs")
        .and_then(|p| p.get("columns"))
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    if !wanted {
        return Ok(());
    }
    let Some(table) = bq.table(&node.schema, &node.alias).await.map_err(plain)? else {
        return Ok(());
    };
    let keyword = if table.kind == "VIEW" {
        "view"
    } else {
        "table"
    };
    for field in &table.fields {
        let Some(column) = node.columns.get(&field.name) else {
            continue;
        };
        if column.description.trim().is_empty() {
            continue;
        }
        let statement = format!(
            "alter {keyword} {relation} alter column {} set options(description={})",
            quote(&field.name),
            sql::string_literal(&column.description)
        );
        bq.execute(&statement, Some(&node.name))
            .await
            .map_err(node_error(node, &statement, ""))?;
    }
    Ok(())
}

async fn model(shared: &Arc<Shared>, bq: &Arc<BigQuery>, node: &ParsedNode) -> Outcome {
    let materialized = node.materialized().to_string();
    if materialized == "ephemeral" {
        return Ok(NodeResult::new(
            &node.unique_id,
            NodeStatus::Success,
            "EPHEMERAL",
        ));
    }
    let options = table_options(node)?;
    bq.ensure_dataset(&node.schema).await.map_err(plain)?;
    let relation = bq.relation(&node.schema, &node.alias);
    let existing = bq.table(&node.schema, &node.alias).await.map_err(plain)?;
    let incremental = materialized == "incremental"
        && existing.as_ref().is_some_and(|t| t.kind == "TABLE")
        && !shared.options.full_refresh
        && !full_refresh_disabled(node);
    let compiled = compile(shared, node, incremental).await?;
    let runnable = executable(shared, node, &compiled)?;
    let sql = if shared.options.empty {
        format!("select * from (\n{runnable}\n) as dbt_internal_empty limit 0")
    } else {
        runnable
    };
    hooks(shared, node, "pre-hook").await?;
    // A view cannot be replaced by a table in place, nor the reverse.
    let wants_view = materialized == "view";
    if let Some(t) = &existing
        && (t.kind == "VIEW") != wants_view
        && matches!(materialized.as_str(), "view" | "table" | "incremental")
    {
        bq.drop_table(&node.schema, &node.alias)
            .await
            .map_err(plain)?;
    }
    let mut result = match materialized.as_str() {
        "view" => {
            let statement = sql::create_view(&relation, &sql, &options);
            bq.execute(&statement, Some(&node.name))
                .await
                .map_err(node_error(node, &statement, &sql))?;
            NodeResult::new(&node.unique_id, NodeStatus::Success, "CREATE VIEW")
        }
        "table" => create_table(bq, node, &relation, &sql, &options).await?,
        "incremental" if !incremental => create_table(bq, node, &relation, &sql, &options).await?,
        "incremental" => {
            let Some(target) = existing else {
                return Err(Failed::from(RunError::Warehouse(
                    "the incremental target vanished".to_string(),
                )));
            };
            incremental_model(bq, node, &relation, &sql, &target, &options).await?
        }
        other => {
            return Err(Failed::from(RunError::Config(format!(
                "materialization `{other}` is not available on BigQuery; use view, table, incremental or ephemeral"
            ))));
        }
    };
    persist_column_docs(bq, node, &relation).await?;
    hooks(shared, node, "post-hook").await?;
    result.compiled_code = Some(compiled);
    result.relation_name = Some(relation);
    Ok(result)
}

async fn create_table(
    bq: &BigQuery,
    node: &ParsedNode,
    relation: &str,
    sql: &str,
    options: &TableOptions,
) -> Outcome {
    let statement = sql::create_table_as(relation, sql, options);
    bq.execute(&statement, Some(&node.name))
        .await
        .map_err(node_error(node, &statement, sql))?;
    let rows = bq
        .table(&node.schema, &node.alias)
        .await
        .ok()
        .flatten()
        .and_then(|t| t.num_rows);
    let mut r = NodeResult::new(
        &node.unique_id,
        NodeStatus::Success,
        format!("CREATE TABLE ({} rows)", rows.unwrap_or(0)),
    );
    r.rows_affected = rows;
    Ok(r)
}

async fn incremental_model(
    bq: &BigQuery,
    node: &ParsedNode,
    relation: &str,
    sql: &str,
    target: &TableInfo,
    options: &TableOptions,
) -> Outcome {
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
    let columns: Vec<String> = target.fields.iter().map(|f| f.name.clone()).collect();
    let statement = match strategy.as_str() {
        "append" => sql::insert_into(relation, sql, &columns),
        "merge" | "delete+insert" => {
            if unique_key.is_empty() {
                return Err(Failed::from(RunError::Config(format!(
                    "incremental_strategy `{strategy}` needs a `unique_key` (a column or a list of columns) in {}",
                    node.original_file_path
                ))));
            }
            sql::merge(relation, sql, &unique_key, &columns)
        }
        "insert_overwrite" => {
            let Some(partition) = &options.partition_by else {
                return Err(Failed::from(RunError::Config(format!(
                    "incremental_strategy `insert_overwrite` needs `partition_by` in {}",
                    node.original_file_path
                ))));
            };
            return insert_overwrite(bq, node, relation, sql, partition, &columns).await;
        }
        other => {
            return Err(Failed::from(RunError::Config(format!(
                "incremental_strategy `{other}` is not one of append, merge, delete+insert, insert_overwrite"
            ))));
        }
    };
    let done = bq
        .execute(&statement, Some(&node.name))
        .await
        .map_err(node_error(node, &statement, sql))?;
    let rows = done.affected_rows.unwrap_or(0);
    let mut r = NodeResult::new(
        &node.unique_id,
        NodeStatus::Success,
        format!("{} ({rows} rows)", strategy.to_uppercase()),
    );
    r.rows_affected = Some(rows);
    Ok(r)
}

/// The new rows go to a temporary table; their partitions are read from it
/// and replaced in the target by one MERGE, so readers see the old or the
/// new partitions, never a mix.
async fn insert_overwrite(
    bq: &BigQuery,
    node: &ParsedNode,
    relation: &str,
    sql: &str,
    partition: &PartitionBy,
    columns: &[String],
) -> Outcome {
    let tmp_name = format!("{}__dbt_tmp", node.alias);
    let tmp = bq.relation(&node.schema, &tmp_name);
    let stage = sql::create_table_as(&tmp, sql, &TableOptions::default());
    let outcome = async {
        bq.execute(&stage, Some(&node.name))
            .await
            .map_err(node_error(node, &stage, sql))?;
        let found = bq
            .fetch(&sql::partitions_of(&tmp, partition), Some(&node.name))
            .await
            .map_err(node_error(node, &stage, sql))?;
        let partitions: Vec<String> = found
            .rows
            .iter()
            .filter_map(|r| r.first())
            .filter(|v| !v.is_null())
            .map(|v| partition.literal(v))
            .collect();
        let statement = sql::insert_overwrite(
            relation,
            &format!("select * from {tmp}"),
            partition,
            &partitions,
            columns,
        );
        let done = bq
            .execute(&statement, Some(&node.name))
            .await
            .map_err(node_error(node, &statement, ""))?;
        Ok::<_, Failed>((partitions.len(), done.affected_rows.unwrap_or(0)))
    }
    .await;
    let _ = bq.drop_table(&node.schema, &tmp_name).await;
    let (partitions, rows) = outcome?;
    let mut r = NodeResult::new(
        &node.unique_id,
        NodeStatus::Success,
        format!("INSERT_OVERWRITE ({partitions} partitions, {rows} rows)"),
    );
    r.rows_affected = Some(rows);
    Ok(r)
}

async fn seed(bq: &Arc<BigQuery>, node: &ParsedNode) -> Outcome {
    let export = crate::adapters::datafusion::export_seed(&node.abs_path, node.seed_delimiter())
        .await
        .map_err(|e| {
            Failed::from(RunError::Warehouse(super::materialize::seed_error(
                node,
                &e.to_string(),
            )))
        })?;
    let declared: std::collections::BTreeMap<String, String> = match node.config.get("column_types")
    {
        Some(serde_json::Value::Object(m)) => m
            .iter()
            .filter_map(|(k, v)| {
                v.as_str()
                    .map(|t| (k.to_ascii_lowercase(), t.to_ascii_uppercase()))
            })
            .collect(),
        _ => Default::default(),
    };
    let fields: Vec<Field> = export
        .columns
        .iter()
        .map(|(name, inferred)| Field {
            name: name.clone(),
            data_type: declared
                .get(&name.to_ascii_lowercase())
                .cloned()
                .unwrap_or_else(|| inferred.to_string()),
            mode: "NULLABLE".into(),
            fields: Vec::new(),
        })
        .collect();
    let rows = bq
        .replace_with_csv(
            &node.schema,
            &node.alias,
            &fields,
            export.csv,
            Some(&node.name),
        )
        .await
        .map_err(|e| {
            Failed::from(RunError::Warehouse(super::materialize::seed_error(
                node,
                &format!(
                    "{e}{}",
                    e.help()
                        .map(|h| format!("\n  help: {h}"))
                        .unwrap_or_default()
                ),
            )))
        })?;
    let mut r = NodeResult::new(
        &node.unique_id,
        NodeStatus::Success,
        format!("INSERT {rows}"),
    );
    r.rows_affected = Some(rows);
    r.relation_name = Some(bq.relation(&node.schema, &node.alias));
    Ok(r)
}

async fn test(shared: &Arc<Shared>, bq: &Arc<BigQuery>, node: &ParsedNode) -> Outcome {
    let (compiled, node) = compile_test(shared, node).await?;
    let node = &node;
    let sql = executable(shared, node, &compiled)?;
    let limit = node.config.get("limit").and_then(|v| v.as_u64());
    let fail_calc = node.config.str_value("fail_calc").unwrap_or("count(*)");
    let inner = match limit {
        Some(l) => format!("select * from (\n{sql}\n) as dbt_internal_limit limit {l}"),
        None => sql.clone(),
    };
    let store = node
        .config
        .get("store_failures")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let audit = format!("{}_dbt_test__audit", shared.compiler.world.target_schema);
    let source = if store {
        bq.ensure_dataset(&audit).await.map_err(plain)?;
        let stored = bq.relation(&audit, &node.alias);
        let statement = sql::create_table_as(&stored, &inner, &TableOptions::default());
        bq.execute(&statement, Some(&node.name))
            .await
            .map_err(node_error(node, &statement, &sql))?;
        stored
    } else {
        format!("(\n{inner}\n)")
    };
    let count_sql = format!("select {fail_calc} as failures from {source} as dbt_internal_test");
    let result = bq
        .fetch(&count_sql, Some(&node.name))
        .await
        .map_err(node_error(node, &count_sql, &sql))?;
    let failures = result
        .rows
        .first()
        .and_then(|r| r.first())
        .and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)))
        .unwrap_or(0)
        .max(0) as u64;
    let stored = store.then(|| format!("{audit}.{}", node.alias));
    Ok(test_verdict(node, failures, stored, sql))
}

/// dbt-bigquery's snapshot: the changes are staged (inserts of new versions,
/// updates closing the current ones) and applied by one MERGE on
/// `dbt_scd_id`, so a failure changes nothing.
async fn snapshot(shared: &Arc<Shared>, bq: &Arc<BigQuery>, node: &ParsedNode) -> Outcome {
    let compiled = compile(shared, node, false).await?;
    let sql = executable(shared, node, &compiled)?;
    let keys = key_list(node, "unique_key");
    if keys.is_empty() {
        return Err(Failed::from(RunError::Config(format!(
            "snapshot `{}` needs `unique_key` (a column or a list of columns) in its config",
            node.name
        ))));
    }
    bq.ensure_dataset(&node.schema).await.map_err(plain)?;
    let relation = bq.relation(&node.schema, &node.alias);
    let existing = bq.table(&node.schema, &node.alias).await.map_err(plain)?;
    let now = format!(
        "timestamp '{}'",
        chrono::Utc::now().format("%Y-%m-%d %H:%M:%S%.6f")
    );
    let strategy = node.config.str_value("strategy").unwrap_or("").to_string();
    let (updated, changed) = match strategy.as_str() {
        "timestamp" => {
            let col = node.config.str_value("updated_at").ok_or_else(|| {
                Failed::from(RunError::Config(format!(
                    "snapshot `{}` uses the timestamp strategy and needs `updated_at`",
                    node.name
                )))
            })?;
            (
                format!("cast(src.{} as timestamp)", quote(col)),
                format!("cast(src.{} as timestamp) > cur.dbt_updated_at", quote(col)),
            )
        }
        "check" => {
            let cols: Vec<String> = match node.config.get("check_cols") {
                Some(serde_json::Value::String(s)) if s == "all" => bq
                    .dry_run(&sql, Some(&node.name))
                    .await
                    .map_err(node_error(node, &sql, &sql))?
                    .schema
                    .into_iter()
                    .map(|f| f.name)
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
                    .map(|c| format!("src.{q} is distinct from cur.{q}", q = quote(c)))
                    .collect::<Vec<_>>()
                    .join(" or "),
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
        .map(|k| format!("cast(src.{} as string)", quote(k)))
        .collect::<Vec<_>>()
        .join(" || '|' || ");
    let scd_id = |from: &str| format!("to_hex(md5({key_concat} || '|' || cast({from} as string)))");
    // dbt 1.9's `dbt_valid_to_current` (current rows' dbt_valid_to instead
    // of NULL) and `hard_deletes` (ignore, invalidate, new_record), as on
    // the embedded warehouse.
    let options = super::materialize::SnapshotOptions::of(node)?;
    let current_value = options
        .valid_to_current
        .as_deref()
        .map(|e| format!("cast(({e}) as timestamp)"));
    let current_to = current_value
        .clone()
        .unwrap_or_else(|| "cast(null as timestamp)".to_string());
    let is_current = |alias: &str| match &current_value {
        Some(v) => format!("({alias}.dbt_valid_to is null or {alias}.dbt_valid_to = {v})"),
        None => format!("{alias}.dbt_valid_to is null"),
    };
    let hard_deletes = options.hard_deletes;
    let new_record = options.new_record();
    let Some(target) = existing else {
        let first = format!(
            "select src.*, {id} as dbt_scd_id, {updated} as dbt_updated_at, {updated} as dbt_valid_from, {current_to} as dbt_valid_to{deleted} from (\n{sql}\n) as src",
            id = scd_id(&updated),
            deleted = if new_record {
                ", 'False' as dbt_is_deleted"
            } else {
                ""
            },
        );
        let statement = sql::create_table_as(&relation, &first, &TableOptions::default());
        bq.execute(&statement, Some(&node.name))
            .await
            .map_err(node_error(node, &statement, &sql))?;
        let mut r = NodeResult::new(&node.unique_id, NodeStatus::Success, "SNAPSHOT (created)");
        r.relation_name = Some(relation);
        r.compiled_code = Some(statement);
        return Ok(r);
    };
    let cols: Vec<String> = target
        .fields
        .iter()
        .map(|f| f.name.clone())
        .filter(|c| !c.starts_with("dbt_"))
        .collect();
    let on = |l: &str, r: &str| {
        keys.iter()
            .map(|k| format!("{l}.{q} = {r}.{q}", q = quote(k)))
            .collect::<Vec<_>>()
            .join(" and ")
    };
    let list = |alias: &str| {
        cols.iter()
            .map(|c| format!("{alias}.{}", quote(c)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let had_deleted = target.fields.iter().any(|f| f.name == "dbt_is_deleted");
    // A row's deleted flag ('False' in a table from before new_record).
    let flag = |alias: &str| {
        if had_deleted {
            format!("coalesce({alias}.dbt_is_deleted, 'False')")
        } else {
            "'False'".to_string()
        }
    };
    let (flag_out, flag_kept) = if new_record {
        (
            ", 'False' as dbt_is_deleted".to_string(),
            format!(", {} as dbt_is_deleted", flag("cur")),
        )
    } else {
        (String::new(), String::new())
    };
    let deletes = if hard_deletes == "ignore" {
        String::new()
    } else {
        let gone = format!(
            "{} <> 'True' and not exists (select 1 from src where {})",
            flag("cur"),
            on("src", "cur")
        );
        let mut text = format!(
            "\nunion all\nselect {cur}, cur.dbt_scd_id, cur.dbt_updated_at, cur.dbt_valid_from, {now} as dbt_valid_to{flag_kept}, 'delete' as dbt_change_type\nfrom cur where {gone}",
            cur = list("cur"),
        );
        if new_record {
            text.push_str(&format!(
                "\nunion all\nselect {cur}, {id} as dbt_scd_id, {now} as dbt_updated_at, {now} as dbt_valid_from, {current_to} as dbt_valid_to, 'True' as dbt_is_deleted, 'insert' as dbt_change_type\nfrom cur where {gone}",
                cur = list("cur"),
                id = scd_id(&now).replace("src.", "cur."),
            ));
        }
        text
    };
    // A key deleted earlier (new_record) and back in the source is new
    // again from now.
    let (changed_from, changed_when) = if new_record {
        (
            format!(
                "case when {} = 'True' then {now} else {updated} end",
                flag("cur")
            ),
            format!("({changed}) or {} = 'True'", flag("cur")),
        )
    } else {
        (updated.clone(), changed.clone())
    };
    let staged = format!(
        "with src as (\n{sql}\n),\ncur as (select * from {relation} as s where {cur_s}),\nchanged as (select src.*, {changed_from} as dbt_new_from from src join cur on {on_cur} where {changed_when}),\nfresh as (select src.* from src where not exists (select 1 from cur where {on_cur}))\n\
         select {src_cols}, {id_changed} as dbt_scd_id, src.dbt_new_from as dbt_updated_at, src.dbt_new_from as dbt_valid_from, {current_to} as dbt_valid_to{flag_out}, 'insert' as dbt_change_type from changed as src\n\
         union all\nselect {src_cols}, {id_fresh} as dbt_scd_id, {updated} as dbt_updated_at, {updated} as dbt_valid_from, {current_to} as dbt_valid_to{flag_out}, 'insert' as dbt_change_type from fresh as src\n\
         union all\nselect {cur_cols}, cur.dbt_scd_id, cur.dbt_updated_at, cur.dbt_valid_from, changed.dbt_new_from as dbt_valid_to{flag_kept}, 'update' as dbt_change_type from cur join changed on {on_changed}{deletes}",
        cur_s = is_current("s"),
        on_cur = on("src", "cur"),
        on_changed = on("changed", "cur"),
        src_cols = list("src"),
        cur_cols = list("cur"),
        id_changed = scd_id("src.dbt_new_from"),
        id_fresh = scd_id(&updated),
    );
    let mut meta = vec![
        "dbt_scd_id",
        "dbt_updated_at",
        "dbt_valid_from",
        "dbt_valid_to",
    ];
    if new_record {
        meta.push("dbt_is_deleted");
    }
    let all_cols: Vec<String> = cols
        .iter()
        .cloned()
        .chain(meta.into_iter().map(String::from))
        .collect();
    let quoted = all_cols
        .iter()
        .map(|c| quote(c))
        .collect::<Vec<_>>()
        .join(", ");
    let dest_current = is_current("DBT_INTERNAL_DEST");
    let statement = format!(
        "merge into {relation} as DBT_INTERNAL_DEST\nusing (\n{staged}\n) as DBT_INTERNAL_SOURCE\non DBT_INTERNAL_SOURCE.dbt_scd_id = DBT_INTERNAL_DEST.dbt_scd_id\n\
         when matched and {dest_current} and DBT_INTERNAL_SOURCE.dbt_change_type in ('update', 'delete')\n    then update set dbt_valid_to = DBT_INTERNAL_SOURCE.dbt_valid_to\n\
         when not matched and DBT_INTERNAL_SOURCE.dbt_change_type = 'insert'\n    then insert ({quoted}) values ({quoted});"
    );
    let done = bq
        .execute(&statement, Some(&node.name))
        .await
        .map_err(node_error(node, &statement, &sql))?;
    let rows = done.affected_rows.unwrap_or(0);
    let mut r = NodeResult::new(
        &node.unique_id,
        NodeStatus::Success,
        format!("SNAPSHOT ({rows} rows changed)"),
    );
    r.rows_affected = Some(rows);
    r.relation_name = Some(relation);
    r.compiled_code = Some(statement);
    Ok(r)
}
