//! Warehouses. Each adapter is a pure [`Dialect`] (quoting, relation names,
//! type names) and an [`Adapter`]: the async connection that `run/` and
//! `cli/` use as `Arc<dyn Adapter>`. Code above this module asks these; it
//! never branches on the warehouse kind.

pub mod bigquery;
mod cache;
mod connect;
pub mod datafusion;
pub mod format;
mod sources;
pub mod write;

pub use connect::{OpenOptions, open};
pub use sources::{Catalog, CatalogRequest, DryRun, LandAccess, SourceTable};

pub use write::{AdapterResponse, PartitionBy, Relation, RelationOptions, SeedFile, WriteStrategy};

use crate::settings::TargetKind;
use crate::sql::SqlDialect;
use ::datafusion::arrow::datatypes::SchemaRef;
use ::datafusion::arrow::record_batch::RecordBatch;
use futures::StreamExt;

/// A query's rows as they arrive, batch by batch.
pub type BatchStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<RecordBatch, AdapterError>> + Send>>;

/// A running query: its columns, known before the first row, and its rows.
pub struct QueryStream {
    pub schema: SchemaRef,
    pub batches: BatchStream,
}

impl QueryStream {
    /// Every batch, in order; no rows is one empty batch (printers still
    /// show the header).
    pub async fn collect(mut self) -> Result<Vec<RecordBatch>, AdapterError> {
        let mut out = Vec::new();
        while let Some(batch) = self.batches.next().await {
            let batch = batch?;
            if batch.num_rows() > 0 || out.is_empty() {
                out.push(batch);
            }
        }
        if out.is_empty() {
            out.push(RecordBatch::new_empty(self.schema));
        }
        if out.len() > 1 && out[0].num_rows() == 0 {
            out.remove(0);
        }
        Ok(out)
    }
}

/// A relation that exists in the warehouse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationKind {
    Table,
    View,
}

impl RelationKind {
    /// As dbt's `Relation.type` says it.
    pub fn as_str(self) -> &'static str {
        match self {
            RelationKind::Table => "table",
            RelationKind::View => "view",
        }
    }
}

/// One column of a relation, with its type as the warehouse spells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnInfo {
    pub name: String,
    pub data_type: String,
}

/// What a warehouse can do beyond running SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// `MERGE` statements.
    pub supports_merge: bool,
    /// Multi-statement transactions.
    pub supports_transactions: bool,
    /// Cost estimates without running (BigQuery's dry run).
    pub supports_dry_run: bool,
    /// Every relation records when it last changed ([`Adapter::last_modified`]).
    pub supports_metadata_freshness: bool,
    /// Sources on the land and over files are read where they are; nothing
    /// needs staging ([`Adapter::stage_sources`]).
    pub reads_sources_in_place: bool,
}

/// A warehouse call that failed: the warehouse's message, with what to do
/// when the adapter knows, and what it knows about where and why.
#[derive(Debug, Clone, PartialEq, Default, thiserror::Error)]
#[error("{message}")]
pub struct AdapterError {
    pub message: String,
    pub help: Option<String>,
    /// The statement the warehouse ran, when it was not the caller's SQL
    /// as given (a wrapping DDL or MERGE).
    pub statement: Option<String>,
    /// Line and column in `statement` (or the caller's SQL) it points at.
    pub position: Option<(usize, Option<usize>)>,
    /// A relation the statement read and the warehouse does not have:
    /// (schema, name).
    pub missing_relation: Option<(String, String)>,
    /// The warehouse's own bug, not the user's SQL.
    pub internal: bool,
}

