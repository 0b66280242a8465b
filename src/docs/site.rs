//! The static site: an index every page needs at once (names, kinds, short
//! descriptions, column names, edges, graph layers) and the details of
//! nodes in shards loaded when a page asks for them. Data files are
//! scripts, not JSON, so the site also works opened from disk, where a
//! browser refuses `fetch()`.

use super::DocsError;
use crate::artifacts::results::{CatalogTable, FreshnessResult, ReadError, RunResult};
use crate::artifacts::{CatalogFile, FreshnessResults, RunResults};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Nodes per detail shard: small enough to load in a few milliseconds,
/// few enough files for 100,000 nodes.
const SHARD_SIZE: usize = 256;
const SHORT_DESCRIPTION: usize = 160;

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");

/// What was written.
#[derive(Debug)]
pub struct SiteSummary {
    pub dir: PathBuf,
    pub nodes: usize,
    pub dashboards: usize,
}

/// The artifacts the site is made of, as read from the target folder.
pub struct Artifacts {
    pub manifest: Value,
    pub catalog: CatalogFile,
    pub run_results: RunResults,
    pub sources: FreshnessResults,
    pub dashboards: Value,
}

impl Artifacts {
    /// Reads the artifacts under `target_dir`; only the manifest is required.
    pub fn read(target_dir: &Path) -> Result<Artifacts, DocsError> {
        fn read<T: for<'de> serde::Deserialize<'de> + Default>(
            target_dir: &Path,
            name: &str,
            required: bool,
        ) -> Result<T, DocsError> {
            let path = target_dir.join(name);
            match crate::artifacts::results::read::<T>(&path) {
                Ok(v) => Ok(v),
                Err(ReadError::Missing(_)) if !required => Ok(T::default()),
                Err(e) => Err(DocsError::Artifact {
                    message: match e {
                        ReadError::Missing(_) => "No such file or directory".to_string(),
                        ReadError::Invalid { message, .. } => message,
                    },
                    path,
                }),
            }
        }
        Ok(Artifacts {
            manifest: read(target_dir, "manifest.json", true)?,
            catalog: read(target_dir, "catalog.json", false)?,
            run_results: read(target_dir, "run_results.json", false)?,
            sources: read(target_dir, "sources.json", false)?,
            dashboards: read(target_dir, "dashboards.json", false)?,
        })
    }
}

/// Writes the site into `out` (replacing what a previous generate wrote
/// there, through a temporary folder, so a reader never sees half a site).
pub fn write_site(artifacts: &Artifacts, out: &Path) -> Result<SiteSummary, DocsError> {
    let data = build(artifacts);
    let parent = out.parent().unwrap_or(Path::new("."));
    let tmp = parent.join(format!(".docs.tmp{}", std::process::id()));
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |e: std::io::Error| DocsError::Write { path, source: e }
    };
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(tmp.join("data")).map_err(io(&tmp))?;
    let write = |name: &str, text: &str| -> Result<(), DocsError> {
        let path = tmp.join(name);
        std::fs::write(&path, text).map_err(io(&path))
    };
    write("index.html", INDEX_HTML)?;
    write("app.js", APP_JS)?;
    write("app.css", APP_CSS)?;
    write("data/index.js", &format!("rdbtIndex({});\n", data.index))?;
    for (k, shard) in data.shards.iter().enumerate() {
        write(
            &format!("data/shard-{k}.js"),
            &format!("rdbtShard({k},{});\n", Value::Array(shard.clone())),
        )?;
    }
    let old = parent.join(format!(".docs.old{}", std::process::id()));
    if out.exists() {
        std::fs::rename(out, &old).map_err(io(out))?;
    }
    std::fs::rename(&tmp, out).map_err(io(out))?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(SiteSummary {
        dir: out.to_path_buf(),
        nodes: data.nodes,
        dashboards: data.dashboards,
    })
}

struct SiteData {
    index: Value,
    shards: Vec<Vec<Value>>,
    nodes: usize,
    dashboards: usize,
}

