//! The embedded warehouse as an [`Adapter`].

use super::{Warehouse, WarehouseError};
use crate::adapters::{Adapter, AdapterError, Capabilities, ColumnInfo, RelationKind};
use datafusion::arrow::record_batch::RecordBatch;

impl From<WarehouseError> for AdapterError {
    fn from(e: WarehouseError) -> Self {
        AdapterError::new(e.to_string())
    }
}

#[async_trait::async_trait]
impl Adapter for Warehouse {
    fn adapter_type(&self) -> &'static str {
        "datafusion"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            supports_merge: false,
            supports_transactions: false,
            supports_dry_run: false,
            supports_metadata_freshness: false,
        }
    }

    async fn query(
        &self,
        sql: &str,
        limit: Option<usize>,
    ) -> Result<Vec<RecordBatch>, AdapterError> {
        Ok(self.query_limited(sql, limit).await?)
    }

    async fn execute(&self, sql: &str) -> Result<(), AdapterError> {
        Warehouse::execute(self, sql).await?;
        Ok(())
    }

    async fn columns(
        &self,
        schema: &str,
        name: &str,
    ) -> Result<Option<Vec<ColumnInfo>>, AdapterError> {
        Ok(Warehouse::columns(self, schema, name).await)
    }

    async fn relation_kind(
        &self,
        schema: &str,
        name: &str,
    ) -> Result<Option<RelationKind>, AdapterError> {
        Ok(Warehouse::relation_kind(self, schema, name))
    }

    async fn create_schema(&self, schema: &str) -> Result<(), AdapterError> {
        Ok(self.ensure_schema(schema).await?)
    }

    async fn drop_relation(&self, schema: &str, name: &str) -> Result<(), AdapterError> {
        Ok(Warehouse::drop_relation(self, schema, name).await?)
    }

    /// Files in place date themselves: an external source's newest file.
    async fn last_modified(
        &self,
        schema: &str,
        name: &str,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, AdapterError> {
        if !self.is_external(schema, name) {
            return Ok(None);
        }
        Ok(self.external_newest_file(schema, name).await?)
    }
}
