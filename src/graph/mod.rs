//! The DAG: nodes from the parse, edges from the `ref()`/`source()` calls
//! recorded while rendering. Unknown names and cycles are reported at the
//! call site. Selection (`-s`, `--exclude`, selectors.yml) lives here too.

pub mod columns;
mod manifest;
mod selection;
mod selector;
mod selectors_file;
mod state;

pub use manifest::{InvocationFields, manifest_json, refresh_invocation_fields, write_manifest};
pub use selection::select;
pub use selector::{IndirectSelection, Selection, SelectionInput};
pub use state::PreviousState;

use crate::compile::{ParsedNode, ParsedProject, RefIndex};
use crate::diagnostics::{Diagnostic, Diagnostics, Location, closest_names, codes, did_you_mean};
use crate::project::ResourceType;
use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::{BTreeSet, HashMap};

/// The project's graph. Edges point from parent to child; nodes are added
/// in the order of their ids, so a node's index is found by binary search
/// (a map from 30,000 cloned ids to indices cost more to build than every
/// lookup a parse makes).
pub struct Dag {
    pub graph: DiGraph<String, ()>,
}

impl Dag {
    pub fn node_index(&self, id: &str) -> Option<NodeIndex> {
        index_in_sorted(self.graph.raw_nodes(), id, |n| n.weight.as_str()).map(NodeIndex::new)
    }

    pub fn parents(&self, id: &str) -> Vec<&str> {
        self.neighbors(id, Direction::Incoming)
    }

    pub fn children(&self, id: &str) -> Vec<&str> {
        self.neighbors(id, Direction::Outgoing)
    }

    /// Parents (`Incoming`) or children (`Outgoing`), sorted, each once.
    pub fn neighbors(&self, id: &str, dir: Direction) -> Vec<&str> {
        match self.node_index(id) {
            Some(ix) => self.neighbors_at(ix, dir),
            None => Vec::new(),
        }
    }

    /// [`Dag::neighbors`] of a node known by its index.
    pub fn neighbors_at(&self, ix: NodeIndex, dir: Direction) -> Vec<&str> {
        // Indices follow id order, so sorting them sorts the ids.
        let mut v: Vec<NodeIndex> = self.graph.neighbors_directed(ix, dir).collect();
        v.sort_unstable();
        v.dedup();
        v.into_iter().map(|n| self.graph[n].as_str()).collect()
    }

    /// Ancestors (`Incoming`) or descendants (`Outgoing`) up to `depth` hops.
    pub fn reachable(&self, id: &str, dir: Direction, depth: Option<usize>) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let Some(start) = self.node_index(id) else {
            return out;
        };
        let mut frontier = vec![start];
        let mut seen = std::collections::HashSet::from([start]);
        let mut level = 0;
        while !frontier.is_empty() && depth.is_none_or(|d| level < d) {
            let mut next = Vec::new();
            for ix in frontier {
                for n in self.graph.neighbors_directed(ix, dir) {
                    if seen.insert(n) {
                        out.insert(self.graph[n].clone());
                        next.push(n);
                    }
                }
            }
            frontier = next;
            level += 1;
        }
        out
    }

    /// Every node id in an order where parents come before children.
    pub fn topological_order(&self) -> Vec<String> {
        petgraph::algo::toposort(&self.graph, None)
            .map(|v| v.into_iter().map(|ix| self.graph[ix].clone()).collect())
            .unwrap_or_default()
    }
}

