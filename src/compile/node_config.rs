//! A node's config as the run path uses it: the keys rdbt acts on, read
//! once into typed fields. The full map stays on the node for Jinja
//! (`config.get`) and the manifest; unknown keys are warned about at parse
//! (R210).

use crate::adapters::{PartitionBy, RelationOptions};
use crate::project::config::Config;
use chrono::{Datelike, NaiveDateTime, Timelike};
use serde_json::Value;

/// How a model (or any node) is materialized: dbt's `materialized`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Materialization {
    View,
    Table,
    Incremental,
    Ephemeral,
    MaterializedView,
    Seed,
    Snapshot,
    Test,
    UnitTest,
    /// A view over a table of the model's rows: a materialization that
    /// exists to prove a new one is one file (`run/materializations/`).
    #[cfg(test)]
    TestOnly,
    /// A name rdbt has no materialization for (a package's custom one).
    Other(String),
}

impl Materialization {
    /// Every materialization rdbt has, by name (what `materialized` takes).
    pub const NAMES: &'static [&'static str] = &[
        "view",
        "table",
        "incremental",
        "ephemeral",
        "materialized_view",
        "snapshot",
        "seed",
        "test",
        #[cfg(test)]
        "test_only",
    ];

    /// Whether rdbt can build it (not a package's custom materialization).
    pub fn is_known(&self) -> bool {
        !matches!(self, Materialization::Other(_))
    }

    pub fn parse(name: &str) -> Materialization {
        match name {
            "view" => Materialization::View,
            "table" => Materialization::Table,
            "incremental" => Materialization::Incremental,
            "ephemeral" => Materialization::Ephemeral,
            "materialized_view" => Materialization::MaterializedView,
            "seed" => Materialization::Seed,
            "snapshot" => Materialization::Snapshot,
            "test" => Materialization::Test,
            "unit" => Materialization::UnitTest,
            #[cfg(test)]
            "test_only" => Materialization::TestOnly,
            other => Materialization::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Materialization::View => "view",
            Materialization::Table => "table",
            Materialization::Incremental => "incremental",
            Materialization::Ephemeral => "ephemeral",
            Materialization::MaterializedView => "materialized_view",
            Materialization::Seed => "seed",
            Materialization::Snapshot => "snapshot",
            Materialization::Test => "test",
            Materialization::UnitTest => "unit",
            #[cfg(test)]
            Materialization::TestOnly => "test_only",
            Materialization::Other(name) => name,
        }
    }
}

/// `incremental_strategy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncrementalStrategy {
    Append,
    Merge,
    DeleteInsert,
    InsertOverwrite,
    Microbatch,
    /// A name rdbt has no strategy for: an error when the model runs
    /// incrementally (as in dbt, a first build does not use it).
    Other(String),
}

impl IncrementalStrategy {
    pub const NAMES: &'static str = "append, merge, delete+insert, insert_overwrite, microbatch";

    pub fn parse(name: &str) -> IncrementalStrategy {
        match name {
            "append" => IncrementalStrategy::Append,
            "merge" => IncrementalStrategy::Merge,
            "delete+insert" => IncrementalStrategy::DeleteInsert,
            "insert_overwrite" => IncrementalStrategy::InsertOverwrite,
            "microbatch" => IncrementalStrategy::Microbatch,
            other => IncrementalStrategy::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            IncrementalStrategy::Append => "append",
            IncrementalStrategy::Merge => "merge",
            IncrementalStrategy::DeleteInsert => "delete+insert",
            IncrementalStrategy::InsertOverwrite => "insert_overwrite",
            IncrementalStrategy::Microbatch => "microbatch",
            IncrementalStrategy::Other(name) => name,
        }
    }
}

/// A microbatch model's `batch_size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchSize {
    Hour,
    Day,
    Month,
    Year,
}

impl BatchSize {
    pub fn parse(name: &str) -> Option<BatchSize> {
        Some(match name.to_ascii_lowercase().as_str() {
            "hour" => BatchSize::Hour,
            "day" => BatchSize::Day,
            "month" => BatchSize::Month,
            "year" => BatchSize::Year,
            _ => return None,
        })
    }

