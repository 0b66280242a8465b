//! BigQuery query results as Arrow record batches, so that every command
//! prints and reads rows the same way on every warehouse. Types follow the
//! embedded warehouse's for BigQuery SQL: INT64 → Int64, FLOAT64 →
//! Float64, NUMERIC → Decimal128(38, 9), BOOL → Boolean, DATE → Date32,
//! DATETIME → Timestamp(µs), TIMESTAMP → Timestamp(µs, UTC); STRING,
//! BYTES, TIME, JSON and GEOGRAPHY are text, and so are ARRAY and STRUCT
//! values (as JSON).

use super::client::{Field, QueryResult};
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int64Array, StringArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field as ArrowField, Schema, TimeUnit};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use serde_json::Value;
use std::sync::Arc;

/// The Arrow type a BigQuery column is read as.
pub fn arrow_type(field: &Field) -> DataType {
    if field.mode == "REPEATED" {
        return DataType::Utf8;
    }
    match field.data_type.as_str() {
        "INTEGER" | "INT64" => DataType::Int64,
        "FLOAT" | "FLOAT64" | "BIGNUMERIC" | "BIGDECIMAL" => DataType::Float64,
        "NUMERIC" | "DECIMAL" => DataType::Decimal128(38, 9),
        "BOOLEAN" | "BOOL" => DataType::Boolean,
        "DATE" => DataType::Date32,
        "DATETIME" => DataType::Timestamp(TimeUnit::Microsecond, None),
        "TIMESTAMP" => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        _ => DataType::Utf8,
    }
}

/// One batch holding every row of `result`.
pub fn to_batch(result: &QueryResult) -> Result<RecordBatch, String> {
    batch_of(&result.schema, &result.rows)
}

/// The Arrow schema of a result's fields.
pub fn schema_of(fields: &[Field]) -> Schema {
    Schema::new(
        fields
            .iter()
            .map(|f| ArrowField::new(&f.name, arrow_type(f), true))
            .collect::<Vec<_>>(),
    )
}

/// One batch of `rows` (values typed from `fields`).
pub fn batch_of(fields: &[Field], rows: &[Vec<Value>]) -> Result<RecordBatch, String> {
    let columns = fields
        .iter()
        .enumerate()
        .map(|(i, f)| column(f, rows.iter().map(|r| r.get(i).unwrap_or(&Value::Null))))
        .collect::<Result<Vec<_>, _>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(rows.len()));
    RecordBatch::try_new_with_options(Arc::new(schema_of(fields)), columns, &options)
        .map_err(|e| e.to_string())
}

fn column<'a>(field: &Field, values: impl Iterator<Item = &'a Value>) -> Result<ArrayRef, String> {
    let bad = |v: &Value| format!("column `{}`: {v} is not a {}", field.name, field.data_type);
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Ok(match arrow_type(field) {
        DataType::Int64 => Arc::new(
            values
                .map(|v| match v {
                    Value::Null => Ok(None),
                    v => v
                        .as_i64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                        .map(Some)
                        .ok_or_else(|| bad(v)),
                })
                .collect::<Result<Int64Array, _>>()?,
        ),
        DataType::Float64 => Arc::new(
            values
                .map(|v| match v {
                    Value::Null => Ok(None),
                    v => v
                        .as_f64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                        .map(Some)
                        .ok_or_else(|| bad(v)),
                })
                .collect::<Result<Float64Array, _>>()?,
        ),
        DataType::Decimal128(p, s) => Arc::new(
            values
                .map(|v| match v {
                    Value::Null => Ok(None),
                    v => decimal(&text(v), s).map(Some).ok_or_else(|| bad(v)),
                })
                .collect::<Result<Decimal128Array, _>>()?
                .with_precision_and_scale(p, s)
                .map_err(|e| e.to_string())?,
        ),
        DataType::Boolean => Arc::new(
            values
                .map(|v| match v {
                    Value::Null => Ok(None),
                    Value::Bool(b) => Ok(Some(*b)),
                    v => Err(bad(v)),
                })
                .collect::<Result<BooleanArray, _>>()?,
        ),
        DataType::Date32 => Arc::new(
            values
                .map(|v| match v {
                    Value::Null => Ok(None),
                    v => chrono::NaiveDate::parse_from_str(&text(v), "%Y-%m-%d")
                        .ok()
                        .and_then(|d| {
                            let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?;
                            i32::try_from((d - epoch).num_days()).ok().map(Some)
                        })
                        .ok_or_else(|| bad(v)),
                })
                .collect::<Result<Date32Array, _>>()?,
        ),
        DataType::Timestamp(_, zone) => {
            let micros = values
                .map(|v| match v {
                    Value::Null => Ok(None),
                    v => timestamp_micros(&text(v)).map(Some).ok_or_else(|| bad(v)),
                })
                .collect::<Result<TimestampMicrosecondArray, _>>()?;
            Arc::new(match zone {
                Some(z) => micros.with_timezone(z),
                None => micros,
            })
        }
        _ => Arc::new(
            values
                .map(|v| match v {
                    Value::Null => None,
                    v => Some(text(v)),
                })
                .collect::<StringArray>(),
        ),
    })
}

