//! The root Jinja context of a render: `this`, `execute`, `model`,
//! `config`, `graph`, the node's extra variables, then macros.

use super::errors::tagged_error;
use super::scope::NodeScope;
use super::values::as_kwargs;
use crate::diagnostics::codes;
use crate::project::config::{Config, merge_into, normalize_key};
use minijinja::value::{Enumerator, Object, Value};
use minijinja::{Error, ErrorKind, State};
use std::sync::Arc;

/// The root Jinja context of one render: scope-dependent variables first,
/// then the macros of the package whose code is running (so a package's
/// macros call each other unqualified), then the environment's globals.
#[derive(Debug)]
pub struct RenderContext {
    pub scope: Arc<NodeScope>,
    pub package: String,
}

impl Object for RenderContext {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let key = key.as_str()?;
        let scope = &self.scope;
        match key {
            "__scope" => return Some(Value::from_dyn_object(scope.clone())),
            "this" => return scope.this.clone().map(Value::from_object),
            "execute" => return Some(Value::from(scope.execute)),
            "model" => return Some(model_value(scope)),
            "graph" => {
                if let Some(graph) = scope.world.graph.get() {
                    return Some(graph.clone());
                }
            }
            "config" => {
                return Some(Value::from_object(ConfigFn {
                    scope: scope.clone(),
                }));
            }
            _ => {}
        }
        if let Some((_, v)) = scope.extra.iter().find(|(k, _)| k == key) {
            return Some(v.clone());
        }
        scope.world.macro_value(&self.package, key)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(&["this", "execute", "model", "config"])
    }
}

/// `config(...)` plus `config.get`, `config.require` and friends.
#[derive(Debug)]
pub struct ConfigFn {
    pub scope: Arc<NodeScope>,
}

impl Object for ConfigFn {
    fn call(self: &Arc<Self>, _state: &mut State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        let mut new = Config::new();
        for arg in args {
            if let Some(kwargs) = as_kwargs(arg) {
                for key in kwargs.args() {
                    let v: Value = kwargs.get(key)?;
                    new.insert(normalize_key(key), to_json(&v)?);
                }
            } else if let serde_json::Value::Object(m) = to_json(arg)? {
                for (k, v) in m {
                    new.insert(normalize_key(&k), v);
                }
            }
        }
        merge_into(&mut self.scope.recorded().config, &new);
        Ok(Value::from(""))
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let key = args.first().and_then(Value::as_str).map(normalize_key);
        let current = self.scope.current_config();
        match method {
            "get" => Ok(key
                .and_then(|k| current.get(&k).cloned())
                .filter(|v| !v.is_null())
                .map(|v| Value::from(minijinja::value::Serde(v)))
                .unwrap_or_else(|| args.get(1).cloned().unwrap_or(Value::from(())))),
            "require" => {
                let key = key.unwrap_or_default();
                match current.get(&key) {
                    Some(v) if !v.is_null() => Ok(Value::from(minijinja::value::Serde(v.clone()))),
                    _ => Err(tagged_error(
                        codes::INVALID_CONFIG,
                        &format!("config `{key}` is required here but is not set"),
                        &format!("set it with {{{{ config({key}=...) }}}} or in YAML"),
                    )),
                }
            }
            "set" => Ok(Value::from("")),
            "persist_relation_docs" => Ok(Value::from(
                current
                    .get("persist_docs")
                    .and_then(|p| p.get("relation"))
                    .and_then(serde_json::Value::as_bool)
                    .unwrap_or(false),
            )),
            "persist_column_docs" => Ok(Value::from(
                current
                    .get("persist_docs")
                    .and_then(|p| p.get("columns"))
                    .and_then(serde_json::Value::as_bool)
                    .unwrap_or(false),
            )),
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}

fn to_json(v: &Value) -> Result<serde_json::Value, Error> {
    serde_json::to_value(v).map_err(|e| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("config value cannot be stored: {e}"),
        )
    })
}

/// `model` as templates see it.
pub fn model_value(scope: &Arc<NodeScope>) -> Value {
    let n = &scope.node;
    // dbt 1.9's `model.batch` while a microbatch batch compiles.
    let batch = scope
        .extra
        .iter()
        .find(|(k, _)| k == "__rdbt_batch")
        .and_then(|(_, v)| serde_json::to_value(v).ok());
    let config = scope.current_config();
    let alias = match (config.get("alias").and_then(|a| a.as_str()), &n.version) {
        (Some(alias), _) => alias.to_string(),
        (None, Some((v, _))) => format!("{}_v{}", n.name, v.replace('.', "_")),
        (None, None) => n.name.clone(),
    };
    Value::from(minijinja::value::Serde(serde_json::json!({
        "unique_id": n.unique_id,
        "name": n.name,
        "alias": alias,
        "version": n.version.as_ref().map(|(v, _)| v),
        "latest_version": n.version.as_ref().map(|(_, l)| l),
        "package_name": n.package,
        "resource_type": n.resource_type,
        "original_file_path": n.original_file_path,
        "fqn": n.fqn,
        "config": config,
        "tags": config.get("tags").cloned().unwrap_or(serde_json::Value::Array(vec![])),
        "batch": batch,
    })))
}