    /// How dbt names a batch by its start (`model.batch.id`).
    pub fn id_format(self) -> &'static str {
        match self {
            BatchSize::Hour => "%Y%m%d%H",
            BatchSize::Day => "%Y%m%d",
            BatchSize::Month => "%Y%m",
            BatchSize::Year => "%Y",
        }
    }

    /// The start of the batch holding `t`.
    pub fn truncate(self, t: NaiveDateTime) -> NaiveDateTime {
        let day = t.date();
        let date = match self {
            BatchSize::Hour => {
                return day.and_hms_opt(t.hour(), 0, 0).unwrap_or(t);
            }
            BatchSize::Day => day,
            BatchSize::Month => day.with_day(1).unwrap_or(day),
            BatchSize::Year => day.with_day(1).and_then(|d| d.with_month(1)).unwrap_or(day),
        };
        date.and_hms_opt(0, 0, 0).unwrap_or(t)
    }

    /// `t` moved by `n` batches (negative: back).
    pub fn step(self, t: NaiveDateTime, n: i64) -> NaiveDateTime {
        match self {
            BatchSize::Hour => t + chrono::Duration::hours(n),
            BatchSize::Day => t + chrono::Duration::days(n),
            BatchSize::Month | BatchSize::Year => {
                let months = if self == BatchSize::Month { n } else { n * 12 };
                let months = chrono::Months::new(months.unsigned_abs() as u32);
                if n >= 0 {
                    t.checked_add_months(months)
                } else {
                    t.checked_sub_months(months)
                }
                .unwrap_or(t)
            }
        }
    }
}

/// A time as configs and flags write it (`begin`, `--event-time-start`):
/// `2024-01-01`, `2024-01-01 06:00:00`, `2024-01-01T06:00:00Z`, read as
/// UTC.
pub fn parse_event_time(text: &str) -> Option<NaiveDateTime> {
    let t = text.trim();
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(t) {
        return Some(dt.naive_utc());
    }
    let t = t.trim_end_matches('Z').trim_end_matches("+00:00");
    for format in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(t, format) {
            return Some(dt);
        }
    }
    chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
}

/// `on_schema_change`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnSchemaChange {
    #[default]
    Ignore,
    Fail,
    AppendNewColumns,
    SyncAllColumns,
}

/// A snapshot's `hard_deletes` (dbt 1.9; `invalidate_hard_deletes: true`
/// before it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HardDeletes {
    #[default]
    Ignore,
    Invalidate,
    NewRecord,
}

/// A snapshot's `check_cols`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckCols {
    All,
    Columns(Vec<String>),
}

/// A snapshot's `strategy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotStrategy {
    Timestamp { updated_at: String },
    Check { columns: CheckCols },
}

/// The config keys the run path acts on, typed.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeConfig {
    pub materialized: Materialization,
    /// `None`: the adapter's default (merge with a `unique_key`, else append).
    pub incremental_strategy: Option<IncrementalStrategy>,
    pub unique_key: Vec<String>,
    pub on_schema_change: OnSchemaChange,
    /// `full_refresh: false` protects a model from `--full-refresh`.
    pub full_refresh: Option<bool>,
    pub contract_enforced: bool,
    pub pre_hook: Vec<String>,
    pub post_hook: Vec<String>,
    pub persist_docs_relation: bool,
    pub persist_docs_columns: bool,
    /// Partitions, clustering, labels (the description is the node's).
    pub relation: RelationOptions,
    /// microbatch: the column that dates each row.
    pub event_time: Option<String>,
    /// microbatch: `hour`, `day`, `month` or `year`.
    pub batch_size: Option<String>,
    /// microbatch: how many batches before the first to reprocess.
    pub lookback: u32,
    /// microbatch: the first batch's start on a full build.
    pub begin: Option<String>,
    /// Snapshots: their strategy, `hard_deletes` and `dbt_valid_to_current`.
    pub snapshot_strategy: Option<SnapshotStrategy>,
    pub hard_deletes: HardDeletes,
    pub valid_to_current: Option<String>,
    /// Data tests.
    pub severity_warn: bool,
    pub error_if: String,
    pub warn_if: String,
    pub fail_calc: String,
    pub limit: Option<u64>,
    pub store_failures: bool,
    /// `audit: before_publish`: `build` publishes the model's new version
    /// only after its error-severity data tests pass.
    pub audit_before_publish: bool,
}

/// What an empty config resolves to (a test checks they agree).
impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            materialized: Materialization::View,
            incremental_strategy: None,
            unique_key: Vec::new(),
            on_schema_change: OnSchemaChange::Ignore,
            full_refresh: None,
            contract_enforced: false,
            pre_hook: Vec::new(),
            post_hook: Vec::new(),
            persist_docs_relation: false,
            persist_docs_columns: false,
            relation: RelationOptions::default(),
            event_time: None,
            batch_size: None,
            lookback: 1,
            begin: None,
            snapshot_strategy: None,
            hard_deletes: HardDeletes::Ignore,
            valid_to_current: None,
            severity_warn: false,
            error_if: "!= 0".into(),
            warn_if: "!= 0".into(),
            fail_calc: "count(*)".into(),
            limit: None,
            store_failures: false,
            audit_before_publish: false,
        }
    }
}

/// A value a config key cannot take, said as the user wrote it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

