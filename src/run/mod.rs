//! Execution: runs the selected nodes in DAG order on the warehouse,
//! independent nodes concurrently up to `threads`. A failure skips its
//! descendants only; everything else still runs. Progress is reported as
//! [`RunEvent`]s; this module never prints.

pub mod bridge;
pub mod error;
pub use error::RunError;
mod materializations;
pub mod results;

use crate::adapters::Adapter;
use crate::compile::{Compiler, Linker, ParsedNode, ParsedProject};
use crate::graph::Dag;
use crate::project::ResourceType;
use petgraph::Direction;
use results::NodeResult;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// What a run does, resolved from flags.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub threads: usize,
    pub full_refresh: bool,
    pub fail_fast: bool,
    pub empty: bool,
    /// `build`: a failing test skips what depends on the tested node.
    pub tests_gate_children: bool,
    /// `rdbt show` and friends stop at compile; unused by `execute`.
    pub target_name: String,
    /// `--event-time-start`/`--event-time-end`: the window microbatch
    /// models build (UTC).
    pub event_time_start: Option<chrono::NaiveDateTime>,
    pub event_time_end: Option<chrono::NaiveDateTime>,
    /// `rdbt retry`: a microbatch model's failed batches, the only ones it
    /// runs again.
    pub retry_batches: HashMap<String, Vec<(chrono::NaiveDateTime, chrono::NaiveDateTime)>>,
    /// `--sample` (dbt 1.10): models read their parents' rows of this
    /// window only, where the parent has an `event_time`.
    pub sample: Option<(chrono::NaiveDateTime, chrono::NaiveDateTime)>,
}

/// Progress, for the CLI to show.
#[derive(Debug, Clone)]
pub enum RunEvent {
    Start {
        index: usize,
        total: usize,
        description: String,
    },
    Finish {
        index: usize,
        total: usize,
        description: String,
        result: NodeResult,
    },
}

/// How templates reach `adapter` (`run_query`, adapter look-ups).
pub fn bridge(
    adapter: &Arc<dyn Adapter>,
    handle: tokio::runtime::Handle,
) -> Arc<dyn crate::compile::WarehouseAccess> {
    Arc::new(bridge::Bridge::with_handle(adapter.clone(), handle))
}

/// Everything a node task needs, shared.
struct Shared {
    compiler: Compiler,
    parsed: ParsedProject,
    linker: Linker,
    adapter: Arc<dyn Adapter>,
    options: RunOptions,
    cancelled: AtomicBool,
}

/// What a run works on: the compiled project, the warehouse, the options.
pub struct RunInput {
    pub compiler: Compiler,
    pub parsed: ParsedProject,
    pub adapter: Arc<dyn Adapter>,
    pub options: RunOptions,
    /// The project's on-run-start and on-run-end hooks.
    pub on_run_start: Vec<String>,
    pub on_run_end: Vec<String>,
}

/// The results of a run, and a failed project hook if one failed.
pub struct RunOutput {
    pub results: Vec<NodeResult>,
    pub hook_error: Option<String>,
}

