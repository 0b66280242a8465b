//! dbt's Jinja context: `ref`, `source`, `config`, `var`, `env_var`,
//! `exceptions`, `adapter`, `modules`, `return`, `log` and the rest. Each
//! function records what it was asked through the render's [`NodeScope`].

use super::errors::tagged_error;
use super::macros::{MacroFn, current_scope, return_fn};
use super::relation::Relation;
use super::scope::{NodeScope, RefCall, SourceCall};
use super::values::map_value;
use super::values::split_kwargs;
use crate::diagnostics::{closest_names, codes, did_you_mean};

use minijinja::value::{Kwargs, Object, Rest, Value};
use minijinja::{Environment, Error, ErrorKind, State};
use std::sync::Arc;

/// Registers every global function and object on `env`.
pub fn register(env: &mut Environment<'static>) {
    env.add_function("ref", ref_fn);
    env.add_function("__rdbt_list", super::mutable::list_fn);
    env.add_function("__rdbt_dict", super::mutable::dict_fn);
    // Python's `list(...)` / `| list` and `dict(...)` make values that can
    // be mutated, as in dbt's Jinja.
    env.add_filter("list", |v: Value| super::mutable::list_fn(Some(v)));
    env.add_function("list", |v: Option<Value>| super::mutable::list_fn(v));
    env.add_function(
        "dict",
        |args: Rest<Value>, kwargs: Kwargs| -> Result<Value, Error> {
            let map = super::mutable::dict_fn(args.first().cloned())?;
            if let Some(m) = map.downcast_object_ref::<super::mutable::MutableMap>() {
                for key in kwargs.args() {
                    m.insert(Value::from(key), kwargs.get::<Value>(key)?);
                }
            }
            Ok(map)
        },
    );
    env.add_function("source", source_fn);
    env.add_function("__rdbt_render", render_text_fn);
    env.add_function("env_var", env_var_fn);
    env.add_function("return", return_fn);
    env.add_function("log", log_fn);
    env.add_function("print", print_fn);
    env.add_function(
        "is_incremental",
        |state: &State, _: Rest<Value>, _: Kwargs| {
            current_scope(state).map(|s| s.incremental).unwrap_or(false)
        },
    );
    env.add_function("should_full_refresh", |_: Rest<Value>, _: Kwargs| false);
    env.add_function("fromjson", fromjson);
    env.add_function("tojson", tojson);
    env.add_function("fromyaml", fromyaml);
    env.add_function("toyaml", tojson);
    env.add_function("local_md5", |s: String| md5_hex(&s));
    env.add_function("doc", doc_fn);
    env.add_function("zip", zip_fn);
    env.add_function("set", set_fn);
    env.add_function("set_strict", set_fn);
    env.add_function("run_query", run_query_fn);
    // dbt's global `get_columns_in_query(sql)`: the names of its columns.
    env.add_function("get_columns_in_query", |state: &State, sql: String| {
        let scope = current_scope(state)?;
        columns_in_query(&scope, &sql)
    });
    // dbt's global `load_relation(relation)`: the relation as the warehouse
    // has it, or none.
    env.add_function("load_relation", |state: &State, args: Rest<Value>| {
        let scope = current_scope(state)?;
        Ok(lookup_relation(&scope, "load_relation", &args))
    });
    env.add_function("load_result", load_result_fn);
    env.add_function("store_result", store_result_fn);
    env.add_function("store_raw_result", |_: Rest<Value>, _: Kwargs| {
        Value::from("")
    });
    env.add_function("write", |_: Rest<Value>, _: Kwargs| Value::from(""));
    env.add_function("render", |s: String| s);
    env.add_function("try_or_compiler_error", |_: Rest<Value>, _: Kwargs| {
        Value::from(())
    });
    env.add_filter("tojson", tojson);
    env.add_filter("int", int_filter);
    env.add_filter("float", float_filter);
    env.add_filter("as_bool", |v: Value| v.is_true());
    env.add_filter("as_number", |v: Value| v);
    env.add_filter("as_native", |v: Value| v);
    env.add_filter("as_text", |v: Value| v.to_string());
    env.add_global("var", Value::from_object(VarFn));
    env.add_global("exceptions", Value::from_object(Exceptions));
    env.add_global("adapter", Value::from_object(Adapter));
    env.add_global("modules", modules());
    env.add_global(
        "api",
        map_value([("Relation", Value::from_object(RelationApi))]),
    );
    env.add_global("dbt_version", Value::from(env!("CARGO_PKG_VERSION")));
    env.add_global(
        "graph",
        map_value([
            ("nodes", map_value(Vec::<(String, Value)>::new())),
            ("sources", map_value(Vec::<(String, Value)>::new())),
        ]),
    );
    env.add_global("selected_resources", Value::from(Vec::<Value>::new()));
    env.add_global("context", map_value(Vec::<(String, Value)>::new()));
    env.add_global(
        "builtins",
        map_value([
            ("ref", Value::from_function(ref_fn)),
            ("source", Value::from_function(source_fn)),
        ]),
    );
}