impl AdapterError {
    pub fn new(message: impl Into<String>) -> Self {
        AdapterError {
            message: message.into(),
            ..Default::default()
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn in_statement(mut self, statement: &str) -> Self {
        if self.statement.is_none() {
            self.statement = Some(statement.to_string());
        }
        self
    }
}

/// A warehouse connection. Every warehouse implements it; code above
/// `adapters/` holds an `Arc<dyn Adapter>` and never names the warehouse.
#[async_trait::async_trait]
pub trait Adapter: Send + Sync {
    /// The adapter name as dbt macros see it (`adapter.type()`).
    fn adapter_type(&self) -> &'static str;

    fn capabilities(&self) -> Capabilities;

    /// Starts a query and streams its rows as Arrow batches, at most
    /// `limit` of them, in the query's order: rows are read from the
    /// warehouse as the stream is polled (a BigQuery result page, a
    /// DataFusion partition batch), not held all at once.
    async fn query_stream(
        &self,
        sql: &str,
        limit: Option<usize>,
    ) -> Result<QueryStream, AdapterError>;

    /// Runs a query and returns all its rows (at most `limit`). An empty
    /// result still carries its columns (one empty batch).
    async fn query(
        &self,
        sql: &str,
        limit: Option<usize>,
    ) -> Result<Vec<RecordBatch>, AdapterError> {
        self.query_stream(sql, limit).await?.collect().await
    }

    /// Runs a statement for its effect.
    async fn execute(&self, sql: &str) -> Result<(), AdapterError>;

    /// The columns of `schema.name`, or `None` when it does not exist.
    async fn columns(
        &self,
        schema: &str,
        name: &str,
    ) -> Result<Option<Vec<ColumnInfo>>, AdapterError>;

    /// Whether `schema.name` exists, and as what.
    async fn relation_kind(
        &self,
        schema: &str,
        name: &str,
    ) -> Result<Option<RelationKind>, AdapterError>;

    /// The tables and views of `schema` (`adapter.list_relations_without_caching`).
    async fn list_relations(
        &self,
        schema: &str,
    ) -> Result<Vec<(String, RelationKind)>, AdapterError>;

    /// The schemas (BigQuery datasets) there are.
    async fn list_schemas(&self) -> Result<Vec<String>, AdapterError>;

    /// Renames a relation within its schema; a relation already named `to`
    /// is an error.
    async fn rename_relation(&self, schema: &str, from: &str, to: &str)
    -> Result<(), AdapterError>;

    /// Creates a schema (a BigQuery dataset) if it does not exist.
    async fn create_schema(&self, schema: &str) -> Result<(), AdapterError>;

    /// Drops a table or view; a missing one is not an error.
    async fn drop_relation(&self, schema: &str, name: &str) -> Result<(), AdapterError>;

    /// When `schema.name`'s data last changed, as the warehouse records it
    /// (dbt's metadata-based source freshness); `None` where it does not.
    async fn last_modified(
        &self,
        schema: &str,
        name: &str,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, AdapterError>;

    /// How this warehouse's SQL is written (what it executes, whatever
    /// dialect the models are written in).
    fn dialect(&self) -> &'static dyn Dialect;

    /// `schema.name` fully qualified and quoted, as statements name it.
    fn relation(&self, schema: &str, name: &str) -> String;

    /// Runs a statement on behalf of a node (hooks); the node labels the
    /// warehouse's job where it has labels.
    async fn execute_for(&self, sql: &str, node: Option<&str>) -> Result<(), AdapterError> {
        let _ = node;
        self.execute(sql).await
    }

    /// The columns `sql` would produce, without running it (a plan, or a
    /// dry run).
    async fn query_columns(&self, sql: &str) -> Result<Vec<ColumnInfo>, AdapterError>;

    /// Creates or replaces a view; a table of that name is replaced too. A
    /// view that does not compile leaves the previous relation in place.
    async fn create_view(
        &self,
        relation: &Relation<'_>,
        sql: &str,
    ) -> Result<AdapterResponse, AdapterError>;

    /// Writes `sql`'s rows into a table as `strategy` says; a missing table
    /// is created whatever the strategy, and a view of that name replaced.
    /// On failure the previous table stays as it was.
    async fn write_table(
        &self,
        relation: &Relation<'_>,
        sql: &str,
        strategy: &WriteStrategy,
    ) -> Result<AdapterResponse, AdapterError>;

    /// Replaces a table with a seed file's rows, types inferred as a local
    /// build infers them and `column_types` applied.
    async fn load_seed(
        &self,
        relation: &Relation<'_>,
        seed: &SeedFile<'_>,
    ) -> Result<AdapterResponse, AdapterError>;

    /// Whether the warehouse answers: a query runs, or its folder takes a
    /// file (`rdbt debug`). Says what was checked.
    async fn check_connection(&self) -> Result<String, AdapterError>;

    /// The relations' columns, kinds and sizes (`rdbt docs generate`).
    async fn catalog(&self, wanted: &[CatalogRequest]) -> Result<Catalog, AdapterError>;

    /// Declares the project's source tables to a warehouse that reads them
    /// in place (external sources over files).
    async fn register_sources(
        &self,
        sources: &[SourceTable],
        land: &LandAccess,
    ) -> Result<(), AdapterError> {
        let _ = (sources, land);
        Ok(())
    }

    /// Creates or refreshes tables for sources the warehouse cannot read in
    /// place (BigQuery: external tables, or loaded copies); returns how many
    /// were staged. `report` says each one.
    async fn stage_sources(
        &self,
        sources: &[SourceTable],
        land: &LandAccess,
        report: &(dyn Fn(String) + Send + Sync),
    ) -> Result<usize, AdapterError> {
        let _ = (sources, land, report);
        Ok(0)
    }

    /// Validates a query without running it, with the bytes it would
    /// process (`capabilities().supports_dry_run`).
    async fn dry_run(&self, sql: &str, node: Option<&str>) -> Result<DryRun, AdapterError> {
        let _ = (sql, node);
        Err(AdapterError::new(format!(
            "the {} warehouse has no dry run",
            self.adapter_type()
        )))
    }

    /// `persist_docs: {columns: true}`: column descriptions stored on the
    /// relation, where the warehouse keeps them.
    async fn persist_column_docs(
        &self,
        relation: &Relation<'_>,
        descriptions: &[(String, String)],
    ) -> Result<(), AdapterError> {
        let _ = (relation, descriptions);
        Ok(())
    }

    /// The versions of table `schema.name`, newest first (at most `limit`).
    async fn history(
        &self,
        schema: &str,
        name: &str,
        limit: Option<usize>,
    ) -> Result<Vec<TableVersion>, AdapterError> {
        let _ = (schema, name, limit);
        Err(self.no_history())
    }

    /// Makes `version` of table `schema.name` the current one again, as a
    /// new version; returns the new version.
    async fn restore(&self, schema: &str, name: &str, version: u64) -> Result<u64, AdapterError> {
        let _ = (schema, name, version);
        Err(self.no_history())
    }

    /// Deletes the files of table `schema.name` that no version younger
    /// than `retain` reads (all of them with `dry_run`: only lists them).
    async fn vacuum(
        &self,
        schema: &str,
        name: &str,
        retain: std::time::Duration,
        dry_run: bool,
    ) -> Result<Vec<String>, AdapterError> {
        let _ = (schema, name, retain, dry_run);
        Err(self.no_history())
    }

    /// Rewrites the small files of table `schema.name` into large ones (a
    /// new version with the same rows); returns (files removed, added).
    async fn compact(&self, schema: &str, name: &str) -> Result<(u64, u64), AdapterError> {
        let _ = (schema, name);
        Err(self.no_history())
    }

    /// Makes `schema.name` a clone of the state's relation `source` (dbt's
    /// `clone`): a table as a zero-copy table clone, a view as the same
    /// view. An existing relation is replaced.
    async fn clone_relation(
        &self,
        source: &StateRelation,
        schema: &str,
        name: &str,
    ) -> Result<AdapterResponse, AdapterError> {
        let _ = (source, schema, name);
        Err(AdapterError::new(format!(
            "the {} warehouse cannot clone relations",
            self.adapter_type()
        )))
    }

    /// Makes the relations of another environment's embedded warehouse
    /// readable as [`STATE_CATALOG`] (`--defer`).
    async fn attach_state(&self, warehouse: &std::path::Path) -> Result<(), AdapterError> {
        let _ = warehouse;
        Ok(())
    }

    /// Write-audit-publish (`audit: before_publish`): from now on, writes
    /// of table `schema.name` make a candidate that this process reads
    /// under the table's name and other readers do not see, until
    /// [`Adapter::publish_audit`] or [`Adapter::discard_audit`].
    async fn begin_audit(&self, schema: &str, name: &str) -> Result<(), AdapterError> {
        let _ = (schema, name);
        Err(AdapterError::new(format!(
            "the {} warehouse has no write-audit-publish yet",
            self.adapter_type()
        )))
    }

    /// Publishes the candidate as the table's next version.
    async fn publish_audit(
        &self,
        schema: &str,
        name: &str,
        node: Option<&str>,
    ) -> Result<(), AdapterError> {
        let _ = (schema, name, node);
        Ok(())
    }

    /// Ends the audit without publishing: the table stays as it was.
    async fn discard_audit(&self, schema: &str, name: &str) -> Result<(), AdapterError> {
        let _ = (schema, name);
        Ok(())
    }

    /// The error for a warehouse without table versions.
    fn no_history(&self) -> AdapterError {
        AdapterError::new(format!(
            "the {} warehouse keeps no table versions here",
            self.adapter_type()
        ))
    }
}

pub use crate::sql::STATE_CATALOG;

/// A relation of another environment (`--state`), for `clone`.
#[derive(Debug, Clone, PartialEq)]
pub struct StateRelation {
    /// The embedded warehouse folder that holds it.
    pub warehouse: Option<std::path::PathBuf>,
    pub database: String,
    pub schema: String,
    pub name: String,
}

/// One version of a table (`rdbt history`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TableVersion {
    pub version: u64,
    /// When it was committed.
    pub timestamp: Option<chrono::DateTime<chrono::Utc>>,
    /// What made it: WRITE, MERGE, OPTIMIZE, RESTORE, CREATE TABLE…
    pub operation: String,
    /// The rdbt invocation and node that wrote it, when rdbt did.
    pub invocation_id: Option<String>,
    pub node: Option<String>,
    /// Rows the version added (written, inserted or updated), when known.
    pub rows: Option<u64>,
}

/// SQL generation facts of one warehouse.
pub trait Dialect: Send + Sync {
    /// The adapter name as dbt macros see it (`adapter.type()`, dispatch
    /// prefixes such as `bigquery__`).
    fn adapter_type(&self) -> &'static str;
    fn quote_identifier(&self, ident: &str) -> String;
    /// A fully qualified relation name as it appears in compiled SQL.
    fn relation_name(&self, database: &str, schema: &str, identifier: &str) -> String;
    /// dbt's `type_*` cross-database types.
    fn type_name(&self, generic: GenericType) -> &'static str;

    /// A timestamp literal.
    fn timestamp_literal(&self, text: &str) -> String {
        format!("CAST('{}' AS TIMESTAMP)", text.replace('\'', "''"))
    }

    /// A timestamp expression as the warehouse stores snapshot times
    /// (`dbt_valid_from`, `dbt_valid_to`, `dbt_updated_at`).
    fn snapshot_time(&self, expr: &str) -> String {
        expr.to_string()
    }

    /// `dbt_valid_to_current` as written in config, as a snapshot time.
    fn snapshot_time_value(&self, configured: &str) -> String {
        self.snapshot_time(&format!("CAST(({configured}) AS TIMESTAMP)"))
    }

    /// A hex MD5 of a text expression (dbt's `dbt_scd_id`).
    fn md5_hex(&self, expr: &str) -> String {
        format!("md5({expr})")
    }

    /// The query's rows capped at none (`--empty`).
    fn empty_query(&self, sql: &str) -> String {
        format!("select * from (\n{sql}\n) as dbt_internal_empty limit 0")
    }
}

#[derive(Debug, Clone, Copy)]
pub enum GenericType {
    String,
    Int,
    BigInt,
    Float,
    Numeric,
    Boolean,
    Timestamp,
}

/// The embedded DataFusion warehouse: catalog.schema.table with the catalog
/// left implicit, ANSI double quotes.
pub struct DataFusionDialect;

impl Dialect for DataFusionDialect {
    fn adapter_type(&self) -> &'static str {
        "datafusion"
    }

    fn quote_identifier(&self, ident: &str) -> String {
        SqlDialect::DataFusion.quote_identifier(ident)
    }

    fn relation_name(&self, database: &str, schema: &str, identifier: &str) -> String {
        if database == STATE_CATALOG {
            // A deferred relation, in the attached state warehouse.
            return SqlDialect::DataFusion.qualified_name(&[database, schema, identifier]);
        }
        SqlDialect::DataFusion.qualified_name(&[schema, identifier])
    }

    fn type_name(&self, generic: GenericType) -> &'static str {
        match generic {
            GenericType::String => "varchar",
            GenericType::Int => "int",
            GenericType::BigInt => "bigint",
            GenericType::Float => "double",
            GenericType::Numeric => "decimal(38, 9)",
            GenericType::Boolean => "boolean",
            GenericType::Timestamp => "timestamp",
        }
    }

