//! The embedded DataFusion warehouse (ARCHITECTURE.md decision 4): schemas
//! are folders, tables are Delta Lake tables (one commit per write), views
//! are stored SQL, and everything is registered again when the warehouse
//! opens. One writer at a time (a lock file); readers never lock.
//! The only place `datafusion::` is used for execution.

mod adapter;
mod catalog;
pub mod delta;
pub mod external;
mod land;
mod lock;
mod statements;
mod storage;

pub use lock::WriterLock;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::TableReference;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::prelude::{DataFrame, ParquetReadOptions, SessionConfig, SessionContext};
use deltalake::protocol::SaveMode;
use futures::StreamExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What can go wrong in the warehouse, kept apart from how it is shown.
#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    #[error("the warehouse at {path} is being written by another rdbt process (pid {holder})")]
    Locked { path: PathBuf, holder: String },
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the warehouse at {root} was written by an earlier rdbt, which kept tables as versioned \
         Parquet folders (found {table}); tables are now Delta Lake tables and the two are never \
         mixed. Rebuild it: move the folder away (or delete it) and run `rdbt build`; seeds, \
         models and snapshots are rebuilt from their sources (a snapshot's earlier history is \
         kept only in the old folder)"
    )]
    OldFormat { root: PathBuf, table: PathBuf },
    #[error("{0}")]
    Engine(String),
}

impl WarehouseError {
    fn engine(e: impl std::fmt::Display) -> Self {
        WarehouseError::Engine(clean_message(&e.to_string()))
    }

    fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        WarehouseError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// DataFusion prefixes messages with its internal error kinds; users want the
/// sentence.
pub fn clean_message(m: &str) -> String {
    let mut s = m.trim();
    // "Optimizer rule 'simplify_expressions' failed\ncaused by\n<error>":
    // the optimizer evaluated a constant and met the user's error early;
    // which rule it was is the engine's business.
    // Likewise an analyzer rule's bare name ("type_coercion\ncaused by\n").
    while let Some(at) = s.find("\ncaused by\n") {
        let head = &s[..at];
        let rule = head.starts_with("Optimizer rule '")
            || !head.is_empty() && head.chars().all(|c| c.is_ascii_lowercase() || c == '_');
        if !rule {
            break;
        }
        s = s[at + "\ncaused by\n".len()..].trim_start();
    }
    for prefix in [
        "Generic DeltaTable error: ",
        "Generic error: ",
        "Failed to execute write task: ",
        "Error during planning: ",
        "Schema error: ",
        "SQL error: ",
        "Execution error: ",
        "Arrow error: ",
        "External error: ",
        "Parser error: ",
        "This feature is not implemented: ",
    ] {
        while let Some(rest) = s.strip_prefix(prefix) {
            s = rest;
        }
    }
    crate::sql::types::sql_types_in_message(s, "")
}

pub use super::{ColumnInfo, RelationKind};

/// A relation as the catalog describes it. `kind` is `None` for relations
/// the warehouse reads but does not hold (sources on the land).
#[derive(Debug, Clone)]
pub struct RelationStats {
    pub kind: Option<RelationKind>,
    pub columns: Vec<ColumnInfo>,
    pub row_count: Option<u64>,
    pub bytes: Option<u64>,
}

/// How a new table version is produced from a query.
#[derive(Debug, Clone)]
pub enum WriteMode {
    /// Replace the table with the query's rows.
    Replace,
    /// Keep the old rows and add the new ones.
    Append,
    /// Old rows whose key equals a new row's are updated to it, other new
    /// rows inserted: a Delta MERGE (`merge`, snapshots).
    Merge { unique_key: Vec<String> },
    /// Old rows whose key appears in the new rows are deleted and every new
    /// row inserted, in one MERGE commit (`delete+insert`).
    DeleteInsert { unique_key: Vec<String> },
    /// Old rows in partitions the new rows touch are replaced.
    InsertOverwrite { partition_by: Vec<String> },
    /// Old rows whose `column` (as a timestamp) is in `[start, end)` are
    /// replaced; the bounds are SQL timestamp literals.
    ReplaceRange {
        column: String,
        start: String,
        end: String,
    },
}

pub struct Warehouse {
    root: PathBuf,
    ctx: Arc<SessionContext>,
    /// Planned relations, shared by every schema; cleared by every write.
    cache: Arc<
        std::sync::Mutex<
            std::collections::HashMap<String, Arc<dyn datafusion::catalog::TableProvider>>,
        >,
    >,
    _lock: Option<WriterLock>,
    /// The land, read for sources the warehouse does not hold.
    land: Option<crate::store::Land>,
    externals: Arc<std::sync::RwLock<Externals>>,
    /// Column names resolve regardless of case (DuckDB and BigQuery SQL).
    case_insensitive: bool,
    /// Tables being audited (`schema.name`): their writes and this
    /// process's reads go to the candidate.
    audits: Audits,
}

/// The catalog audit candidates that were not published are read as.
pub const AUDIT_CATALOG: &str = "rdbt_audit";

/// The tables being audited, shared with the schemas that read them.
pub type Audits = Arc<std::sync::Mutex<std::collections::HashSet<String>>>;

/// External sources by `schema.name`, and the object-store options (the
/// land's credentials) their buckets are opened with.
#[derive(Debug, Default)]
pub struct Externals {
    pub sources: std::collections::HashMap<String, external::ExternalSource>,
    pub options: std::collections::BTreeMap<String, String>,
}

impl Warehouse {
    /// Opens (creating if needed) the warehouse at `root`. A writer takes the
    /// lock, waiting up to `lock_wait` for another writer to finish.
    pub async fn open(
        root: &Path,
        memory_limit: Option<usize>,
        writer: bool,
        lock_wait: std::time::Duration,
        land: Option<crate::store::Land>,
    ) -> Result<Warehouse, WarehouseError> {
        std::fs::create_dir_all(root)
            .map_err(|e| WarehouseError::io("cannot create the warehouse folder", root, e))?;
        if let Some(table) = storage::find_old_format(root) {
            return Err(WarehouseError::OldFormat {
                root: root.to_path_buf(),
                table,
            });
        }
        let lock = if writer {
            Some(WriterLock::acquire(root, lock_wait)?)
        } else {
            None
        };
        let mut runtime = RuntimeEnvBuilder::new();
        if let Some(limit) = memory_limit {
            runtime = runtime.with_memory_pool(Arc::new(FairSpillPool::new(limit)));
        }
        let spill = root.join(".spill");
        let runtime = runtime
            .with_temp_file_path(&spill)
            .build_arc()
            .map_err(WarehouseError::engine)?;
        let config = SessionConfig::new()
            .with_information_schema(true)
            .with_default_catalog_and_schema("warehouse", "main");
        // Delta's planner runs its writes' own plan nodes, and plans every
        // other query as DataFusion's default planner does.
        let state = datafusion::execution::SessionStateBuilder::new()
            .with_default_features()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_query_planner(deltalake::delta_datafusion::planner::DeltaPlanner::new())
            .build();
        let ctx = Arc::new(SessionContext::new_with_state(state));
        crate::sql::functions::register_functions(&ctx);
        if let Some(land) = &land {
            land::register_land_store(&ctx, land);
        }
        let wh = Warehouse {
            root: root.to_path_buf(),
            ctx,
            cache: Default::default(),
            _lock: lock,
            land,
            externals: Default::default(),
            case_insensitive: false,
            audits: Default::default(),
        };
        wh.ensure_schema("main").await?;
        if wh.root.join(".audit").is_dir() {
            wh.attach_catalog(AUDIT_CATALOG, &wh.root.join(".audit"))?;
        }
        for (schema, _, _) in storage::list(&wh.root) {
            wh.ensure_schema(&schema).await?;
        }
        // Each source folder of the land is a schema too (`_` folders hold
        // ingestion's own state and the quarantine).
        if let Some(land) = &wh.land
            && let Ok(folders) = land.folders("").await
        {
            for schema in folders.iter().filter(|f| !f.starts_with('_')) {
                wh.ensure_schema(schema).await?;
            }
        }
        Ok(wh)
    }