/// Kinds drawn in the graph (tests belong to the node they test).
fn graph_kind(resource_type: &str) -> bool {
    matches!(
        resource_type,
        "model" | "seed" | "snapshot" | "source" | "exposure" | "analysis"
    )
}

fn build(a: &Artifacts) -> SiteData {
    let m = &a.manifest;
    let empty = Map::new();
    let section = |k: &str| m.get(k).and_then(Value::as_object).unwrap_or(&empty);
    // Graph nodes in a stable order: by kind, then id.
    let mut graph: Vec<&Value> = section("nodes")
        .values()
        .chain(section("sources").values())
        .chain(section("exposures").values())
        .filter(|n| graph_kind(n["resource_type"].as_str().unwrap_or_default()))
        // `docs: {show: false}` (a property or a config) hides a node from
        // the site, as it does from dbt's.
        .filter(|n| n["docs"]["show"] != Value::Bool(false))
        .collect();
    graph.sort_by(|x, y| x["unique_id"].as_str().cmp(&y["unique_id"].as_str()));
    let position: HashMap<&str, usize> = graph
        .iter()
        .enumerate()
        .map(|(i, n)| (n["unique_id"].as_str().unwrap_or_default(), i))
        .collect();
    let parents: Vec<Vec<usize>> = graph
        .iter()
        .map(|n| {
            let mut p: Vec<usize> = n["depends_on"]["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|d| position.get(d.as_str()?).copied())
                .collect();
            p.sort_unstable();
            p.dedup();
            p
        })
        .collect();
    let layers = layers(&parents);

    // Tests and their last results, by the node they test.
    let results: HashMap<&str, &RunResult> = a
        .run_results
        .results
        .iter()
        .map(|r| (r.unique_id.as_str(), r))
        .collect();
    let mut tests: HashMap<&str, Vec<Value>> = HashMap::new();
    for t in section("nodes")
        .values()
        .chain(section("unit_tests").values())
    {
        let kind = t["resource_type"].as_str().unwrap_or_default();
        if kind != "test" && kind != "unit_test" {
            continue;
        }
        let id = t["unique_id"].as_str().unwrap_or_default();
        let last = results.get(id);
        let entry = json!({
            "name": t["name"],
            "kind": kind,
            "column": t["column_name"],
            "test": t["test_metadata"]["name"],
            "status": last.map(|r| json!(r.status)).unwrap_or(Value::Null),
            "message": last.map(|r| json!(r.message)).unwrap_or(Value::Null),
        });
        let targets: Vec<&str> = match t["attached_node"].as_str() {
            Some(n) => vec![n],
            None => t["depends_on"]["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .take(1)
                .collect(),
        };
        for target in targets {
            tests.entry(target).or_default().push(entry.clone());
        }
    }

    // Column lineage both ways: a node's `column_lineage` names its parents'
    // columns; the reverse is gathered here so a page can go downstream.
    let mut column_children: HashMap<usize, BTreeMap<String, Vec<Value>>> = HashMap::new();
    for (i, n) in graph.iter().enumerate() {
        for (column, sources) in n["column_lineage"].as_object().into_iter().flatten() {
            for s in sources.as_array().into_iter().flatten() {
                let Some(&p) = s["node"].as_str().and_then(|id| position.get(id)) else {
                    continue;
                };
                let parent_column = s["column"].as_str().unwrap_or_default().to_string();
                column_children
                    .entry(p)
                    .or_default()
                    .entry(parent_column)
                    .or_default()
                    .push(json!([i, column, s["derivation"]]));
            }
        }
    }

    let catalog_entry = |id: &str, source: bool| -> Option<&CatalogTable> {
        if source {
            a.catalog.sources.get(id)
        } else {
            a.catalog.nodes.get(id)
        }
    };
    let freshness: HashMap<&str, &FreshnessResult> = a
        .sources
        .results
        .iter()
        .map(|r| (r.unique_id.as_str(), r))
        .collect();

    let mut nodes = Vec::with_capacity(graph.len());
    let mut shards: Vec<Vec<Value>> = Vec::new();
    for (i, n) in graph.iter().enumerate() {
        let id = n["unique_id"].as_str().unwrap_or_default();
        let kind = n["resource_type"].as_str().unwrap_or_default();
        let catalog = catalog_entry(id, kind == "source");
        let mut columns: Vec<Value> = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        // Declared columns first (with descriptions), then what the
        // warehouse or static analysis knows.
        let declared = n["columns"].as_object().cloned().unwrap_or_default();
        let typed: Vec<(String, String)> = match catalog.map(|c| &c.columns) {
            Some(c) => {
                let mut v: Vec<(u64, String, String)> = c
                    .values()
                    .map(|c| (c.index, c.name.clone(), c.data_type.clone()))
                    .collect();
                v.sort();
                v.into_iter().map(|(_, n, t)| (n, t)).collect()
            }
            None => n["inferred_columns"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    (
                        c["name"].as_str().unwrap_or_default().to_string(),
                        c["data_type"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect(),
        };
        let column_tests = tests.get(id);
        let mut push_column = |name: &str, data_type: String, description: &Value| {
            if seen.iter().any(|s| s.eq_ignore_ascii_case(name)) {
                return;
            }
            seen.push(name.to_string());
            let lineage: Vec<Value> = n["column_lineage"][name]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| {
                    let p = *position.get(s["node"].as_str()?)?;
                    Some(json!([p, s["column"], s["derivation"]]))
                })
                .collect();
            let down = column_children
                .get(&i)
                .and_then(|c| c.get(name))
                .cloned()
                .unwrap_or_default();
            let tests: Vec<Value> = column_tests
                .into_iter()
                .flatten()
                .filter(|t| {
                    t["column"]
                        .as_str()
                        .is_some_and(|c| c.eq_ignore_ascii_case(name))
                })
                .map(|t| json!([t["test"], t["status"]]))
                .collect();
            columns.push(json!({
                "name": name,
                "type": data_type,
                "description": description,
                "up": lineage,
                "down": down,
                "tests": tests,
            }));
        };
        let type_of = |name: &str| {
            typed
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, t)| t.clone())
        };
        for (name, c) in &declared {
            let data_type = type_of(name)
                .or_else(|| c["data_type"].as_str().map(str::to_string))
                .unwrap_or_default();
            push_column(name, data_type, &c["description"]);
        }
        for (name, t) in &typed {
            push_column(name, t.clone(), &Value::Null);
        }
        let description = n["description"].as_str().unwrap_or_default();
        let short: String = description.chars().take(SHORT_DESCRIPTION).collect();
        let column_names: Vec<&str> = columns.iter().filter_map(|c| c["name"].as_str()).collect();
        let tags = n["tags"]
            .as_array()
            .map(|t| {
                t.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        let path = n["original_file_path"].as_str().unwrap_or_default();
        let materialized = n["config"]["materialized"].as_str().unwrap_or_default();
        let fqn = n["fqn"]
            .as_array()
            .map(|f| {
                f.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(".")
            })
            .unwrap_or_default();
        let display_name = match kind {
            "source" => format!(
                "{}.{}",
                n["source_name"].as_str().unwrap_or_default(),
                n["name"].as_str().unwrap_or_default()
            ),
            _ => n["name"].as_str().unwrap_or_default().to_string(),
        };
        nodes.push(json!([
            id,
            display_name,
            kind,
            n["package_name"],
            path,
            n["schema"],
            materialized,
            tags,
            short,
            column_names.join(" "),
            parents[i],
            layers[i],
            fqn,
        ]));
        let detail = json!({
            "description": description,
            "columns": columns,
            "raw": n["raw_code"].as_str().or(n["raw_sql"].as_str()),
            "compiled": n["compiled_code"],
            "relation": n["relation_name"],
            "config": config_summary(&n["config"]),
            "tests": tests.get(id).cloned().unwrap_or_default(),
            "catalog": catalog.map(|c| json!({
                "kind": c.metadata.kind,
                "rows": c.stat("row_count"),
                "bytes": c.stat("num_bytes"),
                "comment": c.metadata.comment,
            })),
            "source": (kind == "source").then(|| json!({
                "source_name": n["source_name"],
                "source_description": n["source_description"],
                "loader": n["loader"],
                "loaded_at_field": n["loaded_at_field"],
                "freshness": n["freshness"],
                "identifier": n["identifier"],
                "last": freshness.get(id).map(|r| json!({
                    "status": r.status,
                    "max_loaded_at": r.max_loaded_at,
                    "snapshotted_at": r.snapshotted_at,
                    "age": r.max_loaded_at_time_ago_in_s,
                })),
            })),
            "exposure": (kind == "exposure").then(|| json!({
                "type": n["type"],
                "label": n["label"],
                "maturity": n["maturity"],
                "url": n["url"],
                "owner": n["owner"],
                "dashboard": a.dashboards[id],
            })),
            "result": results.get(id).map(|r| json!({
                "status": r.status,
                "message": r.message,
                "time": r.execution_time,
            })),
        });
        if i % SHARD_SIZE == 0 {
            shards.push(Vec::with_capacity(SHARD_SIZE));
        }
        if let Some(last) = shards.last_mut() {
            last.push(detail);
        }
    }
    let metadata = &m["metadata"];
    let dashboards: Vec<usize> = graph
        .iter()
        .enumerate()
        .filter(|(_, n)| {
            a.dashboards[n["unique_id"].as_str().unwrap_or_default()]["charts"]
                .as_array()
                .is_some_and(|c| !c.is_empty())
        })
        .map(|(i, _)| i)
        .collect();
    let counts = |k: &str| graph.iter().filter(|n| n["resource_type"] == k).count();
    let index = json!({
        "project": metadata["project_name"].as_str().or(m["metadata"]["project_id"].as_str()),
        "generated_at": metadata["generated_at"],
        "adapter": metadata["adapter_type"],
        "catalog_at": a.catalog.metadata.generated_at,
        "run_at": a.run_results.metadata.generated_at,
        "shard_size": SHARD_SIZE,
        "counts": {
            "model": counts("model"), "source": counts("source"), "seed": counts("seed"),
            "snapshot": counts("snapshot"), "exposure": counts("exposure"),
            "test": tests.values().map(Vec::len).sum::<usize>(),
        },
        "dashboards": dashboards,
        "nodes": nodes,
    });
    SiteData {
        index,
        shards,
        nodes: graph.len(),
        dashboards: dashboards.len(),
    }
}

/// The configuration a reader cares about, leaving out empty defaults.
fn config_summary(config: &Value) -> Value {
    let mut out = Map::new();
    for (k, v) in config.as_object().into_iter().flatten() {
        let empty = match v {
            Value::Null => true,
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
            Value::String(s) => s.is_empty(),
            _ => false,
        };
        if !empty {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

/// Longest-path layer of every node (sources at 0), for the whole-project
/// view; cycles (impossible in a valid project) fall back to layer 0.
fn layers(parents: &[Vec<usize>]) -> Vec<u32> {
    let n = parents.len();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut pending: Vec<usize> = vec![0; n];
    for (i, ps) in parents.iter().enumerate() {
        pending[i] = ps.len();
        for &p in ps {
            children[p].push(i);
        }
    }
    let mut layer = vec![0u32; n];
    let mut ready: Vec<usize> = (0..n).filter(|&i| pending[i] == 0).collect();
    while let Some(i) = ready.pop() {
        for &c in &children[i] {
            layer[c] = layer[c].max(layer[i] + 1);
            pending[c] -= 1;
            if pending[c] == 0 {
                ready.push(c);
            }
        }
    }
    layer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_follow_the_longest_path() {
        // 0 -> 1 -> 3, 0 -> 3, 2 alone
        let parents = vec![vec![], vec![0], vec![], vec![0, 1]];
        assert_eq!(layers(&parents), vec![0, 1, 0, 2]);
    }
}
