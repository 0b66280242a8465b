//! Sources on the land and sources over files (`external:`), made readable
//! on BigQuery: external tables over the files (dbt-external-tables'
//! `stage_external_sources`), or, with `external_sources: load`, the files
//! read here and loaded into native tables (emulators, or no bucket access).

use super::{BigQuery, Field, SourceStaging, sql};
use crate::adapters::{AdapterError, LandAccess, SourceTable};
use crate::store::external::{Compression, ExternalFormat, ExternalSpec};

/// The external table BigQuery is given for a declared external source.
pub fn external_table_for(
    name: &str,
    spec: &ExternalSpec,
) -> Result<sql::ExternalTable, AdapterError> {
    if !spec.location.starts_with("gs://") {
        return Err(AdapterError::new(
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
                AdapterError::new(format!(
                    "source `{name}`: data_type `{t}` has no BigQuery type"
                ))
            })
    };
    let partition_names: Vec<&str> = spec.partitions.iter().map(|p| p.name.as_str()).collect();
    let columns = spec
        .columns
        .iter()
        .filter(|(c, _)| !partition_names.iter().any(|p| p.eq_ignore_ascii_case(c)))
        .filter_map(|(c, t)| t.as_deref().map(|t| (c, t)))
        .map(|(c, t)| Ok((c.clone(), bq_type(name, t)?)))
        .collect::<Result<Vec<_>, AdapterError>>()?;
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
        .collect::<Result<Vec<_>, AdapterError>>()?;
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

impl BigQuery {
    /// Creates or refreshes each source's table; returns how many were
    /// staged.
    pub(super) async fn stage(
        &self,
        sources: &[SourceTable],
        land: &LandAccess,
        report: &(dyn Fn(String) + Send + Sync),
    ) -> Result<usize, AdapterError> {
        let mut staged = 0;
        let land_error = |e: String| {
            AdapterError::new(format!("cannot read the land at {}: {e}", land.root))
                .with_help("check `land` and `land_options` of the target in profiles.yml")
        };
        let staging = self.config().source_staging;
        // Every declaration is checked before BigQuery is touched, so a bad
        // one leaves nothing half staged.
        if staging == SourceStaging::External {
            for s in sources {
                if let Some(spec) = &s.external {
                    external_table_for(&s.name, spec)?;
                }
            }
        }
        for s in sources {
            let (dataset, table, name) = (s.schema.as_str(), s.identifier.as_str(), &s.name);
            self.ensure_dataset(dataset).await?;
            match (staging, &s.external) {
                (SourceStaging::External, Some(spec)) => {
                    let table_sql = external_table_for(name, spec)?;
                    let statement =
                        sql::external_table_with(&self.relation(dataset, table), &table_sql);
                    self.execute(&statement, None).await?;
                    report(format!(
                        "Staged source {name} as an external table over {}",
                        spec.written
                    ));
                }
                (SourceStaging::Load, Some(spec)) => {
                    let source = crate::adapters::datafusion::external::ExternalSource {
                        name: name.clone(),
                        spec: spec.clone(),
                    };
                    let export =
                        crate::adapters::datafusion::export_external(&source, &land.options)
                            .await
                            .map_err(|e| {
                                AdapterError::new(e.to_string())
                                    .with_help("check `external.location` and the files there")
                            })?;
                    let rows = self.load(dataset, table, export).await?;
                    report(format!(
                        "Staged source {name}: loaded {rows} rows from {}",
                        spec.written
                    ));
                }
                (SourceStaging::External, None) => {
                    if !land.root.starts_with("gs://") {
                        return Err(AdapterError::new(format!(
                            "source `{name}` is on the land `{}`, which BigQuery cannot read: external tables need a gs:// land",
                            land.root
                        ))
                        .with_help("set `land: gs://<bucket>/<prefix>` on the BigQuery target, or `external_sources: load` to load the land into native tables"));
                    }
                    let prefix = format!("{}/{dataset}/{table}", land.root.trim_end_matches('/'));
                    let statement = sql::external_table(
                        &self.relation(dataset, table),
                        &prefix,
                        "parquet",
                        true,
                    );
                    self.execute(&statement, None).await?;
                    report(format!(
                        "Staged source {name} as an external table over {prefix}/"
                    ));
                }
                (SourceStaging::Load, None) => {
                    let store = crate::store::Land::open(&land.root, &land.options)
                        .map_err(|e| land_error(e.to_string()))?;
                    let Some(export) =
                        crate::adapters::datafusion::export_land_table(&store, dataset, table)
                            .await
                            .map_err(|e| land_error(e.to_string()))?
                    else {
                        report(format!(
                            "Source {name} has nothing landed yet (run `rdbt ingest --select source:{name}`); not staged"
                        ));
                        continue;
                    };
                    let rows = self.load(dataset, table, export).await?;
                    report(format!(
                        "Staged source {name}: loaded {rows} rows from the land"
                    ));
                }
            }
            staged += 1;
        }
        Ok(staged)
    }

    /// Loads rows read here into `dataset.table` (replacing it); returns
    /// how many.
    async fn load(
        &self,
        dataset: &str,
        table: &str,
        export: crate::adapters::datafusion::Export,
    ) -> Result<u64, AdapterError> {
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
        Ok(self
            .replace_with_csv(dataset, table, &fields, export.csv, None)
            .await?)
    }
}
