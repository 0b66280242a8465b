//! `rdbt show`: run a model's SQL (or `--inline` SQL) and print its first
//! rows as a table, CSV or JSON. Reads only: never takes the writer lock.

use crate::cli::EXIT_OK;
use crate::cli::args::{GlobalArgs, ShowArgs, ShowOutput};
use crate::cli::printer::Out;
use crate::cli::session::{Failure, Session};
use crate::diagnostics::{Diagnostic, codes};
use crate::project::ResourceType;

pub fn run(g: &GlobalArgs, args: &ShowArgs) -> Result<u8, Failure> {
    let session = Session::open(g)?;
    let mut p = session.parse()?;
    let (runtime, adapter) = super::connect::attach_reader(&session, &p)?;
    let world = p.compiler.world.clone();
    let mut dialect = world.sql_dialect;
    let mut origin: (std::path::PathBuf, std::sync::Arc<str>) =
        ("<inline>".into(), std::sync::Arc::from(""));
    let sql = match &args.inline {
        Some(inline) => {
            origin.1 = std::sync::Arc::from(inline.as_str());
            crate::compile::compile_inline(&p.compiler, &p.parsed, inline)
                .map_err(|d| session.report(d))?
        }
        None => {
            let selected = if g.select.is_empty() {
                Default::default()
            } else {
                session.select(
                    g,
                    &p,
                    &[
                        ResourceType::Model,
                        ResourceType::Seed,
                        ResourceType::Snapshot,
                    ],
                )?
            };
            let node =
                match selected.len() {
                    1 => selected.into_iter().next().unwrap_or_default(),
                    0 => return Err(session.fail(
                        Diagnostic::error(
                            codes::USAGE,
                            "`rdbt show` needs one model: --select <model> or --inline \"<sql>\"",
                        )
                        .with_help("e.g. rdbt show --select orders --limit 10"),
                    )),
                    n => {
                        return Err(session.fail(
                            Diagnostic::error(
                                codes::USAGE,
                                format!("--select matched {n} nodes; `rdbt show` shows one"),
                            )
                            .with_help("narrow the selector to a single model"),
                        ));
                    }
                };
            let n = &p.parsed.nodes[&node];
            dialect = crate::compile::sql_dialect_of(&world, &n.config);
            origin = (n.abs_path.clone(), n.file_text.clone());
            // Seeds and snapshots are tables: show what they hold (a
            // snapshot's query is not its table).
            if matches!(n.resource_type, ResourceType::Seed | ResourceType::Snapshot) {
                format!(
                    "select * from {}",
                    n.relation_name.clone().unwrap_or_default()
                )
            } else {
                crate::compile::compile_nodes(
                    &p.compiler,
                    &mut p.parsed,
                    std::slice::from_ref(&node),
                )
                .map_err(|d| session.report(d))?;
                p.parsed.nodes[&node]
                    .compiled_code
                    .clone()
                    .unwrap_or_default()
            }
        }
    };
    let sql = crate::compile::executable_sql(&world, dialect, &sql, &origin.0, &origin.1)
        .map_err(|d| session.fail(d))?;
    let limit = (args.limit > 0).then_some(args.limit);
    let batches = runtime
        .block_on(async {
            adapter.query(&sql, limit).await.map_err(|e| {
                let help = e.help.clone().unwrap_or_else(|| {
                    "check that the models it reads were built (`rdbt build`) and the SQL and data are valid".into()
                });
                let d = Diagnostic::error(codes::QUERY_FAILED, format!("the query failed: {e}"))
                    .with_help(help);
                // The node's file, when a node was shown.
                if args.inline.is_some() {
                    d
                } else {
                    d.at(
                        crate::diagnostics::Location::new(&origin.0, 1, 1),
                        Some(&origin.1),
                    )
                }
            })
        })
        .map_err(|d| session.fail(d))?;
    let text = match args.output {
        ShowOutput::Table => crate::adapters::format::pretty(&batches),
        ShowOutput::Csv => crate::adapters::format::to_csv(&batches)
            .map_err(|e| session.fail(Diagnostic::internal(e.to_string())))?,
        ShowOutput::Json => crate::adapters::format::to_json(&batches)
            .map_err(|e| session.fail(Diagnostic::internal(e.to_string())))?,
    };
    // CSV keeps its values' trailing whitespace; only the last line break
    // goes (the printer ends the output with one).
    let text = match args.output {
        ShowOutput::Csv => text.strip_suffix('\n').unwrap_or(&text),
        _ => text.trim_end(),
    };
    session
        .printer
        .output(Out::Show, text)
        .map_err(|_| Failure::BrokenPipe)?;
    Ok(EXIT_OK)
}
