//! What a materialization asks a warehouse to write: the relation with its
//! options, how new rows reach it, and what the warehouse answers (dbt's
//! `adapter_response`). Materializations in `run/` speak only these types;
//! each adapter turns them into its own statements or files.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// A relation being written, with the options its config gives it.
#[derive(Debug, Clone, Copy)]
pub struct Relation<'a> {
    pub schema: &'a str,
    pub name: &'a str,
    pub options: &'a RelationOptions,
    /// The node writing it (BigQuery job labels).
    pub node: Option<&'a str>,
}

impl<'a> Relation<'a> {
    pub fn new(schema: &'a str, name: &'a str, options: &'a RelationOptions) -> Self {
        Relation {
            schema,
            name,
            options,
            node: None,
        }
    }

    pub fn for_node(mut self, node: &'a str) -> Self {
        self.node = Some(node);
        self
    }
}

/// Physical options of a table or view, from the node's config. A warehouse
/// uses the ones it has (partitions and clustering on BigQuery; partition
/// columns for `insert_overwrite` everywhere) and ignores the rest.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RelationOptions {
    pub partition_by: Option<PartitionBy>,
    pub cluster_by: Vec<String>,
    pub labels: BTreeMap<String, String>,
    /// `persist_docs: {relation: true}`: the description stored on it.
    pub description: Option<String>,
    pub require_partition_filter: bool,
    pub partition_expiration_days: Option<u64>,
}

/// The `partition_by` config: dbt-bigquery's mapping (`{field, data_type,
/// granularity, range}`), or one column name or a list of them.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionBy {
    /// The partition column (the first of `columns`).
    pub field: String,
    /// Every partition column; one except in the list form.
    pub columns: Vec<String>,
    /// `date`, `timestamp`, `datetime` or `int64`.
    pub data_type: String,
    /// `hour`, `day`, `month`, `year`.
    pub granularity: String,
    /// int64 partitions: start, end, interval.
    pub range: Option<(i64, i64, i64)>,
}

impl PartitionBy {
    /// Reads the config value; `None` when it is absent or null.
    pub fn from_config(v: Option<&Value>) -> Result<Option<PartitionBy>, String> {
        let Some(v) = v.filter(|v| !v.is_null()) else {
            return Ok(None);
        };
        let plain = |columns: Vec<String>| {
            Ok(columns.first().cloned().map(|field| PartitionBy {
                field,
                columns,
                data_type: "date".into(),
                granularity: "day".into(),
                range: None,
            }))
        };
        let map = match v {
            Value::String(s) => return plain(vec![s.clone()]),
            Value::Array(items) => {
                let columns: Option<Vec<String>> = items
                    .iter()
                    .map(|i| i.as_str().map(str::to_string))
                    .collect();
                return match columns {
                    Some(c) => plain(c),
                    None => Err("`partition_by` as a list must list column names".into()),
                };
            }
            Value::Object(map) => map,
            _ => {
                return Err(
                    "`partition_by` must be a mapping such as {field: order_date, data_type: date}"
                        .into(),
                );
            }
        };
        let field = map
            .get("field")
            .and_then(Value::as_str)
            .ok_or("`partition_by` needs a `field`")?
            .to_string();
        let data_type = map
            .get("data_type")
            .and_then(Value::as_str)
            .unwrap_or("date")
            .to_ascii_lowercase();
        if !matches!(
            data_type.as_str(),
            "date" | "timestamp" | "datetime" | "int64"
        ) {
            return Err(format!(
                "`partition_by.data_type` is `{data_type}`; use date, timestamp, datetime or int64"
            ));
        }
        let granularity = map
            .get("granularity")
            .and_then(Value::as_str)
            .unwrap_or("day")
            .to_ascii_lowercase();
        if !matches!(granularity.as_str(), "hour" | "day" | "month" | "year") {
            return Err(format!(
                "`partition_by.granularity` is `{granularity}`; use hour, day, month or year"
            ));
        }
        let range = if data_type == "int64" {
            let r = map
                .get("range")
                .and_then(Value::as_object)
                .ok_or("an int64 `partition_by` needs `range: {start, end, interval}`")?;
            let n = |k: &str| {
                r.get(k)
                    .and_then(Value::as_i64)
                    .ok_or(format!("`partition_by.range.{k}` must be a whole number"))
            };
            Some((n("start")?, n("end")?, n("interval")?))
        } else {
            None
        };
        Ok(Some(PartitionBy {
            columns: vec![field.clone()],
            field,
            data_type,
            granularity,
            range,
        }))
    }
}

/// How a query's rows reach a table.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteStrategy {
    /// The table becomes the query's rows (created when missing).
    Replace,
    /// The rows are added.
    Append,
    /// Rows whose key matches are replaced, the others added.
    Merge { unique_key: Vec<String> },
    /// Rows whose key matches are deleted, then all are inserted (the same
    /// result as merge).
    DeleteInsert { unique_key: Vec<String> },
    /// The partitions (`RelationOptions::partition_by`) the rows touch are
    /// replaced by them.
    InsertOverwrite,
    /// The rows whose `column`, as a timestamp, is in `[start, end)` are
    /// replaced by the new rows (a microbatch). `start` and `end` are
    /// timestamp literals of the warehouse's dialect.
    ReplaceRange {
        column: String,
        start: String,
        end: String,
    },
}

impl WriteStrategy {
    /// dbt's name of the strategy, upper case, as adapter messages show it.
    pub fn label(&self) -> &'static str {
        match self {
            WriteStrategy::Replace => "SELECT",
            WriteStrategy::Append => "APPEND",
            WriteStrategy::Merge { .. } => "MERGE",
            WriteStrategy::DeleteInsert { .. } => "DELETE+INSERT",
            WriteStrategy::InsertOverwrite => "INSERT_OVERWRITE",
            WriteStrategy::ReplaceRange { .. } => "MICROBATCH",
        }
    }
}

/// What the warehouse says it did (dbt's `adapter_response`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AdapterResponse {
    /// The warehouse's own words: `SELECT 3`, `CREATE TABLE (3 rows)`.
    pub message: String,
    pub rows_affected: Option<u64>,
}

impl AdapterResponse {
    pub fn new(message: impl Into<String>, rows_affected: Option<u64>) -> Self {
        AdapterResponse {
            message: message.into(),
            rows_affected,
        }
    }
}

/// A seed file to load.
#[derive(Debug, Clone)]
pub struct SeedFile<'a> {
    pub path: &'a Path,
    pub delimiter: u8,
    /// `column_types`: column → type as written (any dialect's name).
    pub column_types: Vec<(String, String)>,
    /// `--empty`: the table gets the file's columns and no rows.
    pub empty: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn partition_by_forms() {
        let m = PartitionBy::from_config(Some(&json!({"field": "d"})))
            .unwrap()
            .unwrap();
        assert_eq!((m.field.as_str(), m.data_type.as_str()), ("d", "date"));
        let l = PartitionBy::from_config(Some(&json!(["a", "b"])))
            .unwrap()
            .unwrap();
        assert_eq!(l.columns, vec!["a".to_string(), "b".to_string()]);
        assert!(PartitionBy::from_config(Some(&json!({"field": "d", "data_type": "x"}))).is_err());
        assert!(PartitionBy::from_config(Some(&json!(7))).is_err());
        assert_eq!(PartitionBy::from_config(None), Ok(None));
    }
}
