//! One result per node and `target/run_results.json` with dbt's field names.

use serde::Serialize;
use serde_json::json;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeStatus {
    Success,
    Error,
    Skipped,
    Pass,
    Fail,
    Warn,
    /// A microbatch model some of whose batches failed (dbt 1.9): what was
    /// written stays, descendants are skipped, the run fails, and
    /// `rdbt retry` runs the failed batches.
    #[serde(rename = "partial success")]
    PartialSuccess,
}

impl NodeStatus {
    /// Whether descendants must be skipped.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            NodeStatus::Error | NodeStatus::Fail | NodeStatus::PartialSuccess
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NodeStatus::Success => "success",
            NodeStatus::Error => "error",
            NodeStatus::Skipped => "skipped",
            NodeStatus::Pass => "pass",
            NodeStatus::Fail => "fail",
            NodeStatus::Warn => "warn",
            NodeStatus::PartialSuccess => "partial success",
        }
    }
}

#[derive(Debug, Clone)]
pub struct NodeResult {
    pub unique_id: String,
    pub status: NodeStatus,
    /// What the console shows in brackets: `INSERT 3`, `CREATE VIEW`, `OK`.
    pub adapter_message: String,
    /// The error or failure text.
    pub message: Option<String>,
    pub rows_affected: Option<u64>,
    pub failures: Option<u64>,
    pub compiled_code: Option<String>,
    pub relation_name: Option<String>,
    pub started_at: Option<chrono::DateTime<chrono::Utc>>,
    pub execution_time: Duration,
    /// Why it stopped, when it did (its code goes to the console, the JSON
    /// logs and run_results.json).
    pub error: Option<Box<super::error::RunError>>,
    /// A microbatch model's batches, each `[start, end)` as ISO text.
    pub batch_results: Option<Box<BatchResults>>,
}

pub use crate::artifacts::BatchResults;

impl NodeResult {
    pub fn new(id: &str, status: NodeStatus, adapter_message: impl Into<String>) -> Self {
        NodeResult {
            unique_id: id.to_string(),
            status,
            adapter_message: adapter_message.into(),
            message: None,
            rows_affected: None,
            failures: None,
            compiled_code: None,
            relation_name: None,
            started_at: None,
            error: None,
            batch_results: None,
            execution_time: Duration::ZERO,
        }
    }

    /// A node that stopped on `error`.
    pub fn failed(id: &str, error: super::error::RunError) -> Self {
        let mut r = NodeResult::error(id, &error.to_string());
        r.error = Some(Box::new(error));
        r
    }

    pub fn error(id: &str, message: &str) -> Self {
        let mut r = NodeResult::new(id, NodeStatus::Error, "ERROR");
        r.message = Some(message.to_string());
        r
    }

    pub fn skipped(id: &str, why: &str) -> Self {
        let mut r = NodeResult::new(id, NodeStatus::Skipped, "SKIP");
        r.message = Some(why.to_string());
        r
    }

    pub fn timing(&mut self, started_at: chrono::DateTime<chrono::Utc>, elapsed: Duration) {
        self.started_at = Some(started_at);
        self.execution_time = elapsed;
    }
}

/// The `Done. PASS=… WARN=… ERROR=… SKIP=… TOTAL=…` counts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub pass: usize,
    pub warn: usize,
    pub error: usize,
    /// Microbatch models some of whose batches failed.
    pub partial_success: usize,
    pub skip: usize,
    pub total: usize,
}

pub fn summarize(results: &[NodeResult]) -> Summary {
    let mut s = Summary {
        total: results.len(),
        ..Default::default()
    };
    for r in results {
        match r.status {
            NodeStatus::Success | NodeStatus::Pass => s.pass += 1,
            NodeStatus::Warn => s.warn += 1,
            NodeStatus::Error | NodeStatus::Fail => s.error += 1,
            NodeStatus::PartialSuccess => s.partial_success += 1,
            NodeStatus::Skipped => s.skip += 1,
        }
    }
    s
}

/// `run_results.json` as dbt writes it (schema v6).
pub fn run_results_json(
    results: &[NodeResult],
    invocation_id: &str,
    elapsed: Duration,
    args: serde_json::Value,
) -> serde_json::Value {
    let mut sorted: Vec<&NodeResult> = results.iter().collect();
    sorted.sort_by(|a, b| a.unique_id.cmp(&b.unique_id));
    let items: Vec<serde_json::Value> = sorted
        .iter()
        .map(|r| {
            let started = r.started_at.map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string());
            let completed = r.started_at.map(|t| (t + chrono::Duration::from_std(r.execution_time).unwrap_or_default()).format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string());
            let timing = match (&started, &completed) {
                (Some(s), Some(c)) => json!([{"name": "execute", "started_at": s, "completed_at": c}]),
                _ => json!([]),
            };
            let mut item = json!({
                "unique_id": r.unique_id,
                "status": r.status.as_str(),
                "timing": timing,
                "thread_id": "Thread-1",
                "execution_time": r.execution_time.as_secs_f64(),
                "adapter_response": {"_message": r.adapter_message, "rows_affected": r.rows_affected},
                "message": r.message.clone().unwrap_or_else(|| r.adapter_message.clone()),
                "failures": r.failures,
                "compiled": r.compiled_code.is_some(),
                "compiled_code": r.compiled_code,
                "relation_name": r.relation_name,
            });
            // Why it stopped, by kind and stable code (rdbt's addition).
            if let Some(e) = &r.error {
                item["rdbt_error"] = json!({"code": e.code().0, "kind": e.kind()});
            }
            if let Some(b) = &r.batch_results {
                item["batch_results"] = json!(b);
            }
            item
        })
        .collect();
    json!({
        "metadata": {
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json",
            "dbt_version": env!("CARGO_PKG_VERSION"),
            "generated_at": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
            "invocation_id": invocation_id,
            "env": {},
        },
        "results": items,
        "elapsed_time": elapsed.as_secs_f64(),
        "args": args,
    })
}