/// Runs `ids` (already selected and filtered by kind) and returns one result
/// per node, in completion order.
pub async fn execute(
    input: RunInput,
    dag: &Dag,
    ids: &BTreeSet<String>,
    on_event: Arc<dyn Fn(RunEvent) + Send + Sync>,
    interrupt: impl std::future::Future<Output = ()> + Send,
) -> RunOutput {
    let RunInput {
        compiler,
        parsed,
        adapter,
        options,
        on_run_start,
        on_run_end,
    } = input;
    // Templates reach the warehouse (run_query, adapter look-ups) through this.
    let _ = compiler
        .world
        .warehouse
        .set(bridge(&adapter, tokio::runtime::Handle::current()));
    let linker = Linker::new(&compiler, &parsed);
    let edges = plan_edges(&parsed, dag, ids, options.tests_gate_children);
    let shared = Arc::new(Shared {
        compiler,
        parsed,
        linker,
        adapter,
        options,
        cancelled: AtomicBool::new(false),
    });
    if let Err(e) = run_project_hooks(&shared, "on-run-start", &on_run_start).await {
        let results = ids
            .iter()
            .map(|id| NodeResult::skipped(id, "not run: an on-run-start hook failed"))
            .collect();
        return RunOutput {
            results,
            hook_error: Some(e),
        };
    }
    let total = ids.len();
    let mut waiting: HashMap<String, usize> = ids
        .iter()
        .map(|id| (id.clone(), edges.parents.get(id).map_or(0, Vec::len)))
        .collect();
    let order = dag.topological_order();
    let rank: HashMap<&String, usize> = order.iter().enumerate().map(|(i, id)| (id, i)).collect();
    let mut ready: Vec<String> = waiting
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(id, _)| id.clone())
        .collect();
    let mut results: Vec<NodeResult> = Vec::new();
    let mut skipped: BTreeSet<String> = BTreeSet::new();
    let mut audits = audited_models(&shared, ids, &edges);
    let mut next_index = 0usize;
    let mut running = tokio::task::JoinSet::new();
    let threads = shared.options.threads.max(1);
    tokio::pin!(interrupt);
    let mut interrupted = false;
    loop {
        // Start what is ready, in graph order so output is stable.
        ready.sort_by_key(|id| std::cmp::Reverse(rank.get(id).copied().unwrap_or(usize::MAX)));
        while running.len() < threads && !interrupted {
            let Some(id) = ready.pop() else { break };
            waiting.remove(&id);
            next_index += 1;
            let index = next_index;
            if skipped.contains(&id) {
                let result = NodeResult::skipped(&id, "skipped because an upstream node failed");
                on_event(RunEvent::Finish {
                    index,
                    total,
                    description: describe(&shared.parsed.nodes[&id], &shared.linker),
                    result: result.clone(),
                });
                results.push(result);
                release(&id, &edges, &mut waiting, &mut ready);
                continue;
            }
            let description = describe(&shared.parsed.nodes[&id], &shared.linker);
            on_event(RunEvent::Start {
                index,
                total,
                description: description.clone(),
            });
            if audits.contains_key(&id) {
                let node = &shared.parsed.nodes[&id];
                if let Err(e) = shared.adapter.begin_audit(&node.schema, &node.alias).await {
                    audits.remove(&id);
                    let result = NodeResult::failed(
                        &id,
                        RunError::Warehouse(format!("cannot begin its audit: {e}")),
                    );
                    on_event(RunEvent::Finish {
                        index,
                        total,
                        description,
                        result: result.clone(),
                    });
                    for d in failure_descendants(&id, &edges) {
                        skipped.insert(d);
                    }
                    release(&id, &edges, &mut waiting, &mut ready);
                    results.push(result);
                    continue;
                }
            }
            let task_shared = shared.clone();
            let events = on_event.clone();
            running.spawn(async move {
                let result = run_node(&task_shared, &id).await;
                events(RunEvent::Finish {
                    index,
                    total,
                    description,
                    result: result.clone(),
                });
                (id, result)
            });
        }
        if running.is_empty() {
            break;
        }
        let joined = tokio::select! {
            j = running.join_next() => j,
            () = &mut interrupt, if !interrupted => {
                interrupted = true;
                shared.cancelled.store(true, Ordering::SeqCst);
                // Tasks are dropped mid-write; unpublished versions are never live.
                running.abort_all();
                None
            }
        };
        let Some(joined) = joined else {
            if interrupted {
                while running.join_next().await.is_some() {}
                break;
            }
            continue;
        };
        let (id, mut result) = match joined {
            Ok(pair) => pair,
            Err(e) => {
                // A panic in a node task is a bug; the run goes on.
                let r = NodeResult::failed("unknown", RunError::Internal(e.to_string()));
                results.push(r);
                continue;
            }
        };
        settle_audits(&shared, &mut audits, &id, &mut result, &edges).await;
        if result.status.is_failure() {
            for d in failure_descendants(&id, &edges) {
                skipped.insert(d);
            }
            if shared.options.fail_fast {
                shared.cancelled.store(true, Ordering::SeqCst);
                interrupted = true;
            }
        }
        release(&id, &edges, &mut waiting, &mut ready);
        results.push(result);
    }
    let hook_error = run_project_hooks(&shared, "on-run-end", &on_run_end)
        .await
        .err();
    report_unstarted(ids, &mut results, shared.cancelled.load(Ordering::SeqCst));
    RunOutput {
        results,
        hook_error,
    }
}

