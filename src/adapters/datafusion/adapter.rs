//! The embedded warehouse as an [`Adapter`].

use super::{Warehouse, WarehouseError, WriteMode, quote};
use crate::adapters::{
    Adapter, AdapterError, AdapterResponse, Capabilities, Catalog, CatalogRequest, ColumnInfo,
    DataFusionDialect, Dialect, LandAccess, QueryStream, Relation, RelationKind, SeedFile,
    SourceTable, WriteStrategy,
};
use crate::artifacts::{CatalogColumn, CatalogEntry};

impl From<WarehouseError> for AdapterError {
    fn from(e: WarehouseError) -> Self {
        let text = super::clean_message(&e.to_string());
        // The query engine's own bugs are not the user's: say so, without
        // DataFusion's plea to file a report in its tracker.
        let internal = text.contains("Internal error");
        let text = match text.find("This issue was likely caused by a bug") {
            Some(at) => text[..at].trim_end().to_string(),
            None => text,
        };
        // "table 'warehouse.main.orders' not found"
        let missing_relation =
            regex::Regex::new(r"table '(?:[^'.]+\.)?([^'.]+)\.([^'.]+)' not found")
                .ok()
                .and_then(|re| re.captures(&text))
                .map(|c| (c[1].to_string(), c[2].to_string()));
        AdapterError {
            message: text,
            missing_relation,
            internal,
            help: internal.then(|| {
                "this is an internal error of the embedded query engine, not a problem in your \
                 SQL; please report it to rdbt with the compiled SQL"
                    .to_string()
            }),
            ..Default::default()
        }
    }
}

impl Warehouse {
    /// `--empty` and `column_types` applied to a seed's inferred columns
    /// (the `__rdbt_seed` table).
    fn seed_select(seed: &SeedFile<'_>, cols: &[ColumnInfo]) -> String {
        let column_types: Vec<(String, String)> = seed
            .column_types
            .iter()
            .map(|(k, t)| (k.clone(), crate::sql::types::warehouse_type(t)))
            .collect();
        let list = cols
            .iter()
            .map(|c| {
                match column_types
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(&c.name))
                {
                    // Text to a timestamp: any layout DuckDB reads.
                    Some((_, t))
                        if c.data_type == "varchar"
                            && t.to_ascii_uppercase().starts_with("TIMESTAMP") =>
                    {
                        format!(
                            "CAST({} AS {t}) AS {}",
                            crate::sql::types::parse_timestamp_text(&quote(&c.name)),
                            quote(&c.name)
                        )
                    }
                    Some((_, t)) => {
                        format!("CAST({} AS {t}) AS {}", quote(&c.name), quote(&c.name))
                    }
                    None => quote(&c.name),
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "SELECT {list} FROM __rdbt_seed{}",
            if seed.empty { " LIMIT 0" } else { "" }
        )
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
            reads_sources_in_place: true,
        }
    }

    /// The warehouse folder takes a file.
    async fn check_connection(&self) -> Result<String, AdapterError> {
        let path = self.root();
        let probe = path.join(".rdbt-debug-probe");
        std::fs::write(&probe, b"ok")
            .map_err(|e| AdapterError::new(format!("{} is not writable: {e}", path.display())))?;
        let _ = std::fs::remove_file(&probe);
        Ok(format!(
            "embedded warehouse at {} is writable",
            path.display()
        ))
    }

    async fn catalog(&self, wanted: &[CatalogRequest]) -> Result<Catalog, AdapterError> {
        let mut catalog = Catalog::default();
        for w in wanted {
            let Some(stats) = self.describe(&w.schema, &w.name).await else {
                continue;
            };
            catalog.entries.push(CatalogEntry {
                unique_id: w.unique_id.clone(),
                database: w.database.clone(),
                schema: w.schema.clone(),
                name: w.name.clone(),
                kind: match stats.kind {
                    Some(RelationKind::Table) => "BASE TABLE",
                    Some(RelationKind::View) => "VIEW",
                    None => "EXTERNAL",
                }
                .into(),
                comment: None,
                columns: stats
                    .columns
                    .into_iter()
                    .map(|c| CatalogColumn {
                        comment: w
                            .column_descriptions
                            .get(&c.name)
                            .filter(|d| !d.is_empty())
                            .cloned(),
                        name: c.name,
                        data_type: c.data_type,
                    })
                    .collect(),
                row_count: stats.row_count,
                bytes: stats.bytes,
            });
        }
        Ok(catalog)
    }

