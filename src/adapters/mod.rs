//! Warehouses. Each adapter is a pure [`Dialect`] (quoting, relation names,
//! type names) plus, once execution lands, an async connection. Code above
//! this module asks the dialect; it never branches on the warehouse kind.

pub mod bigquery;
pub mod datafusion;

use crate::settings::TargetKind;
use crate::sql::SqlDialect;

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
