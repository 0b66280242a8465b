//! Tables as Delta Lake tables (ARCHITECTURE decision 4), through the
//! `deltalake` crate on the warehouse's own DataFusion session. Every write
//! is one Delta commit that records rdbt's invocation id and the node in the
//! commit info; until the commit file appears, readers (rdbt, DuckDB,
//! Polars, Spark) see the previous version, so a crash at any point loses
//! nothing that was published.

use super::{WarehouseError, quote, storage};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::catalog::TableProvider;
use datafusion::common::Column;
use datafusion::logical_expr::{Expr, cast, col, lit};
use datafusion::prelude::{DataFrame, SessionContext};
use deltalake::DeltaTable;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::SaveMode;
use std::path::Path;
use std::sync::Arc;

/// The commit-info key under which rdbt records who wrote a version.
pub const COMMIT_KEY: &str = "rdbt";

/// What a commit records about the write: the node, and what rdbt did.
#[derive(Debug, Clone, Copy, Default)]
pub struct Author<'a> {
    pub node: Option<&'a str>,
    /// The SQL statement that made the version (`UPDATE`, `DELETE`…), where
    /// Delta's own operation name would not say it.
    pub statement: Option<&'static str>,
}

pub(super) fn delta_error(e: deltalake::DeltaTableError) -> WarehouseError {
    WarehouseError::engine(e)
}

/// The `file://` URL of a table folder (created when missing).
pub(super) fn table_url(dir: &Path) -> Result<url::Url, WarehouseError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| WarehouseError::io("cannot create the table folder", dir, e))?;
    let abs = dir
        .canonicalize()
        .map_err(|e| WarehouseError::io("cannot resolve", dir, e))?;
    url::Url::from_directory_path(&abs)
        .map_err(|_| WarehouseError::Engine(format!("{} is not a local path", abs.display())))
}

/// The Delta table in `dir`, at its latest version, or `None` when `dir`
/// holds no table.
pub(super) async fn open(dir: &Path) -> Result<Option<DeltaTable>, WarehouseError> {
    if !storage::is_table(dir) {
        return Ok(None);
    }
    deltalake::open_table(table_url(dir)?)
        .await
        .map(Some)
        .map_err(delta_error)
}

/// The table in `dir`, or an uninitialized handle that a write creates.
async fn open_or_new(dir: &Path) -> Result<DeltaTable, WarehouseError> {
    DeltaTable::try_from_url(table_url(dir)?)
        .await
        .map_err(delta_error)
}

/// A table provider reading `table` in `ctx`.
pub(super) async fn provider(
    ctx: &SessionContext,
    table: &DeltaTable,
) -> Result<Arc<dyn TableProvider>, WarehouseError> {
    table
        .update_datafusion_session(&ctx.state())
        .map_err(delta_error)?;
    table.table_provider().await.map_err(WarehouseError::engine)
}

/// Commit properties naming this invocation and `author`'s node.
pub(super) fn commit(author: Author<'_>) -> CommitProperties {
    let mut info = serde_json::Map::new();
    info.insert(
        "invocation_id".into(),
        serde_json::Value::String(crate::invocation_id().to_string()),
    );
    info.insert(
        "version".into(),
        serde_json::Value::String(env!("CARGO_PKG_VERSION").to_string()),
    );
    if let Some(node) = author.node {
        info.insert("node".into(), serde_json::Value::String(node.to_string()));
    }
    if let Some(statement) = author.statement {
        info.insert(
            "statement".into(),
            serde_json::Value::String(statement.to_string()),
        );
    }
    CommitProperties::default()
        .with_metadata([(COMMIT_KEY.to_string(), serde_json::Value::Object(info))])
}

fn writer_properties() -> deltalake::parquet::file::properties::WriterProperties {
    use deltalake::parquet::basic::{Compression, ZstdLevel};
    deltalake::parquet::file::properties::WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap_or_default()))
        .build()
}

