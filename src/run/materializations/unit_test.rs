//! Unit tests (dbt 1.8's format): the model runs on the warehouse over
//! the `given` rows in place of its inputs (nothing upstream is built or
//! read), so dialect differences show up here and not in production, and
//! its output must equal the `expect` rows.

use super::{Failed, NodeRun, Outcome, executable, render_diagnostic};
use crate::run::error::RunError;
use crate::run::results::{NodeResult, NodeStatus};

/// A unit test (dbt 1.8's format): the model runs on the `given` rows in
/// place of its inputs (nothing upstream is built or read), and its output
/// must equal the `expect` rows on the expected columns, as multisets.
pub(super) async fn build(run: &NodeRun<'_>) -> Outcome {
    let (shared, node) = (run.shared, run.node);
    let def = node.unit_test.as_deref().cloned().unwrap_or_default();
    let fail = |m: String| {
        Failed::from(RunError::Test(format!(
            "unit test `{}` ({}): {m}",
            node.name, node.original_file_path
        )))
    };
    let model_name = def
        .get("model")
        .and_then(|m| m.as_str())
        .unwrap_or_default();
    let model_id = shared
        .linker
        .resolve_call(&node.package_name, &format!("ref('{model_name}')"))
        .ok_or_else(|| fail(format!("model `{model_name}` does not exist")))?;
    let dialect = run.adapter.dialect();
    let ident = &|c: &str| dialect.quote_identifier(c);
    let mut inputs = std::collections::HashMap::new();
    let mut ctes = Vec::new();
    for (i, given) in def
        .get("given")
        .and_then(|g| g.as_array())
        .into_iter()
        .flatten()
        .enumerate()
    {
        let input = given
            .get("input")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        let id = if input.trim() == "this" {
            Some(model_id.clone())
        } else {
            shared.linker.resolve_call(&node.package_name, input)
        };
        let id = id.ok_or_else(|| fail(format!("given input `{input}` names no model, seed, snapshot or source; write ref('name') or source('a', 'b')")))?;
        let cte = format!("__rdbt_given_{i}");
        // `rows: []`: an empty input with the real relation's columns, as
        // dbt gives it.
        let sql = match (no_rows(given), shared.linker.relation_name(&id)) {
            (true, Some(relation)) => format!("SELECT * FROM {relation} WHERE 1 = 0"),
            _ => fixture_sql(given, ident)
                .map_err(|e| fail(format!("given input `{input}`: {e}")))?,
        };
        ctes.push((cte.clone(), sql));
        inputs.insert(id, cte);
    }
    let incremental = def
        .pointer("/overrides/macros/is_incremental")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let overrides = def.get("overrides").cloned().unwrap_or_default();
    let linker = shared.linker.with_inputs(&inputs, &overrides);
    let task = shared.clone();
    let id = model_id.clone();
    let model_sql = tokio::task::spawn_blocking(move || {
        linker.compile(&task.compiler, &task.parsed, &id, incremental)
    })
    .await
    .map_err(|e| fail(format!("internal error (a bug in rdbt): {e}")))?
    .map_err(|d| fail(render_diagnostic(&d)))?;
    // The model's SQL is in its dialect; the fixtures rdbt writes are
    // already the warehouse's SQL.
    let model_node = shared.parsed.nodes.get(&model_id).map_or(node, |n| &**n);
    let model_sql =
        executable(shared, model_node, &model_sql).map_err(|f| fail(f.error.to_string()))?;
    let sql = crate::compile::inject_ctes(&model_sql, &ctes);
    let expect = def.get("expect").cloned().unwrap_or_default();
    let expected = if no_rows(&expect) {
        Vec::new()
    } else {
        let expected_sql = fixture_sql(&expect, ident).map_err(|e| fail(format!("expect: {e}")))?;
        json_rows(run, &expected_sql)
            .await
            .map_err(|e| fail(format!("expect rows: {e}")))?
    };
    let columns: Vec<String> = expected
        .first()
        .map(|r| r.keys().cloned().collect())
        .unwrap_or_default();
    let select = if columns.is_empty() {
        "*".to_string()
    } else {
        columns
            .iter()
            .map(|c| ident(c))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let actual = json_rows(
        run,
        &format!("SELECT {select} FROM (\n{sql}\n) AS __rdbt_actual"),
    )
    .await
    .map_err(|e| Failed {
        error: fail(e).error,
        sql: Some(sql.clone()),
    })?;
    let (missing, extra) = row_diff(&columns, &expected, &actual);
    let mut r = if missing.is_empty() && extra.is_empty() {
        NodeResult::new(&node.unique_id, NodeStatus::Pass, "PASS")
    } else {
        let mut r = NodeResult::new(
            &node.unique_id,
            NodeStatus::Fail,
            format!("FAIL {}", missing.len() + extra.len()),
        );
        let mut diff = format!("actual differs from expected on [{}]:", columns.join(", "));
        for m in &missing {
            diff.push_str(&format!("\n  - {m}   (expected, not produced)"));
        }
        for e in &extra {
            diff.push_str(&format!("\n  + {e}   (produced, not expected)"));
        }
        r.message = Some(format!(
            "unit test `{}` on model `{}`: {diff}",
            node.name,
            model_id.rsplit('.').next().unwrap_or_default()
        ));
        r.failures = Some((missing.len() + extra.len()) as u64);
        r
    };
    r.compiled_code = Some(sql);
    Ok(r)
}

type Row = serde_json::Map<String, serde_json::Value>;

/// The rows expected and not produced, and produced and not expected, on
/// `columns`, compared as multisets of canonical values.
fn row_diff(columns: &[String], expected: &[Row], actual: &[Row]) -> (Vec<String>, Vec<String>) {
    let canon = |rows: &[Row]| {
        let mut v: Vec<String> = rows
            .iter()
            .map(|r| {
                columns
                    .iter()
                    .map(|c| canonical(r.get(c).unwrap_or(&serde_json::Value::Null)))
                    .collect::<Vec<_>>()
                    .join(" | ")
            })
            .collect();
        v.sort();
        v
    };
    let mut missing = canon(expected);
    let mut extra = Vec::new();
    for row in canon(actual) {
        match missing.iter().position(|m| *m == row) {
            Some(i) => {
                missing.remove(i);
            }
            None => extra.push(row),
        }
    }
    (missing, extra)
}

/// Values compared by meaning: 1 and 1.0 are equal, strings are trimmed of
/// nothing, NULL is NULL.
fn canonical(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Number(n) => {
            n.as_f64().map_or_else(|| n.to_string(), |f| format!("{f}"))
        }
        serde_json::Value::String(s) => s
            .parse::<f64>()
            .map_or_else(|_| format!("{s:?}"), |f| format!("{f}")),
        serde_json::Value::Null => "NULL".into(),
        other => other.to_string(),
    }
}

