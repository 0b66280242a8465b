//! The parsed form of every resource: what the graph, the selectors, the
//! artifacts and (later) the runner read. One struct for all kinds keeps
//! selection uniform; kind-specific facts sit in optional fields.

use super::scope::{RefCall, SourceCall};
use crate::project::ResourceType;
use crate::project::config::{Config, ConfigExt};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Clone, Serialize)]
pub struct ColumnInfo {
    pub name: String,
    pub description: String,
    pub meta: serde_json::Value,
    pub data_type: Option<String>,
    pub constraints: Vec<serde_json::Value>,
    pub quote: Option<bool>,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TestMetadata {
    pub name: String,
    pub kwargs: TestKwargs,
    pub namespace: Option<String>,
}

/// A data test's arguments, sorted by name. A sorted list, not a map: a
/// map's smallest node has room for eleven entries (over 600 bytes), a test
/// has two or three arguments, and a project may have tens of thousands.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TestKwargs(Vec<(String, serde_json::Value)>);

impl TestKwargs {
    pub fn get(&self, key: &str) -> Option<&serde_json::Value> {
        self.0
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|i| &self.0[i].1)
    }
}

impl From<serde_json::Map<String, serde_json::Value>> for TestKwargs {
    fn from(map: serde_json::Map<String, serde_json::Value>) -> Self {
        // The map iterates in key order, so the list is sorted.
        TestKwargs(map.into_iter().collect())
    }
}

impl Serialize for TestKwargs {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// Source-only facts.
#[derive(Debug, Clone, Serialize)]
pub struct SourceInfo {
    pub source_name: String,
    pub source_description: String,
    pub identifier: String,
    pub loader: String,
    pub loaded_at_field: Option<String>,
    pub freshness: serde_json::Value,
    pub meta: serde_json::Value,
    /// Kept verbatim (may name secrets through env_var; never rendered here).
    pub ingest: Option<serde_json::Value>,
    pub external: Option<serde_json::Value>,
}

/// Exposure-only facts.
#[derive(Debug, Clone, Serialize)]
pub struct ExposureInfo {
    pub exposure_type: String,
    pub label: Option<String>,
    pub maturity: Option<String>,
    pub url: Option<String>,
    pub owner: serde_json::Value,
    pub meta: serde_json::Value,
    pub extra: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone)]
pub struct ParsedNode {
    pub unique_id: String,
    pub resource_type: ResourceType,
    pub package_name: String,
    pub name: String,
    /// Relative to the resource folder (dbt's `path`).
    pub path: String,
    /// Relative to the package root (dbt's `original_file_path`).
    pub original_file_path: String,
    pub abs_path: PathBuf,
    pub fqn: Vec<String>,
    pub raw_code: Arc<str>,
    pub file_text: Arc<str>,
    /// Where `raw_code` starts in `file_text`.
    pub body_offset: usize,
    pub checksum: String,
    /// Shared: thousands of nodes (data tests above all) have equal configs.
    pub config: Arc<Config>,
    /// Config as written in YAML and the project file (before `config()`).
    /// Shared like `config`.
    pub unrendered_config: Arc<Config>,
    /// `config` read into the keys the run path acts on, at the end of the
    /// parse (`NodeConfig::default_shared()` until then). Shared by nodes
    /// that share `config`. Whoever changes `config` after the parse calls
    /// `set_config`.
    pub resolved: Arc<super::node_config::NodeConfig>,
    pub description: String,
    /// Boxed, as are the kind-specific fields below: a B-tree leaf holds
    /// eleven values, and most nodes have few columns or none.
    pub columns: BTreeMap<String, Box<ColumnInfo>>,
    pub patch_path: Option<String>,
    /// `docs:` as written; `None` is dbt's default (shown, no color), kept
    /// out of every node because large projects have tens of thousands.
    pub docs: Option<serde_json::Value>,
    pub refs: Vec<RefCall>,
    pub sources: Vec<SourceCall>,
    /// Macros called, as `macro.<package>.<name>`: sorted, without
    /// duplicates. A list, not a set: a set's smallest node holds eleven
    /// names, and most nodes call one or two macros.
    pub macros: Vec<String>,
    /// Filled by the graph: the unique ids this node reads.
    pub depends_on: Vec<String>,
    pub database: String,
    pub schema: String,
    pub alias: String,
    pub relation_name: Option<String>,
    /// Boxed, as are the kind-specific fields below: they would make every
    /// node bigger, and a node is allocated in a size class of its own.
    pub test_metadata: Option<Box<TestMetadata>>,
    pub attached_node: Option<String>,
    pub column_name: Option<String>,
    pub source: Option<Box<SourceInfo>>,
    pub exposure: Option<Box<ExposureInfo>>,
    /// A unit test's definition (`given`, `expect`, `overrides`) as written.
    pub unit_test: Option<Box<serde_json::Value>>,
    /// Output of the compile render (real relation names).
    pub compiled_code: Option<String>,
    /// Where each `ref()`/`source()` was written: (call text, byte offset in
    /// `file_text`, length).
    pub call_sites: Vec<(String, usize, usize)>,
    /// Output columns, types and column lineage found by static analysis.
    pub inferred: Option<Arc<crate::sql::analysis::ModelSchema>>,
    /// A versioned model's version (`versions:` in its YAML).
    pub version: Option<Box<crate::project::properties::ModelVersion>>,
}

