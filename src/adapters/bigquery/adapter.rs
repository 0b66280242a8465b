//! BigQuery as an [`Adapter`].

use super::sql::{self, PartitionSql, TableOptions, quote};
use super::{BigQuery, BigQueryError, Field};
use crate::adapters::{
    Adapter, AdapterError, AdapterResponse, BigQueryDialect, Capabilities, Catalog, CatalogRequest,
    ColumnInfo, Dialect, DryRun, LandAccess, PartitionBy, QueryStream, Relation, RelationKind,
    SeedFile, SourceTable, WriteStrategy,
};

impl From<BigQueryError> for AdapterError {
    fn from(e: BigQueryError) -> Self {
        let position = match &e {
            BigQueryError::Job {
                line: Some(line),
                column,
                ..
            } => Some((*line, *column)),
            _ => None,
        };
        // "Not found: Table project:dataset.table was not found in location US"
        let missing_relation = match &e {
            BigQueryError::Job { message, .. } => {
                regex::Regex::new(r"Not found: Table [^:\s]+:([^.\s]+)\.([^\s]+)")
                    .ok()
                    .and_then(|re| re.captures(message))
                    .map(|c| (c[1].to_string(), c[2].to_string()))
            }
            _ => None,
        };
        AdapterError {
            message: e.to_string(),
            help: e.help().map(str::to_string),
            position,
            missing_relation,
            ..Default::default()
        }
    }
}

/// Runs one statement for a node, keeping it with any error.
async fn run(
    bq: &BigQuery,
    statement: &str,
    node: Option<&str>,
) -> Result<super::QueryResult, AdapterError> {
    bq.execute(statement, node)
        .await
        .map_err(|e| AdapterError::from(e).in_statement(statement))
}

/// BigQuery partitions by one column.
fn single_partition(p: &PartitionBy) -> Result<(), AdapterError> {
    if p.columns.len() > 1 {
        return Err(AdapterError::new(format!(
            "`partition_by` lists {} columns; BigQuery partitions a table by one",
            p.columns.len()
        ))
        .with_help("write partition_by as a mapping: {field: <column>, data_type: date}"));
    }
    Ok(())
}

impl BigQuery {
    async fn create_table(
        &self,
        relation: &Relation<'_>,
        sql: &str,
    ) -> Result<AdapterResponse, AdapterError> {
        if let Some(p) = &relation.options.partition_by {
            single_partition(p)?;
        }
        let target = Adapter::relation(self, relation.schema, relation.name);
        let statement = sql::create_table_as(&target, sql, relation.options);
        run(self, &statement, relation.node).await?;
        let rows = self
            .table(relation.schema, relation.name)
            .await
            .ok()
            .flatten()
            .and_then(|t| t.num_rows);
        Ok(AdapterResponse::new(
            format!("CREATE TABLE ({} rows)", rows.unwrap_or(0)),
            rows,
        ))
    }

