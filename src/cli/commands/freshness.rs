//! `rdbt source freshness`: for each selected source with a
//! `loaded_at_field` and a `freshness` policy, the age of its newest row
//! against `warn_after` / `error_after`; results in target/sources.json.

use crate::cli::args::{FreshnessArgs, GlobalArgs};
use crate::cli::session::{Failure, Session};
use crate::cli::{EXIT_FAILURE, EXIT_OK};
use crate::compile::ParsedNode;
use crate::diagnostics::{Diagnostic, codes};
use crate::project::ResourceType;
use serde_json::{Value, json};
use std::time::Instant;

/// A policy as written: `{count: 12, period: hour}`.
fn threshold_seconds(v: Option<&Value>) -> Option<f64> {
    let v = v?;
    let count = v.get("count")?.as_f64()?;
    let unit = match v.get("period")?.as_str()? {
        "minute" => 60.0,
        "hour" => 3600.0,
        "day" => 86400.0,
        _ => return None,
    };
    Some(count * unit)
}

/// The newest load time of source `n`: `max(loaded_at_field)` (with the
/// policy's filter), or the warehouse's metadata without a field.
fn newest_loaded_at(
    p: &crate::cli::session::Parsed,
    runtime: &tokio::runtime::Runtime,
    adapter: &dyn crate::adapters::Adapter,
    n: &ParsedNode,
    info: &crate::compile::node::SourceInfo,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, String> {
    let field = info.loaded_at_field.clone().unwrap_or_default();
    let filter = info
        .freshness
        .get("filter")
        .and_then(|f| f.as_str())
        .map(|f| format!(" WHERE {f}"))
        .unwrap_or_default();
    let relation = n.relation_name.clone().unwrap_or_default();
    // dbt's collect_freshness: the newest loaded_at, aged here.
    let sql =
        format!("select max(cast({field} as timestamp)) as max_loaded_at from {relation}{filter}");
    if info.loaded_at_field.is_none() {
        // Dated by metadata: an external source's newest file, a
        // BigQuery table's last modification.
        runtime
            .block_on(adapter.last_modified(&n.schema, &n.alias))
            .map_err(|e| e.to_string())
    } else {
        crate::compile::executable_sql(
            &p.compiler.world,
            p.compiler.world.sql_dialect,
            &sql,
            &n.abs_path,
            &n.file_text,
        )
        .map_err(|d| d.message)
        .and_then(|sql| {
            runtime
                .block_on(adapter.query(&sql, Some(1)))
                .map_err(|e| e.to_string())
        })
        .and_then(|batches| crate::adapters::format::first_timestamp(&batches))
    }
}

/// A source's status against its policy (`pass`, `warn`, `error` when
/// stale, `runtime error` when it could not be checked), with its newest
/// load time and age.
fn freshness_status(
    outcome: &Result<Value, String>,
    freshness: &Value,
) -> (&'static str, Value, Option<f64>) {
    let warn = threshold_seconds(freshness.get("warn_after"));
    let error = threshold_seconds(freshness.get("error_after"));
    match outcome {
        Ok(row) => {
            let age = row.get("age_s").and_then(Value::as_f64);
            let status = match age {
                None => "error",
                Some(a) if error.is_some_and(|e| a > e) => "error",
                Some(a) if warn.is_some_and(|w| a > w) => "warn",
                Some(_) => "pass",
            };
            (
                status,
                row.get("max_loaded_at").cloned().unwrap_or(Value::Null),
                age,
            )
        }
        Err(_) => ("runtime error", Value::Null, None),
    }
}

pub fn run(g: &GlobalArgs, args: &FreshnessArgs) -> Result<u8, Failure> {
    let session = Session::open(g)?;
    let p = session.parse()?;
    let selected = session.select(g, &p, &[ResourceType::Source])?;
    let with_policy: Vec<&ParsedNode> = selected
        .iter()
        .filter_map(|id| p.parsed.nodes.get(id).map(|n| &**n))
        .filter(|n| n.source.as_ref().is_some_and(|s| !s.freshness.is_null()))
        .collect();
    let (runtime, adapter) = if with_policy.is_empty() {
        (session.runtime()?, None)
    } else {
        let (r, a) = super::connect::attach_reader(&session, &p)?;
        (r, Some(a))
    };
    // Without a loaded_at_field, a source is dated by the warehouse's
    // metadata where it keeps some (BigQuery's tables, files in place).
    let metadata = adapter
        .as_ref()
        .is_some_and(|a| a.capabilities().supports_metadata_freshness);
    let sources: Vec<&ParsedNode> = with_policy
        .into_iter()
        .filter(|n| {
            n.source
                .as_ref()
                .is_some_and(|s| s.loaded_at_field.is_some() || s.external.is_some() || metadata)
        })
        .collect();
    let Some(adapter) = adapter.filter(|_| !sources.is_empty()) else {
        session
            .printer
            .info("No selected source has a freshness policy and a loaded_at_field (or, for an external source, files to date it by).");
        return Ok(EXIT_OK);
    };
    let started = Instant::now();
    let total = sources.len();
    let mut results = Vec::new();
    let mut failed = false;
    for (i, n) in sources.iter().enumerate() {
        let Some(info) = n.source.as_ref() else {
            continue;
        };
        let name = format!("{}.{}", info.source_name, n.name);
        session
            .printer
            .info(&format!("{} of {total} START freshness of {name}", i + 1));
        let t0 = Instant::now();
        let loaded_at = newest_loaded_at(&p, &runtime, adapter.as_ref(), n, info);
        let outcome = loaded_at.map(|newest| match newest {
            Some(t) => json!({
                "max_loaded_at": t.format("%Y-%m-%dT%H:%M:%S%.f").to_string(),
                "age_s": (chrono::Utc::now() - t).num_milliseconds() as f64 / 1000.0,
            }),
            None => Value::Null,
        });
        let (status, max_loaded, age) = freshness_status(&outcome, &info.freshness);
        failed |= status == "error" || status == "runtime error";
        let label = match status {
            "pass" => "PASS",
            "warn" => "WARN",
            "error" => "ERROR STALE",
            _ => "ERROR",
        };
        let line = format!(
            "{} of {total} {label} freshness of {name} [{label} in {:.2}s]",
            i + 1,
            t0.elapsed().as_secs_f64()
        );
        let level = match status {
            "pass" => crate::settings::LogLevel::Info,
            "warn" => crate::settings::LogLevel::Warn,
            _ => crate::settings::LogLevel::Error,
        };
        session.printer.event(
            &crate::cli::printer::Event::new("LogFreshnessResult", "Q018", level, &line).data(
                serde_json::json!({"status": status, "index": i + 1, "total": total,
                                   "source_name": name}),
            ),
        );
        if let Err(e) = &outcome {
            session.printer.diagnostics(&[Diagnostic::error(
                codes::USAGE,
                format!("freshness of {name} could not be checked: {e}"),
            )
            .at(
                // The table's entry in its property file.
                crate::diagnostics::Location::from_offset(
                    &n.abs_path,
                    &n.file_text,
                    n.file_text.find(&format!("name: {}", n.name)).unwrap_or(0),
                ),
                Some(&n.file_text),
            )
            .with_help(
                "land the source first (`rdbt ingest`), or check loaded_at_field and filter",
            )]);
        }
        results.push(json!({
            "unique_id": n.unique_id,
            "status": status,
            "max_loaded_at": max_loaded,
            "snapshotted_at": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
            "max_loaded_at_time_ago_in_s": age,
            "criteria": {"warn_after": info.freshness.get("warn_after"), "error_after": info.freshness.get("error_after"), "filter": info.freshness.get("filter")},
            "execution_time": t0.elapsed().as_secs_f64(),
            "thread_id": "Thread-1",
            "timing": [],
            "adapter_response": {},
            "error": outcome.err(),
        }));
    }
    let doc = json!({
        "metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/sources/v3.json", "dbt_version": env!("CARGO_PKG_VERSION"), "generated_at": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(), "invocation_id": p.compiler.world.invocation_id},
        "results": results,
        "elapsed_time": started.elapsed().as_secs_f64(),
    });
    let path = args
        .output
        .clone()
        .unwrap_or_else(|| session.project.target_dir().join("sources.json"));
    let bytes = serde_json::to_vec_pretty(&doc)
        .map_err(|e| session.fail(Diagnostic::internal(format!("sources.json: {e}"))))?;
    crate::artifacts::write_artifact(&path, &bytes).map_err(|d| session.fail(d))?;
    Ok(if failed { EXIT_FAILURE } else { EXIT_OK })
}
