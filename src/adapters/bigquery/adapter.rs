//! BigQuery as an [`Adapter`].

use super::{BigQuery, BigQueryError};
use crate::adapters::{Adapter, AdapterError, Capabilities, ColumnInfo, RelationKind};
use datafusion::arrow::record_batch::RecordBatch;

impl From<BigQueryError> for AdapterError {
    fn from(e: BigQueryError) -> Self {
        AdapterError {
            message: e.to_string(),
            help: e.help().map(str::to_string),
        }
    }
}

#[async_trait::async_trait]
impl Adapter for BigQuery {
    fn adapter_type(&self) -> &'static str {
        "bigquery"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            supports_merge: true,
            supports_transactions: true,
            supports_dry_run: true,
            supports_metadata_freshness: true,
        }
    }

    async fn query(
        &self,
        sql: &str,
        limit: Option<usize>,
    ) -> Result<Vec<RecordBatch>, AdapterError> {
        let result = self.fetch_limited(sql, limit).await?;
        let batch = super::arrow::to_batch(&result).map_err(AdapterError::new)?;
        Ok(vec![batch])
    }

    async fn execute(&self, sql: &str) -> Result<(), AdapterError> {
        BigQuery::execute(self, sql, None).await?;
        Ok(())
    }

    async fn columns(
        &self,
        schema: &str,
        name: &str,
    ) -> Result<Option<Vec<ColumnInfo>>, AdapterError> {
        Ok(self.table(schema, name).await?.map(|t| {
            t.fields
                .iter()
                .map(|f| ColumnInfo {
                    name: f.name.clone(),
                    data_type: f.sql_type(),
                })
                .collect()
        }))
    }

    async fn relation_kind(
        &self,
        schema: &str,
        name: &str,
    ) -> Result<Option<RelationKind>, AdapterError> {
        Ok(self.table(schema, name).await?.map(|t| {
            if t.kind == "VIEW" {
                RelationKind::View
            } else {
                RelationKind::Table
            }
        }))
    }

    async fn create_schema(&self, schema: &str) -> Result<(), AdapterError> {
        Ok(self.ensure_dataset(schema).await?)
    }

    async fn drop_relation(&self, schema: &str, name: &str) -> Result<(), AdapterError> {
        Ok(self.drop_table(schema, name).await?)
    }

    async fn last_modified(
        &self,
        schema: &str,
        name: &str,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, AdapterError> {
        Ok(self
            .table(schema, name)
            .await?
            .and_then(|t| t.last_modified))
    }
}