    /// The new rows go to a temporary table; their partitions are read from
    /// it and replaced in the target by one MERGE, so readers see the old or
    /// the new partitions, never a mix.
    async fn insert_overwrite(
        &self,
        relation: &Relation<'_>,
        sql: &str,
        columns: &[String],
    ) -> Result<AdapterResponse, AdapterError> {
        let Some(partition) = &relation.options.partition_by else {
            return Err(AdapterError::new(
                "incremental_strategy `insert_overwrite` needs `partition_by`",
            ));
        };
        single_partition(partition)?;
        let target = Adapter::relation(self, relation.schema, relation.name);
        let tmp_name = format!("{}__dbt_tmp", relation.name);
        let tmp = Adapter::relation(self, relation.schema, &tmp_name);
        let stage = sql::create_table_as(&tmp, sql, &TableOptions::default());
        let outcome = async {
            run(self, &stage, relation.node).await?;
            let found = self
                .fetch(&sql::partitions_of(&tmp, partition), relation.node)
                .await
                .map_err(|e| AdapterError::from(e).in_statement(&stage))?;
            let partitions: Vec<String> = found
                .rows
                .iter()
                .filter_map(|r| r.first())
                .filter(|v| !v.is_null())
                .map(|v| partition.literal(v))
                .collect();
            let statement = sql::insert_overwrite(
                &target,
                &format!("select * from {tmp}"),
                partition,
                &partitions,
                columns,
            );
            let done = run(self, &statement, relation.node).await?;
            Ok::<_, AdapterError>((partitions.len(), done.affected_rows.unwrap_or(0)))
        }
        .await;
        let _ = self.drop_table(relation.schema, &tmp_name).await;
        let (partitions, rows) = outcome?;
        Ok(AdapterResponse::new(
            format!("INSERT_OVERWRITE ({partitions} partitions, {rows} rows)"),
            Some(rows),
        ))
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
            reads_sources_in_place: false,
        }
    }

    /// As dbt debug checks it: the credentials work and `select 1` runs.
    async fn check_connection(&self) -> Result<String, AdapterError> {
        Adapter::query(self, "select 1 as id", Some(1)).await?;
        Ok(format!(
            "BigQuery project {} answered a query",
            self.config().project
        ))
    }

    async fn catalog(&self, wanted: &[CatalogRequest]) -> Result<Catalog, AdapterError> {
        let wanted: Vec<super::catalog::Wanted> = wanted
            .iter()
            .map(|w| super::catalog::Wanted {
                unique_id: w.unique_id.clone(),
                dataset: w.schema.clone(),
                table: w.name.clone(),
            })
            .collect();
        Ok(BigQuery::catalog(self, &wanted).await?)
    }

    async fn stage_sources(
        &self,
        sources: &[SourceTable],
        land: &LandAccess,
        report: &(dyn Fn(String) + Send + Sync),
    ) -> Result<usize, AdapterError> {
        self.stage(sources, land, report).await
    }

    async fn dry_run(&self, sql: &str, node: Option<&str>) -> Result<DryRun, AdapterError> {
        match BigQuery::dry_run(self, sql, node).await {
            Ok(r) => Ok(DryRun::Bytes(r.total_bytes_processed)),
            Err(BigQueryError::Http {
                status: 404,
                message,
            })
            | Err(BigQueryError::Job { message, .. })
                if message.starts_with("Not found") =>
            {
                Ok(DryRun::NotPlannable(message))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn query_stream(
        &self,
        sql: &str,
        limit: Option<usize>,
    ) -> Result<QueryStream, AdapterError> {
        self.fetch_stream(sql, limit).await
    }

    async fn execute(&self, sql: &str) -> Result<(), AdapterError> {
        BigQuery::execute(self, sql, None).await?;
        Ok(())
    }

    async fn execute_for(&self, sql: &str, node: Option<&str>) -> Result<(), AdapterError> {
        BigQuery::execute(self, sql, node).await?;
        Ok(())
    }

    fn dialect(&self) -> &'static dyn Dialect {
        &BigQueryDialect
    }

    fn relation(&self, schema: &str, name: &str) -> String {
        BigQuery::relation(self, schema, name)
    }

    /// As dbt-bigquery's `get_column_schema_from_query`: the query under
    /// `where false limit 0`, which BigQuery answers with its schema and no
    /// bytes read.
    async fn query_columns(&self, sql: &str) -> Result<Vec<ColumnInfo>, AdapterError> {
        let empty = format!(
            "select * from (\n{}\n) as dbt_sbq where false limit 0",
            sql.trim_end().trim_end_matches(';')
        );
        let result = self
            .fetch(&empty, None)
            .await
            .map_err(|e| AdapterError::from(e).in_statement(&empty))?;
        Ok(result
            .schema
            .iter()
            .map(|f| ColumnInfo {
                name: f.name.clone(),
                data_type: f.sql_type(),
            })
            .collect())
    }

    async fn create_view(
        &self,
        relation: &Relation<'_>,
        sql: &str,
    ) -> Result<AdapterResponse, AdapterError> {
        self.ensure_dataset(relation.schema).await?;
        // A table cannot be replaced by a view in place.
        if let Some(t) = self.table(relation.schema, relation.name).await?
            && t.kind != "VIEW"
        {
            self.drop_table(relation.schema, relation.name).await?;
        }
        let target = Adapter::relation(self, relation.schema, relation.name);
        let statement = sql::create_view(&target, sql, relation.options);
        run(self, &statement, relation.node).await?;
        Ok(AdapterResponse::new("CREATE VIEW", None))
    }

    async fn write_table(
        &self,
        relation: &Relation<'_>,
        sql: &str,
        strategy: &WriteStrategy,
    ) -> Result<AdapterResponse, AdapterError> {
        self.ensure_dataset(relation.schema).await?;
        let existing = self.table(relation.schema, relation.name).await?;
        let table = match existing {
            // A view cannot be replaced by a table in place.
            Some(t) if t.kind == "VIEW" => {
                self.drop_table(relation.schema, relation.name).await?;
                None
            }
            other => other,
        };
        let Some(table) = table.filter(|_| *strategy != WriteStrategy::Replace) else {
            return self.create_table(relation, sql).await;
        };
        let target = Adapter::relation(self, relation.schema, relation.name);
        let columns: Vec<String> = table.fields.iter().map(|f| f.name.clone()).collect();
        let statement = match strategy {
            WriteStrategy::Replace => unreachable!("replaced above"),
            WriteStrategy::Append => sql::insert_into(&target, sql, &columns),
            WriteStrategy::Merge { unique_key } | WriteStrategy::DeleteInsert { unique_key } => {
                sql::merge(&target, sql, unique_key, &columns)
            }
            WriteStrategy::InsertOverwrite => {
                return self.insert_overwrite(relation, sql, &columns).await;
            }
            WriteStrategy::ReplaceRange { column, start, end } => {
                sql::replace_range(&target, sql, column, (start, end), &columns)
            }
        };
        let done = run(self, &statement, relation.node).await?;
        let rows = done.affected_rows.unwrap_or(0);
        Ok(AdapterResponse::new(
            format!("{} ({rows} rows)", strategy.label()),
            Some(rows),
        ))
    }

    async fn load_seed(
        &self,
        relation: &Relation<'_>,
        seed: &SeedFile<'_>,
    ) -> Result<AdapterResponse, AdapterError> {
        let export = crate::adapters::datafusion::export_seed(seed.path, seed.delimiter)
            .await
            .map_err(AdapterError::from)?;
        let declared: std::collections::BTreeMap<String, String> = seed
            .column_types
            .iter()
            .map(|(k, t)| (k.to_ascii_lowercase(), t.to_ascii_uppercase()))
            .collect();
        let fields: Vec<Field> = export
            .columns
            .iter()
            .map(|(name, inferred)| Field {
                name: name.clone(),
                data_type: declared
                    .get(&name.to_ascii_lowercase())
                    .cloned()
                    .unwrap_or_else(|| inferred.to_string()),
                mode: "NULLABLE".into(),
                fields: Vec::new(),
            })
            .collect();
        let rows = self
            .replace_with_csv(
                relation.schema,
                relation.name,
                &fields,
                export.csv,
                relation.node,
            )
            .await?;
        Ok(AdapterResponse::new(format!("INSERT {rows}"), Some(rows)))
    }

    async fn persist_column_docs(
        &self,
        relation: &Relation<'_>,
        descriptions: &[(String, String)],
    ) -> Result<(), AdapterError> {
        if descriptions.is_empty() {
            return Ok(());
        }
        let Some(table) = self.table(relation.schema, relation.name).await? else {
            return Ok(());
        };
        let keyword = if table.kind == "VIEW" {
            "view"
        } else {
            "table"
        };
        let target = Adapter::relation(self, relation.schema, relation.name);
        for field in &table.fields {
            let Some((_, description)) = descriptions.iter().find(|(c, _)| *c == field.name) else {
                continue;
            };
            if description.trim().is_empty() {
                continue;
            }
            let statement = format!(
                "alter {keyword} {target} alter column {} set options(description={})",
                quote(&field.name),
                sql::string_literal(description)
            );
            run(self, &statement, relation.node).await?;
        }
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

    async fn list_relations(
        &self,
        schema: &str,
    ) -> Result<Vec<(String, RelationKind)>, AdapterError> {
        Ok(self
            .list_tables(schema)
            .await?
            .into_iter()
            .map(|(name, kind)| {
                let kind = if kind == "VIEW" {
                    RelationKind::View
                } else {
                    RelationKind::Table
                };
                (name, kind)
            })
            .collect())
    }

    async fn list_schemas(&self) -> Result<Vec<String>, AdapterError> {
        Ok(self.list_datasets().await?)
    }

    /// `alter table ... rename to`: BigQuery renames tables, not views.
    async fn rename_relation(
        &self,
        schema: &str,
        from: &str,
        to: &str,
    ) -> Result<(), AdapterError> {
        match self.table(schema, from).await? {
            None => Err(AdapterError::new(format!(
                "cannot rename {schema}.{from}: it does not exist"
            ))),
            Some(t) if t.kind == "VIEW" => Err(AdapterError::new(format!(
                "cannot rename the view {schema}.{from}: BigQuery renames tables only"
            ))
            .with_help("create the view under the new name and drop the old one")),
            Some(_) => {
                let statement = format!(
                    "alter table {} rename to {}",
                    Adapter::relation(self, schema, from),
                    quote(to)
                );
                run(self, &statement, None).await?;
                Ok(())
            }
        }
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