    /// Resolves column names regardless of case, as the SQL of DuckDB and
    /// BigQuery does (see `sql::case`); DataFusion and Postgres SQL match
    /// quoted names exactly.
    pub fn with_case_insensitive_columns(mut self, on: bool) -> Self {
        self.case_insensitive = on;
        self
    }

    /// Plans `sql`. With case-insensitive columns, also returns the
    /// statement as planned when a column name was respelled.
    async fn plan(&self, sql: &str) -> Result<(DataFrame, Option<String>), WarehouseError> {
        let state = self.ctx.state();
        let (plan, respelled) = crate::sql::case::plan_sql(&state, sql, self.case_insensitive)
            .await
            .map_err(WarehouseError::engine)?;
        let df = self
            .ctx
            .execute_logical_plan(plan)
            .await
            .map_err(WarehouseError::engine)?;
        Ok((df, respelled))
    }

    /// The column of `columns` that `name` (a `unique_key`, say) names:
    /// itself, or with case-insensitive columns its one spelling there.
    fn column_named<'a>(&self, columns: &'a [ColumnInfo], name: &'a str) -> &'a str {
        if !self.case_insensitive || columns.iter().any(|c| c.name == name) {
            return name;
        }
        let mut matching = columns.iter().filter(|c| c.name.eq_ignore_ascii_case(name));
        match (matching.next(), matching.next()) {
            (Some(only), None) => &only.name,
            _ => name,
        }
    }