fn str_of<'a>(config: &'a Config, key: &str) -> Option<&'a str> {
    config.get(key).and_then(Value::as_str)
}

fn bool_of(config: &Config, key: &str) -> Option<bool> {
    match config.get(key) {
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Some(true),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// A column or a list of them (`unique_key`, `cluster_by`, `check_cols`).
pub fn column_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// `pre-hook`/`post-hook`: a string or a list of strings or `{sql: ...}`.
fn hooks(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .or_else(|| v.get("sql").and_then(|s| s.as_str()).map(str::to_string))
            })
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Object(o)) => o
            .get("sql")
            .and_then(|s| s.as_str())
            .map(|s| vec![s.to_string()])
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

impl NodeConfig {
    /// The config of a node that sets nothing (a view), shared.
    pub fn default_shared() -> std::sync::Arc<NodeConfig> {
        static DEFAULT: std::sync::LazyLock<std::sync::Arc<NodeConfig>> =
            std::sync::LazyLock::new(|| std::sync::Arc::new(NodeConfig::default()));
        DEFAULT.clone()
    }

    /// Reads `config`; a key with a value rdbt cannot act on is an error
    /// naming the key and the values it takes.
    pub fn resolve(config: &Config) -> Result<NodeConfig, ConfigError> {
        let materialized = Materialization::parse(str_of(config, "materialized").unwrap_or("view"));
        let incremental_strategy =
            str_of(config, "incremental_strategy").map(IncrementalStrategy::parse);
        let on_schema_change = match str_of(config, "on_schema_change").unwrap_or("ignore") {
            "ignore" => OnSchemaChange::Ignore,
            "fail" => OnSchemaChange::Fail,
            "append_new_columns" => OnSchemaChange::AppendNewColumns,
            "sync_all_columns" => OnSchemaChange::SyncAllColumns,
            other => {
                return Err(ConfigError(format!(
                    "on_schema_change `{other}` is not one of ignore, fail, append_new_columns, sync_all_columns"
                )));
            }
        };
        let audit_before_publish = match str_of(config, "audit").unwrap_or("none") {
            "before_publish" => true,
            "none" | "after_publish" => false,
            other => {
                return Err(ConfigError(format!(
                    "audit `{other}` is not one of before_publish, none"
                )));
            }
        };
        let persist = config.get("persist_docs");
        let persist_flag = |k: &str| {
            persist
                .and_then(|p| p.get(k))
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        let labels = match config.get("labels") {
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_string),
                    )
                })
                .collect(),
            _ => Default::default(),
        };
        let relation = RelationOptions {
            partition_by: PartitionBy::from_config(config.get("partition_by"))
                .map_err(ConfigError)?,
            cluster_by: column_list(config.get("cluster_by")),
            labels,
            description: None,
            require_partition_filter: bool_of(config, "require_partition_filter").unwrap_or(false),
            partition_expiration_days: config
                .get("partition_expiration_days")
                .and_then(Value::as_u64),
        };
        let hard_deletes = match str_of(config, "hard_deletes") {
            Some("ignore") => HardDeletes::Ignore,
            Some("invalidate") => HardDeletes::Invalidate,
            Some("new_record") => HardDeletes::NewRecord,
            Some(other) => {
                return Err(ConfigError(format!(
                    "hard_deletes is `{other}`; use ignore, invalidate or new_record"
                )));
            }
            None if bool_of(config, "invalidate_hard_deletes").unwrap_or(false) => {
                HardDeletes::Invalidate
            }
            None => HardDeletes::Ignore,
        };
        let snapshot_strategy = match str_of(config, "strategy") {
            Some("timestamp") => {
                str_of(config, "updated_at").map(|c| SnapshotStrategy::Timestamp {
                    updated_at: c.to_string(),
                })
            }
            Some("check") => Some(SnapshotStrategy::Check {
                columns: match config.get("check_cols") {
                    Some(Value::String(s)) if s == "all" => CheckCols::All,
                    other => CheckCols::Columns(column_list(other)),
                },
            }),
            _ => None,
        };
        Ok(NodeConfig {
            materialized,
            incremental_strategy,
            unique_key: column_list(config.get("unique_key")),
            on_schema_change,
            full_refresh: bool_of(config, "full_refresh"),
            contract_enforced: config
                .get("contract")
                .and_then(|c| c.get("enforced"))
                .and_then(Value::as_bool)
                .unwrap_or(false),
            pre_hook: hooks(config.get("pre-hook").or_else(|| config.get("pre_hook"))),
            post_hook: hooks(config.get("post-hook").or_else(|| config.get("post_hook"))),
            persist_docs_relation: persist_flag("relation"),
            persist_docs_columns: persist_flag("columns"),
            relation,
            event_time: str_of(config, "event_time").map(str::to_string),
            batch_size: str_of(config, "batch_size").map(|s| s.to_ascii_lowercase()),
            lookback: config
                .get("lookback")
                .and_then(Value::as_u64)
                .map_or(1, |n| n.min(u64::from(u32::MAX)) as u32),
            begin: config.get("begin").and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Null => None,
                other => Some(other.to_string()),
            }),
            snapshot_strategy,
            hard_deletes,
            valid_to_current: str_of(config, "dbt_valid_to_current")
                .filter(|e| !e.trim().is_empty())
                .map(str::to_string),
            severity_warn: str_of(config, "severity")
                .is_some_and(|s| s.eq_ignore_ascii_case("warn")),
            error_if: str_of(config, "error_if").unwrap_or("!= 0").to_string(),
            warn_if: str_of(config, "warn_if").unwrap_or("!= 0").to_string(),
            fail_calc: str_of(config, "fail_calc")
                .unwrap_or("count(*)")
                .to_string(),
            limit: config.get("limit").and_then(Value::as_u64),
            store_failures: bool_of(config, "store_failures").unwrap_or(false)
                || str_of(config, "store_failures_as").is_some_and(|a| a == "table" || a == "view"),
            audit_before_publish,
        })
    }

    /// The strategy an incremental model writes with: as configured, else
    /// merge when it has a `unique_key` and append when not (dbt's default
    /// on warehouses with MERGE).
    pub fn strategy(&self) -> IncrementalStrategy {
        match &self.incremental_strategy {
            Some(s) => s.clone(),
            None if self.unique_key.is_empty() => IncrementalStrategy::Append,
            None => IncrementalStrategy::Merge,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_default_is_what_an_empty_config_resolves_to() {
        assert_eq!(
            NodeConfig::resolve(&Config::default()).unwrap(),
            NodeConfig::default()
        );
    }

    #[test]
    fn batch_sizes_truncate_and_step() {
        let t = parse_event_time("2024-03-31 17:45:10").unwrap();
        let at = |s: &str| parse_event_time(s).unwrap();
        assert_eq!(BatchSize::Hour.truncate(t), at("2024-03-31 17:00:00"));
        assert_eq!(BatchSize::Day.truncate(t), at("2024-03-31"));
        assert_eq!(BatchSize::Month.truncate(t), at("2024-03-01"));
        assert_eq!(BatchSize::Year.truncate(t), at("2024-01-01"));
        assert_eq!(BatchSize::Month.step(at("2024-01-31"), 1), at("2024-02-29"));
        assert_eq!(BatchSize::Day.step(at("2024-03-01"), -1), at("2024-02-29"));
        assert_eq!(at("2024-01-01T06:00:00Z"), at("2024-01-01 06:00"));
        assert!(parse_event_time("yesterday").is_none());
    }

    fn config(v: Value) -> Config {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn typed_fields() {
        let c = NodeConfig::resolve(&config(json!({
            "materialized": "incremental",
            "unique_key": ["a", "b"],
            "on_schema_change": "append_new_columns",
            "full_refresh": false,
            "contract": {"enforced": true},
            "post-hook": ["select 1", {"sql": "select 2"}],
            "partition_by": {"field": "d", "data_type": "date"},
            "persist_docs": {"columns": true},
        })))
        .unwrap();
        assert_eq!(c.materialized, Materialization::Incremental);
        assert_eq!(c.strategy(), IncrementalStrategy::Merge);
        assert_eq!(c.unique_key, vec!["a".to_string(), "b".to_string()]);
        assert_eq!(c.on_schema_change, OnSchemaChange::AppendNewColumns);
        assert_eq!(c.full_refresh, Some(false));
        assert!(c.contract_enforced && c.persist_docs_columns && !c.persist_docs_relation);
        assert_eq!(
            c.post_hook,
            vec!["select 1".to_string(), "select 2".to_string()]
        );
        assert_eq!(c.relation.partition_by.unwrap().field, "d");
        assert_eq!(
            NodeConfig::resolve(&config(json!({})))
                .unwrap()
                .materialized,
            Materialization::View
        );
    }

    #[test]
    fn bad_values_name_what_is_allowed() {
        let c = NodeConfig::resolve(&config(json!({"incremental_strategy": "upsert"}))).unwrap();
        assert_eq!(c.strategy(), IncrementalStrategy::Other("upsert".into()));
        let e = NodeConfig::resolve(&config(json!({"on_schema_change": "add"}))).unwrap_err();
        assert!(e.0.contains("sync_all_columns"), "{e}");
        let e = NodeConfig::resolve(&config(json!({"hard_deletes": "drop"}))).unwrap_err();
        assert!(e.0.contains("new_record"), "{e}");
    }
}