/// A model under write-audit-publish: the selected tests still to finish,
/// and whether one failed.
struct Audit {
    pending: usize,
    failed: bool,
}

/// The models this `build` audits before publishing (`audit:
/// before_publish`, written as tables), with their selected tests.
fn audited_models(
    shared: &Shared,
    ids: &BTreeSet<String>,
    edges: &Edges,
) -> HashMap<String, Audit> {
    if !shared.options.tests_gate_children {
        return HashMap::new();
    }
    let mut audits: HashMap<String, Audit> = ids
        .iter()
        .filter(|id| {
            let n = &shared.parsed.nodes[*id];
            n.resource_type == crate::project::ResourceType::Model
                && n.resolved.audit_before_publish
                && matches!(
                    n.materialized(),
                    crate::compile::node_config::Materialization::Table
                        | crate::compile::node_config::Materialization::Incremental
                )
        })
        .map(|id| {
            (
                id.clone(),
                Audit {
                    pending: 0,
                    failed: false,
                },
            )
        })
        .collect();
    for id in ids {
        if shared.parsed.nodes[id].resource_type != crate::project::ResourceType::Test {
            continue;
        }
        for parent in edges.parents.get(id).into_iter().flatten() {
            if let Some(a) = audits.get_mut(parent) {
                a.pending += 1;
            }
        }
    }
    audits
}

/// After `id` finished: an audited model that failed is discarded; one
/// without tests, or whose last test just finished, is published when no
/// test failed and discarded when one did. Publishing happens before the
/// model's children can start (they wait for this node).
async fn settle_audits(
    shared: &Shared,
    audits: &mut HashMap<String, Audit>,
    id: &str,
    result: &mut NodeResult,
    edges: &Edges,
) {
    let mut done: Vec<(String, bool)> = Vec::new();
    if let Some(a) = audits.get(id) {
        if result.status.is_failure() {
            done.push((id.to_string(), false));
        } else if a.pending == 0 {
            done.push((id.to_string(), true));
        }
    } else {
        for parent in edges.parents.get(id).into_iter().flatten() {
            if let Some(a) = audits.get_mut(parent) {
                a.pending = a.pending.saturating_sub(1);
                a.failed |= result.status.is_failure();
                if a.pending == 0 {
                    done.push((parent.clone(), !a.failed));
                }
            }
        }
    }
    for (model, publish) in done {
        audits.remove(&model);
        let node = &shared.parsed.nodes[&model];
        let outcome = if publish {
            shared
                .adapter
                .publish_audit(&node.schema, &node.alias, Some(&node.name))
                .await
        } else {
            shared
                .adapter
                .discard_audit(&node.schema, &node.alias)
                .await
        };
        if let Err(e) = outcome {
            *result = NodeResult::failed(
                &result.unique_id,
                RunError::Warehouse(format!(
                    "publishing the audited version of {} failed: {e}",
                    node.name
                )),
            );
        }
    }
}

