//! `rdbt diff -s model --state DIR`: a key-based diff of a model's table
//! here against the same model's relation in another environment: rows
//! only on one side, rows changed per column with counts and examples, and
//! schema differences. Exit code 1 when they differ, for CI.

use crate::adapters::{Adapter, StateRelation};
use crate::cli::args::{DiffArgs, DiffOutput, GlobalArgs};
use crate::cli::printer::Out;
use crate::cli::session::{Failure, Session};
use crate::cli::{EXIT_FAILURE, EXIT_OK};
use crate::diagnostics::{Diagnostic, codes};
use crate::project::ResourceType;
use serde_json::{Value, json};

/// How many example rows each difference shows.
const EXAMPLES: usize = 3;

pub fn run(g: &GlobalArgs, args: &DiffArgs) -> Result<u8, Failure> {
    let session = Session::open(g)?;
    let usage = |m: String, help: &str| {
        session.fail(Diagnostic::error(codes::USAGE, m).with_help(help.to_string()))
    };
    let Some(state_dir) = g.state.clone() else {
        return Err(usage(
            "`rdbt diff` needs --state <folder>: the environment to compare with".into(),
            "e.g. rdbt diff -s fact_order --state prod-target/",
        ));
    };
    let state = crate::graph::PreviousState::load(&state_dir).map_err(|d| session.fail(d))?;
    let p = session.parse()?;
    let ids = session.select(
        g,
        &p,
        &[
            ResourceType::Model,
            ResourceType::Seed,
            ResourceType::Snapshot,
        ],
    )?;
    let [id] = ids.iter().collect::<Vec<_>>()[..] else {
        return Err(usage(
            format!(
                "--select matched {} nodes; `rdbt diff` compares one",
                ids.len()
            ),
            "narrow the selector to a single model, seed or snapshot",
        ));
    };
    let node = &p.parsed.nodes[id];
    let Some((database, schema, name)) = state.relation_of(id) else {
        return Err(usage(
            format!("{} is not in the state's manifest", node.name),
            "build it in that environment first",
        ));
    };
    let keys: Vec<String> = if args.key.is_empty() {
        node.resolved.unique_key.clone()
    } else {
        args.key.clone()
    };
    if keys.is_empty() {
        return Err(usage(
            format!("{} has no unique_key to match rows by", node.name),
            "pass the key columns: --key id (repeatable, or comma-separated)",
        ));
    }
    let (runtime, adapter) = super::connect::attach(
        &session,
        &p.compiler,
        &p.parsed,
        super::connect::Access::default(),
    )?;
    let embedded = adapter.adapter_type() == "datafusion";
    let warehouse = args
        .state_warehouse
        .clone()
        .unwrap_or_else(|| state_dir.join("warehouse"));
    if embedded {
        runtime
            .block_on(adapter.attach_state(&warehouse))
            .map_err(|e| session.fail(super::connect::diagnostic(&e)))?;
    }
    let other = StateRelation {
        warehouse: embedded.then_some(warehouse),
        database: if embedded {
            crate::adapters::STATE_CATALOG.to_string()
        } else {
            database
        },
        schema,
        name,
    };
    let report = runtime
        .block_on(compare(adapter.as_ref(), node, &other, &keys))
        .map_err(|e| session.fail(super::connect::diagnostic(&e)))?;
    let differs = report["differs"].as_bool().unwrap_or(true);
    let text = match args.output {
        DiffOutput::Json => serde_json::to_string_pretty(&report).unwrap_or_default(),
        DiffOutput::Table => render(&report),
    };
    session
        .printer
        .output(Out::Note, &text)
        .map_err(|_| Failure::BrokenPipe)?;
    Ok(if differs { EXIT_FAILURE } else { EXIT_OK })
}

fn first_number(batches: &[datafusion::arrow::record_batch::RecordBatch]) -> Vec<i64> {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::{DataType, Int64Type};
    let Some(batch) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Vec::new();
    };
    batch
        .columns()
        .iter()
        .map(|c| {
            let c = datafusion::arrow::compute::cast(c, &DataType::Int64).unwrap_or(c.clone());
            let a = c.as_primitive::<Int64Type>();
            if a.is_null(0) { 0 } else { a.value(0) }
        })
        .collect()
}

