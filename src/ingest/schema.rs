//! The landed shape of a source table: its declared columns as typed Arrow
//! fields, the stream-position columns rdbt fills itself, and the rules a
//! message must pass (required fields, accepted values) to land.

use super::IngestError;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
// Looked up once per field of every message: a fast hash, not SipHash.
use datafusion::common::HashMap;
use std::sync::Arc;

/// What a declared column holds, and so which JSON values it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// A JSON string.
    String,
    /// A JSON integer (no fraction, no exponent) that fits 64 bits.
    Int64,
    /// Any JSON number.
    Float64,
    /// Any JSON number, kept exactly at `scale` decimals.
    Decimal { precision: u8, scale: i8 },
    /// `true` or `false`.
    Bool,
    /// An RFC 3339 string in UTC (`Z` or `+00:00`), microseconds kept.
    Timestamp,
    /// A `YYYY-MM-DD` string.
    Date,
}

impl ValueKind {
    /// The kind for a declared `data_type` (BigQuery, DuckDB or Postgres
    /// spelling), or `None` when ingestion cannot land it.
    pub fn from_declared(data_type: &str) -> Option<ValueKind> {
        let t = data_type.trim().to_ascii_uppercase();
        let (base, args) = match t.split_once('(') {
            Some((b, rest)) => (b.trim().to_string(), Some(rest.trim_end_matches(')'))),
            None => (t.clone(), None),
        };
        Some(match base.as_str() {
            "STRING" | "TEXT" | "VARCHAR" | "CHAR" | "CHARACTER VARYING" => ValueKind::String,
            "INT64" | "INT" | "INTEGER" | "BIGINT" | "SMALLINT" | "INT4" | "INT8" | "TINYINT" => {
                ValueKind::Int64
            }
            "FLOAT64" | "FLOAT" | "DOUBLE" | "DOUBLE PRECISION" | "REAL" | "FLOAT8" => {
                ValueKind::Float64
            }
            "NUMERIC" | "DECIMAL" => {
                let (precision, scale) = match args {
                    None => (38, 9),
                    Some(a) => {
                        let mut it = a.split(',').map(|x| x.trim().parse::<u8>());
                        let p = it.next()?.ok()?;
                        let s = it.next().transpose().ok()?.unwrap_or(0);
                        (p, s)
                    }
                };
                if precision == 0 || precision > 38 || scale > precision {
                    return None;
                }
                ValueKind::Decimal {
                    precision,
                    scale: scale as i8,
                }
            }
            "BOOL" | "BOOLEAN" => ValueKind::Bool,
            "TIMESTAMP" | "TIMESTAMPTZ" | "TIMESTAMP WITH TIME ZONE" => ValueKind::Timestamp,
            "DATE" => ValueKind::Date,
            _ => return None,
        })
    }

    pub fn arrow_type(self) -> DataType {
        match self {
            ValueKind::String => DataType::Utf8,
            ValueKind::Int64 => DataType::Int64,
            ValueKind::Float64 => DataType::Float64,
            ValueKind::Decimal { precision, scale } => DataType::Decimal128(precision, scale),
            ValueKind::Bool => DataType::Boolean,
            ValueKind::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            ValueKind::Date => DataType::Date32,
        }
    }

    /// The JSON type a user should send, for messages.
    pub fn json_name(self) -> &'static str {
        match self {
            ValueKind::String => "a string",
            ValueKind::Int64 => "an integer",
            ValueKind::Float64 | ValueKind::Decimal { .. } => "a number",
            ValueKind::Bool => "a boolean",
            ValueKind::Timestamp => "an RFC 3339 timestamp string",
            ValueKind::Date => "a YYYY-MM-DD date string",
        }
    }
}

/// Columns whose value comes from the message's place in the stream, not
/// from its JSON: declare them to keep them in the land.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamColumn {
    /// `_partition`: the Kafka partition (0 for a file).
    Partition,
    /// `_offset`: the Kafka offset, or the line number in a file.
    Offset,
    /// `_key`: the message key as text.
    Key,
    /// `_timestamp`: the Kafka message timestamp.
    MessageTimestamp,
}

impl StreamColumn {
    fn from_name(name: &str) -> Option<StreamColumn> {
        Some(match name {
            "_partition" => StreamColumn::Partition,
            "_offset" => StreamColumn::Offset,
            "_key" => StreamColumn::Key,
            "_timestamp" => StreamColumn::MessageTimestamp,
            _ => return None,
        })
    }

    fn kind(self) -> ValueKind {
        match self {
            StreamColumn::Partition | StreamColumn::Offset => ValueKind::Int64,
            StreamColumn::Key => ValueKind::String,
            StreamColumn::MessageTimestamp => ValueKind::Timestamp,
        }
    }
}

#[derive(Debug, Clone)]
pub struct LandColumn {
    pub name: String,
    pub kind: ValueKind,
    /// Filled from the stream position instead of the JSON.
    pub stream: Option<StreamColumn>,
    /// Must be present and not null, or the message is quarantined.
    pub required: bool,
    /// When set, the value must be one of these (case-sensitive).
    pub accepted: Option<Vec<String>>,
}

