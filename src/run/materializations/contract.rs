//! `contract: {enforced: true}`: the model's columns and types must be the
//! ones its YAML declares, and its constraints must hold, before anything
//! is written. A mismatch lists what was expected and what the SQL
//! produces.

use super::{Failed, NodeRun};
use crate::run::error::RunError;

pub(super) async fn enforce(run: &NodeRun<'_>, sql: &str) -> Result<(), Failed> {
    if !run.config.contract_enforced {
        return Ok(());
    }
    let node = run.node;
    let actual = run
        .adapter
        .query_columns(sql)
        .await
        .map_err(|e| run.failed(sql, e))?;
    // BigQuery has one integer and one float type: widths cannot differ.
    let dialect = crate::compile::sql_dialect_of(&run.shared.compiler.world, &node.config);
    let widths_matter = dialect != crate::sql::SqlDialect::BigQuery;
    let mut problems = Vec::new();
    for (name, col) in &node.columns {
        match actual.iter().find(|a| a.name.eq_ignore_ascii_case(name)) {
            None => problems.push(format!("  {name}: declared{}, missing from the model's output", col.data_type.as_deref().map(|t| format!(" as {t}")).unwrap_or_default())),
            Some(a) => match &col.data_type {
                None => problems.push(format!("  {name}: no data_type declared (an enforced contract needs one for every column)")),
                Some(declared) if type_family(declared) != type_family(&a.data_type) => problems.push(format!("  {name}: declared {declared}, the model produces {}", a.data_type)),
                // As dbt-duckdb reports it: INTEGER is not BIGINT, FLOAT is
                // not DOUBLE. A constant (`1 as id`) is INTEGER in DuckDB and
                // BIGINT here, so constants are not held to their width.
                Some(declared) => {
                    if let (true, Some(want), Some(got)) = (widths_matter, sized_type(declared), sized_type(&a.data_type))
                        && want != got
                        && !is_constant(node, name)
                    {
                        problems.push(format!("  {name}: declared {declared} ({want}), the model produces {got}: data type mismatch"));
                    }
                }
            },
        }
    }
    for a in &actual {
        if !node.columns.keys().any(|c| c.eq_ignore_ascii_case(&a.name)) {
            problems.push(format!(
                "  {}: produced as {}, not declared",
                a.name, a.data_type
            ));
        }
    }
    if !problems.is_empty() {
        return Err(Failed::from(RunError::Contract(format!(
            "the contract of model `{}` is not met:\n{}\n  fix the SQL or the `columns:` of the model in YAML",
            node.name,
            problems.join("\n")
        ))));
    }
    // Column constraints, checked on the rows about to be written.
    let quote = |c: &str| run.adapter.dialect().quote_identifier(c);
    let mut checks: Vec<(String, String)> = Vec::new();
    for (name, col) in &node.columns {
        for c in &col.constraints {
            let kind = c.get("type").and_then(|t| t.as_str()).unwrap_or_default();
            let q = quote(name);
            match kind {
                "not_null" => checks.push((format!("{name} not_null"), format!("{q} is null"))),
                "unique" | "primary_key" => {
                    checks.push((format!("{name} {kind}"), format!("{q} in (select {q} from dbt_internal_contract group by {q} having count(*) > 1)")));
                    if kind == "primary_key" {
                        checks.push((
                            format!("{name} primary_key (not null)"),
                            format!("{q} is null"),
                        ));
                    }
                }
                "check" => {
                    if let Some(expr) = c.get("expression").and_then(|e| e.as_str()) {
                        checks.push((format!("{name} check ({expr})"), format!("not ({expr})")));
                    }
                }
                _ => {}
            }
        }
    }
    for (label, violation) in checks {
        let count_sql = format!(
            "with dbt_internal_contract as (\n{sql}\n) select count(*) from dbt_internal_contract where {violation}"
        );
        let batches = run
            .adapter
            .query(&count_sql, None)
            .await
            .map_err(|e| run.failed(&count_sql, e))?;
        let n = crate::adapters::format::first_count(&batches).unwrap_or(0);
        if n > 0 {
            return Err(Failed::from(RunError::Contract(format!(
                "the contract of model `{}` is not met: constraint {label} fails for {n} row{}; nothing was written",
                node.name,
                if n == 1 { "" } else { "s" }
            ))));
        }
    }
    Ok(())
}

/// A declared integer or float type as DuckDB names its width.
fn sized_type(t: &str) -> Option<&'static str> {
    let t = t.trim().to_ascii_lowercase();
    Some(match t.split(['(', ' ']).next().unwrap_or_default() {
        "tinyint" | "int1" => "TINYINT",
        "smallint" | "int2" | "short" => "SMALLINT",
        "int" | "integer" | "int4" | "signed" => "INTEGER",
        "bigint" | "int8" | "long" | "int64" => "BIGINT",
        "float" | "real" | "float4" => "FLOAT",
        "double" | "float8" | "float64" => "DOUBLE",
        _ => return None,
    })
}

/// Whether `column` may be a constant such as `1 as id`: the static
/// analysis found it reads no upstream column, or did not plan the model.
fn is_constant(node: &crate::compile::ParsedNode, column: &str) -> bool {
    use crate::sql::analysis::Derivation;
    node.inferred.as_ref().is_none_or(|m| {
        m.lineage
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(column))
            .is_none_or(|(_, sources)| {
                !sources.iter().any(|s| {
                    matches!(
                        s.derivation,
                        Derivation::Copy | Derivation::Transform | Derivation::Aggregate
                    )
                })
            })
    })
}

/// Type names compared by family, so `int`/`integer`/`bigint`/`INT64` agree.
fn type_family(t: &str) -> &'static str {
    let t = t.trim().to_ascii_lowercase();
    let base = t.split(['(', ' ']).next().unwrap_or_default();
    match base {
        "int" | "integer" | "bigint" | "smallint" | "tinyint" | "int64" | "int32" | "long" => {
            "integer"
        }
        "double" | "float" | "float64" | "real" | "float32" => "float",
        "decimal" | "numeric" | "bignumeric" => "decimal",
        "varchar" | "text" | "string" | "char" | "utf8" | "utf8view" => "string",
        "bool" | "boolean" => "boolean",
        "date" | "date32" => "date",
        "timestamp" | "datetime" | "timestamptz" => "timestamp",
        other if other.starts_with("timestamp") => "timestamp",
        _ => "other",
    }
}