    /// External sources are read in place, from their files.
    async fn register_sources(
        &self,
        sources: &[SourceTable],
        land: &LandAccess,
    ) -> Result<(), AdapterError> {
        let externals = sources
            .iter()
            .filter_map(|s| {
                Some((
                    s.schema.clone(),
                    s.identifier.clone(),
                    super::external::ExternalSource {
                        name: s.name.clone(),
                        spec: s.external.clone()?,
                    },
                ))
            })
            .collect();
        Ok(self
            .register_externals(externals, land.options.clone())
            .await?)
    }

    async fn query_stream(
        &self,
        sql: &str,
        limit: Option<usize>,
    ) -> Result<QueryStream, AdapterError> {
        Ok(self.query_streamed(sql, limit).await?)
    }

    async fn execute(&self, sql: &str) -> Result<(), AdapterError> {
        Warehouse::execute(self, sql, None).await?;
        Ok(())
    }

    async fn execute_for(&self, sql: &str, node: Option<&str>) -> Result<(), AdapterError> {
        Warehouse::execute(self, sql, node).await?;
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

    async fn list_relations(
        &self,
        schema: &str,
    ) -> Result<Vec<(String, RelationKind)>, AdapterError> {
        Ok(super::storage::list(self.root())
            .into_iter()
            .filter(|(s, _, _)| s == schema)
            .flat_map(|(_, tables, views)| {
                tables
                    .into_iter()
                    .map(|t| (t, RelationKind::Table))
                    .chain(views.into_iter().map(|v| (v, RelationKind::View)))
            })
            .collect())
    }

    async fn list_schemas(&self) -> Result<Vec<String>, AdapterError> {
        let mut schemas: Vec<String> = super::storage::list(self.root())
            .into_iter()
            .map(|(s, _, _)| s)
            .collect();
        if !schemas.iter().any(|s| s == "main") {
            schemas.push("main".into());
            schemas.sort();
        }
        Ok(schemas)
    }

    async fn rename_relation(
        &self,
        schema: &str,
        from: &str,
        to: &str,
    ) -> Result<(), AdapterError> {
        Ok(Warehouse::rename_relation(self, schema, from, to)?)
    }

    async fn create_schema(&self, schema: &str) -> Result<(), AdapterError> {
        Ok(self.ensure_schema(schema).await?)
    }

    async fn drop_relation(&self, schema: &str, name: &str) -> Result<(), AdapterError> {
        Ok(Warehouse::drop_relation(self, schema, name).await?)
    }

    fn dialect(&self) -> &'static dyn Dialect {
        &DataFusionDialect
    }

    fn relation(&self, schema: &str, name: &str) -> String {
        format!("{}.{}", quote(schema), quote(name))
    }

    async fn query_columns(&self, sql: &str) -> Result<Vec<ColumnInfo>, AdapterError> {
        let schema = self.plan_schema(sql).await?;
        Ok(schema
            .fields()
            .iter()
            .map(|f| ColumnInfo {
                name: f.name().clone(),
                data_type: crate::sql::types::sql_type(f.data_type()),
            })
            .collect())
    }

    async fn create_view(
        &self,
        relation: &Relation<'_>,
        sql: &str,
    ) -> Result<AdapterResponse, AdapterError> {
        Warehouse::create_view(self, relation.schema, relation.name, sql).await?;
        Ok(AdapterResponse::new("CREATE VIEW", None))
    }

    async fn write_table(
        &self,
        relation: &Relation<'_>,
        sql: &str,
        strategy: &WriteStrategy,
    ) -> Result<AdapterResponse, AdapterError> {
        let mode = match strategy {
            WriteStrategy::Replace => WriteMode::Replace,
            WriteStrategy::Append => WriteMode::Append,
            WriteStrategy::Merge { unique_key } => WriteMode::Merge {
                unique_key: unique_key.clone(),
            },
            WriteStrategy::DeleteInsert { unique_key } => WriteMode::DeleteInsert {
                unique_key: unique_key.clone(),
            },
            WriteStrategy::ReplaceRange { column, start, end } => WriteMode::ReplaceRange {
                column: column.clone(),
                start: start.clone(),
                end: end.clone(),
            },
            WriteStrategy::InsertOverwrite => WriteMode::InsertOverwrite {
                partition_by: relation
                    .options
                    .partition_by
                    .as_ref()
                    .map(|p| p.columns.clone())
                    .unwrap_or_default(),
            },
        };
        let rows = Warehouse::write_table(
            self,
            relation.schema,
            relation.name,
            sql,
            &mode,
            relation.node,
        )
        .await?;
        Ok(AdapterResponse::new(
            format!("{} {rows}", strategy.label()),
            Some(rows),
        ))
    }

