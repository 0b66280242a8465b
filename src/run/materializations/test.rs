//! Data tests: the test's query counts failing rows (`fail_calc`), stored
//! in the audit schema with `store_failures`; the count against
//! `error_if`/`warn_if` and the severity gives the status.

use super::{Failed, NodeRun, Outcome, compiled_path, executable, render_diagnostic};
use crate::adapters::{RelationOptions, WriteStrategy};
use crate::compile::ParsedNode;
use crate::compile::node_config::NodeConfig;
use crate::run::error::RunError;
use crate::run::results::{NodeResult, NodeStatus};

pub(super) async fn build(run: &NodeRun<'_>) -> Outcome {
    check_tested_column(run).await?;
    let shared = run.shared;
    // The test macro may set config (`config(fail_calc=...)`).
    let task = shared.clone();
    let id = run.node.unique_id.clone();
    let (compiled, node) = tokio::task::spawn_blocking(move || {
        task.linker.compile_test(&task.compiler, &task.parsed, &id)
    })
    .await
    .map_err(|e| RunError::Internal(e.to_string()))?
    .map_err(|d| RunError::Compile(render_diagnostic(&d)))?;
    let node = &node;
    let config = &node.resolved;
    let sql = executable(shared, node, &compiled)?;
    let inner = match config.limit {
        Some(l) => format!("select * from (\n{sql}\n) as dbt_internal_limit limit {l}"),
        None => sql.clone(),
    };
    let audit = format!("{}_dbt_test__audit", shared.compiler.world.target_schema);
    let source = if config.store_failures {
        run.adapter
            .create_schema(&audit)
            .await
            .map_err(|e| run.failed(&sql, e))?;
        let options = RelationOptions::default();
        run.adapter
            .write_table(
                &run.relation_named(&audit, &node.alias, &options),
                &inner,
                &WriteStrategy::Replace,
            )
            .await
            .map_err(|e| run.failed(&sql, e))?;
        run.adapter.relation(&audit, &node.alias)
    } else {
        format!("(\n{inner}\n)")
    };
    let count_sql = format!(
        "select {} as failures from {source} as dbt_internal_test",
        config.fail_calc
    );
    let batches = run
        .adapter
        .query(&count_sql, None)
        .await
        .map_err(|e| run.failed(&sql, e))?;
    let failures = crate::adapters::format::first_count(&batches).unwrap_or(0);
    let stored = config
        .store_failures
        .then(|| format!("{audit}.{}", node.alias));
    Ok(verdict(node, config, failures, stored, sql))
}

/// A column test on a column the model does not produce is the YAML's
/// mistake: say so at the test's line, with the columns there are, rather
/// than pass on the warehouse's "No field named".
async fn check_tested_column(run: &NodeRun<'_>) -> Result<(), Failed> {
    let node = run.node;
    let (Some(column), Some(parent)) = (
        &node.column_name,
        node.attached_node
            .as_ref()
            .and_then(|a| run.shared.parsed.nodes.get(a)),
    ) else {
        return Ok(());
    };
    let Ok(Some(columns)) = run.adapter.columns(&parent.schema, &parent.alias).await else {
        return Ok(());
    };
    let bare = column.trim_matches('"').trim_matches('`');
    if columns.iter().any(|c| c.name.eq_ignore_ascii_case(bare)) {
        return Ok(());
    }
    let line = node
        .call_sites
        .first()
        .map(|(_, offset, _)| {
            crate::diagnostics::Location::from_offset(&node.abs_path, &node.file_text, *offset).line
        })
        .unwrap_or(1);
    let names = columns
        .iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    Err(Failed::from(RunError::Test(format!(
        "{}:{line}: test `{}` checks column `{bare}`, which {} `{}` does not have (its columns: {names})\n  fix the column name in the YAML, or add the column to the {}",
        node.original_file_path, node.name, parent.resource_type, parent.name, parent.resource_type
    ))))
}

/// A data test's status from its failure count: severity, `error_if`,
/// `warn_if`, and a message saying where the failing rows are.
fn verdict(
    node: &ParsedNode,
    config: &NodeConfig,
    failures: u64,
    stored: Option<String>,
    sql: String,
) -> NodeResult {
    let (error_if, warn_if) = (config.error_if.as_str(), config.warn_if.as_str());
    let status = if !config.severity_warn && condition_holds(error_if, failures) {
        NodeStatus::Fail
    } else if condition_holds(warn_if, failures) {
        NodeStatus::Warn
    } else {
        NodeStatus::Pass
    };
    let mut r = NodeResult::new(
        &node.unique_id,
        status,
        match status {
            NodeStatus::Pass => "PASS".to_string(),
            NodeStatus::Warn => format!("WARN {failures}"),
            _ => format!("FAIL {failures}"),
        },
    );
    r.failures = Some(failures);
    if let Some(stored) = &stored {
        r.relation_name = Some(stored.clone());
    }
    if status != NodeStatus::Pass {
        let mut message = format!(
            "Got {failures} result{}, configured to {} if {}",
            if failures == 1 { "" } else { "s" },
            if status == NodeStatus::Fail {
                "fail"
            } else {
                "warn"
            },
            if status == NodeStatus::Fail {
                error_if
            } else {
                warn_if
            }
        );
        if let Some(stored) = &stored {
            message.push_str(&format!("\n  failing rows stored in {stored}"));
        }
        let column = node
            .column_name
            .as_ref()
            .map(|c| format!(", column {c}"))
            .unwrap_or_default();
        let parent = node
            .attached_node
            .as_ref()
            .and_then(|a| a.rsplit('.').next())
            .map(|m| format!(" on {m}{column}"))
            .unwrap_or_default();
        // Where the SQL that found the rows is written, to run it by hand.
        r.message = Some(format!(
            "{message}{parent}\n  compiled test SQL: target/run/{}/{}",
            node.package_name,
            compiled_path(node)
        ));
    }
    r.compiled_code = Some(sql);
    r
}

/// dbt's `error_if`/`warn_if`: `!= 0`, `>10`, `>= 5`, `= 3`, `< 2`.
pub(crate) fn condition_holds(condition: &str, n: u64) -> bool {
    let c = condition.trim();
    let (op, rest) = ["!=", ">=", "<=", "<>", "==", ">", "<", "="]
        .iter()
        .find_map(|op| c.strip_prefix(op).map(|r| (*op, r)))
        .unwrap_or(("!=", c));
    let Ok(v) = rest.trim().parse::<u64>() else {
        return n != 0;
    };
    match op {
        "!=" | "<>" => n != v,
        ">=" => n >= v,
        "<=" => n <= v,
        ">" => n > v,
        "<" => n < v,
        _ => n == v,
    }
}

#[cfg(test)]
mod tests {
    use super::condition_holds;

    #[test]
    fn thresholds() {
        assert!(condition_holds("!= 0", 1));
        assert!(!condition_holds("!= 0", 0));
        assert!(condition_holds(">10", 11));
        assert!(!condition_holds(">10", 10));
        assert!(condition_holds(">= 5", 5));
    }
}