/// Resolves every recorded call into `depends_on` and builds the DAG.
pub fn build(parsed: &mut ParsedProject) -> Result<Dag, Diagnostics> {
    let step = std::time::Instant::now();
    let index = RefIndex::new(parsed);
    let disabled: HashMap<(String, String), &ParsedNode> = parsed
        .disabled
        .values()
        .map(|n| ((n.package_name.clone(), n.name.clone()), &**n))
        .collect();
    // Each node's parents, in the order of `parsed.nodes`; resolved on every
    // core (a ref is a few hash lookups, but there are tens of thousands).
    crate::timings::phase("  graph: ref index", step);
    let step = std::time::Instant::now();
    use rayon::prelude::*;
    let nodes: Vec<&ParsedNode> = parsed.nodes.values().map(|n| &**n).collect();
    let ids: Vec<&str> = parsed.nodes.keys().map(String::as_str).collect();
    // Parents are resolved, and found in the id-ordered node list, on
    // every core; only adding the edges is left to one.
    let resolved: Vec<(Vec<String>, Vec<usize>, Vec<Diagnostic>)> = nodes
        .par_iter()
        .map(|node| {
            let (parents, problems) = parents_of(node, parsed, &index, &disabled);
            let at: Vec<usize> = parents
                .iter()
                .filter_map(|p| index_in_sorted(&ids, p, |id| id))
                .collect();
            (parents, at, problems)
        })
        .collect();
    drop(ids);
    crate::timings::phase("  graph: parents", step);
    let step = std::time::Instant::now();
    let mut diags = Diagnostics::default();
    let mut deps: Vec<Vec<String>> = Vec::with_capacity(resolved.len());
    let mut parent_positions: Vec<Vec<usize>> = Vec::with_capacity(resolved.len());
    for (d, at, problems) in resolved {
        diags.extend(problems);
        deps.push(d);
        parent_positions.push(at);
    }
    if diags.has_errors() {
        return Err(diags);
    }
    let edges: usize = parent_positions.iter().map(Vec::len).sum();
    let mut graph = DiGraph::with_capacity(parsed.nodes.len(), edges);
    let node_ids: Vec<String> = nodes.par_iter().map(|n| n.unique_id.clone()).collect();
    for id in node_ids {
        graph.add_node(id);
    }
    for (child, parents) in parent_positions.iter().enumerate() {
        for &parent in parents {
            graph.add_edge(NodeIndex::new(parent), NodeIndex::new(child), ());
        }
    }
    for (node, d) in parsed.nodes.values_mut().zip(deps) {
        node.depends_on = d;
    }
    crate::timings::phase("  graph: edges", step);
    let step = std::time::Instant::now();
    let dag = Dag { graph };
    let cycle = find_cycle(&dag);
    crate::timings::phase("  graph: cycles", step);
    if let Some(cycle) = cycle {
        return Err(cycle_diagnostic(parsed, &cycle).into());
    }
    Ok(dag)
}

/// Where `id` sits in `items`, sorted by `key`.
fn index_in_sorted<T>(items: &[T], id: &str, key: impl Fn(&T) -> &str) -> Option<usize> {
    items.binary_search_by(|item| key(item).cmp(id)).ok()
}

fn parents_of(
    node: &ParsedNode,
    parsed: &ParsedProject,
    index: &RefIndex,
    disabled: &HashMap<(String, String), &ParsedNode>,
) -> (Vec<String>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let mut d: Vec<String> = Vec::new();
    if let Some(attached) = &node.attached_node {
        d.push(attached.clone());
    }
    for call in &node.refs {
        match index.resolve_ref(&node.package_name, call) {
            Some(id) => d.push(id.to_string()),
            None if parsed.failed.iter().any(|(_, n)| *n == call.name) => {}
            None => match (&call.version, index.versions_of(&call.name)) {
                (Some(v), versions) if !versions.is_empty() => diags.push(at_call(
                    node,
                    "ref",
                    &call.name,
                    Diagnostic::error(
                        codes::UNKNOWN_REF,
                        format!(
                            "{} `{}` refers to version {v} of model `{}`, which has no such version",
                            node.resource_type, node.name, call.name
                        ),
                    )
                    .with_help(format!(
                        "its versions are {}; or leave out v= for the latest",
                        versions.join(", ")
                    )),
                )),
                _ => diags.push(unknown_ref(node, &call.name, index, disabled)),
            },
        }
    }
    for call in &node.sources {
        match index.resolve_source(call) {
            Some(id) => d.push(id.to_string()),
            None => {
                let wanted = format!("{}.{}", call.source_name, call.table_name);
                let names = index.source_names();
                let help = did_you_mean(
                    &closest_names(&wanted, names.iter().map(String::as_str)),
                    "declare it under `sources:` in a property file (e.g. project/sources.yml)",
                );
                diags.push(at_call(
                    node,
                    "source",
                    &call.table_name,
                    Diagnostic::error(
                        codes::UNKNOWN_SOURCE,
                        format!(
                            "{} `{}` uses source('{}', '{}'), which is not declared",
                            node.resource_type, node.name, call.source_name, call.table_name
                        ),
                    )
                    .with_help(help),
                ));
            }
        }
    }
    d.sort();
    d.dedup();
    d.shrink_to_fit();
    (d, diags)
}

