//! rdbt: a declarative SQL-model transformation engine. Reads dbt-style
//! projects, compiles their Jinja SQL into a graph, and builds them on an
//! embedded DataFusion warehouse or on BigQuery.
//!
//! Module map (arrows point down only):
//! `cli` → `settings` → `project` → `compile` → `graph` → (`run`) → `adapters`;
//! leaves: `diagnostics`, `yaml`, `artifacts`, `timings`, `sql` (dialects and their
//! translation to DataFusion SQL).

#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod adapters;
pub mod allocator;
pub mod artifacts;
mod atomic;
pub mod cli;
pub mod compile;
pub mod diagnostics;
pub mod docs;
pub mod graph;
pub mod ingest;
mod json;
pub mod project;
mod regexes;
mod rng;
pub mod run;
pub mod settings;
pub mod sql;
pub mod store;
pub mod synthetic;
mod timings;
pub mod yaml;

/// This process's invocation id: in every artifact and every JSON log line,
/// so a run's logs and its artifacts can be matched, as dbt's can.
pub fn invocation_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| uuid::Uuid::new_v4().to_string())
}