/// The diff of `node`'s relation here against `other`, as JSON.
async fn compare(
    adapter: &dyn Adapter,
    node: &crate::compile::ParsedNode,
    other: &StateRelation,
    keys: &[String],
) -> Result<Value, crate::adapters::AdapterError> {
    let dialect = adapter.dialect();
    let q = |c: &str| dialect.quote_identifier(c);
    let here = dialect.relation_name(&node.database, &node.schema, &node.alias);
    let there = dialect.relation_name(&other.database, &other.schema, &other.name);
    let columns = |sql: String| async move { adapter.query_columns(&sql).await };
    let ours = columns(format!("select * from {here}")).await?;
    let theirs = columns(format!("select * from {there}")).await?;
    let type_of = |cols: &[crate::adapters::ColumnInfo], name: &str| {
        cols.iter()
            .find(|c| c.name == name)
            .map(|c| c.data_type.clone())
    };
    for k in keys {
        if type_of(&ours, k).is_none() || type_of(&theirs, k).is_none() {
            return Err(crate::adapters::AdapterError::new(format!(
                "the key column `{k}` is not on both sides"
            )));
        }
    }
    let mut schema = Vec::new();
    for c in &ours {
        match type_of(&theirs, &c.name) {
            None => schema.push(json!({"column": c.name, "only_in": "here", "type": c.data_type})),
            Some(t) if t != c.data_type => {
                schema.push(json!({"column": c.name, "type_here": c.data_type, "type_in_state": t}))
            }
            _ => {}
        }
    }
    for c in &theirs {
        if type_of(&ours, &c.name).is_none() {
            schema.push(json!({"column": c.name, "only_in": "state", "type": c.data_type}));
        }
    }
    let on = keys
        .iter()
        .map(|k| format!("h.{k} = t.{k}", k = q(k)))
        .collect::<Vec<_>>()
        .join(" and ");
    let key_list = |alias: &str| {
        keys.iter()
            .map(|k| format!("{alias}.{}", q(k)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let only = |from: &str, other: &str, alias: &str, other_alias: &str| {
        format!(
            "from {from} {alias} where not exists (select 1 from {other} {other_alias} where {on})"
        )
    };
    let mut sides = serde_json::Map::new();
    for (label, from, to, alias, other_alias) in [
        ("only_here", &here, &there, "h", "t"),
        ("only_in_state", &there, &here, "t", "h"),
    ] {
        let body = only(from, to, alias, other_alias);
        let count = first_number(
            &adapter
                .query(&format!("select count(*) as n {body}"), None)
                .await?,
        );
        let examples = adapter
            .query(
                &format!(
                    "select {} {body} order by {} limit {EXAMPLES}",
                    key_list(alias),
                    key_list(alias)
                ),
                None,
            )
            .await?;
        sides.insert(
            label.into(),
            json!({
                "rows": count.first().copied().unwrap_or(0),
                "examples": serde_json::from_str::<Value>(
                    &crate::adapters::format::to_json(&examples).unwrap_or_else(|_| "[]".into())
                ).unwrap_or(Value::Null),
            }),
        );
    }
    let compared: Vec<&crate::adapters::ColumnInfo> = ours
        .iter()
        .filter(|c| !keys.contains(&c.name) && type_of(&theirs, &c.name).is_some())
        .collect();
    let mut changed = Vec::new();
    let matched = first_number(
        &adapter
            .query(
                &format!("select count(*) as n from {here} h join {there} t on {on}"),
                None,
            )
            .await?,
    )
    .first()
    .copied()
    .unwrap_or(0);
    if !compared.is_empty() {
        let sums = compared
            .iter()
            .map(|c| {
                format!(
                    "sum(case when h.{c} is distinct from t.{c} then 1 else 0 end)",
                    c = q(&c.name)
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let counts = first_number(
            &adapter
                .query(
                    &format!("select {sums} from {here} h join {there} t on {on}"),
                    None,
                )
                .await?,
        );
        for (c, n) in compared.iter().zip(counts) {
            if n == 0 {
                continue;
            }
            let examples = adapter
                .query(
                    &format!(
                        "select {keys}, h.{c} as here, t.{c} as in_state from {here} h join {there} t on {on} \
                         where h.{c} is distinct from t.{c} order by {keys} limit {EXAMPLES}",
                        keys = key_list("h"),
                        c = q(&c.name)
                    ),
                    None,
                )
                .await?;
            changed.push(json!({
                "column": c.name,
                "rows": n,
                "examples": serde_json::from_str::<Value>(
                    &crate::adapters::format::to_json(&examples).unwrap_or_else(|_| "[]".into())
                ).unwrap_or(Value::Null),
            }));
        }
    }
    let differs = !schema.is_empty()
        || sides.values().any(|s| s["rows"].as_i64().unwrap_or(0) > 0)
        || !changed.is_empty();
    Ok(json!({
        "node": node.name,
        "here": here,
        "state": there,
        "key": keys,
        "matched_rows": matched,
        "schema": schema,
        "only_here": sides["only_here"],
        "only_in_state": sides["only_in_state"],
        "changed_columns": changed,
        "differs": differs,
    }))
}

/// The report as text.
fn render(r: &Value) -> String {
    let mut out = vec![format!(
        "{} ({}) against the state ({}), by {}",
        r["node"].as_str().unwrap_or(""),
        r["here"].as_str().unwrap_or(""),
        r["state"].as_str().unwrap_or(""),
        r["key"]
            .as_array()
            .map(|k| k
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", "))
            .unwrap_or_default()
    )];
    for s in r["schema"].as_array().into_iter().flatten() {
        out.push(match s.get("only_in").and_then(Value::as_str) {
            Some("here") => format!(
                "  column {} only here ({})",
                s["column"].as_str().unwrap_or(""),
                s["type"].as_str().unwrap_or("")
            ),
            Some(_) => format!(
                "  column {} only in the state ({})",
                s["column"].as_str().unwrap_or(""),
                s["type"].as_str().unwrap_or("")
            ),
            None => format!(
                "  column {}: {} here, {} in the state",
                s["column"].as_str().unwrap_or(""),
                s["type_here"].as_str().unwrap_or(""),
                s["type_in_state"].as_str().unwrap_or("")
            ),
        });
    }
    out.push(format!("  rows matched by key: {}", r["matched_rows"]));
    for (label, key) in [
        ("only here", "only_here"),
        ("only in the state", "only_in_state"),
    ] {
        let n = r[key]["rows"].as_i64().unwrap_or(0);
        out.push(format!("  rows {label}: {n}"));
        if n > 0 {
            out.push(format!("    e.g. {}", r[key]["examples"]));
        }
    }
    let changed = r["changed_columns"].as_array().cloned().unwrap_or_default();
    if changed.is_empty() {
        out.push("  changed values: none".into());
    }
    for c in changed {
        out.push(format!(
            "  changed {}: {} row(s), e.g. {}",
            c["column"].as_str().unwrap_or(""),
            c["rows"],
            c["examples"]
        ));
    }
    out.push(if r["differs"].as_bool().unwrap_or(true) {
        "They differ.".into()
    } else {
        "They are the same.".into()
    });
    out.join("\n")
}
