//! `rdbt debug`: the resolved settings and where each came from, the project
//! file, the profile and target (secrets masked), and a connection check.

use crate::cli::args::GlobalArgs;
use crate::cli::printer::Out;
use crate::cli::session::{Failure, Session};
use crate::cli::{EXIT_ERROR, EXIT_OK};

pub fn run(g: &GlobalArgs) -> Result<u8, Failure> {
    let session = Session::open(g)?;
    let s = &session.settings;
    let p = &session.printer;
    let out = |line: String| p.output(Out::Debug, &line).map_err(|_| Failure::BrokenPipe);
    out(format!("rdbt version: {}", env!("CARGO_PKG_VERSION")))?;
    out(format!(
        "project: {} ({})",
        session.project.name(),
        session.project.root_package().file.source.path.display()
    ))?;
    out(format!(
        "profiles.yml: {}",
        s.profiles_file
            .as_ref()
            .map_or("none (built-in local target)".to_string(), |f| f
                .display()
                .to_string())
    ))?;
    out(format!("profile: {}", s.profile_name))?;
    out(format!(
        "target: {} (type: {})",
        s.target.name,
        s.target.kind.as_str()
    ))?;
    out(format!("  schema: {}", s.target.schema))?;
    out(format!("  database: {}", s.target.database))?;
    if let Some(path) = &s.target.path {
        out(format!("  path: {}", path.display()))?;
    }
    out(format!("  land: {}", s.target.land))?;
    for (k, v) in s.target.redacted_options() {
        if !["type", "schema", "database", "path", "land"].contains(&k.as_str()) {
            out(format!("  {k}: {v}"))?;
        }
    }
    out(format!("threads: {}", s.threads))?;
    out(format!(
        "vars from --vars: {}",
        serde_json::Value::Object(s.cli_vars.clone())
    ))?;
    out("settings came from:".to_string())?;
    for (k, v) in &s.sources {
        out(format!("  {k}: {v}"))?;
    }
    let check = check_connection(&session);
    match check {
        Ok(msg) => {
            out(format!("connection: OK ({msg})"))?;
            Ok(EXIT_OK)
        }
        Err(msg) => {
            out(format!("connection: FAILED: {msg}"))?;
            Ok(EXIT_ERROR)
        }
    }
}

/// The warehouse answers as dbt debug checks it: BigQuery runs a query
/// (`select 1 as id`), the embedded warehouse's folder takes a file.
fn check_connection(session: &Session) -> Result<String, String> {
    let s = &session.settings;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let options = crate::adapters::OpenOptions {
        invocation_id: crate::invocation_id(),
        writer: false,
        case_insensitive_columns: false,
        max_bytes: None,
    };
    let adapter = runtime
        .block_on(crate::adapters::open(s, &options))
        .map_err(|d| with_help(&d.message, d.help.as_deref()))?;
    runtime
        .block_on(adapter.check_connection())
        .map_err(|e| with_help(&e.message, e.help.as_deref()))
}

fn with_help(message: &str, help: Option<&str>) -> String {
    match help {
        Some(h) => format!("{message}\n  help: {h}"),
        None => message.to_string(),
    }
}