/// Reports every node that never started, so run_results.json is complete:
/// interrupted, skipped after a failure, or (a bug) never ready.
fn report_unstarted(ids: &BTreeSet<String>, results: &mut Vec<NodeResult>, cancelled: bool) {
    let done: BTreeSet<String> = results.iter().map(|r| r.unique_id.clone()).collect();
    let any_failed = results.iter().any(|r| r.status.is_failure());
    for id in ids.iter().filter(|id| !done.contains(*id)) {
        if cancelled {
            results.push(NodeResult::skipped(id, "not run: the run was interrupted"));
        } else if any_failed {
            results.push(NodeResult::skipped(
                id,
                "skipped because an upstream node failed",
            ));
        } else {
            // Nothing failed, yet it never became ready: the plan has a cycle.
            results.push(NodeResult::failed(
                id,
                RunError::Internal("never became ready to run (a cycle in the run plan)".into()),
            ));
        }
    }
}

/// Renders each project hook (Jinja, ref() and run_query work) and runs it.
async fn run_project_hooks(
    shared: &Arc<Shared>,
    which: &str,
    hooks: &[String],
) -> Result<(), String> {
    for hook in hooks {
        let task = shared.clone();
        let text = hook.clone();
        let sql = tokio::task::spawn_blocking(move || {
            crate::compile::compile_inline(&task.compiler, &task.parsed, &text)
        })
        .await
        .map_err(|e| format!("internal error (a bug in rdbt): {e}"))?
        .map_err(|d| {
            format!(
                "{which} hook `{hook}`: {}",
                d.into_iter()
                    .map(|x| x.message)
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        })?;
        if sql.trim().is_empty() {
            continue;
        }
        shared
            .adapter
            .execute(&sql)
            .await
            .map_err(|e| format!("{which} hook failed: {e}\n  hook SQL: {}", sql.trim()))?;
    }
    Ok(())
}

/// The dependencies among the nodes being run: graph edges between selected
/// nodes, plus (for `build`) test → children of the tested node.
struct Edges {
    parents: HashMap<String, Vec<String>>,
    children: HashMap<String, Vec<String>>,
}

fn plan_edges(
    parsed: &ParsedProject,
    dag: &Dag,
    ids: &BTreeSet<String>,
    tests_gate: bool,
) -> Edges {
    let mut parents: HashMap<String, Vec<String>> = HashMap::new();
    let mut children: HashMap<String, Vec<String>> = HashMap::new();
    let mut add = |p: &str, c: &str| {
        if p != c && ids.contains(p) && ids.contains(c) {
            let list = parents.entry(c.to_string()).or_default();
            if !list.iter().any(|x| x == p) {
                list.push(p.to_string());
                children
                    .entry(p.to_string())
                    .or_default()
                    .push(c.to_string());
            }
        }
    };
    for id in ids {
        // `build` runs a unit test before its model, after the model's
        // parents (its inputs that have no fixture are read), and a failing
        // one skips the model and what depends on it, as dbt 1.8 does.
        if tests_gate && let Some(model) = unit_tested_model(parsed, id) {
            for p in selected_ancestors(dag, model, ids) {
                add(&p, id);
            }
            for p in selected_ancestors(dag, id, ids) {
                if p != model {
                    add(&p, id);
                }
            }
            add(id, model);
            continue;
        }
        // Ancestors outside the selection still order the selected ones.
        for p in selected_ancestors(dag, id, ids) {
            add(&p, id);
        }
        if tests_gate
            && let Some(n) = parsed
                .nodes
                .get(id)
                .filter(|n| n.resource_type == ResourceType::Test)
        {
            for tested in &n.depends_on {
                for child in dag.children(tested) {
                    // (A unit test of the tested model runs before it.)
                    let is_test = parsed.nodes.get(child).is_some_and(|c| {
                        matches!(c.resource_type, ResourceType::Test | ResourceType::UnitTest)
                    });
                    // A test that also reads the child (a relationships test
                    // from a fact to a dimension built from that fact) runs
                    // after it, so it cannot gate it: that would be a cycle.
                    let reads_child = n.depends_on.len() > 1
                        && n.depends_on
                            .iter()
                            .any(|other| other == child || is_descendant(dag, other, child));
                    if !is_test && !reads_child {
                        add(id, child);
                    }
                }
            }
        }
    }
    Edges { parents, children }
}

/// The model unit test `id` tests (its inputs are among its parents too).
fn unit_tested_model<'a>(parsed: &'a ParsedProject, id: &str) -> Option<&'a str> {
    let n = parsed
        .nodes
        .get(id)
        .filter(|n| n.resource_type == ResourceType::UnitTest)?;
    let name = n.unit_test.as_ref()?.get("model")?.as_str()?;
    n.depends_on
        .iter()
        .find(|d| {
            parsed.nodes.get(*d).is_some_and(|m| {
                m.resource_type == ResourceType::Model
                    && (m.name == name || m.fqn.last().is_some_and(|f| f == name))
            })
        })
        .map(String::as_str)
}