    async fn sql(&self, sql: &str) -> Result<DataFrame, WarehouseError> {
        Ok(self.plan(sql).await?.0)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// When the newest file of the external source at `schema.name` was
    /// modified; `Ok(None)` when it has no files, an error when it is not
    /// an external source.
    /// Whether `schema.name` is a source declared over files in place.
    pub fn is_external(&self, schema: &str, name: &str) -> bool {
        self.externals
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .sources
            .contains_key(&format!("{schema}.{name}"))
    }

    pub async fn external_newest_file(
        &self,
        schema: &str,
        name: &str,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, WarehouseError> {
        let (source, options) = {
            let externals = self.externals.read().unwrap_or_else(|e| e.into_inner());
            let source = externals
                .sources
                .get(&format!("{schema}.{name}"))
                .cloned()
                .ok_or_else(|| {
                    WarehouseError::Engine(format!("{schema}.{name} is not an external source"))
                })?;
            (source, externals.options.clone())
        };
        external::newest_file(&self.ctx, &source, &options)
            .await
            .map_err(WarehouseError::engine)
    }

    /// Declares sources over files in place (`schema`, `name`, source),
    /// read with the bucket `options`; a declaration replaces what the
    /// warehouse or the land would give for that name.
    pub async fn register_externals(
        &self,
        sources: Vec<(String, String, external::ExternalSource)>,
        options: std::collections::BTreeMap<String, String>,
    ) -> Result<(), WarehouseError> {
        let mut schemas = Vec::new();
        {
            let mut externals = self.externals.write().unwrap_or_else(|e| e.into_inner());
            externals.options = options;
            for (schema, name, source) in sources {
                self.invalidate(&schema, &name);
                externals.sources.insert(format!("{schema}.{name}"), source);
                schemas.push(schema);
            }
        }
        for schema in schemas {
            self.ensure_schema(&schema).await?;
        }
        Ok(())
    }

    /// Makes `schema` known to the engine (a lazy schema over its folder).
    async fn ensure_schema(&self, schema: &str) -> Result<(), WarehouseError> {
        let catalog = self
            .ctx
            .catalog("warehouse")
            .ok_or_else(|| WarehouseError::Engine("the warehouse catalog is missing".into()))?;
        // The engine creates an empty in-memory `main`; ours replaces it.
        let ours = catalog
            .schema(schema)
            .is_some_and(|existing| existing.is::<catalog::LazySchema>());
        if !ours {
            let provider = catalog::LazySchema::new(
                self.root.clone(),
                schema.to_string(),
                Arc::downgrade(&self.ctx),
                self.cache.clone(),
                self.land.clone(),
                self.externals.clone(),
            )
            .with_audits(self.audits.clone());
            catalog
                .register_schema(schema, Arc::new(provider))
                .map_err(WarehouseError::engine)?;
        }
        Ok(())
    }

    /// Forgets the planned form of `schema.name` after it was rewritten.
    /// Cached relations that read it were planned earlier in this process;
    /// runs go in graph order, so those are never its descendants, and a
    /// new process starts with an empty cache.
    fn invalidate(&self, schema: &str, name: &str) {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&format!("{schema}.{name}"));
    }

    /// Attaches another environment's warehouse folder, read only, as the
    /// [`crate::adapters::STATE_CATALOG`] catalog (`--defer`).
    pub async fn attach_state(&self, warehouse: &Path) -> Result<(), WarehouseError> {
        if !warehouse.is_dir() {
            return Err(WarehouseError::Engine(format!(
                "the state's warehouse folder {} does not exist (pass --state-warehouse)",
                warehouse.display()
            )));
        }
        if let Some(table) = storage::find_old_format(warehouse) {
            return Err(WarehouseError::OldFormat {
                root: warehouse.to_path_buf(),
                table,
            });
        }
        self.attach_catalog(crate::adapters::STATE_CATALOG, warehouse)
    }

    /// Registers the schemas in the folder `dir` as catalog `name`, read
    /// only (their views name relations of that catalog).
    fn attach_catalog(&self, name: &str, dir: &Path) -> Result<(), WarehouseError> {
        let catalog = Arc::new(datafusion::catalog::MemoryCatalogProvider::new());
        let cache = Arc::new(std::sync::Mutex::new(std::collections::HashMap::new()));
        for (schema, _, _) in storage::list(dir) {
            let provider = catalog::LazySchema::new(
                dir.to_path_buf(),
                schema.clone(),
                Arc::downgrade(&self.ctx),
                cache.clone(),
                None,
                Default::default(),
            )
            .in_catalog(name);
            datafusion::catalog::CatalogProvider::register_schema(
                catalog.as_ref(),
                &schema,
                Arc::new(provider),
            )
            .map_err(WarehouseError::engine)?;
        }
        self.ctx.register_catalog(name, catalog);
        Ok(())
    }

    /// Stores a view's SQL as it is, unplanned (a clone of a view).
    pub async fn store_view(
        &self,
        schema: &str,
        name: &str,
        sql: &str,
    ) -> Result<(), WarehouseError> {
        self.ensure_schema(schema).await?;
        self.replace_with_view(schema, name, sql)?;
        self.forget(schema, name);
        Ok(())
    }

    /// Drops the table `schema.name` and stores the view SQL in its place.
    fn replace_with_view(&self, schema: &str, name: &str, sql: &str) -> Result<(), WarehouseError> {
        self.drop_table_files(schema, name)?;
        let file = storage::view_file(&self.root, schema, name);
        storage::write_file_atomic(&file, sql.as_bytes())
            .map_err(|e| WarehouseError::io("cannot store the view", &file, e))
    }

    /// Makes `schema.name` a clone of the Delta table in `source`: its live
    /// files hard-linked into the new table's folder (no data is copied;
    /// a copy only across file systems) and one commit that adds them, so
    /// the clone is a table of its own that every Delta reader reads and
    /// that vacuuming either table leaves intact. Returns the files.
    pub async fn clone_table(
        &self,
        source: &Path,
        schema: &str,
        name: &str,
    ) -> Result<usize, WarehouseError> {
        self.ensure_schema(schema).await?;
        let dir = self.table_dir(schema, name);
        if source.canonicalize().ok() == dir.canonicalize().ok() {
            return Err(WarehouseError::Engine(format!(
                "{schema}.{name} is the state's own table; clone into another warehouse"
            )));
        }
        let author = delta::Author {
            node: None,
            statement: Some("CLONE"),
        };
        let files = delta::clone(source, &dir, author).await?;
        let view = storage::view_file(&self.root, schema, name);
        if view.is_file() {
            let _ = std::fs::remove_file(&view);
        }
        self.forget(schema, name);
        Ok(files)
    }

    /// The folder of table `schema.name`: its candidate's while it is
    /// being audited (write-audit-publish), else its own.
    pub fn table_dir(&self, schema: &str, name: &str) -> PathBuf {
        if self.audited(schema, name) {
            storage::audit_dir(&self.root, schema, name)
        } else {
            storage::table_dir(&self.root, schema, name)
        }
    }

    fn audited(&self, schema: &str, name: &str) -> bool {
        self.audits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&format!("{schema}.{name}"))
    }