/// The Delta type an Arrow type is stored as, when it differs: Delta has
/// microsecond timestamps (in UTC, or without a zone), signed integers,
/// 128-bit decimals and no time-of-day or interval types.
fn storable(t: &DataType) -> Option<DataType> {
    match t {
        DataType::Timestamp(unit, tz) => {
            let tz = tz.as_ref().map(|_| Arc::<str>::from("UTC"));
            let same_tz = match (&tz, t) {
                (Some(_), DataType::Timestamp(_, Some(z))) => z.eq_ignore_ascii_case("utc"),
                (None, _) => true,
                _ => false,
            };
            (*unit != TimeUnit::Microsecond || !same_tz)
                .then_some(DataType::Timestamp(TimeUnit::Microsecond, tz))
        }
        DataType::Date64 => Some(DataType::Date32),
        DataType::UInt8 => Some(DataType::Int16),
        DataType::UInt16 => Some(DataType::Int32),
        DataType::UInt32 | DataType::UInt64 => Some(DataType::Int64),
        DataType::Float16 => Some(DataType::Float32),
        DataType::Decimal256(p, s) => Some(DataType::Decimal128((*p).min(38), (*s).min(38))),
        DataType::Null => Some(DataType::Int32),
        DataType::Dictionary(_, value) => Some(storable(value).unwrap_or((**value).clone())),
        DataType::Time32(_)
        | DataType::Time64(_)
        | DataType::Interval(_)
        | DataType::Duration(_) => Some(DataType::Utf8),
        _ => None,
    }
}

/// `df` with every column cast to a type Delta stores (see [`storable`]),
/// unchanged when none needs it.
pub(super) fn normalize(df: DataFrame) -> Result<DataFrame, WarehouseError> {
    let fields = df.schema().fields().clone();
    if fields.iter().all(|f| storable(f.data_type()).is_none()) {
        return Ok(df);
    }
    let exprs: Vec<Expr> = df
        .schema()
        .iter()
        .map(|(qualifier, field)| {
            let column = col(Column::new(qualifier.cloned(), field.name()));
            match storable(field.data_type()) {
                Some(t) => cast(column, t).alias(field.name()),
                None => column,
            }
        })
        .collect();
    df.select(exprs).map_err(WarehouseError::engine)
}

/// Rows the latest commit of `table` added, from its operation metrics.
async fn rows_added(table: &DeltaTable) -> u64 {
    use futures::StreamExt;
    let Some(Ok(info)) = table.history(Some(1)).next().await else {
        return 0;
    };
    let metrics = info.info.get("operationMetrics");
    ["num_added_rows", "numOutputRows", "num_output_rows"]
        .iter()
        .find_map(|k| metrics.and_then(|m| m.get(*k)).and_then(|v| v.as_u64()))
        .unwrap_or(0)
}

/// Writes `df`'s rows to the table in `dir` in one commit: `Overwrite`
/// replaces rows and schema (creating the table if needed), `Append` adds
/// rows. Returns the rows written.
pub(super) async fn write(
    ctx: &SessionContext,
    dir: &Path,
    df: DataFrame,
    mode: SaveMode,
    author: Author<'_>,
) -> Result<u64, WarehouseError> {
    let table = open_or_new(dir).await?;
    let (_, plan) = normalize(df)?.into_parts();
    let mut builder = table
        .write(Vec::new())
        .with_input_plan(plan)
        .with_session_state(Arc::new(ctx.state()))
        .with_save_mode(mode)
        .with_writer_properties(writer_properties())
        .with_commit_properties(commit(author));
    if matches!(mode, SaveMode::Overwrite) {
        builder = builder.with_schema_mode(SchemaMode::Overwrite);
    }
    let table = builder.await.map_err(delta_error)?;
    Ok(rows_added(&table).await)
}

