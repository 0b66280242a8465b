//! What templates may ask the warehouse while rendering: `run_query`,
//! `{% call statement %}` / `load_result`, and the `adapter` look-ups
//! (`get_columns_in_relation`, `get_relation`). The warehouse is attached by
//! the command that has one; without it these answer "nothing", as dbt does
//! while parsing.

use minijinja::value::{Enumerator, Object, ObjectRepr, Value};
use std::sync::Arc;

/// Rows returned by a query, as plain values.
#[derive(Debug, Clone, Default)]
pub struct QueryTable {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<serde_json::Value>>,
}

/// Synchronous access for renders; implemented by the run module.
pub trait WarehouseAccess: Send + Sync {
    fn query(&self, sql: &str) -> Result<QueryTable, String>;
    /// `(name, data type)` of a relation's columns; `None` if it does not exist.
    fn columns(&self, schema: &str, name: &str) -> Option<Vec<(String, String)>>;
    /// `table` or `view` when the relation exists.
    fn relation_type(&self, schema: &str, name: &str) -> Option<&'static str>;
    /// `adapter.drop_relation`: drops a table or view; missing is fine.
    fn drop_relation(&self, schema: &str, name: &str) -> Result<(), String>;
}

/// An agate-like table: iterates rows, and has `.rows`, `.columns` (each with
/// `.name` and `.values()`), `.column_names`.
#[derive(Debug)]
pub struct AgateTable(pub QueryTable);

impl AgateTable {
    fn row_values(&self) -> Vec<Value> {
        self.0
            .rows
            .iter()
            .map(|r| {
                Value::from_object(AgateRow {
                    columns: self.0.columns.clone(),
                    values: r.iter().map(json_value).collect(),
                })
            })
            .collect()
    }
}

fn json_value(v: &serde_json::Value) -> Value {
    Value::from(minijinja::value::Serde(v.clone()))
}

impl Object for AgateTable {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        if let Some(i) = key.as_usize() {
            return self.row_values().get(i).cloned();
        }
        match key.as_str()? {
            "rows" => Some(Value::from(self.row_values())),
            "column_names" => Some(Value::from(self.0.columns.clone())),
            "columns" => Some(Value::from(
                self.0
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, name)| {
                        Value::from_object(AgateColumn {
                            name: name.clone(),
                            values: self
                                .0
                                .rows
                                .iter()
                                .map(|r| r.get(i).map(json_value).unwrap_or(Value::from(())))
                                .collect(),
                        })
                    })
                    .collect::<Vec<_>>(),
            )),
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.row_values())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.0.rows.len())
    }
}

#[derive(Debug)]
struct AgateRow {
    columns: Vec<String>,
    values: Vec<Value>,
}

impl Object for AgateRow {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        if let Some(i) = key.as_usize() {
            return self.values.get(i).cloned();
        }
        let name = key.as_str()?;
        self.columns
            .iter()
            .position(|c| c == name)
            .and_then(|i| self.values.get(i).cloned())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.values.clone())
    }
}

#[derive(Debug)]
struct AgateColumn {
    name: String,
    values: Vec<Value>,
}

impl Object for AgateColumn {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "name" => Some(Value::from(self.name.clone())),
            _ => None,
        }
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut minijinja::State<'_, '_>,
        method: &str,
        _args: &[Value],
    ) -> Result<Value, minijinja::Error> {
        match method {
            "values" => Ok(Value::from(self.values.clone())),
            _ => Err(minijinja::Error::from(minijinja::ErrorKind::UnknownMethod)),
        }
    }
}

/// A column as `adapter.get_columns_in_relation` returns it.
#[derive(Debug)]
pub struct ColumnValue {
    pub name: String,
    pub data_type: String,
}

impl Object for ColumnValue {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "name" | "column" => Some(Value::from(self.name.clone())),
            "quoted" => Some(Value::from(format!("\"{}\"", self.name))),
            "data_type" | "dtype" => Some(Value::from(self.data_type.clone())),
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(&["name", "data_type"])
    }
}
