//! `state:` selection: compares this parse with the manifest of an earlier
//! run (`--state DIR`) and selects only what really changed.

use crate::compile::{ParsedNode, ParsedProject};
use crate::diagnostics::{Diagnostic, codes};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// What the earlier manifest said about each node.
pub struct PreviousState {
    nodes: BTreeMap<String, OldNode>,
    macros: BTreeMap<String, String>,
    /// `run_results.json` beside the manifest: each node's last status.
    results: Option<BTreeMap<String, String>>,
    /// `sources.json` beside the manifest: each source's `max_loaded_at`.
    freshness: Option<BTreeMap<String, String>>,
    /// This project's own `target/sources.json` (the freshness just
    /// checked), for `source_status:`.
    current_freshness: Option<BTreeMap<String, String>>,
    dir: std::path::PathBuf,
}

/// `unique_id → field` of each entry of an artifact's `results`.
/// Each node's last status, from a `run_results.json`.
fn statuses_of(path: &Path) -> Option<BTreeMap<String, String>> {
    let results: crate::artifacts::RunResults = crate::artifacts::results::read(path).ok()?;
    Some(
        results
            .results
            .into_iter()
            .map(|r| (r.unique_id, r.status))
            .collect(),
    )
}

/// Each source's newest `max_loaded_at`, from a `sources.json`.
fn loaded_at_of(path: &Path) -> Option<BTreeMap<String, String>> {
    let results: crate::artifacts::FreshnessResults = crate::artifacts::results::read(path).ok()?;
    Some(
        results
            .results
            .into_iter()
            .filter_map(|r| Some((r.unique_id, r.max_loaded_at?)))
            .collect(),
    )
}

struct OldNode {
    checksum: String,
    config: serde_json::Value,
    relation: (String, String, String),
    contract: serde_json::Value,
    macros: Vec<String>,
}