    /// Write-audit-publish: from now on writes of `schema.name` make a
    /// candidate (`<path>/.audit/<schema>/<name>`, begun as a zero-copy
    /// clone of the table) that only this process reads under the table's
    /// name; other readers keep reading the published table.
    pub async fn begin_audit(&self, schema: &str, name: &str) -> Result<(), WarehouseError> {
        let main = storage::table_dir(&self.root, schema, name);
        let candidate = storage::audit_dir(&self.root, schema, name);
        if candidate.exists() {
            std::fs::remove_dir_all(&candidate).map_err(|e| {
                WarehouseError::io("cannot clear the audit candidate", &candidate, e)
            })?;
        }
        if storage::is_table(&main) {
            let author = delta::Author {
                node: None,
                statement: Some("CLONE"),
            };
            delta::clone(&main, &candidate, author).await?;
        }
        self.audits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(format!("{schema}.{name}"));
        self.forget(schema, name);
        Ok(())
    }

    /// Publishes the audited candidate of `schema.name` as the table's next
    /// version, in one commit.
    pub async fn publish_audit(
        &self,
        schema: &str,
        name: &str,
        node: Option<&str>,
    ) -> Result<(), WarehouseError> {
        self.end_audit(schema, name);
        let candidate = storage::audit_dir(&self.root, schema, name);
        if !storage::is_table(&candidate) {
            return Ok(());
        }
        let main = storage::table_dir(&self.root, schema, name);
        let author = delta::Author {
            node,
            statement: Some("PUBLISH"),
        };
        delta::publish(&self.ctx, &candidate, &main, author).await?;
        let _ = std::fs::remove_dir_all(&candidate);
        let view = storage::view_file(&self.root, schema, name);
        if view.is_file() {
            let _ = std::fs::remove_file(&view);
        }
        self.forget(schema, name);
        Ok(())
    }

    /// Ends the audit of `schema.name` without publishing: the table stays
    /// as it was; the candidate stays readable as `rdbt_audit.<schema>.<name>`
    /// until the next build of the model or a vacuum.
    pub fn end_audit(&self, schema: &str, name: &str) {
        self.audits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&format!("{schema}.{name}"));
        self.forget(schema, name);
        let _ = self.attach_catalog(AUDIT_CATALOG, &self.root.join(".audit"));
    }

    fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Forgets what the engine planned for `schema.name` after a change.
    fn forget(&self, schema: &str, name: &str) {
        let _ = self
            .ctx
            .deregister_table(TableReference::partial(schema, name));
        self.invalidate(schema, name);
    }

    /// The Delta table `schema.name`, or an error saying what it is instead.
    async fn delta_table(
        &self,
        schema: &str,
        name: &str,
    ) -> Result<deltalake::DeltaTable, WarehouseError> {
        match delta::open(&self.table_dir(schema, name)).await? {
            Some(table) => Ok(table),
            None if self.relation_kind(schema, name) == Some(RelationKind::View) => {
                Err(WarehouseError::Engine(format!(
                    "{schema}.{name} is a view: views keep no versions (only tables, seeds, snapshots and incremental models do)"
                )))
            }
            None => Err(WarehouseError::Engine(format!(
                "table {schema}.{name} does not exist; build it first"
            ))),
        }
    }

    /// Whether `schema.name` exists, and as what.
    pub fn relation_kind(&self, schema: &str, name: &str) -> Option<RelationKind> {
        if storage::is_table(&self.table_dir(schema, name)) {
            Some(RelationKind::Table)
        } else if storage::view_file(&self.root, schema, name).is_file() {
            Some(RelationKind::View)
        } else {
            None
        }
    }

    /// Plans `sql` without running it and returns the schema its rows
    /// will have (see [`declared_schema`]).
    pub async fn plan_schema(&self, sql: &str) -> Result<SchemaRef, WarehouseError> {
        let df = self.sql(sql).await?;
        let (state, plan) = df.into_parts();
        declared_schema(&state, &plan).map_err(WarehouseError::engine)
    }

    /// Runs a query (or statements, see `statements`) and returns its rows.
    pub async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>, WarehouseError> {
        if let Some(rows) = self.run_statements(sql, None).await? {
            return Ok(rows);
        }
        self.sql(sql)
            .await?
            .collect()
            .await
            .map_err(WarehouseError::engine)
    }
    /// Plans `sql` and streams its rows (at most `limit`) as DataFusion
    /// produces them, keeping its ORDER BY (the limit is a plan node, not a
    /// `SELECT … LIMIT` wrapper, which would let the planner drop the sort).
    pub async fn query_streamed(
        &self,
        sql: &str,
        limit: Option<usize>,
    ) -> Result<crate::adapters::QueryStream, WarehouseError> {
        use futures::StreamExt;
        if let Some(rows) = self.run_statements(sql, None).await? {
            let schema = rows
                .first()
                .map(|b| b.schema())
                .unwrap_or_else(|| Arc::new(datafusion::arrow::datatypes::Schema::empty()));
            let rows: Vec<_> = rows.into_iter().map(Ok).collect();
            return Ok(crate::adapters::QueryStream {
                schema,
                batches: Box::pin(futures::stream::iter(rows)),
            });
        }
        let df = self.sql(sql).await?;
        let df = match limit {
            Some(n) => df.limit(0, Some(n)).map_err(WarehouseError::engine)?,
            None => df,
        };
        let schema = std::sync::Arc::new(df.schema().as_arrow().clone());
        let stream = df.execute_stream().await.map_err(WarehouseError::engine)?;
        Ok(crate::adapters::QueryStream {
            schema,
            batches: Box::pin(stream.map(|batch| {
                batch.map_err(|e| crate::adapters::AdapterError::from(WarehouseError::engine(e)))
            })),
        })
    }