impl ParsedNode {
    /// Gives back the room lists grew into while the node was built: a
    /// list's first push reserves four entries, a node keeps one or two,
    /// and a large project keeps tens of thousands of nodes.
    pub fn shrink_lists(&mut self) {
        self.fqn.shrink_to_fit();
        self.refs.shrink_to_fit();
        self.sources.shrink_to_fit();
        self.macros.shrink_to_fit();
        self.call_sites.shrink_to_fit();
        self.depends_on.shrink_to_fit();
    }

    pub fn tags(&self) -> Vec<String> {
        self.config.tags()
    }

    /// How the node is materialized, from its resolved config.
    pub fn materialized(&self) -> &super::node_config::Materialization {
        &self.resolved.materialized
    }

    /// Replaces the config after the parse, resolving it again.
    pub fn set_config(
        &mut self,
        config: Arc<Config>,
    ) -> Result<(), super::node_config::ConfigError> {
        self.resolved = Arc::new(super::node_config::NodeConfig::resolve(&config)?);
        self.config = config;
        Ok(())
    }

    /// A seed's CSV delimiter (`delimiter` config, default `,`).
    pub fn seed_delimiter(&self) -> u8 {
        use crate::project::config::ConfigExt;
        self.config
            .str_value("delimiter")
            .and_then(|d| d.bytes().next())
            .unwrap_or(b',')
    }

    /// A seed's `column_types` config: (column, type as written).
    pub fn seed_column_types(&self) -> Vec<(String, String)> {
        self.config
            .get("column_types")
            .and_then(|v| v.as_object())
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_str().map(|t| (k.clone(), t.to_string())))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The language of `raw_code` as dbt reports it.
    pub fn language(&self) -> &'static str {
        "sql"
    }

    pub fn is_executable(&self) -> bool {
        matches!(
            self.resource_type,
            ResourceType::Model
                | ResourceType::Seed
                | ResourceType::Snapshot
                | ResourceType::Test
                | ResourceType::Analysis
        )
    }

    /// Finds where a `ref`/`source` call naming `needle` was written.
    pub fn call_site(&self, kind: &str, needle: &str) -> Option<(usize, usize)> {
        self.call_sites
            .iter()
            .find(|(text, _, _)| {
                text.starts_with(kind) && text.contains(&format!("'{needle}'"))
                    || text.starts_with(kind) && text.contains(&format!("\"{needle}\""))
            })
            .map(|(_, off, len)| (*off, *len))
    }
}

/// A macro as the manifest lists it.
#[derive(Debug, Clone)]
pub struct ParsedMacro {
    pub unique_id: String,
    pub name: String,
    pub package_name: String,
    pub original_file_path: String,
    pub path: String,
    pub macro_sql: Arc<str>,
    pub description: String,
    pub arguments: serde_json::Value,
    pub depends_on: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ParsedDoc {
    pub unique_id: String,
    pub name: String,
    pub package_name: String,
    pub original_file_path: String,
    pub block_contents: String,
}

/// Everything a parse produced.
#[derive(Debug, Clone, Default)]
pub struct ParsedProject {
    pub project_name: String,
    /// Every enabled node, sources and exposures included, by unique id.
    /// Boxed: a node is about a kilobyte, and a B-tree moves its values on
    /// every insert.
    pub nodes: BTreeMap<String, Box<ParsedNode>>,
    pub disabled: BTreeMap<String, Box<ParsedNode>>,
    pub macros: BTreeMap<String, ParsedMacro>,
    pub docs: BTreeMap<String, ParsedDoc>,
    pub unit_tests: BTreeMap<String, serde_json::Value>,
    pub invocation_id: String,
    pub generated_at: String,
    /// A digest of everything the parse read, for artifacts' metadata.
    pub project_hash: String,
    /// (package, name) of nodes whose render failed: refs to them are not
    /// reported again as unknown.
    pub failed: BTreeSet<(String, String)>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn test_kwargs_are_looked_up_by_name_and_written_as_a_json_map() {
        let map = json!({"values": ["a", "b"], "column_name": "status", "model": "m"});
        let serde_json::Value::Object(map) = map else {
            unreachable!()
        };
        let kwargs = TestKwargs::from(map.clone());
        assert_eq!(kwargs.get("column_name"), Some(&json!("status")));
        assert_eq!(kwargs.get("values"), Some(&json!(["a", "b"])));
        assert_eq!(kwargs.get("missing"), None);
        // The same bytes as the map it replaced (keys in order).
        assert_eq!(
            serde_json::to_string(&kwargs).unwrap(),
            serde_json::to_string(&map).unwrap()
        );
    }
}
