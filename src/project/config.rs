//! Node configuration: the `+config` tree of the project file, `config:` in
//! property YAML and `config()` in SQL, merged with dbt's precedence
//! (folder config < property YAML < the file's own `config()`).

use serde_json::{Map, Value};

/// A node's configuration, keys normalized (`+` stripped, `pre_hook` spelled
/// `pre-hook` as dbt's manifest spells it). A `BTreeMap` so artifacts are
/// deterministic.
pub type Config = Map<String, Value>;

/// One empty config for every node that has none: a fresh `Arc` per node
/// is an allocation for nothing, tens of thousands of times.
pub fn empty_shared() -> std::sync::Arc<Config> {
    static EMPTY: std::sync::LazyLock<std::sync::Arc<Config>> =
        std::sync::LazyLock::new(Default::default);
    EMPTY.clone()
}

/// `config`, as the same allocation as a recently seen equal one. Nodes of
/// one folder mostly have equal configs; keeping a few recent ones (per
/// thread, so without locks) shares nearly all of them.
pub fn share_recent(
    config: std::sync::Arc<Config>,
    recent: &mut Vec<std::sync::Arc<Config>>,
) -> std::sync::Arc<Config> {
    const KEPT: usize = 4;
    if let Some(i) = recent.iter().position(|c| *c == config) {
        let found = recent.remove(i);
        recent.push(found.clone());
        return found;
    }
    if recent.len() == KEPT {
        recent.remove(0);
    }
    recent.push(config.clone());
    config
}

/// Config keys dbt knows without a `+` prefix in the project file; any other
/// bare key holding a mapping is a folder or package name.
pub const KNOWN_CONFIG_KEYS: &[&str] = &[
    "enabled",
    "audit",
    "materialized",
    "schema",
    "database",
    "alias",
    "tags",
    "meta",
    "docs",
    "persist_docs",
    "pre-hook",
    "post-hook",
    "pre_hook",
    "post_hook",
    "full_refresh",
    "unique_key",
    "incremental_strategy",
    "on_schema_change",
    "partition_by",
    "cluster_by",
    "labels",
    "grants",
    "contract",
    "access",
    "group",
    "sql_dialect",
    "quoting",
    "column_types",
    "delimiter",
    "quote_columns",
    "strategy",
    "updated_at",
    "check_cols",
    "target_schema",
    "target_database",
    "invalidate_hard_deletes",
    "severity",
    "error_if",
    "warn_if",
    "where",
    "limit",
    "fail_calc",
    "store_failures",
    "store_failures_as",
    "static_analysis",
    "batch_size",
    "lookback",
    "begin",
    "event_time",
    "concurrent_batches",
    "hard_deletes",
    "snapshot_meta_column_names",
    "dbt_valid_to_current",
    "project",
    "dataset",
    "require_partition_filter",
    "partition_expiration_days",
    "kms_key_name",
    "hours_to_expiration",
    "copy_partitions",
    "on_configuration_change",
    "file_format",
    "location",
    "predicates",
    "incremental_predicates",
    "merge_update_columns",
    "merge_exclude_columns",
    "packages",
    "freshness",
    "loaded_at_field",
    "loaded_at_query",
    "description",
    "sql_header",
    "transient",
    "copy_grants",
    // dbt-postgres
    "indexes",
    "unlogged",
    // dbt-duckdb's external materialization and plugins
    "format",
    "options",
    "plugin",
    "glue_register",
    "glue_database",
];

/// A config key that neither dbt nor rdbt reads, as a warning message and
/// what to do: the known key it is closest to, else move it under `meta`
/// (dbt 1.10 warns about custom config keys the same way). `None` for a
/// known key.
pub fn unknown_config_key(key: &str) -> Option<(String, String)> {
    let key = key.strip_prefix('+').unwrap_or(key);
    if KNOWN_CONFIG_KEYS.contains(&key) || matches!(key, "tests" | "data_tests") {
        return None;
    }
    let suggestions = crate::diagnostics::closest_names(key, KNOWN_CONFIG_KEYS.iter().copied());
    Some((
        format!("unknown config `{key}`"),
        crate::diagnostics::did_you_mean(
            &suggestions,
            "if it is a setting of your own, put it under `meta:` (`config(meta={...})`), where macros read it with `config.get('meta')`",
        ),
    ))
}

/// Keys whose values add up instead of replacing the less specific value.
fn merge_behavior(key: &str) -> MergeBehavior {
    match key {
        "tags" | "pre-hook" | "post-hook" => MergeBehavior::Append,
        "meta" | "grants" | "labels" | "docs" | "persist_docs" | "column_types" => {
            MergeBehavior::Update
        }
        _ => MergeBehavior::Replace,
    }
}