    /// The columns of a relation, if it exists.
    pub async fn columns(&self, schema: &str, name: &str) -> Option<Vec<ColumnInfo>> {
        let df = self
            .ctx
            .table(TableReference::partial(schema, name))
            .await
            .ok()?;
        Some(
            df.schema()
                .fields()
                .iter()
                .map(|f| ColumnInfo {
                    name: f.name().clone(),
                    data_type: sql_type(f.data_type()),
                })
                .collect(),
        )
    }

    /// What the catalog says of a relation: kind, columns, and for tables
    /// the rows and bytes of the live version (read from the Parquet
    /// footers, not by scanning).
    pub async fn describe(&self, schema: &str, name: &str) -> Option<RelationStats> {
        let kind = self.relation_kind(schema, name);
        let columns = self.columns(schema, name).await?;
        let (mut row_count, mut bytes) = (None, None);
        if kind == Some(RelationKind::Table)
            && let Ok(Some(table)) = delta::open(&self.table_dir(schema, name)).await
        {
            let (rows, size) = delta::totals(&table);
            row_count = Some(rows);
            bytes = Some(size);
        }
        Some(RelationStats {
            kind,
            columns,
            row_count,
            bytes,
        })
    }

    /// Creates or replaces a view; the SQL is stored so it survives restarts.
    pub async fn create_view(
        &self,
        schema: &str,
        name: &str,
        sql: &str,
    ) -> Result<(), WarehouseError> {
        self.ensure_schema(schema).await?;
        // Plan first: a broken view must not replace a working one. It is
        // stored as planned, its column names spelled as its inputs have them.
        let (_, respelled) = self.plan(sql).await?;
        let sql = respelled.as_deref().unwrap_or(sql);
        self.replace_with_view(schema, name, sql)?;
        self.invalidate(schema, name);
        Ok(())
    }

    /// Materializes `sql` into `schema.name` as `mode` says, in one Delta
    /// commit made on behalf of `node`; returns the rows the query produced
    /// (for an incremental write, the rows inserted or changed). On any
    /// error the previous version stays live.
    pub async fn write_table(
        &self,
        schema: &str,
        name: &str,
        sql: &str,
        mode: &WriteMode,
        node: Option<&str>,
    ) -> Result<u64, WarehouseError> {
        self.ensure_schema(schema).await?;
        let dir = self.table_dir(schema, name);
        let author = delta::Author {
            node,
            statement: None,
        };
        let existing = storage::is_table(&dir);
        let rows = match mode {
            WriteMode::Replace => {
                let df = self.sql(sql).await?;
                delta::write(&self.ctx, &dir, df, SaveMode::Overwrite, author).await?
            }
            _ if !existing => {
                let df = self.sql(sql).await?;
                delta::write(&self.ctx, &dir, df, SaveMode::Overwrite, author).await?
            }
            // Incremental writes report the rows they inserted or changed
            // (what dbt calls rows affected), not the table's new size.
            WriteMode::Append => {
                let df = self.sql(sql).await?;
                delta::write(&self.ctx, &dir, df, SaveMode::Append, author).await?
            }
            _ => {
                self.merge_staged(schema, name, &dir, sql, mode, author)
                    .await?
            }
        };
        // Many small incremental commits make many small files, and every
        // read opens each: past a threshold they are compacted (a new
        // version with the same rows).
        if !matches!(mode, WriteMode::Replace)
            && existing
            && let Some(limit) = delta::compact_after_files()
            && let Ok(Some(table)) = delta::open(&dir).await
            && delta::file_count(&table) > limit
        {
            delta::compact(&self.ctx, &dir, author).await?;
        }
        let view = storage::view_file(&self.root, schema, name);
        if view.is_file() {
            let _ = std::fs::remove_file(&view);
        }
        self.invalidate(schema, name);
        Ok(rows)
    }

