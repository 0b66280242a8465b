//! What one render sees and records: the node being rendered, its config as
//! it grows, and every `ref()`, `source()`, `config()` and macro call made
//! while rendering. One `NodeScope` per render, shared with the macros it
//! calls, so calls inside macros are recorded too.

use super::relation::Relation;
use super::world::World;
use crate::project::config::{self, Config};
use minijinja::value::{Object, Value};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

/// A `ref('pkg', 'name', v=2)` call as written.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct RefCall {
    pub package: Option<String>,
    pub name: String,
    pub version: Option<String>,
}

/// A `source('src', 'table')` call.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct SourceCall {
    pub source_name: String,
    pub table_name: String,
}

/// Everything a render recorded.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Recorded {
    pub refs: Vec<RefCall>,
    pub sources: Vec<SourceCall>,
    /// `config()` calls, merged in call order.
    pub config: Config,
    /// Macros called, as `macro.<package>.<name>`.
    pub macros: BTreeSet<String>,
    /// `exceptions.warn()` messages.
    pub warnings: Vec<String>,
    /// `log(msg, info=True)` lines.
    pub logs: Vec<String>,
    /// Environment variables read through `env_var()` and the value seen, so
    /// the partial-parse cache notices when one changes.
    pub env_vars: Vec<(String, Option<String>)>,
    /// The render asked the warehouse something (`run_query`, columns,
    /// relations): in the static-analysis pass its SQL is not the SQL the
    /// run will compile once the parents are built.
    pub introspected: bool,
}

/// Resolves `ref()` and `source()` to real relations in the compile pass.
pub trait RelationResolver: Send + Sync {
    fn resolve_ref(&self, from_package: &str, call: &RefCall) -> Option<Relation>;
    fn resolve_source(&self, call: &SourceCall) -> Option<Relation>;
}

/// Static facts about the node being rendered.
#[derive(Debug, Clone)]
pub struct NodeIdentity {
    pub unique_id: String,
    pub name: String,
    pub package: String,
    pub resource_type: &'static str,
    pub original_file_path: String,
    pub fqn: Vec<String>,
    /// A model version's `v` and the model's latest version.
    pub version: Option<(String, String)>,
}

pub struct NodeScope {
    pub world: Arc<World>,
    pub node: NodeIdentity,
    /// Folder and YAML config before this render's `config()` calls.
    pub base_config: Config,
    pub recorded: Mutex<Recorded>,
    /// `None` in the parse pass: `ref()` returns a placeholder.
    pub resolver: Option<Arc<dyn RelationResolver>>,
    pub this: Option<Relation>,
    /// dbt's `execute`: false while parsing, true when compiling for a run.
    pub execute: bool,
    /// Extra variables (test kwargs, unit-test overrides).
    pub extra: Vec<(String, Value)>,
    /// dbt's `is_incremental()`: the model is incremental, its table exists
    /// and this is not a full refresh.
    pub incremental: bool,
    /// `store_result` / `load_result` of `{% call statement %}` blocks.
    pub statements: Mutex<std::collections::HashMap<String, Value>>,
    /// The static-analysis pass, before anything runs: the warehouse is not
    /// consulted (what this run builds does not exist yet); a call that
    /// would consult it is recorded and answered as empty.
    pub analysis: bool,
}

impl std::fmt::Debug for NodeScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<scope {}>", self.node.unique_id)
    }
}

impl NodeScope {
    pub fn recorded(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.recorded.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How this node's SQL quotes and dispatches: its own `sql_dialect`
    /// (from `config()` or folder/YAML config), else the project's.
    pub fn dialect(&self) -> &'static dyn crate::adapters::Dialect {
        crate::adapters::dialect_for(self.world.target_kind, self.sql_dialect())
    }

    /// The dialect this node's SQL is written in.
    pub fn sql_dialect(&self) -> crate::sql::SqlDialect {
        let recorded = self.recorded();
        let configured = recorded
            .config
            .get("sql_dialect")
            .or_else(|| self.base_config.get("sql_dialect"));
        super::dialect::sql_dialect_in(&self.world, configured)
    }

    /// The config as it stands now: base config plus `config()` calls so far.
    pub fn current_config(&self) -> Config {
        let mut c = self.base_config.clone();
        config::merge_into(&mut c, &self.recorded().config);
        c
    }
}

impl Object for NodeScope {}
