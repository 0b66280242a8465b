//! The catalog of a BigQuery target, as dbt-bigquery reads it: one
//! INFORMATION_SCHEMA query per dataset (columns, types, descriptions, table
//! kinds) joined with `__TABLES__` (rows and bytes). Where a dataset's
//! INFORMATION_SCHEMA cannot be read (no permission on it, or an emulator
//! without it) each relation is described by `tables.get` instead.

use super::{BigQuery, BigQueryError, sql};
use crate::artifacts::{CatalogColumn, CatalogEntry};
use futures::StreamExt;
use serde_json::Value;
use std::collections::BTreeMap;

/// A relation the project expects: its node, dataset and table name.
#[derive(Debug, Clone)]
pub struct Wanted {
    pub unique_id: String,
    pub dataset: String,
    pub table: String,
}

pub use crate::adapters::Catalog;

impl BigQuery {
    pub async fn catalog(&self, wanted: &[Wanted]) -> Result<Catalog, BigQueryError> {
        let mut by_dataset: BTreeMap<&str, Vec<&Wanted>> = BTreeMap::new();
        for w in wanted {
            by_dataset.entry(&w.dataset).or_default().push(w);
        }
        let mut catalog = Catalog::default();
        for (dataset, relations) in by_dataset {
            match self.information_schema(dataset, &relations).await {
                Ok(entries) => catalog.entries.extend(entries),
                // Credentials and the network fail the same way for the
                // fallback; say so once instead of once per table.
                Err(e @ (BigQueryError::Auth { .. } | BigQueryError::Network(_))) => {
                    return Err(e);
                }
                Err(_) => {
                    let owned: Vec<Wanted> = relations.into_iter().cloned().collect();
                    let found = futures::stream::iter(owned)
                        .map(|w| async move {
                            let info = self.table(&w.dataset, &w.table).await;
                            (w, info)
                        })
                        .buffer_unordered(8)
                        .collect::<Vec<_>>()
                        .await;
                    for (w, info) in found {
                        match info {
                            Ok(Some(t)) => catalog.entries.push(self.entry_from_table(&w, t)),
                            Ok(None) => {}
                            Err(e) => catalog
                                .errors
                                .push(format!("{}.{}: {e}", w.dataset, w.table)),
                        }
                    }
                }
            }
        }
        catalog
            .entries
            .sort_by(|a, b| a.unique_id.cmp(&b.unique_id));
        Ok(catalog)
    }

    async fn information_schema(
        &self,
        dataset: &str,
        relations: &[&Wanted],
    ) -> Result<Vec<CatalogEntry>, BigQueryError> {
        let project = &self.config().project;
        let statement = information_schema_sql(project, dataset, relations);
        let result = self.fetch(&statement, None).await?;
        let index: BTreeMap<&str, usize> = result
            .schema
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name.as_str(), i))
            .collect();
        let get = |row: &[Value], name: &str| -> Value {
            index
                .get(name)
                .and_then(|&i| row.get(i))
                .cloned()
                .unwrap_or(Value::Null)
        };
        let text = |v: Value| match v {
            Value::String(s) => Some(s),
            Value::Null => None,
            other => Some(other.to_string()),
        };
        let number = |v: Value| match v {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        };
        let mut by_table: BTreeMap<String, CatalogEntry> = BTreeMap::new();
        for row in &result.rows {
            let Some(table) = text(get(row, "table_name")) else {
                continue;
            };
            let Some(w) = relations.iter().find(|w| w.table == table) else {
                continue;
            };
            let entry = by_table
                .entry(table.clone())
                .or_insert_with(|| CatalogEntry {
                    unique_id: w.unique_id.clone(),
                    database: project.clone(),
                    schema: dataset.to_string(),
                    name: table.clone(),
                    kind: dbt_kind(&text(get(row, "table_type")).unwrap_or_default()).to_string(),
                    comment: text(get(row, "table_description"))
                        .map(|d| unquote_option(&d))
                        .filter(|d| !d.is_empty()),
                    columns: Vec::new(),
                    row_count: number(get(row, "row_count")),
                    bytes: number(get(row, "size_bytes")),
                });
            if let Some(column) = text(get(row, "column_name")) {
                entry.columns.push(CatalogColumn {
                    name: column,
                    data_type: text(get(row, "data_type")).unwrap_or_default(),
                    comment: text(get(row, "column_description")).filter(|d| !d.is_empty()),
                });
            }
        }
        Ok(by_table.into_values().collect())
    }

    fn entry_from_table(&self, w: &Wanted, t: super::TableInfo) -> CatalogEntry {
        CatalogEntry {
            unique_id: w.unique_id.clone(),
            database: self.config().project.clone(),
            schema: w.dataset.clone(),
            name: w.table.clone(),
            kind: dbt_kind(&t.kind).to_string(),
            comment: t.description.clone().filter(|d| !d.is_empty()),
            columns: t
                .fields
                .iter()
                .map(|f| CatalogColumn {
                    name: f.name.clone(),
                    data_type: f.sql_type(),
                    comment: t.column_descriptions.get(&f.name).cloned(),
                })
                .collect(),
            row_count: t.num_rows.filter(|_| t.kind != "VIEW"),
            bytes: t.num_bytes.filter(|_| t.kind != "VIEW"),
        }
    }
}

