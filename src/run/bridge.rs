//! The warehouse as templates see it: synchronous calls from a render thread
//! into the async [`Adapter`], the same for every warehouse.

use crate::adapters::Adapter;
use crate::compile::{QueryTable, WarehouseAccess};
use std::sync::Arc;

pub struct Bridge {
    adapter: Arc<dyn Adapter>,
    handle: tokio::runtime::Handle,
}

impl Bridge {
    /// Must be created inside the runtime that runs the warehouse.
    pub fn new(adapter: Arc<dyn Adapter>) -> Self {
        Bridge {
            adapter,
            handle: tokio::runtime::Handle::current(),
        }
    }

    /// For renders outside the runtime (compile, show): calls block on `handle`.
    pub fn with_handle(adapter: Arc<dyn Adapter>, handle: tokio::runtime::Handle) -> Self {
        Bridge { adapter, handle }
    }
}

impl WarehouseAccess for Bridge {
    fn query(&self, sql: &str) -> Result<QueryTable, String> {
        let batches = self
            .handle
            .block_on(self.adapter.query(sql, None))
            .map_err(|e| e.to_string())?;
        let columns: Vec<String> = batches
            .first()
            .map(|b| {
                b.schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect()
            })
            .unwrap_or_default();
        let json = crate::adapters::format::to_json(&batches).map_err(|e| e.to_string())?;
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
            .block_on(self.adapter.columns(schema, name))
            .ok()
            .flatten()
            .map(|cols| cols.into_iter().map(|c| (c.name, c.data_type)).collect())
    }

    fn drop_relation(&self, schema: &str, name: &str) -> Result<(), String> {
        self.handle
            .block_on(self.adapter.drop_relation(schema, name))
            .map_err(|e| e.to_string())
    }

    fn list_relations(&self, schema: &str) -> Result<Vec<(String, &'static str)>, String> {
        self.handle
            .block_on(self.adapter.list_relations(schema))
            .map(|list| list.into_iter().map(|(n, k)| (n, k.as_str())).collect())
            .map_err(|e| e.to_string())
    }

    fn list_schemas(&self) -> Result<Vec<String>, String> {
        self.handle
            .block_on(self.adapter.list_schemas())
            .map_err(|e| e.to_string())
    }

    fn rename_relation(&self, schema: &str, from: &str, to: &str) -> Result<(), String> {
        self.handle
            .block_on(self.adapter.rename_relation(schema, from, to))
            .map_err(|e| e.to_string())
    }

    fn query_columns(&self, sql: &str) -> Result<Vec<String>, String> {
        self.handle
            .block_on(self.adapter.query_columns(sql))
            .map(|cols| cols.into_iter().map(|c| c.name).collect())
            .map_err(|e| e.to_string())
    }

    fn relation_type(&self, schema: &str, name: &str) -> Option<&'static str> {
        self.handle
            .block_on(self.adapter.relation_kind(schema, name))
            .ok()
            .flatten()
            .map(|k| k.as_str())
    }
}
