//! Opening the target's warehouse, whatever it is: the one place that turns
//! a target's `type` into an [`Adapter`]. Errors say what to fix in
//! profiles.yml.

use super::Adapter;
use super::bigquery::{BigQuery, BigQueryConfig, BigQueryError};
use super::datafusion::{Warehouse, WarehouseError};
use crate::diagnostics::{Diagnostic, codes};
use crate::settings::{Settings, TargetKind};
use std::sync::Arc;
use std::time::Duration;

/// How a command opens the warehouse.
#[derive(Debug, Clone)]
pub struct OpenOptions<'a> {
    /// Labels the warehouse's jobs.
    pub invocation_id: &'a str,
    /// Builds write (and take the embedded warehouse's lock); reading
    /// commands do not.
    pub writer: bool,
    /// Column names resolve regardless of case (DuckDB and BigQuery SQL on
    /// the embedded warehouse).
    pub case_insensitive_columns: bool,
    /// `--max-bytes`: no single job may process more.
    pub max_bytes: Option<u64>,
}

/// Opens the target's warehouse.
pub async fn open(
    settings: &Settings,
    options: &OpenOptions<'_>,
) -> Result<Arc<dyn Adapter>, Diagnostic> {
    let adapter: Arc<dyn Adapter> = match settings.target.kind {
        TargetKind::DataFusion => Arc::new(open_embedded(settings, options).await?),
        TargetKind::BigQuery => open_bigquery(settings, options)?,
    };
    Ok(Arc::new(super::cache::CachedAdapter::new(adapter)))
}

/// Connects to a BigQuery target (no request is made until a job runs).
fn open_bigquery(
    settings: &Settings,
    options: &OpenOptions<'_>,
) -> Result<Arc<BigQuery>, Diagnostic> {
    let mut config = BigQueryConfig::from_target(&settings.target).map_err(|e| {
        let mut d = Diagnostic::error(codes::USAGE, e.message).with_help(e.help);
        if let Some(f) = &settings.profiles_file {
            d.message.push_str(&format!(" ({})", f.display()));
        }
        d
    })?;
    if let Some(limit) = options.max_bytes {
        config.maximum_bytes_billed =
            Some(config.maximum_bytes_billed.map_or(limit, |m| m.min(limit)));
    }
    BigQuery::open(config, options.invocation_id)
        .map(Arc::new)
        .map_err(|e| bigquery_diagnostic(&e))
}

/// A BigQuery error outside any node (credentials, staging) for the user.
fn bigquery_diagnostic(e: &BigQueryError) -> Diagnostic {
    let d = Diagnostic::error(codes::USAGE, e.to_string());
    match e.help() {
        Some(h) => d.with_help(h),
        None => d,
    }
}

/// Opens the embedded warehouse: its folder, memory limit, land, and how
/// its SQL resolves names.
async fn open_embedded(
    settings: &Settings,
    options: &OpenOptions<'_>,
) -> Result<Warehouse, Diagnostic> {
    let path = settings
        .target
        .path
        .clone()
        .unwrap_or_else(|| settings.project_dir.join("target/warehouse"));
    let memory_limit = settings
        .target
        .options
        .get("memory_limit")
        .and_then(crate::settings::parse_bytes);
    let wait = std::env::var("RDBT_LOCK_WAIT")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(5);
    // Sources are read from the land; a land that cannot be opened (say,
    // a bucket without credentials here) leaves them unreadable, which a
    // model reading one reports with the ingest command to run.
    let land =
        crate::store::Land::open(&settings.target.land, &settings.target.land_options()).ok();
    Warehouse::open(&path, memory_limit, options.writer, Duration::from_secs(wait), land).await.map(|w| w.with_case_insensitive_columns(options.case_insensitive_columns)).map_err(|e| match e {
        WarehouseError::Locked { .. } => Diagnostic::error(codes::USAGE, e.to_string())
            .with_help("wait for the other run to finish (RDBT_LOCK_WAIT=<seconds> waits longer); reading commands such as `rdbt show` are not blocked"),
        other => Diagnostic::error(codes::USAGE, format!("cannot open the warehouse: {other}")).with_help("check the target's `path` in profiles.yml and that the folder is writable"),
    })
}
