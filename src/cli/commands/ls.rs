//! `rdbt ls`: list the selected resources.

use crate::cli::EXIT_OK;
use crate::cli::args::{GlobalArgs, LsArgs, LsOutput};
use crate::cli::printer::Out;
use crate::cli::session::{Failure, Session};
use crate::compile::ParsedNode;
use crate::diagnostics::{Diagnostic, codes};
use crate::project::ResourceType;
use serde_json::json;

pub fn run(g: &GlobalArgs, args: &LsArgs) -> Result<u8, Failure> {
    let session = Session::open(g)?;
    let mut types = Vec::new();
    for t in args.resource_types.iter().flat_map(|t| t.split(',')) {
        if t == "all" || t == "default" {
            continue;
        }
        match ResourceType::parse(t) {
            Some(rt) => types.push(rt),
            None => return Err(session.fail(
                Diagnostic::error(codes::USAGE, format!("`{t}` is not a resource type")).with_help(
                    "use model, seed, snapshot, test, source, exposure, analysis or unit_test",
                ),
            )),
        }
    }
    let p = session.parse()?;
    if g.select
        .iter()
        .any(|s| crate::graph::columns::is_column_selector(s))
    {
        return list_columns(g, &session, p, args);
    }
    session.write_manifest(&p)?;
    let selected = session.select(g, &p, &types)?;
    for id in &selected {
        let Some(node) = p.parsed.nodes.get(id) else {
            continue;
        };
        let line = match args.output {
            LsOutput::Selector => selector_name(node),
            LsOutput::Name => node.name.clone(),
            LsOutput::Path => node.original_file_path.clone(),
            LsOutput::Json => json_line(node, &args.output_keys),
        };
        session
            .printer
            .output(Out::List, &line)
            .map_err(|_| Failure::BrokenPipe)?;
    }
    if selected.is_empty() {
        session.printer.event(&crate::cli::printer::Event::new(
            "NoNodesSelected",
            "Q038",
            crate::settings::LogLevel::Warn,
            "No nodes selected!",
        ));
    }
    // The process ends next; freeing the parsed project (hundreds of MB on
    // large projects) would only add time.
    std::mem::forget(p);
    std::mem::forget(session);
    Ok(EXIT_OK)
}

/// dbt's default `ls` output.
fn selector_name(n: &ParsedNode) -> String {
    match n.resource_type {
        ResourceType::Source => format!("source:{}", n.fqn.join(".")),
        ResourceType::Exposure => format!("exposure:{}", n.fqn.join(".")),
        ResourceType::UnitTest => format!("unit_test:{}", n.fqn.join(".")),
        _ => n.fqn.join("."),
    }
}

fn json_line(n: &ParsedNode, keys: &[String]) -> String {
    let mut v = json!({
        "name": n.name,
        "resource_type": n.resource_type.as_str(),
        "package_name": n.package_name,
        "original_file_path": n.original_file_path,
        "unique_id": n.unique_id,
        "alias": n.alias,
        "schema": n.schema,
        "database": n.database,
        "fqn": n.fqn,
        "tags": n.tags(),
        "config": n.config,
        "depends_on": {"nodes": n.depends_on, "macros": n.macros},
    });
    if let Some(s) = &n.source {
        v["source_name"] = json!(s.source_name);
    }
    if !keys.is_empty()
        && let Some(obj) = v.as_object()
    {
        let filtered: serde_json::Map<String, serde_json::Value> = keys
            .iter()
            .filter_map(|k| obj.get(k).map(|x| (k.clone(), x.clone())))
            .collect();
        v = serde_json::Value::Object(filtered);
    }
    v.to_string()
}

/// `rdbt ls -s column:model.col+`: the columns derived from one column (or,
/// with a leading `+`, those it derives from), by static analysis.
fn list_columns(
    g: &GlobalArgs,
    session: &Session,
    mut p: crate::cli::session::Parsed,
    args: &LsArgs,
) -> Result<u8, Failure> {
    use crate::graph::columns::{is_column_selector, parse_column_selector, select_columns};
    if !g.select.iter().all(|s| is_column_selector(s)) || !g.exclude.is_empty() {
        return Err(session.fail(
            Diagnostic::error(
                codes::BAD_SELECTOR,
                "column: selectors cannot be mixed with node selectors or --exclude",
            )
            .with_help("list columns in a separate `rdbt ls -s column:<model>.<column>+`"),
        ));
    }
    let (_runtime, _adapter) = super::connect::attach_reader(session, &p)?;
    let models: Vec<String> = p
        .parsed
        .nodes
        .values()
        .filter(|n| n.resource_type == ResourceType::Model)
        .map(|n| n.unique_id.clone())
        .collect();
    let mode = match g.static_analysis.mode() {
        crate::compile::static_analysis::StaticAnalysis::Off => {
            crate::compile::static_analysis::StaticAnalysis::On
        }
        other => other,
    };
    crate::compile::static_analysis::analyze(&p.compiler, &mut p.parsed, &models, mode)
        .map_err(|d| session.report(d))?;
    session.write_manifest(&p)?;
    for text in &g.select {
        let selector = parse_column_selector(&p.parsed, text).map_err(|d| session.fail(d))?;
        for c in select_columns(&p.parsed, &selector) {
            let name = p
                .parsed
                .nodes
                .get(&c.node)
                .map_or(c.node.as_str(), |n| n.name.as_str());
            let line = match args.output {
                LsOutput::Json => json!({
                    "unique_id": c.node,
                    "name": name,
                    "column": c.column,
                    "derivation": c.derivation,
                })
                .to_string(),
                _ => format!("{name}.{}", c.column),
            };
            session
                .printer
                .output(Out::List, &line)
                .map_err(|_| Failure::BrokenPipe)?;
        }
    }
    Ok(EXIT_OK)
}