/// Values that differ per invocation: `target`, `run_started_at`, and so on.
pub fn invocation_globals(world: &super::world::World) -> Vec<(&'static str, Value)> {
    vec![
        ("target", world.target.clone()),
        ("invocation_id", Value::from(world.invocation_id.clone())),
        (
            "run_started_at",
            super::pydatetime::PyDateTime::utc_value(world.run_started_at.naive_utc()),
        ),
        ("project_name", Value::from(world.root_package.clone())),
        ("flags", world.flags.clone()),
    ]
}

/// Jinja2's `int(default=0, base=10)`: a value that is not a number gives
/// the default instead of an error; `'3.7'` is 3.
fn int_filter(v: Value, args: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let default: Option<Value> = match args.first() {
        Some(d) => Some(d.clone()),
        None => kwargs.get("default")?,
    };
    let base: Option<u32> = match args.get(1) {
        Some(b) => u32::try_from(b.clone()).ok(),
        None => kwargs.get("base")?,
    };
    kwargs.assert_all_used()?;
    Ok(int_value(v, default.unwrap_or(Value::from(0)), base))
}

fn int_value(v: Value, fallback: Value, base: Option<u32>) -> Value {
    if let Ok(i) = i64::try_from(v.clone()) {
        return Value::from(i);
    }
    if let Some(s) = v.as_str() {
        let t = s.trim().replace('_', "");
        let radix = base.unwrap_or(10);
        if let Ok(i) = i64::from_str_radix(&t, radix) {
            return Value::from(i);
        }
        if radix == 10
            && let Ok(f) = t.parse::<f64>()
            && f.is_finite()
        {
            return Value::from(f.trunc() as i64);
        }
        return fallback;
    }
    match f64::try_from(v) {
        Ok(f) if f.is_finite() => Value::from(f.trunc() as i64),
        _ => fallback,
    }
}

/// Jinja2's `float(default=0.0)`.
fn float_filter(v: Value, args: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let default: Option<Value> = match args.first() {
        Some(d) => Some(d.clone()),
        None => kwargs.get("default")?,
    };
    kwargs.assert_all_used()?;
    Ok(float_value(v, default.unwrap_or(Value::from(0.0))))
}

fn float_value(v: Value, fallback: Value) -> Value {
    if let Some(s) = v.as_str() {
        return s.trim().parse::<f64>().map_or(fallback, Value::from);
    }
    f64::try_from(v).map_or(fallback, Value::from)
}

/// A test argument (or other YAML value) with Jinja inside it, rendered to a
/// string in the calling node's scope when the node is rendered, as dbt
/// renders test arguments.
fn render_text_fn(state: &State, text: String) -> Result<Value, Error> {
    let scope = current_scope(state)?;
    let package = scope.node.package.clone();
    let ctx = Value::from_object(super::context::RenderContext { scope, package });
    let rendered = state.env().render_named_str(
        "<argument>",
        &super::mutable::rewrite_literals(&text),
        ctx,
    )?;
    Ok(Value::from(rendered))
}

fn strings_of(args: &[Value]) -> Result<Vec<String>, Error> {
    args.iter()
        .map(|a| {
            a.as_str().map(str::to_string).ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidOperation,
                    format!("expected a string argument, got {a}"),
                )
            })
        })
        .collect()
}