    /// Stages the new rows (the query runs once), then merges them into the
    /// table in one Delta MERGE commit as `mode` says.
    async fn merge_staged(
        &self,
        schema: &str,
        name: &str,
        dir: &Path,
        sql: &str,
        mode: &WriteMode,
        author: delta::Author<'_>,
    ) -> Result<u64, WarehouseError> {
        let staged = self
            .root
            .join(".staging")
            .join(uuid::Uuid::new_v4().simple().to_string());
        std::fs::create_dir_all(&staged)
            .map_err(|e| WarehouseError::io("cannot stage rows in", &staged, e))?;
        let result = async {
            let df = delta::normalize(self.sql(sql).await?)?;
            let affected = write_parquet(df, &staged, "new").await?;
            let staged_name = format!("__rdbt_staged_{}", uuid::Uuid::new_v4().simple());
            self.ctx
                .register_parquet(
                    TableReference::bare(staged_name.clone()),
                    &format!("{}/", staged.display()),
                    ParquetReadOptions::default(),
                )
                .await
                .map_err(WarehouseError::engine)?;
            let cols = self.columns(schema, name).await.unwrap_or_default();
            let new_cols = self.columns_of_bare(&staged_name).await;
            // The table's columns that the new rows have (others stay NULL
            // in inserted rows and untouched in updated ones).
            let columns: Vec<String> = cols
                .iter()
                .filter(|c| new_cols.iter().any(|n| n.name == c.name))
                .map(|c| c.name.clone())
                .collect();
            let keys = |k: &[String]| -> Vec<String> {
                k.iter()
                    .map(|k| self.column_named(&cols, k).to_string())
                    .collect()
            };
            let staged_ref = quote(&staged_name);
            // Merge, delete+insert and insert_overwrite are one MERGE each,
            // differing in how the new rows meet the old ones.
            let merge_by = {
                let (staged, columns) = (&staged_ref, &columns);
                move |keys: Vec<String>, how: fn(&[String]) -> delta::Match<'_>| async move {
                    delta::merge(&self.ctx, dir, staged, columns, how(&keys), author).await
                }
            };
            let merged = match mode {
                WriteMode::Merge { unique_key } => {
                    merge_by(keys(unique_key), |keys| delta::Match::Update { keys }).await
                }
                WriteMode::DeleteInsert { unique_key } => {
                    merge_by(keys(unique_key), |keys| delta::Match::Replace {
                        keys,
                        null_safe: false,
                    })
                    .await
                }
                WriteMode::InsertOverwrite { partition_by } => {
                    merge_by(keys(partition_by), |keys| delta::Match::Replace {
                        keys,
                        null_safe: true,
                    })
                    .await
                }
                // The old rows outside the range and the new rows, as the
                // table's next version: one commit. (Delta's MERGE cannot
                // carry a range predicate into its commit info.)
                WriteMode::ReplaceRange { column, start, end } => {
                    let c = format!(
                        "CAST(o.{} AS TIMESTAMP)",
                        quote(self.column_named(&cols, column))
                    );
                    let list = columns.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ");
                    let sql = format!(
                        "SELECT {list} FROM {}.{} o WHERE ({c} >= {start} AND {c} < {end}) IS NOT TRUE \
                         UNION ALL SELECT {list} FROM {staged_ref}",
                        quote(schema),
                        quote(name)
                    );
                    match self.sql(&sql).await {
                        Ok(df) => delta::write(&self.ctx, dir, df, SaveMode::Overwrite, author)
                            .await
                            .map(|_| ()),
                        Err(e) => Err(e),
                    }
                }
                WriteMode::Replace | WriteMode::Append => {
                    unreachable!("only merging modes stage rows")
                }
            };
            let _ = self
                .ctx
                .deregister_table(TableReference::bare(staged_name.clone()));
            merged.map(|()| affected)
        }
        .await;
        let _ = std::fs::remove_dir_all(&staged);
        result
    }

    /// Loads a CSV file into `schema.name` with inferred types, `column_types`
    /// casts applied through `select_sql` (which reads the `__rdbt_seed` table).
    pub async fn load_csv(
        &self,
        schema: &str,
        name: &str,
        csv: &Path,
        delimiter: u8,
        select_sql: impl Fn(&[ColumnInfo]) -> String,
        node: Option<&str>,
    ) -> Result<u64, WarehouseError> {
        let path = csv.to_string_lossy().into_owned();
        let staging = format!("__rdbt_seed_{}", uuid::Uuid::new_v4().simple());
        crate::sql::types::register_seed(&self.ctx, &staging, &path, delimiter)
            .await
            .map_err(WarehouseError::engine)?;
        let columns = self.columns_of_bare(&staging).await;
        let sql = select_sql(&columns).replace("__rdbt_seed", &quote(&staging));
        let result = self
            .write_table(schema, name, &sql, &WriteMode::Replace, node)
            .await;
        let _ = self
            .ctx
            .deregister_table(TableReference::bare(format!("{staging}__raw")));
        let _ = self.ctx.deregister_table(TableReference::bare(staging));
        result
    }

    async fn columns_of_bare(&self, name: &str) -> Vec<ColumnInfo> {
        match self.ctx.table(TableReference::bare(name)).await {
            Ok(df) => df
                .schema()
                .fields()
                .iter()
                .map(|f| ColumnInfo {
                    name: f.name().clone(),
                    data_type: sql_type(f.data_type()),
                })
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Renames a table (its folder, every version) or view (its stored SQL)
    /// within `schema`.
    pub fn rename_relation(
        &self,
        schema: &str,
        from: &str,
        to: &str,
    ) -> Result<(), WarehouseError> {
        let taken = || {
            WarehouseError::Engine(format!(
                "cannot rename {schema}.{from} to {to}: {schema}.{to} already exists"
            ))
        };
        if self.relation_kind(schema, to).is_some() {
            return Err(taken());
        }
        let (dir, view) = (
            storage::table_dir(&self.root, schema, from),
            storage::view_file(&self.root, schema, from),
        );
        match self.relation_kind(schema, from) {
            Some(RelationKind::Table) => {
                let target = storage::table_dir(&self.root, schema, to);
                std::fs::rename(&dir, &target)
                    .map_err(|e| WarehouseError::io("cannot rename the table", &dir, e))?;
            }
            Some(RelationKind::View) => {
                let target = storage::view_file(&self.root, schema, to);
                std::fs::rename(&view, &target)
                    .map_err(|e| WarehouseError::io("cannot rename the view", &view, e))?;
            }
            None => {
                return Err(WarehouseError::Engine(format!(
                    "cannot rename {schema}.{from}: it does not exist"
                )));
            }
        }
        let _ = self
            .ctx
            .deregister_table(TableReference::partial(schema, from));
        self.invalidate(schema, from);
        self.invalidate(schema, to);
        Ok(())
    }

    /// Drops a table or view; a missing one is not an error.
    pub async fn drop_relation(&self, schema: &str, name: &str) -> Result<(), WarehouseError> {
        let _ = self
            .ctx
            .deregister_table(TableReference::partial(schema, name));
        self.drop_table_files(schema, name)?;
        let view = storage::view_file(&self.root, schema, name);
        if view.is_file() {
            std::fs::remove_file(&view)
                .map_err(|e| WarehouseError::io("cannot drop the view", &view, e))?;
        }
        Ok(())
    }

    fn drop_table_files(&self, schema: &str, name: &str) -> Result<(), WarehouseError> {
        let dir = storage::table_dir(&self.root, schema, name);
        if dir.is_dir() {
            std::fs::remove_dir_all(&dir)
                .map_err(|e| WarehouseError::io("cannot drop the table", &dir, e))?;
        }
        Ok(())
    }

    /// Runs statements for their effect (hooks), on behalf of `node`.
    pub async fn execute(
        &self,
        sql: &str,
        node: Option<&str>,
    ) -> Result<Vec<RecordBatch>, WarehouseError> {
        if let Some(rows) = self.run_statements(sql, node).await? {
            return Ok(rows);
        }
        self.query(sql).await
    }
}

/// Streams a query's result into Parquet files in `folder`, one per output
/// partition of the plan (`<stem>-<n>.parquet`), encoded concurrently: a
/// large table is written on every core instead of one. Memory stays
/// bounded by the batch size and DataFusion's pool, not the table size. A
/// plan that sorts its output ends in one partition, so an ordered result
/// stays one file in order.
async fn write_parquet(df: DataFrame, folder: &Path, stem: &str) -> Result<u64, WarehouseError> {
    // The files take the schema of the rows as executed (the logical
    // plan's can differ, see `declared_schema`).
    let task = Arc::new(df.task_ctx());
    let plan = df
        .create_physical_plan()
        .await
        .map_err(WarehouseError::engine)?;
    let schema = plan.schema();
    let streams = datafusion::physical_plan::execute_stream_partitioned(plan, task)
        .map_err(WarehouseError::engine)?;
    let file = |n: usize| folder.join(format!("{stem}-{n:05}.parquet"));
    if streams.is_empty() {
        // No partition, no rows: one empty file still records the schema.
        let empty = futures::stream::empty().boxed();
        return write_stream(empty, schema, file(0)).await;
    }
    let writers: Vec<_> = streams
        .into_iter()
        .enumerate()
        .map(|(n, stream)| tokio::spawn(write_stream(stream.boxed(), schema.clone(), file(n))))
        .collect();
    let mut rows = 0u64;
    let mut first_error = None;
    for writer in writers {
        match writer.await {
            Ok(Ok(n)) => rows += n,
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(e) => {
                first_error.get_or_insert(WarehouseError::Engine(format!(
                    "a Parquet writer stopped: {e}"
                )));
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(rows),
    }
}

type BatchStream =
    futures::stream::BoxStream<'static, Result<RecordBatch, datafusion::error::DataFusionError>>;

/// Writes one stream of batches to one zstd Parquet file, synced to disk.
async fn write_stream(
    mut stream: BatchStream,
    schema: SchemaRef,
    path: PathBuf,
) -> Result<u64, WarehouseError> {
    let file =
        std::fs::File::create(&path).map_err(|e| WarehouseError::io("cannot create", &path, e))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap_or_default()))
        .build();
    let mut writer =
        ArrowWriter::try_new(file, schema, Some(props)).map_err(WarehouseError::engine)?;
    let mut rows = 0u64;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(WarehouseError::engine)?;
        rows += batch.num_rows() as u64;
        writer.write(&batch).map_err(WarehouseError::engine)?;
    }
    let file = writer.into_inner().map_err(WarehouseError::engine)?;
    file.sync_all()
        .map_err(|e| WarehouseError::io("cannot sync", &path, e))?;
    Ok(rows)
}

