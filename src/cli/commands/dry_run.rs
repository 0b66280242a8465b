//! `--dry-run` and `--max-bytes` on BigQuery: every compiled model is
//! validated by BigQuery without running, with the bytes it would process.

use crate::adapters::{Adapter, DryRun};
use crate::cli::printer::{Out, Printer};
use crate::cli::session::{Failure, Session};
use crate::compile::ParsedProject;
use crate::compile::node_config::Materialization;
use crate::diagnostics::{Diagnostic, codes};
use crate::project::ResourceType;
use futures::StreamExt;

pub enum Verdict {
    Bytes(u64),
    /// An upstream relation does not exist yet, so BigQuery cannot plan it.
    Unknown(String),
    Invalid(String),
}

pub struct Estimate {
    pub models: Vec<(String, Verdict)>,
    pub total: u64,
}

impl Estimate {
    pub fn invalid(&self) -> usize {
        self.models
            .iter()
            .filter(|(_, v)| matches!(v, Verdict::Invalid(_)))
            .count()
    }
}

/// `--max-bytes`, read as `2GB`, `500MB` or a byte count.
pub fn max_bytes(session: &Session, text: Option<&str>) -> Result<Option<u64>, Failure> {
    let Some(text) = text else {
        return Ok(None);
    };
    crate::settings::parse_bytes(&serde_json::Value::String(text.to_string()))
        .map(|n| Some(n as u64))
        .ok_or_else(|| {
            session.fail(
                Diagnostic::error(codes::USAGE, format!("--max-bytes `{text}` is not a size"))
                    .with_help("write bytes or a size such as 500MB, 2GB, 1TB"),
            )
        })
}

/// The dry-run flags need a warehouse with cost estimates (BigQuery).
pub fn require_dry_run(session: &Session, adapter: &dyn Adapter) -> Result<(), Failure> {
    if adapter.capabilities().supports_dry_run {
        return Ok(());
    }
    Err(session.fail(
        Diagnostic::error(
            codes::USAGE,
            format!(
                "--dry-run and --max-bytes ask the warehouse for its cost estimate, and target `{}` ({}) has none",
                session.settings.target.name,
                adapter.adapter_type()
            ),
        )
        .with_help("pass a BigQuery target: --target prod"),
    ))
}

/// Dry-runs the compiled SQL of every selected model, eight at a time.
pub async fn estimate(adapter: &dyn Adapter, parsed: &ParsedProject, ids: &[String]) -> Estimate {
    let models: Vec<(String, String)> = ids
        .iter()
        .filter_map(|id| parsed.nodes.get(id))
        .filter(|n| {
            n.resource_type == ResourceType::Model
                && *n.materialized() != Materialization::Ephemeral
        })
        .filter_map(|n| Some((n.name.clone(), n.compiled_code.clone()?)))
        .collect();
    let checked: Vec<(String, Verdict)> = futures::stream::iter(models)
        .map(|(name, sql)| async move {
            let verdict = match adapter.dry_run(&sql, Some(&name)).await {
                Ok(DryRun::Bytes(b)) => Verdict::Bytes(b),
                Ok(DryRun::NotPlannable(m)) => Verdict::Unknown(m),
                Err(e) => Verdict::Invalid(e.to_string()),
            };
            (name, verdict)
        })
        .buffered(8)
        .collect()
        .await;
    let total = checked
        .iter()
        .map(|(_, v)| match v {
            Verdict::Bytes(b) => *b,
            _ => 0,
        })
        .sum();
    Estimate {
        models: checked,
        total,
    }
}

pub fn human(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

pub fn print(printer: &Printer, estimate: &Estimate) -> Result<(), Failure> {
    let width = estimate
        .models
        .iter()
        .map(|(n, _)| n.len())
        .max()
        .unwrap_or(0);
    for (name, verdict) in &estimate.models {
        let line = match verdict {
            Verdict::Bytes(b) => format!("{name:<width$}  {:>10}  valid", human(*b)),
            Verdict::Unknown(m) => {
                format!(
                    "{name:<width$}  {:>10}  not checked: {m} (build its parents first)",
                    "?"
                )
            }
            Verdict::Invalid(m) => format!("{name:<width$}  {:>10}  INVALID: {m}", "-"),
        };
        printer
            .output(Out::Note, &line)
            .map_err(|_| Failure::BrokenPipe)?;
    }
    printer
        .output(
            Out::Note,
            &format!(
                "{:<width$}  {:>10}  {} models, {} invalid",
                "total",
                human(estimate.total),
                estimate.models.len(),
                estimate.invalid()
            ),
        )
        .map_err(|_| Failure::BrokenPipe)
}

/// Over the limit: refuse, saying by how much.
pub fn over_limit(estimate: &Estimate, limit: u64) -> Option<Diagnostic> {
    (estimate.total > limit).then(|| {
        Diagnostic::error(
            codes::USAGE,
            format!(
                "the selected models would process {} ({} bytes), above --max-bytes {} ({limit} bytes); nothing was run",
                human(estimate.total),
                estimate.total,
                human(limit)
            ),
        )
        .with_help("select fewer models, add partition filters, or raise --max-bytes")
    })
}