/// How staged rows replace a table's rows in [`merge`].
pub(super) enum Match<'a> {
    /// Upsert: a target row whose key equals a new row's is updated to it;
    /// other new rows are inserted (`merge`, snapshots).
    Update { keys: &'a [String] },
    /// Target rows whose key equals (or with `null_safe`, is not distinct
    /// from) a new row's are deleted, and every new row inserted
    /// (`delete+insert`, `insert_overwrite`).
    Replace { keys: &'a [String], null_safe: bool },
}

/// The marker column that tells the rows to insert from the keys to delete.
const OP: &str = "__rdbt_merge_op";

/// One Delta MERGE of the rows staged in `staged` (a registered relation)
/// into the table in `dir`, as `how` says.
pub(super) async fn merge(
    ctx: &SessionContext,
    dir: &Path,
    staged: &str,
    columns: &[String],
    how: Match<'_>,
    author: Author<'_>,
) -> Result<(), WarehouseError> {
    let Some(table) = open(dir).await? else {
        return Err(WarehouseError::Engine(format!(
            "{} is not a Delta table",
            dir.display()
        )));
    };
    let target = |c: &str| col(Column::new(Some("t"), c));
    let source = |c: &str| col(Column::new(Some("s"), c));
    let select_list = columns
        .iter()
        .map(|c| quote(c))
        .collect::<Vec<_>>()
        .join(", ");
    let (source_sql, predicate) = match &how {
        Match::Update { keys } => {
            let on = keys
                .iter()
                .map(|k| target(k).eq(source(k)))
                .reduce(Expr::and)
                .unwrap_or(lit(false));
            (format!("SELECT {select_list} FROM {staged}"), on)
        }
        Match::Replace { keys, null_safe } => {
            let key_list = keys.iter().map(|k| quote(k)).collect::<Vec<_>>();
            let deletes = columns
                .iter()
                .map(|c| {
                    if keys.iter().any(|k| k == c) {
                        quote(c)
                    } else {
                        format!("NULL AS {}", quote(c))
                    }
                })
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT {select_list}, 'insert' AS {OP} FROM {staged} \
                 UNION ALL SELECT {deletes}, 'delete' AS {OP} FROM \
                 (SELECT DISTINCT {} FROM {staged})",
                key_list.join(", ")
            );
            let on = keys
                .iter()
                .map(|k| {
                    if *null_safe {
                        datafusion::logical_expr::binary_expr(
                            target(k),
                            datafusion::logical_expr::Operator::IsNotDistinctFrom,
                            source(k),
                        )
                    } else {
                        target(k).eq(source(k))
                    }
                })
                .fold(source(OP).eq(lit("delete")), Expr::and);
            (sql, on)
        }
    };
    let source_df = ctx.sql(&source_sql).await.map_err(WarehouseError::engine)?;
    let source_df = normalize(source_df)?;
    let builder = table
        .merge(source_df, predicate)
        .with_source_alias("s")
        .with_target_alias("t")
        .with_session_state(Arc::new(ctx.state()))
        .with_writer_properties(writer_properties())
        .with_commit_properties(commit(author));
    let builder = match how {
        Match::Update { .. } => builder
            .when_matched_update(|u| {
                columns
                    .iter()
                    .fold(u, |u, c| u.update(Column::new_unqualified(c), source(c)))
            })
            .and_then(|b| {
                b.when_not_matched_insert(|i| {
                    columns
                        .iter()
                        .fold(i, |i, c| i.set(Column::new_unqualified(c), source(c)))
                })
            }),
        Match::Replace { .. } => builder.when_matched_delete(|d| d).and_then(|b| {
            b.when_not_matched_insert(|i| {
                columns
                    .iter()
                    .fold(i.predicate(source(OP).eq(lit("insert"))), |i, c| {
                        i.set(Column::new_unqualified(c), source(c))
                    })
            })
        }),
    }
    .map_err(delta_error)?;
    builder.await.map_err(delta_error)?;
    Ok(())
}

/// Rows and bytes of the table's live files (from the log, not by scanning).
pub(super) fn totals(table: &DeltaTable) -> (u64, u64) {
    let Ok(state) = table.snapshot() else {
        return (0, 0);
    };
    let (mut rows, mut bytes) = (0u64, 0u64);
    for file in state.log_data() {
        rows += file.num_records().unwrap_or(0) as u64;
        bytes += file.size().max(0) as u64;
    }
    (rows, bytes)
}

/// The versions of `table`, newest first.
pub(super) async fn history(
    table: &DeltaTable,
    limit: Option<usize>,
) -> Result<Vec<crate::adapters::TableVersion>, WarehouseError> {
    use futures::TryStreamExt;
    let latest = table.version().unwrap_or(0);
    let infos: Vec<_> = table
        .history(limit)
        .try_collect()
        .await
        .map_err(delta_error)?;
    Ok(infos
        .into_iter()
        .enumerate()
        .map(|(i, info)| {
            let ours = info.info.get(COMMIT_KEY);
            let text = |k: &str| {
                ours.and_then(|o| o.get(k))
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
            };
            let metrics = info.info.get("operationMetrics");
            let metric = |k: &str| {
                metrics
                    .and_then(|m| m.get(k))
                    .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
            };
            let rows = match info.operation.as_deref() {
                Some("MERGE") => Some(
                    metric("num_target_rows_inserted").unwrap_or(0)
                        + metric("num_target_rows_updated").unwrap_or(0),
                ),
                _ => metric("num_added_rows").or_else(|| metric("numOutputRows")),
            };
            crate::adapters::TableVersion {
                version: latest.saturating_sub(i as u64),
                timestamp: info
                    .timestamp
                    .and_then(chrono::DateTime::<chrono::Utc>::from_timestamp_millis),
                operation: text("statement")
                    .or_else(|| info.operation.clone())
                    .unwrap_or_default(),
                invocation_id: text("invocation_id"),
                node: text("node"),
                rows,
            }
        })
        .collect())
}

