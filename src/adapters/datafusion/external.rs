//! External sources on the embedded warehouse: files read in place as a
//! listing table (never copied), partition columns typed so filters prune
//! folders. Before the table is handed to a query every file is checked, so
//! an empty prefix, a file in another format or a column whose type cannot
//! become the declared one is an error naming the file, and no query reads
//! half the files.

use crate::store::external::{Compression, ExternalFormat, ExternalSpec};
use datafusion::arrow::compute::can_cast_types;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;
use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A declared external source: its spec and its name for messages.
#[derive(Debug, Clone)]
pub struct ExternalSource {
    /// `source_name.table_name`.
    pub name: String,
    pub spec: ExternalSpec,
}

/// Bytes read from the start of a CSV or NDJSON file to check its format.
const HEAD_BYTES: u64 = 64 * 1024;

fn fail(source: &ExternalSource, message: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Plan(format!("external source `{}`: {message}", source.name))
}

/// The listing URL of the spec's location (with its glob, if any).
fn listing_url(spec: &ExternalSpec) -> Result<ListingTableUrl, DataFusionError> {
    let has_glob = spec.location.contains(['*', '?', '[']);
    if !spec.location.contains("://") {
        let mut location = spec.location.clone();
        if !has_glob && std::path::Path::new(&location).is_dir() && !location.ends_with('/') {
            location.push('/');
        }
        return ListingTableUrl::parse(location);
    }
    let base = spec.base();
    let folder = if base.ends_with('/')
        || has_glob
        || base.ends_with(&spec.file_extension) && !spec.file_extension.is_empty()
    {
        base.clone()
    } else {
        format!("{base}/")
    };
    let url = url::Url::parse(&folder).map_err(|e| DataFusionError::External(Box::new(e)))?;
    let glob = if has_glob {
        let pattern = &spec.location[base.len()..];
        Some(glob::Pattern::new(pattern).map_err(|e| DataFusionError::External(Box::new(e)))?)
    } else {
        None
    };
    ListingTableUrl::try_new(url, glob)
}

fn file_format(spec: &ExternalSpec) -> Arc<dyn FileFormat> {
    let compression = match spec.compression {
        Compression::None => FileCompressionType::UNCOMPRESSED,
        Compression::Gzip => FileCompressionType::GZIP,
        Compression::Bzip2 => FileCompressionType::BZIP2,
        Compression::Xz => FileCompressionType::XZ,
        Compression::Zstd => FileCompressionType::ZSTD,
    };
    match spec.format {
        ExternalFormat::Parquet => Arc::new(ParquetFormat::default()),
        ExternalFormat::Csv => Arc::new(
            CsvFormat::default()
                .with_has_header(spec.header)
                .with_delimiter(spec.delimiter)
                .with_quote(spec.quote)
                .with_file_compression_type(compression),
        ),
        ExternalFormat::Ndjson => {
            Arc::new(JsonFormat::default().with_file_compression_type(compression))
        }
    }
}

/// Opens the store of a bucket location with the land's credentials.
fn register_store(
    ctx: &SessionContext,
    source: &ExternalSource,
    options: &BTreeMap<String, String>,
) -> Result<(), DataFusionError> {
    let Some(bucket) = source.spec.bucket() else {
        return Ok(());
    };
    let land = crate::store::Land::open(&bucket, options).map_err(|e| fail(source, e))?;
    if let Some((url, store)) = land.bucket_store()
        && let Ok(url) = url::Url::parse(&url)
    {
        ctx.register_object_store(&url, store);
    }
    Ok(())
}

