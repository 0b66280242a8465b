//! Warehouses. Each adapter is a pure [`Dialect`] (quoting, relation names,
//! type names) and an [`Adapter`]: the async connection that `run/` and
//! `cli/` use as `Arc<dyn Adapter>`. Code above this module asks these; it
//! never branches on the warehouse kind.

pub mod bigquery;
pub mod datafusion;

use crate::settings::TargetKind;
use crate::sql::SqlDialect;
use ::datafusion::arrow::record_batch::RecordBatch;

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
}

/// A warehouse call that failed: the warehouse's message, with what to do
/// when the adapter knows.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct AdapterError {
    pub message: String,
    pub help: Option<String>,
}

impl AdapterError {
    pub fn new(message: impl Into<String>) -> Self {
        AdapterError {
            message: message.into(),
            help: None,
        }
    }
}

/// A warehouse connection. Every warehouse implements it; code above
/// `adapters/` holds an `Arc<dyn Adapter>` and never names the warehouse.
#[async_trait::async_trait]
pub trait Adapter: Send + Sync {
    /// The adapter name as dbt macros see it (`adapter.type()`).
    fn adapter_type(&self) -> &'static str;

    fn capabilities(&self) -> Capabilities;

    /// Runs a query and returns its rows as Arrow batches, at most `limit`
    /// of them, in the query's order. An empty result still carries its
    /// columns (one empty batch).
    async fn query(
        &self,
        sql: &str,
        limit: Option<usize>,
    ) -> Result<Vec<RecordBatch>, AdapterError>;

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

    fn relation_name(&self, _database: &str, schema: &str, identifier: &str) -> String {
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

    fn relation_name(&self, _database: &str, schema: &str, identifier: &str) -> String {
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
