//! Sources on the land, made readable on BigQuery: external tables over the
//! Hive-partitioned Parquet the ingest wrote (dbt-external-tables'
//! `stage_external_sources`), or, with `external_sources: load`, the land
//! read here and loaded into native tables (emulators, or no bucket access).

use crate::adapters::bigquery::{BigQuery, Field, SourceStaging, sql};
use crate::cli::printer::Printer;
use crate::compile::{ParsedNode, ParsedProject};
use crate::diagnostics::{Diagnostic, codes};
use crate::project::ResourceType;
use crate::settings::Settings;
use std::collections::BTreeSet;

fn landed(node: &ParsedNode) -> bool {
    node.resource_type == ResourceType::Source
        && node.source.as_ref().is_some_and(|s| s.ingest.is_some())
}

/// Sources with an `ingest:` block that the selected nodes read, directly or
/// through ephemeral models.
pub fn sources_read_by(parsed: &ParsedProject, ids: &BTreeSet<String>) -> Vec<String> {
    let mut found = BTreeSet::new();
    let mut seen = BTreeSet::new();
    let mut todo: Vec<&String> = ids.iter().collect();
    while let Some(id) = todo.pop() {
        let Some(node) = parsed.nodes.get(id) else {
            continue;
        };
        for parent in &node.depends_on {
            let Some(p) = parsed.nodes.get(parent) else {
                continue;
            };
            if landed(p) {
                found.insert(parent.clone());
            } else if p.resource_type == ResourceType::Model
                && p.materialized() == "ephemeral"
                && seen.insert(parent.clone())
            {
                todo.push(parent);
            }
        }
    }
    found.into_iter().collect()
}

/// Every source with an `ingest:` block (for `run-operation stage_external_sources`).
pub fn all_landed_sources(parsed: &ParsedProject) -> Vec<String> {
    parsed
        .nodes
        .values()
        .filter(|n| landed(n))
        .map(|n| n.unique_id.clone())
        .collect()
}

/// Creates or refreshes each source's table; returns how many were staged.
pub async fn stage_sources(
    settings: &Settings,
    bq: &BigQuery,
    parsed: &ParsedProject,
    source_ids: &[String],
    printer: &Printer,
) -> Result<usize, Diagnostic> {
    let mut staged = 0;
    let land_error = |e: String| {
        Diagnostic::error(
            codes::USAGE,
            format!("cannot read the land at {}: {e}", settings.target.land),
        )
        .with_help("check `land` and `land_options` of the target in profiles.yml")
    };
    for id in source_ids {
        let Some(node) = parsed.nodes.get(id) else {
            continue;
        };
        let dataset = node.schema.as_str();
        let table = node.alias.as_str();
        let name = format!(
            "{}.{}",
            node.source.as_ref().map_or("", |s| s.source_name.as_str()),
            node.name
        );
        bq.ensure_dataset(dataset)
            .await
            .map_err(|e| super::execute::bigquery_diagnostic(&e))?;
        match bq.config().source_staging {
            SourceStaging::External => {
                if !settings.target.land.starts_with("gs://") {
                    return Err(Diagnostic::error(
                        codes::USAGE,
                        format!(
                            "source `{name}` is on the land `{}`, which BigQuery cannot read: external tables need a gs:// land",
                            settings.target.land
                        ),
                    )
                    .with_help("set `land: gs://<bucket>/<prefix>` on the BigQuery target, or `external_sources: load` to load the land into native tables"));
                }
                let prefix = format!(
                    "{}/{dataset}/{table}",
                    settings.target.land.trim_end_matches('/')
                );
                let statement =
                    sql::external_table(&bq.relation(dataset, table), &prefix, "parquet", true);
                bq.execute(&statement, None)
                    .await
                    .map_err(|e| super::execute::bigquery_diagnostic(&e))?;
                printer.info(&format!(
                    "Staged source {name} as an external table over {prefix}/"
                ));
            }
            SourceStaging::Load => {
                let land = crate::store::Land::open(
                    &settings.target.land,
                    &super::execute::land_options(&settings.target),
                )
                .map_err(|e| land_error(e.to_string()))?;
                let Some(export) =
                    crate::adapters::datafusion::export_land_table(&land, dataset, table)
                        .await
                        .map_err(|e| land_error(e.to_string()))?
                else {
                    printer.info(&format!(
                        "Source {name} has nothing landed yet (run `rdbt ingest --select source:{name}`); not staged"
                    ));
                    continue;
                };
                let fields: Vec<Field> = export
                    .columns
                    .iter()
                    .map(|(n, t)| Field {
                        name: n.clone(),
                        data_type: t.to_string(),
                        mode: "NULLABLE".into(),
                        fields: Vec::new(),
                    })
                    .collect();
                let rows = bq
                    .replace_with_csv(dataset, table, &fields, export.csv, None)
                    .await
                    .map_err(|e| super::execute::bigquery_diagnostic(&e))?;
                printer.info(&format!(
                    "Staged source {name}: loaded {rows} rows from the land"
                ));
            }
        }
        staged += 1;
    }
    Ok(staged)
}