/// The files the table reads, as the listing table would pick them.
async fn files(
    store: &Arc<dyn ObjectStore>,
    url: &ListingTableUrl,
    spec: &ExternalSpec,
) -> Result<Vec<ObjectMeta>, object_store::Error> {
    let listed: Vec<ObjectMeta> = if url.is_collection() || url.prefix().as_ref().is_empty() {
        store.list(Some(url.prefix())).try_collect().await?
    } else {
        match store.head(url.prefix()).await {
            Ok(meta) => vec![meta],
            Err(object_store::Error::NotFound { .. }) => {
                store.list(Some(url.prefix())).try_collect().await?
            }
            Err(e) => return Err(e),
        }
    };
    let mut picked: Vec<ObjectMeta> = listed
        .into_iter()
        .filter(|m| url.contains(&m.location, false))
        .filter(|m| m.location.as_ref().ends_with(&spec.file_extension))
        // Spark's and Hadoop's markers and checksums (`_SUCCESS`, `.crc`).
        .filter(|m| {
            !m.location
                .filename()
                .is_some_and(|f| f.starts_with('_') || f.starts_with('.'))
        })
        .collect();
    picked.sort_by(|a, b| a.location.cmp(&b.location));
    Ok(picked)
}

/// A file's location as the user would write it.
fn shown(spec: &ExternalSpec, meta: &ObjectMeta) -> String {
    match spec.bucket() {
        Some(bucket) => format!("{bucket}/{}", meta.location),
        None => format!("/{}", meta.location),
    }
}

/// When the newest of the source's files was last modified (freshness for
/// sources without a `loaded_at_field`); `None` when there are no files.
pub(crate) async fn newest_file(
    ctx: &SessionContext,
    source: &ExternalSource,
    options: &BTreeMap<String, String>,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, DataFusionError> {
    register_store(ctx, source, options)?;
    let url = listing_url(&source.spec)?;
    let store = ctx.state().runtime_env().object_store(url.object_store())?;
    let found = files(&store, &url, &source.spec)
        .await
        .map_err(|e| fail(source, format!("cannot list {}: {e}", source.spec.written)))?;
    Ok(found.iter().map(|m| m.last_modified).max())
}

/// Builds the table, checking every file first.
pub(crate) async fn external_table(
    ctx: &SessionContext,
    source: &ExternalSource,
    options: &BTreeMap<String, String>,
) -> Result<Arc<dyn TableProvider>, DataFusionError> {
    let spec = &source.spec;
    if !spec.location.contains("://") {
        let base = spec.base();
        if !std::path::Path::new(&base).exists() {
            return Err(fail(
                source,
                format!(
                    "`{}` does not exist (external.location: {})",
                    base, spec.written
                ),
            ));
        }
    }
    register_store(ctx, source, options)?;
    let url = listing_url(spec)?;
    let state = ctx.state();
    let store = state.runtime_env().object_store(url.object_store())?;
    let found = files(&store, &url, spec)
        .await
        .map_err(|e| fail(source, format!("cannot list {}: {e}", spec.written)))?;
    if found.is_empty() {
        return Err(fail(
            source,
            format!(
                "no {} files at {}{}",
                spec.format.as_str(),
                spec.written,
                if spec.file_extension.is_empty() {
                    String::new()
                } else {
                    format!(" (files ending in {})", spec.file_extension)
                }
            ),
        ));
    }
    let format = file_format(spec);

    let first = found[0]
        .location
        .as_ref()
        .strip_prefix(url.prefix().as_ref())
        .unwrap_or(found[0].location.as_ref())
        .to_string();
    let partitions = partition_columns(spec, &first);
    let is_partition = |name: &str| partitions.iter().any(|(p, _)| p.eq_ignore_ascii_case(name));

    let schemas = file_schemas(&state, &store, &format, source, &found).await?;

    let file_schema = table_schema(source, &schemas, &is_partition)?;

    let listing = ListingOptions::new(format)
        .with_file_extension(spec.file_extension.clone())
        .with_table_partition_cols(partitions);
    let config = ListingTableConfig::new(url)
        .with_listing_options(listing)
        .with_schema(file_schema);
    Ok(Arc::new(ListingTable::try_new(config)?))
}

/// Partition columns: as declared, else (Hive layout) the `key=value`
/// folders of the first file, typed from the declared columns (text
/// otherwise).
fn partition_columns(spec: &ExternalSpec, first_file: &str) -> Vec<(String, DataType)> {
    let declared_type = |name: &str| -> Option<DataType> {
        spec.columns
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(name))
            .and_then(|(_, t)| t.as_deref())
            .and_then(crate::sql::analysis::arrow_type)
    };
    let mut partitions: Vec<(String, DataType)> = spec
        .partitions
        .iter()
        .map(|p| {
            let t = p
                .data_type
                .as_deref()
                .and_then(crate::sql::analysis::arrow_type)
                .unwrap_or(DataType::Utf8);
            (p.name.clone(), t)
        })
        .collect();
    if spec.hive && partitions.is_empty() {
        for segment in first_file.trim_start_matches('/').split('/') {
            if let Some((key, _)) = segment.split_once('=') {
                partitions.push((
                    key.to_string(),
                    declared_type(key).unwrap_or(DataType::Utf8),
                ));
            }
        }
    }
    partitions
}

