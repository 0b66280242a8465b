//! Opening the target's warehouse: the embedded one (its folder, memory
//! limit, land, and how its SQL resolves names) or a BigQuery connection,
//! with the errors a user can act on.

use crate::adapters::datafusion::{Warehouse, WarehouseError};
use crate::cli::session::Session;
use crate::diagnostics::{Diagnostic, codes};
use crate::settings::Settings;
use std::sync::Arc;
use std::time::Duration;

/// Connects to a BigQuery target (no request is made until a job runs).
pub fn open_bigquery(
    settings: &Settings,
    invocation_id: &str,
    max_bytes: Option<u64>,
) -> Result<Arc<crate::adapters::bigquery::BigQuery>, Diagnostic> {
    let mut config = crate::adapters::bigquery::BigQueryConfig::from_target(&settings.target)
        .map_err(|e| {
            let mut d = Diagnostic::error(codes::USAGE, e.message).with_help(e.help);
            if let Some(f) = &settings.profiles_file {
                d.message.push_str(&format!(" ({})", f.display()));
            }
            d
        })?;
    // --max-bytes also caps every job, so no single query can exceed it.
    if let Some(limit) = max_bytes {
        config.maximum_bytes_billed =
            Some(config.maximum_bytes_billed.map_or(limit, |m| m.min(limit)));
    }
    crate::adapters::bigquery::BigQuery::open(config, invocation_id)
        .map(Arc::new)
        .map_err(|e| bigquery_diagnostic(&e))
}

/// A BigQuery error outside any node (credentials, staging) for the user.
pub fn bigquery_diagnostic(e: &crate::adapters::bigquery::BigQueryError) -> Diagnostic {
    let d = Diagnostic::error(codes::USAGE, e.to_string());
    match e.help() {
        Some(h) => d.with_help(h),
        None => d,
    }
}

/// Opens the warehouse of a DataFusion target, resolving column names as
/// the project's SQL dialect does.
pub async fn open_warehouse(session: &Session, writer: bool) -> Result<Warehouse, Diagnostic> {
    let settings = &session.settings;
    let path = settings
        .target
        .path
        .clone()
        .unwrap_or_else(|| settings.project_dir.join("target/warehouse"));
    let memory_limit = settings
        .target
        .options
        .get("memory_limit")
        .and_then(parse_bytes);
    let wait = std::env::var("RDBT_LOCK_WAIT")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(5);
    // Sources are read from the land; a land that cannot be opened (say,
    // a bucket without credentials here) leaves them unreadable, which a
    // model reading one reports with the ingest command to run.
    let land =
        crate::store::Land::open(&settings.target.land, &land_options(&settings.target)).ok();
    let case_insensitive =
        crate::compile::project_sql_dialect(&session.project, settings).case_insensitive_columns();
    Warehouse::open(&path, memory_limit, writer, Duration::from_secs(wait), land).await.map(|w| w.with_case_insensitive_columns(case_insensitive)).map_err(|e| match e {
        WarehouseError::Locked { .. } => Diagnostic::error(codes::USAGE, e.to_string())
            .with_help("wait for the other run to finish (RDBT_LOCK_WAIT=<seconds> waits longer); reading commands such as `rdbt show` are not blocked"),
        other => Diagnostic::error(codes::USAGE, format!("cannot open the warehouse: {other}")).with_help("check the target's `path` in profiles.yml and that the folder is writable"),
    })
}

/// The target's `land_options` (object-store settings such as
/// `service_account_path`); a BigQuery target's key file also serves its
/// gs:// land.
pub fn land_options(
    target: &crate::settings::Target,
) -> std::collections::BTreeMap<String, String> {
    let mut options: std::collections::BTreeMap<String, String> = target
        .options
        .get("land_options")
        .and_then(|v| v.as_object())
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_string),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    if target.land.starts_with("gs://")
        && options.is_empty()
        && let Some(keyfile) = target.options.get("keyfile").and_then(|v| v.as_str())
        && !keyfile.is_empty()
    {
        options.insert("service_account_path".into(), keyfile.to_string());
    }
    options
}

/// `4GB`, `512MB`, `1073741824`.
pub fn parse_bytes(v: &serde_json::Value) -> Option<usize> {
    if let Some(n) = v.as_u64() {
        return Some(n as usize);
    }
    let s = v.as_str()?.trim().to_ascii_uppercase();
    let (num, mult) = [
        ("TB", 1u64 << 40),
        ("GB", 1 << 30),
        ("MB", 1 << 20),
        ("KB", 1 << 10),
        ("B", 1),
    ]
    .iter()
    .find_map(|(suffix, m)| s.strip_suffix(suffix).map(|n| (n.trim().to_string(), *m)))
    .unwrap_or((s.clone(), 1));
    num.parse::<f64>().ok().map(|n| (n * mult as f64) as usize)
}
