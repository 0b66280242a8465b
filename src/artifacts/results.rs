//! The artifacts other commands read back, as types: `run_results.json`
//! (`rdbt retry`, the docs site), `sources.json` (freshness) and
//! `catalog.json` (the docs site). Fields rdbt does not read are left out;
//! missing ones take their defaults, so files from dbt read too.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// When an artifact was written.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Metadata {
    #[serde(default)]
    pub generated_at: Option<String>,
}

/// `run_results.json`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RunResults {
    #[serde(default)]
    pub metadata: Metadata,
    #[serde(default)]
    pub results: Vec<RunResult>,
    /// The command's arguments (`which`: run, build, ...).
    #[serde(default)]
    pub args: serde_json::Value,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RunResult {
    pub unique_id: String,
    pub status: String,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub execution_time: f64,
    /// A microbatch model's batches.
    #[serde(default)]
    pub batch_results: Option<BatchResults>,
}

/// dbt's `batch_results` of a microbatch model: the `[start, end)` windows
/// written and failed (`rdbt retry` runs only the failed ones).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchResults {
    #[serde(default)]
    pub successful: Vec<(String, String)>,
    #[serde(default)]
    pub failed: Vec<(String, String)>,
}

/// `sources.json` (`rdbt source freshness`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FreshnessResults {
    #[serde(default)]
    pub results: Vec<FreshnessResult>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct FreshnessResult {
    pub unique_id: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub max_loaded_at: Option<String>,
    #[serde(default)]
    pub snapshotted_at: Option<String>,
    #[serde(default)]
    pub max_loaded_at_time_ago_in_s: Option<f64>,
}

/// `catalog.json`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CatalogFile {
    #[serde(default)]
    pub metadata: Metadata,
    #[serde(default)]
    pub nodes: BTreeMap<String, CatalogTable>,
    #[serde(default)]
    pub sources: BTreeMap<String, CatalogTable>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct CatalogTable {
    #[serde(default)]
    pub metadata: CatalogMetadata,
    #[serde(default)]
    pub columns: BTreeMap<String, CatalogTableColumn>,
    #[serde(default)]
    pub stats: BTreeMap<String, CatalogStat>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct CatalogMetadata {
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct CatalogTableColumn {
    pub name: String,
    #[serde(rename = "type", default)]
    pub data_type: String,
    #[serde(default)]
    pub index: u64,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct CatalogStat {
    #[serde(default)]
    pub value: serde_json::Value,
}

impl CatalogTable {
    /// A statistic's value (`row_count`, `num_bytes`), null when absent.
    pub fn stat(&self, name: &str) -> serde_json::Value {
        self.stats
            .get(name)
            .map(|s| s.value.clone())
            .unwrap_or_default()
    }
}

/// Why an artifact could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("{0} is missing")]
    Missing(String),
    #[error("cannot read {path}: {message}")]
    Invalid { path: String, message: String },
}

/// Reads an artifact as `T`; a missing file is [`ReadError::Missing`].
pub fn read<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, ReadError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ReadError::Missing(path.display().to_string()));
        }
        Err(e) => {
            return Err(ReadError::Invalid {
                path: path.display().to_string(),
                message: e.to_string(),
            });
        }
    };
    serde_json::from_slice(&bytes).map_err(|e| ReadError::Invalid {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_rdbt_and_dbt_write() {
        let r: RunResults = serde_json::from_str(
            r#"{"metadata": {"generated_at": "t"}, "results": [{"unique_id": "model.p.m", "status": "error", "message": null, "execution_time": 0.5, "batch_results": {"successful": [["a", "b"]], "failed": []}, "timing": []}], "args": {"which": "build"}}"#,
        )
        .unwrap();
        assert_eq!(r.results[0].status, "error");
        assert_eq!(
            r.results[0]
                .batch_results
                .as_ref()
                .unwrap()
                .successful
                .len(),
            1
        );
        assert_eq!(r.args["which"], "build");
        let c: CatalogFile = serde_json::from_str(
            r#"{"nodes": {"model.p.m": {"metadata": {"type": "VIEW", "comment": null}, "columns": {"ID": {"name": "id", "type": "bigint", "index": 1}}, "stats": {"row_count": {"value": 3}}}}, "sources": {}}"#,
        )
        .unwrap();
        let m = &c.nodes["model.p.m"];
        assert_eq!(m.metadata.kind.as_deref(), Some("VIEW"));
        assert_eq!(m.stat("row_count"), 3);
        assert!(m.stat("num_bytes").is_null());
    }
}