/// One query for a dataset's relations: columns in order with their types
/// and descriptions, the table kind and description, rows and bytes.
pub fn information_schema_sql(project: &str, dataset: &str, relations: &[&Wanted]) -> String {
    let at = |view: &str| format!("{}.{}.{view}", sql::quote(project), sql::quote(dataset));
    let names = relations
        .iter()
        .map(|w| sql::string_literal(&w.table))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "select c.table_name, c.column_name, c.ordinal_position, c.data_type,\n  \
         p.description as column_description, t.table_type,\n  \
         o.option_value as table_description, s.row_count, s.size_bytes\n\
         from {columns} as c\n\
         join {tables} as t on t.table_name = c.table_name\n\
         left join {paths} as p\n  on p.table_name = c.table_name and p.column_name = c.column_name and p.field_path = c.column_name\n\
         left join {options} as o\n  on o.table_name = c.table_name and o.option_name = 'description'\n\
         left join {stats} as s on s.table_id = c.table_name\n\
         where c.table_name in ({names})\n\
         order by c.table_name, c.ordinal_position",
        columns = at("INFORMATION_SCHEMA.COLUMNS"),
        tables = at("INFORMATION_SCHEMA.TABLES"),
        paths = at("INFORMATION_SCHEMA.COLUMN_FIELD_PATHS"),
        options = at("INFORMATION_SCHEMA.TABLE_OPTIONS"),
        stats = at("__TABLES__"),
    )
}

/// BigQuery's relation kinds as dbt's catalog spells them.
fn dbt_kind(kind: &str) -> &'static str {
    match kind {
        "VIEW" | "MATERIALIZED_VIEW" | "MATERIALIZED VIEW" => "VIEW",
        "EXTERNAL" => "EXTERNAL",
        _ => "BASE TABLE",
    }
}

/// TABLE_OPTIONS holds option values as literals: `"text"`.
fn unquote_option(value: &str) -> String {
    serde_json::from_str::<String>(value).unwrap_or_else(|_| value.trim_matches('"').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_information_schema_query_reads_one_dataset() {
        let w = Wanted {
            unique_id: "model.p.orders".into(),
            dataset: "analytics".into(),
            table: "orders".into(),
        };
        insta::assert_snapshot!(information_schema_sql("acme", "analytics", &[&w]), @r"
        select c.table_name, c.column_name, c.ordinal_position, c.data_type,
          p.description as column_description, t.table_type,
          o.option_value as table_description, s.row_count, s.size_bytes
        from `acme`.`analytics`.INFORMATION_SCHEMA.COLUMNS as c
        join `acme`.`analytics`.INFORMATION_SCHEMA.TABLES as t on t.table_name = c.table_name
        left join `acme`.`analytics`.INFORMATION_SCHEMA.COLUMN_FIELD_PATHS as p
          on p.table_name = c.table_name and p.column_name = c.column_name and p.field_path = c.column_name
        left join `acme`.`analytics`.INFORMATION_SCHEMA.TABLE_OPTIONS as o
          on o.table_name = c.table_name and o.option_name = 'description'
        left join `acme`.`analytics`.__TABLES__ as s on s.table_id = c.table_name
        where c.table_name in ('orders')
        order by c.table_name, c.ordinal_position
        ");
        assert_eq!(
            unquote_option("\"daily \\\"orders\\\"\""),
            "daily \"orders\""
        );
        assert_eq!(dbt_kind("MATERIALIZED_VIEW"), "VIEW");
    }
}