/// Whether `node` is downstream of `ancestor`.
fn is_descendant(dag: &Dag, node: &str, ancestor: &str) -> bool {
    let mut stack: Vec<&str> = dag.children(ancestor);
    let mut seen = BTreeSet::new();
    while let Some(c) = stack.pop() {
        if c == node {
            return true;
        }
        if seen.insert(c) {
            stack.extend(dag.children(c));
        }
    }
    false
}

/// The nearest selected ancestors of `id` (walking through unselected ones).
fn selected_ancestors(dag: &Dag, id: &str, ids: &BTreeSet<String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack: Vec<String> = dag.parents(id).into_iter().map(str::to_string).collect();
    let mut seen = BTreeSet::new();
    while let Some(p) = stack.pop() {
        if !seen.insert(p.clone()) {
            continue;
        }
        if ids.contains(&p) {
            out.push(p);
        } else {
            stack.extend(dag.parents(&p).into_iter().map(str::to_string));
        }
    }
    let _ = Direction::Incoming;
    out
}

fn failure_descendants(id: &str, edges: &Edges) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![id.to_string()];
    while let Some(n) = stack.pop() {
        for c in edges.children.get(&n).into_iter().flatten() {
            if out.insert(c.clone()) {
                stack.push(c.clone());
            }
        }
    }
    out
}

fn release(id: &str, edges: &Edges, waiting: &mut HashMap<String, usize>, ready: &mut Vec<String>) {
    for c in edges.children.get(id).into_iter().flatten() {
        if let Some(n) = waiting.get_mut(c) {
            *n = n.saturating_sub(1);
            if *n == 0 && !ready.contains(c) {
                ready.push(c.clone());
            }
        }
    }
}

/// `sql table model analytics.orders` as dbt describes a node.
pub fn describe(n: &ParsedNode, linker: &Linker) -> String {
    let relation = || format!("{}.{}", n.schema, n.alias);
    match n.resource_type {
        ResourceType::Seed => format!("seed file {}", relation()),
        ResourceType::Test => format!("test {}", n.name),
        ResourceType::UnitTest => format!("unit test {}", n.name),
        ResourceType::Snapshot => format!("snapshot {}", relation()),
        ResourceType::Model => format!("sql {} model {}", n.materialized().as_str(), relation()),
        other => format!(
            "{other} {}",
            linker
                .relation_name(&n.unique_id)
                .unwrap_or_else(|| n.name.clone())
        ),
    }
}

async fn run_node(shared: &Arc<Shared>, id: &str) -> NodeResult {
    let started = Instant::now();
    let started_at = chrono::Utc::now();
    let Some(node) = shared.parsed.nodes.get(id) else {
        return NodeResult::failed(id, RunError::Internal("node vanished from the plan".into()));
    };
    let mut result = materializations::run(shared, node).await;
    result.timing(started_at, started.elapsed());
    result
}
