//! Table versions: `rdbt history` lists them, `rdbt rollback` makes an
//! earlier one current again (as a new version, so the rollback itself can
//! be undone), `rdbt vacuum` deletes the files old versions alone read and
//! compacts small ones. The embedded warehouse keeps them in each Delta
//! table's log.

use crate::adapters::{Adapter, TableVersion};
use crate::cli::EXIT_OK;
use crate::cli::args::{GlobalArgs, HistoryArgs, HistoryOutput, RollbackArgs, VacuumArgs};
use crate::cli::printer::Out;
use crate::cli::session::{Failure, Parsed, Session};
use crate::diagnostics::{Diagnostic, codes};
use crate::project::ResourceType;
use std::sync::Arc;

/// The selected tables (models, seeds, snapshots) as (node name, schema,
/// relation name), in name order.
fn selected_tables(
    session: &Session,
    g: &GlobalArgs,
    p: &Parsed,
    command: &str,
) -> Result<Vec<(String, String, String)>, Failure> {
    if g.select.is_empty() && g.selector.is_none() && command != "vacuum" {
        return Err(session.fail(
            Diagnostic::error(
                codes::USAGE,
                format!("`rdbt {command}` needs the tables to look at: --select <model>"),
            )
            .with_help(format!("e.g. rdbt {command} --select fact_order")),
        ));
    }
    let ids = session.select(
        g,
        p,
        &[
            ResourceType::Model,
            ResourceType::Seed,
            ResourceType::Snapshot,
        ],
    )?;
    let mut tables: Vec<(String, String, String)> = ids
        .iter()
        .filter_map(|id| p.parsed.nodes.get(id))
        .filter(|n| {
            n.resource_type != ResourceType::Model
                || !matches!(
                    n.materialized(),
                    crate::compile::node_config::Materialization::View
                        | crate::compile::node_config::Materialization::Ephemeral
                )
        })
        .map(|n| (n.name.clone(), n.schema.clone(), n.alias.clone()))
        .collect();
    tables.sort();
    Ok(tables)
}

fn attach(
    session: &Session,
    p: &Parsed,
    writer: bool,
) -> Result<(tokio::runtime::Runtime, Arc<dyn Adapter>), Failure> {
    super::connect::attach(
        session,
        &p.compiler,
        &p.parsed,
        super::connect::Access {
            writer,
            max_bytes: None,
        },
    )
}

fn failed(session: &Session, what: &str, e: &crate::adapters::AdapterError) -> Failure {
    let mut d = Diagnostic::error(codes::QUERY_FAILED, format!("{what}: {}", e.message));
    if let Some(help) = &e.help {
        d = d.with_help(help.clone());
    }
    session.fail(d)
}

pub fn history(g: &GlobalArgs, args: &HistoryArgs) -> Result<u8, Failure> {
    let session = Session::open(g)?;
    let p = session.parse()?;
    let tables = selected_tables(&session, g, &p, "history")?;
    let (runtime, adapter) = attach(&session, &p, false)?;
    let limit = (args.limit > 0).then_some(args.limit);
    let mut all = Vec::new();
    for (node, schema, name) in &tables {
        let versions = runtime
            .block_on(adapter.history(schema, name, limit))
            .map_err(|e| failed(&session, &format!("history of {node}"), &e))?;
        all.push((node.clone(), schema.clone(), name.clone(), versions));
    }
    let text = match args.output {
        HistoryOutput::Json => {
            let value: Vec<serde_json::Value> = all
                .iter()
                .map(|(node, schema, name, versions)| {
                    serde_json::json!({
                        "node": node,
                        "relation": format!("{schema}.{name}"),
                        "versions": versions,
                    })
                })
                .collect();
            serde_json::to_string_pretty(&value).unwrap_or_default()
        }
        HistoryOutput::Table => all
            .iter()
            .map(|(node, schema, name, versions)| {
                format!("{node} ({schema}.{name})\n{}", version_table(versions))
            })
            .collect::<Vec<_>>()
            .join("\n\n"),
    };
    session
        .printer
        .output(Out::Note, &text)
        .map_err(|_| Failure::BrokenPipe)?;
    Ok(EXIT_OK)
}