impl PreviousState {
    pub fn load(dir: &Path) -> Result<Self, Diagnostic> {
        let path = dir.join("manifest.json");
        let bytes = std::fs::read(&path).map_err(|e| {
            Diagnostic::error(codes::STATE, format!("cannot read {}: {e}", path.display())).with_help("--state must name a folder holding manifest.json from an earlier `rdbt parse`, `compile` or `build`")
        })?;
        let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
            Diagnostic::error(
                codes::STATE,
                format!("{} is not a valid manifest: {e}", path.display()),
            )
        })?;
        let mut nodes = BTreeMap::new();
        for section in ["nodes", "sources", "exposures"] {
            if let Some(map) = json.get(section).and_then(|v| v.as_object()) {
                for (id, n) in map {
                    let s = |k: &str| {
                        n.get(k)
                            .and_then(|v| v.as_str())
                            .unwrap_or_default()
                            .to_string()
                    };
                    nodes.insert(
                        id.clone(),
                        OldNode {
                            checksum: n
                                .pointer("/checksum/checksum")
                                .and_then(|v| v.as_str())
                                .unwrap_or_default()
                                .to_string(),
                            config: n.get("config").cloned().unwrap_or_default(),
                            relation: if !matches!(
                                s("resource_type").as_str(),
                                "model" | "seed" | "snapshot" | "source" | "test"
                            ) {
                                Default::default()
                            } else {
                                (
                                    s("database"),
                                    s("schema"),
                                    if section == "sources" {
                                        s("identifier")
                                    } else {
                                        s("alias")
                                    },
                                )
                            },
                            contract: n.pointer("/config/contract").cloned().unwrap_or_default(),
                            macros: n
                                .pointer("/depends_on/macros")
                                .and_then(|m| m.as_array())
                                .map(|a| {
                                    a.iter()
                                        .filter_map(|x| x.as_str().map(str::to_string))
                                        .collect()
                                })
                                .unwrap_or_default(),
                        },
                    );
                }
            }
        }
        let macros = json
            .get("macros")
            .and_then(|m| m.as_object())
            .map(|m| {
                m.iter()
                    .map(|(id, v)| {
                        (
                            id.clone(),
                            v.get("macro_sql")
                                .and_then(|s| s.as_str())
                                .unwrap_or_default()
                                .to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(PreviousState {
            nodes,
            macros,
            results: statuses_of(&dir.join("run_results.json")),
            freshness: loaded_at_of(&dir.join("sources.json")),
            current_freshness: None,
            dir: dir.to_path_buf(),
        })
    }

    /// Reads this run's `sources.json` (in `target_dir`), for
    /// `source_status:`.
    /// The (database, schema, identifier) a node had in the state, when it
    /// is a relation there.
    pub fn relation_of(&self, id: &str) -> Option<(String, String, String)> {
        self.nodes
            .get(id)
            .map(|n| n.relation.clone())
            .filter(|r| !r.2.is_empty())
    }

    /// The materialization a node had in the state.
    pub fn materialized_of(&self, id: &str) -> Option<String> {
        self.nodes
            .get(id)?
            .config
            .get("materialized")
            .and_then(|v| v.as_str())
            .map(str::to_string)
    }

    /// The folder the state was read from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn with_current_freshness(mut self, target_dir: &Path) -> Self {
        self.current_freshness = loaded_at_of(&target_dir.join("sources.json"));
        self
    }

    /// Ids of the nodes whose status in the earlier run was `status`
    /// (`result:error`, `result:fail`, ...).
    pub fn select_result(&self, status: &str) -> Result<BTreeSet<String>, Diagnostic> {
        let results = self.results.as_ref().ok_or_else(|| {
            Diagnostic::error(
                codes::STATE,
                format!(
                    "`result:{status}` needs the run_results.json of an earlier run, and {} has none",
                    self.dir.display()
                ),
            )
            .with_help("point --state at the target folder of a run (copy it aside before the next run writes over it)")
        })?;
        Ok(results
            .iter()
            .filter(|(_, s)| s.eq_ignore_ascii_case(status))
            .map(|(id, _)| id.clone())
            .collect())
    }

    /// Sources whose newest row is newer now (`fresher`) than in the
    /// earlier `sources.json`, as dbt's `source_status:fresher` selects:
    /// a source new since then counts as fresher.
    pub fn select_fresher(&self, what: &str) -> Result<BTreeSet<String>, Diagnostic> {
        let missing = |file: &str, dir: &Path| {
            Diagnostic::error(
                codes::STATE,
                format!(
                    "`source_status:{what}` needs {file} in {}, and there is none",
                    dir.display()
                ),
            )
            .with_help(
                "run `rdbt source freshness` now, and pass --state the target folder of an earlier one",
            )
        };
        let old = self
            .freshness
            .as_ref()
            .ok_or_else(|| missing("sources.json", &self.dir))?;
        let new = self
            .current_freshness
            .as_ref()
            .ok_or_else(|| missing("sources.json", Path::new("target")))?;
        Ok(new
            .iter()
            .filter(|(id, loaded)| match old.get(*id) {
                None => true,
                Some(before) => newer(loaded, before),
            })
            .map(|(id, _)| id.clone())
            .collect())
    }

    /// Ids of the nodes matching `state:<what>`.
    pub fn select(&self, what: &str, parsed: &ParsedProject) -> BTreeSet<String> {
        let changed_macros: BTreeSet<&String> = parsed
            .macros
            .values()
            .filter(|m| {
                self.macros
                    .get(&m.unique_id)
                    .is_none_or(|old| old.as_str() != &*m.macro_sql)
            })
            .map(|m| &m.unique_id)
            .collect();
        parsed
            .nodes
            .values()
            .filter(|n| {
                let old = self.nodes.get(&n.unique_id);
                match what {
                    "new" => old.is_none(),
                    "old" => old.is_some(),
                    "modified.body" => old.is_some_and(|o| o.checksum != n.checksum),
                    "modified.configs" => old.is_some_and(|o| configs_differ(o, n)),
                    "modified.relation" => old.is_some_and(|o| o.relation != relation_of(n)),
                    "modified.contract" => old.is_some_and(|o| {
                        o.contract != n.config.get("contract").cloned().unwrap_or_default()
                    }),
                    "modified.macros" => old.is_some_and(|o| {
                        n.macros.iter().any(|m| changed_macros.contains(m))
                            || o.macros.len() != n.macros.len()
                    }),
                    "modified" => match old {
                        None => true,
                        Some(o) => {
                            o.checksum != n.checksum
                                || configs_differ(o, n)
                                || o.relation != relation_of(n)
                                || n.macros.iter().any(|m| changed_macros.contains(m))
                        }
                    },
                    "unmodified" => old.is_some_and(|o| {
                        o.checksum == n.checksum
                            && !configs_differ(o, n)
                            && o.relation == relation_of(n)
                    }),
                    _ => false,
                }
            })
            .map(|n| n.unique_id.clone())
            .collect()
    }
}

/// Whether timestamp `a` is after `b` (RFC 3339, or text compared as text).
fn newer(a: &str, b: &str) -> bool {
    match (
        chrono::DateTime::parse_from_rfc3339(a),
        chrono::DateTime::parse_from_rfc3339(b),
    ) {
        (Ok(x), Ok(y)) => x > y,
        _ => a > b,
    }
}

/// Where a node is built; nodes that build nothing (exposures, metrics,
/// semantic models, unit tests) have no relation to compare.
fn relation_of(n: &ParsedNode) -> (String, String, String) {
    use crate::project::ResourceType;
    match n.resource_type {
        ResourceType::Model
        | ResourceType::Seed
        | ResourceType::Snapshot
        | ResourceType::Source
        | ResourceType::Test => (n.database.clone(), n.schema.clone(), n.alias.clone()),
        _ => Default::default(),
    }
}

fn configs_differ(old: &OldNode, n: &ParsedNode) -> bool {
    // Compare only keys a user sets; dbt adds defaults we may not write.
    let new = serde_json::Value::Object((*n.config).clone());
    let Some(old_map) = old.config.as_object() else {
        return true;
    };
    let Some(new_map) = new.as_object() else {
        return true;
    };
    let keys: BTreeSet<&String> = old_map.keys().chain(new_map.keys()).collect();
    keys.into_iter().any(|k| {
        let a = old_map.get(k).filter(|v| !is_empty(v));
        let b = new_map.get(k).filter(|v| !is_empty(v));
        a != b
    })
}

fn is_empty(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Null => true,
        serde_json::Value::Array(a) => a.is_empty(),
        serde_json::Value::Object(o) => o.is_empty(),
        _ => false,
    }
}
