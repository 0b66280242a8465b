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
pub mod cli;
pub mod compile;
pub mod diagnostics;
pub mod docs;
pub mod graph;
pub mod ingest;
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
