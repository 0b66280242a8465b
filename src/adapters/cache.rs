//! The relation cache behind `adapter.get_relation` and
//! `adapter.get_columns_in_relation`, as dbt keeps one per run: what a
//! relation is and its columns are asked of the warehouse once, and
//! forgotten when this process writes the relation (or runs a statement
//! that may have). Every other call goes straight to the warehouse.

use super::{
    Adapter, AdapterError, AdapterResponse, Capabilities, Catalog, CatalogRequest, ColumnInfo,
    Dialect, DryRun, LandAccess, Relation, RelationKind, SeedFile, SourceTable, WriteStrategy,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

type Key = (String, String);

pub struct CachedAdapter {
    inner: Arc<dyn Adapter>,
    kinds: Mutex<HashMap<Key, Option<RelationKind>>>,
    columns: Mutex<HashMap<Key, Option<Vec<ColumnInfo>>>>,
}

impl CachedAdapter {
    pub fn new(inner: Arc<dyn Adapter>) -> CachedAdapter {
        CachedAdapter {
            inner,
            kinds: Mutex::new(HashMap::new()),
            columns: Mutex::new(HashMap::new()),
        }
    }

    fn key(schema: &str, name: &str) -> Key {
        (schema.to_string(), name.to_string())
    }

    fn forget(&self, schema: &str, name: &str) {
        let key = Self::key(schema, name);
        self.kinds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
        self.columns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
    }

    /// A statement may have changed anything.
    fn forget_all(&self) {
        self.kinds.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.columns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

/// Whether a statement only reads: it starts (after comments and
/// parentheses) with `select`, `with`, `values`, `show`, `describe` or
/// `explain`.
fn reads_only(sql: &str) -> bool {
    let mut rest = sql.trim_start();
    loop {
        if let Some(r) = rest.strip_prefix("--") {
            rest = r
                .split_once('\n')
                .map_or("", |(_, after)| after)
                .trim_start();
        } else if let Some(r) = rest.strip_prefix("/*") {
            rest = r
                .split_once("*/")
                .map_or("", |(_, after)| after)
                .trim_start();
        } else if let Some(r) = rest.strip_prefix('(') {
            rest = r.trim_start();
        } else {
            break;
        }
    }
    let word: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_lowercase();
    matches!(
        word.as_str(),
        "select" | "with" | "values" | "show" | "describe" | "explain"
    )
}

#[async_trait::async_trait]
impl Adapter for CachedAdapter {
    fn adapter_type(&self) -> &'static str {
        self.inner.adapter_type()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    /// `run_query` may run DDL or DML too: anything but a read forgets.
    async fn query_stream(
        &self,
        sql: &str,
        limit: Option<usize>,
    ) -> Result<super::QueryStream, AdapterError> {
        let result = self.inner.query_stream(sql, limit).await;
        if !reads_only(sql) {
            self.forget_all();
        }
        result
    }

    async fn execute(&self, sql: &str) -> Result<(), AdapterError> {
        let result = self.inner.execute(sql).await;
        self.forget_all();
        result
    }

    async fn execute_for(&self, sql: &str, node: Option<&str>) -> Result<(), AdapterError> {
        let result = self.inner.execute_for(sql, node).await;
        self.forget_all();
        result
    }

    async fn columns(
        &self,
        schema: &str,
        name: &str,
    ) -> Result<Option<Vec<ColumnInfo>>, AdapterError> {
        let key = Self::key(schema, name);
        if let Some(hit) = self
            .columns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(hit.clone());
        }
        let found = self.inner.columns(schema, name).await?;
        self.columns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, found.clone());
        Ok(found)
    }

    async fn relation_kind(
        &self,
        schema: &str,
        name: &str,
    ) -> Result<Option<RelationKind>, AdapterError> {
        let key = Self::key(schema, name);
        if let Some(hit) = self
            .kinds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(*hit);
        }
        let found = self.inner.relation_kind(schema, name).await?;
        self.kinds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, found);
        Ok(found)
    }

    async fn list_relations(
        &self,
        schema: &str,
    ) -> Result<Vec<(String, RelationKind)>, AdapterError> {
        self.inner.list_relations(schema).await
    }

    async fn list_schemas(&self) -> Result<Vec<String>, AdapterError> {
        self.inner.list_schemas().await
    }

    async fn rename_relation(
        &self,
        schema: &str,
        from: &str,
        to: &str,
    ) -> Result<(), AdapterError> {
        let result = self.inner.rename_relation(schema, from, to).await;
        self.forget(schema, from);
        self.forget(schema, to);
        result
    }

    async fn create_schema(&self, schema: &str) -> Result<(), AdapterError> {
        self.inner.create_schema(schema).await
    }

    async fn drop_relation(&self, schema: &str, name: &str) -> Result<(), AdapterError> {
        let result = self.inner.drop_relation(schema, name).await;
        self.forget(schema, name);
        result
    }

    async fn last_modified(
        &self,
        schema: &str,
        name: &str,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, AdapterError> {
        self.inner.last_modified(schema, name).await
    }

    fn dialect(&self) -> &'static dyn Dialect {
        self.inner.dialect()
    }

    fn relation(&self, schema: &str, name: &str) -> String {
        self.inner.relation(schema, name)
    }

    async fn query_columns(&self, sql: &str) -> Result<Vec<ColumnInfo>, AdapterError> {
        self.inner.query_columns(sql).await
    }

    async fn create_view(
        &self,
        relation: &Relation<'_>,
        sql: &str,
    ) -> Result<AdapterResponse, AdapterError> {
        let result = self.inner.create_view(relation, sql).await;
        self.forget(relation.schema, relation.name);
        result
    }

    async fn write_table(
        &self,
        relation: &Relation<'_>,
        sql: &str,
        strategy: &WriteStrategy,
    ) -> Result<AdapterResponse, AdapterError> {
        let result = self.inner.write_table(relation, sql, strategy).await;
        self.forget(relation.schema, relation.name);
        result
    }

    async fn load_seed(
        &self,
        relation: &Relation<'_>,
        seed: &SeedFile<'_>,
    ) -> Result<AdapterResponse, AdapterError> {
        let result = self.inner.load_seed(relation, seed).await;
        self.forget(relation.schema, relation.name);
        result
    }

    async fn check_connection(&self) -> Result<String, AdapterError> {
        self.inner.check_connection().await
    }

    async fn catalog(&self, wanted: &[CatalogRequest]) -> Result<Catalog, AdapterError> {
        self.inner.catalog(wanted).await
    }

    async fn register_sources(
        &self,
        sources: &[SourceTable],
        land: &LandAccess,
    ) -> Result<(), AdapterError> {
        let result = self.inner.register_sources(sources, land).await;
        self.forget_all();
        result
    }

    async fn stage_sources(
        &self,
        sources: &[SourceTable],
        land: &LandAccess,
        report: &(dyn Fn(String) + Send + Sync),
    ) -> Result<usize, AdapterError> {
        let result = self.inner.stage_sources(sources, land, report).await;
        self.forget_all();
        result
    }

    async fn dry_run(&self, sql: &str, node: Option<&str>) -> Result<DryRun, AdapterError> {
        self.inner.dry_run(sql, node).await
    }

    async fn clone_relation(
        &self,
        source: &super::StateRelation,
        schema: &str,
        name: &str,
    ) -> Result<AdapterResponse, AdapterError> {
        let result = self.inner.clone_relation(source, schema, name).await;
        self.forget_all();
        result
    }

    async fn attach_state(&self, warehouse: &std::path::Path) -> Result<(), AdapterError> {
        self.inner.attach_state(warehouse).await
    }

    async fn begin_audit(&self, schema: &str, name: &str) -> Result<(), AdapterError> {
        let result = self.inner.begin_audit(schema, name).await;
        self.forget_all();
        result
    }

    async fn publish_audit(
        &self,
        schema: &str,
        name: &str,
        node: Option<&str>,
    ) -> Result<(), AdapterError> {
        let result = self.inner.publish_audit(schema, name, node).await;
        self.forget_all();
        result
    }

    async fn discard_audit(&self, schema: &str, name: &str) -> Result<(), AdapterError> {
        let result = self.inner.discard_audit(schema, name).await;
        self.forget_all();
        result
    }

    async fn history(
        &self,
        schema: &str,
        name: &str,
        limit: Option<usize>,
    ) -> Result<Vec<super::TableVersion>, AdapterError> {
        self.inner.history(schema, name, limit).await
    }

    async fn restore(&self, schema: &str, name: &str, version: u64) -> Result<u64, AdapterError> {
        let result = self.inner.restore(schema, name, version).await;
        self.forget_all();
        result
    }

    async fn vacuum(
        &self,
        schema: &str,
        name: &str,
        retain: std::time::Duration,
        dry_run: bool,
    ) -> Result<Vec<String>, AdapterError> {
        self.inner.vacuum(schema, name, retain, dry_run).await
    }

    async fn compact(&self, schema: &str, name: &str) -> Result<(u64, u64), AdapterError> {
        self.inner.compact(schema, name).await
    }

    async fn persist_column_docs(
        &self,
        relation: &Relation<'_>,
        descriptions: &[(String, String)],
    ) -> Result<(), AdapterError> {
        self.inner.persist_column_docs(relation, descriptions).await
    }
}

#[cfg(test)]
mod tests {
    use super::reads_only;

    #[test]
    fn reads_are_told_from_writes() {
        assert!(reads_only("select 1"));
        assert!(reads_only(
            "  -- a note\n/* x */ (WITH a AS (select 1) select * from a)"
        ));
        assert!(!reads_only("create table t as select 1"));
        assert!(!reads_only("insert into t values (1)"));
        assert!(!reads_only("drop view v"));
    }
}
