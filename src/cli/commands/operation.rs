//! `rdbt run-operation MACRO --args '<yaml>'`: calls a macro with the
//! warehouse attached (its run_query calls really run) and prints what it
//! returns or renders.

use crate::cli::EXIT_OK;
use crate::cli::args::{GlobalArgs, OperationArgs};
use crate::cli::session::{Failure, Session};
use crate::diagnostics::{Diagnostic, closest_names, codes, did_you_mean};
use crate::settings::TargetKind;
use std::sync::Arc;

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
    let runtime = session.runtime()?;
    if session.settings.target.kind == TargetKind::DataFusion {
        let wh = Arc::new(
            runtime
                .block_on(super::execute::open_warehouse(&session.settings, true))
                .map_err(|d| session.fail(d))?,
        );
        let _ = world
            .warehouse
            .set(Arc::new(crate::run::bridge::Bridge::with_handle(
                wh,
                runtime.handle().clone(),
            )));
    }
    let compiler = &p.compiler;
    let parsed = &p.parsed;
    // Renders block on the runtime for run_query, so they must not run on it.
    let output = std::thread::scope(|s| {
        s.spawn(|| crate::compile::compile_inline(compiler, parsed, &call))
            .join()
    })
    .map_err(|_| session.fail(Diagnostic::internal("the macro's thread panicked")))?
    .map_err(|d| session.report(d))?;
    let output = output.trim();
    if !output.is_empty() {
        session
            .printer
            .output(output)
            .map_err(|_| Failure::BrokenPipe)?;
    }
    session.printer.info(&format!("Ran operation {name}"));
    Ok(EXIT_OK)
}