/// `12.5` as a decimal of `scale` digits after the point.
fn decimal(text: &str, scale: i8) -> Option<i128> {
    let text = text.trim();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    // Exponents (`1e-7`) come from numbers BigQuery sent as floats.
    if digits.contains(['e', 'E']) {
        let f: f64 = text.parse().ok()?;
        return Some((f * 10f64.powi(i32::from(scale))).round() as i128);
    }
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let scale = usize::try_from(scale).ok()?;
    let mut fraction: String = fraction.chars().take(scale).collect();
    while fraction.len() < scale {
        fraction.push('0');
    }
    let value: i128 = format!("{}{fraction}", if whole.is_empty() { "0" } else { whole })
        .parse()
        .ok()?;
    Some(if negative { -value } else { value })
}

/// Microseconds since the epoch of BigQuery's TIMESTAMP and DATETIME text
/// (`2024-01-01 10:00:00.5 UTC`, `2024-01-01T10:00:00`).
fn timestamp_micros(text: &str) -> Option<i64> {
    let text = text.trim().trim_end_matches(" UTC").replace('T', " ");
    chrono::NaiveDateTime::parse_from_str(&text, "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc().timestamp_micros())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(name: &str, data_type: &str, mode: &str) -> Field {
        Field {
            name: name.into(),
            data_type: data_type.into(),
            mode: mode.into(),
            fields: Vec::new(),
        }
    }

    #[test]
    fn rows_become_typed_columns() {
        let result = QueryResult {
            schema: vec![
                field("i", "INTEGER", "NULLABLE"),
                field("n", "NUMERIC", "NULLABLE"),
                field("d", "DATE", "NULLABLE"),
                field("ts", "TIMESTAMP", "NULLABLE"),
                field("dt", "DATETIME", "NULLABLE"),
                field("b", "BOOLEAN", "NULLABLE"),
                field("a", "INTEGER", "REPEATED"),
            ],
            rows: vec![
                vec![
                    json!(1),
                    json!(12.5),
                    json!("2024-02-29"),
                    json!("2023-11-14 22:13:20.25 UTC"),
                    json!("2024-01-01T10:00:00"),
                    json!(true),
                    json!([1, 2]),
                ],
                vec![Value::Null; 7],
            ],
            ..Default::default()
        };
        let batch = to_batch(&result).expect("converts");
        let csv = crate::adapters::format::to_csv(&[batch]).expect("csv");
        assert_eq!(
            csv,
            "i,n,d,ts,dt,b,a\n1,12.500000000,2024-02-29,2023-11-14T22:13:20.250Z,2024-01-01T10:00:00,true,\"[1,2]\"\n,,,,,,\n"
        );
    }

    #[test]
    fn an_empty_result_keeps_its_columns() {
        let result = QueryResult {
            schema: vec![field("i", "INTEGER", "NULLABLE")],
            ..Default::default()
        };
        let batch = to_batch(&result).expect("converts");
        assert_eq!((batch.num_rows(), batch.num_columns()), (0, 1));
    }
}
