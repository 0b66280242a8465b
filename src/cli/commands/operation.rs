//! `rdbt run-operation MACRO --args '<yaml>'`: calls a macro with the
//! warehouse attached (its run_query calls really run) and prints what it
//! returns or renders.

use crate::cli::EXIT_OK;
use crate::cli::args::{GlobalArgs, OperationArgs};
use crate::cli::printer::Out;
use crate::cli::session::{Failure, Session};
use crate::diagnostics::{Diagnostic, closest_names, codes, did_you_mean};

pub fn run(g: &GlobalArgs, args: &OperationArgs) -> Result<u8, Failure> {
    let session = Session::open(g)?;
    let p = session.parse()?;
    let world = &p.compiler.world;
    let known = world.macro_names();
    let name = args.macro_name.trim();
    let exists = match name.split_once('.') {
        Some((pkg, m)) => world.find_macro(pkg, m).is_some(),
        None => known.iter().any(|k| k == name),
    };
    if !exists && name == "stage_external_sources" {
        return stage_external_sources(&session, &p, args);
    }
    if !exists
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    {
        return Err(session.fail(
            Diagnostic::error(codes::MISSING_MACRO, format!("no macro named `{name}`")).with_help(
                did_you_mean(
                    &closest_names(name, known.iter().map(String::as_str)),
                    "define it under macros/ (or install its package with `rdbt deps`)",
                ),
            ),
        ));
    }
    let kwargs = crate::settings::parse_vars(args.args.as_deref()).map_err(|d| {
        session.fail(Diagnostic {
            message: d.message.replace("--vars", "--args"),
            ..d
        })
    })?;
    let call_args = kwargs
        .iter()
        .map(|(k, v)| format!("{k}={}", crate::compile::jinja_literal(v)))
        .collect::<Vec<_>>()
        .join(", ");
    let call = format!("{{{{ {name}({call_args}) }}}}");
    // Operations may write (maintenance macros, audit tables).
    let (_runtime, _adapter) = super::connect::attach(
        &session,
        &p.compiler,
        &p.parsed,
        super::connect::Access {
            writer: true,
            max_bytes: None,
        },
    )?;
    let compiler = &p.compiler;
    let parsed = &p.parsed;
    // Renders block on the runtime for run_query, so they must not run on it.
    let output = std::thread::scope(|s| {
        s.spawn(|| crate::compile::render_operation(compiler, parsed, &call))
            .join()
    })
    .map_err(|_| session.fail(Diagnostic::internal("the macro's thread panicked")))?
    .map_err(|d| session.report(d))?;
    let output = output.trim();
    if !output.is_empty() {
        session
            .printer
            .output(Out::Note, output)
            .map_err(|_| Failure::BrokenPipe)?;
    }
    session.printer.info(&format!("Ran operation {name}"));
    Ok(EXIT_OK)
}

/// dbt-external-tables' operation, built in: creates or refreshes the
/// BigQuery tables of the sources that have an `ingest:` or `external:`
/// block (`--args '{select: kafka.customer_activity_data}'` for some of them).
fn stage_external_sources(
    session: &Session,
    p: &crate::cli::session::Parsed,
    args: &OperationArgs,
) -> Result<u8, Failure> {
    let kwargs = crate::settings::parse_vars(args.args.as_deref()).map_err(|d| session.fail(d))?;
    let mut ids = super::sources::all_landed_sources(&p.parsed);
    if let Some(select) = kwargs.get("select").and_then(|v| v.as_str()) {
        let wanted: Vec<&str> = select.split_whitespace().collect();
        ids.retain(|id| {
            let node = &p.parsed.nodes[id];
            let source = node.source.as_ref().map_or("", |s| s.source_name.as_str());
            wanted
                .iter()
                .any(|w| *w == source || *w == format!("{source}.{}", node.name))
        });
        if ids.is_empty() {
            return Err(session.fail(
                Diagnostic::error(
                    codes::USAGE,
                    format!("no source with an `ingest:` or `external:` block matches `{select}`"),
                )
                .with_help("name a source (`kafka`) or a table (`kafka.customer_activity_data`)"),
            ));
        }
    }
    let (runtime, adapter) = super::connect::attach_reader(session, p)?;
    if adapter.capabilities().reads_sources_in_place {
        session.printer.info(&format!(
            "Nothing to stage on target `{}`: the {} warehouse reads the {} landed or external source(s) in place",
            session.settings.target.name,
            adapter.adapter_type(),
            ids.len()
        ));
        return Ok(EXIT_OK);
    }
    let sources = super::sources::source_tables(&session.settings, &p.parsed, Some(&ids))
        .map_err(|d| session.fail(d))?;
    let report = |line: String| session.printer.info(&line);
    let staged = runtime
        .block_on(adapter.stage_sources(
            &sources,
            &super::sources::land(&session.settings),
            &report,
        ))
        .map_err(|e| session.fail(super::connect::diagnostic(&e)))?;
    session.printer.info(&format!(
        "Ran operation stage_external_sources: {staged} source(s) staged"
    ));
    Ok(EXIT_OK)
}
