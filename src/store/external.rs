//! External sources (issue 11): a source table whose rows are files in place
//! (a folder, `gs://` or `s3://`, with globs), declared as
//!
//! ```yaml
//! sources:
//!   - name: spark
//!     tables:
//!       - name: fact_order
//!         external:
//!           location: gs://old-lake/transformed/fact_order/   # or ./exports/*.csv
//!           format: parquet            # parquet | csv | ndjson
//!           hive: true                 # or partitions: [{name: dt, data_type: date}]
//!           options: {header: true, delimiter: ',', quote: '"', compression: gzip}
//!         columns:                     # types where the format has none
//!           - {name: order_id, data_type: string}
//! ```
//!
//! This module reads and checks the declaration; the adapters read the files.

use serde_json::Value;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExternalFormat {
    Parquet,
    Csv,
    Ndjson,
}

impl ExternalFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ExternalFormat::Parquet => "parquet",
            ExternalFormat::Csv => "csv",
            ExternalFormat::Ndjson => "ndjson",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
}

impl Compression {
    pub fn suffix(self) -> &'static str {
        match self {
            Compression::None => "",
            Compression::Gzip => ".gz",
            Compression::Bzip2 => ".bz2",
            Compression::Xz => ".xz",
            Compression::Zstd => ".zst",
        }
    }
}

/// A partition column: its name, and its SQL type (text when not given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionColumn {
    pub name: String,
    pub data_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExternalSpec {
    /// As written in the YAML, for messages.
    pub written: String,
    /// A local absolute path (relative ones are resolved against the
    /// project), or a `gs://` / `s3://` URL; may contain globs.
    pub location: String,
    pub format: ExternalFormat,
    pub header: bool,
    pub delimiter: u8,
    pub quote: u8,
    pub compression: Compression,
    /// Files read: those ending so (by default `.parquet`, `.csv`, `.json`
    /// plus the compression's suffix); empty when a glob picks them.
    pub file_extension: String,
    pub partitions: Vec<PartitionColumn>,
    /// Partition columns found in the folder names (`key=value`).
    pub hive: bool,
    /// Declared columns with their types (`None` where not given).
    pub columns: Vec<(String, Option<String>)>,
}

const OPTION_KEYS: &[&str] = &[
    "header",
    "skip_leading_rows",
    "delimiter",
    "field_delimiter",
    "quote",
    "compression",
    "file_extension",
];

