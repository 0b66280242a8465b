//! Opening the target's warehouse for a command, whatever it is: the
//! adapter, the project's source tables declared to it, and templates let
//! reach it (`run_query`, `adapter.get_relation`).

use crate::adapters::{Adapter, OpenOptions};
use crate::cli::session::{Failure, Session};
use crate::compile::{Compiler, ParsedProject};
use crate::diagnostics::Diagnostic;
use std::sync::Arc;

/// How a command uses the warehouse.
#[derive(Debug, Clone, Copy, Default)]
pub struct Access {
    /// It writes (builds, operations): the embedded warehouse's lock.
    pub writer: bool,
    /// `--max-bytes`: a cap on every job.
    pub max_bytes: Option<u64>,
}

/// Opens the warehouse, declares the project's sources to it, and lets
/// templates reach it.
pub fn attach(
    session: &Session,
    compiler: &Compiler,
    parsed: &ParsedProject,
    access: Access,
) -> Result<(tokio::runtime::Runtime, Arc<dyn Adapter>), Failure> {
    let runtime = session.runtime()?;
    let adapter = runtime
        .block_on(open(session, compiler, parsed, access))
        .map_err(|d| session.fail(d))?;
    let _ = compiler
        .world
        .warehouse
        .set(crate::run::bridge(&adapter, runtime.handle().clone()));
    Ok((runtime, adapter))
}

/// [`attach`] for a command that only reads.
pub fn attach_reader(
    session: &Session,
    p: &crate::cli::session::Parsed,
) -> Result<(tokio::runtime::Runtime, Arc<dyn Adapter>), Failure> {
    attach(session, &p.compiler, &p.parsed, Access::default())
}

/// Opens the warehouse and declares the project's sources to it.
pub async fn open(
    session: &Session,
    compiler: &Compiler,
    parsed: &ParsedProject,
    access: Access,
) -> Result<Arc<dyn Adapter>, Diagnostic> {
    let settings = &session.settings;
    let adapter = crate::adapters::open(
        settings,
        &OpenOptions {
            invocation_id: &compiler.world.invocation_id,
            writer: access.writer,
            case_insensitive_columns: crate::compile::project_sql_dialect(
                &session.project,
                settings,
            )
            .case_insensitive_columns(),
            max_bytes: access.max_bytes,
        },
    )
    .await?;
    let sources = super::sources::source_tables(settings, parsed, None)?;
    adapter
        .register_sources(&sources, &super::sources::land(settings))
        .await
        .map_err(|e| diagnostic(&e))?;
    Ok(adapter)
}

/// A warehouse error outside any node (credentials, staging) for the user.
pub fn diagnostic(e: &crate::adapters::AdapterError) -> Diagnostic {
    let d = Diagnostic::error(crate::diagnostics::codes::USAGE, e.message.clone());
    match &e.help {
        Some(h) => d.with_help(h.clone()),
        None => d,
    }
}