/// Restores `version` of the table in `dir` as a new commit; returns the
/// new version.
pub(super) async fn restore(dir: &Path, version: u64) -> Result<u64, WarehouseError> {
    let table = open(dir)
        .await?
        .ok_or_else(|| WarehouseError::Engine(format!("{} is not a table", dir.display())))?;
    let latest = table.version().unwrap_or(0);
    if version >= latest {
        return Err(WarehouseError::Engine(format!(
            "version {version} is not older than the current version {latest}"
        )));
    }
    let (table, _) = table
        .restore()
        .with_version_to_restore(version as _)
        .with_commit_properties(commit(Author::default()))
        .await
        .map_err(|e| {
            let m = e.to_string();
            if m.contains("missing file") || m.contains("NotFound") || m.contains("No such file") {
                WarehouseError::Engine(format!(
                    "version {version} can no longer be restored: `rdbt vacuum` deleted files it reads ({m})"
                ))
            } else {
                delta_error(e)
            }
        })?;
    Ok(table.version().unwrap_or(0))
}

/// Deletes files of the table in `dir` that no version younger than
/// `retain` reads, and files no version ever committed (a crashed write's).
pub(super) async fn vacuum(
    dir: &Path,
    retain: std::time::Duration,
    dry_run: bool,
) -> Result<Vec<String>, WarehouseError> {
    let table = open(dir)
        .await?
        .ok_or_else(|| WarehouseError::Engine(format!("{} is not a table", dir.display())))?;
    let retain = chrono::Duration::from_std(retain)
        .map_err(|e| WarehouseError::Engine(format!("retention period: {e}")))?;
    let (_, metrics) = table
        .vacuum()
        .with_retention_period(retain)
        .with_enforce_retention_duration(false)
        .with_mode(deltalake::operations::vacuum::VacuumMode::Full)
        .with_dry_run(dry_run)
        .with_commit_properties(commit(Author::default()))
        .await
        .map_err(delta_error)?;
    Ok(metrics.files_deleted)
}

/// Tables with more live files than this are compacted after an
/// incremental write: 64, or `RDBT_COMPACT_AFTER_FILES` (0: never).
pub fn compact_after_files() -> Option<usize> {
    match std::env::var("RDBT_COMPACT_AFTER_FILES")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        Some(0) => None,
        Some(n) => Some(n),
        None => Some(64),
    }
}

/// Rewrites the table's small files into large ones; (removed, added).
pub(super) async fn compact(
    ctx: &SessionContext,
    dir: &Path,
    author: Author<'_>,
) -> Result<(u64, u64), WarehouseError> {
    let table = open(dir)
        .await?
        .ok_or_else(|| WarehouseError::Engine(format!("{} is not a table", dir.display())))?;
    let (_, metrics) = table
        .optimize()
        .with_session_state(Arc::new(ctx.state()))
        .with_writer_properties(writer_properties())
        .with_commit_properties(commit(author))
        .await
        .map_err(delta_error)?;
    Ok((metrics.num_files_removed, metrics.num_files_added))
}

/// How many data files the table's live version reads.
pub(super) fn file_count(table: &DeltaTable) -> usize {
    table
        .snapshot()
        .map(|s| s.log_data().into_iter().count())
        .unwrap_or(0)
}

/// Hard-links the data file `path` of the table in `from` into the table
/// folder `to` (copies it across file systems); an existing file is kept.
fn link_file(from: &Path, to: &Path, path: &str) -> Result<(), WarehouseError> {
    let (src, dest) = (from.join(path), to.join(path));
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| WarehouseError::io("cannot create", parent, e))?;
    }
    if !dest.exists() && std::fs::hard_link(&src, &dest).is_err() {
        std::fs::copy(&src, &dest).map_err(|e| WarehouseError::io("cannot copy", &src, e))?;
    }
    Ok(())
}