/// Each file's own schema (Parquet footers, or inferred from the start of
/// the file), checked one by one so a bad file is named.
async fn file_schemas(
    state: &datafusion::execution::SessionState,
    store: &Arc<dyn ObjectStore>,
    format: &Arc<dyn FileFormat>,
    source: &ExternalSource,
    found: &[ObjectMeta],
) -> Result<Vec<(SchemaRef, ObjectMeta)>, DataFusionError> {
    let spec = &source.spec;
    let checked: Vec<Result<(SchemaRef, ObjectMeta), (ObjectMeta, String)>> =
        futures::stream::iter(found.to_vec())
            .map(|meta| {
                let format = format.clone();
                let state = state.clone();
                let store = store.clone();
                let spec = spec.clone();
                async move {
                    if let Err(m) = check_head(&store, &spec, &meta).await {
                        return Err((meta, m));
                    }
                    match format
                        .infer_schema(&state, &store, std::slice::from_ref(&meta))
                        .await
                    {
                        Ok(schema) => Ok((schema, meta)),
                        Err(e) => {
                            let m = format!(
                                "is not a readable {} file: {}",
                                spec.format.as_str(),
                                first_line(&e.to_string())
                            );
                            Err((meta, m))
                        }
                    }
                }
            })
            .buffered(8)
            .collect()
            .await;
    let mut schemas: Vec<(SchemaRef, ObjectMeta)> = Vec::with_capacity(checked.len());
    for result in checked {
        match result {
            Ok(pair) => schemas.push(pair),
            Err((meta, m)) => return Err(fail(source, format!("{} {m}", shown(spec, &meta)))),
        }
    }
    Ok(schemas)
}