    async fn load_seed(
        &self,
        relation: &Relation<'_>,
        seed: &SeedFile<'_>,
    ) -> Result<AdapterResponse, AdapterError> {
        let rows = self
            .load_csv(
                relation.schema,
                relation.name,
                seed.path,
                seed.delimiter,
                |cols| Warehouse::seed_select(seed, cols),
                relation.node,
            )
            .await?;
        Ok(AdapterResponse::new(format!("INSERT {rows}"), Some(rows)))
    }

    async fn clone_relation(
        &self,
        source: &crate::adapters::StateRelation,
        schema: &str,
        name: &str,
    ) -> Result<AdapterResponse, AdapterError> {
        let Some(warehouse) = &source.warehouse else {
            return Err(AdapterError::new(
                "the state's relations are not in an embedded warehouse folder",
            ));
        };
        let table = super::storage::table_dir(warehouse, &source.schema, &source.name);
        let view = super::storage::view_file(warehouse, &source.schema, &source.name);
        if super::storage::is_table(&table) {
            let files = self.clone_table(&table, schema, name).await?;
            Ok(AdapterResponse::new(format!("CLONE {files} files"), None))
        } else if view.is_file() {
            let sql = std::fs::read_to_string(&view)
                .map_err(|e| AdapterError::new(format!("cannot read {}: {e}", view.display())))?;
            // The same definition, stored as it is: it planned where it was
            // made, and what it reads may be cloned after it.
            self.store_view(schema, name, &sql).await?;
            Ok(AdapterResponse::new("CREATE VIEW", None))
        } else {
            Err(AdapterError::new(format!(
                "the state's relation {}.{} is not in {} (build it there first)",
                source.schema,
                source.name,
                warehouse.display()
            )))
        }
    }

    async fn attach_state(&self, warehouse: &std::path::Path) -> Result<(), AdapterError> {
        Ok(Warehouse::attach_state(self, warehouse).await?)
    }

    async fn begin_audit(&self, schema: &str, name: &str) -> Result<(), AdapterError> {
        Ok(Warehouse::begin_audit(self, schema, name).await?)
    }

    async fn publish_audit(
        &self,
        schema: &str,
        name: &str,
        node: Option<&str>,
    ) -> Result<(), AdapterError> {
        Ok(Warehouse::publish_audit(self, schema, name, node).await?)
    }

    async fn discard_audit(&self, schema: &str, name: &str) -> Result<(), AdapterError> {
        self.end_audit(schema, name);
        Ok(())
    }

    async fn history(
        &self,
        schema: &str,
        name: &str,
        limit: Option<usize>,
    ) -> Result<Vec<crate::adapters::TableVersion>, AdapterError> {
        let table = self.delta_table(schema, name).await?;
        Ok(super::delta::history(&table, limit).await?)
    }

    async fn restore(&self, schema: &str, name: &str, version: u64) -> Result<u64, AdapterError> {
        self.delta_table(schema, name).await?;
        let version = super::delta::restore(&self.table_dir(schema, name), version).await?;
        self.forget(schema, name);
        Ok(version)
    }

    async fn vacuum(
        &self,
        schema: &str,
        name: &str,
        retain: std::time::Duration,
        dry_run: bool,
    ) -> Result<Vec<String>, AdapterError> {
        self.delta_table(schema, name).await?;
        let mut files =
            super::delta::vacuum(&self.table_dir(schema, name), retain, dry_run).await?;
        // A candidate write-audit-publish kept after a failed audit goes too.
        let candidate = super::storage::audit_dir(self.root(), schema, name);
        if candidate.is_dir() {
            files.push(format!(
                "{} (an unpublished audit candidate)",
                candidate.display()
            ));
            if !dry_run {
                std::fs::remove_dir_all(&candidate).map_err(|e| {
                    AdapterError::new(format!("cannot remove {}: {e}", candidate.display()))
                })?;
            }
        }
        Ok(files)
    }

    async fn compact(&self, schema: &str, name: &str) -> Result<(u64, u64), AdapterError> {
        self.delta_table(schema, name).await?;
        let done = super::delta::compact(
            self.context(),
            &self.table_dir(schema, name),
            super::delta::Author::default(),
        )
        .await?;
        self.forget(schema, name);
        Ok(done)
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
