//! The warehouse as templates see it: synchronous calls from a render thread
//! into the async warehouse.

use crate::adapters::datafusion::{RelationKind, Warehouse};
use crate::compile::{QueryTable, WarehouseAccess};
use std::sync::Arc;

pub struct Bridge {
    warehouse: Arc<Warehouse>,
    handle: tokio::runtime::Handle,
}

impl Bridge {
    /// Must be created inside the runtime that runs the warehouse.
    pub fn new(warehouse: Arc<Warehouse>) -> Self {
        Bridge {
            warehouse,
            handle: tokio::runtime::Handle::current(),
        }
    }

    /// For renders outside the runtime (compile, show): calls block on `handle`.
    pub fn with_handle(warehouse: Arc<Warehouse>, handle: tokio::runtime::Handle) -> Self {
        Bridge { warehouse, handle }
    }
}

impl WarehouseAccess for Bridge {
    fn query(&self, sql: &str) -> Result<QueryTable, String> {
        let batches = self
            .handle
            .block_on(self.warehouse.query(sql))
            .map_err(|e| e.to_string())?;
        // An empty result may have no batches; its columns still count.
        let schema = match batches.first() {
            Some(b) => b.schema(),
            None => self
                .handle
                .block_on(self.warehouse.plan_schema(sql))
                .map_err(|e| e.to_string())?,
        };
        let columns: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let json = crate::adapters::datafusion::to_json(&batches).map_err(|e| e.to_string())?;
        let objects: Vec<serde_json::Map<String, serde_json::Value>> =
            serde_json::from_str(&json).map_err(|e| e.to_string())?;
        let rows = objects
            .into_iter()
            .map(|o| {
                columns
                    .iter()
                    .map(|c| o.get(c).cloned().unwrap_or(serde_json::Value::Null))
                    .collect()
            })
            .collect();
        Ok(QueryTable { columns, rows })
    }

    fn columns(&self, schema: &str, name: &str) -> Option<Vec<(String, String)>> {
        self.handle
            .block_on(self.warehouse.columns(schema, name))
            .map(|cols| cols.into_iter().map(|c| (c.name, c.data_type)).collect())
    }

    fn drop_relation(&self, schema: &str, name: &str) -> Result<(), String> {
        self.handle
            .block_on(self.warehouse.drop_relation(schema, name))
            .map_err(|e| e.to_string())
    }

    fn relation_type(&self, schema: &str, name: &str) -> Option<&'static str> {
        self.warehouse.relation_kind(schema, name).map(|k| match k {
            RelationKind::Table => "table",
            RelationKind::View => "view",
        })
    }
}

/// Templates' view of a BigQuery target.
pub struct BigQueryBridge {
    bigquery: Arc<crate::adapters::bigquery::BigQuery>,
    handle: tokio::runtime::Handle,
}

impl BigQueryBridge {
    pub fn new(
        bigquery: Arc<crate::adapters::bigquery::BigQuery>,
        handle: tokio::runtime::Handle,
    ) -> Self {
        BigQueryBridge { bigquery, handle }
    }
}

impl WarehouseAccess for BigQueryBridge {
    fn query(&self, sql: &str) -> Result<QueryTable, String> {
        let result = self
            .handle
            .block_on(self.bigquery.fetch(sql, None))
            .map_err(|e| e.to_string())?;
        Ok(QueryTable {
            columns: result.schema.iter().map(|f| f.name.clone()).collect(),
            rows: result.rows,
        })
    }

    fn columns(&self, schema: &str, name: &str) -> Option<Vec<(String, String)>> {
        let table = self
            .handle
            .block_on(self.bigquery.table(schema, name))
            .ok()??;
        Some(
            table
                .fields
                .iter()
                .map(|f| (f.name.clone(), f.sql_type()))
                .collect(),
        )
    }

    fn drop_relation(&self, schema: &str, name: &str) -> Result<(), String> {
        self.handle
            .block_on(self.bigquery.drop_table(schema, name))
            .map_err(|e| e.to_string())
    }

    fn relation_type(&self, schema: &str, name: &str) -> Option<&'static str> {
        let table = self
            .handle
            .block_on(self.bigquery.table(schema, name))
            .ok()??;
        Some(if table.kind == "VIEW" {
            "view"
        } else {
            "table"
        })
    }
}