    /// Microseconds, as DuckDB's are: the usual "current" value,
    /// 9999-12-31, is past what nanoseconds reach.
    fn snapshot_time(&self, expr: &str) -> String {
        format!("arrow_cast({expr}, 'Timestamp(Microsecond, None)')")
    }

    /// A date written in it ('9999-12-31', cast(... as timestamp),
    /// to_date(...)) is read straight into microseconds.
    fn snapshot_time_value(&self, configured: &str) -> String {
        let literal =
            regex::Regex::new(r"'(\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?)'")
                .ok()
                .and_then(|re| re.captures(configured).map(|c| c[1].to_string()));
        match literal {
            Some(day) => self.snapshot_time(&format!("'{day}'")),
            None => self.snapshot_time(&format!("CAST(({configured}) AS TIMESTAMP)")),
        }
    }
}

/// Google BigQuery: `project`.`dataset`.`table` in backticks.
pub struct BigQueryDialect;

impl Dialect for BigQueryDialect {
    fn adapter_type(&self) -> &'static str {
        "bigquery"
    }

    fn quote_identifier(&self, ident: &str) -> String {
        SqlDialect::BigQuery.quote_identifier(ident)
    }

    fn relation_name(&self, database: &str, schema: &str, identifier: &str) -> String {
        SqlDialect::BigQuery.qualified_name(&[database, schema, identifier])
    }

    fn type_name(&self, generic: GenericType) -> &'static str {
        match generic {
            GenericType::String => "string",
            GenericType::Int | GenericType::BigInt => "int64",
            GenericType::Float => "float64",
            GenericType::Numeric => "numeric",
            GenericType::Boolean => "bool",
            GenericType::Timestamp => "timestamp",
        }
    }

    fn timestamp_literal(&self, text: &str) -> String {
        format!("timestamp {}", bigquery::sql::string_literal(text))
    }

    fn md5_hex(&self, expr: &str) -> String {
        format!("to_hex(md5({expr}))")
    }
}