impl ExternalSpec {
    /// Reads an `external:` block. `columns` are the source table's declared
    /// columns; `project_dir` resolves relative local locations. The error
    /// says which key is wrong and what it takes.
    pub fn parse(
        block: &Value,
        columns: Vec<(String, Option<String>)>,
        project_dir: &Path,
    ) -> Result<ExternalSpec, String> {
        let map = block
            .as_object()
            .ok_or("`external` must be a mapping with `location` and `format`")?;
        let written = match map.get("location") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
            _ => return Err("`external.location` is missing: give a folder, a file glob, or a gs:// or s3:// URL".into()),
        };
        let format = parse_format(map)?;
        let location = resolve_location(&written, project_dir)?;
        let options = match map.get("options") {
            None | Some(Value::Null) => serde_json::Map::new(),
            Some(Value::Object(o)) => o.clone(),
            Some(_) => return Err("`external.options` must be a mapping".into()),
        };
        for key in options.keys() {
            if !OPTION_KEYS.contains(&key.as_str()) {
                return Err(format!(
                    "`external.options.{key}` is not an option; use {}",
                    OPTION_KEYS.join(", ")
                ));
            }
        }
        let single_char = |key: &str, default: u8| -> Result<u8, String> {
            match options.get(key) {
                None => Ok(default),
                Some(Value::String(s)) if s.len() == 1 => Ok(s.as_bytes()[0]),
                Some(Value::String(s)) if s == "\\t" => Ok(b'\t'),
                Some(_) => Err(format!("`external.options.{key}` must be one character")),
            }
        };
        let delimiter = match options.get("field_delimiter") {
            Some(_) => single_char("field_delimiter", b',')?,
            None => single_char("delimiter", b',')?,
        };
        let header = match (options.get("header"), options.get("skip_leading_rows")) {
            (Some(Value::Bool(b)), _) => *b,
            (Some(_), _) => return Err("`external.options.header` must be true or false".into()),
            (None, Some(n)) => {
                n.as_u64()
                    .ok_or("`external.options.skip_leading_rows` must be 0 or 1")?
                    == 1
            }
            (None, None) => true,
        };
        let compression = parse_compression(&options)?;
        if compression != Compression::None && format == ExternalFormat::Parquet {
            return Err("`external.options.compression` is for csv and ndjson; Parquet files carry their own".into());
        }
        let has_glob = location.contains(['*', '?', '[']);
        let file_extension = match options.get("file_extension") {
            Some(Value::String(s)) => s.clone(),
            Some(_) => {
                return Err("`external.options.file_extension` must be text such as .jsonl".into());
            }
            None if has_glob => String::new(),
            None => format!(
                "{}{}",
                match format {
                    ExternalFormat::Parquet => ".parquet",
                    ExternalFormat::Csv => ".csv",
                    ExternalFormat::Ndjson => ".json",
                },
                compression.suffix()
            ),
        };
        let partitions = parse_partitions(map, &columns)?;
        let hive = match map.get("hive") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err("`external.hive` must be true or false".into()),
        };
        for (name, t) in &columns {
            if let Some(t) = t
                && crate::sql::analysis::arrow_type(t).is_none()
            {
                return Err(format!(
                    "column `{name}`: data_type `{t}` is not a type rdbt reads from files (use int64, float64, string, bool, date, timestamp, numeric(p,s), bytes)"
                ));
            }
        }
        for p in &partitions {
            if let Some(t) = &p.data_type
                && crate::sql::analysis::arrow_type(t).is_none()
            {
                return Err(format!(
                    "partition `{}`: data_type `{t}` is not a type rdbt reads from folder names",
                    p.name
                ));
            }
        }
        if format == ExternalFormat::Ndjson && columns.iter().any(|(_, t)| t.is_none()) {
            return Err("NDJSON carries no types: give every declared column a data_type (or declare none, and the types are inferred)".into());
        }
        Ok(ExternalSpec {
            written,
            location,
            format,
            header,
            delimiter,
            quote: single_char("quote", b'"')?,
            compression,
            file_extension,
            partitions,
            hive,
            columns,
        })
    }

    /// `gs://bucket` or `s3://bucket` for a bucket location.
    pub fn bucket(&self) -> Option<String> {
        let (scheme, rest) = self.location.split_once("://")?;
        Some(format!("{scheme}://{}", rest.split('/').next()?))
    }

    /// The folder the files are under, without globs (for listings and
    /// BigQuery's `hive_partition_uri_prefix`).
    pub fn base(&self) -> String {
        match self.location.find(['*', '?', '[']) {
            Some(at) => {
                let head = &self.location[..at];
                head[..head.rfind('/').map_or(0, |i| i + 1)].to_string()
            }
            None => self.location.clone(),
        }
    }
}

/// `external.format`: parquet, csv or ndjson (json, jsonl,
/// newline_delimited_json).
fn parse_format(map: &serde_json::Map<String, Value>) -> Result<ExternalFormat, String> {
    Ok(
        match map
            .get("format")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
        {
            Some(f) if f == "parquet" => ExternalFormat::Parquet,
            Some(f) if f == "csv" => ExternalFormat::Csv,
            Some(f)
                if f == "ndjson"
                    || f == "json"
                    || f == "newline_delimited_json"
                    || f == "jsonl" =>
            {
                ExternalFormat::Ndjson
            }
            Some(other) => {
                return Err(format!(
                    "`external.format: {other}` is not one of parquet, csv, ndjson"
                ));
            }
            None => return Err("`external.format` is missing: parquet, csv or ndjson".into()),
        },
    )
}

/// `external.location` as the readers take it: a bucket URL as written, a
/// `file://` URL's path, or a local path made absolute from the project.
fn resolve_location(written: &str, project_dir: &Path) -> Result<String, String> {
    Ok(if written.contains("://") {
        if !(written.starts_with("gs://")
            || written.starts_with("s3://")
            || written.starts_with("file://"))
        {
            return Err(format!(
                "`external.location: {written}`: the scheme is not supported; use a folder, gs:// or s3://"
            ));
        }
        match written.strip_prefix("file://") {
            Some(path) => path.to_string(),
            None => written.to_string(),
        }
    } else {
        let path = Path::new(&written);
        let absolute = if path.is_absolute() {
            path.to_path_buf()
        } else {
            project_dir.join(path)
        };
        let mut text = absolute.display().to_string();
        if written.ends_with('/') && !text.ends_with('/') {
            text.push('/');
        }
        text
    })
}