/// The schema `plan` declares to its readers: that of the analyzed plan.
/// A plan's schema before analysis can differ from its rows': a `UNION`
/// of an INTEGER and a BIGINT column says INTEGER (its first input's type)
/// and produces BIGINT. A view declared with such a schema fails its
/// readers ("Invalid comparison operation: BIGINT != INTEGER"). Analysis
/// (type coercion) is cheap; the optimizer can still change a type
/// (`round(decimal, 0)` rescales once its argument's cast is folded), so a
/// view's scan casts what differs to the declared types.
pub(crate) fn declared_schema(
    state: &datafusion::execution::SessionState,
    plan: &datafusion::logical_expr::LogicalPlan,
) -> Result<SchemaRef, datafusion::error::DataFusionError> {
    use datafusion::logical_expr::LogicalPlan as P;
    if matches!(plan, P::Ddl(_) | P::Statement(_) | P::Dml(_) | P::Copy(_)) {
        return Ok(Arc::new(plan.schema().as_arrow().clone()));
    }
    let analyzed =
        state
            .analyzer()
            .execute_and_check(plan.clone(), state.config_options(), |_, _| {})?;
    Ok(Arc::new(analyzed.schema().as_arrow().clone()))
}

pub fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

pub use crate::sql::types::sql_type;

/// Rows as text cells, the way sqllogictest files write them: `NULL`,
/// dates `YYYY-MM-DD`, timestamps `YYYY-MM-DD HH:MM:SS[.ffffff]`, floats in
/// their shortest exact form.
pub fn rows_as_text(batches: &[RecordBatch]) -> Result<Vec<Vec<String>>, WarehouseError> {
    use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
    let options = FormatOptions::default()
        .with_null("NULL")
        .with_timestamp_format(Some("%Y-%m-%d %H:%M:%S%.f"))
        .with_timestamp_tz_format(Some("%Y-%m-%d %H:%M:%S%.f%:z"));
    let mut rows = Vec::new();
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(WarehouseError::engine)?;
        for row in 0..batch.num_rows() {
            rows.push(
                formatters
                    .iter()
                    .map(|f| {
                        let cell = f.value(row).to_string();
                        if cell.is_empty() {
                            "(empty)".to_string()
                        } else {
                            cell
                        }
                    })
                    .collect(),
            );
        }
    }
    Ok(rows)
}

