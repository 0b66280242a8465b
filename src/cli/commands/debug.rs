//! `rdbt debug`: the resolved settings and where each came from, the project
//! file, the profile and target (secrets masked), and a connection check.

use crate::cli::args::GlobalArgs;
use crate::cli::printer::Out;
use crate::cli::session::{Failure, Session};
use crate::cli::{EXIT_ERROR, EXIT_OK};
use crate::settings::TargetKind;

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
    let check = match s.target.kind {
        TargetKind::DataFusion => check_local(s.target.path.as_deref()),
        TargetKind::BigQuery => check_bigquery(&session),
    };
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

/// BigQuery is reachable when the credentials work and a query runs, as
/// dbt debug checks it (`select 1 as id`).
fn check_bigquery(session: &Session) -> Result<String, String> {
    use crate::adapters::Adapter;
    let s = &session.settings;
    let bq = super::connect::open_bigquery(s, crate::invocation_id(), None)
        .map_err(|d| with_help(&d.message, d.help.as_deref()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime
        .block_on(bq.query("select 1 as id", Some(1)))
        .map_err(|e| with_help(&e.message, e.help.as_deref()))?;
    Ok(format!(
        "BigQuery project {} answered a query",
        bq.config().project
    ))
}

fn with_help(message: &str, help: Option<&str>) -> String {
    match help {
        Some(h) => format!("{message}\n  help: {h}"),
        None => message.to_string(),
    }
}

/// The embedded warehouse is reachable when its folder can be created and
/// written.
fn check_local(path: Option<&std::path::Path>) -> Result<String, String> {
    let path = path.ok_or("the target has no warehouse path")?;
    std::fs::create_dir_all(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let probe = path.join(".rdbt-debug-probe");
    std::fs::write(&probe, b"ok")
        .map_err(|e| format!("{} is not writable: {e}", path.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(format!(
        "embedded warehouse at {} is writable",
        path.display()
    ))
}