fn ref_fn(state: &State, args: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let scope = current_scope(state)?;
    let version = kwargs
        .get::<Option<Value>>("v")?
        .or(kwargs.get::<Option<Value>>("version")?)
        .map(|v| v.to_string());
    kwargs.assert_all_used()?;
    let parts = strings_of(&args)?;
    let call = match parts.as_slice() {
        [name] => RefCall {
            package: None,
            name: name.clone(),
            version,
        },
        [package, name] => RefCall {
            package: Some(package.clone()),
            name: name.clone(),
            version,
        },
        _ => {
            return Err(tagged_error(
                codes::JINJA_RUNTIME,
                &format!("ref() takes one or two names, got {}", parts.len()),
                "write ref('model') or ref('package', 'model')",
            ));
        }
    };
    scope.recorded().refs.push(call.clone());
    if let Some(resolver) = &scope.resolver {
        return match resolver.resolve_ref(&scope.node.package, &call) {
            Some(mut rel) => {
                rel.dialect = scope.dialect();
                Ok(Value::from_object(rel))
            }
            None => Err(tagged_error(
                codes::UNKNOWN_REF,
                &format!("ref('{}') names no model, seed or snapshot", call.name),
                "check the name",
            )),
        };
    }
    Ok(Value::from_object(placeholder(&scope, &call.name)))
}

fn source_fn(state: &State, source_name: String, table_name: String) -> Result<Value, Error> {
    let scope = current_scope(state)?;
    let call = SourceCall {
        source_name,
        table_name,
    };
    scope.recorded().sources.push(call.clone());
    if let Some(resolver) = &scope.resolver {
        return match resolver.resolve_source(&call) {
            Some(mut rel) => {
                rel.dialect = scope.dialect();
                Ok(Value::from_object(rel))
            }
            None => Err(tagged_error(
                codes::UNKNOWN_SOURCE,
                &format!(
                    "source('{}', '{}') is not declared",
                    call.source_name, call.table_name
                ),
                "declare it under `sources:` in a property file",
            )),
        };
    }
    Ok(Value::from_object(placeholder(&scope, &call.table_name)))
}

/// What `ref()` returns while parsing, before names are resolved.
fn placeholder(scope: &NodeScope, identifier: &str) -> Relation {
    Relation {
        database: Some(scope.world.target_database.clone()),
        schema: Some(scope.world.target_schema.clone()),
        identifier: identifier.to_string(),
        relation_type: String::new(),
        dialect: scope.dialect(),
    }
}

fn env_var_fn(state: &State, name: String, default: Option<Value>) -> Result<Value, Error> {
    let value = crate::settings::read_env(&name);
    if let Ok(scope) = current_scope(state) {
        scope
            .recorded()
            .env_vars
            .push((name.clone(), value.clone()));
    }
    match value.ok_or(()) {
        Ok(v) => Ok(Value::from(v)),
        Err(_) => match default {
            Some(d) => Ok(d),
            None => Err(tagged_error(
                codes::MISSING_VAR,
                &format!("environment variable `{name}` is not set"),
                &format!("export {name}=..., or give a default: env_var('{name}', 'value')"),
            )),
        },
    }
}

/// dbt's `log(msg, info=False)`: with `info` true (positional or keyword)
/// the line is printed on the console, as dbt does; otherwise it belongs to
/// the debug log only.
fn log_fn(state: &State, msg: Value, args: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let keyword: Option<Value> = kwargs.get("info")?;
    kwargs.assert_all_used()?;
    let info = args
        .first()
        .or(keyword.as_ref())
        .is_some_and(Value::is_true);
    if let Ok(scope) = current_scope(state) {
        let text = msg.to_string();
        match scope.world.log_sink.get() {
            Some(sink) => sink(&text, info),
            None if info => scope.recorded().logs.push(text),
            None => {}
        }
    }
    Ok(Value::from(""))
}

fn print_fn(msg: Value) -> Value {
    println!("{msg}");
    Value::from("")
}

fn fromjson(text: String, default: Option<Value>) -> Result<Value, Error> {
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(v) => Ok(Value::from(minijinja::value::Serde(v))),
        Err(e) => default.ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("fromjson: invalid JSON: {e}"),
            )
        }),
    }
}

fn tojson(value: Value, kwargs: Kwargs) -> Result<Value, Error> {
    let _ = kwargs.get::<Option<Value>>("sort_keys");
    let _ = kwargs.get::<Option<Value>>("indent");
    serde_json::to_string(&value)
        .map(Value::from)
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("tojson: {e}")))
}

