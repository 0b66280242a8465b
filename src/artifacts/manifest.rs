//! `manifest.json` as the commands that read it back see it (the docs
//! site): the fields they use, typed. Missing fields take their defaults,
//! so a manifest written by dbt reads too. The writer is
//! `graph::write_manifest`, which streams the file without these types.

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ManifestFile {
    #[serde(default)]
    pub metadata: ManifestMetadata,
    #[serde(default)]
    pub nodes: BTreeMap<String, ManifestNode>,
    #[serde(default)]
    pub sources: BTreeMap<String, ManifestNode>,
    #[serde(default)]
    pub exposures: BTreeMap<String, ManifestNode>,
    #[serde(default)]
    pub unit_tests: BTreeMap<String, ManifestNode>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ManifestMetadata {
    #[serde(default)]
    pub project_name: Option<String>,
    #[serde(default)]
    pub project_id: Option<String>,
    #[serde(default)]
    pub generated_at: Option<String>,
    #[serde(default)]
    pub adapter_type: Option<String>,
}

/// A node, source, exposure or unit test: dbt writes them with one set of
/// common fields and some of their own; the ones a kind lacks stay empty.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ManifestNode {
    #[serde(deserialize_with = "nullable")]
    pub unique_id: String,
    #[serde(deserialize_with = "nullable")]
    pub resource_type: String,
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    pub package_name: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub original_file_path: String,
    pub schema: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub description: String,
    #[serde(deserialize_with = "nullable")]
    pub fqn: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub tags: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub config: serde_json::Map<String, Value>,
    #[serde(deserialize_with = "nullable")]
    pub docs: NodeDocs,
    #[serde(deserialize_with = "nullable")]
    pub depends_on: DependsOn,
    #[serde(deserialize_with = "nullable")]
    pub columns: BTreeMap<String, ManifestColumn>,
    /// dbt ≥ 1.3 writes `raw_code`; older manifests `raw_sql`.
    #[serde(alias = "raw_sql")]
    pub raw_code: Option<String>,
    pub compiled_code: Option<String>,
    pub relation_name: Option<String>,
    /// Data tests.
    pub column_name: Option<String>,
    pub attached_node: Option<String>,
    pub test_metadata: Option<TestMetadata>,
    /// rdbt's static analysis: output columns and where each comes from.
    #[serde(deserialize_with = "nullable")]
    pub inferred_columns: Vec<ManifestColumn>,
    #[serde(deserialize_with = "nullable")]
    pub column_lineage: BTreeMap<String, Vec<LineageSource>>,
    /// Sources.
    pub source_name: Option<String>,
    pub source_description: Option<String>,
    pub loader: Option<String>,
    pub loaded_at_field: Option<String>,
    pub freshness: Value,
    pub identifier: Option<String>,
    /// Exposures.
    #[serde(rename = "type")]
    pub exposure_type: Option<String>,
    pub label: Option<String>,
    pub maturity: Option<String>,
    pub url: Option<String>,
    pub owner: Value,
}

impl ManifestNode {
    /// `docs: {show: false}` hides a node from the docs site.
    pub fn shown(&self) -> bool {
        self.docs.show != Some(false)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NodeDocs {
    pub show: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct DependsOn {
    pub nodes: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ManifestColumn {
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    pub description: Option<String>,
    pub data_type: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TestMetadata {
    pub name: Option<String>,
}

/// One source of a column: the parent node, its column, and how the value
/// is derived from it (`identity`, `transform`, ...).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct LineageSource {
    pub node: Option<String>,
    pub column: Option<String>,
    pub derivation: Value,
}

/// A field written as `null` reads as its default, as a missing one does.
fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dbt_manifest_reads_with_defaults_for_what_it_lacks() {
        let text = r#"{
            "metadata": {"project_name": "jaffle", "adapter_type": "postgres", "dbt_version": "1.9.0"},
            "nodes": {"model.jaffle.orders": {
                "unique_id": "model.jaffle.orders", "resource_type": "model", "name": "orders",
                "raw_sql": "select 1", "description": null, "tags": null, "columns": {"id": {"name": "id", "description": "key"}},
                "depends_on": {"nodes": ["seed.jaffle.raw"], "macros": []},
                "docs": {"show": false}, "config": {"materialized": "table"}
            }},
            "sources": {}, "exposures": {"exposure.jaffle.d": {"unique_id": "exposure.jaffle.d",
                "resource_type": "exposure", "name": "d", "type": "dashboard", "owner": {"name": "a"}}},
            "macros": {}, "docs": {}
        }"#;
        let m: ManifestFile = serde_json::from_str(text).unwrap();
        assert_eq!(m.metadata.project_name.as_deref(), Some("jaffle"));
        let orders = &m.nodes["model.jaffle.orders"];
        assert_eq!(orders.raw_code.as_deref(), Some("select 1"));
        assert!(!orders.shown());
        assert_eq!(orders.depends_on.nodes, ["seed.jaffle.raw"]);
        assert_eq!(orders.columns["id"].description.as_deref(), Some("key"));
        assert_eq!(orders.config["materialized"], "table");
        let d = &m.exposures["exposure.jaffle.d"];
        assert_eq!(d.exposure_type.as_deref(), Some("dashboard"));
        assert!(d.shown());
        assert!(m.unit_tests.is_empty());
    }
}