/// dbt's deprecation warnings for model versions: a version past its
/// `deprecation_date`, and each reference to one (with the version to move
/// to). Dates are compared with today's (UTC).
pub fn deprecation_warnings(parsed: &ParsedProject) -> Vec<Diagnostic> {
    // Most projects deprecate nothing: one pass over the nodes, no lookups.
    if !parsed.nodes.values().any(|n| {
        n.version
            .as_ref()
            .is_some_and(|v| v.deprecation_date.is_some())
    }) {
        return Vec::new();
    }
    let today = chrono::Utc::now().date_naive();
    let deprecated = |n: &ParsedNode| -> Option<String> {
        let date = n.version.as_ref()?.deprecation_date.as_ref()?;
        let day =
            chrono::NaiveDate::parse_from_str(date.get(..10).unwrap_or(date), "%Y-%m-%d").ok()?;
        (day <= today).then(|| date.clone())
    };
    let mut out = Vec::new();
    for n in parsed.nodes.values() {
        if n.resource_type == ResourceType::Model
            && let (Some(date), Some(v)) = (deprecated(n), &n.version)
        {
            out.push(
                Diagnostic::warning(
                    codes::DEPRECATED,
                    format!(
                        "model {}.v{} has passed its deprecation date of {date}; it should be disabled or removed",
                        n.name, v.version
                    ),
                )
                .at(Location::new(&n.abs_path, 1, 1), None)
                .with_help(format!(
                    "the latest version is v{}; remove v{} from `versions:` once nothing refers to it",
                    v.latest, v.version
                )),
            );
        }
        // Generated tests of a deprecated version are not references to it.
        let depends =
            if n.resource_type == ResourceType::Test || n.resource_type == ResourceType::UnitTest {
                &[][..]
            } else {
                &n.depends_on[..]
            };
        for parent in depends {
            let Some(p) = parsed.nodes.get(parent) else {
                continue;
            };
            if let (Some(date), Some(v)) = (deprecated(p), &p.version) {
                out.push(at_call(
                    n,
                    "ref",
                    &p.name,
                    Diagnostic::warning(
                        codes::DEPRECATED,
                        format!(
                            "{} `{}` refers to {}.v{}, which was deprecated on {date}",
                            n.resource_type, n.name, p.name, v.version
                        ),
                    )
                    .with_help(format!(
                        "a newer version is available: {{{{ ref('{}', v={}) }}}}",
                        p.name, v.latest
                    )),
                ));
            }
        }
    }
    out
}

