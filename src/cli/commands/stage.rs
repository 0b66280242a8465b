//! Sources on the land and sources over files (`external:`), made readable
//! on BigQuery: external tables over the files (dbt-external-tables'
//! `stage_external_sources`), or, with `external_sources: load`, the files
//! read here and loaded into native tables (emulators, or no bucket access).

use crate::adapters::bigquery::{BigQuery, Field, SourceStaging, sql};
use crate::cli::printer::Printer;
use crate::compile::{ParsedNode, ParsedProject};
use crate::diagnostics::{Diagnostic, codes};
use crate::project::ResourceType;
use crate::settings::Settings;
use crate::store::external::{Compression, ExternalFormat, ExternalSpec};
use std::collections::BTreeSet;

fn landed(node: &ParsedNode) -> bool {
    node.resource_type == ResourceType::Source
        && node
            .source
            .as_ref()
            .is_some_and(|s| s.ingest.is_some() || s.external.is_some())
}

/// The external table BigQuery is given for a declared external source.
pub fn external_table_for(
    name: &str,
    spec: &ExternalSpec,
) -> Result<sql::ExternalTable, Diagnostic> {
    if !spec.location.starts_with("gs://") {
        return Err(Diagnostic::error(
            codes::USAGE,
            format!(
                "source `{name}` reads {}, and BigQuery reads external files from gs:// only",
                spec.written
            ),
        )
        .with_help("put the files in a bucket and point `external.location` at gs://…, or set `external_sources: load` on the target to load them"));
    }
    let bq_type = |name: &str, t: &str| {
        crate::adapters::datafusion::bigquery_type_of(t)
            .map(str::to_string)
            .ok_or_else(|| {
                Diagnostic::error(
                    codes::USAGE,
                    format!("source `{name}`: data_type `{t}` has no BigQuery type"),
                )
            })
    };
    let partition_names: Vec<&str> = spec.partitions.iter().map(|p| p.name.as_str()).collect();
    let columns = spec
        .columns
        .iter()
        .filter(|(c, _)| !partition_names.iter().any(|p| p.eq_ignore_ascii_case(c)))
        .filter_map(|(c, t)| t.as_deref().map(|t| (c, t)))
        .map(|(c, t)| Ok((c.clone(), bq_type(name, t)?)))
        .collect::<Result<Vec<_>, Diagnostic>>()?;
    // Without every column typed, BigQuery detects the schema from the files.
    let declared_all = spec
        .columns
        .iter()
        .filter(|(c, _)| !partition_names.iter().any(|p| p.eq_ignore_ascii_case(c)))
        .all(|(_, t)| t.is_some());
    let partition_columns = spec
        .partitions
        .iter()
        .map(|p| {
            Ok((
                p.name.clone(),
                bq_type(name, p.data_type.as_deref().unwrap_or("string"))?,
            ))
        })
        .collect::<Result<Vec<_>, Diagnostic>>()?;
    let base = spec.base();
    let uri = if spec.location.contains('*') {
        spec.location.clone()
    } else {
        format!("{}/*", spec.location.trim_end_matches('/'))
    };
    let csv = spec.format == ExternalFormat::Csv;
    Ok(sql::ExternalTable {
        format: match spec.format {
            ExternalFormat::Parquet => "PARQUET",
            ExternalFormat::Csv => "CSV",
            ExternalFormat::Ndjson => "NEWLINE_DELIMITED_JSON",
        }
        .into(),
        uris: vec![uri],
        hive_prefix: (spec.hive || !spec.partitions.is_empty()).then(|| base.clone()),
        partition_columns,
        columns: if declared_all { columns } else { Vec::new() },
        skip_leading_rows: (csv && spec.header).then_some(1),
        field_delimiter: (csv && spec.delimiter != b',').then_some(spec.delimiter as char),
        quote: (csv && spec.quote != b'"').then_some(spec.quote as char),
        compression: (spec.compression == Compression::Gzip).then(|| "GZIP".to_string()),
    })
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

/// Every source with an `ingest:` or `external:` block (for `run-operation stage_external_sources`).
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
    let externals = super::external::external_sources(settings, parsed)?;
    // Every declaration is checked before BigQuery is touched, so a bad one
    // leaves nothing half staged.
    if bq.config().source_staging == SourceStaging::External {
        for (node, spec) in &externals {
            if source_ids.contains(&node.unique_id) {
                let name = format!(
                    "{}.{}",
                    node.source.as_ref().map_or("", |s| s.source_name.as_str()),
                    node.name
                );
                external_table_for(&name, spec)?;
            }
        }
    }
    for id in source_ids {
        let Some(node) = parsed.nodes.get(id) else {
            continue;
        };
        let external = externals
            .iter()
            .find(|(n, _)| n.unique_id == *id)
            .map(|(_, spec)| spec);
        let dataset = node.schema.as_str();
        let table = node.alias.as_str();
        let name = format!(
            "{}.{}",
            node.source.as_ref().map_or("", |s| s.source_name.as_str()),
            node.name
        );
        bq.ensure_dataset(dataset)
            .await
            .map_err(|e| super::connect::bigquery_diagnostic(&e))?;
        match (bq.config().source_staging, external) {
            (SourceStaging::External, Some(spec)) => {
                let table_sql = external_table_for(&name, spec)?;
                let statement = sql::external_table_with(&bq.relation(dataset, table), &table_sql);
                bq.execute(&statement, None)
                    .await
                    .map_err(|e| super::connect::bigquery_diagnostic(&e))?;
                printer.info(&format!(
                    "Staged source {name} as an external table over {}",
                    spec.written
                ));
            }
            (SourceStaging::Load, Some(spec)) => {
                let source = crate::adapters::datafusion::external::ExternalSource {
                    name: name.clone(),
                    spec: spec.clone(),
                };
                let export = crate::adapters::datafusion::export_external(
                    &source,
                    &super::connect::land_options(&settings.target),
                )
                .await
                .map_err(|e| {
                    Diagnostic::error(codes::USAGE, e.to_string())
                        .with_help("check `external.location` and the files there")
                })?;
                let rows = load(bq, dataset, table, export).await?;
                printer.info(&format!(
                    "Staged source {name}: loaded {rows} rows from {}",
                    spec.written
                ));
            }
            (SourceStaging::External, None) => {
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
                    .map_err(|e| super::connect::bigquery_diagnostic(&e))?;
                printer.info(&format!(
                    "Staged source {name} as an external table over {prefix}/"
                ));
            }
            (SourceStaging::Load, None) => {
                let land = crate::store::Land::open(
                    &settings.target.land,
                    &super::connect::land_options(&settings.target),
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
                let rows = load(bq, dataset, table, export).await?;
                printer.info(&format!(
                    "Staged source {name}: loaded {rows} rows from the land"
                ));
            }
        }
        staged += 1;
    }
    Ok(staged)
}

/// Loads rows read here into `dataset.table` (replacing it); returns how many.
async fn load(
    bq: &BigQuery,
    dataset: &str,
    table: &str,
    export: crate::adapters::datafusion::Export,
) -> Result<u64, Diagnostic> {
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
    bq.replace_with_csv(dataset, table, &fields, export.csv, None)
        .await
        .map_err(|e| super::connect::bigquery_diagnostic(&e))
}