/// Versions as an aligned text table.
fn version_table(versions: &[TableVersion]) -> String {
    let header = [
        "version",
        "time (UTC)",
        "operation",
        "rows",
        "invocation",
        "node",
    ];
    let rows: Vec<[String; 6]> = versions
        .iter()
        .map(|v| {
            [
                v.version.to_string(),
                v.timestamp
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                    .unwrap_or_default(),
                v.operation.clone(),
                v.rows.map(|r| r.to_string()).unwrap_or_default(),
                v.invocation_id.clone().unwrap_or_default(),
                v.node.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = vec![line(header.to_vec())];
    out.extend(
        rows.iter()
            .map(|r| line(r.iter().map(String::as_str).collect())),
    );
    out.join("\n")
}

pub fn rollback(g: &GlobalArgs, args: &RollbackArgs) -> Result<u8, Failure> {
    let session = Session::open(g)?;
    let p = session.parse()?;
    let tables = selected_tables(&session, g, &p, "rollback")?;
    let [(node, schema, name)] = tables.as_slice() else {
        return Err(session.fail(
            Diagnostic::error(
                codes::USAGE,
                format!(
                    "--select matched {} tables; `rdbt rollback` restores one at a time",
                    tables.len()
                ),
            )
            .with_help("narrow the selector to a single model, seed or snapshot"),
        ));
    };
    let (runtime, adapter) = attach(&session, &p, true)?;
    let version = match (&args.to_version, &args.to_invocation) {
        (Some(v), _) => *v,
        (None, Some(id)) => {
            let versions = runtime
                .block_on(adapter.history(schema, name, None))
                .map_err(|e| failed(&session, &format!("history of {node}"), &e))?;
            // The newest version that invocation wrote: its final state.
            match versions
                .iter()
                .find(|v| v.invocation_id.as_deref() == Some(id.as_str()))
            {
                Some(v) => v.version,
                None => {
                    return Err(session.fail(
                        Diagnostic::error(
                            codes::USAGE,
                            format!("no version of {node} was written by invocation {id}"),
                        )
                        .with_help(format!(
                            "`rdbt history --select {node}` lists its versions and their invocations"
                        )),
                    ));
                }
            }
        }
        (None, None) => unreachable!("clap requires one of them"),
    };
    let new_version = runtime
        .block_on(adapter.restore(schema, name, version))
        .map_err(|e| failed(&session, &format!("rolling back {node}"), &e))?;
    session
        .printer
        .output(
            Out::Note,
            &format!(
                "Restored {node} ({schema}.{name}) to version {version}; it is now version {new_version}."
            ),
        )
        .map_err(|_| Failure::BrokenPipe)?;
    Ok(EXIT_OK)
}

pub fn vacuum(g: &GlobalArgs, args: &VacuumArgs) -> Result<u8, Failure> {
    let session = Session::open(g)?;
    if !(args.retain_hours >= 0.0 && args.retain_hours.is_finite()) {
        return Err(session.fail(Diagnostic::error(
            codes::USAGE,
            format!(
                "--retain-hours must be 0 or more, not {}",
                args.retain_hours
            ),
        )));
    }
    let p = session.parse()?;
    let tables = selected_tables(&session, g, &p, "vacuum")?;
    let (runtime, adapter) = attach(&session, &p, true)?;
    let retain = std::time::Duration::from_secs_f64(args.retain_hours * 3600.0);
    let mut lines = Vec::new();
    for (node, schema, name) in &tables {
        // Tables never built have nothing to vacuum.
        let exists = runtime
            .block_on(adapter.relation_kind(schema, name))
            .map_err(|e| failed(&session, node, &e))?;
        if exists != Some(crate::adapters::RelationKind::Table) {
            continue;
        }
        if !args.no_compact && !args.dry_run {
            let (removed, added) = runtime
                .block_on(adapter.compact(schema, name))
                .map_err(|e| failed(&session, &format!("compacting {node}"), &e))?;
            if removed > 0 {
                lines.push(format!(
                    "{node}: compacted {removed} small file(s) into {added}"
                ));
            }
        }
        let files = runtime
            .block_on(adapter.vacuum(schema, name, retain, args.dry_run))
            .map_err(|e| failed(&session, &format!("vacuuming {node}"), &e))?;
        let verb = if args.dry_run {
            "would delete"
        } else {
            "deleted"
        };
        lines.push(format!("{node}: {verb} {} file(s)", files.len()));
        if args.dry_run {
            lines.extend(files.iter().map(|f| format!("  {f}")));
        }
    }
    if lines.is_empty() {
        lines.push("Nothing to vacuum: no selected table has been built.".into());
    }
    session
        .printer
        .output(Out::Note, &lines.join("\n"))
        .map_err(|_| Failure::BrokenPipe)?;
    Ok(EXIT_OK)
}

/// `rdbt clone`: each selected model, seed and snapshot's relation in the
/// state (`--state`) cloned into this target: tables as zero-copy table
/// clones, views as the same views. Relations this target already has are
/// kept unless `--full-refresh`.
pub fn clone(g: &GlobalArgs, args: &crate::cli::args::CloneArgs) -> Result<u8, Failure> {
    let session = Session::open(g)?;
    let Some(state_dir) = g.state.clone() else {
        return Err(session.fail(
            Diagnostic::error(codes::USAGE, "`rdbt clone` needs --state <folder>")
                .with_help("the folder of another environment's artifacts (manifest.json), e.g. --state prod-target/"),
        ));
    };
    let state = crate::graph::PreviousState::load(&state_dir).map_err(|d| session.fail(d))?;
    let warehouse = args
        .state_warehouse
        .clone()
        .unwrap_or_else(|| state_dir.join("warehouse"));
    if !warehouse.is_dir() {
        return Err(session.fail(
            Diagnostic::error(
                codes::USAGE,
                format!(
                    "the state's warehouse folder {} does not exist",
                    warehouse.display()
                ),
            )
            .with_help("pass --state-warehouse <the state target's warehouse path>"),
        ));
    }
    let p = session.parse()?;
    let ids = session.select(
        g,
        &p,
        &[
            ResourceType::Model,
            ResourceType::Seed,
            ResourceType::Snapshot,
        ],
    )?;
    let (runtime, adapter) = attach(&session, &p, true)?;
    let (mut cloned, mut kept, mut missing) = (0usize, 0usize, Vec::new());
    let mut lines = Vec::new();
    for id in &ids {
        let Some(node) = p.parsed.nodes.get(id) else {
            continue;
        };
        if state.materialized_of(id).as_deref() == Some("ephemeral") {
            continue;
        }
        let Some((database, schema, name)) = state.relation_of(id) else {
            missing.push(node.name.clone());
            continue;
        };
        let exists = runtime
            .block_on(adapter.relation_kind(&node.schema, &node.alias))
            .map_err(|e| failed(&session, &node.name, &e))?;
        if exists.is_some() && !args.full_refresh {
            kept += 1;
            continue;
        }
        let source = crate::adapters::StateRelation {
            warehouse: Some(warehouse.clone()),
            database,
            schema,
            name,
        };
        let response = runtime
            .block_on(adapter.clone_relation(&source, &node.schema, &node.alias))
            .map_err(|e| failed(&session, &format!("cloning {}", node.name), &e))?;
        cloned += 1;
        lines.push(format!(
            "{} ({}.{}) from {}.{}: {}",
            node.name, node.schema, node.alias, source.schema, source.name, response.message
        ));
    }
    lines.push(format!(
        "Cloned {cloned}, kept {kept} that already exist{}{}.",
        if kept > 0 {
            " (--full-refresh replaces them)"
        } else {
            ""
        },
        if missing.is_empty() {
            String::new()
        } else {
            format!("; not in the state: {}", missing.join(", "))
        }
    ));
    session
        .printer
        .output(Out::Note, &lines.join("\n"))
        .map_err(|_| Failure::BrokenPipe)?;
    Ok(EXIT_OK)
}