/// A query's rows as JSON objects, through the run's [`Adapter`]: the same
/// conversion on every warehouse, so unit tests compare alike everywhere.
///
/// [`Adapter`]: crate::adapters::Adapter
async fn json_rows(
    run: &NodeRun<'_>,
    sql: &str,
) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, String> {
    let batches = run
        .adapter
        .query(sql, None)
        .await
        .map_err(|e| e.to_string())?;
    let json = crate::adapters::format::to_json(&batches).map_err(|e| e.to_string())?;
    serde_json::from_str(&json).map_err(|e| e.to_string())
}

/// A block of dict rows with none: `rows: []`.
fn no_rows(block: &serde_json::Value) -> bool {
    let dict = block
        .get("format")
        .and_then(|f| f.as_str())
        .is_none_or(|f| f == "dict");
    dict && block
        .get("rows")
        .is_some_and(|r| r.as_array().is_some_and(Vec::is_empty))
}

/// A `given` or `expect` block as SQL: dict rows (the default), `format:
/// csv` text, or `format: sql`.
fn fixture_sql(
    block: &serde_json::Value,
    ident: &dyn Fn(&str) -> String,
) -> Result<String, String> {
    let format = block
        .get("format")
        .and_then(|f| f.as_str())
        .unwrap_or("dict");
    let rows = block
        .get("rows")
        .cloned()
        .unwrap_or(serde_json::Value::Null);
    match format {
        "sql" => rows
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| "`rows` must be SQL text with format: sql".to_string()),
        "csv" => {
            let text = rows
                .as_str()
                .ok_or("`rows` must be CSV text (a header line, then rows) with format: csv")?;
            let mut lines = text.lines().filter(|l| !l.trim().is_empty());
            let header: Vec<String> = lines
                .next()
                .ok_or("the CSV has no header line")?
                .split(',')
                .map(|h| h.trim().to_string())
                .collect();
            let objects: Vec<serde_json::Value> = lines
                .map(|l| {
                    let cells: Vec<&str> = l.split(',').map(str::trim).collect();
                    serde_json::Value::Object(
                        header
                            .iter()
                            .enumerate()
                            .map(|(i, h)| {
                                (h.clone(), csv_cell(cells.get(i).copied().unwrap_or("")))
                            })
                            .collect(),
                    )
                })
                .collect();
            dict_rows_sql(&objects, ident)
        }
        "dict" => dict_rows_sql(
            rows.as_array().ok_or("`rows` must be a list of mappings")?,
            ident,
        ),
        other => Err(format!("format `{other}` is not dict, csv or sql")),
    }
}

fn csv_cell(c: &str) -> serde_json::Value {
    if c.is_empty() || c.eq_ignore_ascii_case("null") {
        serde_json::Value::Null
    } else if let Ok(i) = c.parse::<i64>() {
        i.into()
    } else if let Ok(f) = c.parse::<f64>() {
        serde_json::Number::from_f64(f).map_or(serde_json::Value::Null, serde_json::Value::Number)
    } else if c == "true" || c == "false" {
        (c == "true").into()
    } else {
        c.trim_matches('"').into()
    }
}

fn dict_rows_sql(
    rows: &[serde_json::Value],
    ident: &dyn Fn(&str) -> String,
) -> Result<String, String> {
    let mut columns: Vec<String> = Vec::new();
    for r in rows {
        for k in r
            .as_object()
            .ok_or("each row must be a mapping of column: value")?
            .keys()
        {
            if !columns.contains(k) {
                columns.push(k.clone());
            }
        }
    }
    if rows.is_empty() || columns.is_empty() {
        return Err("give at least one row (or use format: sql for an empty input)".into());
    }
    let literal = |v: Option<&serde_json::Value>| match v {
        None | Some(serde_json::Value::Null) => "NULL".to_string(),
        Some(serde_json::Value::String(s)) => format!("'{}'", s.replace('\'', "''")),
        Some(other) => other.to_string(),
    };
    Ok(rows
        .iter()
        .map(|r| {
            format!(
                "SELECT {}",
                columns
                    .iter()
                    .map(|c| format!("{} AS {}", literal(r.get(c)), ident(c)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("\nUNION ALL\n"))
}
