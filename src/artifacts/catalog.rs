//! `target/catalog.json` in dbt's v1 layout: what the warehouse holds for
//! each node and source (kind, columns with types and comments, row counts
//! and sizes), so the docs site and existing tools read it.

use serde_json::{Map, Value, json};

/// One relation as the warehouse describes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CatalogEntry {
    pub unique_id: String,
    pub database: String,
    pub schema: String,
    pub name: String,
    /// `BASE TABLE`, `VIEW` or `EXTERNAL`, as dbt writes it.
    pub kind: String,
    pub comment: Option<String>,
    pub columns: Vec<CatalogColumn>,
    pub row_count: Option<u64>,
    pub bytes: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CatalogColumn {
    pub name: String,
    pub data_type: String,
    pub comment: Option<String>,
}

/// The document: entries whose id starts with `source.` go under `sources`,
/// the rest under `nodes`; `errors` lists relations that could not be read.
pub fn catalog_json(
    entries: &[CatalogEntry],
    errors: &[String],
    invocation_id: &str,
    generated_at: &str,
) -> Value {
    let mut nodes = Map::new();
    let mut sources = Map::new();
    for e in entries {
        let target = if e.unique_id.starts_with("source.") {
            &mut sources
        } else {
            &mut nodes
        };
        target.insert(e.unique_id.clone(), entry_json(e));
    }
    json!({
        "metadata": {
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/catalog/v1.json",
            "dbt_version": concat!("rdbt-", env!("CARGO_PKG_VERSION")),
            "generated_at": generated_at,
            "invocation_id": invocation_id,
            "env": {},
        },
        "nodes": nodes,
        "sources": sources,
        "errors": if errors.is_empty() { Value::Null } else { json!(errors) },
    })
}

fn entry_json(e: &CatalogEntry) -> Value {
    let columns: Map<String, Value> = e
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            (
                c.name.clone(),
                json!({"type": c.data_type, "index": i + 1, "name": c.name, "comment": c.comment}),
            )
        })
        .collect();
    let mut stats = Map::new();
    let stat = |id: &str, label: &str, value: Value, description: &str| json!({"id": id, "label": label, "value": value, "include": true, "description": description});
    if let Some(n) = e.row_count {
        stats.insert(
            "row_count".into(),
            stat(
                "row_count",
                "# Rows",
                json!(n),
                "Approximate count of rows in this table",
            ),
        );
    }
    if let Some(b) = e.bytes {
        stats.insert(
            "num_bytes".into(),
            stat(
                "num_bytes",
                "Approximate Size",
                json!(b),
                "Approximate size of table as reported by the warehouse",
            ),
        );
    }
    stats.insert(
        "has_stats".into(),
        stat(
            "has_stats",
            "Has Stats?",
            json!(!stats.is_empty()),
            "Indicates whether there are statistics for this table",
        ),
    );
    json!({
        "metadata": {
            "type": e.kind,
            "schema": e.schema,
            "name": e.name,
            "database": e.database,
            "comment": e.comment,
            "owner": null,
        },
        "columns": columns,
        "stats": stats,
        "unique_id": e.unique_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_and_nodes_are_apart_and_stats_are_dbts() {
        let entries = [
            CatalogEntry {
                unique_id: "model.p.orders".into(),
                database: "warehouse".into(),
                schema: "main".into(),
                name: "orders".into(),
                kind: "BASE TABLE".into(),
                columns: vec![CatalogColumn {
                    name: "id".into(),
                    data_type: "BIGINT".into(),
                    comment: None,
                }],
                row_count: Some(3),
                bytes: Some(1024),
                ..Default::default()
            },
            CatalogEntry {
                unique_id: "source.p.raw.events".into(),
                kind: "EXTERNAL".into(),
                ..Default::default()
            },
        ];
        let v = catalog_json(&entries, &[], "id", "2026-01-01T00:00:00Z");
        let orders = &v["nodes"]["model.p.orders"];
        assert_eq!(orders["columns"]["id"]["index"], 1);
        assert_eq!(orders["stats"]["row_count"]["value"], 3);
        assert_eq!(orders["stats"]["has_stats"]["value"], true);
        let events = &v["sources"]["source.p.raw.events"];
        assert_eq!(events["stats"]["has_stats"]["value"], false);
        assert_eq!(v["errors"], Value::Null);
    }
}
