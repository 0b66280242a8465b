//! The static site: an index every page needs at once (names, kinds, short
//! descriptions, column names, edges, graph layers) and the details of
//! nodes in shards loaded when a page asks for them. Data files are
//! scripts, not JSON, so the site also works opened from disk, where a
//! browser refuses `fetch()`.

use super::DocsError;
use crate::artifacts::manifest::ManifestNode;
use crate::artifacts::results::{CatalogTable, FreshnessResult, ReadError, RunResult};
use crate::artifacts::{CatalogFile, FreshnessResults, ManifestFile, RunResults};
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
    pub manifest: ManifestFile,
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

/// The nodes drawn, in a stable order (by id), with their parents and
/// layers as positions in that order.
struct Graph<'a> {
    nodes: Vec<&'a ManifestNode>,
    position: HashMap<&'a str, usize>,
    parents: Vec<Vec<usize>>,
    layers: Vec<u32>,
}

impl<'a> Graph<'a> {
    fn of(m: &'a ManifestFile) -> Graph<'a> {
        let mut nodes: Vec<&ManifestNode> = m
            .nodes
            .values()
            .chain(m.sources.values())
            .chain(m.exposures.values())
            .filter(|n| graph_kind(&n.resource_type))
            // `docs: {show: false}` (a property or a config) hides a node
            // from the site, as it does from dbt's.
            .filter(|n| n.shown())
            .collect();
        nodes.sort_by(|x, y| x.unique_id.cmp(&y.unique_id));
        let position: HashMap<&str, usize> = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.unique_id.as_str(), i))
            .collect();
        let parents: Vec<Vec<usize>> = nodes
            .iter()
            .map(|n| {
                let mut p: Vec<usize> = n
                    .depends_on
                    .nodes
                    .iter()
                    .filter_map(|d| position.get(d.as_str()).copied())
                    .collect();
                p.sort_unstable();
                p.dedup();
                p
            })
            .collect();
        let layers = layers(&parents);
        Graph {
            nodes,
            position,
            parents,
            layers,
        }
    }
}

/// Data tests and unit tests with their last results, by the node they
/// test (a data test's attached node, else its first parent).
fn tests_by_node<'a>(
    m: &'a ManifestFile,
    results: &HashMap<&str, &RunResult>,
) -> HashMap<&'a str, Vec<Value>> {
    let mut tests: HashMap<&str, Vec<Value>> = HashMap::new();
    for t in m.nodes.values().chain(m.unit_tests.values()) {
        let kind = t.resource_type.as_str();
        if kind != "test" && kind != "unit_test" {
            continue;
        }
        let last = results.get(t.unique_id.as_str());
        let entry = json!({
            "name": t.name,
            "kind": kind,
            "column": t.column_name,
            "test": t.test_metadata.as_ref().and_then(|m| m.name.as_ref()),
            "status": last.map(|r| json!(r.status)).unwrap_or(Value::Null),
            "message": last.map(|r| json!(r.message)).unwrap_or(Value::Null),
        });
        let target = t
            .attached_node
            .as_deref()
            .or_else(|| t.depends_on.nodes.first().map(String::as_str));
        if let Some(target) = target {
            tests.entry(target).or_default().push(entry);
        }
    }
    tests
}

/// Column lineage downstream: a node's `column_lineage` names its parents'
/// columns; the reverse is gathered here so a page can go downstream.
/// By parent position, then parent column: `[child, column, derivation]`.
fn column_children(graph: &Graph) -> HashMap<usize, BTreeMap<String, Vec<Value>>> {
    let mut children: HashMap<usize, BTreeMap<String, Vec<Value>>> = HashMap::new();
    for (i, n) in graph.nodes.iter().enumerate() {
        for (column, sources) in &n.column_lineage {
            for s in sources {
                let Some(&p) = s.node.as_deref().and_then(|id| graph.position.get(id)) else {
                    continue;
                };
                children
                    .entry(p)
                    .or_default()
                    .entry(s.column.clone().unwrap_or_default())
                    .or_default()
                    .push(json!([i, column, s.derivation]));
            }
        }
    }
    children
}

/// What the site knows of one node besides the manifest.
struct Known<'a> {
    catalog: Option<&'a CatalogTable>,
    tests: Option<&'a Vec<Value>>,
    down: Option<&'a BTreeMap<String, Vec<Value>>>,
}

/// A node's columns: declared ones first (with descriptions), then what
/// the warehouse (catalog) or static analysis knows; each with its type,
/// lineage both ways and tests.
fn node_columns(n: &ManifestNode, graph: &Graph, known: &Known) -> Vec<Value> {
    let typed: Vec<(String, String)> = match known.catalog.map(|c| &c.columns) {
        Some(c) => {
            let mut v: Vec<(u64, String, String)> = c
                .values()
                .map(|c| (c.index, c.name.clone(), c.data_type.clone()))
                .collect();
            v.sort();
            v.into_iter().map(|(_, n, t)| (n, t)).collect()
        }
        None => n
            .inferred_columns
            .iter()
            .map(|c| (c.name.clone(), c.data_type.clone().unwrap_or_default()))
            .collect(),
    };
    let type_of = |name: &str| {
        typed
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, t)| t.clone())
    };
    let mut columns: Vec<Value> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    let mut push_column = |name: &str, data_type: String, description: Option<&String>| {
        if seen.iter().any(|s| s.eq_ignore_ascii_case(name)) {
            return;
        }
        seen.push(name.to_string());
        let up: Vec<Value> = n
            .column_lineage
            .get(name)
            .into_iter()
            .flatten()
            .filter_map(|s| {
                let p = *graph.position.get(s.node.as_deref()?)?;
                Some(json!([p, s.column, s.derivation]))
            })
            .collect();
        let down = known
            .down
            .and_then(|c| c.get(name))
            .cloned()
            .unwrap_or_default();
        let tests: Vec<Value> = known
            .tests
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
            "up": up,
            "down": down,
            "tests": tests,
        }));
    };
    for (name, c) in &n.columns {
        let data_type = type_of(name)
            .or_else(|| c.data_type.clone())
            .unwrap_or_default();
        push_column(name, data_type, c.description.as_ref());
    }
    for (name, t) in &typed {
        push_column(name, t.clone(), None);
    }
    columns
}