/// Rows read here and shipped elsewhere (a BigQuery load job): columns with
/// BigQuery type names, and the rows as CSV with a header.
pub struct Export {
    pub columns: Vec<(String, &'static str)>,
    pub csv: Vec<u8>,
    pub rows: u64,
}

/// BigQuery's name for an Arrow type (load job schemas).
fn bigquery_type(t: &datafusion::arrow::datatypes::DataType) -> &'static str {
    use datafusion::arrow::datatypes::DataType as T;
    match t {
        T::Int8 | T::Int16 | T::Int32 | T::Int64 | T::UInt8 | T::UInt16 | T::UInt32 | T::UInt64 => {
            "INT64"
        }
        T::Float16 | T::Float32 | T::Float64 => "FLOAT64",
        T::Decimal128(..) | T::Decimal256(..) => "NUMERIC",
        T::Boolean => "BOOL",
        T::Date32 | T::Date64 => "DATE",
        T::Timestamp(..) => "TIMESTAMP",
        T::Binary | T::LargeBinary | T::BinaryView => "BYTES",
        _ => "STRING",
    }
}

async fn export(df: DataFrame) -> Result<Export, WarehouseError> {
    let columns = df
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), bigquery_type(f.data_type())))
        .collect();
    let batches = df.collect().await.map_err(WarehouseError::engine)?;
    let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
    let mut csv = Vec::new();
    {
        // BigQuery's CSV loader reads `2024-01-31 10:00:00.123456` timestamps.
        let mut w = datafusion::arrow::csv::WriterBuilder::new()
            .with_header(true)
            .with_timestamp_format("%Y-%m-%d %H:%M:%S%.6f".into())
            .with_timestamp_tz_format("%Y-%m-%d %H:%M:%S%.6f".into())
            .build(&mut csv);
        for b in &batches {
            w.write(b).map_err(WarehouseError::engine)?;
        }
    }
    Ok(Export { columns, csv, rows })
}

/// A seed file read with the same type inference as a local build.
pub async fn export_seed(path: &Path, delimiter: u8) -> Result<Export, WarehouseError> {
    let ctx = SessionContext::new();
    crate::sql::types::register_seed(&ctx, "seed", &path.to_string_lossy(), delimiter)
        .await
        .map_err(WarehouseError::engine)?;
    let df = ctx.table("seed").await.map_err(WarehouseError::engine)?;
    export(df).await
}

/// A source table of the land (`<land>/<schema>/<name>/`), or `None` when
/// nothing has landed there.
/// An external source's files, read here, for loading into BigQuery
/// (`external_sources: load`).
pub async fn export_external(
    source: &external::ExternalSource,
    options: &std::collections::BTreeMap<String, String>,
) -> Result<Export, WarehouseError> {
    let ctx = SessionContext::new();
    let table = external::external_table(&ctx, source, options)
        .await
        .map_err(WarehouseError::engine)?;
    let df = ctx.read_table(table).map_err(WarehouseError::engine)?;
    export(df).await
}

/// A declared SQL type as BigQuery names it (`numeric(10,2)` → NUMERIC).
pub fn bigquery_type_of(sql_type: &str) -> Option<&'static str> {
    crate::sql::analysis::arrow_type(sql_type).map(|t| bigquery_type(&t))
}

pub async fn export_land_table(
    land: &crate::store::Land,
    schema: &str,
    name: &str,
) -> Result<Option<Export>, WarehouseError> {
    let ctx = SessionContext::new();
    land::register_land_store(&ctx, land);
    let Some(table) = land::land_table(&ctx, land, schema, name)
        .await
        .map_err(WarehouseError::engine)?
    else {
        return Ok(None);
    };
    let df = ctx.read_table(table).map_err(WarehouseError::engine)?;
    export(df).await.map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn a_query_streams_batch_by_batch_up_to_its_limit_in_its_order() {
        let dir = tempfile::tempdir().unwrap();
        runtime().block_on(async {
            let wh = Warehouse::open(dir.path(), None, false, std::time::Duration::ZERO, None)
                .await
                .unwrap();
            let sql = "select value from generate_series(1, 100000) order by value desc";
            let mut stream = wh.query_streamed(sql, Some(20_000)).await.unwrap();
            assert_eq!(stream.schema.field(0).name(), "value");
            let mut batches = 0;
            let mut rows = 0;
            let mut first = None;
            while let Some(batch) = stream.batches.next().await {
                let batch = batch.unwrap();
                if first.is_none() && batch.num_rows() > 0 {
                    first = Some(crate::adapters::format::pretty(&[batch.slice(0, 1)]));
                }
                batches += 1;
                rows += batch.num_rows();
            }
            assert_eq!(rows, 20_000);
            assert!(batches > 1, "{batches} batch(es): not streamed");
            assert!(first.unwrap().contains("100000"));

            // Collected, no rows is one empty batch that keeps the columns.
            let none = wh
                .query_streamed("select 1 as a where false", None)
                .await
                .unwrap()
                .collect()
                .await
                .unwrap();
            assert_eq!(none.len(), 1);
            assert_eq!(none[0].num_rows(), 0);
            assert_eq!(none[0].schema().field(0).name(), "a");
        });
    }
}
