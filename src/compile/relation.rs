//! The `Relation` value that `ref()`, `source()` and `this` return to Jinja:
//! prints as the quoted relation name, and answers dbt's attribute and method
//! calls (`.schema`, `.identifier`, `.include()`, `.incorporate()`).

use super::values::{as_kwargs, map_value};
use crate::adapters::Dialect;
use minijinja::value::{Enumerator, Kwargs, Object, ObjectRepr, Value};
use minijinja::{Error, State};
use std::fmt;
use std::sync::Arc;

#[derive(Clone)]
pub struct Relation {
    pub database: Option<String>,
    pub schema: Option<String>,
    pub identifier: String,
    /// `table`, `view`, `cte` (ephemeral), `external` or empty when unknown.
    pub relation_type: String,
    pub dialect: &'static dyn Dialect,
}

impl fmt::Debug for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<Relation {}>", self.render())
    }
}

impl Relation {
    /// The name as it appears in compiled SQL.
    pub fn render(&self) -> String {
        if self.relation_type == "cte" {
            return self.identifier.clone();
        }
        match (&self.database, &self.schema) {
            (Some(db), Some(schema)) => self.dialect.relation_name(db, schema, &self.identifier),
            (None, Some(schema)) => format!(
                "{}.{}",
                self.dialect.quote_identifier(schema),
                self.dialect.quote_identifier(&self.identifier)
            ),
            _ => self.dialect.quote_identifier(&self.identifier),
        }
    }
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

/// The class name dbt's adapter gives its relations (`DuckDBRelation`),
/// which packages check for (`metadata.type` ending in `Relation`).
fn class_name(dialect: &dyn Dialect) -> &'static str {
    match dialect.adapter_type() {
        "duckdb" => "DuckDBRelation",
        "bigquery" => "BigQueryRelation",
        "postgres" => "PostgresRelation",
        _ => "DataFusionRelation",
    }
}

const KEYS: &[&str] = &["database", "schema", "identifier", "type", "metadata"];

impl Object for Relation {
    /// A mapping, as dbt's `BaseRelation` is (`relation is mapping`).
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let opt = |v: &Option<String>| v.clone().map_or(Value::from(()), Value::from);
        Some(match key.as_str()? {
            "database" | "project" => opt(&self.database),
            "schema" | "dataset" => opt(&self.schema),
            "identifier" | "name" | "table" => Value::from(self.identifier.clone()),
            "type" => Value::from(self.relation_type.clone()),
            "is_table" => Value::from(self.relation_type == "table"),
            "is_view" => Value::from(self.relation_type == "view"),
            "is_cte" => Value::from(self.relation_type == "cte"),
            "is_materialized_view" => Value::from(self.relation_type == "materialized_view"),
            "metadata" => map_value([("type", Value::from(class_name(self.dialect)))]),
            "quote_character" => Value::from(if self.dialect.adapter_type() == "bigquery" {
                "`"
            } else {
                "\""
            }),
            "quote_policy" | "include_policy" => map_value([
                ("database", Value::from(self.database.is_some())),
                ("schema", Value::from(self.schema.is_some())),
                ("identifier", Value::from(true)),
            ]),
            "path" => map_value([
                ("database", opt(&self.database)),
                ("schema", opt(&self.schema)),
                ("identifier", Value::from(self.identifier.clone())),
            ]),
            _ => return None,
        })
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(KEYS)
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "render" => Ok(Value::from(Relation::render(self))),
            // Mapping access, as on dbt's relation (`relation.get('metadata', {})`).
            "get" => {
                let key = args.first().cloned().unwrap_or_default();
                let default = args.get(1).cloned().unwrap_or(Value::from(()));
                Ok(self.get_value(&key).unwrap_or(default))
            }
            "keys" => Ok(Value::from(
                KEYS.iter().map(|k| Value::from(*k)).collect::<Vec<_>>(),
            )),
            "without_identifier" => {
                let mut new = (**self).clone();
                new.identifier = String::new();
                Ok(Value::from_object(new))
            }
            "include" | "incorporate" | "replace_path" => {
                let kwargs = args
                    .last()
                    .and_then(as_kwargs)
                    .unwrap_or_else(|| Kwargs::from_iter(Vec::<(String, Value)>::new()));
                let mut new = (**self).clone();
                // include(database=False) drops a part; incorporate(path={...}) replaces parts.
                let path = kwargs.get::<Option<Value>>("path").ok().flatten();
                for part in ["database", "schema", "identifier"] {
                    let v: Option<Value> = kwargs
                        .get::<Option<Value>>(part)
                        .ok()
                        .flatten()
                        .or_else(|| {
                            path.as_ref()
                                .and_then(|p| p.get_attr(part).ok())
                                .filter(|v| !v.is_undefined())
                        });
                    let Some(v) = v else { continue };
                    let text = v.as_str().map(str::to_string);
                    match (part, v.is_true(), text) {
                        ("database", _, Some(t)) => new.database = Some(t),
                        ("database", false, None) => new.database = None,
                        ("schema", _, Some(t)) => new.schema = Some(t),
                        ("schema", false, None) => new.schema = None,
                        ("identifier", _, Some(t)) => new.identifier = t,
                        _ => {}
                    }
                }
                if let Ok(Some(t)) = kwargs.get::<Option<String>>("type") {
                    new.relation_type = t;
                }
                Ok(Value::from_object(new))
            }
            "quote" => Ok(Value::from_object((**self).clone())),
            _ => Err(Error::from(minijinja::ErrorKind::UnknownMethod)),
        }
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&Relation::render(self))
    }
}