/// A node's row in the index: what lists, search and the graph need.
fn index_row(n: &ManifestNode, i: usize, graph: &Graph, columns: &[Value]) -> Value {
    let short: String = n.description.chars().take(SHORT_DESCRIPTION).collect();
    let column_names: Vec<&str> = columns.iter().filter_map(|c| c["name"].as_str()).collect();
    let display_name = match n.resource_type.as_str() {
        "source" => format!(
            "{}.{}",
            n.source_name.as_deref().unwrap_or_default(),
            n.name
        ),
        _ => n.name.clone(),
    };
    json!([
        n.unique_id,
        display_name,
        n.resource_type,
        n.package_name,
        n.original_file_path,
        n.schema,
        n.config
            .get("materialized")
            .and_then(Value::as_str)
            .unwrap_or_default(),
        n.tags.join(","),
        short,
        column_names.join(" "),
        graph.parents[i],
        graph.layers[i],
        n.fqn.join("."),
    ])
}

/// A node's page: description, columns, code, config, tests, and what the
/// catalog, the last run and the last freshness check said of it.
fn node_detail(
    n: &ManifestNode,
    a: &Artifacts,
    known: &Known,
    columns: Vec<Value>,
    last_run: Option<&&RunResult>,
    freshness: Option<&&FreshnessResult>,
) -> Value {
    let kind = n.resource_type.as_str();
    json!({
        "description": n.description,
        "columns": columns,
        "raw": n.raw_code,
        "compiled": n.compiled_code,
        "relation": n.relation_name,
        "config": config_summary(&n.config),
        "tests": known.tests.cloned().unwrap_or_default(),
        "catalog": known.catalog.map(|c| json!({
            "kind": c.metadata.kind,
            "rows": c.stat("row_count"),
            "bytes": c.stat("num_bytes"),
            "comment": c.metadata.comment,
        })),
        "source": (kind == "source").then(|| json!({
            "source_name": n.source_name,
            "source_description": n.source_description,
            "loader": n.loader,
            "loaded_at_field": n.loaded_at_field,
            "freshness": n.freshness,
            "identifier": n.identifier,
            "last": freshness.map(|r| json!({
                "status": r.status,
                "max_loaded_at": r.max_loaded_at,
                "snapshotted_at": r.snapshotted_at,
                "age": r.max_loaded_at_time_ago_in_s,
            })),
        })),
        "exposure": (kind == "exposure").then(|| json!({
            "type": n.exposure_type,
            "label": n.label,
            "maturity": n.maturity,
            "url": n.url,
            "owner": n.owner,
            "dashboard": a.dashboards[n.unique_id.as_str()],
        })),
        "result": last_run.map(|r| json!({
            "status": r.status,
            "message": r.message,
            "time": r.execution_time,
        })),
    })
}

fn build(a: &Artifacts) -> SiteData {
    let m = &a.manifest;
    let graph = Graph::of(m);
    let results: HashMap<&str, &RunResult> = a
        .run_results
        .results
        .iter()
        .map(|r| (r.unique_id.as_str(), r))
        .collect();
    let tests = tests_by_node(m, &results);
    let children = column_children(&graph);
    let freshness: HashMap<&str, &FreshnessResult> = a
        .sources
        .results
        .iter()
        .map(|r| (r.unique_id.as_str(), r))
        .collect();

    let mut nodes = Vec::with_capacity(graph.nodes.len());
    let mut shards: Vec<Vec<Value>> = Vec::new();
    for (i, n) in graph.nodes.iter().enumerate() {
        let id = n.unique_id.as_str();
        let known = Known {
            catalog: if n.resource_type == "source" {
                a.catalog.sources.get(id)
            } else {
                a.catalog.nodes.get(id)
            },
            tests: tests.get(id),
            down: children.get(&i),
        };
        let columns = node_columns(n, &graph, &known);
        nodes.push(index_row(n, i, &graph, &columns));
        let detail = node_detail(n, a, &known, columns, results.get(id), freshness.get(id));
        if i % SHARD_SIZE == 0 {
            shards.push(Vec::with_capacity(SHARD_SIZE));
        }
        if let Some(last) = shards.last_mut() {
            last.push(detail);
        }
    }
    let dashboards: Vec<usize> = graph
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| {
            a.dashboards[n.unique_id.as_str()]["charts"]
                .as_array()
                .is_some_and(|c| !c.is_empty())
        })
        .map(|(i, _)| i)
        .collect();
    let counts = |k: &str| graph.nodes.iter().filter(|n| n.resource_type == k).count();
    let metadata = &m.metadata;
    let index = json!({
        "project": metadata.project_name.as_ref().or(metadata.project_id.as_ref()),
        "generated_at": metadata.generated_at,
        "adapter": metadata.adapter_type,
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
        nodes: graph.nodes.len(),
        dashboards: dashboards.len(),
    }
}

/// The configuration a reader cares about, leaving out empty defaults.
fn config_summary(config: &Map<String, Value>) -> Value {
    let mut out = Map::new();
    for (k, v) in config {
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