/// The validated, typed shape of one landed table.
#[derive(Debug)]
pub struct LandSchema {
    pub columns: Vec<LandColumn>,
    pub arrow: SchemaRef,
    /// JSON field name → index in `columns` (stream columns excluded).
    by_field: HashMap<String, usize>,
    /// The timestamp column that picks a row's `dt=`/`hr=` folder.
    pub partition_by: Option<usize>,
}

/// A declared column as the project states it.
#[derive(Debug, Clone)]
pub struct DeclaredColumn {
    pub name: String,
    pub data_type: Option<String>,
}

impl LandSchema {
    /// Builds the schema from declared columns. Every column needs a
    /// `data_type`; `required` and `accepted_values` must name declared
    /// columns; `partition_by` a timestamp column.
    pub fn new(
        declared: &[DeclaredColumn],
        required: &[String],
        accepted: &[(String, Vec<String>)],
        partition_by: Option<&str>,
    ) -> Result<LandSchema, IngestError> {
        if declared.is_empty() {
            return Err(IngestError::config(
                "columns",
                "the table declares no columns; ingestion lands declared columns with their data_type",
            ));
        }
        let mut columns = Vec::with_capacity(declared.len());
        for c in declared {
            let stream = StreamColumn::from_name(&c.name);
            let kind = match (&c.data_type, stream) {
                (_, Some(s)) => s.kind(),
                (Some(t), None) => ValueKind::from_declared(t).ok_or_else(|| {
                    IngestError::config(
                        &format!("columns.{}.data_type", c.name),
                        &format!("`{t}` cannot be landed from JSON; use STRING, INT64, FLOAT64, NUMERIC, BOOL, TIMESTAMP or DATE"),
                    )
                })?,
                (None, None) => {
                    return Err(IngestError::config(
                        &format!("columns.{}", c.name),
                        "has no data_type; ingestion needs the type of every declared column",
                    ));
                }
            };
            columns.push(LandColumn {
                name: c.name.clone(),
                kind,
                stream,
                required: false,
                accepted: None,
            });
        }
        let index_of = |setting: &str, name: &str, columns: &[LandColumn]| {
            columns
                .iter()
                .position(|c| c.name == name && c.stream.is_none())
                .ok_or_else(|| {
                    IngestError::config(
                        setting,
                        &format!(
                            "`{name}` is not a declared column (declared: {})",
                            columns
                                .iter()
                                .map(|c| c.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                })
        };
        for name in required {
            let i = index_of("ingest.required", name, &columns)?;
            columns[i].required = true;
        }
        for (name, values) in accepted {
            let i = index_of("ingest.accepted_values", name, &columns)?;
            columns[i].accepted = Some(values.clone());
        }
        let partition_by = match partition_by {
            Some(name) => {
                let i = index_of("ingest.partition_by", name, &columns)?;
                if columns[i].kind != ValueKind::Timestamp {
                    return Err(IngestError::config(
                        "ingest.partition_by",
                        &format!("`{name}` is not a TIMESTAMP column"),
                    ));
                }
                Some(i)
            }
            None => None,
        };
        let arrow = Arc::new(Schema::new(
            columns
                .iter()
                .map(|c| Field::new(&c.name, c.kind.arrow_type(), !c.required))
                .collect::<Vec<_>>(),
        ));
        let by_field = columns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.stream.is_none())
            .map(|(i, c)| (c.name.clone(), i))
            .collect();
        Ok(LandSchema {
            columns,
            arrow,
            by_field,
            partition_by,
        })
    }

    /// No columns: for tables whose rows are not JSON (a Postgres pull).
    pub fn empty() -> LandSchema {
        LandSchema {
            columns: Vec::new(),
            arrow: Arc::new(Schema::empty()),
            by_field: HashMap::new(),
            partition_by: None,
        }
    }

    /// The column a JSON field fills, if any.
    pub fn column_of(&self, field: &str) -> Option<usize> {
        self.by_field.get(field).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, t: &str) -> DeclaredColumn {
        DeclaredColumn {
            name: name.into(),
            data_type: Some(t.into()),
        }
    }

    #[test]
    fn declared_types_map_to_arrow() {
        assert_eq!(
            ValueKind::from_declared("NUMERIC"),
            Some(ValueKind::Decimal {
                precision: 38,
                scale: 9
            })
        );
        assert_eq!(
            ValueKind::from_declared("decimal(10, 2)"),
            Some(ValueKind::Decimal {
                precision: 10,
                scale: 2
            })
        );
        assert_eq!(ValueKind::from_declared("int64"), Some(ValueKind::Int64));
        assert_eq!(ValueKind::from_declared("GEOGRAPHY"), None);
    }

    #[test]
    fn unknown_required_column_names_the_setting() {
        let err = LandSchema::new(&[col("a", "STRING")], &["b".into()], &[], None).unwrap_err();
        assert!(err.to_string().contains("ingest.required"), "{err}");
        assert!(err.to_string().contains("declared: a"), "{err}");
    }

    #[test]
    fn stream_columns_need_no_type() {
        let s = LandSchema::new(
            &[
                col("a", "STRING"),
                DeclaredColumn {
                    name: "_offset".into(),
                    data_type: None,
                },
            ],
            &[],
            &[],
            None,
        )
        .unwrap();
        assert_eq!(s.columns[1].stream, Some(StreamColumn::Offset));
        assert_eq!(s.column_of("_offset"), None);
    }
}