/// The table's schema (without partition columns): the declared one when
/// every column has a type (and the format is not positional CSV), else
/// the files' columns merged, with declared types put on; a file whose
/// column cannot be read as the table's type is named.
fn table_schema(
    source: &ExternalSource,
    schemas: &[(SchemaRef, ObjectMeta)],
    is_partition: &dyn Fn(&str) -> bool,
) -> Result<SchemaRef, DataFusionError> {
    let spec = &source.spec;
    let declared: Vec<Field> = spec
        .columns
        .iter()
        .filter(|(name, _)| !is_partition(name))
        .filter_map(|(name, t)| {
            Some(Field::new(
                name,
                crate::sql::analysis::arrow_type(t.as_deref()?)?,
                true,
            ))
        })
        .collect();
    let fully_declared = !declared.is_empty()
        && spec
            .columns
            .iter()
            .filter(|(n, _)| !is_partition(n))
            .all(|(_, t)| t.is_some());
    // CSV is positional: its table schema must follow the files' columns,
    // with the declared types put on the declared ones.
    let file_schema: SchemaRef = if fully_declared && spec.format != ExternalFormat::Csv {
        Arc::new(Schema::new(declared.clone()))
    } else {
        let mut merged: Vec<Field> = Vec::new();
        for (schema, meta) in schemas {
            for f in schema.fields() {
                if is_partition(f.name()) {
                    continue;
                }
                match merged.iter().find(|m| m.name() == f.name()) {
                    None => merged.push(f.as_ref().clone()),
                    // Files that agree, or disagree on a column whose type
                    // is declared (each is cast to it; checked below).
                    Some(m)
                        if m.data_type() == f.data_type()
                            || declared.iter().any(|d| d.name() == f.name()) => {}
                    Some(m) => {
                        return Err(fail(
                            source,
                            format!(
                                "{} has column `{}` as {}, other files as {}; declare its type under `columns` (data_type) to read both",
                                shown(spec, meta),
                                f.name(),
                                crate::sql::types::sql_type(f.data_type()),
                                crate::sql::types::sql_type(m.data_type())
                            ),
                        ));
                    }
                }
            }
        }
        for field in merged.iter_mut() {
            if let Some(d) = declared
                .iter()
                .find(|d| d.name().eq_ignore_ascii_case(field.name()))
            {
                *field = Field::new(field.name(), d.data_type().clone(), true);
            }
        }
        Arc::new(Schema::new(merged))
    };
    // Schema drift: a file may lack a column (read as NULL) or add one
    // (ignored when not declared), but what it has must become the table's type.
    for (schema, meta) in schemas {
        for f in schema.fields() {
            if let Ok(table_field) = file_schema.field_with_name(f.name())
                && f.data_type() != table_field.data_type()
                && (!can_cast_types(f.data_type(), table_field.data_type())
                    || spec.format == ExternalFormat::Parquet
                        && is_text(f.data_type())
                        && !is_text(table_field.data_type()))
            {
                return Err(fail(
                    source,
                    format!(
                        "{} has column `{}` as {}, which cannot be read as the declared {}",
                        shown(spec, meta),
                        f.name(),
                        crate::sql::types::sql_type(f.data_type()),
                        crate::sql::types::sql_type(table_field.data_type())
                    ),
                ));
            }
        }
    }
    Ok(file_schema)
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// The start of a CSV or NDJSON file must look like one (Parquet files are
/// checked by reading their footer).
async fn check_head(
    store: &Arc<dyn ObjectStore>,
    spec: &ExternalSpec,
    meta: &ObjectMeta,
) -> Result<(), String> {
    if spec.format == ExternalFormat::Parquet || spec.compression != Compression::None {
        return Ok(());
    }
    let end = meta.size.min(HEAD_BYTES);
    if end == 0 {
        return Ok(());
    }
    let bytes = store
        .get_range(&meta.location, 0..end)
        .await
        .map_err(|e| format!("cannot be read: {e}"))?;
    if bytes.starts_with(b"PAR1") || bytes.contains(&0) {
        return Err(format!(
            "is not a {} file (it holds binary data; is it Parquet or compressed?)",
            spec.format.as_str()
        ));
    }
    let text = String::from_utf8_lossy(&bytes);
    // The last line may be cut by the range unless the whole file was read.
    let complete: Vec<&str> = if end == meta.size {
        text.lines().collect()
    } else {
        let mut lines: Vec<&str> = text.lines().collect();
        lines.pop();
        lines
    };
    match spec.format {
        ExternalFormat::Ndjson => {
            for (i, line) in complete.iter().enumerate() {
                let line = line.trim();
                if line.is_empty() {
                    continue;
                }
                if !matches!(
                    serde_json::from_str::<serde_json::Value>(line),
                    Ok(serde_json::Value::Object(_))
                ) {
                    return Err(format!(
                        "is not newline-delimited JSON: line {} is not a JSON object",
                        i + 1
                    ));
                }
            }
        }
        ExternalFormat::Csv if spec.header => {
            let Some(header) = complete.first() else {
                return Ok(());
            };
            let names: Vec<String> = header
                .split(spec.delimiter as char)
                .map(|h| h.trim().trim_matches(spec.quote as char).to_string())
                .collect();
            for (column, _) in &spec.columns {
                let partition = spec
                    .partitions
                    .iter()
                    .any(|p| p.name.eq_ignore_ascii_case(column))
                    || spec.hive && meta.location.as_ref().contains(&format!("{column}="));
                if !partition && !names.iter().any(|n| n.eq_ignore_ascii_case(column)) {
                    return Err(format!(
                        "has no column `{column}` in its header ({})",
                        names.join(", ")
                    ));
                }
            }
        }
        _ => {}
    }
    Ok(())
}