fn fromyaml(text: String, default: Option<Value>) -> Result<Value, Error> {
    let file = crate::yaml::SourceFile::new("<fromyaml>", text);
    match crate::yaml::parse(&file) {
        Ok(node) => Ok(Value::from(minijinja::value::Serde(
            node.map(|n| n.to_json()).unwrap_or(serde_json::Value::Null),
        ))),
        Err(d) => default.ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("fromyaml: {}", d.message),
            )
        }),
    }
}

/// `local_md5` needs MD5's exact digest only for cross-tool identity, which
/// nothing here relies on; a stable 32-hex digest keeps the contract.
/// The MD5 of `s` in hex, as Python's `hashlib.md5(s).hexdigest()`.
pub fn md5_hex(s: &str) -> String {
    use md5::Digest;
    let digest = md5::Md5::digest(s.as_bytes());
    let mut out = String::with_capacity(32);
    for b in digest {
        use std::fmt::Write;
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn doc_fn(state: &State, args: Rest<String>) -> Result<Value, Error> {
    let scope = current_scope(state)?;
    let key = args.join(".");
    scope
        .world
        .docs
        .get(&key)
        .map(|d| Value::from(d.clone()))
        .ok_or_else(|| {
            let names: Vec<&str> = scope.world.docs.keys().map(String::as_str).collect();
            tagged_error(
                codes::JINJA_RUNTIME,
                &format!("doc('{key}') names no docs block"),
                &did_you_mean(
                    &closest_names(&key, names),
                    "define it with {% docs name %}...{% enddocs %} in a .md file",
                ),
            )
        })
}

fn zip_fn(args: Rest<Value>) -> Result<Value, Error> {
    let lists: Vec<Vec<Value>> = args
        .iter()
        .map(|a| a.try_iter().map(|i| i.collect()))
        .collect::<Result<_, _>>()?;
    let len = lists.iter().map(Vec::len).min().unwrap_or(0);
    Ok(Value::from(
        (0..len)
            .map(|i| Value::from(lists.iter().map(|l| l[i].clone()).collect::<Vec<_>>()))
            .collect::<Vec<_>>(),
    ))
}

/// dbt's `set(iterable)`: a Python set (unique items, compared without
/// regard to order, mutable).
fn set_fn(value: Option<Value>) -> Result<Value, Error> {
    super::mutable::set_fn(value)
}

/// `var('name', default)` and `var.has_var('name')`.
#[derive(Debug)]
struct VarFn;

impl Object for VarFn {
    fn call(self: &Arc<Self>, state: &mut State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        let scope = current_scope(state)?;
        let name = args
            .first()
            .and_then(Value::as_str)
            .ok_or_else(|| Error::new(ErrorKind::MissingArgument, "var() needs a variable name"))?;
        if let Some(v) = scope
            .extra
            .iter()
            .find(|(k, _)| k == "__rdbt_var_overrides")
            .and_then(|(_, m)| m.get_attr(name).ok())
            .filter(|v| !v.is_undefined())
        {
            return Ok(v);
        }
        if let Some(v) = scope.world.lookup_var(&scope.node.package, name) {
            // dbt renders a var's Jinja when it is read.
            if let serde_json::Value::String(text) = &v
                && (text.contains("{{") || text.contains("{%"))
            {
                return render_text_fn(state, text.clone());
            }
            return Ok(Value::from(minijinja::value::Serde(v)));
        }
        if let Some(default) = args.get(1) {
            return Ok(default.clone());
        }
        let names = scope.world.var_names(&scope.node.package);
        Err(tagged_error(
            codes::MISSING_VAR,
            &format!(
                "required var `{name}` is not defined for {} `{}`",
                scope.node.resource_type, scope.node.name
            ),
            &did_you_mean(
                &closest_names(name, names.iter().map(String::as_str)),
                &format!(
                    "define it under `vars:` in the project file, pass --vars '{{{name}: ...}}', or give a default: var('{name}', ...)"
                ),
            ),
        ))
    }

    fn call_method(
        self: &Arc<Self>,
        state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "has_var" => {
                let scope = current_scope(state)?;
                let name = args.first().and_then(Value::as_str).unwrap_or_default();
                Ok(Value::from(
                    scope.world.lookup_var(&scope.node.package, name).is_some(),
                ))
            }
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}

/// `exceptions.raise_compiler_error(msg)` and `exceptions.warn(msg)`.
#[derive(Debug)]
struct Exceptions;

impl Object for Exceptions {
    fn call_method(
        self: &Arc<Self>,
        state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let msg = args.first().map(Value::to_string).unwrap_or_default();
        match method {
            "raise_compiler_error"
            | "raise_not_implemented"
            | "raise_database_error"
            | "raise_fail_fast_error" => Err(tagged_error(
                codes::COMPILER_ERROR,
                &msg,
                "raised by the project's own Jinja (exceptions.raise_compiler_error)",
            )),
            "warn" => {
                if let Ok(scope) = current_scope(state) {
                    scope.recorded().warnings.push(msg);
                }
                Ok(Value::from(""))
            }
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}

/// The parse-time `adapter`: dispatch and quoting work; warehouse lookups
/// answer "nothing there yet" as dbt does while `execute` is false.
#[derive(Debug)]
struct Adapter;

impl Object for Adapter {
    fn call_method(
        self: &Arc<Self>,
        state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let scope = current_scope(state)?;
        let dialect = scope.dialect();
        match method {
            "dispatch" => adapter_dispatch(&scope, args),
            "quote" => Ok(Value::from(dialect.quote_identifier(
                &args.first().map(Value::to_string).unwrap_or_default(),
            ))),
            "type" => Ok(Value::from(dialect.adapter_type())),
            "get_relation" | "load_relation" | "load_cached_relation" => {
                Ok(lookup_relation(&scope, method, args))
            }
            "get_columns_in_relation" => Ok(columns_of(&scope, args.first())),
            "get_relation_last_modified" => Ok(Value::from(())),
            "drop_relation" if scope.execute => {
                if let (Some(wh), Some((schema, name))) =
                    (warehouse(&scope), args.first().and_then(relation_parts))
                {
                    wh.drop_relation(&schema, &name).map_err(|e| {
                        tagged_error(
                            codes::JINJA_RUNTIME,
                            &format!("adapter.drop_relation failed: {e}"),
                            "check the relation",
                        )
                    })?;
                }
                Ok(Value::from(""))
            }
            "get_missing_columns" => missing_columns(&scope, args),
            "list_relations_without_caching" => list_relations(&scope, args),
            "list_schemas" | "check_schema_exists" => schemas_call(&scope, method, args),
            "already_exists" => {
                let (schema, name) = (args.first(), args.get(1));
                Ok(Value::from(match (warehouse(&scope), schema, name) {
                    (Some(wh), Some(s), Some(n)) => {
                        wh.relation_type(&s.to_string(), &n.to_string()).is_some()
                    }
                    _ => false,
                }))
            }
            "get_columns_in_query" => columns_in_query(
                &scope,
                &args.first().map(Value::to_string).unwrap_or_default(),
            ),
            "rename_relation" if scope.execute => rename_call(&scope, args),
            // Schemas appear when written to and there are no transactions:
            // these are true no-ops on the embedded warehouse.
            "create_schema" | "commit" | "expand_target_column_types" => Ok(Value::from("")),
            // While parsing nothing runs; when executing, saying nothing
            // happened would be a silently different result.
            "drop_relation" | "truncate_relation" | "rename_relation" | "drop_schema"
                if !scope.execute =>
            {
                Ok(Value::from(""))
            }
            "truncate_relation" | "drop_schema" => Err(tagged_error(
                codes::JINJA_RUNTIME,
                &format!(
                    "adapter.{method} is not available on the {} warehouse yet",
                    scope.world.target_kind.as_str()
                ),
                "drop and rebuild the relation instead (adapter.drop_relation, or --full-refresh)",
            )),
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }

    fn get_value(self: &Arc<Self>, _key: &Value) -> Option<Value> {
        None
    }
}

/// `api.Relation.create(database=, schema=, identifier=, type=)`.
#[derive(Debug)]
struct RelationApi;

impl Object for RelationApi {
    fn call_method(
        self: &Arc<Self>,
        state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        if method != "create" {
            return Err(Error::from(ErrorKind::UnknownMethod));
        }
        let scope = current_scope(state)?;
        let (_, kwargs) = split_kwargs(args);
        let get = |k: &str| {
            kwargs
                .as_ref()
                .and_then(|kw| kw.get::<Option<String>>(k).ok().flatten())
        };
        Ok(Value::from_object(Relation {
            database: get("database"),
            schema: get("schema"),
            identifier: get("identifier").unwrap_or_default(),
            relation_type: get("type").unwrap_or_default(),
            dialect: scope.dialect(),
        }))
    }
}

/// `modules`: Python's `datetime`, `pytz`, `re` and `itertools`.
fn modules() -> Value {
    map_value([
        ("datetime", super::pydatetime::datetime_module()),
        ("pytz", super::pydatetime::pytz_module()),
        ("re", Value::from_object(super::pyre::ReModule)),
        ("itertools", Value::from(())),
    ])
}

/// `run_query(sql)`: an agate-like table when a warehouse is attached and
/// `execute` is true; none otherwise (dbt's behaviour while parsing).
/// SQL a template hands the warehouse, in the warehouse's own dialect.
fn warehouse_sql(scope: &NodeScope, sql: &str) -> Result<String, Error> {
    super::dialect::executable_sql(
        &scope.world,
        scope.sql_dialect(),
        sql,
        std::path::Path::new(&scope.node.original_file_path),
        "",
    )
    .map_err(|d| {
        tagged_error(
            codes::SQL_DIALECT,
            &d.message,
            d.help.as_deref().unwrap_or(""),
        )
    })
}

/// The column names `sql` would produce, asked of the warehouse without
/// running it; nothing while parsing.
fn columns_in_query(scope: &NodeScope, sql: &str) -> Result<Value, Error> {
    if !scope.execute {
        return Ok(Value::from(Vec::<Value>::new()));
    }
    let Some(wh) = warehouse(scope) else {
        return Ok(Value::from(Vec::<Value>::new()));
    };
    let sql = warehouse_sql(scope, sql)?;
    let names = wh.query_columns(&sql).map_err(|e| {
        tagged_error(
            codes::JINJA_RUNTIME,
            &format!("get_columns_in_query failed: {e}"),
            "check the query; it is planned against the target warehouse",
        )
    })?;
    Ok(Value::from(names))
}

fn run_query_fn(state: &State, sql: String) -> Result<Value, Error> {
    let scope = current_scope(state)?;
    if !scope.execute {
        return Ok(Value::from(()));
    }
    let Some(wh) = warehouse(&scope) else {
        return Ok(Value::from(()));
    };
    let sql = warehouse_sql(&scope, &sql)?;
    wh.query(&sql)
        .map(|t| Value::from_object(super::warehouse_access::AgateTable(t)))
        .map_err(|e| {
            tagged_error(
                codes::JINJA_RUNTIME,
                &format!("run_query failed: {e}"),
                "check the SQL the macro builds; it runs against the target warehouse",
            )
        })
}

/// Called by the `statement` macro with the block's result.
fn store_result_fn(state: &State, name: Value, kwargs: Kwargs) -> Result<Value, Error> {
    let scope = current_scope(state)?;
    let table: Option<Value> = kwargs.get::<Option<Value>>("agate_table")?;
    let _ = kwargs.get::<Option<Value>>("response");
    let table = table.unwrap_or(Value::from(()));
    let data: Vec<Value> = if table.is_none() || table.is_undefined() {
        Vec::new()
    } else {
        table
            .try_iter()
            .map(|it| {
                it.map(|row| {
                    Value::from(
                        row.try_iter()
                            .map(|c| c.collect::<Vec<_>>())
                            .unwrap_or_default(),
                    )
                })
                .collect()
            })
            .unwrap_or_default()
    };
    let result = map_value([
        ("data", Value::from(data)),
        ("table", table),
        ("response", map_value([("_message", Value::from("OK"))])),
    ]);
    scope
        .statements
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(name.to_string(), result);
    Ok(Value::from(""))
}

fn load_result_fn(state: &State, name: Value) -> Result<Value, Error> {
    let scope = current_scope(state)?;
    Ok(scope
        .statements
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&name.to_string())
        .cloned()
        .unwrap_or(Value::from(())))
}

/// The schema and identifier of a relation argument (a Relation or kwargs).
fn relation_parts(v: &Value) -> Option<(String, String)> {
    let schema = v
        .get_attr("schema")
        .ok()
        .filter(|s| !s.is_undefined() && !s.is_none())?
        .to_string();
    let ident = v
        .get_attr("identifier")
        .ok()
        .filter(|s| !s.is_undefined() && !s.is_none())?
        .to_string();
    Some((schema, ident))
}

/// `adapter.dispatch(name, macro_namespace=...)` (and the older
/// `packages=[...]`): the macro that implements `name` on this warehouse.
fn adapter_dispatch(scope: &NodeScope, args: &[Value]) -> Result<Value, Error> {
    let dialect = scope.dialect();
    let (positional, kwargs) = split_kwargs(args);
    let name = positional.first().and_then(Value::as_str).ok_or_else(|| {
        Error::new(
            ErrorKind::MissingArgument,
            "adapter.dispatch() needs a macro name",
        )
    })?;
    let namespace = positional
        .get(1)
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            kwargs
                .as_ref()
                .and_then(|k| k.get::<Option<String>>("macro_namespace").ok().flatten())
        });
    // dbt's older form: dispatch(name, packages=[...]).
    let packages: Option<Vec<String>> = kwargs
        .as_ref()
        .and_then(|k| k.get::<Option<Value>>("packages").ok().flatten())
        .and_then(|v| {
            v.try_iter()
                .ok()
                .map(|it| it.filter_map(|p| p.as_str().map(str::to_string)).collect())
        });
    let calling_package = scope.node.package.clone();
    let found = match packages {
        Some(order) => scope.world.dispatch_in(name, &order),
        None => scope
            .world
            .dispatch(name, namespace.as_deref(), &calling_package),
    };
    match found {
        Some(info) => Ok(Value::from_object(MacroFn::new(info.clone()))),
        None => Err(tagged_error(
            codes::MISSING_MACRO,
            &format!(
                "adapter.dispatch found no `{}__{name}` or `default__{name}` macro",
                dialect.adapter_type()
            ),
            "define one of them, or add the package that provides it to `dispatch:` in the project file",
        )),
    }
}

/// `adapter.get_missing_columns(from, to)`: columns of `from` that `to`
/// lacks (by name, any case).
fn missing_columns(scope: &NodeScope, args: &[Value]) -> Result<Value, Error> {
    // Columns of the first relation that the second lacks.
    let from = columns_of(scope, args.first());
    let to = columns_of(scope, args.get(1));
    let to_names: Vec<String> = to
        .try_iter()
        .map(|it| {
            it.filter_map(|c| {
                c.get_attr("name")
                    .ok()
                    .map(|n| n.to_string().to_lowercase())
            })
            .collect()
        })
        .unwrap_or_default();
    Ok(Value::from(
        from.try_iter()
            .map(|it| {
                it.filter(|c| {
                    c.get_attr("name")
                        .ok()
                        .is_some_and(|n| !to_names.contains(&n.to_string().to_lowercase()))
                })
                .collect::<Vec<_>>()
            })
            .unwrap_or_default(),
    ))
}

/// `adapter.list_relations_without_caching(schema_relation)`.
fn list_relations(scope: &NodeScope, args: &[Value]) -> Result<Value, Error> {
    let (Some(wh), Some(schema)) = (
        warehouse(scope),
        args.first().and_then(|r| {
            r.get_attr("schema")
                .ok()
                .filter(|s| !s.is_undefined() && !s.is_none())
                .map(|s| s.to_string())
        }),
    ) else {
        return Ok(Value::from(Vec::<Value>::new()));
    };
    let list = wh.list_relations(&schema).map_err(|e| {
        tagged_error(
            codes::JINJA_RUNTIME,
            &format!("adapter.list_relations_without_caching failed: {e}"),
            "check the schema",
        )
    })?;
    Ok(Value::from(
        list.into_iter()
            .map(|(identifier, kind)| {
                Value::from_object(Relation {
                    database: Some(scope.world.target_database.clone()),
                    schema: Some(schema.clone()),
                    identifier,
                    relation_type: kind.to_string(),
                    dialect: scope.dialect(),
                })
            })
            .collect::<Vec<_>>(),
    ))
}

/// `adapter.list_schemas(database)` and
/// `adapter.check_schema_exists(database, schema)`.
fn schemas_call(scope: &NodeScope, method: &str, args: &[Value]) -> Result<Value, Error> {
    let Some(wh) = warehouse(scope) else {
        return Ok(if method == "list_schemas" {
            Value::from(Vec::<Value>::new())
        } else {
            Value::from(false)
        });
    };
    let schemas = wh.list_schemas().map_err(|e| {
        tagged_error(
            codes::JINJA_RUNTIME,
            &format!("adapter.{method} failed: {e}"),
            "check the target's credentials and project",
        )
    })?;
    if method == "list_schemas" {
        return Ok(Value::from(schemas));
    }
    // check_schema_exists(database, schema)
    let wanted = args.get(1).or(args.first()).map(Value::to_string);
    Ok(Value::from(wanted.is_some_and(|w| {
        schemas.iter().any(|s| s.eq_ignore_ascii_case(&w))
    })))
}

/// `adapter.rename_relation(from, to)`, within one schema.
fn rename_call(scope: &NodeScope, args: &[Value]) -> Result<Value, Error> {
    let Some(wh) = warehouse(scope) else {
        return Ok(Value::from(""));
    };
    let (Some((schema, from)), Some((to_schema, to))) = (
        args.first().and_then(relation_parts),
        args.get(1).and_then(relation_parts),
    ) else {
        return Err(tagged_error(
            codes::JINJA_RUNTIME,
            "adapter.rename_relation needs two relations with a schema and a name (the first one may not exist: adapter.get_relation gives none then)",
            "pass adapter.get_relation(...) of an existing relation and api.Relation.create(schema=..., identifier=...)",
        ));
    };
    if !to_schema.eq_ignore_ascii_case(&schema) {
        return Err(tagged_error(
            codes::JINJA_RUNTIME,
            &format!(
                "adapter.rename_relation: {schema}.{from} cannot move to another schema ({to_schema})"
            ),
            "rename within one schema, or create the relation in the other schema",
        ));
    }
    wh.rename_relation(&schema, &from, &to).map_err(|e| {
        tagged_error(
            codes::JINJA_RUNTIME,
            &format!("adapter.rename_relation failed: {e}"),
            "check both relations",
        )
    })?;
    Ok(Value::from(""))
}

/// The warehouse templates may consult now: none while parsing without one
/// attached, and none in the static-analysis pass, which records that the
/// render wanted it.
fn warehouse(scope: &NodeScope) -> Option<&Arc<dyn super::warehouse_access::WarehouseAccess>> {
    if scope.analysis {
        scope.recorded().introspected = true;
        return None;
    }
    scope.world.warehouse.get()
}

fn lookup_relation(scope: &NodeScope, method: &str, args: &[Value]) -> Value {
    let Some(wh) = warehouse(scope) else {
        return Value::from(());
    };
    let (positional, kwargs) = split_kwargs(args);
    let parts = if method == "get_relation" {
        let get = |i: usize, k: &str| {
            positional.get(i).map(|v| v.to_string()).or_else(|| {
                kwargs
                    .as_ref()
                    .and_then(|kw| kw.get::<Option<String>>(k).ok().flatten())
            })
        };
        get(1, "schema").zip(get(2, "identifier"))
    } else {
        positional.first().and_then(relation_parts)
    };
    let Some((schema, identifier)) = parts else {
        return Value::from(());
    };
    match wh.relation_type(&schema, &identifier) {
        Some(kind) => Value::from_object(Relation {
            database: Some(scope.world.target_database.clone()),
            schema: Some(schema),
            identifier,
            relation_type: kind.to_string(),
            dialect: scope.dialect(),
        }),
        None => Value::from(()),
    }
}

fn columns_of(scope: &NodeScope, relation: Option<&Value>) -> Value {
    let (Some(wh), Some((schema, ident))) = (warehouse(scope), relation.and_then(relation_parts))
    else {
        return Value::from(Vec::<Value>::new());
    };
    let cols = wh.columns(&schema, &ident).unwrap_or_default();
    Value::from(
        cols.into_iter()
            .map(|(name, data_type)| {
                Value::from_object(super::warehouse_access::ColumnValue { name, data_type })
            })
            .collect::<Vec<_>>(),
    )
}