/// Makes the table in `dir` a clone of the one in `source` (see
/// `Warehouse::clone_table`); a relation already in `dir` is replaced, as
/// dbt's `create or replace table … clone` does. Returns the files the
/// clone reads.
pub(super) async fn clone(
    source: &Path,
    dir: &Path,
    author: Author<'_>,
) -> Result<usize, WarehouseError> {
    let from = open(source)
        .await?
        .ok_or_else(|| WarehouseError::Engine(format!("{} is not a table", source.display())))?;
    let state = from.snapshot().map_err(delta_error)?;
    if dir.exists() {
        std::fs::remove_dir_all(dir)
            .map_err(|e| WarehouseError::io("cannot replace the table", dir, e))?;
    }
    let mut adds = Vec::new();
    for file in state.log_data() {
        let path = file.path().to_string();
        if path.contains("://") || path.starts_with('/') {
            return Err(WarehouseError::Engine(format!(
                "{} reads a file outside its folder ({path}); clone its own source instead",
                source.display()
            )));
        }
        link_file(source, dir, &path)?;
        // The add action as the source's log has it (path, size, stats):
        // the clone's log describes the same files.
        #[allow(deprecated)]
        adds.push(deltalake::kernel::Action::Add(file.add_action()));
    }
    let files = adds.len();
    let schema = state.schema();
    let partitions = state.metadata().partition_columns().to_vec();
    deltalake::operations::create::CreateBuilder::new()
        .with_location(table_url(dir)?.to_string())
        .with_columns(schema.fields().cloned())
        .with_partition_columns(partitions)
        .with_actions(adds)
        .with_commit_properties(commit(author))
        .await
        .map_err(delta_error)?;
    Ok(files)
}

/// Publishes the audited candidate table in `candidate` as the next version
/// of the table in `dir` (write-audit-publish): one commit that replaces
/// the table's files by the candidate's, hard-linked into its folder (the
/// candidate began as a clone of the table, so the files they share are the
/// same). A first version is a clone; a changed schema is written over.
pub(super) async fn publish(
    ctx: &SessionContext,
    candidate: &Path,
    dir: &Path,
    author: Author<'_>,
) -> Result<(), WarehouseError> {
    let from = open(candidate).await?.ok_or_else(|| {
        WarehouseError::Engine(format!("{} holds no candidate", candidate.display()))
    })?;
    let Some(table) = open(dir).await? else {
        clone(candidate, dir, author).await?;
        return Ok(());
    };
    let (new_state, old_state) = (
        from.snapshot().map_err(delta_error)?,
        table.snapshot().map_err(delta_error)?,
    );
    if new_state.schema() != old_state.schema()
        || new_state.metadata().partition_columns() != old_state.metadata().partition_columns()
    {
        let df = ctx
            .read_table(provider(ctx, &from).await?)
            .map_err(WarehouseError::engine)?;
        write(ctx, dir, df, SaveMode::Overwrite, author).await?;
        return Ok(());
    }
    let old: std::collections::HashSet<String> = old_state
        .log_data()
        .into_iter()
        .map(|f| f.path().to_string())
        .collect();
    let mut new = std::collections::HashSet::new();
    let mut actions = Vec::new();
    for file in new_state.log_data() {
        let path = file.path().to_string();
        new.insert(path.clone());
        if old.contains(&path) {
            continue;
        }
        link_file(candidate, dir, &path)?;
        #[allow(deprecated)]
        actions.push(deltalake::kernel::Action::Add(file.add_action()));
    }
    for file in old_state.log_data() {
        if !new.contains(file.path().as_ref()) {
            actions.push(deltalake::kernel::Action::Remove(file.remove_action(true)));
        }
    }
    deltalake::kernel::transaction::CommitBuilder::from(commit(author))
        .with_actions(actions)
        .build(
            Some(old_state),
            table.log_store(),
            deltalake::protocol::DeltaOperation::Write {
                mode: SaveMode::Overwrite,
                partition_by: None,
                predicate: None,
            },
        )
        .await
        .map_err(delta_error)?;
    Ok(())
}