fn unknown_ref(
    node: &ParsedNode,
    name: &str,
    index: &RefIndex,
    disabled: &HashMap<(String, String), &ParsedNode>,
) -> Diagnostic {
    if disabled.keys().any(|(_, n)| n == name) {
        return at_call(
            node,
            "ref",
            name,
            Diagnostic::error(
                codes::UNKNOWN_REF,
                format!(
                    "{} `{}` depends on `{name}`, which is disabled",
                    node.resource_type, node.name
                ),
            )
            .with_help(format!("enable `{name}` or disable `{}` too", node.name)),
        );
    }
    let help = did_you_mean(
        &closest_names(name, index.ref_names()),
        "check the name: ref() takes a model, seed or snapshot name (the file name without .sql)",
    );
    at_call(
        node,
        "ref",
        name,
        Diagnostic::error(
            codes::UNKNOWN_REF,
            format!(
                "{} `{}` refers to `{name}`, which is not a model, seed or snapshot",
                node.resource_type, node.name
            ),
        )
        .with_help(help),
    )
}

fn at_call(node: &ParsedNode, kind: &str, name: &str, d: Diagnostic) -> Diagnostic {
    match node.call_site(kind, name) {
        Some((offset, len)) => d.at_offset(&node.abs_path, &node.file_text, offset, len),
        None => d.at(Location::new(&node.abs_path, 1, 1), Some(&node.file_text)),
    }
}

/// A cycle as a list of ids, first repeated at the end.
fn find_cycle(dag: &Dag) -> Option<Vec<String>> {
    // One depth-first pass, without the per-component lists Tarjan's
    // algorithm builds for every node of an acyclic graph.
    if !petgraph::algo::is_cyclic_directed(&dag.graph) {
        return None;
    }
    let sccs = petgraph::algo::tarjan_scc(&dag.graph);
    let scc = sccs
        .into_iter()
        .find(|c| c.len() > 1 || dag.graph.contains_edge(c[0], c[0]))?;
    let members: std::collections::HashSet<NodeIndex> = scc.iter().copied().collect();
    let start = *scc.iter().min_by_key(|ix| dag.graph[**ix].clone())?;
    // Walk inside the component until a node repeats.
    let mut path = vec![start];
    let mut seen = HashMap::from([(start, 0usize)]);
    let mut cur = start;
    loop {
        let mut next: Vec<NodeIndex> = dag
            .graph
            .neighbors_directed(cur, Direction::Outgoing)
            .filter(|n| members.contains(n))
            .collect();
        next.sort_by_key(|n| dag.graph[*n].clone());
        let n = *next.first()?;
        if let Some(&pos) = seen.get(&n) {
            let mut cycle: Vec<String> = path[pos..]
                .iter()
                .map(|ix| dag.graph[*ix].clone())
                .collect();
            cycle.push(dag.graph[n].clone());
            return Some(cycle);
        }
        seen.insert(n, path.len());
        path.push(n);
        cur = n;
    }
}

fn cycle_diagnostic(parsed: &ParsedProject, cycle: &[String]) -> Diagnostic {
    let names: Vec<&str> = cycle
        .iter()
        .map(|id| {
            parsed
                .nodes
                .get(id)
                .map_or(id.as_str(), |n| n.name.as_str())
        })
        .collect();
    let d = Diagnostic::error(codes::CYCLE, format!("the graph has a cycle: {}", names.join(" -> ")))
        .with_help("a model cannot depend on itself, directly or through others; remove one of these ref() calls");
    // Point at the ref in the first node that names the second.
    match (
        cycle.first().and_then(|id| parsed.nodes.get(id)),
        cycle.get(1).and_then(|id| parsed.nodes.get(id)),
    ) {
        (Some(child_of), Some(next)) => {
            // Edges go parent → child, so `next` refs `child_of`.
            let _ = child_of;
            at_call(next, "ref", &cycle_name(parsed, &cycle[0]), d)
        }
        _ => d,
    }
}

fn cycle_name(parsed: &ParsedProject, id: &str) -> String {
    parsed
        .nodes
        .get(id)
        .map_or_else(|| id.to_string(), |n| n.name.clone())
}

/// Whether `ResourceType` nodes of this kind are listed by default.
pub fn is_listable(t: ResourceType) -> bool {
    !matches!(t, ResourceType::Macro | ResourceType::Operation)
}