enum MergeBehavior {
    Replace,
    Append,
    Update,
}

/// dbt's spelling of a config key.
pub fn normalize_key(key: &str) -> String {
    let key = key.strip_prefix('+').unwrap_or(key);
    match key {
        "pre_hook" => "pre-hook".to_string(),
        "post_hook" => "post-hook".to_string(),
        "data_tests" => "tests".to_string(),
        other => other.to_string(),
    }
}

/// Merges `over` (more specific) into `base`.
pub fn merge_into(base: &mut Config, over: &Config) {
    for (key, value) in over {
        let key = normalize_key(key);
        match merge_behavior(&key) {
            MergeBehavior::Replace => {
                base.insert(key, value.clone());
            }
            MergeBehavior::Append => {
                let mut items = as_list(base.get(&key));
                for v in as_list(Some(value)) {
                    if !items.contains(&v) {
                        items.push(v);
                    }
                }
                base.insert(key, Value::Array(items));
            }
            MergeBehavior::Update => match (base.get_mut(&key), value) {
                (Some(Value::Object(existing)), Value::Object(new)) => {
                    for (k, v) in new {
                        existing.insert(k.clone(), v.clone());
                    }
                }
                _ => {
                    base.insert(key, value.clone());
                }
            },
        }
    }
}

fn as_list(v: Option<&Value>) -> Vec<Value> {
    match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(other) => vec![other.clone()],
    }
}

/// Typed reads of the keys rdbt acts on.
pub trait ConfigExt {
    fn str_value(&self, key: &str) -> Option<&str>;
    fn enabled(&self) -> bool;
    fn materialized(&self) -> &str;
    fn tags(&self) -> Vec<String>;
    /// [`ConfigExt::tags`] without copying them.
    fn tag_strs(&self) -> Vec<&str>;
}

impl ConfigExt for Config {
    fn str_value(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    fn enabled(&self) -> bool {
        match self.get("enabled") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => !s.eq_ignore_ascii_case("false"),
            _ => true,
        }
    }

    fn materialized(&self) -> &str {
        self.str_value("materialized").unwrap_or("view")
    }

    fn tags(&self) -> Vec<String> {
        self.tag_strs().into_iter().map(str::to_string).collect()
    }

    fn tag_strs(&self) -> Vec<&str> {
        match self.get("tags") {
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            Some(Value::String(tag)) => vec![tag.as_str()],
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    #[test]
    fn equal_configs_seen_recently_share_one_allocation() {
        let view = || Arc::new(cfg(json!({"materialized": "view"})));
        let table = || Arc::new(cfg(json!({"materialized": "table"})));
        let mut recent = Vec::new();
        let first = share_recent(view(), &mut recent);
        let other = share_recent(table(), &mut recent);
        assert!(!Arc::ptr_eq(&first, &other));
        let again = share_recent(view(), &mut recent);
        assert!(Arc::ptr_eq(&first, &again), "an equal config is shared");
        assert_eq!(*again, cfg(json!({"materialized": "view"})));
        // Only a few are kept: the oldest is forgotten.
        for n in 0..4 {
            share_recent(Arc::new(cfg(json!({"tags": [n]}))), &mut recent);
        }
        assert_eq!(recent.len(), 4);
        assert!(!Arc::ptr_eq(&first, &share_recent(view(), &mut recent)));
    }

    #[test]
    fn tags_read_a_list_or_a_single_string() {
        assert_eq!(cfg(json!({"tags": ["a", 1, "b"]})).tag_strs(), ["a", "b"]);
        assert_eq!(cfg(json!({"tags": "a"})).tags(), ["a"]);
        assert!(cfg(json!({"tags": null})).tag_strs().is_empty());
        assert!(cfg(json!({})).tags().is_empty());
    }

    fn cfg(v: Value) -> Config {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn tags_append_meta_updates_rest_replaces() {
        let mut base =
            cfg(json!({"tags": ["a"], "meta": {"x": 1, "y": 1}, "materialized": "view"}));
        merge_into(
            &mut base,
            &cfg(
                json!({"+tags": "b", "meta": {"y": 2}, "materialized": "table", "pre_hook": "select 1"}),
            ),
        );
        assert_eq!(
            Value::Object(base),
            json!({"tags": ["a", "b"], "meta": {"x": 1, "y": 2}, "materialized": "table", "pre-hook": ["select 1"]})
        );
    }
}