/// `external.options.compression`.
fn parse_compression(options: &serde_json::Map<String, Value>) -> Result<Compression, String> {
    Ok(
        match options
            .get("compression")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("none") | Some("uncompressed") => Compression::None,
            Some("gzip") | Some("gz") => Compression::Gzip,
            Some("bzip2") | Some("bz2") => Compression::Bzip2,
            Some("xz") => Compression::Xz,
            Some("zstd") | Some("zst") => Compression::Zstd,
            Some(other) => {
                return Err(format!(
                    "`external.options.compression: {other}` is not one of none, gzip, bzip2, xz, zstd"
                ));
            }
        },
    )
}

/// `external.partitions`: names, or `{name, data_type}`; a name's type is
/// the declared column's when not given.
fn parse_partitions(
    map: &serde_json::Map<String, Value>,
    columns: &[(String, Option<String>)],
) -> Result<Vec<PartitionColumn>, String> {
    let declared_type = |name: &str| {
        columns
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(name))
            .and_then(|(_, t)| t.clone())
    };
    Ok(match map.get("partitions") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .map(|p| match p {
                Value::String(name) => Ok(PartitionColumn {
                    name: name.clone(),
                    data_type: declared_type(name),
                }),
                Value::Object(o) => {
                    let name = o
                        .get("name")
                        .and_then(Value::as_str)
                        .ok_or("each of `external.partitions` needs a `name`")?;
                    Ok(PartitionColumn {
                        name: name.to_string(),
                        data_type: o
                            .get("data_type")
                            .and_then(Value::as_str)
                            .map(str::to_string)
                            .or_else(|| declared_type(name)),
                    })
                }
                _ => Err("`external.partitions` lists names, or {name, data_type}".to_string()),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("`external.partitions` must be a list".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<ExternalSpec, String> {
        ExternalSpec::parse(
            &v,
            vec![("dt".into(), Some("date".into()))],
            Path::new("/p"),
        )
    }

    #[test]
    fn locations_formats_and_options_are_read() {
        let s =
            parse(json!({"location": "data/orders/", "format": "parquet", "hive": true})).unwrap();
        assert_eq!(s.location, "/p/data/orders/");
        assert_eq!(s.file_extension, ".parquet");
        assert!(s.hive);
        let s = parse(json!({"location": "gs://b/x/*.csv.gz", "format": "csv", "options": {"compression": "gzip", "delimiter": ";", "header": false}, "partitions": ["dt"]})).unwrap();
        assert_eq!(s.bucket().as_deref(), Some("gs://b"));
        assert_eq!(s.base(), "gs://b/x/");
        assert_eq!(s.file_extension, "");
        assert_eq!(
            (s.delimiter, s.header, s.compression),
            (b';', false, Compression::Gzip)
        );
        assert_eq!(s.partitions[0].data_type.as_deref(), Some("date"));
    }

    #[test]
    fn mistakes_name_the_key() {
        for (block, wanted) in [
            (
                json!({"format": "parquet"}),
                "`external.location` is missing",
            ),
            (
                json!({"location": "x", "format": "orc"}),
                "is not one of parquet, csv, ndjson",
            ),
            (
                json!({"location": "x", "format": "csv", "options": {"sep": ","}}),
                "`external.options.sep` is not an option",
            ),
            (
                json!({"location": "ftp://x", "format": "csv"}),
                "the scheme is not supported",
            ),
            (
                json!({"location": "x", "format": "parquet", "options": {"compression": "gzip"}}),
                "Parquet files carry their own",
            ),
        ] {
            let err = parse(block).unwrap_err();
            assert!(err.contains(wanted), "{err}");
        }
        let err = ExternalSpec::parse(
            &json!({"location": "x", "format": "ndjson"}),
            vec![("a".into(), None)],
            Path::new("/p"),
        )
        .unwrap_err();
        assert!(err.contains("NDJSON carries no types"), "{err}");
    }
}
