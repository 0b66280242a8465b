//! `rdbt compile`: render the selected nodes with real relation names and
//! write them under target/compiled/.

use crate::cli::EXIT_OK;
use crate::cli::args::{CompileArgs, GlobalArgs};
use crate::cli::printer::Out;
use crate::cli::session::{Failure, Session};
use crate::project::ResourceType;

pub fn run(g: &GlobalArgs, args: &CompileArgs) -> Result<u8, Failure> {
    let session = Session::open(g)?;
    let mut p = session.parse()?;
    let (runtime, adapter) = super::connect::attach_reader(&session, &p)?;
    if let Some(sql) = &args.inline {
        let compiled = crate::compile::compile_inline(&p.compiler, &p.parsed, sql)
            .map_err(|d| session.report(d))?;
        session
            .printer
            .output(Out::Compiled, &compiled)
            .map_err(|_| Failure::BrokenPipe)?;
        return Ok(EXIT_OK);
    }
    let selected = session.select(g, &p, &[])?;
    let ids: Vec<String> = selected.into_iter().collect();
    let started = std::time::Instant::now();
    let compiled = crate::compile::compile_nodes(&p.compiler, &mut p.parsed, &ids);
    crate::cli::session::phase("compile", started);
    compiled.map_err(|d| session.report(d))?;
    let started = std::time::Instant::now();
    let analyzed = crate::compile::static_analysis::analyze(
        &p.compiler,
        &mut p.parsed,
        &ids,
        g.static_analysis.mode(),
    );
    crate::cli::session::phase("static analysis", started);
    analyzed.map_err(|d| session.report(d))?;
    crate::compile::compile_incremental_as_run(&p.compiler, &mut p.parsed, &ids)
        .map_err(|d| session.report(d))?;
    let target = session.project.target_dir();
    let mut written = 0;
    for id in &ids {
        let Some(node) = p.parsed.nodes.get(id) else {
            continue;
        };
        let Some(code) = &node.compiled_code else {
            continue;
        };
        let path = crate::compile::compiled_path(&target, node);
        // Rewriting an identical file (a temporary file and a rename each)
        // cost more than the whole compile on large projects.
        let unchanged = std::fs::read(&path).is_ok_and(|old| old == code.as_bytes());
        if !unchanged {
            crate::artifacts::write_artifact(&path, code.as_bytes())
                .map_err(|d| session.fail(d))?;
        }
        written += 1;
    }
    session.write_manifest(&p)?;
    // dbt prints the SQL when one model was asked for by name.
    let models: Vec<&String> = ids
        .iter()
        .filter(|id| {
            p.parsed
                .nodes
                .get(*id)
                .is_some_and(|n| n.resource_type == ResourceType::Model)
        })
        .collect();
    if !g.select.is_empty()
        && models.len() == 1
        && let Some(code) = p
            .parsed
            .nodes
            .get(models[0])
            .and_then(|n| n.compiled_code.as_ref())
    {
        session.printer.info(&format!(
            "Compiled node '{}' is:",
            p.parsed.nodes[models[0]].name
        ));
        session
            .printer
            .output(Out::Compiled, code.trim_end())
            .map_err(|_| Failure::BrokenPipe)?;
    }
    session.printer.info(&format!(
        "Compiled {written} nodes into {}",
        target.join("compiled").display()
    ));
    if args.dry_run || args.max_bytes.is_some() {
        super::dry_run::require_dry_run(&session, adapter.as_ref())?;
        let limit = super::dry_run::max_bytes(&session, args.max_bytes.as_deref())?;
        let estimate =
            runtime.block_on(super::dry_run::estimate(adapter.as_ref(), &p.parsed, &ids));
        super::dry_run::print(&session.printer, &estimate)?;
        if let Some(d) = limit.and_then(|l| super::dry_run::over_limit(&estimate, l)) {
            return Err(session.fail(d));
        }
        if estimate.invalid() > 0 {
            return Ok(crate::cli::EXIT_FAILURE);
        }
    }
    // The process ends next; freeing the compiled project (every node's
    // SQL, schema and lineage) would only add time.
    std::mem::forget(p);
    std::mem::forget(session);
    Ok(EXIT_OK)
}
