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
    /// `adapter.list_relations_without_caching`: (name, `table`/`view`).
    fn list_relations(&self, schema: &str) -> Result<Vec<(String, &'static str)>, String>;
    /// `adapter.list_schemas`.
    fn list_schemas(&self) -> Result<Vec<String>, String>;
    /// `adapter.rename_relation` within a schema.
    fn rename_relation(&self, schema: &str, from: &str, to: &str) -> Result<(), String>;
    /// The column names a query would produce (`get_columns_in_query`).
    fn query_columns(&self, sql: &str) -> Result<Vec<String>, String>;
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
            "columns" => Some(Value::from_object(AgateColumns(
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
            ))),
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

/// agate's `table.columns`: a sequence of columns that is also keyed by
/// name (`columns['id']`, `columns.items()`, `columns.keys()`).
#[derive(Debug)]
struct AgateColumns(Vec<Value>);

impl AgateColumns {
    fn name_of(c: &Value) -> String {
        c.get_attr("name")
            .map(|n| n.to_string())
            .unwrap_or_default()
    }
}

impl Object for AgateColumns {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        if let Some(i) = key.as_i64() {
            let i = if i < 0 { self.0.len() as i64 + i } else { i };
            return self.0.get(usize::try_from(i).ok()?).cloned();
        }
        let name = key.as_str()?;
        self.0.iter().find(|c| Self::name_of(c) == name).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.0.clone())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.0.len())
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut minijinja::State<'_, '_>,
        method: &str,
        _args: &[Value],
    ) -> Result<Value, minijinja::Error> {
        match method {
            "items" => Ok(Value::from(
                self.0
                    .iter()
                    .map(|c| Value::from(vec![Value::from(Self::name_of(c)), c.clone()]))
                    .collect::<Vec<_>>(),
            )),
            "keys" => Ok(Value::from(
                self.0
                    .iter()
                    .map(|c| Value::from(Self::name_of(c)))
                    .collect::<Vec<_>>(),
            )),
            "values" => Ok(Value::from(self.0.clone())),
            _ => Err(minijinja::Error::from(minijinja::ErrorKind::UnknownMethod)),
        }
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

/// A column as `adapter.get_columns_in_relation` returns it: dbt's
/// `Column` (`name`, `quoted`, `data_type`, `dtype`, `is_string()`,
/// `is_number()`, `string_size()`, `can_expand_to()`, ...).
#[derive(Debug)]
pub struct ColumnValue {
    pub name: String,
    pub data_type: String,
}

impl ColumnValue {
    /// The type name without its size or precision, lower-cased.
    fn base_type(&self) -> String {
        let t = self.data_type.trim().to_ascii_lowercase();
        t.split('(').next().unwrap_or("").trim().to_string()
    }

    /// `(a, b)` of `type(a, b)`, when written.
    fn type_args(&self) -> Vec<u64> {
        let t = &self.data_type;
        match (t.find('('), t.rfind(')')) {
            (Some(a), Some(b)) if a < b => t[a + 1..b]
                .split(',')
                .filter_map(|x| x.trim().parse().ok())
                .collect(),
            _ => Vec::new(),
        }
    }

    fn is_string(&self) -> bool {
        matches!(
            self.base_type().as_str(),
            "text" | "character varying" | "character" | "varchar" | "string" | "char" | "bpchar"
        )
    }

    fn is_float(&self) -> bool {
        matches!(
            self.base_type().as_str(),
            "real" | "float4" | "float" | "double precision" | "float8" | "double" | "float64"
        )
    }

    fn is_integer(&self) -> bool {
        matches!(
            self.base_type().as_str(),
            "smallint"
                | "integer"
                | "bigint"
                | "smallserial"
                | "serial"
                | "bigserial"
                | "int2"
                | "int4"
                | "int8"
                | "int"
                | "int64"
                | "tinyint"
                | "hugeint"
                | "utinyint"
                | "usmallint"
                | "uinteger"
                | "ubigint"
                | "bigint unsigned"
        )
    }

    fn is_numeric(&self) -> bool {
        matches!(
            self.base_type().as_str(),
            "numeric" | "decimal" | "bignumeric"
        )
    }

    /// dbt's default string size when none is written: 256.
    fn string_size(&self) -> Result<u64, minijinja::Error> {
        if !self.is_string() {
            return Err(minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                format!(
                    "Called string_size() on non-string field {} ({})",
                    self.name, self.data_type
                ),
            ));
        }
        Ok(self.type_args().first().copied().unwrap_or(256))
    }
}

impl Object for ColumnValue {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "name" | "column" => Some(Value::from(self.name.clone())),
            "quoted" => Some(Value::from(format!(
                "\"{}\"",
                self.name.replace('"', "\"\"")
            ))),
            "data_type" | "dtype" => Some(Value::from(self.data_type.clone())),
            "char_size" => Some(
                self.is_string()
                    .then(|| self.type_args().first().copied())
                    .flatten()
                    .map_or(Value::from(()), Value::from),
            ),
            "numeric_precision" => Some(
                self.is_numeric()
                    .then(|| self.type_args().first().copied())
                    .flatten()
                    .map_or(Value::from(()), Value::from),
            ),
            "numeric_scale" => Some(
                self.is_numeric()
                    .then(|| self.type_args().get(1).copied())
                    .flatten()
                    .map_or(Value::from(()), Value::from),
            ),
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(&["name", "data_type"])
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut minijinja::State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, minijinja::Error> {
        Ok(Value::from(match method {
            "is_string" => self.is_string(),
            "is_float" => self.is_float(),
            "is_integer" => self.is_integer(),
            "is_numeric" => self.is_numeric(),
            "is_number" => self.is_integer() || self.is_float() || self.is_numeric(),
            "string_size" => return self.string_size().map(Value::from),
            "can_expand_to" => {
                let Some(other) = args
                    .first()
                    .and_then(|v| v.downcast_object_ref::<ColumnValue>())
                else {
                    return Ok(Value::from(false));
                };
                self.is_string()
                    && other.is_string()
                    && self.string_size()? < other.string_size()?
            }
            "literal" => {
                let v = args.first().map(Value::to_string).unwrap_or_default();
                return Ok(Value::from(format!("{v}::{}", self.data_type)));
            }
            _ => return Err(minijinja::Error::from(minijinja::ErrorKind::UnknownMethod)),
        }))
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<Column {} ({})>", self.name, self.data_type)
    }
}