/// The embedded warehouse running SQL written in another dialect: macros
/// dispatch and quote as that dialect (its SQL is translated before it
/// runs), relations are the warehouse's `schema.table`.
pub struct LocalDialect(SqlDialect);

static LOCAL_BIGQUERY: LocalDialect = LocalDialect(SqlDialect::BigQuery);
static LOCAL_DUCKDB: LocalDialect = LocalDialect(SqlDialect::DuckDb);
static LOCAL_POSTGRES: LocalDialect = LocalDialect(SqlDialect::Postgres);

impl Dialect for LocalDialect {
    fn adapter_type(&self) -> &'static str {
        self.0.name()
    }

    fn quote_identifier(&self, ident: &str) -> String {
        self.0.quote_identifier(ident)
    }

    fn relation_name(&self, database: &str, schema: &str, identifier: &str) -> String {
        if database == STATE_CATALOG {
            // A deferred relation, in the attached state warehouse.
            return self.0.qualified_name(&[database, schema, identifier]);
        }
        self.0.qualified_name(&[schema, identifier])
    }

    fn type_name(&self, generic: GenericType) -> &'static str {
        match self.0 {
            SqlDialect::BigQuery => BigQueryDialect.type_name(generic),
            _ => DataFusionDialect.type_name(generic),
        }
    }
}

/// How SQL is generated for a target kind and the dialect models are
/// written in; the one place the kind is matched.
pub fn dialect_for(kind: TargetKind, sql: SqlDialect) -> &'static dyn Dialect {
    match (kind, sql) {
        (TargetKind::BigQuery, _) => &BigQueryDialect,
        (TargetKind::DataFusion, SqlDialect::DataFusion) => &DataFusionDialect,
        (TargetKind::DataFusion, SqlDialect::BigQuery) => &LOCAL_BIGQUERY,
        (TargetKind::DataFusion, SqlDialect::DuckDb) => &LOCAL_DUCKDB,
        (TargetKind::DataFusion, SqlDialect::Postgres) => &LOCAL_POSTGRES,
    }
}
